/* ckpt_save: write every rank's file, stream it to the partner at the same
 * time, agree, then commit the node MANIFESTs. A failure anywhere discards
 * the step everywhere; older steps are never touched. */
#include "save_state.h"
#include "level.h"
#include "fileio.h"
#include "killpoint.h"
#include "shape.h"
#include "adopt.h"
#include "plan.h"
#include "rankfile.h"
#include "step.h"
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Streams this rank's data to its file and its partner, and writes the
 * copies its clients send. */
static int stream_step(ckpt_t *ck, save_t *s, ckpt_err_t *e)
{
    const topo_t *t = &ck->topo;
    int fd = fio_open_rewrite(s->tmp);
    if (fd < 0)
        err_sys(e, errno, "open %s", s->tmp);
    s->out = (ostream_t){.peer = t->partner, .plan = &s->plan, .src_fd = -1,
                         .local_fd = fd, .local_path = s->tmp, .idx = &s->idx,
                         .chunk = stream_chunk(t->partner >= 0
                                                   ? topo_fan_in(t, t->partner)
                                                   : 1),
                         .failed = fd < 0 && t->partner < 0};
    for (int k = 0; k < t->nclients; k++) {
        cache_rank_path(&ck->cache, s->step, t->clients[k], 1, s->in_path[k],
                        PATH_MAX);
        cache_take_spare(&ck->cache, s->in_path[k]);
        s->in[k] = (istream_t){.peer = t->clients[k], .path = s->in_path[k]};
    }
    stream_run(ck->comm, &s->out, 1, s->in, t->nclients, NULL, NULL);
    killpoint("save-streamed", ck->rank);
    if (fd >= 0) {
        /* a spare rewritten in place may be longer than this file; a
         * level that works from the written files fsyncs it after, so
         * that the disk writes it meanwhile */
        if (s->out.err.code == CKPT_OK &&
            (ftruncate(fd, (off_t)s->plan.size) != 0 ||
             (!ck->level->sync_after_apply && fsync(fd) != 0)))
            err_sys(&s->out.err, errno, "fsync %s", s->tmp);
        close(fd);
    }
    if (s->out.err.code != CKPT_OK)
        err_set(e, s->out.err.code, "%s", s->out.err.msg);
    for (int k = 0; k < t->nclients; k++)
        if (s->in[k].err.code != CKPT_OK)
            err_set(e, s->in[k].err.code, "copy of rank %d on node %d: %s",
                    t->clients[k], t->node, s->in[k].err.msg);
    return e->code;
}

/* Temporary names become final names; then the directory is synced. */
static int publish_files(ckpt_t *ck, save_t *s, ckpt_err_t *e)
{
    char final[PATH_MAX], dir[PATH_MAX];
    const topo_t *t = &ck->topo;
    for (int k = -1; k < t->nclients && e->code == CKPT_OK; k++) {
        int r = k < 0 ? ck->rank : t->clients[k];
        const char *from = k < 0 ? s->tmp : s->in_path[k];
        cache_rank_path(&ck->cache, s->step, r, 0, final, sizeof final);
        if (rename(from, final) != 0)
            err_sys(e, errno, "rename %s", from);
    }
    if (ck->level->publish && e->code == CKPT_OK)
        ck->level->publish(ck, s, e);
    cache_step_dir(&ck->cache, s->step, dir, sizeof dir);
    return e->code ? e->code : fio_fsync_dir(dir, e);
}

static int commit_step(ckpt_t *ck, save_t *s, ckpt_err_t *e)
{
    const topo_t *t = &ck->topo;
    char *more = NULL;
    size_t len = 0;
    mf_entry_t *mine = malloc(((size_t)t->nclients + 1) * sizeof *mine);
    if (mine == NULL)
        err_set(e, CKPT_ENOMEM, "out of memory committing step");
    if (err_agree(ck->comm, e) != CKPT_OK) {
        free(mine);
        return e->code;
    }
    mine[0] = (mf_entry_t){.rank = ck->rank, .own = 1, .size = s->plan.size,
                           .digest = s->out.digest, .idx = &s->idx};
    if (ck->level->lines)
        ck->level->lines(ck, s, &mine[0], &more, &len, e);
    for (int k = 0; k < t->nclients; k++)
        mine[k + 1] = (mf_entry_t){.rank = t->clients[k], .own = 0,
                                   .size = s->in[k].size,
                                   .digest = s->in[k].digest,
                                   .idx = &s->in[k].idx};
    step_commit_node(ck, s->step, s->generation, mine, t->nclients + 1, more,
                     e);
    free(more);
    free(mine);
    return e->code;
}

static int save_phases(ckpt_t *ck, save_t *s, ckpt_err_t *e)
{
    char skel[PATH_MAX];
    double t = log_now();
    rf_id_t id = {.step = s->step, .generation = s->generation, .rank = ck->rank};
    snprintf(id.job, sizeof id.job, "%s", ck->cfg.job);
    step_prepare(ck, s->step, e);
    if (err_agree(ck->comm, e) != CKPT_OK)
        return e->code;
    killpoint("save-prepared", ck->rank);
    cache_rank_path(&ck->cache, s->step, ck->rank, 1, s->tmp, sizeof s->tmp);
    cache_take_spare(&ck->cache, s->tmp);
    log_lap(&ck->log, "save: prepare", &t);
    /* HDF5 lays the file out in a small skeleton of its own (it truncates
     * what it creates); the plan carries its bytes into s->tmp. */
    cache_step_dir(&ck->cache, s->step, skel, sizeof skel);
    snprintf(skel + strlen(skel), sizeof skel - strlen(skel),
             "/skeleton-%d" CACHE_TMP_SUFFIX, ck->rank);
    rankfile_create(skel, &ck->stored, &id, &s->plan, &s->idx, e);
    unlink(skel);
    if (err_agree(ck->comm, e) != CKPT_OK)
        goto discard;
    log_lap(&ck->log, "save: hash and HDF5 skeleton", &t);
    stream_step(ck, s, e);
    if (err_agree(ck->comm, e) != CKPT_OK)
        goto discard;
    log_lap(&ck->log, "save: write, stream and fsync", &t);
    if (ck->level->apply) {
        ck->level->apply(ck, s, e);
        killpoint("save-parity", ck->rank);
        if (err_agree(ck->comm, e) != CKPT_OK)
            goto discard;
        log_lap(&ck->log, "save: the cache level", &t);
    }
    publish_files(ck, s, e);
    if (err_agree(ck->comm, e) != CKPT_OK)
        goto discard;
    killpoint("save-published", ck->rank);
    log_lap(&ck->log, "save: publish", &t);
    commit_step(ck, s, e);
    killpoint("save-committed", ck->rank);
    if (err_agree(ck->comm, e) == CKPT_OK) {
        log_lap(&ck->log, "save: commit", &t);
        return CKPT_OK;
    }
discard:
    step_discard(ck, s->step);
    return e->code;
}

int save_init_generation(ckpt_t *ck)
{
    uint64_t mine = topo_is_leader(&ck->topo) ? newest_cached_save(ck, INT64_MAX)
                                              : 0;
    if (MPI_Allreduce(&mine, &ck->last_generation, 1, MPI_UINT64_T, MPI_MAX,
                      ck->comm) != MPI_SUCCESS)
        return err_set(&ck->err, CKPT_EMPI, "MPI failed reading the caches");
    return CKPT_OK;
}

/* A save's generation: unique, and larger than every save this handle has
 * seen (at init, every save the caches held: save_init_generation), so that
 * of two saves the newer is known even where clocks differ. Rank 0's clock
 * in milliseconds (good until the year 2527) above 20 random bits. Caches
 * change only through this handle while it lives. */
static int new_generation(ckpt_t *ck, uint64_t *generation, ckpt_err_t *e)
{
    uint64_t g = 0;
    if (ck->rank == 0) {
        struct timespec ts;
        uint32_t salt = 0;
        clock_gettime(CLOCK_REALTIME, &ts);
        if (getrandom(&salt, sizeof salt, GRND_NONBLOCK) != sizeof salt)
            salt = (uint32_t)ts.tv_nsec ^ (uint32_t)getpid();
        uint64_t now = ((uint64_t)ts.tv_sec * 1000 +
                        (uint64_t)ts.tv_nsec / 1000000) << 20 | (salt & 0xfffff);
        g = now > ck->last_generation ? now : ck->last_generation + 1;
    }
    if (MPI_Bcast(&g, 1, MPI_UINT64_T, 0, ck->comm) != MPI_SUCCESS)
        return err_set(e, CKPT_EMPI, "MPI failed starting a save");
    *generation = ck->last_generation = g;
    return CKPT_OK;
}

int save_step(ckpt_t *ck, int64_t step)
{
    const topo_t *t = &ck->topo;
    ckpt_err_t *e = &ck->err;
    save_t s = {.step = step};
    double t0 = log_now();
    int saved;
    s.in = calloc((size_t)t->nclients + 1, sizeof *s.in);
    s.in_path = calloc((size_t)t->nclients + 1, sizeof *s.in_path);
    if (s.in == NULL || s.in_path == NULL)
        err_set(e, CKPT_ENOMEM, "out of memory saving step %" PRId64, step);
    new_generation(ck, &s.generation, e);
    wb_before_save(&ck->wb, step);
    shape_check_save(ck, e);
    saved = err_agree(ck->comm, e) == CKPT_OK && save_phases(ck, &s, e) == CKPT_OK;
    if (saved) {
        int64_t pinned[2];
        int npinned = wb_pinned(&ck->wb, pinned);
        if (topo_is_leader(t))
            cache_retain(&ck->cache, ck->cfg.keep_local, step, pinned, npinned,
                         &ck->log);
        log_msg(&ck->log, LOG_INFO, "saved step %" PRId64 ": %" PRIu64
                " bytes in %.3f s", step, s.plan.size, log_now() - t0);
        if (ck->other.n > 0) /* superseded: its old directories go */
            adopt_forget_other(ck, 1);
    }
    wb_after_save(&ck->wb, saved, step, s.generation, s.plan.size, s.out.digest);
    plan_free(&s.plan);
    rs_state_free(&s.rs);
    rankfile_index_free(&s.idx);
    for (int k = 0; s.in && k < t->nclients; k++)
        rankfile_index_free(&s.in[k].idx);
    free(s.in);
    free(s.in_path);
    return e->code;
}
