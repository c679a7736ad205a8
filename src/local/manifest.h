/* A node's MANIFEST for one step: the files it holds, their sizes and
 * XXH3-64 digests, the save (job, step, generation) they belong to, and
 * under each file its datasets (name, type, count, offset, checksum): a
 * restore reads a file by that index (its own, or a copy streamed straight
 * into the buffers), so HDF5 never parses a file whose bytes were not
 * checked first. Plain text, ending in a checksum of
 * itself, written last and atomically: a step is complete on a node iff it
 * has a MANIFEST. */
#ifndef CKPT_MANIFEST_H
#define CKPT_MANIFEST_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "error.h"
#include "rankfile.h"

#define MANIFEST_NAME "MANIFEST"
/* Bounds a record may claim, far above any real job. */
#define MF_MAX_RANKS (1 << 24)

/* What an entry lists: a rank file on this node (own, or a partner copy),
 * a rank file of another node of the RS group, kept here only as its size,
 * digest and index so that a rebuild can check it (coded), or an RS
 * parity file of this node (rank holds the set number; no datasets). */
enum { MF_FILE = 0, MF_CODED = 1, MF_PARITY = 2 };

typedef struct mf_entry {
    int rank;
    int own;          /* 1: this node's rank; 0: a partner copy */
    int kind;         /* MF_*: 0 for the rank files of every scheme */
    uint64_t size;
    uint64_t digest;  /* XXH3-64 of the whole rank file */
    int first, nregions; /* parsed: datasets d[first ..] of the manifest */
    const rf_index_t *idx; /* to format: the file's datasets, or NULL */
} mf_entry_t;

typedef struct manifest {
    char job[CKPT_NAME_MAX + 1];
    int64_t step;
    uint64_t generation; /* of the save; the same in every file it lists */
    int node, nnodes, nranks;
    int n;
    mf_entry_t *e;
    int nd;
    rf_dataset_t *d;
    /* redundancy = rs: the code and group the parity was made for, from a
     * "layout rs <k> <m> <first node> <nodes>" line (the RS level writes
     * it among the leader's lines); all 0 without one */
    int rs_k, rs_m, rs_first, rs_nodes;
} manifest_t;


int manifest_write(const char *step_dir, const manifest_t *m, ckpt_err_t *e);
/* The lines of n entries, each with its datasets (x->idx) under it.
 * *text is malloc'd. */
int manifest_format_entries(const mf_entry_t *x, int n, char **text, size_t *len);
/* An index's region lines alone (for a stream), and back: text ends in a
 * newline and is modified; every dataset must lie inside a file of `size`
 * bytes. -1 malformed, -2 out of memory. */
int manifest_format_regions(const rf_index_t *idx, char **text, size_t *len);
int manifest_parse_regions(char *text, size_t len, uint64_t size,
                           rf_index_t *idx);
/* Writes m's header and `body`, lines made by manifest_format_entries. */
int manifest_write_body(const char *step_dir, const manifest_t *m,
                        const char *body, size_t len, ckpt_err_t *e);
/* The datasets of entry x as an index naming the file's save (copied). */
int manifest_index(const manifest_t *m, const mf_entry_t *x, rf_index_t *idx);
/* CKPT_ENOENT if absent, CKPT_ECORRUPT if damaged. */
int manifest_read(const char *step_dir, manifest_t *m, ckpt_err_t *e);
/* The sealed text of a MANIFEST (modified in place): CKPT_ECORRUPT unless
 * it is exactly what manifest_write writes, with ranks in range, each once. */
int manifest_parse(char *text, size_t len, manifest_t *m, ckpt_err_t *e);
/* The rank file entry (own, copy or coded) of a rank, or NULL. */
const mf_entry_t *manifest_find(const manifest_t *m, int rank);
/* The parity file entry of an RS set, or NULL. */
const mf_entry_t *manifest_find_parity(const manifest_t *m, int set);
void manifest_free(manifest_t *m);

#endif
