/* What the node caches hold of a save of another layout (adopt.c), kept
 * in the handle for a restore at another rank count (reshape.c). Private
 * to src/core/. */
#ifndef CKPT_HELD_H
#define CKPT_HELD_H

#include <stdint.h>

/* One rank file a node's root holds, as its MANIFEST lists it. */
typedef struct held {
    int64_t step;
    uint64_t gen, size, digest;
    int32_t rank;
    int32_t nranks; /* of the save */
    int32_t holder; /* the node, numbered as now, whose root holds it */
    int32_t dir;    /* in node-<dir> there */
} held_t;

/* The newest whole save in the caches, when another rank count made it:
 * every file of it that some node holds (none: n == 0). */
typedef struct other_save {
    int64_t step;
    uint64_t gen;
    int nranks;
    held_t *v;
    int n;
} other_save_t;

#endif
