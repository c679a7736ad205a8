/* The layout of one rank file as a sequence of segments in file order:
 * META segments (bytes HDF5 wrote: headers, attributes) travel with the
 * plan; DATA segments (raw dataset bytes) stream in chunks. Both ends of a
 * partner transfer walk the same plan, so they write and hash the same file. */
#ifndef CKPT_PLAN_H
#define CKPT_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

enum { SEG_META = 0, SEG_DATA = 1 };

typedef struct seg {
    uint64_t off, len;
    int kind;
    const void *src; /* DATA on the sending side: the bytes in memory */
} seg_t;

typedef struct plan {
    uint64_t size;   /* file size */
    int nseg;
    seg_t *seg;
    unsigned char *meta;  /* META bytes of all segments, in order */
    uint64_t meta_len;
} plan_t;

/* Builds the segments of a file of `size` bytes whose DATA ranges are given
 * (non-overlapping; sorted by offset here, in place), reading the META
 * bytes from fd. */
int plan_build(plan_t *p, int fd, uint64_t size, seg_t *data, int ndata,
               const char *path, ckpt_err_t *e);

/* Wire format. */
int plan_pack(const plan_t *p, unsigned char **buf, size_t *len);
int plan_unpack(plan_t *p, const unsigned char *buf, size_t len);
void plan_free(plan_t *p);

#endif
