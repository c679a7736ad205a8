#include "rs_step.h"
#include "fileio.h"
#include "ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int rs_reduce(const rs_group_t *g, rs_state_t *st, MPI_Op op, int sizes,
              ckpt_err_t *e)
{
    size_t n = (size_t)g->width * (size_t)g->s;
    uint64_t *from = sizes ? st->size : st->ok;
    if (sizes)
        n += 2 * (size_t)g->nranks;
    if (MPI_Allreduce(MPI_IN_PLACE, from, (int)n, MPI_UINT64_T, op, g->comm) !=
        MPI_SUCCESS)
        return err_set(e, CKPT_EMPI, "MPI failed in the RS group");
    return CKPT_OK;
}

int rs_all(const rs_group_t *g, int v)
{
    int all = 0;
    MPI_Allreduce(&v, &all, 1, MPI_INT, MPI_LAND, g->comm);
    return all;
}

uint64_t rs_largest(const rs_group_t *g, const rs_state_t *st, int li)
{
    uint64_t big = 0;
    for (int q = 0; q < g->s; q++) {
        int r = rs_member(g, li, q);
        if (r >= 0 && st->size[rs_index(g, r)] > big)
            big = st->size[rs_index(g, r)];
    }
    return big;
}

void rs_post(xfer_t *x, MPI_Comm comm, int recv, int peer, int j, void *buf,
             uint64_t len)
{
    if (recv)
        MPI_Irecv(buf, (int)len, MPI_BYTE, peer, RS_TAG + j, comm,
                  &x->req[x->n++]);
    else
        MPI_Isend(buf, (int)len, MPI_BYTE, peer, RS_TAG + j, comm,
                  &x->req[x->n++]);
}

int rs_finish(xfer_t *x, ckpt_err_t *e)
{
    int rc = MPI_SUCCESS, done = 0;
    while (x->idle && rc == MPI_SUCCESS && !done) {
        rc = MPI_Testall(x->n, x->req, &done, MPI_STATUSES_IGNORE);
        if (rc == MPI_SUCCESS && !done && !x->idle(x->ctx))
            break;
    }
    if (rc == MPI_SUCCESS && !done)
        rc = MPI_Waitall(x->n, x->req, MPI_STATUSES_IGNORE);
    x->n = 0;
    if (rc != MPI_SUCCESS)
        return err_set(e, CKPT_EMPI, "MPI failed moving RS shares");
    return CKPT_OK;
}

/* Bytes [off, off+len) of a member's file, zero past its end (the pieces
 * are padded). A failed read leaves zeros and the error in e. */
void rs_read_piece(int fd, const char *path, uint64_t size, unsigned char *buf,
                   uint64_t off, uint64_t len, ckpt_err_t *e)
{
    uint64_t have = off < size ? size - off : 0;
    if (have > len)
        have = len;
    memset(buf + have, 0, len - have);
    if (have > 0 && (fd < 0 || e->code != CKPT_OK ||
                     fio_pread(fd, buf, have, off, path, e) != CKPT_OK))
        memset(buf, 0, have);
}

/* Bytes per stripe and lock step: every stripe of a set moves one chunk
 * per step, so a rank holds up to k * (k + m) + s chunks at once (a
 * rebuild); 256 KiB, smaller for wide codes, keeps that near 16 MiB. */
uint64_t rs_chunk(const rs_group_t *g)
{
    uint64_t n = ((uint64_t)16 << 20) /
                 (uint64_t)(g->k * (g->k + g->m) + g->s + 1);
    n = n > RS_CHUNK ? RS_CHUNK : n < 16384 ? 16384 : n;
    return n & ~(uint64_t)4095;
}

int rs_alloc_bufs(unsigned char **buf, int n, uint64_t size)
{
    for (int i = 0; i < n; i++)
        if ((buf[i] = malloc(size)) == NULL)
            return -1;
    return 0;
}

void rs_free_bufs(unsigned char **buf, int n)
{
    for (int i = 0; buf && i < n; i++)
        free(buf[i]);
    free(buf);
}

