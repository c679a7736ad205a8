/* A node's part of a step that ckpt-flush drains: the ranks of that node's
 * object with their sizes and digests, put in storage beside the object, so
 * that the node that finds every part can commit the storage manifest
 * without talking to the others. Sealed text, every line in this order:
 *   ckpt-flush-part 1 / job / step / generation / node / nodes / ranks
 *   range <rank> <size> <xxh3>       ascending ranks, at least one
 * Names: <job>/flush/step-<S, 20 digits>/g<generation, 16 hex>/node-<n>. */
#ifndef CKPT_PART_H
#define CKPT_PART_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "error.h"

typedef struct part {
    char job[CKPT_NAME_MAX + 1];
    int64_t step;
    uint64_t generation;
    int node, nnodes, nranks;
    int n;               /* ranges */
    int *rank;           /* [n], ascending */
    uint64_t *size, *digest;
} part_t;

/* The part of `node`; node < 0: the prefix of the step's parts. */
void part_name(const char *job, int64_t step, uint64_t generation, int node,
               char *buf, size_t n);
/* The node number of a name under the prefix of its step's parts, or -1. */
int part_node_of(const char *prefix, const char *name);
/* Room for n ranges; 0 or -1 (no memory). */
int part_alloc(part_t *p, int n);
void part_free(part_t *p);
int part_format(const part_t *p, char **text, size_t *len, ckpt_err_t *e);
/* CKPT_ECORRUPT unless the text is one part_format could have written
 * (ranks inside [0, ranks), ascending, node inside [0, nodes), sizes at
 * most INT64_MAX, as in a storage manifest). text is
 * modified. */
int part_parse(char *text, size_t len, part_t *p, ckpt_err_t *e);

#endif
