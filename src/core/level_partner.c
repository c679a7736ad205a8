/* The partner level: every rank's file has a copy on its partner's node,
 * streamed at save time (save.c's stream_step). Here: what a restore
 * probes of it, the copies sent back to ranks that lost theirs (into a
 * file, or straight into the buffers), and the copies sent again to
 * refill. redundancy = single is this level with no partner. */
#include "level.h"
#include "fileio.h"
#include "manifest.h"
#include "partner.h"
#include "plan.h"
#include "step.h"
#include "move.h"
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Collective: which clients' copies this node holds, and whether the
 * partner holds this rank's. */
static int partner_probe(ckpt_t *ck, probe_t *p, const manifest_t *m,
                         ckpt_err_t *e)
{
    const topo_t *t = &ck->topo;
    p->nclients = t->nclients;
    p->copy_ok = calloc((size_t)t->nclients + 1, sizeof *p->copy_ok);
    p->copy = calloc((size_t)t->nclients + 1, sizeof *p->copy);
    p->copy_idx = calloc((size_t)t->nclients + 1, sizeof *p->copy_idx);
    if (p->copy_ok == NULL || p->copy == NULL || p->copy_idx == NULL)
        err_set(e, CKPT_ENOMEM, "out of memory probing step %" PRId64, p->step);
    if (err_agree(ck->comm, e) != CKPT_OK)
        return e->code;
    for (int k = 0; m && k < t->nclients; k++)
        p->copy_ok[k] = listed_and_sized(ck, m, t->clients[k], &p->copy[k]) &&
                        manifest_index(m, &p->copy[k], &p->copy_idx[k]) == 0;
    if (partner_tell_clients(t, ck->comm, p->copy_ok, &p->level_has, 0))
        return err_set(e, CKPT_EMPI, "MPI failed asking partners");
    return CKPT_OK;
}

static void partner_forget(ckpt_t *ck, probe_t *p)
{
    (void)ck;
    memset(p->copy_ok, 0, (size_t)p->nclients * sizeof *p->copy_ok);
}

static int partner_covered(ckpt_t *ck, const probe_t *p, int losses)
{
    (void)ck;
    return losses == 0 ? p->have_local || p->level_has
                       : losses == 1 && p->have_local && p->level_has;
}

static int partner_redundant(const ckpt_t *ck)
{
    return ck->topo.partner >= 0;
}

/* Which clients need their copy sent (each tells its partner `need`):
 * their files into send[]; the count, or -1. */
static int clients_in_need(ckpt_t *ck, probe_t *p, int need, move_t *send,
                           ckpt_err_t *e)
{
    const topo_t *t = &ck->topo;
    int *needs = calloc((size_t)t->nclients + 1, sizeof *needs), ns = 0;
    if (needs == NULL)
        err_set(e, CKPT_ENOMEM, "out of memory asking the partner");
    /* agreed before any exchange (the caller's allocations too): a rank
     * that gave up must not leave its partner waiting */
    if (err_agree(ck->comm, e) == CKPT_OK &&
        partner_tell_partner(t, ck->comm, need, needs))
        err_set(e, CKPT_EMPI, "MPI failed asking the partner");
    for (int k = 0; e->code == CKPT_OK && k < t->nclients; k++)
        if (needs[k]) {
            send[ns] = (move_t){.peer = t->clients[k], .rank = t->clients[k],
                                .x = p->copy[k]};
            send[ns++].x.idx = &p->copy_idx[k];
        }
    free(needs);
    return e->code == CKPT_OK ? ns : -1;
}

/* The partner sends this rank its copy, as a file, where its own is gone. */
static int fetch_from_partner(ckpt_t *ck, probe_t *p, int need, ckpt_err_t *e)
{
    const topo_t *t = &ck->topo;
    move_t *send = calloc((size_t)t->nclients + 1, sizeof *send);
    move_t mine = {.peer = t->partner, .rank = ck->rank};
    int ns;
    if (send == NULL)
        err_set(e, CKPT_ENOMEM, "out of memory fetching from partner");
    if ((ns = clients_in_need(ck, p, need, send, e)) >= 0 &&
        move_files(ck, p->step, send, ns, &mine, need, e) == CKPT_OK && need) {
        p->own = mine.x;
        p->own.own = 1;
        log_msg(&ck->log, LOG_INFO, "step %" PRId64 ": fetched own data from "
                "partner rank %d", p->step, t->partner);
    }
    rankfile_index_free(&mine.idx); /* the file's own attributes decide */
    free(send);
    return e->code;
}

typedef struct placing {
    ckpt_t *ck;
    int64_t step;
} placing_t;

/* Where a copy streamed for a restore lands: each DATA segment in the
 * buffer of the region its dataset is protected as. The datasets must be
 * the protected regions, and the segments exactly their bytes, in order. */
static int place_regions(void *ctx, const rf_index_t *idx, const plan_t *pl,
                         unsigned char **dst, ckpt_err_t *e)
{
    placing_t *pc = ctx;
    region_set_t *rs = &pc->ck->stored;
    char *used = calloc((size_t)rs->n + 1, 1);
    uint64_t end = 0;
    int ndata = 0, nonempty = 0, ok = used != NULL;
    if (used == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory placing a copy");
    if (check_regions(pc->ck, idx, pc->step, e) != CKPT_OK)
        goto out;
    for (int i = 0; i < rs->n; i++)
        nonempty += region_bytes(&rs->v[i]) > 0;
    /* Segments in file order, apart; each DATA one exactly the bytes of a
     * protected region not placed yet: no region written twice or past
     * its end, none left out. */
    for (int i = 0; ok && i < pl->nseg; i++) {
        const seg_t *s = &pl->seg[i];
        const rf_dataset_t *d = NULL;
        region_t *r;
        ok = s->off >= end && s->off <= pl->size && s->len <= pl->size - s->off &&
             (s->kind == SEG_META || s->kind == SEG_DATA);
        end = s->off + s->len;
        if (!ok || s->kind == SEG_META)
            continue;
        for (int k = 0; k < idx->n && d == NULL; k++)
            if (idx->d[k].off == s->off)
                d = &idx->d[k];
        r = d ? region_find(rs, d->name) : NULL;
        ok = r != NULL && !used[r - rs->v] && region_bytes(r) == s->len;
        if (ok) {
            used[r - rs->v] = 1;
            dst[i] = r->buf;
            ndata++;
        }
    }
    if (!ok || ndata != nonempty || end != pl->size)
        err_set(e, CKPT_ECORRUPT, "the copy of rank %d's file does not match "
                "its index", pc->ck->rank);
out:
    free(used);
    return e->code;
}

/* The partner streams its copy of this rank's file straight into the
 * buffers where this rank needs it: no file is written, and the copy's
 * digest is checked as it arrives (bytes that fail it stay in the buffers
 * until a good copy overwrites them). A rank copies its own file (own, if
 * not NULL) while its streams wait. */
static int stream_from_partner(ckpt_t *ck, probe_t *p, int need, regcopy_t *own,
                               ckpt_err_t *e)
{
    const topo_t *t = &ck->topo;
    move_t *send = calloc((size_t)t->nclients + 1, sizeof *send);
    ostream_t *o = calloc((size_t)t->nclients + 1, sizeof *o);
    plan_t *pl = calloc((size_t)t->nclients + 1, sizeof *pl);
    char (*paths)[PATH_MAX] = calloc((size_t)t->nclients + 1, PATH_MAX);
    placing_t pc = {.ck = ck, .step = p->step};
    istream_t in = {.peer = t->partner, .place = place_regions, .ctx = &pc};
    int ns;
    if (!send || !o || !pl || !paths)
        err_set(e, CKPT_ENOMEM, "out of memory fetching from partner");
    if ((ns = clients_in_need(ck, p, need, send, e)) < 0)
        goto out;
    for (int k = 0; k < ns; k++)
        move_source(ck, p->step, &send[k], &o[k], &pl[k], paths[k]);
    stream_run(ck->comm, o, ns, &in, need, own ? regcopy_step : NULL, own);
    move_close(o, pl, ns);
    rankfile_index_free(&in.idx);
    /* where this rank's own file failed, its MANIFEST names the same bytes */
    if (need && in.err.code == CKPT_OK && p->have_local && in.digest != p->own.digest)
        err_set(&in.err, CKPT_ECORRUPT, "the copy from rank %d is not the save "
                "this node lists (digest)", t->partner);
    if (need && in.err.code != CKPT_OK)
        err_set(e, in.err.code, "%s", in.err.msg);
    else if (need)
        log_msg(&ck->log, LOG_INFO, "step %" PRId64 ": own data streamed from "
                "partner rank %d", p->step, t->partner);
out:
    free(send);
    free(o);
    free(pl);
    free(paths);
    return e->code;
}

/* Collective: lists in the node MANIFESTs what the nodes now hold: this
 * rank's own file if own_here (indexed by own_idx), and the copies it
 * keeps. With `move`, clients whose copy is missing first send their files
 * again. A node rewrites its MANIFEST only where something changed. */
static int relist_pairs(ckpt_t *ck, probe_t *p, int own_here, int changed,
                        const rf_index_t *own_idx, int move, ckpt_err_t *e)
{
    const topo_t *t = &ck->topo;
    int want_up = 0, nr = 0, any = 0, n = 0;
    int *missing = calloc((size_t)t->nclients + 1, sizeof *missing);
    move_t *got = calloc((size_t)t->nclients + 1, sizeof *got);
    mf_entry_t *mine = calloc((size_t)t->nclients + 2, sizeof *mine);
    move_t up = {.peer = t->partner, .rank = ck->rank, .x = p->own};
    up.x.idx = own_idx;
    if (!missing || !got || !mine)
        err_set(e, CKPT_ENOMEM, "out of memory refilling copies");
    if (err_agree(ck->comm, e) != CKPT_OK)
        goto out;
    for (int k = 0; move && k < t->nclients; k++)
        if ((missing[k] = !p->copy_ok[k]))
            got[nr++] = (move_t){.peer = t->clients[k], .rank = t->clients[k]};
    if (move && partner_tell_clients(t, ck->comm, missing, &want_up, 0) == 0)
        move_files(ck, p->step, &up, want_up, got, nr, e);
    changed |= nr > 0;
    if (own_here)
        mine[n++] = up.x;
    for (int k = 0, j = 0; k < t->nclients; k++)
        if (p->copy_ok[k]) {
            mine[n] = p->copy[k];
            mine[n++].idx = &p->copy_idx[k];
        } else if (missing[k] && e->code == CKPT_OK) {
            mine[n] = got[j].x;
            mine[n++].idx = &got[j++].idx;
        }
    MPI_Allreduce(&changed, &any, 1, MPI_INT, MPI_LOR, t->node_comm);
    if (any)
        step_commit_node(ck, p->step, p->gen, mine, n, NULL, e);
out:
    for (int j = 0; got && j < nr; j++)
        rankfile_index_free(&got[j].idx);
    free(missing);
    free(got);
    free(mine);
    return e->code;
}

static int partner_fetch(ckpt_t *ck, probe_t *p, int need, int to_file,
                         regcopy_t *own, int *in_file, ckpt_err_t *e)
{
    *in_file = to_file;
    if (to_file)
        return fetch_from_partner(ck, p, need, e);
    return stream_from_partner(ck, p, need, own, e);
}

static int partner_relist(ckpt_t *ck, probe_t *p, int own_here, int changed,
                          const rf_index_t *own_idx, ckpt_err_t *e)
{
    return relist_pairs(ck, p, own_here, changed, own_idx, 0, e);
}

/* The copy goes out as a stream that the receiver checks against the
 * digest listed here: nothing to check first. */
static int partner_check_own_first(ckpt_t *ck, const probe_t *p)
{
    (void)ck;
    (void)p;
    return 0;
}

/* Clients whose copy is missing send their files again. */
static int partner_refill(ckpt_t *ck, probe_t *p, int changed, int stored,
                          const rf_index_t *own_idx, ckpt_err_t *e)
{
    (void)stored;
    return relist_pairs(ck, p, 1, changed, own_idx, 1, e);
}

const level_ops_t level_partner = {
    .what = "partner copies",
    .always_refill = 0,
    .probe = partner_probe,
    .forget = partner_forget,
    .covered = partner_covered,
    .redundant = partner_redundant,
    .fetch = partner_fetch,
    .relist = partner_relist,
    .check_own_first = partner_check_own_first,
    .refill = partner_refill,
};
