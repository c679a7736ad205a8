#include "cache.h"
#include "fileio.h"
#include "ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void cache_init(cache_t *c, const char *cache_dir, const char *job, int node)
{
    c->reaper = NULL;
    c->discards = 0;
    snprintf(c->node_dir, sizeof c->node_dir, "%s/%s/node-%d", cache_dir, job,
             node);
}

void cache_step_dir(const cache_t *c, int64_t step, char *buf, size_t n)
{
    snprintf(buf, n, "%s/step-%" PRId64, c->node_dir, step);
}

void cache_rank_path(const cache_t *c, int64_t step, int rank, int tmp,
                     char *buf, size_t n)
{
    snprintf(buf, n, "%s/step-%" PRId64 "/rank-%d.h5%s", c->node_dir, step,
             rank, tmp ? CACHE_TMP_SUFFIX : "");
}

void cache_import_path(const cache_t *c, int64_t step, int rank, char *buf,
                       size_t n)
{
    if (rank < 0)
        snprintf(buf, n, "%s/import-%" PRId64, c->node_dir, step);
    else
        snprintf(buf, n, "%s/import-%" PRId64 "/rank-%d.h5", c->node_dir, step,
                 rank);
}

void cache_parity_path(const cache_t *c, int64_t step, int set, int tmp,
                       char *buf, size_t n)
{
    snprintf(buf, n, "%s/step-%" PRId64 "/parity-%d.rs%s", c->node_dir, step,
             set, tmp ? CACHE_TMP_SUFFIX : "");
}

/* "<prefix><N>" with N a canonical non-negative decimal; -1 otherwise. */
static int64_t parse_numbered(const char *name, const char *prefix)
{
    size_t k = strlen(prefix);
    char *end;
    long long v;
    if (strncmp(name, prefix, k) != 0 || name[k] < '0' || name[k] > '9')
        return -1;
    if (name[k] == '0' && name[k + 1] != '\0')
        return -1;
    errno = 0;
    v = strtoll(name + k, &end, 10);
    return errno || *end != '\0' ? -1 : (int64_t)v;
}

static int64_t parse_step_name(const char *name)
{
    return parse_numbered(name, "step-");
}

/* Appends v to a growable array of int64_t. */
static int push(int64_t **v, int *n, int *cap, int64_t x)
{
    if (*n == *cap) {
        int64_t *g = realloc(*v, (size_t)(*cap = *cap ? 2 * *cap : 16) * sizeof *g);
        if (g == NULL)
            return -1;
        *v = g;
    }
    (*v)[(*n)++] = x;
    return 0;
}

int cache_list_nodes(const char *cache_dir, const char *job, int64_t **nodes,
                     int *n, ckpt_err_t *e)
{
    char path[PATH_MAX];
    struct dirent *d;
    DIR *dir;
    int cap = 0;
    *nodes = NULL;
    *n = 0;
    snprintf(path, sizeof path, "%s/%s", cache_dir, job);
    if ((dir = opendir(path)) == NULL)
        return err_sys(e, errno, "list %s", path);
    while ((d = readdir(dir)) != NULL) {
        int64_t k = parse_numbered(d->d_name, "node-");
        if (k >= 0 && k <= INT32_MAX && push(nodes, n, &cap, k) != 0) {
            closedir(dir);
            return err_set(e, CKPT_ENOMEM, "out of memory listing nodes");
        }
    }
    closedir(dir);
    return CKPT_OK;
}

static int has_manifest(const cache_t *c, int64_t step)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/step-%" PRId64 "/MANIFEST", c->node_dir,
             step);
    return access(path, F_OK) == 0;
}

static int cmp_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

int cache_list_steps(const cache_t *c, int complete, int64_t **steps, int *n,
                     ckpt_err_t *e)
{
    DIR *dir = opendir(c->node_dir);
    struct dirent *d;
    int cap = 0;
    *steps = NULL;
    *n = 0;
    if (dir == NULL)
        return errno == ENOENT ? CKPT_OK
                               : err_sys(e, errno, "list %s", c->node_dir);
    while ((d = readdir(dir)) != NULL) {
        int64_t s = parse_step_name(d->d_name);
        if (s < 0 || (complete && !has_manifest(c, s)))
            continue;
        if (push(steps, n, &cap, s) != 0) {
            closedir(dir);
            return err_set(e, CKPT_ENOMEM, "out of memory listing steps");
        }
    }
    closedir(dir);
    if (*n > 1) /* qsort's pointer must be valid even for no element */
        qsort(*steps, (size_t)*n, sizeof **steps, cmp_desc);
    return CKPT_OK;
}

int64_t cache_newest_step(const cache_t *c, int64_t bound)
{
    ckpt_err_t e = {0};
    int64_t *steps, best = -1;
    int n;
    if (cache_list_steps(c, 1, &steps, &n, &e) != CKPT_OK)
        return -1;
    for (int i = 0; i < n && best < 0; i++)
        if (steps[i] <= bound)
            best = steps[i];
    free(steps);
    return best;
}

static int is_tmp(const char *name)
{
    size_t n = strlen(name), k = strlen(CACHE_TMP_SUFFIX);
    return n > k && !strcmp(name + n - k, CACHE_TMP_SUFFIX);
}

/* Temporary files left in a complete step by an interrupted refill
 * (ckpt_wait) or fetch from storage. */
static void clean_step_tmp(const char *dirpath)
{
    char path[PATH_MAX + NAME_MAX + 2];
    struct dirent *d;
    DIR *dir = opendir(dirpath);
    if (dir == NULL)
        return;
    while ((d = readdir(dir)) != NULL)
        if (is_tmp(d->d_name)) {
            snprintf(path, sizeof path, "%s/%s", dirpath, d->d_name);
            unlink(path);
        }
    closedir(dir);
}

/* The rank of "rank-<r>.h5", or -1. */
static int64_t parse_rank_name(const char *name)
{
    char base[NAME_MAX + 1];
    size_t n = strlen(name);
    if (n < 4 || n > NAME_MAX || strcmp(name + n - 3, ".h5") != 0)
        return -1;
    memcpy(base, name, n - 3);
    base[n - 3] = '\0';
    return parse_numbered(base, "rank-");
}

void cache_prune_step(const cache_t *c, int64_t step,
                      int (*listed)(void *ctx, int rank), void *ctx)
{
    char dirpath[PATH_MAX], path[PATH_MAX + NAME_MAX + 2];
    struct dirent *d;
    DIR *dir;
    cache_step_dir(c, step, dirpath, sizeof dirpath);
    if ((dir = opendir(dirpath)) == NULL)
        return;
    while ((d = readdir(dir)) != NULL) {
        int64_t r = parse_rank_name(d->d_name);
        if (r >= 0 && r <= INT32_MAX && !listed(ctx, (int)r)) {
            snprintf(path, sizeof path, "%s/%s", dirpath, d->d_name);
            unlink(path);
        }
    }
    closedir(dir);
}

void cache_clean(const cache_t *c, const ckpt_log_t *lg)
{
    char path[PATH_MAX];  /* node_dir is shorter by 512, a name at most 255 */
    struct dirent *d;
    DIR *dir = opendir(c->node_dir);
    if (dir == NULL)
        return;
    while ((d = readdir(dir)) != NULL) {
        int64_t s = parse_step_name(d->d_name);
        if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", c->node_dir, d->d_name);
        if (s >= 0 && has_manifest(c, s)) {
            clean_step_tmp(path);
        } else if (s >= 0 || strncmp(d->d_name, "discard-", 8) == 0 ||
                   strncmp(d->d_name, "import-", 7) == 0) {
            log_msg(lg, LOG_INFO, "removing incomplete %s", path);
            fio_rmtree(path);
        }
    }
    closedir(dir);
}

/* The rank files of a discarded step become spares: the next save rewrites
 * them in place instead of writing new files, which on disks that trim
 * freed blocks (and on most virtual disks) is much faster than allocating
 * fresh ones. At most one spare per file name, so the spares never hold
 * more than one step. */
static void keep_spares(const cache_t *c, const char *gone)
{
    char from[PATH_MAX + 64 + NAME_MAX + 2], to[PATH_MAX + NAME_MAX + 2];
    struct dirent *d;
    DIR *dir;
    snprintf(to, sizeof to, "%s/spare", c->node_dir);
    if ((mkdir(to, 0700) != 0 && errno != EEXIST) || (dir = opendir(gone)) == NULL)
        return;
    while ((d = readdir(dir)) != NULL) {
        if ((strncmp(d->d_name, "rank-", 5) != 0 &&
             strncmp(d->d_name, "parity-", 7) != 0) || is_tmp(d->d_name))
            continue;
        snprintf(from, sizeof from, "%s/%s", gone, d->d_name);
        snprintf(to, sizeof to, "%s/spare/%s", c->node_dir, d->d_name);
        rename(from, to); /* failing, the file goes with the step */
    }
    closedir(dir);
}

int cache_take_spare(const cache_t *c, const char *path)
{
    char spare[PATH_MAX + NAME_MAX + 2];
    const char *base = strrchr(path, '/');
    size_t n = strlen(base + 1) - strlen(CACHE_TMP_SUFFIX);
    struct stat st;
    snprintf(spare, sizeof spare, "%s/spare/%.*s", c->node_dir, (int)n, base + 1);
    if (lstat(spare, &st) != 0)
        return -1;
    if (!S_ISREG(st.st_mode) || st.st_nlink != 1) { /* never written through */
        unlink(spare);
        return -1;
    }
    return rename(spare, path) == 0 ? 0 : -1;
}

static int discard(cache_t *c, int64_t step, int spares, ckpt_err_t *e)
{
    char dir[PATH_MAX], gone[PATH_MAX + 64];
    cache_step_dir(c, step, dir, sizeof dir);
    snprintf(gone, sizeof gone, "%s/discard-%" PRId64 "-%d-%u", c->node_dir,
             step, (int)getpid(), c->discards++);
    /* The rename is atomic: the step is complete or gone, never half-deleted. */
    if (rename(dir, gone) != 0) {
        if (errno == ENOENT)
            return CKPT_OK;
        return err_sys(e, errno, "discard %s", dir);
    }
    if (fio_fsync_dir(c->node_dir, e) != CKPT_OK)
        return e->code;
    if (spares)
        keep_spares(c, gone);
    reaper_add(c->reaper, gone);
    return CKPT_OK;
}

int cache_retire_node(cache_t *c, const char *cache_dir, const char *job,
                      int node, ckpt_err_t *e)
{
    char dir[PATH_MAX], gone[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/%s/node-%d", cache_dir, job, node);
    snprintf(gone, sizeof gone, "%s/discard-node-%d-%d-%u", c->node_dir, node,
             (int)getpid(), c->discards++);
    if (rename(dir, gone) != 0)
        return errno == ENOENT ? CKPT_OK : err_sys(e, errno, "discard %s", dir);
    snprintf(dir, sizeof dir, "%s/%s", cache_dir, job);
    if (fio_fsync_dir(dir, e) != CKPT_OK || fio_fsync_dir(c->node_dir, e) != CKPT_OK)
        return e->code;
    reaper_add(c->reaper, gone);
    return CKPT_OK;
}

int cache_discard_step(cache_t *c, int64_t step, ckpt_err_t *e)
{
    return discard(c, step, 0, e);
}

int cache_discard_from(cache_t *c, int64_t step, const ckpt_log_t *lg,
                       ckpt_err_t *e)
{
    int64_t *steps;
    int n;
    if (cache_list_steps(c, 1, &steps, &n, e) != CKPT_OK)
        return e->code;
    for (int i = 0; i < n && e->code == CKPT_OK && steps[i] > step; i++) {
        log_msg(lg, LOG_INFO, "step %" PRId64 " is superseded by a new save of "
                "step %" PRId64 ": discarded", steps[i], step);
        cache_discard_step(c, steps[i], e);
    }
    free(steps);
    return e->code ? e->code : cache_discard_step(c, step, e);
}

static int is_pinned(int64_t step, const int64_t *pinned, int npinned)
{
    for (int i = 0; i < npinned; i++)
        if (pinned[i] == step)
            return 1;
    return 0;
}

void cache_retain(cache_t *c, int keep, int64_t current,
                  const int64_t *pinned, int npinned, const ckpt_log_t *lg)
{
    ckpt_err_t e = {0};
    int64_t *steps;
    int n, kept = 1; /* `current` is always kept */
    if (cache_list_steps(c, 1, &steps, &n, &e) != CKPT_OK)
        return;
    for (int i = 0; i < n; i++) {
        if (steps[i] == current || is_pinned(steps[i], pinned, npinned))
            continue;
        if (kept < keep) {
            kept++;
            continue;
        }
        log_msg(lg, LOG_DEBUG, "retention removes step %" PRId64, steps[i]);
        err_clear(&e);
        if (discard(c, steps[i], 1, &e) != CKPT_OK)
            log_msg(lg, LOG_WARN, "retention: %s", e.msg);
    }
    free(steps);
}
