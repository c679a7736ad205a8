/* One background thread per writer rank that works through storage jobs in
 * order: upload a node object; commit a step (its manifest, then the
 * retention of old steps); or retract the steps a new save supersedes. It
 * never calls MPI; the main thread learns how a job ended with upload_state
 * at its next library call. */
#ifndef CKPT_UPLOAD_H
#define CKPT_UPLOAD_H

#include <stdint.h>
#include "log.h"
#include "storage.h"

enum { JOB_OBJECT, JOB_COMMIT, JOB_RETRACT };
enum { JOB_BUSY, JOB_DONE, JOB_FAILED };

typedef struct up_job {
    int kind;
    int64_t step;
    char name[512];        /* the object, or the manifest */
    st_source_t src;       /* JOB_OBJECT: the node's rank files */
    char *text;            /* JOB_COMMIT: the manifest */
    size_t len;
    char job[256];         /* JOB_COMMIT, JOB_RETRACT: the job's steps */
    int keep_remote;
    int keep_newer;        /* JOB_COMMIT: retention leaves later steps alone
                              (ckpt-flush, which supersedes nothing) */
    int detached;          /* nobody asks how it ended: the thread frees it */
    /* Written by the thread. */
    int state;
    ckpt_err_t err;
    double seconds;
    uint64_t bytes;
    struct up_job *next;
} up_job_t;

typedef struct upload upload_t;

upload_t *upload_start(storage_t *st, const ckpt_log_t *lg);
/* Waits for the jobs already queued, then ends the thread. */
void upload_stop(upload_t *u);
/* The job belongs to the thread until upload_state reports it ended. */
void upload_submit(upload_t *u, up_job_t *j);
int upload_state(upload_t *u, const up_job_t *j, ckpt_err_t *e);
/* Runs a job on the calling thread, for a tool without a program to keep
 * going (ckpt-flush); its error, if any, is copied to e. */
int upload_run(storage_t *st, const ckpt_log_t *lg, up_job_t *j,
               ckpt_err_t *e);
up_job_t *upload_job_new(int kind, int64_t step, int nsrc);
void upload_job_free(up_job_t *j);

#endif
