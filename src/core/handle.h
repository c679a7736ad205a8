/* The library handle, shared by the modules that implement the API. */
#ifndef CKPT_HANDLE_H
#define CKPT_HANDLE_H

#include <mpi.h>
#include "ckpt.h"
#include "cache.h"
#include "config.h"
#include "error.h"
#include "held.h"
#include "log.h"
#include "manifest.h"
#include "region.h"
#include "rs_group.h"
#include "topology.h"
#include "when.h"
#include "writeback.h"

#define USES_RS(ck) ((ck)->cfg.redundancy == REDUNDANCY_RS)

struct level_ops;

struct ckpt {
    MPI_Comm comm;        /* a duplicate of the caller's communicator */
    int rank, nranks;
    ckpt_config_t cfg;
    topo_t topo;
    rs_group_t rs;        /* redundancy = rs: this rank's group */
    const struct level_ops *level; /* the cache level redundancy = chose */
    cache_t cache;        /* this rank's node directory */
    region_set_t regions; /* as protected */
    region_set_t stored;  /* as this rank stores them (shape.c): a
                             replicated region is a slice of it */
    ckpt_log_t log;
    ckpt_err_t err;       /* the last outcome on this rank */
    wb_t wb;              /* the STORAGE level */
    double storage_read_s; /* the last restore's storage read phase, seconds */
    other_save_t other;   /* a save of another rank count (adopt.c) */
    smanifest_t sm_read;  /* a storage manifest a restore read already, for
                             its probe (sm_read.nranks > 0: there is one) */
    uint64_t last_generation; /* the newest save seen: new ones are larger */
    when_t when;          /* when to save: signals caught, the interval */
};

/* Collective operations (save.c, restore.c). They fill ck->err. */
/* At init: new saves will get generations above every save the caches
 * hold, even where this run's clock is behind an earlier run's. */
int save_init_generation(ckpt_t *ck);
int save_step(ckpt_t *ck, int64_t step);
int restore_step(ckpt_t *ck, int64_t step, int64_t *restored);
int query_latest(ckpt_t *ck, int64_t *step);
int query_level(ckpt_t *ck, int64_t step, int *level);
/* Re-creates the step's lost own files and partner copies. */
int refill_step(ckpt_t *ck, int64_t step);
/* Until the step has two copies in the caches (refilling them), unless it
 * is held only in storage. */
int wait_partner(ckpt_t *ck, int64_t step);
/* Not collective: the newest save (generation) among this node's complete
 * steps before `before`, or 0. */
uint64_t newest_cached_save(ckpt_t *ck, int64_t before);
/* Newest step whose own file every rank holds, with this rank's entry and
 * the step's generation. */
int query_complete(ckpt_t *ck, int64_t *step, mf_entry_t *own,
                   uint64_t *generation);

#endif
