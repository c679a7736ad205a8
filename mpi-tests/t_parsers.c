/* Parser unit tests without MPI: the configuration file and environment, the
 * node MANIFEST and the storage manifest get good and malformed texts
 * through their public functions; fileio checks how files are rewritten
 * and replaced, rs the Reed-Solomon arithmetic (src/rs/rs_code.c).
 * `t_parsers SUITE` runs one suite (config, manifest, smanifest, fileio,
 * rs); no argument runs them all. Malformed manifests are
 * made from a good one written by the library, a line removed, repeated,
 * replaced or extended, then sealed anew, so that the parser behind the
 * checksum is what a test reaches. */
#include "config.h"
#include "fileio.h"
#include "rs_code.h"
#include "manifest.h"
#include "smanifest.h"
#include "textrec.h"
#include "ckpt.h"

#include <CUnit/Basic.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
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

enum { DROP, REPEAT, REPLACE, APPEND, WORD0 };
#define WORD(k) (WORD0 + (k)) /* the line's word k (0 first) replaced */
static const char *const op_name[] = {"dropped", "repeated", "replaced",
                                      "extended", "word changed"};
static const char *const op_join[] = {"", " as ", " by ", " with ", " to "};

/* One edit: the first line starting with `prefix` dropped, repeated (the
 * copy as `arg` if given), replaced by `arg`, extended by `arg`, or with
 * one word replaced by `arg`. A '|' in arg stands for a line break. */
typedef struct {
    int op;
    const char *prefix, *arg;
} edit_t;

static char *put_arg(char *o, const char *arg)
{
    for (; *arg; arg++)
        *o++ = *arg == '|' ? '\n' : *arg;
    return o;
}

/* The line [line, end) (end after its newline) with word k replaced. */
static char *put_word(char *o, const char *line, const char *end, int k,
                      const char *arg)
{
    const char *p = line;
    for (int i = 0; i < k && p < end; i++) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        p = sp ? sp + 1 : end;
    }
    CU_ASSERT_FATAL(p < end);
    memcpy(o, line, (size_t)(p - line));
    o = put_arg(o + (p - line), arg);
    while (p < end && *p != ' ' && *p != '\n')
        p++;
    memcpy(o, p, (size_t)(end - p));
    return o + (end - p);
}

/* The body with one edit made; malloc'd. The test fails if no line starts
 * with the prefix. */
static char *edit(const char *body, const edit_t *ed)
{
    size_t plen = strlen(ed->prefix), alen = ed->arg ? strlen(ed->arg) : 0;
    const char *line = body, *end;
    char *out, *o;
    while (*line && strncmp(line, ed->prefix, plen)) {
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
    switch (ed->op < WORD0 ? ed->op : WORD0) {
    case REPEAT:
        memcpy(o, line, (size_t)(end - line));
        o += end - line;
        if (ed->arg) {
            o = put_arg(o, ed->arg);
            *o++ = '\n';
        } else {
            memcpy(o, line, (size_t)(end - line));
            o += end - line;
        }
        break;
    case REPLACE:
        o = put_arg(o, ed->arg);
        *o++ = '\n';
        break;
    case APPEND:
        memcpy(o, line, (size_t)(end - line - 1));
        o = put_arg(o + (end - line - 1), ed->arg);
        *o++ = '\n';
        break;
    case WORD0:
        o = put_word(o, line, end, ed->op - WORD0, ed->arg);
        break;
    }
    strcpy(o, end);
    return out;
}

static void expect_refused(const char *what, const edit_t *ed, int rc)
{
    int op = ed->op < WORD0 ? ed->op : WORD0;
    char where[32] = "";
    if (op == WORD0)
        snprintf(where, sizeof where, " %d", ed->op - WORD0);
    EXPECT(rc == CKPT_ECORRUPT, "%s line '%s...' %s%s%s%s: got %d, want "
           "CKPT_ECORRUPT", what, ed->prefix, op_name[op], where,
           ed->arg ? op_join[op] : "", ed->arg ? ed->arg : "", rc);
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
    /* %n: the node number, each node a root of its own */
    CU_ASSERT_EQUAL(load("cache_dir = /ssd/%n/c%n\n", &c, &e), CKPT_OK);
    CU_ASSERT(config_node_root(&c, 12) == 0 && c.root_per_node);
    CU_ASSERT_STRING_EQUAL(c.cache_dir, "/ssd/12/c12");
    CU_ASSERT_EQUAL(load("", &c, &e), CKPT_OK);
    CU_ASSERT(config_node_root(&c, 3) == 0 && !c.root_per_node);
    CU_ASSERT_EQUAL(c.mode, MODE_CACHE);
    CU_ASSERT_EQUAL(c.verbose, 1);
    CU_ASSERT(c.redundancy == REDUNDANCY_PARTNER && c.rs_data == 4 &&
              c.rs_parity == 2);
    CU_ASSERT_EQUAL(load("redundancy = rs\nrs_data = 32\nrs_parity = 8\n", &c, &e),
                    CKPT_OK);
    CU_ASSERT(c.redundancy == REDUNDANCY_RS && c.rs_data == 32 &&
              c.rs_parity == 8);
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
    /* Unknown, or not a key at all (a line that may hold a secret is not
     * shown, so the message need not name it). */
    refused(lines, " key");
    CU_ASSERT_EQUAL(load("verbose = 1\n\nverbos = 1\n", &c, &e), CKPT_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "ckpt.conf:3: unknown key 'verbos'"));
}

static void config_missing_equals(void)
{
    static const char *const lines[] = {"verbose 1\n", "verbose\n",
                                        "job: x\n", NULL};
    refused(lines, "expected '");
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
        "redundancy = both\n", "redundancy = RS\n", "rs_data = 0\n",
        "rs_data = 33\n", "rs_parity = 0\n", "rs_parity = 9\n",
        "mode = Cache\n", NULL};
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

/* Defaults under Slurm (docs/SLURM.md): job from the job id (an array
 * task's own), never from something that is not a number; the file and
 * CKPT_JOB beat it; cache_dir under an absolute TMPDIR, one per user. */
static void config_slurm_defaults(void)
{
    char want[300], *tmp = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
    ckpt_config_t c;
    ckpt_err_t e;
    unsetenv("SLURM_ARRAY_JOB_ID");
    unsetenv("SLURM_ARRAY_TASK_ID");
    setenv("SLURM_JOB_ID", "4242", 1);
    setenv("TMPDIR", "/scratch/job", 1);
    CU_ASSERT_EQUAL(load("", &c, &e), CKPT_OK);
    CU_ASSERT_STRING_EQUAL(c.job, "slurm-4242");
    snprintf(want, sizeof want, "/scratch/job/ckpt-%u", (unsigned)geteuid());
    CU_ASSERT_STRING_EQUAL(c.cache_dir, want);
    CU_ASSERT_EQUAL(load("job = mine\n", &c, &e), CKPT_OK);
    CU_ASSERT_STRING_EQUAL(c.job, "mine");
    setenv("CKPT_JOB", "chain", 1);
    CU_ASSERT_EQUAL(load("job = mine\n", &c, &e), CKPT_OK);
    CU_ASSERT_STRING_EQUAL(c.job, "chain");
    unsetenv("CKPT_JOB");
    setenv("SLURM_ARRAY_JOB_ID", "77", 1);
    setenv("SLURM_ARRAY_TASK_ID", "3", 1);
    CU_ASSERT_EQUAL(load("", &c, &e), CKPT_OK);
    CU_ASSERT_STRING_EQUAL(c.job, "slurm-77_3");
    unsetenv("SLURM_ARRAY_JOB_ID");
    unsetenv("SLURM_ARRAY_TASK_ID");
    setenv("SLURM_JOB_ID", "12/../x", 1);
    setenv("TMPDIR", "relative", 1);
    CU_ASSERT_EQUAL(load("", &c, &e), CKPT_OK);
    CU_ASSERT_STRING_EQUAL(c.job, "t_parsers");
    snprintf(want, sizeof want, "/tmp/ckpt-%u", (unsigned)geteuid());
    CU_ASSERT_STRING_EQUAL(c.cache_dir, want);
    unsetenv("SLURM_JOB_ID");
    if (tmp)
        setenv("TMPDIR", tmp, 1);
    else
        unsetenv("TMPDIR");
    free(tmp);
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
    static mf_entry_t ent[] = {
        {.rank = 2, .own = 1, .size = 4096, .digest = 0xab, .first = 0, .nregions = 2},
        {.rank = 3, .own = 1, .size = 4096, .digest = 0xcd, .first = 2, .nregions = 1},
        {.rank = 0, .own = 0, .size = 900, .digest = 0xef, .first = 3},
        {.rank = 1, .own = 0, .size = 900, .digest = 0x12, .first = 3}};
    static rf_dataset_t d[] = {
        {.name = "w", .type = CKPT_DOUBLE, .count = 100, .off = 2048, .checksum = 1},
        {.name = "iter", .type = CKPT_INT64, .count = 1, .off = 2848, .checksum = 2},
        {.name = "w", .type = CKPT_DOUBLE, .count = 100, .off = 2048, .checksum = 3}};
    static manifest_t m = {.job = "j", .step = 7, .generation = 0x0123456789abcdefULL,
                           .node = 1, .nnodes = 2, .nranks = 4, .n = 4, .e = ent,
                           .nd = 3, .d = d};
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
    CU_ASSERT_EQUAL_FATAL(tr_unseal(t, len), 0);
    return t;
}

/* A sealed text parsed (from a copy: the parser cuts it up). */
static int mf_parse_raw(const char *text, size_t len, manifest_t *m)
{
    ckpt_err_t e = {0};
    char *t = malloc(len + 1);
    int rc;
    CU_ASSERT_FATAL(t != NULL);
    memcpy(t, text, len);
    t[len] = '\0';
    rc = manifest_parse(t, len, m, &e);
    if (rc != CKPT_OK)
        EXPECT(e.msg[0] != '\0', "error %d without a message", rc);
    free(t);
    return rc;
}

/* body sealed, parsed; the manifest is freed. */
static int mf_parse(const char *body)
{
    size_t len = strlen(body);
    char *t = strdup(body);
    manifest_t m;
    int rc;
    CU_ASSERT_FATAL(t != NULL && tr_seal(&t, &len) == 0);
    rc = mf_parse_raw(t, len, &m);
    if (rc == CKPT_OK)
        manifest_free(&m);
    free(t);
    return rc;
}

/* Each edit of the good body is refused as damaged. */
static void mf_refused(const edit_t *ed)
{
    char *body = manifest_body();
    for (; ed->prefix; ed++) {
        char *t = edit(body, ed);
        expect_refused("MANIFEST", ed, mf_parse(t));
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
    CU_ASSERT(m.step == g->step && m.generation == g->generation &&
              m.node == g->node && m.nnodes == g->nnodes &&
              m.nranks == g->nranks && m.n == g->n && m.nd == g->nd);
    for (int i = 0; i < m.n && i < g->n; i++)
        CU_ASSERT(m.e[i].rank == g->e[i].rank && m.e[i].own == g->e[i].own &&
                  m.e[i].size == g->e[i].size && m.e[i].digest == g->e[i].digest &&
                  m.e[i].first == g->e[i].first &&
                  m.e[i].nregions == g->e[i].nregions);
    for (int i = 0; i < m.nd && i < g->nd; i++)
        CU_ASSERT(!strcmp(m.d[i].name, g->d[i].name) && m.d[i].type == g->d[i].type &&
                  m.d[i].count == g->d[i].count && m.d[i].off == g->d[i].off &&
                  m.d[i].checksum == g->d[i].checksum);
    CU_ASSERT_PTR_EQUAL(manifest_find(&m, 1), &m.e[3]);
    CU_ASSERT_PTR_NULL(manifest_find(&m, 4));
    manifest_free(&m);
}

/* redundancy = rs: a node lists the other nodes' files of its group as
 * coded entries (with their datasets) and its parity files; each parity
 * set once, no datasets under a parity file, sets are rank indices. */
static void manifest_rs(void)
{
    static const char *head = "ckpt-manifest 3\njob j\nstep 7\ngeneration "
        "0123456789abcdef\nnode 1\nnodes 3\nranks 3\n";
    static const char *body =
        "layout rs 2 1 0 3\n"
        "file rank-1.h5 4096 00000000000000ab own\n"
        "region w double 100 2048 0000000000000001\n"
        "file rank-0.h5 4096 00000000000000cd coded\n"
        "region w double 100 2048 0000000000000002\n"
        "parity 0 2048 00000000000000ef\n";
    static const char *bad[] = {
        "parity 0 2048 00000000000000ef\nregion w double 1 0 0000000000000001\n",
        "parity 0 2048 00000000000000ef\n", /* set 0 twice */
        "parity 3 2048 00000000000000ef\n", /* set out of range */
        "parity 1 2048\n",
        "file rank-2.h5 4096 00000000000000cd parity\n",
        "file rank-0.h5 4096 00000000000000cd own\n", /* rank 0 twice */
        "layout rs 2 1 0 3\n",                          /* twice */
        NULL};
    static const char *bad_layout[] = {
        "layout rs 2 1 1 3\n", /* past the last node */
        "layout rs 2 2 0 3\n", /* k + m is not the group's nodes */
        "layout rs 0 3 0 3\n", "layout xor 2 1 0 3\n", "layout rs 2 1 0\n",
        NULL};
    char text[1024];
    manifest_t m;
    size_t len;
    snprintf(text, sizeof text, "%s%s", head, body);
    len = strlen(text);
    {
        char *t = strdup(text);
        CU_ASSERT_FATAL(t != NULL && tr_seal(&t, &len) == 0);
        CU_ASSERT_EQUAL_FATAL(mf_parse_raw(t, len, &m), CKPT_OK);
        free(t);
    }
    CU_ASSERT_EQUAL(m.n, 3);
    CU_ASSERT(m.rs_k == 2 && m.rs_m == 1 && m.rs_first == 0 && m.rs_nodes == 3);
    CU_ASSERT(manifest_find(&m, 0) == &m.e[1] && m.e[1].kind == MF_CODED &&
              !m.e[1].own && m.e[1].nregions == 1);
    CU_ASSERT(manifest_find_parity(&m, 0) == &m.e[2] && m.e[2].kind == MF_PARITY &&
              m.e[2].size == 2048 && m.e[2].digest == 0xef);
    CU_ASSERT_PTR_NULL(manifest_find(&m, 2));
    CU_ASSERT_PTR_NULL(manifest_find_parity(&m, 1));
    manifest_free(&m);
    for (int i = 0; bad[i]; i++) {
        snprintf(text, sizeof text, "%s%s%s", head, body, bad[i]);
        EXPECT(mf_parse(text) == CKPT_ECORRUPT, "accepted: %s", bad[i]);
    }
    for (int i = 0; bad_layout[i]; i++) {
        snprintf(text, sizeof text, "%s%s%s", head, bad_layout[i],
                 strchr(body, '\n') + 1); /* in place of the good one */
        EXPECT(mf_parse(text) == CKPT_ECORRUPT, "accepted: %s", bad_layout[i]);
    }
}

static void manifest_truncated(void)
{
    char *body = manifest_body();
    size_t len = strlen(body), cuts[] = {0, 1, 10, len / 2, len, len + 5};
    manifest_t m;
    CU_ASSERT_FATAL(tr_seal(&body, &len) == 0);
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
    CU_ASSERT_FATAL(tr_seal(&body, &len) == 0);
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
    static const edit_t ed[] = {{REPLACE, "ckpt-manifest", "ckpt-manifest 1"},
                                {REPLACE, "ckpt-manifest", "ckpt-manifest 2"},
                                {REPLACE, "ckpt-manifest", "ckpt-manifest 4"},
                                {REPLACE, "ckpt-manifest", "CKPT-manifest 3"},
                                {REPLACE, "ckpt-manifest", ""},
                                {DROP, "ckpt-manifest", NULL},
                                {APPEND, "ckpt-manifest", " "},
                                {0, NULL, NULL}};
    mf_refused(ed);
}

static void manifest_missing_lines(void)
{
    static const edit_t ed[] = {
        {DROP, "job ", NULL}, {DROP, "step ", NULL}, {DROP, "generation ", NULL},
        {DROP, "node ", NULL}, {DROP, "nodes ", NULL}, {DROP, "ranks ", NULL},
        {0, NULL, NULL}};
    mf_refused(ed);
}

static void manifest_huge_numbers(void)
{
    static const edit_t ed[] = {
        {WORD(1), "nodes ", "99999999999"}, {WORD(1), "ranks ", "4294967300"},
        {WORD(1), "step ", "99999999999999999999"},
        {WORD(1), "generation ", "10123456789abcdef"},
        {WORD(1), "file rank-2.h5", "rank-4294967298.h5"},
        {WORD(2), "file rank-2.h5", "99999999999999999999"},
        {WORD(3), "file rank-2.h5", "100000000000000ab"},
        {WORD(3), "region iter ", "99999999999999999999"},
        {WORD(4), "region iter ", "99999999999999999999"},
        {0, NULL, NULL}};
    mf_refused(ed);
}

static void manifest_negative_numbers(void)
{
    static const edit_t ed[] = {
        {WORD(1), "node ", "-1"}, {WORD(1), "nodes ", "-2"},
        {WORD(1), "ranks ", "-4"}, {WORD(1), "step ", "-7"},
        {WORD(1), "file rank-2.h5", "rank--2.h5"},
        {WORD(2), "file rank-2.h5", "-4096"},
        {WORD(3), "file rank-2.h5", "-00000000000000ab"},
        {WORD(3), "region iter ", "-1"}, {WORD(4), "region iter ", "-5"},
        {0, NULL, NULL}};
    mf_refused(ed);
}

static void manifest_duplicate_lines(void)
{
    static const edit_t ed[] = {
        {REPEAT, "job ", "job k"}, {REPEAT, "step ", "step 8"},
        {REPEAT, "generation ", NULL}, {REPEAT, "node ", NULL},
        {REPEAT, "ranks ", NULL}, {REPEAT, "file rank-0.h5", NULL},
        {REPEAT, "file rank-0.h5", "file rank-0.h5 5 0000000000000001 copy"},
        {REPEAT, "region iter ", NULL},
        {REPEAT, "region iter ", "region iter int64 1 8 0000000000000002"},
        {0, NULL, NULL}};
    mf_refused(ed);
}

static void manifest_trailing_garbage(void)
{
    static const edit_t ed[] = {
        {APPEND, "nodes ", " 3"}, {APPEND, "step ", "x"},
        {APPEND, "job ", " k"}, {APPEND, "generation ", "0"},
        {APPEND, "file rank-2.h5", " extra"}, {APPEND, "file rank-2.h5", "x"},
        {APPEND, "region iter ", " 1"},
        {WORD(1), "file rank-2.h5", "rank-2.h5x"},
        {WORD(4), "file rank-2.h5", "mine"},
        {WORD(4), "file rank-2.h5", "own "},
        {REPLACE, "file rank-2.h5", "file rank-2.h5 4096 00000000000000ab"},
        {WORD(1), "step ", " 7"}, {WORD(1), "step ", "07"},
        {0, NULL, NULL}};
    char *body = manifest_body();
    size_t len = strlen(body);
    manifest_t m;
    mf_refused(ed);
    /* After the checksum line nothing may follow. */
    CU_ASSERT_FATAL(tr_seal(&body, &len) == 0);
    body = realloc(body, len + 8);
    strcpy(body + len, "junk\n");
    CU_ASSERT_EQUAL(mf_parse_raw(body, len + 5, &m), CKPT_ECORRUPT);
    free(body);
}

static void manifest_out_of_range(void)
{
    static const edit_t ed[] = {
        {WORD(1), "node ", "2"}, {WORD(1), "file rank-2.h5", "rank-4.h5"},
        {WORD(1), "nodes ", "0"}, {WORD(1), "ranks ", "0"},
        {WORD(1), "nodes ", "5"}, {0, NULL, NULL}};
    mf_refused(ed);
}

/* The datasets a restore reads by: inside their file, under a file line,
 * no name twice in one file. */
static void manifest_regions(void)
{
    static const edit_t ed[] = {
        {WORD(4), "region iter ", "4090"},
        {WORD(3), "region iter ", "1000"},
        {WORD(2), "region iter ", "float128"},
        {WORD(1), "region iter ", "a/b"},
        {WORD(5), "region iter ", "000000000000002"},
        {APPEND, "region iter ", "|region iter int32 1 0 0000000000000001"},
        {APPEND, "ranks ", "|region x double 1 0 0000000000000001"},
        {0, NULL, NULL}};
    mf_refused(ed);
}

/* An index sent with a stream: region lines alone, each inside the file. */
static void index_lines(void)
{
    static const char *const bad[] = {
        "region a double 1 0 0000000000000001",         /* no newline */
        ("region a double 1 0 0000000000000001\n\nregion b byte 1 8 "
         "0000000000000001\n"),                           /* empty line */
        "region a double 2 10 0000000000000001\n",      /* past the end */
        "region a/b double 1 0 0000000000000001\n",     /* not a name */
        "region a double 1 0 1\0 0000000000000001\n"};  /* a NUL inside */
    static const size_t badlen[] = {36, 73, 38, 39, 40};
    char good[] = "region a double 1 0 00000000000000ff\n"
                  "region b byte 8 8 0000000000000001\n";
    rf_index_t idx;
    char buf[128];
    CU_ASSERT_EQUAL_FATAL(manifest_parse_regions(good, sizeof good - 1, 16, &idx), 0);
    CU_ASSERT_EQUAL_FATAL(idx.n, 2);
    CU_ASSERT_STRING_EQUAL(idx.d[1].name, "b");
    CU_ASSERT_EQUAL(idx.d[1].off, 8);
    CU_ASSERT_EQUAL(idx.d[0].checksum, 0xff);
    rankfile_index_free(&idx);
    CU_ASSERT_EQUAL(manifest_parse_regions(buf, 0, 16, &idx), 0);
    CU_ASSERT_EQUAL(idx.n, 0);
    rankfile_index_free(&idx);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(buf, bad[i], badlen[i]);
        EXPECT(manifest_parse_regions(buf, badlen[i], 16, &idx) == -1,
               "index %zu accepted", i);
    }
}

/* A slice of a global or replicated region: its kind, global offset and
 * global count after the checksum; inside its array, a known kind. */
static void index_shapes(void)
{
    static const char *const bad[] = {
        "region g uint64 2 0 0000000000000001 global 9 10\n",   /* past the array */
        "region g uint64 2 0 0000000000000001 private 0 2\n",   /* not a slice */
        "region g uint64 2 0 0000000000000001 shard 0 2\n",     /* no such kind */
        "region g uint64 2 0 0000000000000001 global 4\n",      /* a word short */
        "region g uint64 2 0 0000000000000001 global 4 10 1\n", /* one too many */
        "region g uint64 2 0 0000000000000001 global -4 10\n"};
    char good[] = "region g uint64 2 0 0000000000000001 global 4 10\n"
                  "region w double 1 8 0000000000000002 replicated 0 1\n";
    char buf[128];
    rf_index_t idx;
    CU_ASSERT_EQUAL_FATAL(manifest_parse_regions(good, sizeof good - 1, 16, &idx), 0);
    CU_ASSERT_EQUAL_FATAL(idx.n, 2);
    CU_ASSERT(idx.d[0].kind == REGION_GLOBAL && idx.d[0].goff == 4 &&
              idx.d[0].gcount == 10 && idx.d[0].count == 2);
    CU_ASSERT(idx.d[1].kind == REGION_REPLICATED && idx.d[1].gcount == 1);
    rankfile_index_free(&idx);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = strlen(bad[i]);
        memcpy(buf, bad[i], n);
        EXPECT(manifest_parse_regions(buf, n, 16, &idx) == -1,
               "slice line %zu accepted", i);
    }
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
    m->generation = 0x0123456789abcdefULL;
    m->spread = 1;
    m->obj[0].size = m->obj[1].size = 3000;
    sm_name_objects(m);
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
    CU_ASSERT_EQUAL_FATAL(tr_unseal(t, len), 0);
    return t;
}

static int sm_parse_body(const char *body)
{
    size_t len = strlen(body);
    char *t = strdup(body);
    ckpt_err_t e = {0};
    smanifest_t m;
    int rc;
    CU_ASSERT_FATAL(t != NULL && tr_seal(&t, &len) == 0);
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
        char *t = edit(body, ed);
        expect_refused("storage manifest", ed, sm_parse_body(t));
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
    CU_ASSERT(m.step == 7 && m.generation == g.generation && m.spread == 1 &&
              m.nnodes == 2 && m.nranks == 3);
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
    CU_ASSERT_FATAL(tr_seal(&body, &len) == 0);
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
    CU_ASSERT_FATAL(tr_seal(&body, &len) == 0);
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
        {REPLACE, "ckpt-storage-manifest", "ckpt-storage-manifest 1"},
        {REPLACE, "ckpt-storage-manifest", "ckpt-storage-manifest 9"},
        {REPLACE, "ckpt-storage-manifest", "ckpt-manifest 3"},
        {DROP, "ckpt-storage-manifest", NULL},
        {APPEND, "ckpt-storage-manifest", " "},
        {0, NULL, NULL}};
    sm_refused(ed);
}

static void sm_missing_lines(void)
{
    static const edit_t ed[] = {
        {DROP, "job ", NULL}, {DROP, "step ", NULL}, {DROP, "generation ", NULL},
        {DROP, "spread ", NULL}, {DROP, "nodes ", NULL}, {DROP, "ranks ", NULL},
        {DROP, "object 1 ", NULL}, {DROP, "range 2 ", NULL}, {0, NULL, NULL}};
    sm_refused(ed);
}

/* Counts beyond what the text holds are refused before anything is sized
 * by them. */
static void sm_huge_numbers(void)
{
    static const edit_t ed[] = {
        {WORD(1), "ranks ", "16777217"}, {WORD(1), "ranks ", "16000000"},
        {WORD(1), "nodes ", "4294967298"},
        {WORD(2), "object 1 ", "99999999999999999999"},
        {WORD(2), "range 2 ", "4294967297"},
        {WORD(4), "range 2 ", "99999999999999999999"},
        {WORD(5), "range 2 ", "1000000000000000c"},
        {0, NULL, NULL}};
    sm_refused(ed);
}

static void sm_negative_numbers(void)
{
    static const edit_t ed[] = {
        {WORD(1), "step ", "-7"}, {WORD(1), "nodes ", "-2"},
        {WORD(1), "ranks ", "-3"}, {WORD(1), "object 1 ", "-1"},
        {WORD(2), "object 1 ", "-3000"}, {WORD(1), "range 2 ", "-2"},
        {WORD(2), "range 2 ", "-1"}, {WORD(3), "range 2 ", "-5"},
        {WORD(4), "range 2 ", "-3000"}, {0, NULL, NULL}};
    sm_refused(ed);
}

/* A nodes line after ranks once resized nothing, and an object line could
 * then write past the array (fuzz/regressions/smanifest/). */
static void sm_duplicate_lines(void)
{
    static const edit_t ed[] = {
        {REPEAT, "job ", "job k"}, {REPEAT, "step ", "step 8"},
        {REPEAT, "generation ", NULL}, {REPEAT, "spread ", NULL},
        {REPEAT, "ranks ", NULL}, {REPEAT, "object 1 ", NULL},
        {REPEAT, "range 2 ", "range 2 1 0 10 000000000000000c"},
        {APPEND, "ranks ", "|nodes 3"}, {APPEND, "ranks ", "|nodes 1"},
        {0, NULL, NULL}};
    sm_refused(ed);
}

static void sm_trailing_garbage(void)
{
    static const edit_t ed[] = {
        {APPEND, "nodes ", " 3"}, {APPEND, "step ", "x"},
        {APPEND, "job ", " k"}, {APPEND, "spread ", "0"},
        {APPEND, "object 1 ", " more"}, {APPEND, "range 2 ", " 5"},
        {APPEND, "range 2 ", "zz"}, {WORD(4), "range 2 ", "03000"},
        {0, NULL, NULL}};
    char *body = sm_body();
    size_t len = strlen(body);
    ckpt_err_t e = {0};
    smanifest_t m;
    sm_refused(ed);
    CU_ASSERT_FATAL(tr_seal(&body, &len) == 0);
    body = realloc(body, len + 8);
    strcpy(body + len, "junk\n");
    CU_ASSERT_EQUAL(sm_parse(body, len + 5, &m, &e), CKPT_ECORRUPT);
    free(body);
}

static void sm_range_outside_object(void)
{
    static const edit_t ed[] = {
        {WORD(3), "range 2 ", "1"},
        {REPLACE, "range 2 ", "range 2 1 3001 0 000000000000000c"},
        {WORD(3), "range 2 ", "18446744073709551615"},
        {0, NULL, NULL}};
    sm_refused(ed);
}

/* Indexes stay inside their arrays: a range naming node 7 of 2 once read
 * past the objects (textrec's bound check let 7 through for max 1). */
static void sm_out_of_range(void)
{
    static const edit_t ed[] = {
        {WORD(2), "range 2 ", "2"}, {WORD(2), "range 2 ", "7"},
        {WORD(1), "range 2 ", "3"}, {WORD(1), "object 1 ", "2"},
        {WORD(1), "object 1 ", "0"}, {WORD(1), "range 2 ", "0"},
        {0, NULL, NULL}};
    sm_refused(ed);
}

/* Object names are recomputed, never taken from the text: a manifest
 * cannot point a restore or a deletion at another job's objects. */
static void sm_object_names(void)
{
    static const edit_t ed[] = {
        {WORD(3), "object 1 ", "other/step-7/g0123456789abcdef/node-1"},
        {WORD(3), "object 1 ", "../j/step-7/node-1"},
        {WORD(1), "spread ", "0"}, {WORD(1), "spread ", "2"},
        {0, NULL, NULL}};
    sm_refused(ed);
}

/* fileio: a file rewritten in place is never written through a link. */
static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

static int holds(const char *path, const char *text)
{
    char buf[64] = "";
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return !strcmp(buf, text);
}

/* What is planted at `at` (by `plant`) is replaced by a new, private file. */
static void rewrite_planted(const char *kind)
{
    char victim[600], at[600];
    struct stat st;
    int fd;
    snprintf(victim, sizeof victim, "%s/victim-%s", dir, kind);
    snprintf(at, sizeof at, "%s/rank-%s.h5.tmp", dir, kind);
    write_text(victim, "precious");
    if (!strcmp(kind, "hard"))
        CU_ASSERT_EQUAL_FATAL(link(victim, at), 0);
    if (!strcmp(kind, "soft"))
        CU_ASSERT_EQUAL_FATAL(symlink(victim, at), 0);
    if (!strcmp(kind, "fifo"))
        CU_ASSERT_EQUAL_FATAL(mkfifo(at, 0600), 0);
    fd = fio_open_rewrite(at); /* a FIFO must not block it */
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(write(fd, "new bytes", 9), 9);
    CU_ASSERT_EQUAL(fstat(fd, &st), 0);
    CU_ASSERT_TRUE(S_ISREG(st.st_mode) && st.st_nlink == 1 && (st.st_mode & 0777) == 0600);
    close(fd);
    CU_ASSERT_TRUE(holds(victim, "precious"));
    CU_ASSERT_TRUE(holds(at, "new bytes"));
}

static void fio_rewrite_hard_link(void) { rewrite_planted("hard"); }
static void fio_rewrite_symlink(void) { rewrite_planted("soft"); }
static void fio_rewrite_fifo(void) { rewrite_planted("fifo"); }

/* A replacement that cannot be renamed into place leaves the old file and
 * no temporary. */
static void fio_replace_failure(void)
{
    char path[600], tmp[600];
    ckpt_err_t e = {0};
    snprintf(path, sizeof path, "%s/replace-dir", dir);
    snprintf(tmp, sizeof tmp, "%s/replace-dir.tmp", dir);
    CU_ASSERT_EQUAL_FATAL(mkdir(path, 0700), 0); /* a file cannot replace it */
    CU_ASSERT_NOT_EQUAL(fio_write_replace(path, tmp, "x", 1, &e), CKPT_OK);
    CU_ASSERT_TRUE(access(tmp, F_OK) != 0);
    CU_ASSERT_TRUE(strstr(e.msg, "rename") != NULL);
    snprintf(path, sizeof path, "%s/replaced", dir);
    snprintf(tmp, sizeof tmp, "%s/replaced.tmp", dir);
    write_text(path, "old");
    err_clear(&e);
    CU_ASSERT_EQUAL(fio_write_replace(path, tmp, "new", 3, &e), CKPT_OK);
    CU_ASSERT_TRUE(holds(path, "new"));
    CU_ASSERT_TRUE(access(tmp, F_OK) != 0);
}


/* rs: Reed-Solomon blocks rebuilt from any k of k + m. */
typedef struct {
    rs_code_t c;
    size_t len;
    unsigned char *orig[RS_BLOCKS_MAX], *work[RS_BLOCKS_MAX];
} rs_case_t;

static void rs_case_init(rs_case_t *t, int k, int m, size_t len, unsigned seed)
{
    ckpt_err_t e = {0};
    CU_ASSERT_EQUAL_FATAL(rs_init(&t->c, k, m, &e), CKPT_OK);
    t->len = len;
    for (int i = 0; i < k + m; i++) {
        t->orig[i] = malloc(len);
        t->work[i] = malloc(len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t->orig[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t->work[i]);
    }
    for (int i = 0; i < k; i++)
        for (size_t j = 0; j < len; j++)
            t->orig[i][j] = (unsigned char)(rand_r(&seed) >> 7);
    rs_encode(&t->c, len, t->orig, t->orig + k);
}

static void rs_case_free(rs_case_t *t)
{
    for (int i = 0; i < t->c.k + t->c.m; i++) {
        free(t->orig[i]);
        free(t->work[i]);
    }
    rs_free(&t->c);
}

/* The blocks whose bit is set in `lost` are poisoned, then rebuilt: 1 if
 * every block is back as it was. */
static int rs_lose(rs_case_t *t, unsigned long lost)
{
    ckpt_err_t e = {0};
    int present[RS_BLOCKS_MAX] = {0}, n = t->c.k + t->c.m, same = 1;
    for (int i = 0; i < n; i++) {
        present[i] = !(lost >> i & 1);
        if (present[i])
            memcpy(t->work[i], t->orig[i], t->len);
        else
            memset(t->work[i], 0xee, t->len);
    }
    if (rs_rebuild(&t->c, t->len, t->work, present, &e) != CKPT_OK)
        return 0;
    for (int i = 0; i < n; i++)
        same &= memcmp(t->work[i], t->orig[i], t->len) == 0;
    return same;
}

static int popcount(unsigned long v)
{
    int n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

/* 4 + 2: every single and every pair of the 6 blocks lost, rebuilt. */
static void rs_every_pair(void)
{
    rs_case_t t;
    int ok = 0, tried = 0;
    rs_case_init(&t, 4, 2, 100003, 7);
    for (unsigned long lost = 1; lost < 1ul << 6; lost++)
        if (popcount(lost) <= 2) {
            tried++;
            ok += rs_lose(&t, lost);
        }
    CU_ASSERT_EQUAL(tried, 21);
    CU_ASSERT_EQUAL(ok, tried);
    rs_case_free(&t);
}

/* More than m lost: CKPT_ENOENT saying so, and no buffer written. */
static void rs_too_many_lost(void)
{
    rs_case_t t;
    ckpt_err_t e = {0};
    int present[6] = {0, 1, 0, 1, 0, 1};
    rs_case_init(&t, 4, 2, 4096, 3);
    for (int i = 0; i < 6; i++)
        memset(t.work[i], 0xee, t.len);
    CU_ASSERT_EQUAL(rs_rebuild(&t.c, t.len, t.work, present, &e), CKPT_ENOENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "3 of 6"));
    for (int i = 0; i < 6; i++)
        CU_ASSERT_TRUE(t.work[i][0] == 0xee && t.work[i][t.len - 1] == 0xee);
    rs_case_free(&t);
}

/* Other shapes, and blocks longer than one of ISA-L's pieces: m lost,
 * chosen among data and parity, in several patterns. */
static void rs_other_shapes(void)
{
    static const int km[][2] = {{1, 1}, {2, 1}, {3, 2}, {8, 3}, {10, 4}, {6, 6}};
    for (size_t s = 0; s < sizeof km / sizeof km[0]; s++) {
        int k = km[s][0], m = km[s][1], n = k + m;
        rs_case_t t;
        rs_case_init(&t, k, m, s == 2 ? (5u << 19) + 3 : 65537, (unsigned)s);
        for (int shift = 0; shift < n; shift++) {
            unsigned long lost = 0;
            for (int j = 0; j < m; j++)
                lost |= 1ul << ((shift + j * (n / m)) % n);
            CU_ASSERT_TRUE(rs_lose(&t, lost));
        }
        rs_case_free(&t);
    }
}

static void rs_bad_shapes(void)
{
    static const int km[][2] = {{0, 2}, {4, 0}, {-1, 1}, {200, 56}};
    for (size_t s = 0; s < sizeof km / sizeof km[0]; s++) {
        rs_code_t c;
        ckpt_err_t e = {0};
        CU_ASSERT_EQUAL(rs_init(&c, km[s][0], km[s][1], &e), CKPT_EINVAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "k + m <= 255"));
    }
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
    {"config", "defaults under Slurm: job and cache_dir", config_slurm_defaults},
    {"config", "secrets never in messages", config_secrets_not_echoed},
    {"config", "missing file, writeback without URL", config_missing_file},
    {"manifest", "good MANIFEST round trip", manifest_good},
    {"manifest", "RS entries: coded files, parity files", manifest_rs},
    {"manifest", "an index sent with a stream", index_lines},
    {"manifest", "slices of global and replicated regions", index_shapes},
    {"manifest", "truncated", manifest_truncated},
    {"manifest", "bad checksum", manifest_bad_checksum},
    {"manifest", "bad magic", manifest_bad_magic},
    {"manifest", "missing header lines", manifest_missing_lines},
    {"manifest", "numbers beyond their types", manifest_huge_numbers},
    {"manifest", "negative numbers", manifest_negative_numbers},
    {"manifest", "duplicate lines", manifest_duplicate_lines},
    {"manifest", "trailing garbage", manifest_trailing_garbage},
    {"manifest", "node or rank beyond the counts", manifest_out_of_range},
    {"manifest", "regions inside their files, names once", manifest_regions},
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
    {"smanifest", "node or rank beyond the counts", sm_out_of_range},
    {"smanifest", "object names are recomputed", sm_object_names},
    {"fileio", "rewrite in place: a hard link is replaced, not written through", fio_rewrite_hard_link},
    {"fileio", "rewrite in place: a symbolic link is replaced", fio_rewrite_symlink},
    {"fileio", "rewrite in place: a FIFO is replaced without blocking", fio_rewrite_fifo},
    {"fileio", "atomic replace: a failed rename leaves no temporary", fio_replace_failure},
    {"rs", "4 + 2: every single and pair of lost blocks rebuilt", rs_every_pair},
    {"rs", "more than m lost: ENOENT, nothing written", rs_too_many_lost},
    {"rs", "1+1 to 10+4 and 6+6, longer than a piece: m lost rebuilt", rs_other_shapes},
    {"rs", "k, m out of range: EINVAL", rs_bad_shapes},
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
