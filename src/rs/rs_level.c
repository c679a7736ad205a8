/* RS level state: what a group holds of a step (probe, start), how many
 * shares a set lost, parity files published, MANIFEST lines. */
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
static int sized(const char *path, uint64_t size)
{
    uint64_t have;
    return fio_file_size(path, &have) == 0 && have == size;
}

/* The parity of this MANIFEST was made for this group and code (a restart
 * with other rs_data, rs_parity or nodes reads it as no parity). */
static int same_layout(const rs_group_t *g, const manifest_t *m)
{
    return m->rs_k == g->k && m->rs_m == g->m && m->rs_first == g->g0 &&
           m->rs_nodes == g->s;
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
        f = same_layout(g, m) ? manifest_find_parity(m, li) : NULL;
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

/* A parity file of another size than this layout makes (saved with other
 * rs_data, rs_parity or nodes) is no share of it. Every rank of a position
 * clears the bit it shares with its node's holder. */
static void check_layout(const rs_group_t *g, const manifest_t *m,
                         rs_state_t *st)
{
    for (int li = 0; m != NULL && li < g->width; li++) {
        const mf_entry_t *f = manifest_find_parity(m, li);
        uint64_t want = (uint64_t)g->m * rs_piece(g, rs_largest(g, st, li));
        if (f != NULL && f->size != want)
            OK(st, g, li, g->pos) &= ~(uint64_t)RS_PARITY_OK;
    }
}

int rs_probe(const rs_group_t *g, const cache_t *c, const manifest_t *m,
             rs_state_t *st, ckpt_err_t *e)
{
    if (m != NULL)
        probe_node(g, c, m, st);
    if (rs_reduce(g, st, MPI_MAX, 1, e) != CKPT_OK)
        return e->code;
    check_layout(g, m, st);
    return rs_reduce(g, st, MPI_BAND, 0, e);
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
    return rs_reduce(g, st, MPI_MAX, 1, e);
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
    size_t n = 2 * (size_t)g->nranks + (size_t)g->width * (size_t)g->s;
    memset(st->size, 0, n * sizeof *st->size); /* sizes, digests, bits */
    memset(st->psize, 0, (size_t)g->width * sizeof *st->psize);
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

/* This rank's entry as a coded line, gathered from every rank of the group.
 * Every failure is known to all ranks alike (counts are gathered first, a
 * buffer is agreed on), so no rank leaves a collective the others enter. */
static int gather_coded(const rs_group_t *g, const mf_entry_t *own, char **all,
                        int *counts, int *displs, ckpt_err_t *e)
{
    mf_entry_t x = *own;
    char *mine = NULL;
    size_t len = 0;
    int n = -1;
    int64_t total = 0;
    x.own = 0;
    x.kind = MF_CODED;
    if (manifest_format_entries(&x, 1, &mine, &len) == 0 && len < INT_MAX / 2)
        n = (int)len;
    if (MPI_Allgather(&n, 1, MPI_INT, counts, 1, MPI_INT, g->comm) != MPI_SUCCESS) {
        free(mine);
        return err_set(e, CKPT_EMPI, "MPI failed listing the RS group");
    }
    for (int i = 0; i < g->nranks; i++) {
        displs[i] = (int)(total < INT_MAX ? total : 0);
        total += counts[i] >= 0 ? counts[i] : (int64_t)INT_MAX;
    }
    *all = total < INT_MAX ? malloc((size_t)total + 1) : NULL;
    if (!rs_all(g, *all != NULL)) {
        free(mine);
        return err_set(e, CKPT_ENOMEM, "a rank of the RS group could not "
                       "list the group's files");
    }
    if (MPI_Allgatherv(mine, n, MPI_CHAR, *all, counts, displs, MPI_CHAR,
                       g->comm) != MPI_SUCCESS)
        err_set(e, CKPT_EMPI, "MPI failed listing the RS group");
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
    if (!rs_all(g, counts != NULL)) {
        free(counts);
        return err_set(e, CKPT_ENOMEM, "out of memory listing the RS group");
    }
    memcpy(rank, g->t->members + g->base, (size_t)g->nranks * sizeof *rank);
    qsort(rank, (size_t)g->nranks, sizeof *rank, cmp_int);
    gather_coded(g, own, &all, counts, displs, e);
    if (e->code == CKPT_OK && (f = open_memstream(text, len)) == NULL)
        err_set(e, CKPT_ENOMEM, "out of memory listing the RS group");
    if (f && leader)
        fprintf(f, "layout rs %d %d %d %d\n", g->k, g->m, g->g0, g->s);
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
