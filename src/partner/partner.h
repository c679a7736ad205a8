/* Small exchanges along the partner relation: a rank tells each of its
 * clients (the ranks whose copy it keeps) one value, or tells its partner. */
#ifndef CKPT_PARTNER_H
#define CKPT_PARTNER_H

#include <mpi.h>
#include "topology.h"

/* Sends to_client[k] to clients[k]; *from_partner gets the partner's value
 * for this rank (or `none` without a partner). Returns MPI_SUCCESS or not. */
int partner_tell_clients(const topo_t *t, MPI_Comm comm, const int *to_client,
                         int *from_partner, int none);
/* Sends v to the partner; from_client[k] gets clients[k]'s value. */
int partner_tell_partner(const topo_t *t, MPI_Comm comm, int v,
                         int *from_client);

#endif
