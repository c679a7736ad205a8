/* The STORAGE level: which steps go to storage, who uploads what, and when a
 * step is committed. The state here is the same on every rank: it changes
 * only inside collective calls, from outcomes the ranks agree on. */
#ifndef CKPT_WRITEBACK_H
#define CKPT_WRITEBACK_H

#include <mpi.h>
#include <stdint.h>
#include "cache.h"
#include "config.h"
#include "log.h"
#include "manifest.h"
#include "smanifest.h"
#include "storage.h"
#include "topology.h"
#include "upload.h"

/* A step on its way to storage. */
typedef struct wb_step {
    int64_t step;           /* -1: none */
    uint64_t generation;    /* of the save */
    int phase;              /* uploading node objects, or committing */
    int alt;                /* 1: partners upload each other's node object */
    up_job_t *job;          /* this rank's job in the phase, or NULL */
    uint64_t *info;         /* rank 0: every rank's file size and digest */
    ckpt_err_t err;         /* a failure before any job could run */
    double t0;
} wb_step_t;

#define WB_FAILED_MAX 16

/* What the STORAGE level borrows from the handle, for its lifetime. */
typedef struct wb_env {
    MPI_Comm comm;
    int rank, nranks;
    const ckpt_config_t *cfg;
    const topo_t *topo;
    cache_t *cache;
    ckpt_log_t *log;
    ckpt_err_t *err;        /* the handle's error, for messages to callers */
} wb_env_t;

typedef struct wb {
    storage_t *st;          /* NULL in cache mode */
    upload_t *up;           /* node leaders: the upload thread */
    wb_step_t cur, next;    /* uploading, and the newest waiting step */
    int nsaved, nuploads;
    int64_t last_saved;     /* newest step saved in this run, or -1 */
    uint64_t last_generation, last_size, last_digest;
    int64_t *committed;     /* committed steps in storage, ascending */
    int ncommitted, cap;
    int64_t failed[WB_FAILED_MAX];  /* steps whose upload was given up */
    ckpt_err_t failed_err[WB_FAILED_MAX];
    int nfailed;
    int list_unknown;       /* rank 0: init could not list storage */
    int finalizing;         /* progress lines at verbose 1 */
    int curl;               /* curl_global_init was called */
    wb_env_t env;           /* borrowed from the handle by wb_init */
} wb_t;

/* How the configuration's storage keys open storage (it borrows c's strings). */
void wb_params(const ckpt_config_t *c, st_params_t *p);

/* Collective. Opens storage, lists committed steps and starts the upload
 * thread (wb_resume then queues a step a previous job left unuploaded). */
int wb_init(wb_t *w, const wb_env_t *env);
/* Collective: `step`, the newest step complete in every rank's cache, is
 * uploaded if it is newer than the newest committed step (a job that ended
 * before uploading it left it behind). `own` is this rank's MANIFEST entry
 * of it. */
void wb_resume(wb_t *w, int64_t step, uint64_t generation,
               const mf_entry_t *own);
/* 1 in writeback mode (storage open), 0 in cache mode. */
int wb_active(const wb_t *w);

/* Reading back (fetch.c). Collective: rank 0 reads the storage manifest of
 * `step` for every rank, checked to be this job's, step's, and of `nranks`
 * ranks (any count if 0); on failure *why says why (the same on every
 * rank) and *sm holds nothing. */
int wb_read_manifest(wb_t *w, int64_t step, int nranks, smanifest_t *sm,
                     ckpt_err_t *why);
/* Rank `rank`'s bytes of its node object, as manifest m places them, into
 * fd (the file at path) from offset 0, checked against their digest
 * (*digest). */
int wb_fetch_rank(wb_t *w, const smanifest_t *m, int rank, int fd,
                  const char *path, uint64_t *digest, ckpt_err_t *e);

/* Collective: finishes every upload (and the newest saved step's). */
int wb_finalize(wb_t *w);
/* Frees what is left, after a failed init or finalize. */
void wb_free(wb_t *w);

/* Collective: takes note of finished jobs and moves steps along. Called at
 * the start of every collective call. */
void wb_poll(wb_t *w);
/* Collective, around a save of step S: S and later steps are superseded
 * (none of them may still be uploading, the committed list forgets them,
 * and they are retracted from storage before any later commit), and
 * uploads pause during the save; after a good save (saved != 0), every
 * persist_every-th step is queued. */
void wb_before_save(wb_t *w, int64_t step);
void wb_after_save(wb_t *w, int saved, int64_t step, uint64_t generation,
                   uint64_t size, uint64_t digest);
/* Collective: blocks until step is committed (CKPT_OK), given up
 * (CKPT_ESTORAGE), or is not going to storage (CKPT_ESTATE). */
int wb_wait(wb_t *w, int64_t step);

int wb_committed(const wb_t *w, int64_t step);
/* Newest committed step <= bound, or -1. */
int64_t wb_newest_committed(const wb_t *w, int64_t bound);
/* Steps the cache must keep: uploading or waiting. */
int wb_pinned(const wb_t *w, int64_t *steps);

#endif
