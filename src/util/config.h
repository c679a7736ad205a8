/* Run configuration: defaults, a `key = value` file, CKPT_<KEY> environment. */
#ifndef CKPT_CONFIG_H
#define CKPT_CONFIG_H

#include <limits.h>
#include "error.h"

#define CKPT_NAME_MAX 255

enum { REDUNDANCY_SINGLE = 0, REDUNDANCY_PARTNER = 1, REDUNDANCY_RS = 2 };
enum { MODE_UNSET = 0, MODE_CACHE = 1, MODE_WRITEBACK = 2 };
enum { CHECK_INLINE = 0, CHECK_FIRST = 1 };

typedef struct ckpt_config {
    char job[CKPT_NAME_MAX + 1];
    char cache_dir[PATH_MAX - 1024]; /* leaves room for the layout below it */
    int root_per_node;    /* cache_dir held "%n": each node has its own root */
    int ranks_per_node;   /* 0: detect shared-memory nodes */
    int redundancy;       /* REDUNDANCY_* */
    int partner_distance; /* partner node = (n + d) mod nodes */
    int rs_data, rs_parity; /* redundancy = rs: k data and m parity shares */
    int keep_local;       /* complete steps kept per node */
    int verbose;          /* 0 .. 3 */
    int restore_check;    /* CHECK_*: while copying, or before any copy */
    int mode;             /* MODE_*: cache, or writeback to storage_url */
    char storage_url[1024];
    char storage_account[256];
    char storage_key[256];   /* a secret: never printed */
    char storage_sas[2048];  /* a secret: never printed */
    int persist_every;    /* upload every k-th step saved in this run */
    int keep_remote;      /* committed steps kept in storage; 0: all */
    int upload_block_size_mib;
    int upload_concurrency;
    int download_concurrency;
    int prefix_spread;    /* 0 or 1 */
    int storage_timeout;  /* seconds a request may keep failing */
    unsigned save_signals;  /* bit s: signal s asks for a save (when.c) */
    int save_interval;    /* seconds; 0 never; SAVE_INTERVAL_AUTO: Young/Daly */
    double mtbf_hours;    /* one node's mean time between failures */
} ckpt_config_t;

#define SAVE_INTERVAL_AUTO (-1)

/* Fill cfg from defaults, then the file at path (may be NULL), then the
 * environment. An unknown key or a bad value is CKPT_ECONFIG naming it. */
int config_load(ckpt_config_t *cfg, const char *path, ckpt_err_t *e);

/* Replaces "%n" in cache_dir by the node number (after the topology is
 * known); -1 if the path gets too long. */
int config_node_root(ckpt_config_t *cfg, int node);

/* 1 if s is 1..255 characters of [A-Za-z0-9._-] and not "." or "..": a
 * region name, a data set inside an HDF5 file. */
int config_valid_name(const char *s);

/* What the file:// backend puts in the names of its temporary files (and
 * so skips and refuses in object names). */
#define CKPT_TMP_MARK ".ckpt-tmp."

/* 1 if s can be a job name: a directory in the cache and a component of
 * object names that every storage backend stores and lists back. */
int config_valid_job(const char *s);
#define CONFIG_JOB_RULE "1 to 255 letters, digits, '.', '_' or '-', " \
    "starting with a letter or digit, not ending with '.', without '..' or " \
    "'.ckpt-tmp.'"

/* CKPT_ECONFIG if a storage URL is not file:///..., http(s)://..., or holds
 * credentials (user info, or a query string that may be a SAS token); the
 * URL is never echoed. `what` starts the message. */
int config_check_url(const char *url, const char *what, ckpt_err_t *e);

#endif
