/* A rank file: an HDF5 file with one contiguous dataset per protected
 * region, named as protected, carrying `checksum` (XXH3-64 of its bytes),
 * `step` and `ckpt_type` attributes, so h5ls/h5dump/h5py can read it. */
#ifndef CKPT_RANKFILE_H
#define CKPT_RANKFILE_H

#include <stdint.h>
#include "config.h"
#include "error.h"
#include "plan.h"
#include "region.h"

/* Which save a rank file belongs to, in its root attributes ckpt_job,
 * ckpt_step, ckpt_generation and ckpt_rank: a copy counts only if all four
 * are the ones a restore looks for. */
typedef struct rf_id {
    char job[CKPT_NAME_MAX + 1];
    int64_t step;
    uint64_t generation;
    int rank;
} rf_id_t;

typedef struct rf_dataset {
    char name[CKPT_NAME_MAX + 1];
    int type;          /* ckpt_type_t */
    uint64_t count;
    uint64_t off;      /* file offset of the raw bytes */
    uint64_t checksum; /* XXH3-64 of the raw bytes */
    int kind;          /* REGION_*: a private region, or a slice */
    uint64_t goff, gcount; /* a slice: [goff, goff + count) of gcount elements */
} rf_dataset_t;

typedef struct rf_index {
    rf_id_t id;
    int n;
    rf_dataset_t *d;
} rf_index_t;

/* Creates the file at path with every dataset allocated but its raw bytes not
 * yet written; returns the plan that fills it from the regions' memory, and
 * its index (free with rankfile_index_free). */
int rankfile_create(const char *path, const region_set_t *rs, const rf_id_t *id,
                    plan_t *plan, rf_index_t *idx, ckpt_err_t *e);

/* Reads the identity and datasets of a rank file (metadata only). Only for
 * a file whose bytes were checked against a digest first: HDF5 does not
 * survive every damaged file. */
int rankfile_index(const char *path, rf_index_t *idx, ckpt_err_t *e);
/* CKPT_ECORRUPT, saying what differs, unless idx is the file `want` names. */
int rankfile_check_id(const char *path, const rf_index_t *idx,
                      const rf_id_t *want, ckpt_err_t *e);
const rf_dataset_t *rankfile_find(const rf_index_t *idx, const char *name);
void rankfile_index_free(rf_index_t *idx);

#endif
