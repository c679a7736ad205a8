/* ckpt-flush: after the program has ended, upload the newest complete step
 * of this node's cache that storage does not have, and commit it once every
 * node's part is there. Run once per node (an srun step at the end of a
 * batch script, or an epilog); no MPI, no talk between the nodes but
 * through storage:
 *   1. the node object (this node's rank files, checked against their
 *      MANIFEST digests first), under the name a save would have given it;
 *   2. a small "part" object beside it: this node's ranks, sizes, digests;
 *   3. whoever finds every node's part commits the storage manifest (the
 *      same text the program would have written, so two committers write
 *      the same bytes), applies keep_remote, and removes the parts.
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
#include <getopt.h>
#include <inttypes.h>
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
    int64_t committed; /* newest step committed in storage, or -1 */
} flush_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: ckpt-flush [--config FILE] [--node N] [--step S]\n"
               "Uploads this node's newest complete cached step that storage "
               "lacks, and commits\nit once every node's part is in storage. "
               "See ckpt-flush(1).\n");
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ckpt-flush: ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
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

/* The newest committed step of the job (-1: none). */
static int read_committed(flush_t *f, ckpt_err_t *e)
{
    char prefix[300], **names = NULL;
    int n = 0;
    f->committed = -1;
    snprintf(prefix, sizeof prefix, SM_PREFIX_FMT, f->cfg.job);
    if (storage_list(f->st, prefix, &names, &n, e) != CKPT_OK)
        return e->code;
    for (int i = 0; i < n; i++) {
        int64_t s = sm_step_of(f->cfg.job, names[i]);
        if (s > f->committed)
            f->committed = s;
    }
    storage_names_free(names, n);
    return CKPT_OK;
}

static int is_committed(flush_t *f, int64_t step)
{
    ckpt_err_t e = {0};
    char name[SM_NAME_MAX], *text = NULL;
    size_t len;
    int yes;
    sm_manifest_name(f->cfg.job, step, name, sizeof name);
    yes = storage_get(f->st, name, &text, &len, &e) == CKPT_OK;
    free(text);
    return yes;
}

/* This node's own rank files of the step, ascending by rank, each checked
 * against its MANIFEST digest: the node object's sources, the part's lines. */
static int own_files(const cache_t *c, const manifest_t *m, up_job_t **job,
                     part_t *p, ckpt_err_t *e)
{
    int n = 0, k = 0;
    for (int i = 0; i < m->n; i++)
        n += m->e[i].own && m->e[i].kind == MF_FILE;
    if (n == 0)
        return err_set(e, CKPT_ECORRUPT, "node %d: its MANIFEST of step %" PRId64
                       " lists no rank file of its own", m->node, m->step);
    if (part_alloc(p, n) != 0 || (*job = upload_job_new(JOB_OBJECT, m->step, n)) == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory");
    for (int i = 0; i < m->n; i++) {
        const mf_entry_t *x = &m->e[i];
        int j = k++;
        if (!x->own || x->kind != MF_FILE) {
            k--;
            continue;
        }
        for (; j > 0 && p->rank[j - 1] > x->rank; j--) { /* insertion sort */
            p->rank[j] = p->rank[j - 1];
            p->size[j] = p->size[j - 1];
            p->digest[j] = p->digest[j - 1];
        }
        p->rank[j] = x->rank;
        p->size[j] = x->size;
        p->digest[j] = x->digest;
    }
    for (int i = 0; i < n; i++) {
        uint64_t d = 0;
        char *path = (*job)->src.path[i];
        cache_rank_path(c, m->step, p->rank[i], 0, path, sizeof (*job)->src.path[i]);
        (*job)->src.size[i] = p->size[i];
        if (fio_digest_path(path, p->size[i], &d, e) != CKPT_OK || d != p->digest[i])
            return err_set(e, CKPT_ECORRUPT, "%s does not match its MANIFEST "
                           "(damaged): node %d's part of step %" PRId64 " is not "
                           "uploaded", path, m->node, m->step);
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
        say("warning: the parts of step %" PRId64 " stay in storage: %s", step,
            e.msg);
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
        if (placed[r]++ || p.size[i] > UINT64_MAX - sm->obj[k].size)
            err_set(e, CKPT_ECORRUPT, "the parts of step %" PRId64 " place "
                    "rank %d twice, or sizes past any object", sm->step, r);
        sm->r[r] = (sm_range_t){.node = k, .off = sm->obj[k].size,
                                .size = p.size[i], .digest = p.digest[i]};
        sm->obj[k].size += p.size[i];
    }
out:
    part_free(&p);
    return e->code;
}

/* Every node's part is in storage: the manifest, then retention. */
static int commit(flush_t *f, int64_t step, uint64_t gen, int nnodes,
                  int nranks, ckpt_err_t *e)
{
    smanifest_t sm = {.step = step, .generation = gen,
                      .spread = f->cfg.prefix_spread};
    up_job_t *j = NULL;
    char *placed = calloc((size_t)nranks, 1);
    uint64_t bytes = 0;
    if (placed == NULL || sm_alloc(&sm, nnodes, nranks) != 0 ||
        (j = upload_job_new(JOB_COMMIT, step, 0)) == NULL) {
        err_set(e, CKPT_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(sm.job, sizeof sm.job, "%s", f->cfg.job);
    for (int k = 0; k < nnodes && add_part(f, &sm, k, placed, e) == CKPT_OK; k++)
        bytes += sm.obj[k].size;
    for (int r = 0; r < nranks && e->code == CKPT_OK; r++)
        if (!placed[r])
            err_set(e, CKPT_ECORRUPT, "no node's part of step %" PRId64
                    " has rank %d", step, r);
    sm_name_objects(&sm);
    if (e->code != CKPT_OK || sm_format(&sm, &j->text, &j->len, e) != CKPT_OK)
        goto out;
    sm_manifest_name(f->cfg.job, step, j->name, sizeof j->name);
    snprintf(j->job, sizeof j->job, "%s", f->cfg.job);
    j->keep_remote = f->cfg.keep_remote;
    if (upload_run(f->st, &f->lg, j, e) != CKPT_OK)
        goto out;
    say("committed step %" PRId64 ": %d nodes, %d ranks, %.1f MiB", step,
        nnodes, nranks, (double)bytes / (1 << 20));
    delete_parts(f, step, gen, nnodes);
out:
    upload_job_free(j);
    sm_free(&sm);
    free(placed);
    return e->code;
}

/* After this node's part is in: commits if every part is, else FL_PART. A
 * part missing from the listing, or gone while read, may be one another
 * node's commit removed: the manifest is looked for at the end too. */
static int try_commit(flush_t *f, const manifest_t *m, ckpt_err_t *e)
{
    char *seen = malloc((size_t)m->nnodes);
    int have = 0, mine = 0;
    if (seen == NULL) {
        err_set(e, CKPT_ENOMEM, "out of memory");
        return FL_FAILED;
    }
    if (is_committed(f, m->step) ||
        list_parts(f, m->step, m->generation, m->nnodes, seen, &have, e) != CKPT_OK)
        goto out;
    if (have == m->nnodes)
        mine = commit(f, m->step, m->generation, m->nnodes, m->nranks, e) == CKPT_OK;
out:
    free(seen);
    if (mine)
        return FL_COMMITTED;
    if (is_committed(f, m->step)) {
        err_clear(e);
        say("step %" PRId64 " is committed in storage", m->step);
        delete_parts(f, m->step, m->generation, m->nnodes);
        return FL_COMMITTED;
    }
    if (e->code != CKPT_OK)
        return FL_FAILED;
    say("node %d: step %" PRId64 ": %d of %d nodes' parts are in storage; the "
        "last node's ckpt-flush commits it", m->node, m->step, have, m->nnodes);
    return FL_PART;
}

static int upload_part(flush_t *f, const cache_t *c, const manifest_t *m,
                       ckpt_err_t *e)
{
    part_t p = {.step = m->step, .generation = m->generation, .node = m->node,
                .nnodes = m->nnodes, .nranks = m->nranks};
    up_job_t *j = NULL;
    char name[SM_NAME_MAX], *text = NULL;
    size_t len;
    uint64_t bytes = 0;
    double t0;
    if (own_files(c, m, &j, &p, e) != CKPT_OK)
        goto out;
    for (int i = 0; i < p.n; i++)
        bytes += p.size[i];
    sm_object_name(f->cfg.job, m->step, m->generation, m->node,
                   f->cfg.prefix_spread, j->name, sizeof j->name);
    say("node %d: step %" PRId64 ": uploading %d rank files, %.1f MiB", m->node,
        m->step, p.n, (double)bytes / (1 << 20));
    t0 = log_now();
    if (upload_run(f->st, &f->lg, j, e) != CKPT_OK)
        goto out;
    say("node %d: step %" PRId64 ": uploaded in %.2f s (%.1f MB/s)", m->node,
        m->step, log_now() - t0, (double)bytes / 1e6 / (log_now() - t0 + 1e-9));
    part_name(f->cfg.job, m->step, m->generation, m->node, name, sizeof name);
    snprintf(p.job, sizeof p.job, "%s", f->cfg.job);
    if (part_format(&p, &text, &len, e) == CKPT_OK)
        storage_put(f->st, name, text, len, e);
out:
    free(text);
    upload_job_free(j);
    part_free(&p);
    return e->code;
}

/* 1 if this node's part of the step is in storage already, whole (a flush
 * that ran before, or at the same time); a damaged one is written again. */
static int part_there(flush_t *f, const manifest_t *m)
{
    ckpt_err_t e = {0};
    part_t p = {0};
    int yes = read_part(f, m->step, m->generation, m->node, &p, &e) == CKPT_OK &&
              p.nnodes == m->nnodes && p.nranks == m->nranks;
    part_free(&p);
    return yes;
}

/* One node directory of the root: its step to storage. */
static int flush_node(flush_t *f, const char *root, int node, int64_t *step)
{
    cache_t c;
    manifest_t m = {0};
    ckpt_err_t e = {0};
    char dir[PATH_MAX];
    int rc = FL_FAILED;
    cache_init(&c, root, f->cfg.job, node);
    *step = f->want >= 0 ? f->want : cache_newest_step(&c, INT64_MAX);
    if (*step < 0) {
        say("node %d: no complete step in the cache: nothing to flush", node);
        return FL_COMMITTED;
    }
    cache_step_dir(&c, *step, dir, sizeof dir);
    if (manifest_read(dir, &m, &e) != CKPT_OK)
        goto out;
    if (strcmp(m.job, f->cfg.job) || m.step != *step || m.node != node) {
        err_set(&e, CKPT_ECORRUPT, "%s/MANIFEST is another step's", dir);
        goto out;
    }
    if (*step <= f->committed) {
        rc = FL_COMMITTED;
        say("node %d: step %" PRId64 " %s", node, *step, is_committed(f, *step)
            ? "is in storage already" : "is older than the newest step in "
            "storage: nothing to flush");
        goto out;
    }
    if (part_there(f, &m))
        say("node %d: step %" PRId64 ": this node's part is in storage already",
            node, *step);
    else if (upload_part(f, &c, &m, &e) != CKPT_OK)
        goto out;
    rc = try_commit(f, &m, &e);
out:
    if (rc == FL_FAILED)
        fprintf(stderr, "ckpt-flush: node %d: %s\n", node, e.msg);
    manifest_free(&m);
    return rc;
}

static int flush_root(flush_t *f)
{
    ckpt_err_t e = {0};
    int64_t *nodes = NULL, *steps;
    int n = 0, rc = FL_COMMITTED;
    if (cache_list_nodes(f->cfg.cache_dir, f->cfg.job, &nodes, &n, &e) != CKPT_OK ||
        n == 0) {
        fprintf(stderr, "ckpt-flush: no job '%s' under %s\n", f->cfg.job,
                f->cfg.cache_dir);
        free(nodes);
        return FL_FAILED;
    }
    if ((steps = calloc((size_t)n, sizeof *steps)) == NULL) {
        free(nodes);
        return FL_FAILED;
    }
    for (int i = 0; i < n; i++) {
        int r = flush_node(f, f->cfg.cache_dir, (int)nodes[i], &steps[i]);
        if (r == FL_FAILED || (r == FL_PART && rc == FL_COMMITTED))
            rc = r;
    }
    /* A later node of this root may have committed an earlier one's step. */
    if (rc == FL_PART) {
        rc = FL_COMMITTED;
        for (int i = 0; i < n && rc == FL_COMMITTED; i++)
            if (steps[i] >= 0 && !is_committed(f, steps[i]))
                rc = FL_PART;
    }
    free(steps);
    free(nodes);
    return rc;
}

static int setup(flush_t *f, const char *config, ckpt_err_t *e)
{
    st_params_t p;
    if (config_load(&f->cfg, config, e) != CKPT_OK)
        return FL_USAGE;
    f->lg = (ckpt_log_t){.rank = -1, .verbose = f->cfg.verbose};
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
    if (storage_open(&f->st, &p, e) != CKPT_OK || read_committed(f, e) != CKPT_OK)
        return FL_FAILED;
    return FL_COMMITTED;
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
    int c, rc;
    char *end;
    while ((c = getopt_long(argc, argv, "c:n:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'n':
            f.node = (int)strtol(optarg, &end, 10);
            f.node = *end || f.node < 0 ? -2 : f.node;
            break;
        case 's':
            f.want = strtoll(optarg, &end, 10);
            f.want = *end || f.want < 0 ? -2 : f.want;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return FL_USAGE;
        }
    }
    if (optind < argc || f.node == -2 || f.want == -2) {
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
