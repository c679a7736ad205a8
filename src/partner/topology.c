#include "topology.h"
#include "ckpt.h"

#include <stdlib.h>
#include <string.h>

int topo_node_size(const topo_t *t, int n)
{
    return t->first[n + 1] - t->first[n];
}

int topo_is_leader(const topo_t *t)
{
    return t->members[t->first[t->node]] == t->rank;
}

static int local_index(const topo_t *t, int r)
{
    int n = t->node_of[r];
    for (int i = t->first[n]; i < t->first[n + 1]; i++)
        if (t->members[i] == r)
            return i - t->first[n];
    return -1;
}

int topo_partner_of(const topo_t *t, int r)
{
    int pn;
    if (t->nnodes < 2 || t->distance <= 0)
        return -1;
    pn = (t->node_of[r] + t->distance) % t->nnodes;
    return t->members[t->first[pn] + local_index(t, r) % topo_node_size(t, pn)];
}

int topo_fan_in(const topo_t *t, int r)
{
    int count = 0;
    for (int q = 0; q < t->nranks; q++)
        if (topo_partner_of(t, q) == r)
            count++;
    return count;
}

/* node_of[] for detected nodes: nodes are numbered by their lowest rank. */
static int detect_nodes(topo_t *t, MPI_Comm comm, ckpt_err_t *e)
{
    MPI_Comm shm;
    int leader, *leaders = malloc((size_t)t->nranks * sizeof *leaders);
    if (leaders == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory in topology");
    if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, t->rank, MPI_INFO_NULL,
                            &shm) != MPI_SUCCESS) {
        free(leaders);
        return err_set(e, CKPT_EMPI, "MPI_Comm_split_type failed");
    }
    MPI_Allreduce(&t->rank, &leader, 1, MPI_INT, MPI_MIN, shm);
    MPI_Comm_free(&shm);
    MPI_Allgather(&leader, 1, MPI_INT, leaders, 1, MPI_INT, comm);
    /* A rank that leads its node opens a new node number, in rank order. */
    t->nnodes = 0;
    for (int r = 0; r < t->nranks; r++)
        if (leaders[r] == r)
            leaders[r] = -(++t->nnodes); /* mark: node number -(n+1) */
    for (int r = 0; r < t->nranks; r++)
        t->node_of[r] = leaders[r] < 0 ? -leaders[r] - 1
                                       : -leaders[leaders[r]] - 1;
    free(leaders);
    return CKPT_OK;
}

static void group_members(topo_t *t)
{
    int *fill = calloc((size_t)t->nnodes, sizeof *fill);
    for (int r = 0; r < t->nranks; r++)
        t->first[t->node_of[r] + 1]++;
    for (int n = 0; n < t->nnodes; n++)
        t->first[n + 1] += t->first[n];
    for (int r = 0; r < t->nranks; r++) {
        int n = t->node_of[r];
        t->members[t->first[n] + fill[n]++] = r;
    }
    free(fill);
}

static int find_clients(topo_t *t)
{
    t->nclients = 0;
    t->clients = malloc((size_t)t->nranks * sizeof *t->clients);
    if (t->clients == NULL)
        return CKPT_ENOMEM;
    for (int q = 0; q < t->nranks; q++)
        if (topo_partner_of(t, q) == t->rank)
            t->clients[t->nclients++] = q;
    return CKPT_OK;
}

int topo_build(topo_t *t, MPI_Comm comm, int ranks_per_node, int distance,
               int partnered, ckpt_err_t *e)
{
    memset(t, 0, sizeof *t);
    t->node_comm = MPI_COMM_NULL;
    MPI_Comm_rank(comm, &t->rank);
    MPI_Comm_size(comm, &t->nranks);
    t->node_of = malloc((size_t)t->nranks * sizeof *t->node_of);
    t->members = malloc((size_t)t->nranks * sizeof *t->members);
    if (t->node_of == NULL || t->members == NULL)
        goto nomem;
    if (ranks_per_node > 0) {
        t->nnodes = (t->nranks + ranks_per_node - 1) / ranks_per_node;
        for (int r = 0; r < t->nranks; r++)
            t->node_of[r] = r / ranks_per_node;
    } else if (detect_nodes(t, comm, e) != CKPT_OK) {
        goto fail;
    }
    t->node = t->node_of[t->rank];
    t->first = calloc((size_t)t->nnodes + 1, sizeof *t->first);
    if (t->first == NULL)
        goto nomem;
    group_members(t);
    if (partnered && t->nnodes > 1 && distance % t->nnodes == 0) {
        err_set(e, CKPT_ECONFIG,
                "partner_distance = %d maps each of the %d nodes onto itself",
                distance, t->nnodes);
        goto fail;
    }
    t->distance = partnered ? distance : 0;
    t->partner = topo_partner_of(t, t->rank);
    if (find_clients(t) != CKPT_OK)
        goto nomem;
    if (MPI_Comm_split(comm, t->node, t->rank, &t->node_comm) != MPI_SUCCESS) {
        err_set(e, CKPT_EMPI, "MPI_Comm_split by node failed");
        goto fail;
    }
    return CKPT_OK;
nomem:
    err_set(e, CKPT_ENOMEM, "out of memory in topology");
fail:
    topo_free(t);
    return e->code;
}

void topo_free(topo_t *t)
{
    if (t->node_comm != MPI_COMM_NULL)
        MPI_Comm_free(&t->node_comm);
    free(t->node_of);
    free(t->first);
    free(t->members);
    free(t->clients);
    memset(t, 0, sizeof *t);
    t->node_comm = MPI_COMM_NULL;
    t->partner = -1;
}
