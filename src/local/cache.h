/* The node-local cache layout (a contract, see DESIGN.md):
 *   <cache_dir>/<job>/node-<n>/step-<S>/rank-<r>.h5
 *   <cache_dir>/<job>/node-<n>/step-<S>/parity-<set>.rs  (redundancy = rs)
 *   <cache_dir>/<job>/node-<n>/step-<S>/MANIFEST
 *   <cache_dir>/<job>/node-<n>/spare/rank-<r>.h5  (files retention freed)
 * Paths, step listing, clean-up of interrupted saves, retention. */
#ifndef CKPT_CACHE_H
#define CKPT_CACHE_H

#include <limits.h>
#include <stdint.h>
#include "error.h"
#include "log.h"
#include "reaper.h"

#define CACHE_TMP_SUFFIX ".tmp"

typedef struct cache {
    char node_dir[PATH_MAX - 512]; /* <cache_dir>/<job>/node-<n> */
    reaper_t *reaper;              /* removes discarded steps; may be NULL */
    unsigned discards;             /* makes discard names unique */
} cache_t;

void cache_init(cache_t *c, const char *cache_dir, const char *job, int node);
void cache_step_dir(const cache_t *c, int64_t step, char *buf, size_t n);
void cache_rank_path(const cache_t *c, int64_t step, int rank, int tmp,
                     char *buf, size_t n);
/* A rank file of another rank count's step fetched from storage for a
 * restore (import-<S>/rank-<r>.h5; rank < 0: the directory); removed after
 * the restore, and by cache_clean. */
void cache_import_path(const cache_t *c, int64_t step, int rank, char *buf,
                       size_t n);
/* The RS parity file this node keeps for set `set` (a local rank index). */
void cache_parity_path(const cache_t *c, int64_t step, int set, int tmp,
                       char *buf, size_t n);

/* Steps of this node, newest first: those whose MANIFEST exists if
 * `complete`, else every step directory. *steps is malloc'd. */
int cache_list_steps(const cache_t *c, int complete, int64_t **steps, int *n,
                     ckpt_err_t *e);
/* The nodes a job's cache root holds (node-<n> directories), in directory
 * order. *nodes is malloc'd. For the tools, which see every node. */
int cache_list_nodes(const char *cache_dir, const char *job, int64_t **nodes,
                     int *n, ckpt_err_t *e);
/* Newest complete step <= bound, or -1. */
int64_t cache_newest_step(const cache_t *c, int64_t bound);

/* Removes what an interrupted save left: step directories without MANIFEST,
 * temporary files, discarded steps. Run by one rank per node. */
void cache_clean(const cache_t *c, const ckpt_log_t *lg);

/* Removes the rank files of a step that listed(ctx, rank) says its
 * MANIFEST does not list (left there by another layout). */
void cache_prune_step(const cache_t *c, int64_t step,
                      int (*listed)(void *ctx, int rank), void *ctx);

/* Removes a step: an atomic rename to discard-* (the step is complete or
 * gone, never half-deleted), then removal by the reaper, or at once without
 * one. Leftover discard-* directories are removed by cache_clean. */
int cache_discard_step(cache_t *c, int64_t step, ckpt_err_t *e);
/* Moves the spare of the file whose temporary name is `path` (a file of a
 * step retention removed) to `path`, to be rewritten in place; -1 if none. */
int cache_take_spare(const cache_t *c, const char *path);

/* Discards another node directory of the same root (`node-<node>`, left
 * by another layout of the job) like a step: renamed into this node's
 * directory as discard-*, then removed by the reaper. */
int cache_retire_node(cache_t *c, const char *cache_dir, const char *job,
                      int node, ckpt_err_t *e);

/* Discards `step` and every later complete step (cache_discard_step). */
int cache_discard_from(cache_t *c, int64_t step, const ckpt_log_t *lg,
                       ckpt_err_t *e);

/* Keeps the newest `keep` complete steps, and always `current` and the
 * pinned steps (those on their way to storage). */
void cache_retain(cache_t *c, int keep, int64_t current,
                  const int64_t *pinned, int npinned, const ckpt_log_t *lg);

#endif
