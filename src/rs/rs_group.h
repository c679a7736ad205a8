/* The geometry of the RS level: which nodes form a group, which rank of
 * each node contributes to or holds the parity of which set, and where each
 * stripe's shares live.
 *
 * Nodes form groups of k + m consecutive nodes; the nodes left over (fewer
 * than k + m) join the last group, which then has k + r data shares per
 * stripe and the same m parity shares, so no node is less protected and
 * none pays more disk. Fewer nodes than k + m in all make one group of n
 * nodes with m' = min(m, n - 1) and k' = n - m' (two nodes mirror each
 * other; one node has no parity).
 *
 * A set is the ranks of one local index (li) on the nodes of a group: node
 * position q contributes rank li of its node (none if it has fewer ranks);
 * the rank of local index li mod size holds position q's parity of set li.
 * Each set has s stripes (s = nodes in the group); in stripe j positions
 * j .. j+m-1 (mod s) hold parity rows 0 .. m-1 and the other k positions
 * contribute data pieces 0 .. k-1, in that order. A member's file is cut
 * into k pieces of P bytes (zero-padded), piece t going to the stripe where
 * it contributes at data slot t; so each node keeps its own data and m
 * parity pieces: 1 + m/k times its data, and any m lost nodes leave at most
 * m shares missing in every stripe. */
#ifndef CKPT_RS_GROUP_H
#define CKPT_RS_GROUP_H

#include <mpi.h>
#include <stdint.h>
#include "error.h"
#include "rs_code.h"
#include "topology.h"

typedef struct rs_group {
    const topo_t *t;
    int k, m;       /* of this group; m == 0: a lone node, no parity */
    int g0, s;      /* first node and node count of this rank's group */
    int base;       /* index in t->members of the group's first rank */
    int nranks;     /* ranks in the group */
    int width;      /* ranks of the group's largest node: sets 0 .. width-1 */
    int pos, li;    /* this rank's node position and local index */
    MPI_Comm comm;  /* the group's ranks */
    rs_code_t code;
} rs_group_t;

/* Collective over comm. */
int rs_group_build(rs_group_t *g, const topo_t *t, int k, int m, MPI_Comm comm,
                   ckpt_err_t *e);
void rs_group_free(rs_group_t *g);

/* Rank contributing set li at position q, or -1 (a smaller node). */
int rs_member(const rs_group_t *g, int li, int q);
/* Rank holding position q's parity of set li. */
int rs_holder(const rs_group_t *g, int li, int q);
/* Index of a rank of the group in [0, nranks). */
int rs_index(const rs_group_t *g, int rank);
/* Role of position q in stripe j: parity row i >= 0, or -1 - t for data
 * piece t. */
int rs_role(const rs_group_t *g, int j, int q);
/* Position holding parity row i / data piece t of stripe j. */
int rs_holder_pos(const rs_group_t *g, int j, int i);
int rs_data_pos(const rs_group_t *g, int j, int t);
/* Stripe where position q holds parity row i / contributes data piece t. */
int rs_row_stripe(const rs_group_t *g, int q, int i);
int rs_piece_stripe(const rs_group_t *g, int q, int t);
/* Where stripe j's parity lies in position q's parity file, in pieces. */
int rs_slot(const rs_group_t *g, int q, int j);
/* Piece size of a set whose largest file has `largest` bytes. */
uint64_t rs_piece(const rs_group_t *g, uint64_t largest);

#endif
