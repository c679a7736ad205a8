/* What the STORAGE level gives back: a committed step's manifest, and one
 * rank's bytes of its node object, checked. The only code outside the
 * writeback policy that touches the storage handle. */
#include "writeback.h"
#include "fileio.h"
#include "smanifest.h"
#include "ckpt.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Collective: rank 0's text (or failure) on every rank. */
static int bcast_text(wb_t *w, char **text, size_t *len, ckpt_err_t *e)
{
    uint64_t n = *len;
    if (err_agree(w->env.comm, e) != CKPT_OK)
        return e->code;
    MPI_Bcast(&n, 1, MPI_UINT64_T, 0, w->env.comm);
    if (w->env.rank != 0 && (*text = malloc(n + 1)) == NULL)
        err_set(e, CKPT_ENOMEM, "out of memory reading a manifest");
    if (err_agree(w->env.comm, e) != CKPT_OK)
        return e->code;
    MPI_Bcast(*text, (int)n, MPI_CHAR, 0, w->env.comm);
    (*text)[n] = '\0';
    *len = n;
    return CKPT_OK;
}

int wb_read_manifest(wb_t *w, int64_t step, int nranks, smanifest_t *sm,
                     ckpt_err_t *why)
{
    char name[SM_NAME_MAX], *text = NULL;
    size_t len = 0;
    if (w->env.rank == 0) {
        sm_manifest_name(w->env.cfg->job, step, name, sizeof name);
        storage_get(w->st, name, &text, &len, why);
    }
    if (bcast_text(w, &text, &len, why) == CKPT_OK &&
        sm_parse(text, len, sm, why) == CKPT_OK &&
        (strcmp(sm->job, w->env.cfg->job) || sm->step != step ||
         (nranks > 0 && sm->nranks != nranks)))
        err_set(why, CKPT_ECORRUPT, "its manifest is of job '%s' step %" PRId64
                " of %d ranks", sm->job, sm->step, sm->nranks);
    free(text);
    if (err_agree(w->env.comm, why) != CKPT_OK)
        sm_free(sm);
    return why->code;
}

int wb_fetch_rank(wb_t *w, const smanifest_t *m, int rank, int fd,
                  const char *path, uint64_t *digest, ckpt_err_t *e)
{
    const sm_range_t *r = &m->r[rank];
    if (storage_get_range(w->st, m->obj[r->node].name, r->off, r->size, fd,
                          e) == CKPT_OK &&
        fio_digest(fd, r->size, digest, path, e) == CKPT_OK && *digest != r->digest)
        err_set(e, CKPT_ECORRUPT, "rank %d: data read from storage object '%s' "
                "fails its checksum", rank, m->obj[r->node].name);
    return e->code;
}
