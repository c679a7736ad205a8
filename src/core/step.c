#include "step.h"
#include "fileio.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int step_prepare(ckpt_t *ck, int64_t step, ckpt_err_t *e)
{
    char dir[PATH_MAX];
    if (!topo_is_leader(&ck->topo))
        return CKPT_OK;
    cache_step_dir(&ck->cache, step, dir, sizeof dir);
    if (cache_discard_from(&ck->cache, step, &ck->log, e) != CKPT_OK)
        return e->code;
    return fio_mkdirs(dir, e);
}

/* The node leader gets every rank's lines, in node order, as one text;
 * *text stays NULL there if some rank could not give its lines. */
static int gather_lines(MPI_Comm nc, const char *mine, int len, char **text,
                        size_t *total, ckpt_err_t *e)
{
    int size, rank, *counts = NULL, *displs = NULL, sum = 0, ok = 1;
    MPI_Comm_size(nc, &size);
    MPI_Comm_rank(nc, &rank);
    if (rank == 0) {
        counts = malloc((size_t)size * sizeof *counts);
        displs = malloc((size_t)size * sizeof *displs);
    }
    MPI_Gather(&len, 1, MPI_INT, counts, 1, MPI_INT, 0, nc);
    for (int k = 0; rank == 0 && counts && displs && k < size; k++) {
        ok &= counts[k] >= 0;
        displs[k] = sum;
        sum += counts[k] > 0 ? counts[k] : 0;
    }
    if (rank == 0 && (!counts || !displs || (*text = malloc((size_t)sum + 1)) == NULL))
        err_set(e, CKPT_ENOMEM, "out of memory writing MANIFEST");
    MPI_Gatherv(mine, len > 0 ? len : 0, MPI_CHAR, *text, counts, displs,
                MPI_CHAR, 0, nc);
    if (rank == 0 && !ok) {
        free(*text);
        *text = NULL;
        err_set(e, CKPT_ENOMEM, "a rank of node could not list its files");
    }
    *total = (size_t)sum;
    free(counts);
    free(displs);
    return e->code;
}

/* This rank's lines: its entries, then `more`. */
static int own_lines(const mf_entry_t *mine, int n, const char *more,
                     char **lines, size_t *len)
{
    FILE *f = open_memstream(lines, len);
    char *text = NULL;
    size_t tlen = 0;
    int rc = f == NULL || manifest_format_entries(mine, n, &text, &tlen) != 0;
    if (f == NULL)
        return -1;
    if (!rc)
        fwrite(text, 1, tlen, f);
    if (more)
        fputs(more, f);
    free(text);
    return fclose(f) != 0 || rc ? -1 : 0;
}

int step_commit_node(ckpt_t *ck, int64_t step, uint64_t generation,
                     const mf_entry_t *mine, int n, const char *more,
                     ckpt_err_t *e)
{
    char dir[PATH_MAX], *lines = NULL, *text = NULL;
    size_t len = 0, total = 0;
    manifest_t m = {.step = step, .generation = generation, .node = ck->topo.node,
                    .nnodes = ck->topo.nnodes, .nranks = ck->nranks};
    int mylen = -1;
    snprintf(m.job, sizeof m.job, "%s", ck->cfg.job);
    if (own_lines(mine, n, more, &lines, &len) == 0 && len < INT_MAX)
        mylen = (int)len;
    gather_lines(ck->topo.node_comm, lines, mylen, &text, &total, e);
    if (e->code == CKPT_OK && topo_is_leader(&ck->topo)) {
        cache_step_dir(&ck->cache, step, dir, sizeof dir);
        manifest_write_body(dir, &m, text, total, e);
    }
    if (mylen < 0)
        err_set(e, CKPT_ENOMEM, "out of memory listing files");
    free(lines);
    free(text);
    return e->code;
}

void step_discard(ckpt_t *ck, int64_t step)
{
    ckpt_err_t e = {0};
    if (topo_is_leader(&ck->topo) &&
        cache_discard_step(&ck->cache, step, &e) != CKPT_OK)
        log_msg(&ck->log, LOG_WARN, "%s", e.msg);
}
