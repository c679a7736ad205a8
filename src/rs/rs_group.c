#include "rs_group.h"
#include "ckpt.h"

#include <string.h>

static int mod(int a, int s)
{
    return (a % s + s) % s;
}

/* This node's group: its first node, size and shape (see rs_group.h). */
static void shape(rs_group_t *g, int k, int m)
{
    int n = g->t->nnodes, full = k + m, gi;
    if (n < full) {
        g->g0 = 0;
        g->s = n;
        g->m = m < n - 1 ? m : n - 1;
        g->k = n - g->m;
        return;
    }
    gi = g->t->node / full;
    if (gi >= n / full)
        gi = n / full - 1; /* the nodes left over join the last group */
    g->g0 = gi * full;
    g->s = gi == n / full - 1 ? n - g->g0 : full;
    g->m = m;
    g->k = g->s - m;
}

int rs_group_build(rs_group_t *g, const topo_t *t, int k, int m, MPI_Comm comm,
                   ckpt_err_t *e)
{
    memset(g, 0, sizeof *g);
    g->comm = MPI_COMM_NULL;
    g->t = t;
    shape(g, k, m);
    g->pos = t->node - g->g0;
    g->base = t->first[g->g0];
    g->nranks = t->first[g->g0 + g->s] - g->base;
    for (int q = 0; q < g->s; q++)
        if (topo_node_size(t, g->g0 + q) > g->width)
            g->width = topo_node_size(t, g->g0 + q);
    for (int i = t->first[t->node]; i < t->first[t->node + 1]; i++)
        if (t->members[i] == t->rank)
            g->li = i - t->first[t->node];
    /* collective first: a rank that fails below must not skip it */
    if (MPI_Comm_split(comm, g->g0, t->rank, &g->comm) != MPI_SUCCESS) {
        g->comm = MPI_COMM_NULL;
        return err_set(e, CKPT_EMPI, "MPI_Comm_split by RS group failed");
    }
    if (g->m > 0)
        rs_init(&g->code, g->k, g->m, e);
    return e->code;
}

void rs_group_free(rs_group_t *g)
{
    if (g->t == NULL) /* never built */
        return;
    if (g->comm != MPI_COMM_NULL)
        MPI_Comm_free(&g->comm);
    rs_free(&g->code);
    memset(g, 0, sizeof *g);
}

int rs_member(const rs_group_t *g, int li, int q)
{
    int n = g->g0 + q;
    return li < topo_node_size(g->t, n) ? g->t->members[g->t->first[n] + li]
                                        : -1;
}

int rs_holder(const rs_group_t *g, int li, int q)
{
    int n = g->g0 + q;
    return g->t->members[g->t->first[n] + li % topo_node_size(g->t, n)];
}

int rs_index(const rs_group_t *g, int rank)
{
    int n = g->t->node_of[rank];
    for (int i = g->t->first[n]; i < g->t->first[n + 1]; i++)
        if (g->t->members[i] == rank)
            return i - g->base;
    return -1;
}

int rs_role(const rs_group_t *g, int j, int q)
{
    int d = mod(q - j, g->s);
    return d < g->m ? d : -1 - (d - g->m);
}

int rs_holder_pos(const rs_group_t *g, int j, int i)
{
    return (j + i) % g->s;
}

int rs_data_pos(const rs_group_t *g, int j, int t)
{
    return (j + g->m + t) % g->s;
}

int rs_row_stripe(const rs_group_t *g, int q, int i)
{
    return mod(q - i, g->s);
}

int rs_piece_stripe(const rs_group_t *g, int q, int t)
{
    return mod(q - g->m - t, g->s);
}

int rs_slot(const rs_group_t *g, int q, int j)
{
    int slot = 0;
    for (int i = 0; i < g->m; i++)
        slot += rs_row_stripe(g, q, i) < j;
    return slot;
}

uint64_t rs_piece(const rs_group_t *g, uint64_t largest)
{
    uint64_t p = (largest + (uint64_t)g->k - 1) / (uint64_t)g->k;
    return (p + 63) & ~(uint64_t)63;
}
