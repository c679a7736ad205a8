#include "config.h"
#include "ckpt.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char *program_invocation_short_name;

typedef int (*parse_fn)(ckpt_config_t *cfg, const char *key, const char *val,
                        const char *origin, ckpt_err_t *e);

/* A key is parsed by `parse`; or it is one of two `words`, stored at
 * `offset` as the matching `values`; or an integer stored at `offset`
 * within [lo, hi], with `want` describing the range in error messages. */
typedef struct {
    const char *key;
    parse_fn parse;
    size_t offset;
    int lo, hi;
    const char *want;
    const char *words[2];
    int values[2];
} key_def;

static int bad(ckpt_err_t *e, const char *origin, const char *key,
               const char *val, const char *want)
{
    return err_set(e, CKPT_ECONFIG, "%s: bad value '%s' for key '%s': %s",
                   origin, val, key, want);
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
    if (!config_valid_name(v))
        return bad(e, o, k, v, "1..255 characters of [A-Za-z0-9._-]");
    snprintf(c->job, sizeof c->job, "%s", v);
    return CKPT_OK;
}

static int p_cache_dir(ckpt_config_t *c, const char *k, const char *v,
                       const char *o, ckpt_err_t *e)
{
    if (v[0] != '/' || strlen(v) >= sizeof c->cache_dir)
        return bad(e, o, k, v, "an absolute path");
    snprintf(c->cache_dir, sizeof c->cache_dir, "%s", v);
    return CKPT_OK;
}

/* A size in MiB: "16", "16M", "16MiB"; Azure allows blocks up to 4000 MiB. */
static int p_block_size(ckpt_config_t *c, const char *k, const char *v,
                        const char *o, ckpt_err_t *e)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (end == v || n < 1 || n > 4000 ||
        (*end && strcmp(end, "M") && strcmp(end, "MiB")))
        return bad(e, o, k, v, "1 to 4000 MiB, as in '16MiB'");
    c->upload_block_size_mib = (int)n;
    return CKPT_OK;
}

static int p_url(ckpt_config_t *c, const char *k, const char *v,
                 const char *o, ckpt_err_t *e)
{
    /* A query string may hold a SAS token: never echo it. */
    if (strchr(v, '?'))
        return err_set(e, CKPT_ECONFIG, "%s: the value of key '%s' has a query "
                       "string: give the container URL alone, and a SAS token "
                       "in storage_sas", o, k);
    if (strlen(v) >= sizeof c->storage_url ||
        (*v && strncmp(v, "file:///", 8) && strncmp(v, "https://", 8) &&
         strncmp(v, "http://", 7)))
        return bad(e, o, k, v, "file:///<absolute path> or an https:// "
                   "container URL");
    snprintf(c->storage_url, sizeof c->storage_url, "%s", v);
    return CKPT_OK;
}

static int p_account(ckpt_config_t *c, const char *k, const char *v,
                     const char *o, ckpt_err_t *e)
{
    if (strlen(v) >= sizeof c->storage_account)
        return bad(e, o, k, v, "an account name");
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

#define PARSED_KEY(name, fn) {#name, fn, 0, 0, 0, NULL, {0}, {0}}
#define INT_KEY(name, lo, hi, want) \
    {#name, NULL, offsetof(ckpt_config_t, name), lo, hi, want, {0}, {0}}
#define CHOICE_KEY(name, w0, v0, w1, v1) \
    {#name, NULL, offsetof(ckpt_config_t, name), 0, 0, "'" w0 "' or '" w1 "'", \
     {w0, w1}, {v0, v1}}

static const key_def keys[] = {
    PARSED_KEY(job, p_job),
    PARSED_KEY(cache_dir, p_cache_dir),
    INT_KEY(ranks_per_node, 0, 1 << 20, "0 (detect) or a positive number of ranks"),
    CHOICE_KEY(redundancy, "partner", REDUNDANCY_PARTNER, "single",
               REDUNDANCY_SINGLE),
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
};
#define NKEYS (sizeof keys / sizeof keys[0])

static int apply(ckpt_config_t *c, const key_def *def, const char *val,
                 const char *origin, ckpt_err_t *e)
{
    int *field = (int *)((char *)c + def->offset);
    if (def->parse)
        return def->parse(c, def->key, val, origin, e);
    if (def->words[0]) {
        for (int i = 0; i < 2; i++)
            if (!strcmp(val, def->words[i])) {
                *field = def->values[i];
                return CKPT_OK;
            }
        return bad(e, origin, def->key, val, def->want);
    }
    if (parse_int(val, def->lo, def->hi, field))
        return bad(e, origin, def->key, val, def->want);
    return CKPT_OK;
}

static const key_def *find_key(const char *key)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].key, key))
            return &keys[i];
    return NULL;
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
    if (config_valid_name(program_invocation_short_name))
        snprintf(c->job, sizeof c->job, "%s", program_invocation_short_name);
    else
        snprintf(c->job, sizeof c->job, "job");
    c->redundancy = REDUNDANCY_PARTNER;
    c->partner_distance = 1;
    c->keep_local = 2;
    c->verbose = 1;
    c->persist_every = 1;
    c->upload_block_size_mib = 16;
    c->upload_concurrency = 8;
    c->download_concurrency = 16;
    c->prefix_spread = 1;
    c->storage_timeout = 600;
}

/* Azure's own variables fill what the file and CKPT_* left empty. */
static void azure_env(ckpt_config_t *c)
{
    const char *v;
    if (!c->storage_account[0] && (v = getenv("AZURE_STORAGE_ACCOUNT")))
        snprintf(c->storage_account, sizeof c->storage_account, "%s", v);
    if (!c->storage_key[0] && (v = getenv("AZURE_STORAGE_KEY")))
        snprintf(c->storage_key, sizeof c->storage_key, "%s", v);
    if (!c->storage_sas[0] && (v = getenv("AZURE_STORAGE_SAS_TOKEN")))
        snprintf(c->storage_sas, sizeof c->storage_sas, "%s", v);
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

/* One `key = value` line; blank lines and # comments are skipped. */
static int parse_line(ckpt_config_t *c, char *line, const char *origin,
                      ckpt_err_t *e)
{
    char *hash = strchr(line, '#'), *eq, *key, *val;
    const key_def *def;
    if (hash)
        *hash = '\0';
    line = trim(line);
    if (*line == '\0')
        return CKPT_OK;
    eq = strchr(line, '=');
    if (eq == NULL)
        return err_set(e, CKPT_ECONFIG, "%s: expected 'key = value', got '%s'",
                       origin, line);
    *eq = '\0';
    key = trim(line);
    val = trim(eq + 1);
    def = find_key(key);
    if (def == NULL)
        return err_set(e, CKPT_ECONFIG, "%s: unknown key '%s'", origin, key);
    return apply(c, def, val, origin, e);
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
    azure_env(cfg);
    return resolve_mode(cfg, e);
}
