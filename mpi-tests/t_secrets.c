/* Secrets are never echoed: malformed configuration lines, secrets in the
 * wrong key or variable, URLs with credentials, storage that refuses or is
 * down. Every message must still say where the problem is, and no 8
 * characters in a row of the key or SAS token may appear in it; the script
 * checks the whole output (verbose = 3) the same way. The secrets come from
 * T_SECRET_KEY and T_SECRET_SAS. */
#include "testlib.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW 8

static const char *key, *sas;
static char msg[8192];

static int leaks(const char *text, const char *secret)
{
    char w[WINDOW + 1];
    for (size_t i = 0; i + WINDOW <= strlen(secret); i++) {
        memcpy(w, secret + i, WINDOW);
        w[WINDOW] = '\0';
        if (strstr(text, w))
            return 1;
    }
    return 0;
}

/* ckpt_init with config text (and verbose = 3) fails with `want`, and its
 * message says `where`, leaking nothing. */
static void expect(const char *text, int want, const char *where)
{
    static char conf[8192 + 64];
    int rc;
    snprintf(conf, sizeof conf, "verbose = 3\nranks_per_node = 2\n%s", text);
    rc = tl_init_logged(tl_config("secrets", conf), NULL, msg, sizeof msg);
    CU_ASSERT_EQUAL(rc, want);
    CU_ASSERT_TRUE(tl_same(rc));
    CU_ASSERT_FALSE(leaks(msg, key));
    CU_ASSERT_FALSE(leaks(msg, sas));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, where));
    if (tl_rank == 0 && (rc != want || !strstr(msg, where) || leaks(msg, key) ||
                         leaks(msg, sas)))
        fprintf(stderr, "case %.40s...: got %d, message lacks '%s' or leaks\n",
                text, rc, where);
}

static void line(const char *fmt, const char *secret, int want,
                 const char *where)
{
    char text[8192];
    snprintf(text, sizeof text, fmt, secret);
    expect(text, want, where);
}

/* The case is line 6 of ckpt.conf, after tl_config's and two of ours. */
static void test_malformed_lines(void)
{
    static const char *fmts[] = {
        "storage_key %s", "storage_key: %s", "storage_key:%s", "storage_key%s",
        "storage_key\t%s", "  storage_key  :=  %s", "storage_keys = %s",
        "%s", "%s = storage_key", "%s = 1", "= %s", "STORAGE_KEY = %s",
        "storage-key = %s", "export CKPT_STORAGE_KEY=%s", "[storage] %s",
        "storage_sas %s", "storage_sas: %s", "storage_sas%s", "sig=%s",
        "storage_url %s", "\"storage_key\" = \"%s\"", NULL};
    for (int i = 0; fmts[i]; i++) {
        line(fmts[i], key, CKPT_ECONFIG, "ckpt.conf:6: ");
        line(fmts[i], sas, CKPT_ECONFIG, "ckpt.conf:6: ");
    }
    line("storage_key %s", key, CKPT_ECONFIG, "expected 'storage_key = <value>'");
    line("storage_key%s", key, CKPT_ECONFIG, "expected 'storage_key = <value>'");
    line("colour = %s", key, CKPT_ECONFIG, "unknown key 'colour'");
}

/* A secret as the value of a key it does not belong to. */
static void test_wrong_key(void)
{
    static const char *keys[] = {
        "job", "cache_dir", "verbose", "mode", "redundancy", "keep_local",
        "upload_block_size", "storage_url", "storage_account", "prefix_spread",
        NULL};
    char fmt[64];
    for (int i = 0; keys[i]; i++) {
        snprintf(fmt, sizeof fmt, "%s = %%s", keys[i]);
        line(fmt, key, CKPT_ECONFIG, keys[i]);
        line(fmt, sas, CKPT_ECONFIG, keys[i]);
    }
}

static void test_urls(void)
{
    line("storage_url = https://acct.blob.core.windows.net/c?%s", sas,
         CKPT_ECONFIG, "query string");
    line("storage_url = https://acct:%s@acct.blob.core.windows.net/ckpt", key,
         CKPT_ECONFIG, "credentials before '@'");
    line("storage_url = http://%s@127.0.0.1:1/devstoreaccount1/ckpt", sas,
         CKPT_ECONFIG, "ckpt.conf:6: storage_url");
}

static void test_too_long(void)
{
    char text[8192];
    int n = snprintf(text, sizeof text, "storage_key = ");
    while (n < 600)
        n += snprintf(text + n, sizeof text - (size_t)n, "%s", key);
    expect(text, CKPT_ECONFIG, "'storage_key' is too long");
    n = snprintf(text, sizeof text, "storage_sas = ");
    while (n < 3000)
        n += snprintf(text + n, sizeof text - (size_t)n, "%s", sas);
    expect(text, CKPT_ECONFIG, "'storage_sas' is too long");
    n = snprintf(text, sizeof text, "# ");
    while (n < 5000)
        n += snprintf(text + n, sizeof text - (size_t)n, "%s", key);
    expect(text, CKPT_ECONFIG, "line too long");
}

/* Bytes 1..255 but '\n' and '#', the secret in between. */
static void test_binary_junk(void)
{
    char text[2048];
    int n = 0;
    for (int c = 1; c < 256; c++)
        if (c != '\n' && c != '#')
            text[n++] = (char)c;
    n += snprintf(text + n, sizeof text - (size_t)n, "%s", key);
    for (int c = 255; c > 0; c -= 7)
        if (c != '\n' && c != '#')
            text[n++] = (char)c;
    text[n] = '\0';
    expect(text, CKPT_ECONFIG, "ckpt.conf:6: ");
    memmove(text + 13, text, (size_t)n + 1);
    memcpy(text, "storage_key =", 13);
    expect(text, CKPT_ECONFIG, "ckpt.conf:6: ");
}

/* CKPT_* and AZURE_STORAGE_* variables holding secrets where they do not
 * fit. */
static void env_case(const char *var, const char *value, const char *where)
{
    setenv(var, value, 1);
    expect("", CKPT_ECONFIG, where);
    unsetenv(var);
}

static void test_environment(void)
{
    char big[4096] = "";
    while (strlen(big) < 3000)
        strcat(big, sas);
    env_case("CKPT_STORAGE_KEY", big, "environment CKPT_STORAGE_KEY");
    env_case("CKPT_STORAGE_SAS", big, "environment CKPT_STORAGE_SAS");
    env_case("CKPT_STORAGE_URL", key, "environment CKPT_STORAGE_URL");
    env_case("CKPT_STORAGE_URL", sas, "environment CKPT_STORAGE_URL");
    env_case("CKPT_STORAGE_ACCOUNT", key, "environment CKPT_STORAGE_ACCOUNT");
    env_case("CKPT_JOB", key, "environment CKPT_JOB");
    env_case("CKPT_VERBOSE", sas, "environment CKPT_VERBOSE");
    env_case("AZURE_STORAGE_KEY", big, "environment AZURE_STORAGE_KEY");
    env_case("AZURE_STORAGE_SAS_TOKEN", big, "environment AZURE_STORAGE_SAS_TOKEN");
    env_case("AZURE_STORAGE_ACCOUNT", key, "environment AZURE_STORAGE_ACCOUNT");
}

/* Well-formed settings that storage refuses: a key that is not base64, and
 * storage that does not answer (every request logged at verbose = 3). */
static void test_storage(void)
{
    char text[4096];
    snprintf(text, sizeof text, "storage_url = https://acct.blob.core.windows."
             "net/ckpt\nstorage_key = %s!", key);
    expect(text, CKPT_ECONFIG, "storage_key is not a base64 account key");
    snprintf(text, sizeof text, "storage_url = http://127.0.0.1:9/"
             "devstoreaccount1/ckpt\nstorage_key = %s\nstorage_timeout = 1", key);
    expect(text, CKPT_OK, "storage does not answer");
    snprintf(text, sizeof text, "storage_url = http://127.0.0.1:9/"
             "devstoreaccount1/ckpt\nstorage_sas = %s\nstorage_timeout = 1", sas);
    expect(text, CKPT_OK, "storage does not answer");
}

int main(int argc, char **argv)
{
    static const tl_test_t tests[] = {
        {"malformed lines", test_malformed_lines},
        {"secrets under the wrong key", test_wrong_key},
        {"URLs with credentials", test_urls},
        {"secrets too long", test_too_long},
        {"binary junk", test_binary_junk},
        {"environment", test_environment},
        {"storage refuses or is down", test_storage},
        {NULL, NULL}};
    key = getenv("T_SECRET_KEY");
    sas = getenv("T_SECRET_SAS");
    if (key == NULL || sas == NULL || strlen(key) < 40 || strlen(sas) < 40) {
        fprintf(stderr, "t_secrets: set T_SECRET_KEY and T_SECRET_SAS\n");
        return 2;
    }
    unsetenv("AZURE_STORAGE_ACCOUNT");
    unsetenv("AZURE_STORAGE_KEY");
    unsetenv("AZURE_STORAGE_SAS_TOKEN");
    return tl_main(argc, argv, "secrets", tests);
}
