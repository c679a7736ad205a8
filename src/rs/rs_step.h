/* What the RS level's operations share: the state's bit array, the lock
 * step (every receive posted, then every send, then all waited), reading a
 * member's padded piece, the chunk size, and small group agreements.
 * Private to src/rs/. */
#ifndef CKPT_RS_STEP_H
#define CKPT_RS_STEP_H

#include <mpi.h>
#include <stdint.h>
#include "error.h"
#include "rs_group.h"
#include "rs_level.h"

/* Largest chunk of a stripe moved per lock step. */
#define RS_CHUNK ((uint64_t)256 << 10)
#define RS_TAG 0x5253

/* The RS_* bits of set li at position q. */
#define OK(st, g, li, q) ((st)->ok[(size_t)(li) * (size_t)(g)->s + (size_t)(q)])

/* Collective over the group: the shared part of st (sizes and digests too
 * with `sizes`) combined with op. */
int rs_reduce(const rs_group_t *g, rs_state_t *st, MPI_Op op, int sizes,
              ckpt_err_t *e);
/* Collective over the group: 1 if every rank passes v != 0. */
int rs_all(const rs_group_t *g, int v);
/* Size of the largest file of set li. */
uint64_t rs_largest(const rs_group_t *g, const rs_state_t *st, int li);

/* Stripe j's messages carry tag RS_TAG + j: a pair of ranks may exchange
 * shares of several stripes in one step. */
typedef struct xfer {
    int n;
    MPI_Request *req;
    int (*idle)(void *); /* other work run while the transfers go on, a */
    void *ctx;           /* piece a call (0: none left), or NULL */
} xfer_t;
void rs_post(xfer_t *x, MPI_Comm comm, int recv, int peer, int j, void *buf,
             uint64_t len);
int rs_finish(xfer_t *x, ckpt_err_t *e);

/* Bytes [off, off+len) of a member's file, zero past its end (the pieces
 * are padded). A failed read leaves zeros and the error in e. */
void rs_read_piece(int fd, const char *path, uint64_t size, unsigned char *buf,
                   uint64_t off, uint64_t len, ckpt_err_t *e);
/* Bytes per stripe and lock step for this group's code. */
uint64_t rs_chunk(const rs_group_t *g);
int rs_alloc_bufs(unsigned char **buf, int n, uint64_t size);
void rs_free_bufs(unsigned char **buf, int n); /* and buf itself */

#endif
