#include "writeback.h"
#include "fileio.h"
#include "smanifest.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <libxml/parser.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { PH_OBJECTS, PH_COMMIT };

/* How long ckpt_init waits for storage to answer before going on without
 * knowing what it holds (uploads keep retrying in the background). */
#define INIT_LIST_TIMEOUT 30
#define POLL_NAP_US 10000

static const wb_step_t no_step = {.step = -1};

int wb_active(const wb_t *w)
{
    return w->st != NULL;
}

int wb_committed(const wb_t *w, int64_t step)
{
    for (int i = 0; i < w->ncommitted; i++)
        if (w->committed[i] == step)
            return 1;
    return 0;
}

int64_t wb_newest_committed(const wb_t *w, int64_t bound)
{
    for (int i = w->ncommitted - 1; i >= 0; i--)
        if (w->committed[i] <= bound)
            return w->committed[i];
    return -1;
}

int wb_pinned(const wb_t *w, int64_t *steps)
{
    int n = 0;
    if (w->cur.step >= 0)
        steps[n++] = w->cur.step;
    if (w->next.step >= 0)
        steps[n++] = w->next.step;
    return n;
}

static void add_committed(wb_t *w, int64_t step)
{
    int i;
    if (wb_committed(w, step))
        return;
    if (w->ncommitted == w->cap) {
        int cap = w->cap ? 2 * w->cap : 16;
        int64_t *v = realloc(w->committed, (size_t)cap * sizeof *v);
        if (v == NULL)
            return; /* only costs a storage read that will find the step */
        w->committed = v;
        w->cap = cap;
    }
    for (i = w->ncommitted; i > 0 && w->committed[i - 1] > step; i--)
        w->committed[i] = w->committed[i - 1];
    w->committed[i] = step;
    w->ncommitted++;
}

/* Forgets committed steps >= from; returns how many there were. */
static int forget_from(wb_t *w, int64_t from)
{
    int n = w->ncommitted;
    while (w->ncommitted > 0 && w->committed[w->ncommitted - 1] >= from)
        w->ncommitted--;
    return n - w->ncommitted;
}

/* What retention deletes after committing `step`: every step after it, and
 * the oldest beyond keep_remote (see upload.c's retain). */
static void forget_retained(wb_t *w, int64_t step, int keep_remote)
{
    int drop;
    forget_from(w, step + 1);
    if (keep_remote <= 0 || (drop = w->ncommitted - keep_remote) <= 0)
        return;
    memmove(w->committed, w->committed + drop,
            (size_t)keep_remote * sizeof *w->committed);
    w->ncommitted = keep_remote;
}

/* Failures of steps >= from no longer count: those steps are saved anew. */
static int forget_failures_from(wb_t *w, int64_t from)
{
    int n = w->nfailed < WB_FAILED_MAX ? w->nfailed : WB_FAILED_MAX, any = 0;
    for (int i = 0; i < n; i++)
        if (w->failed[i] >= from) {
            w->failed[i] = -1;
            any = 1;
        }
    return any;
}

static const ckpt_err_t *failure_of(const wb_t *w, int64_t step)
{
    int n = w->nfailed < WB_FAILED_MAX ? w->nfailed : WB_FAILED_MAX;
    for (int i = 0; i < n; i++)
        if (w->failed[i] == step)
            return &w->failed_err[i];
    return NULL;
}

static void step_free(wb_step_t *s)
{
    upload_job_free(s->job);
    free(s->info);
    *s = no_step;
}

/* This node's leader uploads one node object: its own node's, or, every
 * other step, that of the node whose partner it is; the files are in this
 * node's directory either way. */
static void start(wb_t *w, wb_step_t *s)
{
    const topo_t *t = w->env.topo;
    int node, first, count;
    up_job_t *j;
    s->phase = PH_OBJECTS;
    s->alt = (w->nuploads++ % 2) && t->distance > 0;
    s->t0 = log_now();
    if (!topo_is_leader(t))
        return;
    node = s->alt ? ((t->node - t->distance) % t->nnodes + t->nnodes) % t->nnodes
                  : t->node;
    first = t->first[node];
    count = t->first[node + 1] - first;
    if ((j = upload_job_new(JOB_OBJECT, s->step, count)) == NULL) {
        err_set(&s->err, CKPT_ENOMEM, "out of memory queueing an upload");
        return;
    }
    sm_object_name(w->env.cfg->job, s->step, s->generation, node,
                   w->env.cfg->prefix_spread, j->name, sizeof j->name);
    for (int k = 0; k < count; k++) {
        cache_rank_path(w->env.cache, s->step, t->members[first + k], 0,
                        j->src.path[k], sizeof j->src.path[k]);
        fio_file_size(j->src.path[k], &j->src.size[k]); /* else: fails on open */
    }
    upload_submit(w->up, j);
    s->job = j;
}

/* Collective: the step goes to storage, now or after the current one. */
static void schedule(wb_t *w, int64_t step, uint64_t generation,
                     uint64_t size, uint64_t digest)
{
    wb_step_t s = {.step = step, .generation = generation};
    uint64_t mine[2] = {size, digest};
    if (w->env.rank == 0 &&
        (s.info = malloc(2 * sizeof *s.info * (size_t)w->env.nranks)) == NULL)
        err_set(&s.err, CKPT_ENOMEM, "out of memory queueing step %" PRId64, step);
    MPI_Bcast(&s.err.code, 1, MPI_INT, 0, w->env.comm);
    if (s.err.code == CKPT_OK)
        MPI_Gather(mine, 2, MPI_UINT64_T, s.info, 2, MPI_UINT64_T, 0, w->env.comm);
    if (w->cur.step < 0) {
        w->cur = s;
        start(w, &w->cur);
        return;
    }
    if (w->next.step >= 0)
        log_msg(w->env.log, w->env.rank == 0 ? LOG_NOTE : LOG_DEBUG, "step %" PRId64
                " is not uploaded: step %" PRId64 " is newer and takes its "
                "place while step %" PRId64 " uploads", w->next.step, step,
                w->cur.step);
    step_free(&w->next);
    w->next = s;
}

/* Rank 0 writes the manifest from what every rank told it at save time. */
static void commit(wb_t *w, wb_step_t *s)
{
    const topo_t *t = w->env.topo;
    smanifest_t m = {.step = s->step, .generation = s->generation,
                     .spread = w->env.cfg->prefix_spread};
    up_job_t *j;
    s->phase = PH_COMMIT;
    if (w->env.rank != 0)
        return;
    if ((j = upload_job_new(JOB_COMMIT, s->step, 0)) == NULL ||
        sm_alloc(&m, t->nnodes, w->env.nranks) != 0) {
        err_set(&s->err, CKPT_ENOMEM, "out of memory committing a step");
        goto out;
    }
    snprintf(m.job, sizeof m.job, "%s", w->env.cfg->job);
    sm_name_objects(&m);
    for (int n = 0; n < t->nnodes; n++) {
        for (int k = t->first[n]; k < t->first[n + 1]; k++) {
            int r = t->members[k];
            m.r[r] = (sm_range_t){.node = n, .off = m.obj[n].size,
                                  .size = s->info[2 * r],
                                  .digest = s->info[2 * r + 1]};
            m.obj[n].size += s->info[2 * r];
        }
    }
    if (sm_format(&m, &j->text, &j->len, &s->err) != CKPT_OK)
        goto out;
    sm_manifest_name(w->env.cfg->job, s->step, j->name, sizeof j->name);
    snprintf(j->job, sizeof j->job, "%s", w->env.cfg->job);
    j->keep_remote = w->env.cfg->keep_remote;
    upload_submit(w->up, j);
    s->job = j;
    j = NULL;
out:
    upload_job_free(j);
    sm_free(&m);
}

static void advance(wb_t *w)
{
    step_free(&w->cur);
    w->cur = w->next;
    w->next = no_step;
    if (w->cur.step >= 0)
        start(w, &w->cur);
}

static void give_up(wb_t *w, const ckpt_err_t *why)
{
    int i = w->nfailed++ % WB_FAILED_MAX;
    w->failed[i] = w->cur.step;
    w->failed_err[i] = *why;
    log_msg(w->env.log, w->env.rank == 0 ? LOG_WARN : LOG_DEBUG, "step %" PRId64
            " did not reach storage (it stays in the cache): %s", w->cur.step,
            why->msg);
}

/* At verbose >= 2, each rank that talks to storage prints its counters. */
static void log_counters(wb_t *w, const char *when)
{
    st_stats_t s;
    char line[700];
    uint64_t any = 0;
    storage_stats(w->st, &s);
    for (int op = 0; op < OP_COUNT; op++)
        any += s.requests[op];
    if (any == 0)
        return;
    storage_stats_line(&s, line, sizeof line);
    log_msg(w->env.log, LOG_INFO, "storage requests %s: %s", when, line);
}

static void committed(wb_t *w)
{
    uint64_t bytes = 0;
    for (int r = 0; w->env.rank == 0 && r < w->env.nranks; r++)
        bytes += w->cur.info[2 * r];
    add_committed(w, w->cur.step);
    forget_retained(w, w->cur.step, w->env.cfg->keep_remote);
    if (w->env.rank == 0)
        log_msg(w->env.log, w->env.cfg->verbose >= 1 && w->finalizing ? LOG_NOTE
                : LOG_INFO, "step %" PRId64 " is in storage: %.1f MiB in %d "
                "objects, %.2f s after it was queued", w->cur.step,
                (double)bytes / (1 << 20), w->env.topo->nnodes,
                log_now() - w->cur.t0);
    log_counters(w, "so far");
}

void wb_poll(wb_t *w)
{
    wb_step_t *s = &w->cur;
    ckpt_err_t je = s->err;
    int state, v[2], any[2];
    if (w->st == NULL || s->step < 0)
        return;
    state = s->job ? upload_state(w->up, s->job, &je)
                   : je.code ? JOB_FAILED : JOB_DONE;
    v[0] = state == JOB_BUSY;
    v[1] = state == JOB_FAILED;
    MPI_Allreduce(v, any, 2, MPI_INT, MPI_MAX, w->env.comm);
    if (any[0])
        return; /* even after a failure: jobs still running hold the files */
    upload_job_free(s->job);
    s->job = NULL;
    if (any[1]) {
        err_agree(w->env.comm, &je);
        give_up(w, &je);
        advance(w);
    } else if (s->phase == PH_OBJECTS) {
        commit(w, s);
    } else {
        committed(w);
        advance(w);
    }
}

/* Rank 0 queues the removal from storage of steps >= step, ahead of any
 * later commit (its upload thread runs jobs in order). */
static void retract(wb_t *w, int64_t step)
{
    up_job_t *j;
    if (w->env.rank != 0)
        return;
    if ((j = upload_job_new(JOB_RETRACT, step, 0)) == NULL) {
        log_msg(w->env.log, LOG_WARN, "out of memory: steps from %" PRId64
                " on stay in storage although superseded", step);
        return;
    }
    snprintf(j->job, sizeof j->job, "%s", w->env.cfg->job);
    j->detached = 1;
    upload_submit(w->up, j);
}

void wb_before_save(wb_t *w, int64_t step)
{
    int stale;
    if (w->st == NULL)
        return;
    if (w->next.step >= step)
        step_free(&w->next); /* superseded before its turn */
    while (w->cur.step >= step) {
        usleep(POLL_NAP_US);
        wb_poll(w);
    }
    stale = forget_from(w, step) > 0;
    stale |= forget_failures_from(w, step); /* a failed commit may have landed */
    if (stale || w->list_unknown)
        retract(w, step);
    /* The upload waits while the program is stalled in the save. */
    storage_hold(w->st, 1);
}

void wb_after_save(wb_t *w, int saved, int64_t step, uint64_t generation,
                   uint64_t size, uint64_t digest)
{
    if (w->st == NULL)
        return;
    storage_hold(w->st, 0);
    if (!saved)
        return;
    w->last_saved = step;
    w->last_generation = generation;
    w->last_size = size;
    w->last_digest = digest;
    if (++w->nsaved % w->env.cfg->persist_every == 0)
        schedule(w, step, generation, size, digest);
}

int wb_wait(wb_t *w, int64_t step)
{
    const ckpt_err_t *f;
    for (;;) {
        wb_poll(w);
        if (wb_committed(w, step))
            return CKPT_OK;
        if ((f = failure_of(w, step)) != NULL)
            return err_set(w->env.err, CKPT_ESTORAGE, "step %" PRId64 " did not "
                           "reach storage: %s", step, f->msg);
        if (w->st == NULL || (w->cur.step != step && w->next.step != step))
            return err_set(w->env.err, CKPT_ESTATE, "step %" PRId64 " is not "
                           "going to storage (%s)", step, w->st == NULL
                           ? "mode = cache" : "not queued: see persist_every");
        usleep(POLL_NAP_US);
    }
}

/* Rank 0 lists the job's committed steps; every rank gets the list. A
 * refusal (credentials, container) fails; storage that is down only warns. */
static int list_committed(wb_t *w, ckpt_err_t *e)
{
    char prefix[300], **names = NULL;
    int n = 0, old;
    if (w->env.rank == 0) {
        snprintf(prefix, sizeof prefix, SM_PREFIX_FMT, w->env.cfg->job);
        old = storage_set_timeout(w->st, w->env.cfg->storage_timeout < INIT_LIST_TIMEOUT
                                             ? w->env.cfg->storage_timeout
                                             : INIT_LIST_TIMEOUT);
        if (storage_list(w->st, prefix, &names, &n, e) != CKPT_OK &&
            storage_is_down(e)) {
            log_msg(w->env.log, LOG_WARN, "storage does not answer; going on "
                    "with the cache only for now: %s", e->msg);
            err_clear(e);
            w->list_unknown = 1;
        }
        storage_set_timeout(w->st, old);
        for (int i = 0; i < n; i++) {
            int64_t s = sm_step_of(w->env.cfg->job, names[i]);
            if (s >= 0)
                add_committed(w, s);
        }
        storage_names_free(names, n);
    }
    if (err_agree(w->env.comm, e) != CKPT_OK)
        return e->code;
    MPI_Bcast(&w->ncommitted, 1, MPI_INT, 0, w->env.comm);
    if (w->env.rank != 0 && w->ncommitted > 0) {
        w->cap = w->ncommitted;
        if ((w->committed = malloc((size_t)w->cap * sizeof *w->committed)) == NULL)
            err_set(e, CKPT_ENOMEM, "out of memory listing storage");
    }
    if (err_agree(w->env.comm, e) == CKPT_OK && w->ncommitted > 0)
        MPI_Bcast(w->committed, w->ncommitted, MPI_INT64_T, 0, w->env.comm);
    return e->code;
}

void wb_resume(wb_t *w, int64_t step, uint64_t generation,
               const mf_entry_t *own)
{
    if (w->st == NULL || step <= wb_newest_committed(w, INT64_MAX))
        return;
    log_msg(w->env.log, w->env.rank == 0 ? LOG_NOTE : LOG_DEBUG, "step %" PRId64
            " is in the cache but not in storage: uploading it", step);
    w->last_saved = step;
    w->last_generation = generation;
    w->last_size = own->size;
    w->last_digest = own->digest;
    schedule(w, step, generation, own->size, own->digest);
}

void wb_params(const ckpt_config_t *c, st_params_t *p)
{
    *p = (st_params_t){.url = c->storage_url, .account = c->storage_account,
                       .key = c->storage_key, .sas = c->storage_sas,
                       .block_size = (uint64_t)c->upload_block_size_mib << 20,
                       .concurrency = c->upload_concurrency,
                       .read_concurrency = c->download_concurrency,
                       .timeout = c->storage_timeout};
}

int wb_init(wb_t *w, const wb_env_t *env)
{
    ckpt_err_t *e;
    const ckpt_config_t *c = env->cfg;
    st_params_t p;
    wb_params(c, &p);
    w->env = *env;
    e = env->err;
    w->cur = w->next = no_step;
    w->last_saved = -1;
    if (c->mode != MODE_WRITEBACK)
        return CKPT_OK;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    xmlInitParser();
    w->curl = 1;
    if (storage_open(&w->st, &p, e) == CKPT_OK && topo_is_leader(w->env.topo) &&
        (w->up = upload_start(w->st, w->env.log)) == NULL)
        err_set(e, CKPT_ENOMEM, "cannot start the upload thread");
    if (err_agree(w->env.comm, e) != CKPT_OK)
        return e->code;
    return list_committed(w, e);
}

void wb_free(wb_t *w)
{
    upload_stop(w->up); /* waits for queued jobs, which hold the steps' memory */
    w->up = NULL;
    step_free(&w->cur);
    step_free(&w->next);
    storage_close(w->st);
    w->st = NULL;
    free(w->committed);
    w->committed = NULL;
    w->ncommitted = w->cap = 0;
    if (w->curl)
        curl_global_cleanup();
    w->curl = 0;
}

int wb_finalize(wb_t *w)
{
    ckpt_err_t first = {0};
    int64_t s = w->last_saved;
    if (w->st == NULL)
        return CKPT_OK;
    w->finalizing = 1;
    wb_poll(w);
    if (s >= 0 && !wb_committed(w, s) && w->cur.step != s && w->next.step != s) {
        log_msg(w->env.log, w->env.rank == 0 ? LOG_NOTE : LOG_DEBUG, "uploading "
                "step %" PRId64 ", the newest, before the job ends", s);
        schedule(w, s, w->last_generation, w->last_size, w->last_digest);
    }
    while ((s = w->cur.step) >= 0) {
        log_msg(w->env.log, w->env.rank == 0 ? LOG_NOTE : LOG_DEBUG, "waiting for "
                "step %" PRId64 " to reach storage", s);
        if (wb_wait(w, s) != CKPT_OK && first.code == CKPT_OK)
            first = *w->env.err;
    }
    log_counters(w, "in this run");
    if (first.code != CKPT_OK)
        *w->env.err = first;
    return first.code;
}
