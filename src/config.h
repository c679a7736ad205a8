/* Run configuration: defaults, a `key = value` file, CKPT_<KEY> environment. */
#ifndef CKPT_CONFIG_H
#define CKPT_CONFIG_H

#include <limits.h>
#include "error.h"

#define CKPT_NAME_MAX 255

enum { REDUNDANCY_SINGLE = 0, REDUNDANCY_PARTNER = 1 };

typedef struct ckpt_config {
    char job[CKPT_NAME_MAX + 1];
    char cache_dir[PATH_MAX - 1024]; /* leaves room for the layout below it */
    int ranks_per_node;   /* 0: detect shared-memory nodes */
    int redundancy;       /* REDUNDANCY_* */
    int partner_distance; /* partner node = (n + d) mod nodes */
    int keep_local;       /* complete steps kept per node */
    int verbose;          /* 0 .. 3 */
} ckpt_config_t;

/* Fill cfg from defaults, then the file at path (may be NULL), then the
 * environment. An unknown key or a bad value is CKPT_ECONFIG naming it. */
int config_load(ckpt_config_t *cfg, const char *path, ckpt_err_t *e);

/* 1 if s is 1..255 characters of [A-Za-z0-9._-] and not "." or "..". */
int config_valid_name(const char *s);

#endif
