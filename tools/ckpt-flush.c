/* ckpt-flush: after the program has ended, upload the newest complete step
 * of this node's cache that storage does not have, and commit it once every
 * node's part is there. Run once per node (an srun step at the end of a
 * batch script); no MPI, no talk between the nodes but
 * through storage:
 *   1. the node object (this node's rank files, checked against their
 *      MANIFEST digests first), under the name a save would have given it;
 *   2. a small "part" object beside it: this node's ranks, sizes, digests;
 *   3. whoever finds every node's part commits the storage manifest (the
 *      same text the program would have written, so two committers write
 *      the same bytes), applies keep_remote below it, removes the parts.
 * A flush supersedes nothing: a cache holding a newer save than storage's
 * newest step is refused, and retention never deletes a later step.
 * Exit status: 0 committed (by this run, another node's, or the program),
 * or nothing newer than storage in the cache; 3 this node's part is in
 * storage and the last node's flush commits; 1 failure; 2 bad usage. */
#include "cache.h"
#include "config.h"
#include "fileio.h"
#include "manifest.h"
#include "part.h"
#include "smanifest.h"
#include "storage.h"
#include "upload.h"
#include "writeback.h"
#include "ckpt.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <libxml/parser.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FL_COMMITTED = 0, FL_FAILED = 1, FL_USAGE = 2, FL_PART = 3 };

typedef struct flush {
    ckpt_config_t cfg;
    int node;          /* --node: the emulated node whose root is read */
    int64_t want;      /* --step, or -1: the newest complete step */
    storage_t *st;
    ckpt_log_t lg;
} flush_t;

/* What one node directory came to, for the exit status of the run. */
typedef struct outcome {
    int rc;
    int64_t step;
    uint64_t generation;
} outcome_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: ckpt-flush [--config FILE] [--node N] [--step S]\n"
               "Uploads this node's newest complete cached step that storage "
               "lacks, and commits\nit once every node's part is in storage. "
               "See ckpt-flush(1).\n");
}

/* One line: progress to stdout, warnings to stderr. */
static void line(FILE *to, const char *tag, const char *fmt, va_list ap)
{
    fprintf(to, "ckpt-flush: %s", tag);
    vfprintf(to, fmt, ap);
    fputc('\n', to);
    fflush(to);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    line(stdout, "", fmt, ap);
    va_end(ap);
}

static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    line(stderr, "warning: ", fmt, ap);
    va_end(ap);
}

/* Node `node`'s part of the step, read strictly; CKPT_ECORRUPT also when it
 * is another job's, step's, save's or node's. */
static int read_part(flush_t *f, int64_t step, uint64_t gen, int node,
                     part_t *p, ckpt_err_t *e)
{
    char name[SM_NAME_MAX], *text = NULL;
    size_t len;
    part_name(f->cfg.job, step, gen, node, name, sizeof name);
    if (storage_get(f->st, name, &text, &len, e) == CKPT_OK &&
        part_parse(text, len, p, e) == CKPT_OK &&
        (strcmp(p->job, f->cfg.job) || p->step != step ||
         p->generation != gen || p->node != node))
        err_set(e, CKPT_ECORRUPT, "flush part %s names another save", name);
    free(text);
    return e->code;
}

/* The newest committed step of the job in *step (-1: none). */
static int newest_committed(flush_t *f, int64_t *step, ckpt_err_t *e)
{
    char prefix[300], **names = NULL;
    int n = 0;
    *step = -1;
    snprintf(prefix, sizeof prefix, SM_PREFIX_FMT, f->cfg.job);
    if (storage_list(f->st, prefix, &names, &n, e) != CKPT_OK)
        return e->code;
    for (int i = 0; i < n; i++) {
        int64_t s = sm_step_of(f->cfg.job, names[i]);
        if (s > *step)
            *step = s;
    }
    storage_names_free(names, n);
    return CKPT_OK;
}

/* 1 and the save's generation if step is committed, 0 if not, -1 (e set)
 * if storage cannot say. */
static int committed_gen(flush_t *f, int64_t step, uint64_t *gen, ckpt_err_t *e)
{
    char name[SM_NAME_MAX], *text = NULL;
    size_t len;
    smanifest_t m = {0};
    ckpt_err_t ge = {0};
    int rc = -1;
    sm_manifest_name(f->cfg.job, step, name, sizeof name);
    if (storage_get(f->st, name, &text, &len, &ge) == CKPT_ENOENT)
        rc = 0;
    else if (ge.code != CKPT_OK)
        err_set(e, ge.code, "%s", ge.msg);
    else if (sm_parse(text, len, &m, e) == CKPT_OK) {
        *gen = m.generation;
        rc = 1;
    }
    sm_free(&m);
    free(text);
    return rc;
}

/* The part this node's MANIFEST makes: its own rank files, ascending. */
static int expected_part(const flush_t *f, const manifest_t *m, part_t *p,
                         ckpt_err_t *e)
{
    int n = 0, k = 0;
    *p = (part_t){.step = m->step, .generation = m->generation,
                  .node = m->node, .nnodes = m->nnodes, .nranks = m->nranks};
    snprintf(p->job, sizeof p->job, "%s", f->cfg.job);
    for (int i = 0; i < m->n; i++)
        n += m->e[i].own && m->e[i].kind == MF_FILE;
    if (n == 0)
        return err_set(e, CKPT_ECORRUPT, "node %d: its MANIFEST of step %" PRId64
                       " lists no rank file of its own", m->node, m->step);
    if (part_alloc(p, n) != 0)
        return err_set(e, CKPT_ENOMEM, "out of memory");
    for (int i = 0; i < m->n; i++) {
        const mf_entry_t *x = &m->e[i];
        int j;
        if (!x->own || x->kind != MF_FILE)
            continue;
        for (j = k++; j > 0 && p->rank[j - 1] > x->rank; j--) {
            p->rank[j] = p->rank[j - 1];
            p->size[j] = p->size[j - 1];
            p->digest[j] = p->digest[j - 1];
        }
        p->rank[j] = x->rank;
        p->size[j] = x->size;
        p->digest[j] = x->digest;
    }
    return CKPT_OK;
}

static int same_part(const part_t *a, const part_t *b)
{
    return a->nnodes == b->nnodes && a->nranks == b->nranks && a->n == b->n &&
           !memcmp(a->rank, b->rank, (size_t)a->n * sizeof *a->rank) &&
           !memcmp(a->size, b->size, (size_t)a->n * sizeof *a->size) &&
           !memcmp(a->digest, b->digest, (size_t)a->n * sizeof *a->digest);
}

/* The node object's sources, each file checked against its digest. */
static int own_files(const cache_t *c, const part_t *p, up_job_t *j,
                     ckpt_err_t *e)
{
    for (int i = 0; i < p->n; i++) {
        uint64_t d = 0;
        char *path = j->src.path[i];
        cache_rank_path(c, p->step, p->rank[i], 0, path, sizeof j->src.path[i]);
        j->src.size[i] = p->size[i];
        if (fio_digest_path(path, p->size[i], &d, e) != CKPT_OK || d != p->digest[i]) {
            err_clear(e);
            return err_set(e, CKPT_ECORRUPT, "%s does not match its MANIFEST "
                           "(damaged): node %d's part of step %" PRId64 " is not "
                           "uploaded", path, p->node, p->step);
        }
    }
    return CKPT_OK;
}

/* The node numbers of the parts in storage; *have counts them. */
static int list_parts(flush_t *f, int64_t step, uint64_t gen, int nnodes,
                      char *seen, int *have, ckpt_err_t *e)
{
    char prefix[SM_NAME_MAX], **names = NULL;
    int n = 0;
    part_name(f->cfg.job, step, gen, -1, prefix, sizeof prefix);
    memset(seen, 0, (size_t)nnodes);
    *have = 0;
    if (storage_list(f->st, prefix, &names, &n, e) != CKPT_OK)
        return e->code;
    for (int i = 0; i < n; i++) {
        int k = part_node_of(prefix, names[i]);
        if (k >= 0 && k < nnodes && !seen[k]) {
            seen[k] = 1;
            (*have)++;
        }
    }
    storage_names_free(names, n);
    return CKPT_OK;
}

static void delete_parts(flush_t *f, int64_t step, uint64_t gen, int nnodes)
{
    char name[SM_NAME_MAX];
    ckpt_err_t e = {0};
    for (int k = 0; k < nnodes && e.code == CKPT_OK; k++) {
        part_name(f->cfg.job, step, gen, k, name, sizeof name);
        storage_delete(f->st, name, &e);
    }
    if (e.code != CKPT_OK)
        warn("the parts of step %" PRId64 " stay in storage: %s", step, e.msg);
}

/* Node k's part, read and checked, its ranks placed into the manifest. */
static int add_part(flush_t *f, smanifest_t *sm, int k, char *placed,
                    ckpt_err_t *e)
{
    part_t p = {0};
    if (read_part(f, sm->step, sm->generation, k, &p, e) != CKPT_OK &&
        e->code != CKPT_ECORRUPT)
        goto out;
    if (e->code != CKPT_OK || p.nnodes != sm->nnodes || p.nranks != sm->nranks) {
        err_clear(e);
        err_set(e, CKPT_ECORRUPT, "the part of node %d of step %" PRId64 " in "
                "storage is damaged or another layout's: run ckpt-flush on "
                "that node again", k, sm->step);
        goto out;
    }
    for (int i = 0; i < p.n && e->code == CKPT_OK; i++) {
        int r = p.rank[i];
        if (placed[r]++)
            err_set(e, CKPT_ECORRUPT, "the parts of step %" PRId64 " place "
                    "rank %d twice", sm->step, r);
        else if (p.size[i] > (uint64_t)INT64_MAX - sm->obj[k].size)
            err_set(e, CKPT_ECORRUPT, "the part of node %d of step %" PRId64
                    " has sizes past any object", k, sm->step);
        sm->r[r] = (sm_range_t){.node = k, .off = sm->obj[k].size,
                                .size = p.size[i], .digest = p.digest[i]};
        sm->obj[k].size += p.size[i];
    }
out:
    part_free(&p);
    return e->code;
}

/* Every object the manifest names is in storage (a node with another
 * prefix_spread would have put its object elsewhere). */
static int objects_there(flush_t *f, const smanifest_t *sm, ckpt_err_t *e)
{
    for (int k = 0; k < sm->nnodes && e->code == CKPT_OK; k++) {
        char **names = NULL;
        int n = 0, found = 0;
        if (storage_list(f->st, sm->obj[k].name, &names, &n, e) != CKPT_OK)
            break;
        for (int i = 0; i < n; i++)
            found |= strcmp(names[i], sm->obj[k].name) == 0;
        storage_names_free(names, n);
        if (!found)
            err_set(e, CKPT_ECORRUPT, "node %d's object %s of step %" PRId64
                    " is not in storage (was prefix_spread the same on every "
                    "node?)", k, sm->obj[k].name, sm->step);
    }
    return e->code;
}

/* The manifest from every node's part: checked as a restore would read it,
 * every object there, no newer step committed meanwhile. */
static int build_manifest(flush_t *f, smanifest_t *sm, up_job_t *j,
                          ckpt_err_t *e)
{
    char *placed = calloc((size_t)sm->nranks, 1), *copy = NULL;
    smanifest_t check = {0};
    int64_t newest;
    if (placed == NULL || sm_alloc(sm, sm->nnodes, sm->nranks) != 0) {
        err_set(e, CKPT_ENOMEM, "out of memory");
        goto out;
    }
    for (int k = 0; k < sm->nnodes && add_part(f, sm, k, placed, e) == CKPT_OK; k++)
        ;
    for (int r = 0; r < sm->nranks && e->code == CKPT_OK; r++)
        if (!placed[r])
            err_set(e, CKPT_ECORRUPT, "no node's part of step %" PRId64
                    " has rank %d", sm->step, r);
    sm_name_objects(sm);
    if (e->code != CKPT_OK || objects_there(f, sm, e) != CKPT_OK ||
        sm_format(sm, &j->text, &j->len, e) != CKPT_OK)
        goto out;
    if ((copy = malloc(j->len)) == NULL) {
        err_set(e, CKPT_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(copy, j->text, j->len);
    if (sm_parse(copy, j->len, &check, e) == CKPT_OK &&
        newest_committed(f, &newest, e) == CKPT_OK && newest > sm->step)
        err_set(e, CKPT_ESTATE, "step %" PRId64 " was committed meanwhile: "
                "step %" PRId64 " is not", newest, sm->step);
out:
    sm_free(&check);
    free(copy);
    free(placed);
    return e->code;
}

/* Every node's part is in storage: the manifest, then retention, which
 * leaves later steps alone (a flush supersedes nothing). */
static int commit(flush_t *f, const part_t *mine, ckpt_err_t *e)
{
    smanifest_t sm = {.step = mine->step, .generation = mine->generation,
                      .spread = f->cfg.prefix_spread, .nnodes = mine->nnodes,
                      .nranks = mine->nranks};
    up_job_t *j = upload_job_new(JOB_COMMIT, mine->step, 0);
    uint64_t bytes = 0;
    snprintf(sm.job, sizeof sm.job, "%s", f->cfg.job);
    if (j == NULL) {
        err_set(e, CKPT_ENOMEM, "out of memory");
        goto out;
    }
    if (build_manifest(f, &sm, j, e) != CKPT_OK)
        goto out;
    sm_manifest_name(f->cfg.job, sm.step, j->name, sizeof j->name);
    snprintf(j->job, sizeof j->job, "%s", f->cfg.job);
    j->keep_remote = f->cfg.keep_remote;
    j->keep_newer = 1;
    if (upload_run(f->st, &f->lg, j, e) != CKPT_OK)
        goto out;
    for (int k = 0; k < sm.nnodes; k++)
        bytes += sm.obj[k].size;
    say("committed step %" PRId64 ": %d nodes, %d ranks, %.1f MiB", sm.step,
        sm.nnodes, sm.nranks, (double)bytes / (1 << 20));
    delete_parts(f, sm.step, sm.generation, sm.nnodes);
out:
    upload_job_free(j);
    sm_free(&sm);
    return e->code;
}

/* Parts of other steps or saves of the job in storage: the nodes disagree
 * on their newest step (a job killed in the middle of a save). */
static void other_parts(flush_t *f, const part_t *mine)
{
    char prefix[300], here[SM_NAME_MAX], **names = NULL;
    ckpt_err_t e = {0};
    int n = 0, others = 0;
    snprintf(prefix, sizeof prefix, "%s/flush/", f->cfg.job);
    part_name(f->cfg.job, mine->step, mine->generation, -1, here, sizeof here);
    if (storage_list(f->st, prefix, &names, &n, &e) != CKPT_OK)
        return;
    for (int i = 0; i < n; i++)
        if (strncmp(names[i], here, strlen(here)) != 0 && others++ == 0)
            warn("storage holds parts of another save too (%s): if the nodes "
                 "disagree on their newest step, see ckpt-ls and flush the "
                 "newest step all of them hold with --step", names[i]);
    storage_names_free(names, n);
}

/* 0: the step is committed as this save (generation); 1: not yet; -1:
 * failure (e), another save of the step committed among them. */
static int settled(flush_t *f, int64_t step, uint64_t generation, ckpt_err_t *e)
{
    uint64_t gen = 0;
    int c = committed_gen(f, step, &gen, e);
    if (c == 1 && gen != generation)
        err_set(e, CKPT_ESTATE, "another save of step %" PRId64 " (generation "
                "%016" PRIx64 ") is committed; this one is not", step, gen);
    return c < 0 || e->code ? -1 : c == 1 ? 0 : 1;
}

/* After this node's part is in: commits if every part is, else FL_PART. A
 * part missing from the listing, or gone while read, may be one another
 * node's commit removed: the manifest is looked for at the end too. */
static int try_commit(flush_t *f, const part_t *p, ckpt_err_t *e)
{
    char *seen = malloc((size_t)p->nnodes);
    ckpt_err_t ce = {0};
    int have = 0, mine = 0, s;
    if (seen == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory"), FL_FAILED;
    if (settled(f, p->step, p->generation, e) == 1 &&
        list_parts(f, p->step, p->generation, p->nnodes, seen, &have, e) == CKPT_OK &&
        have == p->nnodes)
        mine = commit(f, p, &ce) == CKPT_OK;
    free(seen);
    if (mine)
        return FL_COMMITTED;
    if (e->code != CKPT_OK || ce.code == CKPT_ESTATE ||
        (s = settled(f, p->step, p->generation, e)) < 0) {
        if (e->code == CKPT_OK)
            *e = ce;
        return FL_FAILED;
    }
    if (s == 0) {
        say("step %" PRId64 " is committed in storage", p->step);
        delete_parts(f, p->step, p->generation, p->nnodes);
        return FL_COMMITTED;
    }
    if (ce.code != CKPT_OK) {
        *e = ce;
        return FL_FAILED;
    }
    say("node %d: step %" PRId64 ": %d of %d nodes' parts are in storage; the "
        "last node's ckpt-flush commits it", p->node, p->step, have, p->nnodes);
    other_parts(f, p);
    return FL_PART;
}

/* The node object from the checked files, then the part. */
static int upload_part(flush_t *f, const cache_t *c, const part_t *p,
                       ckpt_err_t *e)
{
    up_job_t *j = upload_job_new(JOB_OBJECT, p->step, p->n);
    char name[SM_NAME_MAX], *text = NULL;
    size_t len;
    uint64_t bytes = 0;
    double t0;
    if (j == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory");
    if (own_files(c, p, j, e) != CKPT_OK)
        goto out;
    for (int i = 0; i < p->n; i++)
        bytes += p->size[i];
    sm_object_name(f->cfg.job, p->step, p->generation, p->node,
                   f->cfg.prefix_spread, j->name, sizeof j->name);
    say("node %d: step %" PRId64 ": uploading %d rank files, %.1f MiB", p->node,
        p->step, p->n, (double)bytes / (1 << 20));
    t0 = log_now();
    if (upload_run(f->st, &f->lg, j, e) != CKPT_OK)
        goto out;
    say("node %d: step %" PRId64 ": uploaded in %.2f s (%.1f MB/s)", p->node,
        p->step, log_now() - t0, (double)bytes / 1e6 / (log_now() - t0 + 1e-9));
    part_name(f->cfg.job, p->step, p->generation, p->node, name, sizeof name);
    if (part_format(p, &text, &len, e) == CKPT_OK)
        storage_put(f->st, name, text, len, e);
out:
    free(text);
    upload_job_free(j);
    return e->code;
}

/* 1 if this node's part is in storage already and says what the MANIFEST
 * does (a flush that ran before, or at the same time); anything else is
 * written again. */
static int part_there(flush_t *f, const part_t *want)
{
    ckpt_err_t e = {0};
    part_t p = {0};
    int yes = read_part(f, want->step, want->generation, want->node, &p, &e) ==
              CKPT_OK && same_part(&p, want);
    part_free(&p);
    return yes;
}

/* Whether storage already holds this save or a later one: FL_COMMITTED
 * (nothing to do), FL_FAILED (the cache holds a newer save than storage's
 * newest committed step, which a flush does not supersede), or -1: go on. */
static int against_storage(flush_t *f, const part_t *p, ckpt_err_t *e)
{
    int64_t t;
    uint64_t gt = 0;
    int c;
    if (newest_committed(f, &t, e) != CKPT_OK)
        return FL_FAILED;
    if (t < p->step)
        return -1;
    if ((c = committed_gen(f, t, &gt, e)) < 0)
        return FL_FAILED;
    if (c == 0) /* deleted meanwhile: look again next run */
        return err_set(e, CKPT_ESTATE, "storage changed while read"), FL_FAILED;
    if (t == p->step && gt == p->generation) {
        say("node %d: step %" PRId64 " is in storage already", p->node, p->step);
        return FL_COMMITTED;
    }
    if (gt < p->generation)
        return err_set(e, CKPT_ESTATE, "node %d: the cache holds a newer save "
                       "of step %" PRId64 " than storage's newest, step %" PRId64
                       ", which ckpt-flush does not supersede (the next run of "
                       "the job restores from the cache, and its first upload "
                       "does)", p->node, p->step, t), FL_FAILED;
    say("node %d: step %" PRId64 " is older than the newest save in storage "
        "(step %" PRId64 "): nothing to flush", p->node, p->step, t);
    return FL_COMMITTED;
}

/* The step this node directory flushes: --step, or its newest complete. */
static int pick_step(flush_t *f, const cache_t *c, int node, int64_t *step,
                     ckpt_err_t *e)
{
    int64_t *steps = NULL;
    int n = 0;
    *step = -1;
    if (f->want >= 0) {
        *step = f->want;
        return CKPT_OK;
    }
    if (cache_list_steps(c, 1, &steps, &n, e) != CKPT_OK)
        return e->code;
    if (n > 0)
        *step = steps[0];
    else
        say("node %d: no complete step in the cache: nothing to flush", node);
    free(steps);
    return CKPT_OK;
}

/* One node directory of the root: its step to storage. */
static int flush_node(flush_t *f, const char *root, int node, outcome_t *out)
{
    cache_t c;
    manifest_t m = {0};
    part_t p = {0};
    ckpt_err_t e = {0};
    char dir[PATH_MAX];
    int rc = FL_FAILED;
    cache_init(&c, root, f->cfg.job, node);
    if (pick_step(f, &c, node, &out->step, &e) != CKPT_OK)
        goto done;
    if (out->step < 0) {
        rc = FL_COMMITTED;
        goto done;
    }
    cache_step_dir(&c, out->step, dir, sizeof dir);
    if (manifest_read(dir, &m, &e) != CKPT_OK)
        goto done;
    if (strcmp(m.job, f->cfg.job) || m.step != out->step || m.node != node) {
        err_set(&e, CKPT_ECORRUPT, "%s/MANIFEST is another step's", dir);
        goto done;
    }
    out->generation = m.generation;
    if (expected_part(f, &m, &p, &e) != CKPT_OK ||
        (rc = against_storage(f, &p, &e)) >= 0)
        goto done;
    rc = FL_FAILED;
    if (part_there(f, &p))
        say("node %d: step %" PRId64 ": this node's part is in storage already",
            node, out->step);
    else if (upload_part(f, &c, &p, &e) != CKPT_OK)
        goto done;
    rc = try_commit(f, &p, &e);
done:
    if (rc == FL_FAILED)
        fprintf(stderr, "ckpt-flush: node %d: %s\n", node,
                e.code ? e.msg : "failed");
    part_free(&p);
    manifest_free(&m);
    return out->rc = rc;
}

static int flush_root(flush_t *f)
{
    ckpt_err_t e = {0};
    int64_t *nodes = NULL;
    outcome_t *o = NULL;
    int n = 0, rc = FL_COMMITTED;
    if (cache_list_nodes(f->cfg.cache_dir, f->cfg.job, &nodes, &n, &e) != CKPT_OK ||
        n == 0 || (o = calloc((size_t)n, sizeof *o)) == NULL) {
        fprintf(stderr, "ckpt-flush: no job '%s' under %s%s%s\n", f->cfg.job,
                f->cfg.cache_dir, e.code ? ": " : "", e.code ? e.msg : "");
        free(nodes);
        return FL_FAILED;
    }
    for (int i = 0; i < n; i++) {
        int r = flush_node(f, f->cfg.cache_dir, (int)nodes[i], &o[i]);
        if (r == FL_FAILED || (r == FL_PART && rc == FL_COMMITTED))
            rc = r;
    }
    /* A later node of this root may have committed an earlier one's step. */
    if (rc == FL_PART) {
        rc = FL_COMMITTED;
        for (int i = 0; i < n && rc == FL_COMMITTED; i++) {
            ckpt_err_t se = {0};
            if (o[i].rc == FL_PART && settled(f, o[i].step, o[i].generation, &se) != 0)
                rc = FL_PART;
        }
    }
    free(o);
    free(nodes);
    return rc;
}

static int setup(flush_t *f, const char *config, ckpt_err_t *e)
{
    st_params_t p;
    if (config_load(&f->cfg, config, e) != CKPT_OK)
        return FL_USAGE;
    f->lg = (ckpt_log_t){.rank = f->node >= 0 ? f->node : 0,
                         .verbose = f->cfg.verbose};
    if (f->cfg.storage_url[0] == '\0')
        return err_set(e, CKPT_ECONFIG, "no storage_url in the configuration "
                       "(or CKPT_STORAGE_URL): nothing to flush to"), FL_USAGE;
    if ((strstr(f->cfg.cache_dir, "%n") != NULL) != (f->node >= 0))
        return err_set(e, CKPT_ECONFIG, f->node >= 0 ? "--node is for a "
                       "cache_dir with %%n (one root per emulated node)" :
                       "cache_dir has %%n: say which node's root with --node"),
               FL_USAGE;
    if (f->node >= 0 && config_node_root(&f->cfg, f->node) != 0)
        return err_set(e, CKPT_ECONFIG, "cache_dir: too long with the node "
                       "number"), FL_USAGE;
    wb_params(&f->cfg, &p);
    if (storage_open(&f->st, &p, e) != CKPT_OK)
        return e->code == CKPT_ECONFIG ? FL_USAGE : FL_FAILED;
    return FL_COMMITTED;
}

/* A whole decimal number in [0, max], or -1. */
static int64_t number(const char *s, int64_t max)
{
    char *end;
    long long v;
    errno = 0;
    v = strtoll(s, &end, 10);
    return end == s || *end || errno || v < 0 || v > max || s[0] == '-' ||
           s[0] == '+' || s[0] == ' ' ? -1 : (int64_t)v;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"node", required_argument, NULL, 'n'},
        {"step", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    flush_t f = {.node = -1, .want = -1};
    const char *config = NULL;
    ckpt_err_t e = {0};
    int c, rc, bad = 0;
    while ((c = getopt_long(argc, argv, "c:n:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'n': bad |= (f.node = (int)number(optarg, INT_MAX)) < 0; break;
        case 's': bad |= (f.want = number(optarg, INT64_MAX)) < 0; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return FL_USAGE;
        }
    }
    if (optind < argc || bad) {
        usage(stderr);
        return FL_USAGE;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    xmlInitParser();
    if ((rc = setup(&f, config, &e)) == FL_COMMITTED)
        rc = flush_root(&f);
    else
        fprintf(stderr, "ckpt-flush: %s\n", e.msg);
    storage_close(f.st);
    xmlCleanupParser();
    curl_global_cleanup();
    return rc;
}
