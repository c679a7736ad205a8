#include "partner.h"

#include <stdlib.h>

enum { TAG_TO_CLIENT = 7311, TAG_TO_PARTNER = 7312 };

static int exchange(MPI_Comm comm, int nsend, const int *sendv,
                    const int *sendto, int nrecv, int *recvv,
                    const int *recvfrom, int tag)
{
    MPI_Request *req = malloc((size_t)(nsend + nrecv + 1) * sizeof *req);
    int rc, n = 0;
    if (req == NULL)
        return MPI_ERR_NO_MEM;
    for (int k = 0; k < nrecv; k++)
        MPI_Irecv(&recvv[k], 1, MPI_INT, recvfrom[k], tag, comm, &req[n++]);
    for (int k = 0; k < nsend; k++)
        MPI_Isend(&sendv[k], 1, MPI_INT, sendto[k], tag, comm, &req[n++]);
    rc = MPI_Waitall(n, req, MPI_STATUSES_IGNORE);
    free(req);
    return rc;
}

int partner_tell_clients(const topo_t *t, MPI_Comm comm, const int *to_client,
                         int *from_partner, int none)
{
    *from_partner = none;
    return exchange(comm, t->nclients, to_client, t->clients,
                    t->partner >= 0, from_partner, &t->partner, TAG_TO_CLIENT);
}

int partner_tell_partner(const topo_t *t, MPI_Comm comm, int v,
                         int *from_client)
{
    return exchange(comm, t->partner >= 0, &v, &t->partner, t->nclients,
                    from_client, t->clients, TAG_TO_PARTNER);
}
