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

/* Creates the file at path with every dataset allocated but its raw bytes not
 * yet written, and returns the plan that fills it from the regions' memory. */
int rankfile_create(const char *path, const region_set_t *rs, int64_t step,
                    int rank, plan_t *plan, ckpt_err_t *e);

typedef struct rf_dataset {
    char name[CKPT_NAME_MAX + 1];
    int type;          /* ckpt_type_t */
    uint64_t count;
    uint64_t off;      /* file offset of the raw bytes */
    uint64_t checksum; /* XXH3-64 of the raw bytes */
} rf_dataset_t;

typedef struct rf_index {
    int64_t step;
    int rank;
    int n;
    rf_dataset_t *d;
} rf_index_t;

/* Reads the datasets of a rank file (metadata only). */
int rankfile_index(const char *path, rf_index_t *idx, ckpt_err_t *e);
const rf_dataset_t *rankfile_find(const rf_index_t *idx, const char *name);
void rankfile_index_free(rf_index_t *idx);

#endif
