/* What a restore knows about one step before it reads any data, and the
 * helpers that restore.c and the cache levels' restore code share. Private
 * to src/core/. */
#ifndef CKPT_PROBE_H
#define CKPT_PROBE_H

#include "handle.h"
#include "rankfile.h"
#include "rs_level.h"
#include "smanifest.h"

/* Internal outcome: this step cannot be restored, an older one may. */
#define NOT_AVAILABLE (-1)

typedef struct probe {
    int64_t step;
    uint64_t gen;      /* the save restored: the step's newest seen anywhere */
    int have_local;    /* own file of that save listed and of the listed size */
    mf_entry_t own;
    rf_index_t own_idx; /* its datasets, as the MANIFEST lists them */
    int level_has;     /* the cache level (partner copy, or RS group) can
                          give this rank's file back */
    /* level = partner */
    int *copy_ok;      /* per client: its copy listed and of the listed size */
    mf_entry_t *copy;
    rf_index_t *copy_idx; /* per client: the copy's datasets */
    int nclients;
    /* level = rs */
    rs_state_t rs;     /* what the group holds */
    /* storage */
    int in_storage;    /* committed in storage, not known to be another save
                          (same everywhere) */
    int sm_read;       /* sm holds the step's storage manifest */
    smanifest_t sm;
} probe_t;

/* Collective: 1 if every rank passes v != 0. */
int ck_all(ckpt_t *ck, int v);
/* `rank`'s entry in m, into *out; 1 if its file is here at the listed size. */
int listed_and_sized(const ckpt_t *ck, const manifest_t *m, int rank,
                     mf_entry_t *out);
/* The regions protected now against the datasets of idx: CKPT_EMISMATCH
 * unless each is there with the same type and count, and no other. */
int check_regions(ckpt_t *ck, const rf_index_t *idx, int64_t step,
                  ckpt_err_t *e);

#endif
