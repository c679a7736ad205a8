/* RS parity made: at save from the files just written, at refill where a
 * share is lost. */
#include "rs_level.h"
#include "rs_step.h"
#include "fileio.h"
#include "ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct enc {
    const rs_group_t *g;
    MPI_Comm comm;
    rs_state_t *st;
    uint64_t chunk;
    int fd;                 /* this rank's own file, read */
    const char *path;
    int out;                /* the parity file being written, or -1 */
    char out_path[PATH_MAX];
    unsigned char **send;   /* [k]: this rank's piece t, one chunk */
    unsigned char **recv;   /* [m * k]: data of the stripe of parity row i */
    unsigned char *row;     /* a computed parity chunk */
    xfer_t xf;
} enc_t;

/* Parity of set li missing at position q: it is made. */
static int wanted(const enc_t *x, int li, int q)
{
    return !(OK(x->st, x->g, li, q) & RS_PARITY_OK);
}

/* One lock step of set li at offset o of every stripe: each member sends
 * its pieces to the holders whose parity is wanted, each such holder
 * computes its rows. */
static void encode_step(enc_t *x, int li, uint64_t P, uint64_t o, ckpt_err_t *e)
{
    const rs_group_t *g = x->g;
    uint64_t n = P - o < x->chunk ? P - o : x->chunk;
    int me = g->t->rank;
    int hold = rs_holder(g, li, g->pos) == me && wanted(x, li, g->pos);
    for (int i = 0; hold && i < g->m; i++) {
        int j = rs_row_stripe(g, g->pos, i);
        for (int t = 0; t < g->k; t++) {
            int r = rs_member(g, li, rs_data_pos(g, j, t));
            unsigned char *b = x->recv[i * g->k + t];
            if (r < 0)
                memset(b, 0, n);
            else
                rs_post(&x->xf, x->comm, 1, r, j, b, n);
        }
    }
    for (int t = 0; li == g->li && t < g->k; t++) {
        int j = rs_piece_stripe(g, g->pos, t), read = 0;
        for (int i = 0; i < g->m; i++) {
            int q = rs_holder_pos(g, j, i);
            if (!wanted(x, li, q))
                continue;
            if (!read++) /* a piece no holder wants is not read */
                rs_read_piece(x->fd, x->path, x->st->size[rs_index(g, me)],
                              x->send[t], (uint64_t)t * P + o, n, e);
            rs_post(&x->xf, x->comm, 0, rs_holder(g, li, q), j, x->send[t], n);
        }
    }
    if (rs_finish(&x->xf, e) != CKPT_OK)
        return;
    for (int i = 0; hold && x->out >= 0 && i < g->m; i++) {
        int j = rs_row_stripe(g, g->pos, i);
        uint64_t at = (uint64_t)rs_slot(g, g->pos, j) * P + o;
        rs_encode_row(&g->code, i, n, &x->recv[i * g->k], x->row);
        /* the disk starts on it now, as on the own file, not at the fsync */
        if (e->code == CKPT_OK &&
            fio_pwrite(x->out, x->row, n, at, x->out_path, e) == CKPT_OK)
            sync_file_range(x->out, (off_t)at, (off_t)n, SYNC_FILE_RANGE_WRITE);
    }
}

/* Opens the parity file of set li this rank makes, if it makes one. */
static int open_parity(enc_t *x, const cache_t *c, int64_t step, int li,
                       ckpt_err_t *e)
{
    const rs_group_t *g = x->g;
    x->out = -1;
    if (rs_holder(g, li, g->pos) != g->t->rank || !wanted(x, li, g->pos))
        return 0;
    cache_parity_path(c, step, li, 1, x->out_path, sizeof x->out_path);
    cache_take_spare(c, x->out_path);
    if ((x->out = fio_open_rewrite(x->out_path)) < 0)
        err_sys(e, errno, "open %s", x->out_path);
    return 1;
}

/* Cut, made durable, and hashed (its pieces were written out of order). */
static void close_parity(enc_t *x, int li, uint64_t size, ckpt_err_t *e)
{
    if (x->out >= 0) {
        if (e->code == CKPT_OK &&
            (ftruncate(x->out, (off_t)size) != 0 || fsync(x->out) != 0))
            err_sys(e, errno, "fsync %s", x->out_path);
        close(x->out);
    }
    if (e->code == CKPT_OK)
        fio_digest_path(x->out_path, size, &x->st->pdigest[li], e);
    x->st->psize[li] = size;
    x->st->made[li] = 1;
}

/* All of an encode's buffers, in one array: send, recv, row. */
static int enc_alloc(enc_t *x)
{
    const rs_group_t *g = x->g;
    int n = g->k + g->m * g->k + 1;
    unsigned char **b = calloc((size_t)n, sizeof *b);
    x->send = b;
    x->xf.req = malloc((size_t)(2 * g->m * g->k + 1) * sizeof *x->xf.req);
    if (b == NULL || x->xf.req == NULL || rs_alloc_bufs(b, n, x->chunk) != 0)
        return -1;
    x->recv = b + g->k;
    x->row = b[n - 1];
    return 0;
}

int rs_make_parity(const rs_group_t *g, MPI_Comm comm, const cache_t *c,
                   int64_t step, rs_state_t *st, const char *own_path,
                   ckpt_err_t *e)
{
    enc_t x = {.g = g, .comm = comm, .st = st, .path = own_path, .out = -1,
               .chunk = rs_chunk(g)};
    if (g->m == 0)
        return CKPT_OK;
    if (!rs_all(g, enc_alloc(&x) == 0)) {
        err_set(e, CKPT_ENOMEM, "out of memory making RS parity");
        goto out;
    }
    if ((x.fd = fio_open_read(own_path)) < 0)
        err_sys(e, errno, "open %s", own_path);
    for (int li = 0; li < g->width; li++) {
        uint64_t P = rs_piece(g, rs_largest(g, st, li));
        int mine = open_parity(&x, c, step, li, e);
        for (uint64_t o = 0; o < P; o += x.chunk)
            encode_step(&x, li, P, o, e);
        if (mine)
            close_parity(&x, li, (uint64_t)g->m * P, e);
    }
    if (x.fd >= 0)
        close(x.fd);
out:
    rs_free_bufs(x.send, g->k + g->m * g->k + 1);
    free(x.xf.req);
    return e->code;
}

