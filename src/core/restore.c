/* ckpt_restore, ckpt_latest, ckpt_level: find the newest step whose data is
 * available for every rank (own copy, partner copy, or committed in
 * storage) and verify it as it reaches the buffers; lost copies are
 * re-created later, by refill_step (ckpt_wait at PARTNER). Only copies of
 * one save of a step are ever combined: the newest save (generation) of the
 * step seen anywhere, and every copy must prove in its own attributes that
 * it is this job's, step's, rank's and save's before its bytes count. */
#include "probe.h"
#include "shape.h"
#include "adopt.h"
#include "reshape.h"
#include "level.h"
#include "fileio.h"
#include "manifest.h"
#include "rankfile.h"
#include "regcopy.h"
#include "step.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    /* another rank count's: expected after a restart at another size */
    log_msg(&ck->log, m->nranks != ck->nranks ? LOG_INFO : LOG_WARN,
            "%s/" MANIFEST_NAME " is of job '%s' step %"
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
    if (ck->sm_read.nranks > 0 && ck->sm_read.step == p->step) {
        p->sm = ck->sm_read; /* read once by other_in_storage: taken over */
        memset(&ck->sm_read, 0, sizeof ck->sm_read);
        p->sm_read = 1;
        return;
    }
    p->sm_read = wb_read_manifest(&ck->wb, p->step, ck->nranks, &p->sm, &why) == CKPT_OK;
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
    if (!p->in_storage || ck_all(ck, p->have_local || p->level_has))
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
    p->have_local = p->level_has = 0;
    ck->level->forget(ck, p);
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

/* Collective: fills p, including what the cache level holds and, where
 * the caches fall short, what storage holds. On failure p holds nothing. */
static int probe_step(ckpt_t *ck, int64_t step, probe_t *p, ckpt_err_t *e)
{
    manifest_t m = {0};
    uint64_t mine;
    memset(p, 0, sizeof *p);
    p->step = step;
    p->in_storage = wb_committed(&ck->wb, step);
    mine = node_manifest(ck, step, &m);
    if (MPI_Allreduce(&mine, &p->gen, 1, MPI_UINT64_T, MPI_MAX, ck->comm)) {
        err_set(e, CKPT_EMPI, "MPI failed probing step %" PRId64, step);
        goto out;
    }
    if (mine != 0 && mine == p->gen)
        p->have_local = listed_and_sized(ck, &m, ck->rank, &p->own) &&
                        p->own.own && manifest_index(&m, &p->own, &p->own_idx) == 0;
    else if (mine != 0)
        log_msg(&ck->log, LOG_WARN, "step %" PRId64 " on node %d is an older "
                "save than on other nodes: not used", step, ck->topo.node);
    if (ck->level->probe(ck, p, mine != 0 && mine == p->gen ? &m : NULL, e) != CKPT_OK)
        goto out;
    probe_storage(ck, p);
    if (superseded(ck, p))
        p->have_local = p->level_has = p->in_storage = 0;
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
    wb_fetch_rank(&ck->wb, m, ck->rank, fd, tmp, &digest, e);
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
    if (!ck_all(ck, !need))
        read_smanifest(ck, p);
    if (!ck_all(ck, !need || (p->sm_read && p->sm.generation == p->gen)))
        return NOT_AVAILABLE;
    if (need && read_range(ck, p, e) == CKPT_OK)
        log_msg(&ck->log, LOG_INFO, "step %" PRId64 ": read own data from "
                "storage", p->step);
    return e->code;
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
    regcopy_open(&c, &ck->stored, idx, path, verify);
    return end_copy(ck, &c, 1, second, bad, e);
}

/* Collective: ranks with `need` get a good copy of their data from the
 * cache level (the partner's copy, into a file with to_file, else straight
 * into the buffers while the senders run `own`, their own copy, if not
 * NULL; or rebuilt from the RS group, a file), or else from storage (a
 * file). *in_file says a file was written. CKPT_OK; NOT_AVAILABLE if some rank has none (an older
 * step may do); or an error. */
static int obtain(ckpt_t *ck, probe_t *p, int need, int to_file, regcopy_t *own,
                  int *in_file, ckpt_err_t *e)
{
    int from_cache = need && p->level_has, from_storage, cache_file = 0;
    double t = log_now();
    if (!ck_all(ck, !need || p->level_has || p->in_storage))
        return NOT_AVAILABLE;
    ck->level->fetch(ck, p, from_cache, to_file, own, &cache_file, e);
    log_lap(&ck->log, "restore: from the cache level", &t);
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
    *in_file = from_storage || (from_cache && cache_file);
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
 * file is gone or fails, the cache level gives it back (the partner
 * streams its copy straight into the buffers, checked as it arrives; the
 * RS group rebuilds the file), or else storage supplies the file. Where
 * some rank lost its file, the ranks that have theirs copy them while they
 * wait on the level's transfers (overlap): the data of every rank arrives
 * in about the time of the slowest. With first, every file is checked
 * whole, and a second copy lands in a file, before any byte reaches a
 * buffer. Lost copies are not re-created here (ckpt_wait at
 * CKPT_LEVEL_PARTNER does it): data first. */
static int restore_this(ckpt_t *ck, probe_t *p, ckpt_err_t *e)
{
    char path[PATH_MAX];
    rf_index_t idx = {0};
    regcopy_t own;
    int second = p->level_has || p->in_storage, need, bad = 0;
    int stored = 0, more = 0, overlap;
    int first = ck->cfg.restore_check == CHECK_FIRST, wrote = 0, again = 0, rc;
    double t = log_now();
    if (!ck_all(ck, p->have_local || second))
        return NOT_AVAILABLE;
    need = !p->have_local || (first && !verify_local(ck, p));
    if (!need)
        index_own(ck, p, &idx, path, 0, e);
    if ((rc = settle(ck, p, e)) != CKPT_OK) /* no buffer touched yet */
        goto out;
    log_lap(&ck->log, "restore: index", &t);
    overlap = !first && !ck_all(ck, !need);
    if (!first && !need)
        regcopy_open(&own, &ck->stored, &idx, path, 1);
    if (overlap)
        rc = obtain(ck, p, need, 0, need ? NULL : &own, &stored, e);
    if (!first && !need)
        end_copy(ck, &own, rc == CKPT_OK, second, &bad, e);
    if (rc != CKPT_OK || (rc = settle(ck, p, e)) != CKPT_OK)
        goto out;
    log_lap(&ck->log, "restore: own copy", &t);
    if (!ck_all(ck, !(need && !overlap) && !bad)) {
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
    if (!ck_all(ck, !wrote)) {
        ckpt_err_t why = {0};
        ck->level->relist(ck, p, (!need && !bad) || wrote, wrote, &idx, &why);
        if (err_agree(ck->comm, &why) != CKPT_OK)
            log_msg(&ck->log, LOG_WARN, "step %" PRId64 " restored but the "
                    "files it fetched are not listed: %s", p->step, why.msg);
    }
out:
    rankfile_index_free(&idx);
    return rc != CKPT_OK ? rc : e->code;
}

/* Collective: the step's lost copies re-created in this layout: own files
 * from the cache level or else from storage, then what the level lacks;
 * with `again`, one more pass where the level asks for it after files came
 * from storage (RS parity: this probe does not know that save's sizes). */
static int refill_pass(ckpt_t *ck, int64_t step, int again)
{
    ckpt_err_t *e = &ck->err;
    char path[PATH_MAX];
    rf_index_t idx = {0};
    probe_t p;
    int stored = 0, need, rc, any_stored;
    if (probe_step(ck, step, &p, e) != CKPT_OK)
        return e->code;
    need = !p.have_local;
    /* redundancy made again from a damaged own file (its size right)
     * would spread the damage: rebuilt first, never used */
    if (!need && ck->level->check_own_first(ck, &p))
        need = !verify_local(ck, &p);
    rc = obtain(ck, &p, need, 1, NULL, &stored, e);
    if (rc == NOT_AVAILABLE)
        err_set(e, CKPT_ENOENT, "step %" PRId64 " of job '%s' is not "
                "recoverable", step, ck->cfg.job);
    else if (rc == CKPT_OK)
        index_file(ck, &p, &idx, path, need, e);
    any_stored = !ck_all(ck, !stored);
    if (err_agree(ck->comm, e) == CKPT_OK)
        ck->level->refill(ck, &p, need, any_stored, &idx, e);
    err_agree(ck->comm, e);
    rankfile_index_free(&idx);
    probe_free(&p);
    if (again && e->code == CKPT_OK && ck->level->always_refill && any_stored)
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

/* Collective: the save of another rank count the caches hold, if no save
 * of this rank count is newer than it (s: the newest candidate now). */
static int other_in_cache(ckpt_t *ck, int64_t want, int64_t bound, int64_t s,
                          int64_t *restored, ckpt_err_t *e)
{
    int64_t o = ck->other.step;
    int rc;
    if (ck->other.n == 0 || (want != CKPT_LATEST && want != o) || o > bound ||
        o < s)
        return NOT_AVAILABLE;
    if ((rc = reshape_restore(ck, e)) == CKPT_OK && restored)
        *restored = o;
    if (rc != NOT_AVAILABLE)
        return rc;
    log_msg(&ck->log, LOG_INFO, "step %" PRId64 " of %d ranks is not "
            "recoverable: %s", o, ck->other.nranks, e->msg);
    err_clear(e);
    adopt_forget_other(ck, 0);
    return NOT_AVAILABLE;
}

/* Collective: step s if only storage holds it, saved by another number of
 * ranks (its manifest says so: one GET, which a restore of it from storage
 * makes anyway). */
static int other_in_storage(ckpt_t *ck, int64_t want, int64_t bound, int64_t s,
                            int64_t *restored, ckpt_err_t *e)
{
    smanifest_t sm;
    ckpt_err_t why = {0};
    int rc = NOT_AVAILABLE;
    if (s < 0 || (want != CKPT_LATEST && s != want) || !wb_committed(&ck->wb, s) ||
        newest_candidate(ck, bound, 0) >= s ||
        wb_read_manifest(&ck->wb, s, 0, &sm, &why) != CKPT_OK)
        return NOT_AVAILABLE;
    if (sm.nranks == ck->nranks) { /* this rank count's: the probe's */
        sm_free(&ck->sm_read);
        ck->sm_read = sm;
        return NOT_AVAILABLE;
    }
    if ((rc = reshape_from_storage(ck, &sm, e)) == CKPT_OK && restored)
        *restored = s;
    if (rc == NOT_AVAILABLE)
        log_msg(&ck->log, LOG_INFO, "step %" PRId64 " of %d ranks in storage is "
                "not recoverable: %s", s, sm.nranks, e->msg);
    sm_free(&sm);
    if (rc == NOT_AVAILABLE)
        err_clear(e);
    return rc;
}

int restore_step(ckpt_t *ck, int64_t want, int64_t *restored)
{
    ckpt_err_t *e = &ck->err;
    int64_t bound = want == CKPT_LATEST ? INT64_MAX : want;
    sm_free(&ck->sm_read); /* one a failed restore may have left */
    shape_view(ck, e);
    if (err_agree(ck->comm, e) != CKPT_OK)
        return e->code;
    for (;;) {
        probe_t p;
        int64_t s = newest_candidate(ck, bound, 1);
        int rc = other_in_cache(ck, want, bound, s, restored, e);
        if (rc == NOT_AVAILABLE)
            rc = other_in_storage(ck, want, bound, s, restored, e);
        if (rc != NOT_AVAILABLE)
            return rc;
        if (s < 0 || (want != CKPT_LATEST && s != want))
            break;
        if (probe_step(ck, s, &p, e) != CKPT_OK)
            return e->code;
        rc = restore_this(ck, &p, e);
        probe_free(&p);
        if (rc == CKPT_OK && shape_has_replicated(ck))
            rc = shape_fill(ck, e);
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
    sm_free(&ck->sm_read);
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
        ok = ck_all(ck, p.have_local ||
                         (!own_only && (p.level_has || p.in_storage)));
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

/* ck->other is that step: another rank count's save, newest in the caches */
static int is_other(const ckpt_t *ck, int64_t step)
{
    return ck->other.n > 0 && step == ck->other.step;
}

int query_latest(ckpt_t *ck, int64_t *step)
{
    int rc = newest_usable(ck, 0, step, NULL, NULL);
    if (ck->other.n > 0 && (rc == CKPT_ENOENT || (rc == CKPT_OK && *step < ck->other.step))) {
        err_clear(&ck->err);
        *step = ck->other.step;
        return CKPT_OK;
    }
    return rc;
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
    two = ck->level->covered(ck, &p, 1);
    one = p.have_local || p.level_has;
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
    if (is_other(ck, step)) {
        *level = adopt_other_level(ck);
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
    int redundant = ck->level->redundant(ck);
    /* another rank count's files are not refilled: copied again, they
     * would still be that layout's */
    if (is_other(ck, step))
        return adopt_other_level(ck) >= CKPT_LEVEL_PARTNER ? CKPT_OK
               : err_set(&ck->err, CKPT_ESTATE, "step %" PRId64 " is held as "
                         "files of %d ranks, some on one node only: the next "
                         "save makes a redundant step", step, ck->other.nranks);
    if (cache_level(ck, step, &lowest, &highest) != CKPT_OK)
        return ck->err.code;
    /* two copies (RS: always refilled, so that every lost share is made
     * again); or only in storage, or no redundancy but in storage: the
     * STORAGE level is above PARTNER, and nothing is refilled */
    if ((lowest >= CKPT_LEVEL_PARTNER && !ck->level->always_refill) ||
        ((highest == CKPT_LEVEL_NONE || !redundant) && wb_committed(&ck->wb, step)))
        return CKPT_OK;
    if (!redundant)
        return err_set(&ck->err, CKPT_ESTATE, "step %" PRId64 " cannot reach "
                       "level %d: no %s in this layout", step,
                       CKPT_LEVEL_PARTNER,
                       ck->level->what);
    if (refill_step(ck, step) != CKPT_OK ||
        cache_level(ck, step, &lowest, &highest) != CKPT_OK)
        return ck->err.code;
    if (lowest < CKPT_LEVEL_PARTNER)
        return err_set(&ck->err, CKPT_ESTATE, "step %" PRId64 " is at level %d "
                       "in the caches: its copies could not be re-created",
                       step, lowest);
    return CKPT_OK;
}
