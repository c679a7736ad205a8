/* Which ranks form a node, and which rank keeps whose partner copy. */
#ifndef CKPT_TOPOLOGY_H
#define CKPT_TOPOLOGY_H

#include <mpi.h>
#include "error.h"

typedef struct topo {
    int nranks, rank;
    int nnodes, node;  /* this rank's node */
    int *node_of;      /* [nranks] node of each rank */
    int *first;        /* [nnodes+1] ranks of node n: members[first[n] .. first[n+1]) */
    int *members;      /* [nranks] world ranks grouped by node, ascending inside */
    int distance;      /* partner distance in nodes; 0 without partners */
    int partner;       /* rank holding this rank's copy; -1 without one */
    int nclients;      /* ranks whose copy this rank holds */
    int *clients;
    MPI_Comm node_comm; /* the ranks of this node, ordered by world rank */
} topo_t;

/* Collective. ranks_per_node > 0 emulates nodes of that many consecutive
 * ranks; 0 detects shared-memory nodes. With partnered == 0, or one node,
 * nobody has a partner. */
int topo_build(topo_t *t, MPI_Comm comm, int ranks_per_node, int distance,
               int partnered, ckpt_err_t *e);
void topo_free(topo_t *t);

/* The rank holding r's copy, or -1. */
int topo_partner_of(const topo_t *t, int r);
/* Number of ranks whose copy rank r holds. */
int topo_fan_in(const topo_t *t, int r);
int topo_node_size(const topo_t *t, int n);
int topo_is_leader(const topo_t *t); /* lowest rank of its node */

#endif
