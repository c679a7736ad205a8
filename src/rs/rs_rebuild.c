/* RS rebuild: lost rank files decoded from the shares left, checked whole
 * against their digests. */
#include "rs_level.h"
#include "rs_step.h"
#include "rs_code.h"
#include "fileio.h"
#include "ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    ckpt_err_t read_err;    /* a share this rank could not read: it sends
                               zeros, the needer's digest fails, and the
                               second try leaves the share out */
    int *chosen;            /* [s * (k + m)]: the blocks read, by stripe */
    int *count;             /* [s]: how many of them are there */
    unsigned char **send;   /* [s]: this rank's share of stripe j */
    unsigned char **recv;   /* [k * (k + m)]: blocks of its piece t's stripe */
    uint64_t *rebuilt;      /* [width * s]: state bits to set (mark_own) */
    xfer_t xf;
} reb_t;

/* This rank's share of stripe j, read into send[j], if it is one of the
 * blocks read: 1, else 0. */
static int source_block(reb_t *x, int li, int j, uint64_t P, uint64_t o,
                        uint64_t n)
{
    const rs_group_t *g = x->g;
    int role = rs_role(g, j, g->pos), me = g->t->rank;
    int b = role < 0 ? -1 - role : g->k + role;
    if (!x->chosen[j * (g->k + g->m) + b] || block_rank(g, li, j, b) != me)
        return 0;
    if (role < 0)
        rs_read_piece(x->fd, x->path, x->st->size[rs_index(g, me)], x->send[j],
                      (uint64_t)b * P + o, n, &x->read_err);
    else
        rs_read_piece(x->pfd, x->ppath, x->st->psize[li], x->send[j],
                      (uint64_t)rs_slot(g, g->pos, j) * P + o, n, &x->read_err);
    return 1;
}

/* Stripe j's messages of one lock step: its chosen blocks go to every
 * member that needs its piece of it. */
static void post_stripe(reb_t *x, int li, int j, uint64_t P, uint64_t o,
                        uint64_t n)
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
                mine = source_block(x, li, j, P, o, n);
            if (mine)
                rs_post(&x->xf, x->comm, 0, r, j, x->send[j], n);
            continue;
        }
        for (int b = 0; b < g->k + g->m; b++) {
            unsigned char *buf = x->recv[t * (g->k + g->m) + b];
            int from = chosen[b] ? block_rank(g, li, j, b) : -2;
            if (from == -1)
                memset(buf, 0, n);
            else if (from >= 0)
                rs_post(&x->xf, x->comm, 1, from, j, buf, n);
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
            post_stripe(x, li, j, P, o, n);
    if (rs_finish(&x->xf, e) != CKPT_OK || x->out < 0 || li != g->li)
        return;
    for (int t = 0; t < g->k; t++) {
        int j = rs_piece_stripe(g, g->pos, t);
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
        if (!set_needs(g, x->st, li) || rs_holder(g, li, g->pos) != me ||
            !(OK(x->st, g, li, g->pos) & RS_PARITY_OK))
            continue;
        cache_parity_path(c, step, li, 0, path, sizeof path);
        err_clear(&e);
        if (fio_digest_path(path, x->st->psize[li], &d, &e) != CKPT_OK ||
            d != x->st->pdigest[li])
            OK(x->st, g, li, g->pos) &= ~(uint64_t)RS_PARITY_OK;
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
    if (e->code == CKPT_OK && ftruncate(x->out, (off_t)size) != 0)
        err_sys(e, errno, "truncate %s", x->out_path);
    if (e->code == CKPT_OK &&
        fio_digest_path(x->out_path, size, &d, e) == CKPT_OK &&
        d != x->st->digest[rs_index(x->g, x->g->t->rank)])
        err_set(e, CKPT_ECORRUPT, "the file rebuilt from the RS shares of "
                "step %lld does not match its digest", (long long)step);
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
    x->fd = need || !(OK(x->st, g, g->li, g->pos) & RS_MEMBER_OK)
                ? -1 : fio_open_read(x->path);
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
        uint64_t P = rs_piece(g, rs_largest(g, x->st, li));
        if (!set_needs(g, x->st, li))
            continue;
        for (int j = 0; j < g->s; j++)
            x->count[j] = choose(g, x->st, li, j, &x->chosen[j * (g->k + g->m)]);
        cache_parity_path(c, step, li, 0, x->ppath, sizeof x->ppath);
        x->pfd = rs_holder(g, li, g->pos) == g->t->rank &&
                         (OK(x->st, g, li, g->pos) & RS_PARITY_OK)
                     ? fio_open_read(x->ppath) : -1;
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
    err_clear(&x->read_err);
    open_for_rebuild(x, c, step, need, e);
    if (verify)
        verify_sources(x, c, step);
    if (rs_reduce(g, x->st, MPI_BAND, 0, e) != CKPT_OK)
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

/* A rebuild's buffers: send, then recv (a needer's only), in one array. */
static int reb_alloc(reb_t *x, int need)
{
    const rs_group_t *g = x->g;
    int w = g->k + g->m, n = g->s + g->k * w;
    unsigned char **b = calloc((size_t)n, sizeof *b);
    x->send = b;
    x->chosen = malloc((size_t)(g->s * w + g->s) * sizeof *x->chosen);
    x->rebuilt = malloc(((size_t)g->width * (size_t)g->s + 1) * sizeof *x->rebuilt);
    x->xf.req = malloc((size_t)(g->s * g->k + g->k * w + 1) * sizeof *x->xf.req);
    if (b == NULL || x->chosen == NULL || x->xf.req == NULL || x->rebuilt == NULL ||
        rs_alloc_bufs(b, need ? n : g->s, x->chunk) != 0)
        return -1;
    x->recv = b + g->s;
    x->count = x->chosen + g->s * w;
    return 0;
}

/* Collective: `bits` (0 for none) set on this rank's own position in the
 * state of every rank of the group. */
static void mark_own(reb_t *x, uint64_t bits, ckpt_err_t *e)
{
    const rs_group_t *g = x->g;
    size_t n = (size_t)g->width * (size_t)g->s;
    memset(x->rebuilt, 0, n * sizeof *x->rebuilt);
    x->rebuilt[(size_t)g->li * (size_t)g->s + (size_t)g->pos] = bits;
    if (MPI_Allreduce(MPI_IN_PLACE, x->rebuilt, (int)n, MPI_UINT64_T, MPI_BOR,
                      g->comm) != MPI_SUCCESS) {
        if (e->code == CKPT_OK)
            err_set(e, CKPT_EMPI, "MPI failed in the RS group");
        return;
    }
    for (size_t i = 0; i < n; i++)
        x->st->ok[i] |= x->rebuilt[i];
}

int rs_rebuild_files(const rs_group_t *g, MPI_Comm comm, const cache_t *c,
                     int64_t step, rs_state_t *st, int need,
                     int (*idle)(void *), void *ctx, ckpt_err_t *e)
{
    reb_t x = {.g = g, .comm = comm, .st = st, .fd = -1, .out = -1,
               .chunk = rs_chunk(g), .xf = {.idle = idle, .ctx = ctx}};
    int bad;
    if (g->m == 0)
        return need ? err_set(e, CKPT_ENOENT, "node %d has no RS parity",
                              g->t->node) : CKPT_OK;
    if (need)
        OK(st, g, g->li, g->pos) &= ~(uint64_t)(RS_MEMBER_OK | RS_NO_NEED);
    if (!rs_all(g, reb_alloc(&x, need) == 0)) {
        if (need)
            err_set(e, CKPT_ENOMEM, "out of memory rebuilding from RS shares");
        goto out;
    }
    /* A rank that rebuilds nothing gets nothing sent, whatever the state
     * said of its position (a lost node's rank that reads storage, or one
     * a first rebuild of this restore could not serve): only needers have
     * receive buffers. */
    mark_own(&x, need ? 0 : RS_NO_NEED, e);
    /* Shares are checked only when a rebuilt file fails its digest: the
     * file's own check catches any bad share, and the second try, with
     * every share checked first, leaves the bad one out. */
    rebuild_try(&x, c, step, need, 0, e);
    bad = e->code == CKPT_ECORRUPT;
    if (!rs_all(g, !bad)) {
        if (bad)
            err_clear(e);
        rebuild_try(&x, c, step, need, 1, e);
    }
    /* files rebuilt count as there from now on, so that a later rebuild of
     * the same restore (a rank whose own file failed as it was copied)
     * reads them as shares */
    mark_own(&x, need && e->code == CKPT_OK ? RS_MEMBER_OK | RS_NO_NEED : 0, e);
out:
    rs_free_bufs(x.send, g->s + g->k * (g->k + g->m));
    free(x.chosen);
    free(x.rebuilt);
    free(x.xf.req);
    return e->code;
}

