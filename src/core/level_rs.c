/* The RS level as the core sees it (the code itself is in src/rs/): what
 * a restore probes of the group, the rank files rebuilt from its shares,
 * and the parity made again to refill. */
#include "level.h"
#include "fileio.h"
#include "step.h"

#include <stdlib.h>

static int rs_level_probe(ckpt_t *ck, probe_t *p, const manifest_t *m,
                          ckpt_err_t *e)
{
    if (rs_state_alloc(&ck->rs, &p->rs) != CKPT_OK)
        err_set(e, CKPT_ENOMEM, "out of memory probing step %lld",
                (long long)p->step);
    if (err_agree(ck->comm, e) != CKPT_OK ||
        rs_probe(&ck->rs, &ck->cache, m, &p->rs, e) != CKPT_OK)
        return e->code;
    p->level_has = rs_covered(&ck->rs, &p->rs, 0);
    return CKPT_OK;
}

static void rs_level_forget(ckpt_t *ck, probe_t *p)
{
    rs_forget(&ck->rs, &p->rs);
}

/* PARTNER when the step survives the loss of any one node */
static int rs_level_covered(ckpt_t *ck, const probe_t *p, int losses)
{
    return rs_covered(&ck->rs, &p->rs, losses);
}

static int rs_level_redundant(const ckpt_t *ck)
{
    return ck->rs.m > 0;
}

/* Collective: the node MANIFESTs list this rank's own
 * file if own_here, the parity files its node holds, and every other rank
 * of the group as coded entries (which need every rank's own_idx). */
static int relist_group(ckpt_t *ck, probe_t *p, int own_here, int changed,
                        const rf_index_t *own_idx, ckpt_err_t *e)
{
    mf_entry_t own = p->own;
    char *more = NULL;
    size_t len = 0;
    int any = 0;
    own.idx = own_idx;
    rs_lines(&ck->rs, &p->rs, &own, topo_is_leader(&ck->topo), &more, &len, e);
    MPI_Allreduce(&changed, &any, 1, MPI_INT, MPI_LOR, ck->comm);
    if (any)
        step_commit_node(ck, p->step, p->gen, &own, own_here, more, e);
    free(more);
    return e->code;
}

/* Collective: ranks with `need` get their file rebuilt
 * from the group's shares, while the others copy their own file (own, if
 * not NULL). Too many shares lost counts as a bad copy. */
static void rebuild_from_group(ckpt_t *ck, probe_t *p, int need, regcopy_t *own,
                               ckpt_err_t *e)
{
    int x = rs_index(&ck->rs, ck->rank);
    if (rs_rebuild_files(&ck->rs, ck->comm, &ck->cache, p->step, &p->rs, need,
                         own ? regcopy_step : NULL, own, e) == CKPT_ENOENT)
        e->code = CKPT_ECORRUPT;
    if (need && e->code == CKPT_OK)
        p->own = (mf_entry_t){.rank = ck->rank, .own = 1,
                              .size = p->rs.size[x], .digest = p->rs.digest[x]};
}

/* Collective: every parity share the group lacks is made
 * again from the rank files (all there now). 1 if this rank made one. */
static int refill_parity(ckpt_t *ck, probe_t *p, ckpt_err_t *e)
{
    char path[PATH_MAX];
    int made = 0;
    cache_rank_path(&ck->cache, p->step, ck->rank, 0, path, sizeof path);
    if (rs_make_parity(&ck->rs, ck->comm, &ck->cache, p->step, &p->rs, path, e) ==
        CKPT_OK)
        for (int li = 0; li < ck->rs.width; li++)
            made |= p->rs.made[li];
    if (err_agree(ck->comm, e) == CKPT_OK)
        rs_publish(&ck->rs, &ck->cache, p->step, &p->rs, e);
    return made;
}

/* The parity shares of this rank's group, made from the files just
 * written (still in the page cache) while the disk writes them; then the
 * own file is fsync'd. */
static int rs_level_apply(ckpt_t *ck, save_t *s, ckpt_err_t *e)
{
    if (rs_state_alloc(&ck->rs, &s->rs) != CKPT_OK)
        err_set(e, CKPT_ENOMEM, "out of memory for RS parity");
    if (err_agree(ck->comm, e) != CKPT_OK ||
        rs_start(&ck->rs, s->plan.size, s->out.digest, &s->rs, e) != CKPT_OK)
        return e->code;
    rs_make_parity(&ck->rs, ck->comm, &ck->cache, s->step, &s->rs, s->tmp, e);
    if (e->code == CKPT_OK)
        fio_fsync_path(s->tmp, e);
    return e->code;
}

static int rs_level_publish(ckpt_t *ck, save_t *s, ckpt_err_t *e)
{
    return rs_publish(&ck->rs, &ck->cache, s->step, &s->rs, e);
}

static int rs_level_lines(ckpt_t *ck, save_t *s, const mf_entry_t *own,
                          char **more, size_t *len, ckpt_err_t *e)
{
    return rs_lines(&ck->rs, &s->rs, own, topo_is_leader(&ck->topo), more, len, e);
}

static int rs_level_fetch(ckpt_t *ck, probe_t *p, int need, int to_file,
                          regcopy_t *own, int *in_file, ckpt_err_t *e)
{
    (void)to_file;
    *in_file = 1; /* a rebuild always makes the file */
    rebuild_from_group(ck, p, need, own, e);
    return e->code;
}

/* Parity is made from the own files: where this rank's group lost some,
 * a damaged own file must not be encoded. */
static int rs_level_check_own_first(ckpt_t *ck, const probe_t *p)
{
    return rs_lost(&ck->rs, &p->rs, ck->rs.li) > 0;
}

/* After files came from storage (stored), the caches hold a save whose
 * sizes this probe does not know: parity waits for the next pass. */
static int rs_level_refill(ckpt_t *ck, probe_t *p, int changed, int stored,
                           const rf_index_t *own_idx, ckpt_err_t *e)
{
    if (!stored)
        changed |= refill_parity(ck, p, e);
    if (err_agree(ck->comm, e) == CKPT_OK)
        relist_group(ck, p, 1, changed, own_idx, e);
    return e->code;
}

const level_ops_t level_rs = {
    .what = "RS parity",
    .always_refill = 1,
    .sync_after_apply = 1,
    .apply = rs_level_apply,
    .publish = rs_level_publish,
    .lines = rs_level_lines,
    .probe = rs_level_probe,
    .forget = rs_level_forget,
    .covered = rs_level_covered,
    .redundant = rs_level_redundant,
    .fetch = rs_level_fetch,
    .relist = relist_group,
    .check_own_first = rs_level_check_own_first,
    .refill = rs_level_refill,
};
