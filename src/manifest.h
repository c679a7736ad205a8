/* A node's MANIFEST for one step: the files it holds, their sizes and
 * XXH3-64 digests. Plain text, ending in a checksum of itself, written
 * last and atomically: a step is complete on a node iff it has a MANIFEST. */
#ifndef CKPT_MANIFEST_H
#define CKPT_MANIFEST_H

#include <stdint.h>
#include "config.h"
#include "error.h"

#define MANIFEST_NAME "MANIFEST"

typedef struct mf_entry {
    int rank;
    int own;          /* 1: this node's rank; 0: a partner copy */
    uint64_t size;
    uint64_t digest;  /* XXH3-64 of the whole rank file */
} mf_entry_t;

typedef struct manifest {
    char job[CKPT_NAME_MAX + 1];
    int64_t step;
    int node, nnodes, nranks;
    int n;
    mf_entry_t *e;
} manifest_t;

int manifest_write(const char *step_dir, const manifest_t *m, ckpt_err_t *e);
/* CKPT_ENOENT if absent, CKPT_ECORRUPT if damaged. */
int manifest_read(const char *step_dir, manifest_t *m, ckpt_err_t *e);
const mf_entry_t *manifest_find(const manifest_t *m, int rank);
void manifest_free(manifest_t *m);

/* The framing shared with the storage manifest: a text ends in a line
 * "checksum <XXH3-64 of what precedes>". seal appends it (realloc'ing
 * *text); unseal checks it and cuts it off (0), or finds damage (-1). */
int manifest_seal(char **text, size_t *len);
int manifest_unseal(char *text, size_t len);

#endif
