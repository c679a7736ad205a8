/* Regions across ranks (see shape.h). */
#include "shape.h"
#include "xxh.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rank r's part of C elements split over n ranks: [*start, *start + *len). */
static void split(uint64_t c, int n, int r, uint64_t *start, uint64_t *len)
{
    uint64_t q = c / (uint64_t)n, rem = c % (uint64_t)n, ur = (uint64_t)r;
    *start = ur * q + (ur < rem ? ur : rem);
    *len = q + (ur < rem);
}

int shape_view(ckpt_t *ck, ckpt_err_t *e)
{
    region_set_t *st = &ck->stored;
    st->n = 0;
    for (int i = 0; i < ck->regions.n; i++) {
        region_t r = ck->regions.v[i];
        if (r.kind == REGION_REPLICATED) {
            uint64_t len;
            split(r.gcount, ck->nranks, ck->rank, &r.goff, &len);
            r.count = (size_t)len;
            r.buf = r.count ? (char *)r.buf + r.goff * type_size(r.type) : r.buf;
        }
        if (region_put(st, &r) != CKPT_OK)
            return err_set(e, CKPT_ENOMEM, "out of memory describing the regions");
    }
    return CKPT_OK;
}

int shape_has_replicated(const ckpt_t *ck)
{
    for (int i = 0; i < ck->regions.n; i++)
        if (ck->regions.v[i].kind == REGION_REPLICATED)
            return 1;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const region_t *const *)a)->name,
                  (*(const region_t *const *)b)->name);
}

int shape_shared(ckpt_t *ck, region_t ***out)
{
    int n = 0;
    *out = malloc(((size_t)ck->regions.n + 1) * sizeof **out);
    if (*out == NULL)
        return -1;
    for (int i = 0; i < ck->regions.n; i++)
        if (ck->regions.v[i].kind != REGION_PRIVATE)
            (*out)[n++] = &ck->regions.v[i];
    qsort(*out, (size_t)n, sizeof **out, by_name);
    return n;
}

/* Whether each of n values is the same on every rank: v holds two words
 * per value (the value, then room for its complement); the maximum of a
 * value and that of its complement belong to one value iff all are equal.
 * same[i] is set (1 on every rank if MPI fails, with e set). */
static void same_everywhere(MPI_Comm comm, uint64_t *v, int n, int *same,
                            ckpt_err_t *e)
{
    for (int i = 0; i < n; i++) {
        v[2 * i + 1] = ~v[2 * i];
        same[i] = 1;
    }
    if (MPI_Allreduce(MPI_IN_PLACE, v, 2 * n, MPI_UINT64_T, MPI_MAX, comm) !=
        MPI_SUCCESS) {
        err_set(e, CKPT_EMPI, "MPI failed comparing regions");
        return;
    }
    for (int i = 0; i < n; i++)
        same[i] = v[2 * i] == ~v[2 * i + 1];
}

int shape_agree(ckpt_t *ck, region_t **g, int n, int code, ckpt_err_t *e)
{
    XXH3_state_t *h = XXH3_createState();
    uint64_t v[2] = {0, 0};
    int same;
    if (h != NULL && n >= 0) {
        XXH3_64bits_reset(h);
        for (int i = 0; i < n; i++) {
            char d[CKPT_NAME_MAX + 64];
            int len = snprintf(d, sizeof d, "%s %d %d %" PRIu64 ";", g[i]->name,
                               g[i]->kind, (int)g[i]->type, g[i]->gcount);
            XXH3_64bits_update(h, d, (size_t)len);
        }
        v[0] = XXH3_64bits_digest(h);
    } else {
        v[0] = (uint64_t)ck->rank; /* differs: the agreement below fails */
        err_set(e, CKPT_ENOMEM, "out of memory comparing regions");
    }
    XXH3_freeState(h);
    same_everywhere(ck->comm, v, 1, &same, e);
    if (!same && e->code == CKPT_OK)
        err_set(e, code, "the ranks protect different global or "
                "replicated regions (names, types or global counts differ)");
    return err_agree(ck->comm, e);
}

typedef struct span {
    uint64_t off, count;
} span_t;

static int by_off(const void *a, const void *b)
{
    const span_t *x = a, *y = b;
    return (x->off > y->off) - (x->off < y->off);
}

/* The slices of global region g (spans of every rank) tile it once. */
static int check_tiling(const region_t *g, span_t *s, int n, ckpt_err_t *e)
{
    uint64_t end = 0;
    qsort(s, (size_t)n, sizeof *s, by_off);
    for (int r = 0; r < n; r++) {
        if (s[r].count == 0)
            continue;
        if (s[r].off != end)
            return err_set(e, CKPT_EINVAL, "global region '%s': elements [%"
                           PRIu64 ", %" PRIu64 ") are %s", g->name,
                           s[r].off < end ? s[r].off : end,
                           s[r].off < end ? end : s[r].off,
                           s[r].off < end ? "in two ranks' slices"
                                          : "in no rank's slice");
        end = s[r].off + s[r].count;
    }
    if (end != g->gcount)
        return err_set(e, CKPT_EINVAL, "global region '%s': elements [%" PRIu64
                       ", %" PRIu64 ") are in no rank's slice", g->name, end,
                       g->gcount);
    return CKPT_OK;
}

static int check_globals(ckpt_t *ck, region_t **g, int n, ckpt_err_t *e)
{
    int size = ck->nranks;
    span_t *mine = calloc((size_t)n + 1, sizeof *mine);
    span_t *all = calloc((size_t)n * (size_t)size + 1, sizeof *all);
    span_t *one = calloc((size_t)size + 1, sizeof *one);
    if (mine == NULL || all == NULL || one == NULL)
        err_set(e, CKPT_ENOMEM, "out of memory checking global regions");
    if (err_agree(ck->comm, e) != CKPT_OK)
        goto out;
    for (int i = 0; i < n; i++)
        mine[i] = (span_t){g[i]->kind == REGION_GLOBAL ? g[i]->goff : 0,
                           g[i]->kind == REGION_GLOBAL ? g[i]->count : 0};
    if (MPI_Allgather(mine, 2 * n, MPI_UINT64_T, all, 2 * n, MPI_UINT64_T,
                      ck->comm) != MPI_SUCCESS) {
        err_set(e, CKPT_EMPI, "MPI failed checking global regions");
        goto out;
    }
    for (int i = 0; i < n && e->code == CKPT_OK; i++) {
        if (g[i]->kind != REGION_GLOBAL)
            continue;
        for (int r = 0; r < size; r++)
            one[r] = all[(size_t)r * (size_t)n + (size_t)i];
        check_tiling(g[i], one, size, e);
    }
out:
    free(mine);
    free(all);
    free(one);
    return err_agree(ck->comm, e);
}

static int check_replicas(ckpt_t *ck, region_t **g, int n, ckpt_err_t *e)
{
    uint64_t *v = calloc(2 * (size_t)n + 2, sizeof *v);
    int *same = calloc((size_t)n + 1, sizeof *same);
    if (v == NULL || same == NULL)
        err_set(e, CKPT_ENOMEM, "out of memory checking replicated regions");
    if (err_agree(ck->comm, e) != CKPT_OK)
        goto out;
    for (int i = 0; i < n; i++)
        if (g[i]->kind == REGION_REPLICATED)
            v[2 * i] = XXH3_64bits(g[i]->buf, region_bytes(g[i]));
    same_everywhere(ck->comm, v, n, same, e);
    for (int i = 0; i < n && e->code == CKPT_OK; i++)
        if (!same[i])
            err_set(e, CKPT_EINVAL, "replicated region '%s' differs between "
                    "ranks: it is not stored", g[i]->name);
out:
    free(v);
    free(same);
    return err_agree(ck->comm, e);
}

int shape_check_save(ckpt_t *ck, ckpt_err_t *e)
{
    region_t **g = NULL;
    int n;
    if (shape_view(ck, e) != CKPT_OK)
        ck->stored.n = 0;
    n = shape_shared(ck, &g);
    if (shape_agree(ck, g, n, CKPT_EINVAL, e) == CKPT_OK && n > 0 &&
        check_globals(ck, g, n, e) == CKPT_OK)
        check_replicas(ck, g, n, e);
    free(g);
    return e->code;
}

/* Each rank's slice of every replicated region goes to all, 1 GiB a
 * broadcast (MPI counts are ints). */
int shape_fill(ckpt_t *ck, ckpt_err_t *e)
{
    region_t **g = NULL;
    int n = shape_shared(ck, &g);
    if (n < 0)
        err_set(e, CKPT_ENOMEM, "out of memory filling replicated regions");
    if (err_agree(ck->comm, e) != CKPT_OK)
        goto out;
    for (int i = 0; i < n && e->code == CKPT_OK; i++) {
        size_t es = type_size(g[i]->type);
        if (g[i]->kind != REGION_REPLICATED)
            continue;
        for (int r = 0; r < ck->nranks && e->code == CKPT_OK; r++) {
            uint64_t start, len;
            split(g[i]->gcount, ck->nranks, r, &start, &len);
            for (uint64_t at = start * es, end = (start + len) * es; at < end;) {
                int chunk = end - at > (1u << 30) ? 1 << 30 : (int)(end - at);
                if (MPI_Bcast((char *)g[i]->buf + at, chunk, MPI_BYTE, r,
                              ck->comm) != MPI_SUCCESS) {
                    err_set(e, CKPT_EMPI, "MPI failed filling replicated regions");
                    break;
                }
                at += (uint64_t)chunk;
            }
        }
    }
out:
    free(g);
    return e->code;
}
