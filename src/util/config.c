#include "config.h"
#include "ckpt.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char *program_invocation_short_name;

typedef int (*parse_fn)(ckpt_config_t *cfg, const char *key, const char *val,
                        const char *origin, ckpt_err_t *e);

/* A key is parsed by `parse`; or it is one of up to three `words`, stored at
 * `offset` as the matching `values`; or an integer stored at `offset`
 * within [lo, hi], with `want` describing the range in error messages. */
typedef struct {
    const char *key;
    parse_fn parse;
    size_t offset;
    int lo, hi;
    const char *want;
    const char *words[3];
    int values[3];
} key_def;

/* Values are never echoed: a secret pasted on the wrong line or into the
 * wrong variable must not reach a log. */
static int bad(ckpt_err_t *e, const char *origin, const char *key,
               const char *want)
{
    return err_set(e, CKPT_ECONFIG, "%s: bad value for key '%s': %s", origin,
                   key, want);
}

static int parse_int(const char *val, long lo, long hi, int *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(val, &end, 10);
    if (errno || end == val || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

/* Names that both backends round-trip as a path or object-name component:
 * file:// hides entries starting with '.' and refuses "..", Azure treats
 * '.' segments and names ending in '.' specially, and file:// skips
 * temporary files, which carry CKPT_TMP_MARK. */

int config_valid_job(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > CKPT_NAME_MAX || !isalnum((unsigned char)s[0]) ||
        s[n - 1] == '.' || strstr(s, "..") || strstr(s, CKPT_TMP_MARK))
        return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789._-") == n;
}

int config_valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > CKPT_NAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
            return 0;
    return 1;
}

static int p_job(ckpt_config_t *c, const char *k, const char *v, const char *o,
                 ckpt_err_t *e)
{
    if (!config_valid_job(v))
        return bad(e, o, k, CONFIG_JOB_RULE);
    snprintf(c->job, sizeof c->job, "%s", v);
    return CKPT_OK;
}

static int p_cache_dir(ckpt_config_t *c, const char *k, const char *v,
                       const char *o, ckpt_err_t *e)
{
    const char *pct = v;
    if (v[0] != '/' || strlen(v) >= sizeof c->cache_dir)
        return bad(e, o, k, "an absolute path");
    /* "%n" is the node number (each emulated node a disk of its own); no
     * other '%' is taken, so a later escape cannot change what a path
     * written today means. */
    while ((pct = strchr(pct, '%')) != NULL)
        if (*++pct != 'n')
            return bad(e, o, k, "an absolute path whose only '%' is in \"%n\"");
    snprintf(c->cache_dir, sizeof c->cache_dir, "%s", v);
    return CKPT_OK;
}

int config_node_root(ckpt_config_t *c, int node)
{
    char out[sizeof c->cache_dir];
    size_t n = 0;
    for (const char *p = c->cache_dir; *p; p++) {
        int w = p[0] == '%' && p[1] == 'n'
                    ? snprintf(out + n, sizeof out - n, "%d", node)
                    : snprintf(out + n, sizeof out - n, "%c", *p);
        if (w < 0 || (size_t)w >= sizeof out - n)
            return -1;
        n += (size_t)w;
        if (p[0] == '%') {
            p++;
            c->root_per_node = 1;
        }
    }
    memcpy(c->cache_dir, out, n + 1);
    return 0;
}

/* A size in MiB: "16", "16M", "16MiB"; Azure allows blocks up to 4000 MiB. */
static int p_block_size(ckpt_config_t *c, const char *k, const char *v,
                        const char *o, ckpt_err_t *e)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (end == v || n < 1 || n > 4000 ||
        (*end && strcmp(end, "M") && strcmp(end, "MiB")))
        return bad(e, o, k, "1 to 4000 MiB, as in '16MiB'");
    c->upload_block_size_mib = (int)n;
    return CKPT_OK;
}

int config_check_url(const char *url, const char *what, ckpt_err_t *e)
{
    const char *host = strstr(url, "://");
    /* A query string may hold a SAS token, user info a password: neither is
     * echoed, nor accepted where it would end up in logs and listings. */
    if (strchr(url, '?'))
        return err_set(e, CKPT_ECONFIG, "%s: the URL has a query string: give "
                       "the container URL alone, and a SAS token in "
                       "storage_sas", what);
    if (strncmp(url, "file:///", 8) && strncmp(url, "https://", 8) &&
        strncmp(url, "http://", 7))
        return err_set(e, CKPT_ECONFIG, "%s: expected file:///<absolute path> "
                       "or an https:// container URL", what);
    host += 3;
    if (memchr(host, '@', strcspn(host, "/")))
        return err_set(e, CKPT_ECONFIG, "%s: the URL holds credentials before "
                       "'@': give them in storage_key or storage_sas", what);
    return CKPT_OK;
}

static int p_url(ckpt_config_t *c, const char *k, const char *v,
                 const char *o, ckpt_err_t *e)
{
    char what[PATH_MAX + 64];
    snprintf(what, sizeof what, "%s: %s", o, k);
    if (*v && config_check_url(v, what, e) != CKPT_OK)
        return e->code;
    if (strlen(v) >= sizeof c->storage_url)
        return bad(e, o, k, "a URL of at most 1023 characters");
    snprintf(c->storage_url, sizeof c->storage_url, "%s", v);
    return CKPT_OK;
}

/* Azure's rule; an account name is then safe to show in messages. */
static int p_account(ckpt_config_t *c, const char *k, const char *v,
                     const char *o, ckpt_err_t *e)
{
    size_t n = strlen(v);
    if (n && (n < 3 || n > 24 ||
              strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789") != n))
        return bad(e, o, k, "an account name: 3 to 24 lower-case letters and "
                   "digits");
    snprintf(c->storage_account, sizeof c->storage_account, "%s", v);
    return CKPT_OK;
}

/* Secrets: a bad one is reported without its value. */
static int p_secret(ckpt_config_t *c, const char *k, const char *v,
                    const char *o, ckpt_err_t *e)
{
    int key = !strcmp(k, "storage_key");
    char *dst = key ? c->storage_key : c->storage_sas;
    size_t cap = key ? sizeof c->storage_key : sizeof c->storage_sas;
    if (strlen(v) >= cap)
        return err_set(e, CKPT_ECONFIG, "%s: the value of key '%s' is too "
                       "long", o, k);
    snprintf(dst, cap, "%s", v);
    return CKPT_OK;
}

/* The signals a program may ask to be told of: the ones a scheduler sends
 * before it stops a job, and the user signals. */
static const struct {
    const char *name;
    int sig;
} save_signal_names[] = {
    {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"INT", SIGINT},
    {"HUP", SIGHUP}, {"XCPU", SIGXCPU}, {"QUIT", SIGQUIT}, {"ALRM", SIGALRM},
};

static int signal_number(const char *name)
{
    if (!strncmp(name, "SIG", 3))
        name += 3;
    for (size_t i = 0; i < sizeof save_signal_names / sizeof save_signal_names[0]; i++)
        if (!strcmp(name, save_signal_names[i].name))
            return save_signal_names[i].sig;
    return 0;
}

/* "USR1,TERM" (SIG prefix optional), or "none". */
static int p_signals(ckpt_config_t *c, const char *k, const char *v,
                     const char *o, ckpt_err_t *e)
{
    char buf[256], *save = NULL, *tok;
    unsigned mask = 0;
    if (!strcmp(v, "none")) {
        c->save_signals = 0;
        return CKPT_OK;
    }
    if (strlen(v) >= sizeof buf)
        return bad(e, o, k, "a list of signals");
    snprintf(buf, sizeof buf, "%s", v);
    for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        int s = signal_number(tok);
        if (s == 0)
            return bad(e, o, k, "'none' or a comma-separated list of USR1, "
                       "USR2, TERM, INT, HUP, XCPU, QUIT, ALRM");
        mask |= 1u << s;
    }
    if (mask == 0)
        return bad(e, o, k, "'none' or a list of signals");
    c->save_signals = mask;
    return CKPT_OK;
}

static int p_interval(ckpt_config_t *c, const char *k, const char *v,
                      const char *o, ckpt_err_t *e)
{
    if (!strcmp(v, "auto")) {
        c->save_interval = SAVE_INTERVAL_AUTO;
        return CKPT_OK;
    }
    if (parse_int(v, 0, 365 * 86400, &c->save_interval))
        return bad(e, o, k, "'auto', 0 (never) or a number of seconds");
    return CKPT_OK;
}

static int p_mtbf(ckpt_config_t *c, const char *k, const char *v,
                  const char *o, ckpt_err_t *e)
{
    char *end = NULL;
    double h;
    errno = 0;
    h = strtod(v, &end);
    if (errno || end == v || *end || !(h > 0 && h <= 1e7))
        return bad(e, o, k, "a number of hours above 0");
    c->mtbf_hours = h;
    return CKPT_OK;
}

#define PARSED_KEY(name, fn) {#name, fn, 0, 0, 0, NULL, {0}, {0}}
#define INT_KEY(name, lo, hi, want) \
    {#name, NULL, offsetof(ckpt_config_t, name), lo, hi, want, {0}, {0}}
#define CHOICE_KEY(name, w0, v0, w1, v1) \
    {#name, NULL, offsetof(ckpt_config_t, name), 0, 0, "'" w0 "' or '" w1 "'", \
     {w0, w1, NULL}, {v0, v1, 0}}
#define CHOICE3_KEY(name, w0, v0, w1, v1, w2, v2) \
    {#name, NULL, offsetof(ckpt_config_t, name), 0, 0, \
     "'" w0 "', '" w1 "' or '" w2 "'", {w0, w1, w2}, {v0, v1, v2}}

static const key_def keys[] = {
    PARSED_KEY(job, p_job),
    PARSED_KEY(cache_dir, p_cache_dir),
    INT_KEY(ranks_per_node, 0, 1 << 20, "0 (detect) or a positive number of ranks"),
    CHOICE3_KEY(redundancy, "partner", REDUNDANCY_PARTNER, "single",
                REDUNDANCY_SINGLE, "rs", REDUNDANCY_RS),
    INT_KEY(rs_data, 1, 32, "1 to 32 data shares per stripe"),
    INT_KEY(rs_parity, 1, 8, "1 to 8 parity shares per stripe"),
    INT_KEY(partner_distance, 1, 1 << 20, "a positive number of nodes"),
    INT_KEY(keep_local, 1, 1 << 20, "a positive number of steps"),
    INT_KEY(verbose, 0, 3, "0 (silent) to 3 (debug)"),
    CHOICE_KEY(restore_check, "inline", CHECK_INLINE, "first", CHECK_FIRST),
    CHOICE_KEY(mode, "cache", MODE_CACHE, "writeback", MODE_WRITEBACK),
    PARSED_KEY(storage_url, p_url),
    PARSED_KEY(storage_account, p_account),
    PARSED_KEY(storage_key, p_secret),
    PARSED_KEY(storage_sas, p_secret),
    INT_KEY(persist_every, 1, 1 << 30, "a positive number of steps"),
    INT_KEY(keep_remote, 0, 1 << 30, "0 (keep all) or a positive number of steps"),
    PARSED_KEY(upload_block_size, p_block_size),
    INT_KEY(upload_concurrency, 1, 256, "1 to 256 requests"),
    INT_KEY(download_concurrency, 1, 256, "1 to 256 requests"),
    INT_KEY(prefix_spread, 0, 1, "0 or 1"),
    INT_KEY(storage_timeout, 1, 7 * 86400, "a positive number of seconds"),
    PARSED_KEY(save_signals, p_signals),
    PARSED_KEY(save_interval, p_interval),
    PARSED_KEY(mtbf_hours, p_mtbf),
};
#define NKEYS (sizeof keys / sizeof keys[0])

static int apply(ckpt_config_t *c, const key_def *def, const char *val,
                 const char *origin, ckpt_err_t *e)
{
    int *field = (int *)((char *)c + def->offset);
    if (def->parse)
        return def->parse(c, def->key, val, origin, e);
    if (def->words[0]) {
        for (int i = 0; i < 3 && def->words[i]; i++)
            if (!strcmp(val, def->words[i])) {
                *field = def->values[i];
                return CKPT_OK;
            }
        return bad(e, origin, def->key, def->want);
    }
    if (parse_int(val, def->lo, def->hi, field))
        return bad(e, origin, def->key, def->want);
    return CKPT_OK;
}

static const key_def *find_key(const char *key)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].key, key))
            return &keys[i];
    return NULL;
}

/* Only digits: a Slurm id that can become part of a name. */
static int slurm_id(const char *v)
{
    if (v == NULL || *v == '\0' || strlen(v) > 20)
        return 0;
    for (; *v; v++)
        if (!isdigit((unsigned char)*v))
            return 0;
    return 1;
}

/* Under Slurm, "slurm-<job id>" (an array task: "slurm-<array id>_<task>"):
 * a requeued job keeps its id and finds its checkpoints, and two jobs never
 * share one. Elsewhere the program's name. */
static void default_job(ckpt_config_t *c)
{
    const char *id = getenv("SLURM_JOB_ID"), *aid = getenv("SLURM_ARRAY_JOB_ID"),
               *task = getenv("SLURM_ARRAY_TASK_ID");
    if (slurm_id(aid) && slurm_id(task))
        snprintf(c->job, sizeof c->job, "slurm-%s_%s", aid, task);
    else if (slurm_id(id))
        snprintf(c->job, sizeof c->job, "slurm-%s", id);
    else if (config_valid_job(program_invocation_short_name))
        snprintf(c->job, sizeof c->job, "%s", program_invocation_short_name);
    else
        snprintf(c->job, sizeof c->job, "job");
}

static void set_defaults(ckpt_config_t *c)
{
    const char *tmp = getenv("TMPDIR");
    memset(c, 0, sizeof *c);
    if (tmp == NULL || tmp[0] != '/' || strlen(tmp) + 20 > sizeof c->cache_dir)
        tmp = "/tmp";
    /* One per user: a shared one could be made by another user, who could
     * then replace what is in it. */
    snprintf(c->cache_dir, sizeof c->cache_dir, "%s/ckpt-%u", tmp,
             (unsigned)geteuid());
    default_job(c);
    c->redundancy = REDUNDANCY_PARTNER;
    c->partner_distance = 1;
    c->rs_data = 4;
    c->rs_parity = 2;
    c->keep_local = 2;
    c->verbose = 1;
    c->persist_every = 1;
    c->upload_block_size_mib = 16;
    c->upload_concurrency = 8;
    c->download_concurrency = 16;
    c->prefix_spread = 1;
    c->storage_timeout = 600;
    c->save_signals = 1u << SIGUSR1 | 1u << SIGTERM;
    c->mtbf_hours = 43800; /* five years per node */
}

/* Azure's own variables fill what the file and CKPT_* left empty, checked
 * as the keys they stand for. */
static int azure_env(ckpt_config_t *c, ckpt_err_t *e)
{
    static const char *vars[][2] = {
        {"AZURE_STORAGE_ACCOUNT", "storage_account"},
        {"AZURE_STORAGE_KEY", "storage_key"},
        {"AZURE_STORAGE_SAS_TOKEN", "storage_sas"}};
    const char *filled[] = {c->storage_account, c->storage_key, c->storage_sas};
    char origin[64];
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(vars[i][0]);
        if (v == NULL || filled[i][0])
            continue;
        snprintf(origin, sizeof origin, "environment %s", vars[i][0]);
        if (apply(c, find_key(vars[i][1]), v, origin, e) != CKPT_OK)
            return e->code;
    }
    return CKPT_OK;
}

static int resolve_mode(ckpt_config_t *c, ckpt_err_t *e)
{
    if (c->mode == MODE_UNSET)
        c->mode = c->storage_url[0] ? MODE_WRITEBACK : MODE_CACHE;
    if (c->mode == MODE_WRITEBACK && !c->storage_url[0])
        return err_set(e, CKPT_ECONFIG, "mode = writeback needs storage_url");
    return CKPT_OK;
}

static char *trim(char *s)
{
    char *end;
    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* A line that is not `<known key> = value`, cut at its first '=' when
 * `pair`. It may hold a secret (a key pasted without '=', or glued to its
 * name), so it is never shown: only a known key is named, or an unknown one
 * that is a short lower-case name and not a storage key with something
 * glued to it. */
static int bad_line(const char *line, int pair, const char *origin,
                    ckpt_err_t *e)
{
    static const char ident[] = "abcdefghijklmnopqrstuvwxyz_";
    char name[33] = "";
    size_t n = strspn(line, ident);
    if (n < sizeof name)
        snprintf(name, sizeof name, "%.*s", (int)n, line);
    if (find_key(name))
        return err_set(e, CKPT_ECONFIG, "%s: expected '%s = <value>' (the "
                       "line is not shown: it may hold a secret)", origin, name);
    for (size_t i = 0; i < NKEYS; i++)
        if (!strncmp(keys[i].key, "storage_", 8) &&
            !strncmp(line, keys[i].key, strlen(keys[i].key)))
            return err_set(e, CKPT_ECONFIG, "%s: expected '%s = <value>': "
                           "something is glued to the key (the line is not "
                           "shown: it may hold a secret)", origin, keys[i].key);
    if (pair && n > 0 && line[n] == '\0' && n < sizeof name)
        return err_set(e, CKPT_ECONFIG, "%s: unknown key '%s'", origin, name);
    return err_set(e, CKPT_ECONFIG, "%s: expected 'key = value' with a known "
                   "key (the line is not shown: it may hold a secret)", origin);
}

/* One `key = value` line; blank lines and # comments are skipped. */
static int parse_line(ckpt_config_t *c, char *line, const char *origin,
                      ckpt_err_t *e)
{
    char *hash = strchr(line, '#'), *eq;
    const key_def *def = NULL;
    if (hash)
        *hash = '\0';
    line = trim(line);
    if (*line == '\0')
        return CKPT_OK;
    if ((eq = strchr(line, '=')) != NULL) {
        *eq = '\0';
        def = find_key(trim(line));
    }
    if (def == NULL)
        return bad_line(line, eq != NULL, origin, e);
    return apply(c, def, trim(eq + 1), origin, e);
}

static int load_file(ckpt_config_t *c, const char *path, ckpt_err_t *e)
{
    char line[4096], origin[PATH_MAX + 32];
    int lineno = 0, rc = CKPT_OK;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return err_set(e, CKPT_ECONFIG, "cannot read config file '%s': %s",
                       path, strerror(errno));
    while (rc == CKPT_OK && fgets(line, sizeof line, f)) {
        lineno++;
        snprintf(origin, sizeof origin, "%s:%d", path, lineno);
        if (strlen(line) == sizeof line - 1 && line[sizeof line - 2] != '\n')
            rc = err_set(e, CKPT_ECONFIG, "%s: line too long", origin);
        else
            rc = parse_line(c, line, origin, e);
    }
    fclose(f);
    return rc;
}

static int load_env(ckpt_config_t *c, ckpt_err_t *e)
{
    char var[64], origin[80];
    for (size_t i = 0; i < NKEYS; i++) {
        const char *val;
        size_t j;
        snprintf(var, sizeof var, "CKPT_%s", keys[i].key);
        for (j = 5; var[j]; j++)
            var[j] = (char)toupper((unsigned char)var[j]);
        val = getenv(var);
        if (val == NULL)
            continue;
        snprintf(origin, sizeof origin, "environment %s", var);
        if (apply(c, &keys[i], val, origin, e) != CKPT_OK)
            return e->code;
    }
    return CKPT_OK;
}

int config_load(ckpt_config_t *cfg, const char *path, ckpt_err_t *e)
{
    set_defaults(cfg);
    if (path != NULL && load_file(cfg, path, e) != CKPT_OK)
        return e->code;
    if (load_env(cfg, e) != CKPT_OK)
        return e->code;
    if (azure_env(cfg, e) != CKPT_OK)
        return e->code;
    return resolve_mode(cfg, e);
}
