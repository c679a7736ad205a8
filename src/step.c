#include "step.h"
#include "fileio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int step_prepare(ckpt_t *ck, int64_t step, ckpt_err_t *e)
{
    char dir[PATH_MAX];
    if (!topo_is_leader(&ck->topo))
        return CKPT_OK;
    cache_step_dir(&ck->cache, step, dir, sizeof dir);
    if (cache_discard_step(&ck->cache, step, e) != CKPT_OK)
        return e->code;
    return fio_mkdirs(dir, e);
}

static int gather_entries(ckpt_t *ck, const mf_entry_t *mine, int n,
                          manifest_t *m, ckpt_err_t *e)
{
    MPI_Comm nc = ck->topo.node_comm;
    int size, rank, *counts = NULL, *displs = NULL, total = 0, bytes = n * (int)sizeof *mine;
    MPI_Comm_size(nc, &size);
    MPI_Comm_rank(nc, &rank);
    if (rank == 0) {
        counts = malloc((size_t)size * sizeof *counts);
        displs = malloc((size_t)size * sizeof *displs);
    }
    MPI_Gather(&bytes, 1, MPI_INT, counts, 1, MPI_INT, 0, nc);
    if (rank == 0) {
        for (int k = 0; k < size; k++) {
            displs[k] = total;
            total += counts[k];
        }
        m->e = malloc((size_t)total + 1);
        m->n = total / (int)sizeof *mine;
    }
    MPI_Gatherv(mine, bytes, MPI_BYTE, m->e, counts, displs, MPI_BYTE, 0, nc);
    free(counts);
    free(displs);
    return rank == 0 && m->e == NULL
               ? err_set(e, CKPT_ENOMEM, "out of memory writing MANIFEST")
               : CKPT_OK;
}

int step_commit_node(ckpt_t *ck, int64_t step, const mf_entry_t *mine, int n,
                     ckpt_err_t *e)
{
    char dir[PATH_MAX];
    manifest_t m = {.step = step, .node = ck->topo.node,
                    .nnodes = ck->topo.nnodes, .nranks = ck->nranks};
    snprintf(m.job, sizeof m.job, "%s", ck->cfg.job);
    if (gather_entries(ck, mine, n, &m, e) == CKPT_OK && topo_is_leader(&ck->topo)) {
        cache_step_dir(&ck->cache, step, dir, sizeof dir);
        manifest_write(dir, &m, e);
    }
    manifest_free(&m);
    return e->code;
}

void step_discard(ckpt_t *ck, int64_t step)
{
    ckpt_err_t e = {0};
    if (topo_is_leader(&ck->topo) &&
        cache_discard_step(&ck->cache, step, &e) != CKPT_OK)
        log_msg(&ck->log, LOG_WARN, "%s", e.msg);
}
