/* ckpt_restore, ckpt_latest, ckpt_level: find the newest step whose data is
 * available for every rank (own copy, partner copy, or committed in
 * storage) and verify it as it reaches the buffers; lost copies are
 * re-created later, by refill_step (ckpt_wait at PARTNER). Only copies of
 * one save of a step are ever combined: the newest save (generation) of the
 * step seen anywhere, and every copy must prove in its own attributes that
 * it is this job's, step's, rank's and save's before its bytes count. */
#include "handle.h"
#include "fileio.h"
#include "manifest.h"
#include "partner.h"
#include "rankfile.h"
#include "regcopy.h"
#include "rs_level.h"
#include "smanifest.h"
#include "step.h"
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Internal outcome: this step cannot be restored, an older one may. */
#define NOT_AVAILABLE (-1)

/* What this rank knows about one step without reading data. */
typedef struct probe {
    int64_t step;
    uint64_t gen;      /* the save restored: the step's newest seen anywhere */
    int have_local;    /* own file of that save listed and of the listed size */
    mf_entry_t own;
    rf_index_t own_idx; /* its datasets, as the MANIFEST lists them */
    int *copy_ok;      /* per client: its copy listed and of the listed size */
    mf_entry_t *copy;
    rf_index_t *copy_idx; /* per client: the copy's datasets */
    int nclients;
    int partner_has;   /* the partner keeps a copy of this rank's file */
    int in_storage;    /* committed in storage, not known to be another save
                          (same everywhere) */
    int sm_read;       /* sm holds the step's storage manifest */
    smanifest_t sm;
    rs_state_t rs;     /* redundancy = rs: what the group holds */
    int rs_ok;         /* this rank's file can be rebuilt from its group */
} probe_t;

static int listed_and_sized(const ckpt_t *ck, const manifest_t *m, int rank,
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

static void probe_free(probe_t *p)
{
    for (int k = 0; p->copy_idx && k < p->nclients; k++)
        rankfile_index_free(&p->copy_idx[k]);
    free(p->copy_idx);
    free(p->copy_ok);
    free(p->copy);
    sm_free(&p->sm);
    rs_state_free(&p->rs);
    rankfile_index_free(&p->own_idx);
    memset(p, 0, sizeof *p);
}

/* Collective: 1 if every rank passes v != 0. */
static int all(ckpt_t *ck, int v)
{
    int r = 0;
    MPI_Allreduce(&v, &r, 1, MPI_INT, MPI_LAND, ck->comm);
    return r;
}

/* This node's MANIFEST of the step if it says it is this job's, step's and
 * node's, for this many ranks: its generation, or 0 (none usable). */
static uint64_t node_manifest(ckpt_t *ck, int64_t step, manifest_t *m)
{
    char dir[PATH_MAX];
    ckpt_err_t e = {0};
    cache_step_dir(&ck->cache, step, dir, sizeof dir);
    if (manifest_read(dir, m, &e) != CKPT_OK) {
        if (e.code != CKPT_ENOENT)
            log_msg(&ck->log, LOG_WARN, "%s", e.msg);
        return 0;
    }
    if (!strcmp(m->job, ck->cfg.job) && m->step == step &&
        m->node == ck->topo.node && m->nranks == ck->nranks && m->generation)
        return m->generation;
    log_msg(&ck->log, LOG_WARN, "%s/" MANIFEST_NAME " is of job '%s' step %"
            PRId64 " node %d of %d ranks: not used", dir, m->job, m->step,
            m->node, m->nranks);
    manifest_free(m);
    return 0;
}

/* Collective: rank 0 reads the step's storage manifest for all. One that is
 * missing, damaged, of another job, step or rank count, or unreadable
 * because storage is down, leaves the step out of storage for now. */
static void read_smanifest(ckpt_t *ck, probe_t *p)
{
    ckpt_err_t why = {0};
    if (p->sm_read || !p->in_storage)
        return;
    p->sm_read = wb_read_manifest(&ck->wb, p->step, &p->sm, &why) == CKPT_OK;
    if (!p->sm_read) {
        p->in_storage = 0;
        log_msg(&ck->log, ck->rank == 0 ? LOG_WARN : LOG_DEBUG, "step %" PRId64
                " cannot be read from storage: %s", p->step, why.msg);
    }
}

/* Collective: where some rank has no copy of save p->gen in the caches,
 * storage decides. A newer save there replaces the caches' (they hold one
 * it superseded), the same save fills the gaps, an older one is not used.
 * A restore from the caches alone makes no request. */
static void probe_storage(ckpt_t *ck, probe_t *p)
{
    if (!p->in_storage || all(ck, p->have_local || p->partner_has || p->rs_ok))
        return;
    read_smanifest(ck, p);
    if (!p->sm_read || p->sm.generation == p->gen)
        return;
    if (p->sm.generation < p->gen) {
        log_msg(&ck->log, ck->rank == 0 ? LOG_WARN : LOG_DEBUG, "step %" PRId64
                " in storage is an older save than in the caches: not used",
                p->step);
        p->in_storage = 0;
        return;
    }
    p->gen = p->sm.generation;
    p->have_local = p->partner_has = p->rs_ok = 0;
    if (USES_RS(ck))
        rs_forget(&ck->rs, &p->rs);
    memset(p->copy_ok, 0, (size_t)ck->topo.nclients * sizeof *p->copy_ok);
}

uint64_t newest_cached_save(ckpt_t *ck, int64_t before)
{
    int64_t *steps;
    int n;
    uint64_t best = 0;
    ckpt_err_t e = {0};
    if (cache_list_steps(&ck->cache, 1, &steps, &n, &e) != CKPT_OK)
        return 0;
    for (int i = 0; i < n; i++) {
        manifest_t m;
        uint64_t g = steps[i] < before ? node_manifest(ck, steps[i], &m) : 0;
        if (g > best)
            best = g;
        if (g)
            manifest_free(&m);
    }
    free(steps);
    return best;
}

/* Collective: a step whose save is older than some save of an earlier step
 * was superseded (a save of S supersedes every later step), though its
 * copies may linger where they could not be removed: storage that was
 * down, a node that was away. */
static int superseded(ckpt_t *ck, const probe_t *p)
{
    uint64_t mine = newest_cached_save(ck, p->step), newest = 0;
    MPI_Allreduce(&mine, &newest, 1, MPI_UINT64_T, MPI_MAX, ck->comm);
    if (p->gen == 0 || newest <= p->gen)
        return 0;
    log_msg(&ck->log, ck->rank == 0 ? LOG_WARN : LOG_DEBUG, "step %" PRId64
            " was superseded by a later save of an earlier step: not used",
            p->step);
    return 1;
}

/* Collective: fills p, including what the partner holds and, where the
 * caches fall short, what storage holds. On failure p holds nothing. */
static int probe_step(ckpt_t *ck, int64_t step, probe_t *p, ckpt_err_t *e)
{
    const topo_t *t = &ck->topo;
    manifest_t m = {0};
    uint64_t mine = 0;
    memset(p, 0, sizeof *p);
    p->step = step;
    p->in_storage = wb_committed(&ck->wb, step);
    p->copy_ok = calloc((size_t)t->nclients + 1, sizeof *p->copy_ok);
    p->copy = calloc((size_t)t->nclients + 1, sizeof *p->copy);
    p->copy_idx = calloc((size_t)t->nclients + 1, sizeof *p->copy_idx);
    p->nclients = t->nclients;
    if (p->copy_ok == NULL || p->copy == NULL || p->copy_idx == NULL ||
        (USES_RS(ck) && rs_state_alloc(&ck->rs, &p->rs) != CKPT_OK))
        err_set(e, CKPT_ENOMEM, "out of memory probing step %" PRId64, step);
    else
        mine = node_manifest(ck, step, &m);
    if (err_agree(ck->comm, e) != CKPT_OK)
        goto out;
    if (MPI_Allreduce(&mine, &p->gen, 1, MPI_UINT64_T, MPI_MAX, ck->comm)) {
        err_set(e, CKPT_EMPI, "MPI failed probing step %" PRId64, step);
        goto out;
    }
    if (mine != 0 && mine == p->gen) {
        p->have_local = listed_and_sized(ck, &m, ck->rank, &p->own) &&
                        p->own.own && manifest_index(&m, &p->own, &p->own_idx) == 0;
        for (int k = 0; k < t->nclients; k++)
            p->copy_ok[k] = listed_and_sized(ck, &m, t->clients[k], &p->copy[k]) &&
                            manifest_index(&m, &p->copy[k], &p->copy_idx[k]) == 0;
    } else if (mine != 0) {
        log_msg(&ck->log, LOG_WARN, "step %" PRId64 " on node %d is an older "
                "save than on other nodes: not used", step, t->node);
    }
    if (partner_tell_clients(t, ck->comm, p->copy_ok, &p->partner_has, 0)) {
        err_set(e, CKPT_EMPI, "MPI failed asking partners");
        goto out;
    }
    if (USES_RS(ck)) {
        if (rs_probe(&ck->rs, &ck->cache, mine != 0 && mine == p->gen ? &m : NULL,
                     &p->rs, e) != CKPT_OK)
            goto out;
        p->rs_ok = rs_covered(&ck->rs, &p->rs, 0);
    }
    probe_storage(ck, p);
    if (superseded(ck, p))
        p->have_local = p->partner_has = p->in_storage = p->rs_ok = 0;
out:
    manifest_free(&m);
    if (e->code != CKPT_OK)
        probe_free(p); /* nothing of a failed probe is left to free */
    else if (p->gen > ck->last_generation)
        ck->last_generation = p->gen;
    return e->code;
}

/* Full check of this rank's own file against its MANIFEST digest. */
static int verify_local(ckpt_t *ck, const probe_t *p)
{
    char path[PATH_MAX];
    ckpt_err_t e = {0};
    uint64_t digest = 0;
    int fd;
    cache_rank_path(&ck->cache, p->step, ck->rank, 0, path, sizeof path);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    fio_digest(fd, p->own.size, &digest, path, &e);
    close(fd);
    if (e.code == CKPT_OK && digest == p->own.digest)
        return 1;
    log_msg(&ck->log, LOG_WARN, "step %" PRId64 ": %s", p->step,
            e.code ? e.msg : "own copy is damaged (checksum); using the partner's");
    return 0;
}

/* The plan of a file as its index describes it: the datasets' bytes are
 * DATA, whatever lies between them is META, read from the file now. */
static int plan_from_index(plan_t *pl, int fd, const mf_entry_t *x,
                           const char *path, ckpt_err_t *e)
{
    const rf_index_t *idx = x->idx;
    seg_t *segs = calloc((size_t)idx->n + 1, sizeof *segs);
    int n = 0;
    if (segs == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory planning %s", path);
    for (int i = 0; i < idx->n; i++) {
        uint64_t len = idx->d[i].count * type_size((ckpt_type_t)idx->d[i].type);
        if (len > 0)
            segs[n++] = (seg_t){.off = idx->d[i].off, .len = len, .kind = SEG_DATA};
    }
    plan_build(pl, fd, x->size, segs, n, path, e);
    free(segs);
    return e->code;
}

/* A stream to `peer` of the file `x` of `rank` (with its index), checked
 * against its digest as it is read. */
static void open_source(ckpt_t *ck, int64_t step, int peer, int rank,
                        const mf_entry_t *x, ostream_t *o, plan_t *pl, char *path)
{
    ckpt_err_t e = {0};
    o->peer = peer;
    o->chunk = stream_chunk(topo_fan_in(&ck->topo, peer));
    cache_rank_path(&ck->cache, step, rank, 0, path, PATH_MAX);
    o->src_fd = open(path, O_RDONLY | O_CLOEXEC);
    o->src_path = path;
    o->local_fd = -1;
    o->plan = pl;
    o->idx = x->idx;
    o->check = 1;
    o->expect = x->digest;
    if (o->src_fd < 0 || x->idx == NULL ||
        plan_from_index(pl, o->src_fd, x, path, &e) != CKPT_OK)
        o->failed = 1;
}

static void close_sources(ostream_t *o, plan_t *pl, int n)
{
    for (int k = 0; k < n; k++) {
        if (o[k].src_fd >= 0)
            close(o[k].src_fd);
        plan_free(&pl[k]);
    }
}

/* One file moved between nodes: whose it is (rank), the rank at the other
 * end (peer), and its entry: given with its index (x.idx) when sent, filled
 * in when received, with the index as the sender named it in idx. */
typedef struct move {
    int peer, rank;
    mf_entry_t x;
    rf_index_t idx;
} move_t;

/* Streams files: this rank sends `send` and receives `recv` into its own
 * node directory, where the received files are renamed into place. */
static int move_files(ckpt_t *ck, int64_t step, const move_t *send, int nsend,
                      move_t *recv, int nrecv, ckpt_err_t *e)
{
    ostream_t *o = calloc((size_t)nsend + 1, sizeof *o);
    istream_t *in = calloc((size_t)nrecv + 1, sizeof *in);
    plan_t *pl = calloc((size_t)nsend + 1, sizeof *pl);
    char (*paths)[PATH_MAX] = calloc((size_t)(nsend + 2 * nrecv) + 1, PATH_MAX);
    char dir[PATH_MAX];
    if (!o || !in || !pl || !paths) {
        err_set(e, CKPT_ENOMEM, "out of memory moving files");
        goto out; /* the peers then see MPI errors: memory is gone anyway */
    }
    cache_step_dir(&ck->cache, step, dir, sizeof dir);
    if (nrecv > 0)
        fio_mkdirs(dir, e);
    for (int k = 0; k < nsend; k++)
        open_source(ck, step, send[k].peer, send[k].rank, &send[k].x, &o[k],
                    &pl[k], paths[k]);
    for (int k = 0; k < nrecv; k++) {
        cache_rank_path(&ck->cache, step, recv[k].rank, 1, paths[nsend + k], PATH_MAX);
        in[k] = (istream_t){.peer = recv[k].peer, .path = paths[nsend + k]};
    }
    stream_run(ck->comm, o, nsend, in, nrecv, NULL, NULL);
    close_sources(o, pl, nsend);
    for (int k = 0; k < nrecv; k++) {
        char *final = paths[nsend + nrecv + k];
        recv[k].x = (mf_entry_t){.rank = recv[k].rank, .size = in[k].size,
                                 .digest = in[k].digest};
        recv[k].idx = in[k].idx;
        cache_rank_path(&ck->cache, step, recv[k].rank, 0, final, PATH_MAX);
        if (in[k].err.code != CKPT_OK) {
            err_set(e, in[k].err.code, "%s", in[k].err.msg);
            unlink(in[k].path);
        } else if (e->code == CKPT_OK && rename(in[k].path, final) != 0) {
            err_sys(e, errno, "rename %s", in[k].path);
        }
    }
    if (nrecv > 0 && e->code == CKPT_OK)
        fio_fsync_dir(dir, e);
out:
    free(o);
    free(in);
    free(pl);
    free(paths);
    return e->code;
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
    else if (partner_tell_partner(t, ck->comm, need, needs))
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

static int check_regions(ckpt_t *ck, const rf_index_t *idx, int64_t step,
                         ckpt_err_t *e);

/* Where a copy streamed for a restore lands: each DATA segment in the
 * buffer of the region its dataset is protected as. The datasets must be
 * the protected regions, and the segments exactly their bytes, in order. */
static int place_regions(void *ctx, const rf_index_t *idx, const plan_t *pl,
                         unsigned char **dst, ckpt_err_t *e)
{
    placing_t *pc = ctx;
    region_set_t *rs = &pc->ck->regions;
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
        open_source(ck, p->step, send[k].peer, send[k].rank, &send[k].x, &o[k],
                    &pl[k], paths[k]);
    stream_run(ck->comm, o, ns, &in, need, own ? regcopy_step : NULL, own);
    close_sources(o, pl, ns);
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

/* This rank's byte range of its node object, into a verified local file.
 * Not fsync'd: the file is a cache of an object committed in storage, and
 * every read of an own file checks its digest, so a copy that a crash
 * leaves short or damaged is found and fetched again. Waiting for this
 * disk would only delay the data. */
static int read_range(ckpt_t *ck, probe_t *p, ckpt_err_t *e)
{
    const smanifest_t *m = &p->sm;
    char tmp[PATH_MAX], final[PATH_MAX], dir[PATH_MAX];
    const sm_range_t *r = &m->r[ck->rank];
    uint64_t digest = 0;
    int fd;
    cache_step_dir(&ck->cache, p->step, dir, sizeof dir);
    cache_rank_path(&ck->cache, p->step, ck->rank, 1, tmp, sizeof tmp);
    cache_rank_path(&ck->cache, p->step, ck->rank, 0, final, sizeof final);
    if (fio_mkdirs(dir, e) != CKPT_OK)
        return e->code;
    if ((fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
        return err_sys(e, errno, "create %s", tmp);
    wb_fetch_rank(&ck->wb, m, fd, tmp, &digest, e);
    close(fd);
    if (e->code == CKPT_OK && rename(tmp, final) != 0)
        err_sys(e, errno, "rename %s", tmp);
    if (e->code != CKPT_OK) {
        unlink(tmp);
        return e->code;
    }
    p->own = (mf_entry_t){.rank = ck->rank, .own = 1, .size = r->size,
                          .digest = digest};
    return CKPT_OK;
}

/* Collective: ranks whose copies are both gone read their data from
 * storage, if it holds the save being restored. */
static int fetch_from_storage(ckpt_t *ck, probe_t *p, int need, ckpt_err_t *e)
{
    if (!all(ck, !need))
        read_smanifest(ck, p);
    if (!all(ck, !need || (p->sm_read && p->sm.generation == p->gen)))
        return NOT_AVAILABLE;
    if (need && read_range(ck, p, e) == CKPT_OK)
        log_msg(&ck->log, LOG_INFO, "step %" PRId64 ": read own data from "
                "storage", p->step);
    return e->code;
}

static int check_regions(ckpt_t *ck, const rf_index_t *idx, int64_t step,
                         ckpt_err_t *e)
{
    for (int i = 0; i < ck->regions.n; i++) {
        const region_t *r = &ck->regions.v[i];
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
    }
    for (int i = 0; i < idx->n; i++)
        if (region_find(&ck->regions, idx->d[i].name) == NULL)
            return err_set(e, CKPT_EMISMATCH, "rank %d: region '%s' (%" PRIu64
                           " bytes) was saved in step %" PRId64
                           " but is not protected", ck->rank, idx->d[i].name,
                           idx->d[i].count * type_size(idx->d[i].type), step);
    return CKPT_OK;
}

/* Ends a copy of the datasets into the caller's buffers (regcopy), running
 * what is left of it unless `run` is 0 (the step is given up anyway). A
 * file checked as it is copied (verify) that fails its checksum or cannot
 * be read sets *bad instead of failing: the buffers are then rewritten
 * from the second copy if there is one (second), else the step is
 * unavailable and an older one is tried, as for a damaged file. */
static int end_copy(ckpt_t *ck, regcopy_t *c, int run, int second, int *bad,
                    ckpt_err_t *e)
{
    const char *next = second ? "using the second copy" : "no other copy of this step";
    if (run)
        regcopy_run(c);
    regcopy_close(c);
    if (!run)
        return e->code;
    if (c->bad) {
        log_msg(&ck->log, LOG_WARN, "%s: region '%s' fails its checksum; %s",
                c->path, c->bad_name, next);
        *bad = 1;
    } else if (c->err.code != CKPT_OK && c->verify && c->err.code != CKPT_ENOMEM) {
        log_msg(&ck->log, LOG_WARN, "%s; %s", c->err.msg, next);
        *bad = 1;
    } else if (c->err.code != CKPT_OK) {
        err_set(e, c->err.code, "%s", c->err.msg);
    }
    return e->code;
}

static int copy_regions(ckpt_t *ck, const rf_index_t *idx, const char *path,
                        int verify, int second, int *bad, ckpt_err_t *e)
{
    regcopy_t c;
    regcopy_open(&c, &ck->regions, idx, path, verify);
    return end_copy(ck, &c, 1, second, bad, e);
}

/* Collective, redundancy = rs: the node MANIFESTs list this rank's own
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
    if (!missing || !got || !mine) {
        err_set(e, CKPT_ENOMEM, "out of memory refilling copies");
        goto out;
    }
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

static int relist(ckpt_t *ck, probe_t *p, int own_here, int changed,
                  const rf_index_t *own_idx, int move, ckpt_err_t *e)
{
    if (USES_RS(ck))
        return relist_group(ck, p, own_here, changed, own_idx, e);
    return relist_pairs(ck, p, own_here, changed, own_idx, move, e);
}

/* Collective, redundancy = rs: ranks with `need` get their file rebuilt
 * from the group's shares. Too many shares lost counts as a bad copy. */
static void rebuild_from_group(ckpt_t *ck, probe_t *p, int need, ckpt_err_t *e)
{
    int x = rs_index(&ck->rs, ck->rank);
    if (rs_rebuild_files(&ck->rs, ck->comm, &ck->cache, p->step, &p->rs, need, e) ==
        CKPT_ENOENT)
        e->code = CKPT_ECORRUPT;
    if (need && e->code == CKPT_OK)
        p->own = (mf_entry_t){.rank = ck->rank, .own = 1,
                              .size = p->rs.size[x], .digest = p->rs.digest[x]};
}

/* Collective: ranks with `need` get a good copy of their data from the
 * partner (into a file with to_file, else straight into the buffers, while
 * the senders run `own`, their own copy, if not NULL), or rebuilt from
 * their RS group (a file), or else from storage (a file). *in_file says a
 * file was written. CKPT_OK; NOT_AVAILABLE if some rank has none (an older
 * step may do); or an error. */
static int obtain(ckpt_t *ck, probe_t *p, int need, int to_file, regcopy_t *own,
                  int *in_file, ckpt_err_t *e)
{
    int from_cache = need && (p->partner_has || p->rs_ok), from_storage;
    double t = log_now();
    if (!all(ck, !need || p->partner_has || p->rs_ok || p->in_storage))
        return NOT_AVAILABLE;
    if (USES_RS(ck))
        rebuild_from_group(ck, p, from_cache, e);
    else if (to_file)
        fetch_from_partner(ck, p, from_cache, e);
    else
        stream_from_partner(ck, p, from_cache, own, e);
    log_lap(&ck->log, "restore: from partner", &t);
    from_storage = need && !from_cache;
    if (from_cache && e->code == CKPT_ECORRUPT && p->in_storage) {
        log_msg(&ck->log, LOG_WARN, "step %" PRId64 ": %s; reading storage",
                p->step, e->msg);
        err_clear(e);
        from_storage = 1;
    }
    if (err_agree(ck->comm, e) != CKPT_OK) {
        if (e->code != CKPT_ECORRUPT)
            return e->code;
        log_msg(&ck->log, LOG_WARN, "step %" PRId64 ": %s", p->step, e->msg);
        err_clear(e);
        return NOT_AVAILABLE;
    }
    if (fetch_from_storage(ck, p, from_storage, e) == NOT_AVAILABLE)
        return NOT_AVAILABLE;
    ck->storage_read_s = log_now() - t;
    log_lap(&ck->log, "restore: from storage", &t);
    if (err_agree(ck->comm, e) != CKPT_OK) {
        log_msg(&ck->log, ck->rank == 0 ? LOG_WARN : LOG_DEBUG, "step %" PRId64
                " cannot be read from storage: %s", p->step, e->msg);
        err_clear(e);
        return NOT_AVAILABLE;
    }
    *in_file = from_storage || (from_cache && USES_RS(ck));
    return CKPT_OK;
}

/* This rank's file indexed; no buffer touched. The own file's index is its
 * MANIFEST's: HDF5 parses only a file fetched from another copy, whose
 * bytes were checked against a digest, and the file must then prove in its
 * attributes that it is this save's. */
static int index_file(ckpt_t *ck, probe_t *p, rf_index_t *idx, char *path,
                      int fetched, ckpt_err_t *e)
{
    rf_id_t want = {.step = p->step, .generation = p->gen, .rank = ck->rank};
    snprintf(want.job, sizeof want.job, "%s", ck->cfg.job);
    rankfile_index_free(idx);
    cache_rank_path(&ck->cache, p->step, ck->rank, 0, path, PATH_MAX);
    if (!fetched) {
        *idx = p->own_idx; /* taken over: the probe needs it no more */
        memset(&p->own_idx, 0, sizeof p->own_idx);
    } else if (rankfile_index(path, idx, e) == CKPT_OK) {
        rankfile_check_id(path, idx, &want, e);
    }
    return e->code;
}

/* index_file, and the regions compared with those protected now. */
static int index_own(ckpt_t *ck, probe_t *p, rf_index_t *idx, char *path,
                     int fetched, ckpt_err_t *e)
{
    if (index_file(ck, p, idx, path, fetched, e) != CKPT_OK)
        return e->code;
    return check_regions(ck, idx, p->step, e);
}

/* Collective: the agreed outcome of a phase. A copy found corrupt with no
 * other copy left makes the step unavailable: an older one may do. */
static int settle(ckpt_t *ck, const probe_t *p, ckpt_err_t *e)
{
    if (err_agree(ck->comm, e) != CKPT_ECORRUPT)
        return e->code;
    log_msg(&ck->log, ck->rank == 0 ? LOG_WARN : LOG_DEBUG, "step %" PRId64
            ": %s", p->step, e->msg);
    err_clear(e);
    return NOT_AVAILABLE;
}


/* A damaged own file goes once its data came from elsewhere, so that the
 * level says what is left and ckpt_wait can re-create it. */
static void drop_own(ckpt_t *ck, const probe_t *p)
{
    char path[PATH_MAX];
    cache_rank_path(&ck->cache, p->step, ck->rank, 0, path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
        log_msg(&ck->log, LOG_WARN, "cannot remove damaged %s: %s", path,
                strerror(errno));
}

/* Restores step S, or reports NOT_AVAILABLE for an older try. With
 * restore_check = inline, a rank with its own file copies it into the
 * buffers in one pass, each dataset checked as it is copied; where the own
 * file is gone or fails, the partner streams its copy straight into the
 * buffers, checked as it arrives, or else storage supplies the file. Where
 * a partner streams to a rank that lost its file, the ranks that have
 * theirs copy them while their streams wait (overlap): the data of every
 * rank arrives in about the time of one. With first, every file is checked
 * whole, and a second copy lands in a file, before any byte reaches a
 * buffer. Lost copies are not re-created here (ckpt_wait at
 * CKPT_LEVEL_PARTNER does it): data first. */
static int restore_this(ckpt_t *ck, probe_t *p, ckpt_err_t *e)
{
    char path[PATH_MAX];
    rf_index_t idx = {0};
    regcopy_t own;
    int second = p->partner_has || p->rs_ok || p->in_storage, need, bad = 0;
    int stored = 0, more = 0, overlap;
    int first = ck->cfg.restore_check == CHECK_FIRST, wrote = 0, again = 0, rc;
    double t = log_now();
    if (!all(ck, p->have_local || second))
        return NOT_AVAILABLE;
    need = !p->have_local || (first && !verify_local(ck, p));
    if (!need)
        index_own(ck, p, &idx, path, 0, e);
    if ((rc = settle(ck, p, e)) != CKPT_OK) /* no buffer touched yet */
        goto out;
    log_lap(&ck->log, "restore: index", &t);
    overlap = !first && !USES_RS(ck) && !all(ck, !need);
    if (!first && !need)
        regcopy_open(&own, &ck->regions, &idx, path, 1);
    if (overlap)
        rc = obtain(ck, p, need, 0, need ? NULL : &own, &stored, e);
    if (!first && !need)
        end_copy(ck, &own, rc == CKPT_OK, second, &bad, e);
    if (rc != CKPT_OK || (rc = settle(ck, p, e)) != CKPT_OK)
        goto out;
    log_lap(&ck->log, "restore: own copy", &t);
    if (!all(ck, !(need && !overlap) && !bad)) {
        rc = obtain(ck, p, (need && !overlap) || bad, first, NULL, &more, e);
        log_lap(&ck->log, "restore: second copy", &t);
    }
    stored |= more;
    wrote = stored || (first && need);
    if (rc == CKPT_OK && wrote)
        index_own(ck, p, &idx, path, 1, e);
    if (rc == CKPT_OK && (rc = settle(ck, p, e)) == CKPT_OK &&
        (wrote || (first && !need)))
        copy_regions(ck, &idx, path, 0, 0, &again, e);
    if (rc != CKPT_OK || (rc = settle(ck, p, e)) != CKPT_OK)
        goto out;
    if (bad && !wrote)
        drop_own(ck, p);
    if (!all(ck, !wrote)) {
        ckpt_err_t why = {0};
        relist(ck, p, (!need && !bad) || wrote, wrote, &idx, 0, &why);
        if (err_agree(ck->comm, &why) != CKPT_OK)
            log_msg(&ck->log, LOG_WARN, "step %" PRId64 " restored but the "
                    "files it fetched are not listed: %s", p->step, why.msg);
    }
out:
    rankfile_index_free(&idx);
    return rc != CKPT_OK ? rc : e->code;
}

/* Collective, redundancy = rs: every parity share the group lacks is made
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

/* Collective: the step's lost copies re-created in this layout, from the
 * partners' copies (or the RS group) or else from storage; with `again`,
 * RS parity after files came from storage by one more pass. */
static int refill_pass(ckpt_t *ck, int64_t step, int again)
{
    ckpt_err_t *e = &ck->err;
    char path[PATH_MAX];
    rf_index_t idx = {0};
    probe_t p;
    int stored = 0, need, rc;
    if (probe_step(ck, step, &p, e) != CKPT_OK)
        return e->code;
    need = !p.have_local;
    /* RS: parity is made again from the own files: a damaged one (its
     * size right) is rebuilt first, never encoded */
    if (USES_RS(ck) && !need && rs_lost(&ck->rs, &p.rs, ck->rs.li) > 0)
        need = !verify_local(ck, &p);
    rc = obtain(ck, &p, need, 1, NULL, &stored, e);
    if (rc == NOT_AVAILABLE)
        err_set(e, CKPT_ENOENT, "step %" PRId64 " of job '%s' is not "
                "recoverable", step, ck->cfg.job);
    else if (rc == CKPT_OK)
        index_file(ck, &p, &idx, path, need, e);
    /* (after files came from storage the caches hold its save, whose
     * sizes this probe does not know: parity after a fresh probe, below) */
    if (err_agree(ck->comm, e) == CKPT_OK && USES_RS(ck) && all(ck, !stored))
        need |= refill_parity(ck, &p, e);
    if (err_agree(ck->comm, e) == CKPT_OK)
        relist(ck, &p, 1, need, &idx, 1, e);
    err_agree(ck->comm, e);
    rankfile_index_free(&idx);
    probe_free(&p);
    if (again && e->code == CKPT_OK && USES_RS(ck) && !all(ck, !stored))
        return refill_pass(ck, step, 0);
    return e->code;
}

int refill_step(ckpt_t *ck, int64_t step)
{
    return refill_pass(ck, step, 1);
}

/* Collective: newest step <= bound on any node (or committed in storage),
 * or -1. */
static int64_t newest_candidate(ckpt_t *ck, int64_t bound, int with_storage)
{
    int64_t mine = cache_newest_step(&ck->cache, bound), best = -1;
    if (with_storage && wb_newest_committed(&ck->wb, bound) > mine)
        mine = wb_newest_committed(&ck->wb, bound);
    MPI_Allreduce(&mine, &best, 1, MPI_INT64_T, MPI_MAX, ck->comm);
    return best;
}

int restore_step(ckpt_t *ck, int64_t want, int64_t *restored)
{
    ckpt_err_t *e = &ck->err;
    int64_t bound = want == CKPT_LATEST ? INT64_MAX : want;
    for (;;) {
        probe_t p;
        int64_t s = newest_candidate(ck, bound, 1);
        int rc;
        if (s < 0 || (want != CKPT_LATEST && s != want))
            break;
        if (probe_step(ck, s, &p, e) != CKPT_OK)
            return e->code;
        rc = restore_this(ck, &p, e);
        probe_free(&p);
        if (rc != NOT_AVAILABLE) {
            if (rc == CKPT_OK && restored)
                *restored = s;
            if (rc == CKPT_OK)
                log_msg(&ck->log, LOG_INFO, "restored step %" PRId64, s);
            return rc;
        }
        log_msg(&ck->log, LOG_INFO, "step %" PRId64 " is not recoverable", s);
        bound = s - 1;
    }
    if (want == CKPT_LATEST)
        return err_set(e, CKPT_ENOENT, "no recoverable checkpoint of job '%s' "
                       "in %s%s%s", ck->cfg.job, ck->cfg.cache_dir,
                       wb_active(&ck->wb) ? " or " : "",
                       wb_active(&ck->wb) ? ck->cfg.storage_url : "");
    return err_set(e, CKPT_ENOENT, "step %" PRId64 " of job '%s' is not "
                   "recoverable", want, ck->cfg.job);
}

/* Collective: the newest step every rank can get from its own copy
 * (own_only) or from any level, with this rank's entry and the save. */
static int newest_usable(ckpt_t *ck, int own_only, int64_t *step,
                         mf_entry_t *own, uint64_t *gen)
{
    ckpt_err_t *e = &ck->err;
    int64_t bound = INT64_MAX, s;
    while ((s = newest_candidate(ck, bound, !own_only)) >= 0) {
        probe_t p;
        int ok;
        if (probe_step(ck, s, &p, e) != CKPT_OK)
            return e->code;
        ok = all(ck, p.have_local ||
                         (!own_only && (p.partner_has || p.rs_ok || p.in_storage)));
        if (ok && own)
            *own = p.own;
        if (ok && gen)
            *gen = p.gen;
        probe_free(&p);
        if (ok) {
            *step = s;
            return CKPT_OK;
        }
        bound = s - 1;
    }
    return err_set(e, CKPT_ENOENT, "no recoverable checkpoint of job '%s'",
                   ck->cfg.job);
}

int query_latest(ckpt_t *ck, int64_t *step)
{
    return newest_usable(ck, 0, step, NULL, NULL);
}

int query_complete(ckpt_t *ck, int64_t *step, mf_entry_t *own,
                   uint64_t *generation)
{
    return newest_usable(ck, 1, step, own, generation);
}

/* Collective: the step's level in the caches on the worst-off rank
 * (lowest) and on the best-off one (highest). */
static int cache_level(ckpt_t *ck, int64_t step, int *lowest, int *highest)
{
    probe_t p;
    int one, two, v[2], r[2];
    if (probe_step(ck, step, &p, &ck->err) != CKPT_OK)
        return ck->err.code;
    /* RS: PARTNER when the step survives the loss of any one node */
    two = USES_RS(ck) ? rs_covered(&ck->rs, &p.rs, 1)
                      : p.have_local && p.partner_has;
    one = p.have_local || p.partner_has || p.rs_ok;
    v[0] = two ? CKPT_LEVEL_PARTNER : one ? CKPT_LEVEL_LOCAL : CKPT_LEVEL_NONE;
    v[1] = -v[0]; /* one reduction: the highest is minus the lowest of these */
    probe_free(&p);
    MPI_Allreduce(v, r, 2, MPI_INT, MPI_MIN, ck->comm);
    *lowest = r[0];
    *highest = -r[1];
    return CKPT_OK;
}

int query_level(ckpt_t *ck, int64_t step, int *level)
{
    int lowest, highest;
    /* the committed list is the same on every rank; probing a committed
     * step would read its storage manifest for nothing */
    if (wb_committed(&ck->wb, step)) {
        *level = CKPT_LEVEL_STORAGE;
        return CKPT_OK;
    }
    if (cache_level(ck, step, &lowest, &highest) != CKPT_OK)
        return ck->err.code;
    *level = lowest;
    return CKPT_OK;
}

int wait_partner(ckpt_t *ck, int64_t step)
{
    int lowest, highest;
    int redundant = USES_RS(ck) ? ck->rs.m > 0 : ck->topo.partner >= 0;
    if (cache_level(ck, step, &lowest, &highest) != CKPT_OK)
        return ck->err.code;
    /* two copies (RS: always refilled, so that every lost share is made
     * again); or only in storage, or no redundancy but in storage: the
     * STORAGE level is above PARTNER, and nothing is refilled */
    if ((lowest >= CKPT_LEVEL_PARTNER && !USES_RS(ck)) ||
        ((highest == CKPT_LEVEL_NONE || !redundant) && wb_committed(&ck->wb, step)))
        return CKPT_OK;
    if (!redundant)
        return err_set(&ck->err, CKPT_ESTATE, "step %" PRId64 " cannot reach "
                       "level %d: no %s in this layout", step,
                       CKPT_LEVEL_PARTNER,
                       USES_RS(ck) ? "RS parity" : "partner copies");
    if (refill_step(ck, step) != CKPT_OK ||
        cache_level(ck, step, &lowest, &highest) != CKPT_OK)
        return ck->err.code;
    if (lowest < CKPT_LEVEL_PARTNER)
        return err_set(&ck->err, CKPT_ESTATE, "step %" PRId64 " is at level %d "
                       "in the caches: its copies could not be re-created",
                       step, lowest);
    return CKPT_OK;
}
