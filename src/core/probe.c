/* What restore.c and the cache levels share about a probed step. */
#include "probe.h"
#include "fileio.h"

#include <inttypes.h>
#include <stdio.h>

int ck_all(ckpt_t *ck, int v)
{
    int r = 0;
    MPI_Allreduce(&v, &r, 1, MPI_INT, MPI_LAND, ck->comm);
    return r;
}

int listed_and_sized(const ckpt_t *ck, const manifest_t *m, int rank,
                     mf_entry_t *out)
{
    char path[PATH_MAX];
    uint64_t size;
    const mf_entry_t *x = manifest_find(m, rank);
    if (x == NULL)
        return 0;
    cache_rank_path(&ck->cache, m->step, rank, 0, path, sizeof path);
    *out = *x;
    return fio_file_size(path, &size) == 0 && size == x->size;
}

int check_regions(ckpt_t *ck, const rf_index_t *idx, int64_t step,
                  ckpt_err_t *e)
{
    for (int i = 0; i < ck->stored.n; i++) {
        const region_t *r = &ck->stored.v[i];
        const rf_dataset_t *d = rankfile_find(idx, r->name);
        if (d == NULL)
            return err_set(e, CKPT_EMISMATCH, "rank %d: region '%s' (%" PRIu64
                           " bytes) is protected but not in step %" PRId64,
                           ck->rank, r->name, region_bytes(r), step);
        if (d->count != r->count || d->type != (int)r->type)
            return err_set(e, CKPT_EMISMATCH, "rank %d: region '%s' was saved "
                           "as %" PRIu64 " x %s (%" PRIu64 " bytes) but is "
                           "protected as %zu x %s (%" PRIu64 " bytes)",
                           ck->rank, r->name, d->count, type_name(d->type),
                           d->count * type_size(d->type), r->count,
                           type_name(r->type), region_bytes(r));
        if (d->kind != r->kind || d->goff != r->goff || d->gcount != r->gcount)
            return err_set(e, CKPT_EMISMATCH, "rank %d: region '%s' was saved "
                           "as %s [%" PRIu64 ", +%" PRIu64 ") of %" PRIu64
                           " but is protected as %s [%" PRIu64 ", +%zu) of %"
                           PRIu64, ck->rank, r->name, region_kind_name(d->kind),
                           d->goff, d->count, d->gcount,
                           region_kind_name(r->kind), r->goff, r->count,
                           r->gcount);
    }
    for (int i = 0; i < idx->n; i++)
        if (region_find(&ck->stored, idx->d[i].name) == NULL)
            return err_set(e, CKPT_EMISMATCH, "rank %d: region '%s' (%" PRIu64
                           " bytes) was saved in step %" PRId64
                           " but is not protected", ck->rank, idx->d[i].name,
                           idx->d[i].count * type_size(idx->d[i].type), step);
    return CKPT_OK;
}
