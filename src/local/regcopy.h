/* An own rank file's datasets copied into the buffers of the regions
 * protected under their names, a piece at a time: a rank can run the copy
 * whole, or piece by piece while it waits on its streams. */
#ifndef CKPT_REGCOPY_H
#define CKPT_REGCOPY_H

#include <stdint.h>
#include "error.h"
#include "rankfile.h"
#include "region.h"
#include "xxh.h"

typedef struct regcopy {
    region_set_t *regions;
    const rf_index_t *idx;    /* names every region (check_regions ran) */
    const char *path;
    int fd, verify;
    int i;                    /* the region being copied */
    const rf_dataset_t *d;    /* its dataset */
    uint64_t done;            /* its bytes copied so far */
    XXH3_state_t *hash;
    int bad;                  /* verify: a region failed its checksum... */
    const char *bad_name;     /* ...this one */
    ckpt_err_t err;           /* or the copy failed (open, read, memory) */
} regcopy_t;

/* Never fails by itself: a failure to open lands in c->err. */
void regcopy_open(regcopy_t *c, region_set_t *rs, const rf_index_t *idx,
                  const char *path, int verify);
/* Copies one piece; 1 if more is left, 0 when done or failed. The
 * signature of stream_run's idle work. */
int regcopy_step(void *c);
void regcopy_run(regcopy_t *c);   /* what is left */
void regcopy_close(regcopy_t *c);

#endif
