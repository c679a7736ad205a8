/* Partner streaming: each rank writes its file while sending the same bytes
 * to the rank that keeps its copy, and at the same time writes the files it
 * receives. Memory stays at two chunks per stream whatever the file size. */
#ifndef CKPT_STREAM_H
#define CKPT_STREAM_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "plan.h"
#include "rankfile.h"

typedef struct ostream {
    int peer;            /* receiving rank, or -1 for a local write only */
    const plan_t *plan;  /* DATA bytes come from seg.src, or from src_fd */
    int src_fd;          /* read DATA from this file (a copy); -1: memory */
    const char *src_path;
    int local_fd;        /* also write DATA here; -1: do not write */
    const char *local_path;
    size_t chunk;        /* bytes per message; the receiver allocates 2 */
    int failed;          /* set by the caller: send a refusal, no data */
    const rf_index_t *idx; /* the file's datasets, sent with the plan, or NULL */
    int check;           /* a copy: the receiver compares what it gets with
                            `expect`, and this end does not hash it */
    uint64_t expect;
    uint64_t digest;     /* out: XXH3-64 of the whole file as streamed
                            (`expect` for a checked copy) */
    ckpt_err_t err;      /* out: local failure */
} ostream_t;

/* Where a received file's DATA segments go instead of a file: dst[i] for
 * the plan's segment i (NULL for META). Returns CKPT_OK, or an error that
 * makes the stream drain its data unused. */
typedef int (*place_fn)(void *ctx, const rf_index_t *idx, const plan_t *plan,
                        unsigned char **dst, ckpt_err_t *e);

typedef struct istream {
    int peer;            /* sending rank */
    const char *path;    /* file to create, mode 0600; NULL with place */
    place_fn place;      /* or: DATA straight into memory */
    void *ctx;
    rf_index_t idx;      /* out: the datasets the sender named (free it) */
    uint64_t size;       /* out */
    uint64_t digest;     /* out: XXH3-64 of what was written */
    ckpt_err_t err;      /* out: failure at either end */
} istream_t;

/* Runs every stream to completion. Collective over the ranks named as peers.
 * Failures are per stream (in ->err); nothing here waits on a failed rank.
 * Where the streams would wait, idle(ctx) (if not NULL) does a small piece
 * of other work and returns 1, or 0 once it has none: a rank that sends a
 * copy fills its own buffers meanwhile. What is left of it, the caller
 * does. */
void stream_run(MPI_Comm comm, ostream_t *out, int nout, istream_t *in,
                int nin, int (*idle)(void *), void *ctx);

/* Chunk size for a receiver that takes `fan_in` streams at once: it keeps
 * two chunks per stream, so the total stays near 32 MiB. */
size_t stream_chunk(int fan_in);

#endif
