#include "config.h"
#include "ckpt.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char *program_invocation_short_name;

typedef int (*parse_fn)(ckpt_config_t *cfg, const char *key, const char *val,
                        const char *origin, ckpt_err_t *e);

/* A key is parsed by `parse`, or, for integer keys, stored at `offset`
 * within [lo, hi] with `want` describing the range in error messages. */
typedef struct {
    const char *key;
    parse_fn parse;
    size_t offset;
    int lo, hi;
    const char *want;
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

static int p_redundancy(ckpt_config_t *c, const char *k, const char *v,
                        const char *o, ckpt_err_t *e)
{
    if (!strcmp(v, "partner"))
        c->redundancy = REDUNDANCY_PARTNER;
    else if (!strcmp(v, "single"))
        c->redundancy = REDUNDANCY_SINGLE;
    else
        return bad(e, o, k, v, "'partner' or 'single'");
    return CKPT_OK;
}

#define INT_KEY(name, lo, hi, want) \
    {#name, NULL, offsetof(ckpt_config_t, name), lo, hi, want}

static const key_def keys[] = {
    {"job", p_job, 0, 0, 0, NULL},
    {"cache_dir", p_cache_dir, 0, 0, 0, NULL},
    INT_KEY(ranks_per_node, 0, 1 << 20, "0 (detect) or a positive number of ranks"),
    {"redundancy", p_redundancy, 0, 0, 0, NULL},
    INT_KEY(partner_distance, 1, 1 << 20, "a positive number of nodes"),
    INT_KEY(keep_local, 1, 1 << 20, "a positive number of steps"),
    INT_KEY(verbose, 0, 3, "0 (silent) to 3 (debug)"),
};
#define NKEYS (sizeof keys / sizeof keys[0])

static int apply(ckpt_config_t *c, const key_def *def, const char *val,
                 const char *origin, ckpt_err_t *e)
{
    if (def->parse)
        return def->parse(c, def->key, val, origin, e);
    if (parse_int(val, def->lo, def->hi, (int *)((char *)c + def->offset)))
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
    if (tmp == NULL || tmp[0] != '/' || strlen(tmp) + 6 > sizeof c->cache_dir)
        tmp = "/tmp";
    snprintf(c->cache_dir, sizeof c->cache_dir, "%s/ckpt", tmp);
    if (config_valid_name(program_invocation_short_name))
        snprintf(c->job, sizeof c->job, "%s", program_invocation_short_name);
    else
        snprintf(c->job, sizeof c->job, "job");
    c->redundancy = REDUNDANCY_PARTNER;
    c->partner_distance = 1;
    c->keep_local = 2;
    c->verbose = 1;
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
    return load_env(cfg, e);
}
