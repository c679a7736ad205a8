/* ckpt-ls: list the checkpoints of a job in a cache root, and with --verify
 * re-check every checksum; with --storage, the steps committed in storage
 * beside them. Knows the cache layout only through cache.h; needs no MPI. */
#include "cache.h"
#include "fileio.h"
#include "manifest.h"
#include "rankfile.h"
#include "region.h"
#include "smanifest.h"
#include "storage.h"
#include "config.h"
#include "ckpt.h"

#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What the MANIFESTs show of the redundancy a step was saved with. */
enum { SCHEME_SINGLE, SCHEME_PARTNER, SCHEME_RS };
static const char *const scheme_names[] = {"single", "partner", "rs"};

typedef struct {
    int64_t step;
    int nodes_seen, nodes_complete, ranks, damaged;
    uint64_t bytes;
    int *copies; /* per rank: valid copies found (own files and partner copies) */
    int scheme;  /* SCHEME_* seen in the MANIFESTs */
    int parity;  /* RS parity files found whole */
    int in_storage;
    uint64_t storage_bytes;
    char shapes[1024]; /* global and replicated regions: "name kind type[count]" */
} step_info_t;

typedef struct {
    const char *root, *job, *storage;
    int verify, json;
    int64_t *node_ids;
    int nnodes;
    step_info_t *steps;
    int nsteps;
} ls_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: ckpt-ls [-c CACHE_DIR] [-s STORAGE_URL] -j JOB [--verify] "
               "[--json]\n"
               "Lists the checkpoint steps of JOB kept under CACHE_DIR, and those "
               "committed\nin storage (credentials from AZURE_STORAGE_ACCOUNT, "
               "AZURE_STORAGE_KEY or\nAZURE_STORAGE_SAS_TOKEN).\n");
}

static void scan_node(ls_t *ls, const char *root, int node);

/* Every node directory under a root; with "%n" in the root (one root per
 * node, see ckpt.conf(5)), under each root from node 0 on, while there is
 * one. Returns the number of node directories found. */
static int scan_roots(ls_t *ls)
{
    ckpt_config_t cfg;
    int found = 0;
    for (int k = 0;; k++) {
        ckpt_err_t e = {0};
        struct stat st;
        snprintf(cfg.cache_dir, sizeof cfg.cache_dir, "%s", ls->root);
        cfg.root_per_node = 0;
        if (config_node_root(&cfg, k) != 0 || stat(cfg.cache_dir, &st) != 0)
            break;
        if (cache_list_nodes(cfg.cache_dir, ls->job, &ls->node_ids, &ls->nnodes,
                             &e) == CKPT_OK)
            for (int i = 0; i < ls->nnodes; i++, found++)
                scan_node(ls, cfg.cache_dir, (int)ls->node_ids[i]);
        free(ls->node_ids);
        ls->node_ids = NULL;
        if (!cfg.root_per_node)
            break;
    }
    return found;
}

static step_info_t *step_slot(ls_t *ls, int64_t step)
{
    step_info_t *v;
    for (int i = 0; i < ls->nsteps; i++)
        if (ls->steps[i].step == step)
            return &ls->steps[i];
    v = realloc(ls->steps, (size_t)(ls->nsteps + 1) * sizeof *v);
    if (v == NULL)
        return NULL;
    ls->steps = v;
    memset(&v[ls->nsteps], 0, sizeof *v);
    v[ls->nsteps].step = step;
    return &v[ls->nsteps++];
}

/* Every dataset's bytes hash to its checksum attribute. */
static int datasets_ok(const char *path, int fd)
{
    ckpt_err_t e = {0};
    rf_index_t idx;
    int ok = 1;
    if (rankfile_index(path, &idx, &e) != CKPT_OK)
        return 0;
    for (int i = 0; i < idx.n && ok; i++) {
        uint64_t len = idx.d[i].count * type_size((ckpt_type_t)idx.d[i].type),
                 sum = 0;
        ok = fio_hash_range(fd, idx.d[i].off, len, &sum, path, &e) == CKPT_OK &&
             sum == idx.d[i].checksum;
    }
    rankfile_index_free(&idx);
    return ok;
}

static int file_ok(const ls_t *ls, const cache_t *c, int64_t step,
                   const mf_entry_t *x)
{
    char path[PATH_MAX];
    ckpt_err_t e = {0};
    uint64_t size, digest = 0;
    int fd, ok;
    if (x->kind == MF_PARITY)
        cache_parity_path(c, step, x->rank, 0, path, sizeof path);
    else
        cache_rank_path(c, step, x->rank, 0, path, sizeof path);
    if (fio_file_size(path, &size) != 0 || size != x->size)
        return 0;
    if (!ls->verify)
        return 1;
    if ((fd = open(path, O_RDONLY)) < 0)
        return 0;
    ok = fio_digest(fd, size, &digest, path, &e) == CKPT_OK &&
         digest == x->digest && (x->kind == MF_PARITY || datasets_ok(path, fd));
    close(fd);
    if (!ok)
        fprintf(stderr, "ckpt-ls: damaged: %s\n", path);
    return ok;
}

/* Whether the shapes text already names region `name`. */
static int shape_listed(const char *shapes, const char *name)
{
    size_t k = strlen(name);
    for (const char *p = shapes; (p = strstr(p, name)) != NULL; p += k)
        if ((p == shapes || (p >= shapes + 2 && p[-2] == ',' && p[-1] == ' ')) &&
            p[k] == ' ')
            return 1;
    return 0;
}

/* The shapes of the step's global and replicated regions, from the
 * MANIFESTs that list them, each once: "name kind type[global count]". */
static void note_shapes(step_info_t *s, const manifest_t *m)
{
    size_t n = strlen(s->shapes);
    for (int i = 0; i < m->nd; i++) {
        const rf_dataset_t *d = &m->d[i];
        char one[CKPT_NAME_MAX + 64];
        int len;
        if (d->kind == REGION_PRIVATE || shape_listed(s->shapes, d->name))
            continue;
        len = snprintf(one, sizeof one, "%s%s %s %s[%" PRIu64 "]", n ? ", " : "",
                       d->name, region_kind_name(d->kind), type_name(d->type),
                       d->gcount);
        if (len > 0 && n + (size_t)len < sizeof s->shapes) {
            memcpy(s->shapes + n, one, (size_t)len + 1);
            n += (size_t)len;
        }
    }
}

static void scan_step(ls_t *ls, const cache_t *c, int64_t step)
{
    char dir[PATH_MAX];
    ckpt_err_t e = {0};
    manifest_t m;
    step_info_t *s = step_slot(ls, step);
    if (s == NULL)
        return;
    s->nodes_seen++;
    cache_step_dir(c, step, dir, sizeof dir);
    if (manifest_read(dir, &m, &e) != CKPT_OK) {
        if (e.code == CKPT_ECORRUPT) {
            fprintf(stderr, "ckpt-ls: %s\n", e.msg);
            s->damaged++;
        }
        return;
    }
    s->nodes_complete++;
    if (s->copies == NULL && m.nranks > 0) {
        s->copies = calloc((size_t)m.nranks, sizeof *s->copies);
        s->ranks = m.nranks;
    }
    note_shapes(s, &m);
    for (int i = 0; i < m.n; i++) {
        const mf_entry_t *x = &m.e[i];
        int good = x->kind != MF_CODED && file_ok(ls, c, step, x);
        if (x->kind == MF_CODED) { /* another node's file: listed, not here */
            s->scheme = SCHEME_RS;
            continue;
        }
        s->damaged += !good && ls->verify;
        if (x->kind == MF_PARITY) {
            s->scheme = SCHEME_RS;
            s->parity += good;
            continue;
        }
        if (x->own)
            s->bytes += x->size;
        else if (s->scheme == SCHEME_SINGLE)
            s->scheme = SCHEME_PARTNER;
        if (good && s->copies && x->rank >= 0 && x->rank < s->ranks)
            s->copies[x->rank]++;
    }
    manifest_free(&m);
}

static void scan_node(ls_t *ls, const char *root, int node)
{
    ckpt_err_t e = {0};
    int64_t *steps;
    cache_t c;
    int n;
    cache_init(&c, root, ls->job, node);
    if (cache_list_steps(&c, 0, &steps, &n, &e) != CKPT_OK)
        return;
    for (int i = 0; i < n; i++)
        scan_step(ls, &c, steps[i]);
    free(steps);
}

/* One committed step: its manifest, read and checked. */
static int scan_manifest(ls_t *ls, storage_t *st, const char *name,
                         int64_t step)
{
    ckpt_err_t e = {0};
    char *text = NULL;
    size_t len = 0;
    smanifest_t m;
    step_info_t *s;
    if (storage_get(st, name, &text, &len, &e) != CKPT_OK ||
        sm_parse(text, len, &m, &e) != CKPT_OK) {
        fprintf(stderr, "ckpt-ls: %s: %s\n", name, e.msg);
        free(text);
        return e.code == CKPT_ECORRUPT;
    }
    if (strcmp(m.job, ls->job) != 0 || m.step != step) {
        fprintf(stderr, "ckpt-ls: %s: holds job '%s' step %" PRId64 "\n",
                name, m.job, m.step);
        sm_free(&m);
        free(text);
        return 1;
    }
    if ((s = step_slot(ls, m.step)) != NULL) {
        s->in_storage = 1;
        for (int n = 0; n < m.nnodes; n++)
            s->storage_bytes += m.obj[n].size;
    }
    sm_free(&m);
    free(text);
    return 0;
}

/* Returns the number of damaged manifests, or -1 if storage cannot be read. */
static int scan_storage(ls_t *ls)
{
    st_params_t p = {.url = ls->storage,
                     .account = getenv("AZURE_STORAGE_ACCOUNT"),
                     .key = getenv("AZURE_STORAGE_KEY"),
                     .sas = getenv("AZURE_STORAGE_SAS_TOKEN"),
                     .block_size = 16 << 20, .concurrency = 4, .timeout = 60};
    ckpt_err_t e = {0};
    storage_t *st = NULL;
    char prefix[300], **names = NULL;
    int n = 0, damaged = 0;
    snprintf(prefix, sizeof prefix, SM_PREFIX_FMT, ls->job);
    if (storage_open(&st, &p, &e) == CKPT_OK &&
        storage_list(st, prefix, &names, &n, &e) == CKPT_OK)
        for (int i = 0; i < n; i++)
            if (sm_step_of(ls->job, names[i]) >= 0)
                damaged += scan_manifest(ls, st, names[i],
                                         sm_step_of(ls->job, names[i]));
    storage_names_free(names, n);
    storage_close(st);
    if (e.code != CKPT_OK && e.code != CKPT_ECORRUPT) {
        fprintf(stderr, "ckpt-ls: %s\n", e.msg);
        return -1;
    }
    return damaged;
}

static int cmp_step(const void *a, const void *b)
{
    const step_info_t *x = a, *y = b;
    return x->step < y->step ? -1 : x->step > y->step;
}

static void count(const step_info_t *s, int *two, int *one, int *none)
{
    *two = *one = *none = 0;
    for (int r = 0; s->copies && r < s->ranks; r++) {
        int c = s->copies[r];
        *two += c >= 2;
        *one += c == 1;
        *none += c == 0;
    }
    if (s->ranks == 0)
        *none = 1;
}

static void print(const ls_t *ls)
{
    if (ls->json)
        printf("{\"job\": \"%s\", \"cache_dir\": \"%s\", \"storage\": \"%s\", "
               "\"steps\": [", ls->job, ls->root ? ls->root : "",
               ls->storage ? ls->storage : "");
    else
        printf("%8s %6s %6s %14s  %-13s %-7s %5s %5s %5s %6s %7s %s\n", "STEP",
               "NODES", "RANKS", "BYTES", "STATE", "SCHEME", "TWO", "ONE", "NONE",
               "PARITY", "STORAGE", ls->verify ? "DAMAGED" : "");
    for (int i = 0; i < ls->nsteps; i++) {
        const step_info_t *s = &ls->steps[i];
        int two, one, none;
        const char *state;
        count(s, &two, &one, &none);
        /* an RS step whose files are not all here may be rebuilt: only a
         * restore can tell (it knows the group layout) */
        state = none && s->scheme == SCHEME_RS ? "degraded"
                : none && s->in_storage ? "in storage"
                : none ? "unrecoverable"
                : s->nodes_complete < s->nodes_seen ? "partial" : "complete";
        if (ls->json)
            printf("%s\n  {\"step\": %" PRId64 ", \"nodes\": %d, \"nodes_complete\": %d, "
                   "\"ranks\": %d, \"bytes\": %" PRIu64 ", \"state\": \"%s\", "
                   "\"recoverable\": %s, \"ranks_two_copies\": %d, "
                   "\"ranks_one_copy\": %d, \"ranks_no_copy\": %d, \"damaged\": %d, "
                   "\"in_storage\": %s, \"storage_bytes\": %" PRIu64 ", "
                   "\"scheme\": \"%s\", \"parity_files\": %d, \"shapes\": \"%s\"}",
                   i ? "," : "", s->step, s->nodes_seen, s->nodes_complete,
                   s->ranks, s->bytes, state,
                   none && !s->in_storage && s->scheme != SCHEME_RS ? "false"
                                                                    : "true",
                   two, one, none, s->damaged, s->in_storage ? "true" : "false",
                   s->storage_bytes, scheme_names[s->scheme], s->parity, s->shapes);
        else {
            char damaged[16] = "";
            if (ls->verify)
                snprintf(damaged, sizeof damaged, "%d", s->damaged);
            printf("%8" PRId64 " %6d %6d %14" PRIu64 "  %-13s %-7s %5d %5d %5d "
                   "%6d %7s %s\n", s->step, s->nodes_seen, s->ranks, s->bytes,
                   state, scheme_names[s->scheme], two, one, none, s->parity,
                   s->in_storage ? "yes" : "-", damaged);
            if (s->shapes[0])
                printf("%8s shapes: %s\n", "", s->shapes);
        }
    }
    if (ls->json)
        printf("\n]}\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"cache-dir", required_argument, NULL, 'c'}, {"job", required_argument, NULL, 'j'},
        {"storage", required_argument, NULL, 's'},
        {"verify", no_argument, NULL, 'v'}, {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    ls_t ls = {0};
    ckpt_err_t err = {0};
    int c, damaged = 0;
    while ((c = getopt_long(argc, argv, "c:s:j:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': ls.root = optarg; break;
        case 's': ls.storage = optarg; break;
        case 'j': ls.job = optarg; break;
        case 'v': ls.verify = 1; break;
        case 'J': ls.json = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if ((ls.root == NULL && ls.storage == NULL) || ls.job == NULL ||
        !config_valid_job(ls.job)) {
        usage(stderr);
        return 2;
    }
    /* A URL with credentials is refused unprinted: it would be listed. */
    if (ls.storage && config_check_url(ls.storage, "--storage", &err) != CKPT_OK) {
        fprintf(stderr, "ckpt-ls: %s\n", err.msg);
        return 2;
    }
    if (ls.root && scan_roots(&ls) == 0 && ls.storage == NULL) {
        fprintf(stderr, "ckpt-ls: no job '%s' under %s\n", ls.job, ls.root);
        return 1;
    }
    if (ls.storage && (damaged = scan_storage(&ls)) < 0)
        return 1;
    if (ls.nsteps > 1) /* ls.steps is NULL when nothing was found */
        qsort(ls.steps, (size_t)ls.nsteps, sizeof *ls.steps, cmp_step);
    print(&ls);
    for (int i = 0; i < ls.nsteps; i++) {
        damaged += ls.steps[i].damaged;
        free(ls.steps[i].copies);
    }
    free(ls.steps);
    free(ls.node_ids);
    return ls.verify && damaged ? 1 : 0;
}
