/* Parser unit tests without MPI: the configuration file and environment, the
 * node MANIFEST and the storage manifest get good and malformed texts
 * through their public functions. `t_parsers SUITE` runs one suite (config,
 * manifest, smanifest); no argument runs them all. Malformed manifests are
 * made from a good one written by the library, a line removed, repeated,
 * replaced or extended, then sealed anew, so that the parser behind the
 * checksum is what a test reaches. */
#include "config.h"
#include "manifest.h"
#include "smanifest.h"
#include "ckpt.h"

#include <CUnit/Basic.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[512];

/* A failed check names its case: CUnit copies the message. */
static void expect(int ok, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void expect(int ok, int line, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, (unsigned)line, msg,
                            __FILE__, "", CU_FALSE);
}
#define EXPECT(ok, ...) expect((ok), __LINE__, __VA_ARGS__)

static void put_file(const char *path, const char *text, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int ok = fd >= 0 && write(fd, text, len) == (ssize_t)len;
    if (fd >= 0)
        close(fd);
    CU_ASSERT_FATAL(ok);
}

static char *get_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *t = malloc(1 << 20);
    CU_ASSERT_FATAL(f != NULL && t != NULL);
    *len = fread(t, 1, (1 << 20) - 1, f);
    t[*len] = '\0';
    fclose(f);
    return t;
}

/* ---- text editing: line operations on a NUL-terminated body ---- */

enum { DROP, REPEAT, REPLACE, APPEND };
static const char *const op_name[] = {"dropped", "repeated", "replaced",
                                      "extended"};
static const char *const op_join[] = {"", " as ", " by ", " with "};

/* arg and a newline at o, a '|' in arg standing for a line break. */
static char *put_arg(char *o, const char *arg)
{
    for (; *arg; arg++)
        *o++ = *arg == '|' ? '\n' : *arg;
    *o++ = '\n';
    return o;
}

/* The body with the first line starting with `prefix` dropped, repeated
 * (the copy as `arg` if given), replaced by `arg`, or extended by `arg`.
 * malloc'd; the test fails if no line starts with prefix. */
static char *edit(const char *body, int op, const char *prefix, const char *arg)
{
    size_t plen = strlen(prefix), alen = arg ? strlen(arg) : 0;
    const char *line = body, *end;
    char *out, *o;
    while (*line && strncmp(line, prefix, plen)) {
        const char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : line + strlen(line);
    }
    CU_ASSERT_FATAL(*line != '\0');
    end = strchr(line, '\n');
    end = end ? end + 1 : line + strlen(line);
    out = o = malloc(strlen(body) + 2 * alen + (size_t)(end - line) + 4);
    CU_ASSERT_FATAL(out != NULL);
    memcpy(o, body, (size_t)(line - body));
    o += line - body;
    if (op == REPEAT) {
        memcpy(o, line, (size_t)(end - line));
        o += end - line;
    }
    if (op == REPLACE || (op == REPEAT && arg)) {
        o = put_arg(o, arg);
    } else if (op == APPEND) {
        memcpy(o, line, (size_t)(end - line - 1));
        o = put_arg(o + (end - line - 1), arg);
    } else if (op == REPEAT) {
        memcpy(o, line, (size_t)(end - line));
        o += end - line;
    }
    strcpy(o, end);
    return out;
}

/* ---- config ---- */

static int load(const char *text, ckpt_config_t *c, ckpt_err_t *e)
{
    char path[600];
    snprintf(path, sizeof path, "%s/ckpt.conf", dir);
    put_file(path, text, strlen(text));
    memset(e, 0, sizeof *e);
    return config_load(c, path, e);
}

static void config_good(void)
{
    ckpt_config_t c;
    ckpt_err_t e;
    int rc = load("# a comment line\n\n   job = train-1.a_b   # trailing\n"
                  "cache_dir=/scratch/ckpt\n\tverbose\t=\t3\r\n"
                  "redundancy = single\nkeep_local = 5\n"
                  "upload_block_size = 32MiB\nstorage_url = file:///tmp/x\n",
                  &c, &e);
    CU_ASSERT_EQUAL_FATAL(rc, CKPT_OK);
    CU_ASSERT_STRING_EQUAL(c.job, "train-1.a_b");
    CU_ASSERT_STRING_EQUAL(c.cache_dir, "/scratch/ckpt");
    CU_ASSERT_EQUAL(c.verbose, 3);
    CU_ASSERT_EQUAL(c.redundancy, REDUNDANCY_SINGLE);
    CU_ASSERT_EQUAL(c.keep_local, 5);
    CU_ASSERT_EQUAL(c.upload_block_size_mib, 32);
    CU_ASSERT_EQUAL(c.mode, MODE_WRITEBACK); /* a storage_url implies it */
    CU_ASSERT_EQUAL(load("", &c, &e), CKPT_OK);
    CU_ASSERT_EQUAL(c.mode, MODE_CACHE);
    CU_ASSERT_EQUAL(c.verbose, 1);
}

static void config_comments(void)
{
    ckpt_config_t c;
    ckpt_err_t e;
    CU_ASSERT_EQUAL(load("verbose = 2 # three\n", &c, &e), CKPT_OK);
    CU_ASSERT_EQUAL(c.verbose, 2);
    CU_ASSERT_EQUAL(load("# verbose = 3\n#\n   # x = y\n", &c, &e), CKPT_OK);
    CU_ASSERT_EQUAL(c.verbose, 1);
    CU_ASSERT_EQUAL(load("job = a#b\n", &c, &e), CKPT_OK);
    CU_ASSERT_STRING_EQUAL(c.job, "a");
}

/* Each line alone is CKPT_ECONFIG and its message holds `want`. */
static void refused(const char *const *lines, const char *want)
{
    for (int i = 0; lines[i]; i++) {
        ckpt_config_t c;
        ckpt_err_t e;
        int rc = load(lines[i], &c, &e);
        EXPECT(rc == CKPT_ECONFIG, "'%s' gave %d, want CKPT_ECONFIG", lines[i], rc);
        EXPECT(strstr(e.msg, want) != NULL, "'%s': message '%s' lacks '%s'",
               lines[i], e.msg, want);
    }
}

static void config_unknown_key(void)
{
    static const char *const lines[] = {"verbos = 1\n", "Verbose = 1\n",
                                        "= 1\n", "cache-dir = /x\n", NULL};
    ckpt_config_t c;
    ckpt_err_t e;
    refused(lines, "unknown key");
    CU_ASSERT_EQUAL(load("verbose = 1\n\nverbos = 1\n", &c, &e), CKPT_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "ckpt.conf:3: unknown key 'verbos'"));
}

static void config_missing_equals(void)
{
    static const char *const lines[] = {"verbose 1\n", "verbose\n",
                                        "job: x\n", NULL};
    refused(lines, "expected 'key = value'");
}

static void config_bad_numbers(void)
{
    static const char *const lines[] = {
        "verbose = two\n", "verbose = 4\n", "verbose = -1\n", "verbose = 1x\n",
        "verbose =\n", "verbose = 1 2\n", "verbose = 0x1\n", "verbose = 1.0\n",
        "keep_local = 0\n", "ranks_per_node = -1\n", "partner_distance = 1e3\n",
        "upload_concurrency = 257\n", "prefix_spread = 2\n",
        "upload_block_size = 0\n", "upload_block_size = 16G\n",
        "upload_block_size = 4001\n", "upload_block_size = MiB\n",
        "redundancy = both\n", "mode = Cache\n", NULL};
    refused(lines, "bad value");
}

static void config_overflow(void)
{
    static const char *const lines[] = {
        "keep_local = 2147483648\n", "keep_local = 99999999999999999999\n",
        "storage_timeout = 9223372036854775808\n",
        "verbose = -9223372036854775809\n",
        "upload_block_size = 9223372036854775807MiB\n",
        "upload_block_size = 18446744073709551632\n", NULL};
    refused(lines, "bad value");
}

static void config_long_lines(void)
{
    char *text = malloc(9000), *p;
    ckpt_config_t c;
    ckpt_err_t e;
    CU_ASSERT_FATAL(text != NULL);
    /* A comment just short of the 4095-character line limit is fine. */
    memset(text, ' ', 4090);
    text[0] = '#';
    strcpy(text + 4090, "\nverbose = 2\n");
    CU_ASSERT_EQUAL(load(text, &c, &e), CKPT_OK);
    CU_ASSERT_EQUAL(c.verbose, 2);
    /* Beyond it the line is refused, not read as two. */
    memset(text, ' ', 8000);
    strcpy(text + 8000, "verbose = 2\n");
    CU_ASSERT_EQUAL(load(text, &c, &e), CKPT_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "line too long"));
    /* Values longer than their field are refused, not cut. */
    p = text + sprintf(text, "job = ");
    memset(p, 'j', 256);
    strcpy(p + 256, "\n");
    CU_ASSERT_EQUAL(load(text, &c, &e), CKPT_ECONFIG);
    p = text + sprintf(text, "cache_dir = /");
    memset(p, 'd', 4000);
    strcpy(p + 4000, "\n");
    CU_ASSERT_EQUAL(load(text, &c, &e), CKPT_ECONFIG);
    free(text);
}

static void config_environment(void)
{
    ckpt_config_t c;
    ckpt_err_t e;
    setenv("CKPT_VERBOSE", "3", 1);
    CU_ASSERT_EQUAL(load("verbose = 1\n", &c, &e), CKPT_OK);
    CU_ASSERT_EQUAL(c.verbose, 3);
    setenv("CKPT_VERBOSE", "9", 1);
    CU_ASSERT_EQUAL(load("verbose = 1\n", &c, &e), CKPT_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "environment CKPT_VERBOSE"));
    unsetenv("CKPT_VERBOSE");
    /* Azure's own variables fill only what the file left empty. */
    setenv("AZURE_STORAGE_ACCOUNT", "fromenv", 1);
    CU_ASSERT_EQUAL(load("", &c, &e), CKPT_OK);
    CU_ASSERT_STRING_EQUAL(c.storage_account, "fromenv");
    CU_ASSERT_EQUAL(load("storage_account = fromfile\n", &c, &e), CKPT_OK);
    CU_ASSERT_STRING_EQUAL(c.storage_account, "fromfile");
    unsetenv("AZURE_STORAGE_ACCOUNT");
}

static void config_secrets_not_echoed(void)
{
    char text[700], *p;
    ckpt_config_t c;
    ckpt_err_t e;
    p = text + sprintf(text, "storage_key = SeCrEt");
    memset(p, 'k', 300);
    strcpy(p + 300, "\n");
    CU_ASSERT_EQUAL(load(text, &c, &e), CKPT_ECONFIG);
    CU_ASSERT_PTR_NULL(strstr(e.msg, "SeCrEt"));
    CU_ASSERT_EQUAL(load("storage_url = https://a.example/c?sig=SeCrEt\n", &c, &e),
                    CKPT_ECONFIG);
    CU_ASSERT_PTR_NULL(strstr(e.msg, "SeCrEt"));
}

static void config_missing_file(void)
{
    char path[600];
    ckpt_config_t c;
    ckpt_err_t e = {0};
    snprintf(path, sizeof path, "%s/absent.conf", dir);
    CU_ASSERT_EQUAL(config_load(&c, path, &e), CKPT_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, path));
    CU_ASSERT_EQUAL(load("mode = writeback\n", &c, &e), CKPT_ECONFIG);
}

/* ---- node MANIFEST ---- */

static const manifest_t *good_manifest(void)
{
    static mf_entry_t ent[] = {{2, 1, 1000, 0xab}, {3, 1, 1000, 0xcd},
                               {0, 0, 900, 0xef}, {1, 0, 900, 0x12}};
    static manifest_t m = {"j", 7, 1, 2, 4, 4, ent};
    return &m;
}

/* The good MANIFEST's text as manifest_write wrote it, unsealed. */
static char *manifest_body(void)
{
    char path[600];
    ckpt_err_t e = {0};
    size_t len;
    char *t;
    CU_ASSERT_EQUAL_FATAL(manifest_write(dir, good_manifest(), &e), CKPT_OK);
    snprintf(path, sizeof path, "%s/" MANIFEST_NAME, dir);
    t = get_file(path, &len);
    CU_ASSERT_EQUAL_FATAL(manifest_unseal(t, len), 0);
    return t;
}

/* TODO(manifest_parse): parse in memory once src/manifest.h has it. */
static int mf_parse_raw(const char *text, size_t len, manifest_t *m)
{
    char path[600];
    ckpt_err_t e = {0};
    int rc;
    snprintf(path, sizeof path, "%s/" MANIFEST_NAME, dir);
    put_file(path, text, len);
    rc = manifest_read(dir, m, &e);
    if (rc != CKPT_OK)
        EXPECT(e.msg[0] != '\0', "error %d without a message", rc);
    return rc;
}

/* body sealed, parsed; the manifest is freed. */
static int mf_parse(const char *body)
{
    size_t len = strlen(body);
    char *t = strdup(body);
    manifest_t m;
    int rc;
    CU_ASSERT_FATAL(t != NULL && manifest_seal(&t, &len) == 0);
    rc = mf_parse_raw(t, len, &m);
    if (rc == CKPT_OK)
        manifest_free(&m);
    free(t);
    return rc;
}

/* Each edit of the good body is refused as damaged. */
typedef struct {
    int op;
    const char *prefix, *arg;
} edit_t;

static void mf_refused(const edit_t *ed)
{
    char *body = manifest_body();
    for (; ed->prefix; ed++) {
        char *t = edit(body, ed->op, ed->prefix, ed->arg);
        int rc = mf_parse(t);
        EXPECT(rc == CKPT_ECORRUPT, "MANIFEST line '%s...' %s%s%s: got %d, "
               "want CKPT_ECORRUPT", ed->prefix, op_name[ed->op],
               ed->arg ? op_join[ed->op] : "", ed->arg ? ed->arg : "", rc);
        free(t);
    }
    free(body);
}

static void manifest_good(void)
{
    const manifest_t *g = good_manifest();
    char *body = manifest_body();
    ckpt_err_t e = {0};
    manifest_t m;
    CU_ASSERT_EQUAL(mf_parse(body), CKPT_OK);
    free(body);
    CU_ASSERT_EQUAL_FATAL(manifest_write(dir, g, &e), CKPT_OK);
    CU_ASSERT_EQUAL_FATAL(manifest_read(dir, &m, &e), CKPT_OK);
    CU_ASSERT_STRING_EQUAL(m.job, g->job);
    CU_ASSERT(m.step == g->step && m.node == g->node && m.nnodes == g->nnodes &&
              m.nranks == g->nranks && m.n == g->n);
    for (int i = 0; i < m.n && i < g->n; i++)
        CU_ASSERT(m.e[i].rank == g->e[i].rank && m.e[i].own == g->e[i].own &&
                  m.e[i].size == g->e[i].size && m.e[i].digest == g->e[i].digest);
    CU_ASSERT_PTR_EQUAL(manifest_find(&m, 1), &m.e[3]);
    CU_ASSERT_PTR_NULL(manifest_find(&m, 4));
    manifest_free(&m);
}

static void manifest_truncated(void)
{
    char *body = manifest_body();
    size_t len = strlen(body), cuts[] = {0, 1, 10, len / 2, len, len + 5};
    manifest_t m;
    CU_ASSERT_FATAL(manifest_seal(&body, &len) == 0);
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        int rc = mf_parse_raw(body, cuts[i], &m);
        EXPECT(rc == CKPT_ECORRUPT, "MANIFEST cut to %zu of %zu bytes gave %d",
               cuts[i], len, rc);
    }
    free(body);
}

static void manifest_bad_checksum(void)
{
    char *body = manifest_body(), *t;
    size_t len = strlen(body);
    manifest_t m;
    CU_ASSERT_FATAL(manifest_seal(&body, &len) == 0);
    t = strstr(body, "step 7");
    t[5] = '8'; /* the body changed, its checksum did not */
    CU_ASSERT_EQUAL(mf_parse_raw(body, len, &m), CKPT_ECORRUPT);
    t[5] = '7';
    t = strstr(body, "checksum ") + 9;
    *t = *t == '0' ? '1' : '0';
    CU_ASSERT_EQUAL(mf_parse_raw(body, len, &m), CKPT_ECORRUPT);
    *t = 'g';
    CU_ASSERT_EQUAL(mf_parse_raw(body, len, &m), CKPT_ECORRUPT);
    CU_ASSERT_EQUAL(mf_parse_raw(body, (size_t)(t - body - 9), &m), CKPT_ECORRUPT);
    free(body);
}

static void manifest_bad_magic(void)
{
    static const edit_t ed[] = {{REPLACE, "ckpt-manifest", "ckpt-manifest 2"},
                                {REPLACE, "ckpt-manifest", "CKPT-manifest 1"},
                                {REPLACE, "ckpt-manifest", ""},
                                {DROP, "ckpt-manifest", NULL},
                                {APPEND, "ckpt-manifest", " "},
                                {0, NULL, NULL}};
    mf_refused(ed);
}

/* Fails before issue 9's parser: absent header lines were taken as 0 or "". */
static void manifest_missing_lines(void)
{
    static const edit_t ed[] = {{DROP, "job ", NULL}, {DROP, "step ", NULL},
                                {DROP, "node ", NULL}, {DROP, "nodes ", NULL},
                                {DROP, "ranks ", NULL}, {0, NULL, NULL}};
    mf_refused(ed);
}

/* Fails before issue 9's parser: sscanf's %d took numbers beyond int. */
static void manifest_huge_numbers(void)
{
    static const edit_t ed[] = {
        {REPLACE, "nodes ", "nodes 99999999999"},
        {REPLACE, "ranks ", "ranks 4294967300"},
        {REPLACE, "step ", "step 99999999999999999999"},
        {REPLACE, "file rank-2.h5", "file rank-4294967298.h5 1000 00000000000000ab own"},
        {REPLACE, "file rank-2.h5", "file rank-2.h5 99999999999999999999 00000000000000ab own"},
        {REPLACE, "file rank-2.h5", "file rank-2.h5 1000 10000000000000000ab own"},
        {0, NULL, NULL}};
    mf_refused(ed);
}

/* Fails before issue 9's parser: a sign was read as part of the number. */
static void manifest_negative_numbers(void)
{
    static const edit_t ed[] = {
        {REPLACE, "node ", "node -1"}, {REPLACE, "nodes ", "nodes -2"},
        {REPLACE, "ranks ", "ranks -4"}, {REPLACE, "step ", "step -7"},
        {REPLACE, "file rank-2.h5", "file rank--2.h5 1000 00000000000000ab own"},
        {REPLACE, "file rank-2.h5", "file rank-2.h5 -1000 00000000000000ab own"},
        {REPLACE, "file rank-2.h5", "file rank-2.h5 1000 -00000000000000ab own"},
        {0, NULL, NULL}};
    mf_refused(ed);
}

/* Fails before issue 9's parser: the last of repeated lines won. */
static void manifest_duplicate_lines(void)
{
    static const edit_t ed[] = {
        {REPEAT, "job ", "job k"}, {REPEAT, "step ", "step 8"},
        {REPEAT, "node ", NULL}, {REPEAT, "ranks ", NULL},
        {REPEAT, "file rank-2.h5", NULL},
        {REPEAT, "file rank-2.h5", "file rank-2.h5 5 0000000000000001 own"},
        {0, NULL, NULL}};
    mf_refused(ed);
}

/* Fails before issue 9's parser: sscanf ignored what followed a number. */
static void manifest_trailing_garbage(void)
{
    static const edit_t ed[] = {
        {APPEND, "nodes ", " 3"}, {APPEND, "step ", "x"},
        {APPEND, "job ", " k"},
        {APPEND, "file rank-2.h5", " extra"},
        {APPEND, "file rank-2.h5", "x"},
        {REPLACE, "file rank-2.h5", "file rank-2.h5x 1000 00000000000000ab own"},
        {REPLACE, "file rank-2.h5", "file rank-2.h5 1000 00000000000000ab mine"},
        {REPLACE, "file rank-2.h5", "file rank-2.h5 1000 00000000000000ab"},
        {0, NULL, NULL}};
    char *body = manifest_body();
    size_t len = strlen(body);
    manifest_t m;
    mf_refused(ed);
    /* After the checksum line nothing may follow. */
    CU_ASSERT_FATAL(manifest_seal(&body, &len) == 0);
    body = realloc(body, len + 8);
    strcpy(body + len, "junk\n");
    CU_ASSERT_EQUAL(mf_parse_raw(body, len + 5, &m), CKPT_ECORRUPT);
    free(body);
}

/* Fails before issue 9's parser: numbers were not checked against counts. */
static void manifest_out_of_range(void)
{
    static const edit_t ed[] = {
        {REPLACE, "node ", "node 2"},
        {REPLACE, "file rank-2.h5", "file rank-4.h5 1000 00000000000000ab own"},
        {REPLACE, "nodes ", "nodes 0"}, {REPLACE, "ranks ", "ranks 0"},
        {0, NULL, NULL}};
    mf_refused(ed);
}

static void manifest_absent(void)
{
    char path[600];
    ckpt_err_t e = {0};
    manifest_t m;
    snprintf(path, sizeof path, "%s/" MANIFEST_NAME, dir);
    unlink(path);
    CU_ASSERT_EQUAL(manifest_read(dir, &m, &e), CKPT_ENOENT);
}

/* ---- storage manifest ---- */

static void good_sm(smanifest_t *m)
{
    memset(m, 0, sizeof *m);
    CU_ASSERT_FATAL(sm_alloc(m, 2, 3) == 0);
    snprintf(m->job, sizeof m->job, "j");
    m->step = 7;
    for (int n = 0; n < 2; n++) {
        m->obj[n].size = 3000;
        sm_object_name("j", 7, n, 1, m->obj[n].name, sizeof m->obj[n].name);
    }
    m->r[0] = (sm_range_t){0, 0, 1500, 0xa};
    m->r[1] = (sm_range_t){0, 1500, 1500, 0xb};
    m->r[2] = (sm_range_t){1, 0, 3000, 0xc};
}

/* The good storage manifest's text as sm_format wrote it, unsealed. */
static char *sm_body(void)
{
    smanifest_t m;
    ckpt_err_t e = {0};
    size_t len;
    char *t;
    good_sm(&m);
    CU_ASSERT_EQUAL_FATAL(sm_format(&m, &t, &len, &e), CKPT_OK);
    sm_free(&m);
    CU_ASSERT_EQUAL_FATAL(manifest_unseal(t, len), 0);
    return t;
}

static int sm_parse_body(const char *body)
{
    size_t len = strlen(body);
    char *t = strdup(body);
    ckpt_err_t e = {0};
    smanifest_t m;
    int rc;
    CU_ASSERT_FATAL(t != NULL && manifest_seal(&t, &len) == 0);
    rc = sm_parse(t, len, &m, &e);
    if (rc == CKPT_OK)
        sm_free(&m);
    else
        EXPECT(e.msg[0] != '\0', "error %d without a message", rc);
    free(t);
    return rc;
}

static void sm_refused(const edit_t *ed)
{
    char *body = sm_body();
    for (; ed->prefix; ed++) {
        char *t = edit(body, ed->op, ed->prefix, ed->arg);
        int rc = sm_parse_body(t);
        EXPECT(rc == CKPT_ECORRUPT, "storage manifest line '%s...' %s%s%s: "
               "got %d, want CKPT_ECORRUPT", ed->prefix, op_name[ed->op],
               ed->arg ? op_join[ed->op] : "", ed->arg ? ed->arg : "", rc);
        free(t);
    }
    free(body);
}

static void sm_good(void)
{
    smanifest_t g, m;
    ckpt_err_t e = {0};
    size_t len;
    char *t;
    good_sm(&g);
    CU_ASSERT_EQUAL_FATAL(sm_format(&g, &t, &len, &e), CKPT_OK);
    CU_ASSERT_EQUAL_FATAL(sm_parse(t, len, &m, &e), CKPT_OK);
    CU_ASSERT_STRING_EQUAL(m.job, "j");
    CU_ASSERT(m.step == 7 && m.nnodes == 2 && m.nranks == 3);
    for (int n = 0; n < 2; n++)
        CU_ASSERT(m.obj[n].size == 3000 && !strcmp(m.obj[n].name, g.obj[n].name));
    for (int r = 0; r < 3; r++)
        CU_ASSERT(m.r[r].node == g.r[r].node && m.r[r].off == g.r[r].off &&
                  m.r[r].size == g.r[r].size && m.r[r].digest == g.r[r].digest);
    sm_free(&m);
    sm_free(&g);
    free(t);
}

static void sm_truncated(void)
{
    char *body = sm_body(), *t;
    size_t len = strlen(body), cuts[] = {0, 1, 10, len / 2, len, len + 5};
    CU_ASSERT_FATAL(manifest_seal(&body, &len) == 0);
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        ckpt_err_t e = {0};
        smanifest_t m;
        int rc;
        t = malloc(cuts[i] + 1);
        memcpy(t, body, cuts[i]);
        t[cuts[i]] = '\0';
        rc = sm_parse(t, cuts[i], &m, &e);
        EXPECT(rc == CKPT_ECORRUPT, "storage manifest cut to %zu of %zu bytes "
               "gave %d", cuts[i], len, rc);
        if (rc == CKPT_OK)
            sm_free(&m);
        free(t);
    }
    free(body);
}

static void sm_bad_checksum(void)
{
    char *body = sm_body(), *t;
    size_t len = strlen(body);
    ckpt_err_t e = {0};
    smanifest_t m;
    CU_ASSERT_FATAL(manifest_seal(&body, &len) == 0);
    t = strstr(body, "step 7");
    t[5] = '8';
    CU_ASSERT_EQUAL(sm_parse(body, len, &m, &e), CKPT_ECORRUPT);
    free(body);
    body = sm_body();
    len = strlen(body);
    CU_ASSERT_EQUAL(sm_parse(body, len, &m, &e), CKPT_ECORRUPT); /* no seal */
    free(body);
}

static void sm_bad_magic(void)
{
    static const edit_t ed[] = {
        {REPLACE, "ckpt-storage-manifest", "ckpt-storage-manifest 9"},
        {REPLACE, "ckpt-storage-manifest", "ckpt-manifest 1"},
        {DROP, "ckpt-storage-manifest", NULL},
        {APPEND, "ckpt-storage-manifest", " "},
        {0, NULL, NULL}};
    sm_refused(ed);
}

/* Fails before issue 9's parser, except nodes and ranks: absent lines were
 * taken as 0, "" or an empty object. */
static void sm_missing_lines(void)
{
    static const edit_t ed[] = {
        {DROP, "job ", NULL}, {DROP, "step ", NULL}, {DROP, "nodes ", NULL},
        {DROP, "ranks ", NULL}, {DROP, "object 1 ", NULL},
        {DROP, "range 2 ", NULL}, {0, NULL, NULL}};
    sm_refused(ed);
}

/* Fails before issue 9's parser for sizes and nodes beyond their types. */
static void sm_huge_numbers(void)
{
    static const edit_t ed[] = {
        {REPLACE, "ranks ", "ranks 16777216"},
        {REPLACE, "nodes ", "nodes 4294967298"},
        {REPLACE, "object 1 ", "object 1 99999999999999999999 x"},
        {REPLACE, "range 2 ", "range 2 4294967297 0 3000 000000000000000c"},
        {REPLACE, "range 2 ", "range 2 1 0 99999999999999999999 000000000000000c"},
        {REPLACE, "range 2 ", "range 2 1 0 3000 10000000000000000c"},
        {0, NULL, NULL}};
    sm_refused(ed);
}

/* Fails before issue 9's parser for step, offsets and sizes. */
static void sm_negative_numbers(void)
{
    static const edit_t ed[] = {
        {REPLACE, "step ", "step -7"}, {REPLACE, "nodes ", "nodes -2"},
        {REPLACE, "ranks ", "ranks -3"},
        {REPLACE, "object 1 ", "object -1 3000 x"},
        {REPLACE, "object 1 ", "object 1 -3000 x"},
        {REPLACE, "range 2 ", "range -2 1 0 3000 000000000000000c"},
        {REPLACE, "range 2 ", "range 2 -1 0 3000 000000000000000c"},
        {REPLACE, "range 2 ", "range 2 1 -5 3000 000000000000000c"},
        {REPLACE, "range 2 ", "range 2 1 0 -3000 000000000000000c"},
        {0, NULL, NULL}};
    sm_refused(ed);
}

/* Fails before issue 9's parser except for a repeated ranks line: the last
 * of repeated lines won. A nodes line after ranks changed the count after
 * the arrays were sized by it, so an object line could then write past
 * them (fuzz/regressions/smanifest/ holds that input). */
static void sm_duplicate_lines(void)
{
    static const edit_t ed[] = {
        {REPEAT, "job ", "job k"}, {REPEAT, "step ", "step 8"},
        {REPEAT, "ranks ", NULL}, {REPEAT, "object 1 ", NULL},
        {REPEAT, "range 2 ", "range 2 1 0 10 000000000000000c"},
        {APPEND, "ranks ", "|nodes 3"}, {APPEND, "ranks ", "|nodes 1"},
        {0, NULL, NULL}};
    sm_refused(ed);
}

/* Fails before issue 9's parser: sscanf ignored what followed. */
static void sm_trailing_garbage(void)
{
    static const edit_t ed[] = {
        {APPEND, "nodes ", " 3"}, {APPEND, "step ", "x"},
        {APPEND, "job ", " k"}, {APPEND, "object 1 ", " more"},
        {APPEND, "range 2 ", " 5"}, {APPEND, "range 2 ", "zz"},
        {0, NULL, NULL}};
    char *body = sm_body();
    size_t len = strlen(body);
    ckpt_err_t e = {0};
    smanifest_t m;
    sm_refused(ed);
    CU_ASSERT_FATAL(manifest_seal(&body, &len) == 0);
    body = realloc(body, len + 8);
    strcpy(body + len, "junk\n");
    CU_ASSERT_EQUAL(sm_parse(body, len + 5, &m, &e), CKPT_ECORRUPT);
    free(body);
}

/* Fails before issue 9's parser: a range could point outside its object. */
static void sm_range_outside_object(void)
{
    static const edit_t ed[] = {
        {REPLACE, "range 2 ", "range 2 1 1 3000 000000000000000c"},
        {REPLACE, "range 2 ", "range 2 1 3001 0 000000000000000c"},
        {REPLACE, "range 2 ", "range 2 1 18446744073709551615 2 000000000000000c"},
        {0, NULL, NULL}};
    sm_refused(ed);
}

/* ---- main ---- */

static const struct {
    const char *suite, *name;
    CU_TestFunc fn;
} tests[] = {
    {"config", "good file, defaults", config_good},
    {"config", "comments", config_comments},
    {"config", "unknown key, with file and line", config_unknown_key},
    {"config", "missing '='", config_missing_equals},
    {"config", "bad numbers and words", config_bad_numbers},
    {"config", "numbers beyond their types", config_overflow},
    {"config", "long lines and values", config_long_lines},
    {"config", "environment beats file", config_environment},
    {"config", "secrets never in messages", config_secrets_not_echoed},
    {"config", "missing file, writeback without URL", config_missing_file},
    {"manifest", "good MANIFEST round trip", manifest_good},
    {"manifest", "truncated", manifest_truncated},
    {"manifest", "bad checksum", manifest_bad_checksum},
    {"manifest", "bad magic", manifest_bad_magic},
    {"manifest", "missing header lines", manifest_missing_lines},
    {"manifest", "numbers beyond their types", manifest_huge_numbers},
    {"manifest", "negative numbers", manifest_negative_numbers},
    {"manifest", "duplicate lines", manifest_duplicate_lines},
    {"manifest", "trailing garbage", manifest_trailing_garbage},
    {"manifest", "node or rank beyond the counts", manifest_out_of_range},
    {"manifest", "absent is CKPT_ENOENT", manifest_absent},
    {"smanifest", "good storage manifest round trip", sm_good},
    {"smanifest", "truncated", sm_truncated},
    {"smanifest", "bad checksum", sm_bad_checksum},
    {"smanifest", "bad magic", sm_bad_magic},
    {"smanifest", "missing lines", sm_missing_lines},
    {"smanifest", "numbers beyond their types", sm_huge_numbers},
    {"smanifest", "negative numbers", sm_negative_numbers},
    {"smanifest", "duplicate and late lines", sm_duplicate_lines},
    {"smanifest", "trailing garbage", sm_trailing_garbage},
    {"smanifest", "range outside its object", sm_range_outside_object},
};
#define NTESTS (sizeof tests / sizeof tests[0])

static int make_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/t_parsers-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

static void remove_dir(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "t_parsers: could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    unsigned run, failed;
    CU_pSuite s = NULL;
    const char *current = "";
    if (make_dir() != 0 || CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    for (size_t i = 0; i < NTESTS; i++) {
        if (only && strcmp(only, tests[i].suite))
            continue;
        if (strcmp(current, tests[i].suite))
            s = CU_add_suite(current = tests[i].suite, NULL, NULL);
        CU_add_test(s, tests[i].name, tests[i].fn);
    }
    if (s == NULL) {
        fprintf(stderr, "t_parsers: no suite '%s'\n", only);
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    run = CU_get_number_of_tests_run();
    failed = CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    remove_dir();
    printf("parsers %s: %u passed, %u failed\n", only ? only : "all",
           run - failed, failed);
    return failed ? 1 : 0;
}
