#include "rs_level.h"
#include "fileio.h"
#include "ckpt.h"
#include "xxh.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bytes of one stripe moved per lock step. */
#define RS_CHUNK ((uint64_t)256 << 10)
#define RS_TAG 0x5253

#define OK(st, g, li, q) ((st)->ok[(size_t)(li) * (size_t)(g)->s + (size_t)(q)])

int rs_state_alloc(const rs_group_t *g, rs_state_t *st)
{
    size_t n = (size_t)g->nranks, w = (size_t)g->width;
    memset(st, 0, sizeof *st);
    st->size = calloc(2 * n + w * (size_t)g->s + 2 * w, sizeof *st->size);
    st->made = calloc(w, sizeof *st->made);
    if (st->size == NULL || st->made == NULL) {
        rs_state_free(st);
        return CKPT_ENOMEM;
    }
    st->digest = st->size + n;
    st->ok = st->digest + n;
    st->pdigest = st->ok + w * (size_t)g->s;
    st->psize = st->pdigest + w;
    return CKPT_OK;
}

void rs_state_free(rs_state_t *st)
{
    free(st->size);
    free(st->made);
    memset(st, 0, sizeof *st);
}

/* The shared part of st (sizes, digests, bits) combined over the group. */
static int reduce(const rs_group_t *g, rs_state_t *st, MPI_Op op, int sizes,
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

/* Collective over the group: 1 if every rank passes v != 0. */
static int group_all(const rs_group_t *g, int v)
{
    int all = 0;
    MPI_Allreduce(&v, &all, 1, MPI_INT, MPI_LAND, g->comm);
    return all;
}

static int sized(const char *path, uint64_t size)
{
    uint64_t have;
    return fio_file_size(path, &have) == 0 && have == size;
}

/* This node's bits and parity files for every set; every rank file the
 * MANIFEST lists (own or coded). */
static void probe_node(const rs_group_t *g, const cache_t *c,
                       const manifest_t *m, rs_state_t *st)
{
    char path[PATH_MAX];
    for (int x = 0; x < g->nranks; x++) {
        const mf_entry_t *f = manifest_find(m, g->t->members[g->base + x]);
        if (f != NULL) {
            st->size[x] = f->size;
            st->digest[x] = f->digest;
        }
    }
    for (int li = 0; li < g->width; li++) {
        int r = rs_member(g, li, g->pos);
        const mf_entry_t *f = r >= 0 ? manifest_find(m, r) : NULL;
        uint64_t bits = RS_NO_NEED;
        cache_rank_path(c, m->step, r, 0, path, sizeof path);
        if (r < 0 || (f && f->own && sized(path, f->size)))
            bits |= RS_MEMBER_OK;
        f = manifest_find_parity(m, li);
        cache_parity_path(c, m->step, li, 0, path, sizeof path);
        if (g->m == 0 || (f && sized(path, f->size)))
            bits |= RS_PARITY_OK;
        if (f && rs_holder(g, li, g->pos) == g->t->rank) {
            st->psize[li] = f->size;
            st->pdigest[li] = f->digest;
        }
        OK(st, g, li, g->pos) = bits;
    }
}

int rs_probe(const rs_group_t *g, const cache_t *c, const manifest_t *m,
             rs_state_t *st, ckpt_err_t *e)
{
    if (m != NULL)
        probe_node(g, c, m, st);
    return reduce(g, st, MPI_MAX, 1, e);
}

int rs_start(const rs_group_t *g, uint64_t size, uint64_t digest,
             rs_state_t *st, ckpt_err_t *e)
{
    int x = rs_index(g, g->t->rank);
    st->size[x] = size;
    st->digest[x] = digest;
    for (int li = 0; li < g->width; li++)
        OK(st, g, li, g->pos) = RS_MEMBER_OK | RS_NO_NEED |
                                (g->m == 0 ? RS_PARITY_OK : 0);
    return reduce(g, st, MPI_MAX, 1, e);
}

int rs_lost(const rs_group_t *g, const rs_state_t *st, int li)
{
    int lost = 0;
    for (int q = 0; q < g->s; q++)
        lost += (OK(st, g, li, q) & (RS_MEMBER_OK | RS_PARITY_OK)) !=
                (RS_MEMBER_OK | RS_PARITY_OK);
    return lost;
}

int rs_covered(const rs_group_t *g, const rs_state_t *st, int spare)
{
    int lost = rs_lost(g, st, g->li);
    int here = (OK(st, g, g->li, g->pos) & RS_MEMBER_OK) != 0;
    if (st->size[rs_index(g, g->t->rank)] == 0 || g->m == 0)
        return 0;
    return spare ? here && lost + 1 <= g->m : lost <= g->m;
}

void rs_forget(const rs_group_t *g, rs_state_t *st)
{
    memset(st->ok, 0, (size_t)g->width * (size_t)g->s * sizeof *st->ok);
    memset(st->psize, 0, (size_t)g->width * sizeof *st->psize);
}

static uint64_t largest(const rs_group_t *g, const rs_state_t *st, int li)
{
    uint64_t big = 0;
    for (int q = 0; q < g->s; q++) {
        int r = rs_member(g, li, q);
        if (r >= 0 && st->size[rs_index(g, r)] > big)
            big = st->size[rs_index(g, r)];
    }
    return big;
}

/* One lock step: every receive posted, then every send, then all waited.
 * Stripe j's messages carry tag RS_TAG + j: a pair of ranks may exchange
 * shares of several stripes in one step. */
typedef struct xfer {
    int n;
    MPI_Request *req;
} xfer_t;

static void post(xfer_t *x, MPI_Comm comm, int recv, int peer, int j,
                 void *buf, uint64_t len)
{
    if (recv)
        MPI_Irecv(buf, (int)len, MPI_BYTE, peer, RS_TAG + j, comm,
                  &x->req[x->n++]);
    else
        MPI_Isend(buf, (int)len, MPI_BYTE, peer, RS_TAG + j, comm,
                  &x->req[x->n++]);
}

static int finish(xfer_t *x, ckpt_err_t *e)
{
    int rc = MPI_Waitall(x->n, x->req, MPI_STATUSES_IGNORE);
    x->n = 0;
    if (rc != MPI_SUCCESS)
        return err_set(e, CKPT_EMPI, "MPI failed moving RS shares");
    return CKPT_OK;
}

/* Bytes [off, off+len) of a member's file, zero past its end (the pieces
 * are padded). A failed read leaves zeros and the error in e. */
static void read_piece(int fd, const char *path, uint64_t size,
                       unsigned char *buf, uint64_t off, uint64_t len,
                       ckpt_err_t *e)
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
static uint64_t chunk_of(const rs_group_t *g)
{
    uint64_t n = ((uint64_t)16 << 20) /
                 (uint64_t)(g->k * (g->k + g->m) + g->s + 1);
    n = n > RS_CHUNK ? RS_CHUNK : n < 65536 ? 65536 : n;
    return n & ~(uint64_t)4095;
}

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
    int me = g->t->rank, hold = rs_holder(g, li, g->pos) == me && wanted(x, li, g->pos);
    for (int i = 0; hold && i < g->m; i++) {
        int j = ((g->pos - i) % g->s + g->s) % g->s;
        for (int t = 0; t < g->k; t++) {
            int r = rs_member(g, li, rs_data_pos(g, j, t));
            unsigned char *b = x->recv[i * g->k + t];
            if (r < 0)
                memset(b, 0, n);
            else
                post(&x->xf, x->comm, 1, r, j, b, n);
        }
    }
    for (int t = 0; li == g->li && t < g->k; t++) {
        int j = ((g->pos - g->m - t) % g->s + g->s) % g->s;
        read_piece(x->fd, x->path, x->st->size[rs_index(g, me)], x->send[t],
                   (uint64_t)t * P + o, n, e);
        for (int i = 0; i < g->m; i++)
            if (wanted(x, li, rs_holder_pos(g, j, i)))
                post(&x->xf, x->comm, 0, rs_holder(g, li, rs_holder_pos(g, j, i)),
                     j, x->send[t], n);
    }
    if (finish(&x->xf, e) != CKPT_OK)
        return;
    for (int i = 0; hold && x->out >= 0 && i < g->m; i++) {
        int j = ((g->pos - i) % g->s + g->s) % g->s;
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
    int fd = -1;
    if (x->out >= 0) {
        if (e->code == CKPT_OK &&
            (ftruncate(x->out, (off_t)size) != 0 || fsync(x->out) != 0))
            err_sys(e, errno, "fsync %s", x->out_path);
        close(x->out);
    }
    if (e->code == CKPT_OK && (fd = open(x->out_path, O_RDONLY | O_CLOEXEC)) < 0)
        err_sys(e, errno, "open %s", x->out_path);
    if (fd >= 0) {
        fio_digest(fd, size, &x->st->pdigest[li], x->out_path, e);
        close(fd);
    }
    x->st->psize[li] = size;
    x->st->made[li] = 1;
}

static int alloc_bufs(unsigned char **buf, int n, uint64_t size)
{
    for (int i = 0; i < n; i++)
        if ((buf[i] = malloc(size)) == NULL)
            return -1;
    return 0;
}

static void free_bufs(unsigned char **buf, int n)
{
    for (int i = 0; buf && i < n; i++)
        free(buf[i]);
    free(buf);
}

/* All of an encode's buffers, in one array: send, recv, row. */
static int enc_alloc(enc_t *x)
{
    const rs_group_t *g = x->g;
    int n = g->k + g->m * g->k + 1;
    unsigned char **b = calloc((size_t)n, sizeof *b);
    x->send = b;
    x->xf.req = malloc((size_t)(2 * g->m * g->k + 1) * sizeof *x->xf.req);
    if (b == NULL || x->xf.req == NULL || alloc_bufs(b, n, x->chunk) != 0)
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
               .chunk = chunk_of(g)};
    if (g->m == 0)
        return CKPT_OK;
    if (!group_all(g, enc_alloc(&x) == 0)) {
        err_set(e, CKPT_ENOMEM, "out of memory making RS parity");
        goto out;
    }
    if ((x.fd = open(own_path, O_RDONLY | O_CLOEXEC)) < 0)
        err_sys(e, errno, "open %s", own_path);
    for (int li = 0; li < g->width; li++) {
        uint64_t P = rs_piece(g, largest(g, st, li));
        int mine = open_parity(&x, c, step, li, e);
        for (uint64_t o = 0; o < P; o += x.chunk)
            encode_step(&x, li, P, o, e);
        if (mine)
            close_parity(&x, li, (uint64_t)g->m * P, e);
    }
    if (x.fd >= 0)
        close(x.fd);
out:
    free_bufs(x.send, g->k + g->m * g->k + 1);
    free(x.xf.req);
    return e->code;
}

int rs_publish(const rs_group_t *g, const cache_t *c, int64_t step,
               rs_state_t *st, ckpt_err_t *e)
{
    char tmp[PATH_MAX], path[PATH_MAX];
    for (int li = 0; li < g->width && e->code == CKPT_OK; li++) {
        if (!st->made[li])
            continue;
        cache_parity_path(c, step, li, 1, tmp, sizeof tmp);
        cache_parity_path(c, step, li, 0, path, sizeof path);
        if (rename(tmp, path) != 0)
            err_sys(e, errno, "rename %s", tmp);
        st->made[li] = 0;
        /* this rank's view only: what rs_lines lists */
        OK(st, g, li, g->pos) |= RS_PARITY_OK;
    }
    return e->code;
}

/* Block b of a stripe: data piece b < k, else parity row b - k. */
static int block_pos(const rs_group_t *g, int j, int b)
{
    return b < g->k ? rs_data_pos(g, j, b) : rs_holder_pos(g, j, b - g->k);
}

static int block_rank(const rs_group_t *g, int li, int j, int b)
{
    int q = block_pos(g, j, b);
    return b < g->k ? rs_member(g, li, q) : rs_holder(g, li, q);
}

/* The k blocks of stripe j of set li a rebuild reads: the first k that are
 * there (a missing member's piece is zeros, always there). The count. */
static int choose(const rs_group_t *g, const rs_state_t *st, int li, int j,
                  int *chosen)
{
    int n = 0;
    for (int b = 0; b < g->k + g->m; b++) {
        int q = block_pos(g, j, b);
        uint64_t bits = OK(st, g, li, q);
        int there = b < g->k ? rs_member(g, li, q) < 0 || (bits & RS_MEMBER_OK)
                             : (bits & RS_PARITY_OK) != 0;
        chosen[b] = there && n < g->k;
        n += chosen[b];
    }
    return n;
}

/* Some member of set li needs its file rebuilt. */
static int set_needs(const rs_group_t *g, const rs_state_t *st, int li)
{
    for (int q = 0; q < g->s; q++)
        if (!(OK(st, g, li, q) & RS_NO_NEED))
            return 1;
    return 0;
}

typedef struct reb {
    const rs_group_t *g;
    MPI_Comm comm;
    rs_state_t *st;
    uint64_t chunk;
    int fd, pfd;            /* own file; parity file of the set in hand */
    char path[PATH_MAX], ppath[PATH_MAX];
    int out;                /* the rebuilt file, or -1 */
    char out_path[PATH_MAX];
    int *chosen;            /* [s * (k + m)]: the blocks read, by stripe */
    int *count;             /* [s]: how many of them are there */
    unsigned char **send;   /* [s]: this rank's share of stripe j */
    unsigned char **recv;   /* [k * (k + m)]: blocks of its piece t's stripe */
    xfer_t xf;
} reb_t;

/* This rank's share of stripe j, read into send[j], if it is one of the
 * blocks read: 1, else 0. */
static int source_block(reb_t *x, int li, int j, uint64_t P, uint64_t o,
                        uint64_t n, ckpt_err_t *e)
{
    const rs_group_t *g = x->g;
    int role = rs_role(g, j, g->pos), me = g->t->rank;
    int b = role < 0 ? -1 - role : g->k + role;
    if (!x->chosen[j * (g->k + g->m) + b] || block_rank(g, li, j, b) != me)
        return 0;
    if (role < 0)
        read_piece(x->fd, x->path, x->st->size[rs_index(g, me)], x->send[j],
                   (uint64_t)b * P + o, n, e);
    else
        read_piece(x->pfd, x->ppath, x->st->psize[li], x->send[j],
                   (uint64_t)rs_slot(g, g->pos, j) * P + o, n, e);
    return 1;
}

/* Stripe j's messages of one lock step: its chosen blocks go to every
 * member that needs its piece of it. */
static void post_stripe(reb_t *x, int li, int j, uint64_t P, uint64_t o,
                        uint64_t n, ckpt_err_t *e)
{
    const rs_group_t *g = x->g;
    const int *chosen = &x->chosen[j * (g->k + g->m)];
    int me = g->t->rank, mine = -1;
    for (int t = 0; t < g->k; t++) {
        int q = rs_data_pos(g, j, t), r = rs_member(g, li, q);
        if (r < 0 || (OK(x->st, g, li, q) & RS_NO_NEED))
            continue;
        if (r != me) {
            if (mine < 0)
                mine = source_block(x, li, j, P, o, n, e);
            if (mine)
                post(&x->xf, x->comm, 0, r, j, x->send[j], n);
            continue;
        }
        for (int b = 0; b < g->k + g->m; b++) {
            unsigned char *buf = x->recv[t * (g->k + g->m) + b];
            int from = chosen[b] ? block_rank(g, li, j, b) : -2;
            if (from == -1)
                memset(buf, 0, n);
            else if (from >= 0)
                post(&x->xf, x->comm, 1, from, j, buf, n);
        }
    }
}

/* One lock step of set li at offset o of every stripe; then each needer
 * decodes its pieces and writes them. */
static void rebuild_step(reb_t *x, int li, uint64_t P, uint64_t o,
                         ckpt_err_t *e)
{
    const rs_group_t *g = x->g;
    uint64_t n = P - o < x->chunk ? P - o : x->chunk;
    uint64_t size = x->st->size[rs_index(g, g->t->rank)];
    for (int j = 0; j < g->s; j++)
        if (x->count[j] >= g->k) /* else its needers failed already */
            post_stripe(x, li, j, P, o, n, e);
    if (finish(&x->xf, e) != CKPT_OK || x->out < 0 || li != g->li)
        return;
    for (int t = 0; t < g->k; t++) {
        int j = ((g->pos - g->m - t) % g->s + g->s) % g->s;
        uint64_t at = (uint64_t)t * P + o;
        unsigned char **blocks = &x->recv[t * (g->k + g->m)];
        if (x->count[j] < g->k || at >= size || e->code != CKPT_OK)
            continue;
        rs_rebuild_one(&g->code, n, blocks, &x->chosen[j * (g->k + g->m)], t, e);
        if (e->code == CKPT_OK)
            fio_pwrite(x->out, blocks[t], size - at < n ? size - at : n, at,
                       x->out_path, e);
    }
}

/* A source that fails its digest is not used: its bit goes. */
static void verify_sources(reb_t *x, const cache_t *c, int64_t step)
{
    const rs_group_t *g = x->g;
    ckpt_err_t e = {0};
    uint64_t d = 0;
    int me = g->t->rank, x_me = rs_index(g, me);
    if (set_needs(g, x->st, g->li) &&
        (OK(x->st, g, g->li, g->pos) & RS_MEMBER_OK) &&
        (x->fd < 0 || fio_digest(x->fd, x->st->size[x_me], &d, x->path, &e) ||
         d != x->st->digest[x_me]))
        OK(x->st, g, g->li, g->pos) &= ~(uint64_t)RS_MEMBER_OK;
    for (int li = 0; li < g->width; li++) {
        char path[PATH_MAX];
        int fd;
        if (!set_needs(g, x->st, li) || rs_holder(g, li, g->pos) != me ||
            !(OK(x->st, g, li, g->pos) & RS_PARITY_OK))
            continue;
        cache_parity_path(c, step, li, 0, path, sizeof path);
        err_clear(&e);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fio_digest(fd, x->st->psize[li], &d, path, &e) ||
            d != x->st->pdigest[li])
            OK(x->st, g, li, g->pos) &= ~(uint64_t)RS_PARITY_OK;
        if (fd >= 0)
            close(fd);
    }
}

/* Every stripe this rank's pieces lie in can be decoded. */
static int decodable(const rs_group_t *g, const rs_state_t *st)
{
    int chosen[RS_BLOCKS_MAX];
    for (int j = 0; j < g->s; j++)
        if (rs_role(g, j, g->pos) < 0 && choose(g, st, g->li, j, chosen) < g->k)
            return 0;
    return 1;
}

/* The rebuilt file checked whole against its digest, then put in place.
 * Not fsync'd, like a file fetched from storage: every read of an own file
 * checks it, so a crash costs a rebuild, never wrong data. */
static void settle_rebuilt(reb_t *x, const cache_t *c, int64_t step,
                           ckpt_err_t *e)
{
    char path[PATH_MAX];
    uint64_t d = 0, size = x->st->size[rs_index(x->g, x->g->t->rank)];
    int fd = -1;
    if (e->code == CKPT_OK && ftruncate(x->out, (off_t)size) != 0)
        err_sys(e, errno, "truncate %s", x->out_path);
    if (e->code == CKPT_OK && (fd = open(x->out_path, O_RDONLY | O_CLOEXEC)) < 0)
        err_sys(e, errno, "open %s", x->out_path);
    if (fd >= 0 && fio_digest(fd, size, &d, x->out_path, e) == CKPT_OK &&
        d != x->st->digest[rs_index(x->g, x->g->t->rank)])
        err_set(e, CKPT_ECORRUPT, "the file rebuilt from the RS shares of "
                "step %lld does not match its digest", (long long)step);
    if (fd >= 0)
        close(fd);
    close(x->out);
    cache_rank_path(c, step, x->g->t->rank, 0, path, sizeof path);
    if (e->code == CKPT_OK && rename(x->out_path, path) != 0)
        err_sys(e, errno, "rename %s", x->out_path);
    if (e->code != CKPT_OK)
        unlink(x->out_path);
}

static void open_for_rebuild(reb_t *x, const cache_t *c, int64_t step,
                             int need, ckpt_err_t *e)
{
    const rs_group_t *g = x->g;
    cache_rank_path(c, step, g->t->rank, 0, x->path, sizeof x->path);
    x->fd = need ? -1 : open(x->path, O_RDONLY | O_CLOEXEC);
    x->out = -1;
    if (!need)
        return;
    cache_step_dir(c, step, x->out_path, sizeof x->out_path);
    if (fio_mkdirs(x->out_path, e) != CKPT_OK) /* a lost node's is gone */
        return;
    cache_rank_path(c, step, g->t->rank, 1, x->out_path, sizeof x->out_path);
    if ((x->out = fio_open_rewrite(x->out_path)) < 0)
        err_sys(e, errno, "open %s", x->out_path);
}

static void rebuild_sets(reb_t *x, const cache_t *c, int64_t step,
                         ckpt_err_t *e)
{
    const rs_group_t *g = x->g;
    for (int li = 0; li < g->width; li++) {
        uint64_t P = rs_piece(g, largest(g, x->st, li));
        if (!set_needs(g, x->st, li))
            continue;
        for (int j = 0; j < g->s; j++)
            x->count[j] = choose(g, x->st, li, j, &x->chosen[j * (g->k + g->m)]);
        cache_parity_path(c, step, li, 0, x->ppath, sizeof x->ppath);
        x->pfd = rs_holder(g, li, g->pos) == g->t->rank
                     ? open(x->ppath, O_RDONLY | O_CLOEXEC) : -1;
        for (uint64_t o = 0; o < P; o += x->chunk)
            rebuild_step(x, li, P, o, e);
        if (x->pfd >= 0)
            close(x->pfd);
    }
}

/* One try. With `verify`, every share of a set with a needer is checked
 * against its digest first and a failing one is not used. */
static void rebuild_try(reb_t *x, const cache_t *c, int64_t step, int need,
                        int verify, ckpt_err_t *e)
{
    const rs_group_t *g = x->g;
    open_for_rebuild(x, c, step, need, e);
    if (verify)
        verify_sources(x, c, step);
    if (reduce(g, x->st, MPI_BAND, 0, e) != CKPT_OK)
        return;
    if (need && !decodable(g, x->st))
        err_set(e, CKPT_ENOENT, "step %lld: the RS group of node %d lost "
                "more than %d shares", (long long)step, g->t->node, g->m);
    /* every rank runs every lock step: a needer that failed still takes
     * part, and its result is thrown away */
    rebuild_sets(x, c, step, e);
    if (need && x->out >= 0)
        settle_rebuilt(x, c, step, e);
    x->out = -1;
    if (x->fd >= 0)
        close(x->fd);
    x->fd = -1;
}

/* A rebuild's buffers: send, then recv, in one array. */
static int reb_alloc(reb_t *x)
{
    const rs_group_t *g = x->g;
    int w = g->k + g->m, n = g->s + g->k * w;
    unsigned char **b = calloc((size_t)n, sizeof *b);
    x->send = b;
    x->chosen = malloc((size_t)(g->s * w + g->s) * sizeof *x->chosen);
    x->xf.req = malloc((size_t)(g->s * g->k + g->k * w + 1) * sizeof *x->xf.req);
    if (b == NULL || x->chosen == NULL || x->xf.req == NULL ||
        alloc_bufs(b, n, x->chunk) != 0)
        return -1;
    x->recv = b + g->s;
    x->count = x->chosen + g->s * w;
    return 0;
}

int rs_rebuild_files(const rs_group_t *g, MPI_Comm comm, const cache_t *c,
                     int64_t step, rs_state_t *st, int need, ckpt_err_t *e)
{
    reb_t x = {.g = g, .comm = comm, .st = st, .fd = -1, .out = -1,
               .chunk = chunk_of(g)};
    int bad;
    if (g->m == 0)
        return need ? err_set(e, CKPT_ENOENT, "node %d has no RS parity",
                              g->t->node) : CKPT_OK;
    if (need)
        OK(st, g, g->li, g->pos) &= ~(uint64_t)(RS_MEMBER_OK | RS_NO_NEED);
    if (!group_all(g, reb_alloc(&x) == 0)) {
        if (need)
            err_set(e, CKPT_ENOMEM, "out of memory rebuilding from RS shares");
        goto out;
    }
    /* Shares are checked only when a rebuilt file fails its digest: the
     * file's own check catches any bad share, and the second try, with
     * every share checked first, leaves the bad one out. */
    rebuild_try(&x, c, step, need, 0, e);
    bad = e->code == CKPT_ECORRUPT;
    if (!group_all(g, !bad)) {
        if (bad)
            err_clear(e);
        rebuild_try(&x, c, step, need, 1, e);
    }
out:
    free_bufs(x.send, g->s + g->k * (g->k + g->m));
    free(x.chosen);
    free(x.xf.req);
    return e->code;
}

/* This rank's entry as a coded line, gathered from every rank of the group. */
static int gather_coded(const rs_group_t *g, const mf_entry_t *own, char **all,
                        int *counts, int *displs, ckpt_err_t *e)
{
    mf_entry_t x = *own;
    char *mine = NULL;
    size_t len = 0;
    int n = -1, total = 0;
    x.own = 0;
    x.kind = MF_CODED;
    if (manifest_format_entries(&x, 1, &mine, &len) == 0 && len < INT_MAX / 2)
        n = (int)len;
    if (MPI_Allgather(&n, 1, MPI_INT, counts, 1, MPI_INT, g->comm) != MPI_SUCCESS) {
        free(mine);
        return err_set(e, CKPT_EMPI, "MPI failed listing the RS group");
    }
    for (int i = 0; i < g->nranks; i++) {
        displs[i] = total;
        total += counts[i] > 0 ? counts[i] : 0;
        if (counts[i] < 0)
            err_set(e, CKPT_ENOMEM, "a rank of the RS group could not list "
                    "its file");
    }
    *all = malloc((size_t)total + 1);
    if (*all == NULL)
        err_set(e, CKPT_ENOMEM, "out of memory listing the RS group");
    MPI_Allgatherv(mine, n > 0 ? n : 0, MPI_CHAR, *all ? *all : mine, counts,
                   displs, MPI_CHAR, g->comm);
    free(mine);
    return e->code;
}

static int cmp_int(const void *a, const void *b)
{
    return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

/* The parity lines of this rank: one per set it holds a share of. */
static void parity_lines(const rs_group_t *g, const rs_state_t *st, FILE *f)
{
    for (int li = 0; li < g->width; li++) {
        mf_entry_t p = {.rank = li, .kind = MF_PARITY, .size = st->psize[li],
                        .digest = st->pdigest[li]};
        char *one = NULL;
        size_t n = 0;
        if (rs_holder(g, li, g->pos) != g->t->rank || st->psize[li] == 0 ||
            !(OK(st, g, li, g->pos) & RS_PARITY_OK))
            continue;
        if (manifest_format_entries(&p, 1, &one, &n) == 0)
            fwrite(one, 1, n, f);
        free(one);
    }
}

int rs_lines(const rs_group_t *g, const rs_state_t *st, const mf_entry_t *own,
             int leader, char **text, size_t *len, ckpt_err_t *e)
{
    /* the group's communicator orders its ranks as the world does */
    int *counts = calloc((size_t)g->nranks * 3, sizeof *counts);
    int *displs = counts + g->nranks, *rank = displs + g->nranks;
    char *all = NULL;
    FILE *f = NULL;
    *text = NULL;
    if (counts == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory listing the RS group");
    memcpy(rank, g->t->members + g->base, (size_t)g->nranks * sizeof *rank);
    qsort(rank, (size_t)g->nranks, sizeof *rank, cmp_int);
    gather_coded(g, own, &all, counts, displs, e);
    if (e->code == CKPT_OK && (f = open_memstream(text, len)) == NULL)
        err_set(e, CKPT_ENOMEM, "out of memory listing the RS group");
    for (int i = 0; f && leader && i < g->nranks; i++)
        if (g->t->node_of[rank[i]] != g->t->node)
            fwrite(all + displs[i], 1, (size_t)counts[i], f);
    if (f)
        parity_lines(g, st, f);
    if (f && fclose(f) != 0)
        err_set(e, CKPT_ENOMEM, "out of memory listing the RS group");
    free(all);
    free(counts);
    return e->code;
}
