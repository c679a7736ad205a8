/* The API contract: bad arguments, bad configuration, mismatches, error
 * strings, and the same code on every rank. */
#include "testlib.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ckpt_t *open_ck(const char *name, const char *extra)
{
    return tl_open(name, 2, extra);
}

static void test_bad_arguments(void)
{
    ckpt_t *ck = open_ck("args", "");
    char big[300], buf[16];
    int64_t s;
    int level;
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CU_ASSERT_EQUAL(ckpt_init(MPI_COMM_WORLD, NULL, NULL), CKPT_EINVAL);
    CU_ASSERT_EQUAL(ckpt_finalize(NULL), CKPT_EINVAL);
    CU_ASSERT_EQUAL(ckpt_protect(NULL, "x", buf, 1, CKPT_BYTE), CKPT_EINVAL);
    CU_ASSERT_EQUAL(ckpt_protect(ck, NULL, buf, 1, CKPT_BYTE), CKPT_EINVAL);
    CU_ASSERT_EQUAL(ckpt_protect(ck, "", buf, 1, CKPT_BYTE), CKPT_EINVAL);
    CU_ASSERT_EQUAL(ckpt_protect(ck, "a/b", buf, 1, CKPT_BYTE), CKPT_EINVAL);
    CU_ASSERT_EQUAL(ckpt_protect(ck, "..", buf, 1, CKPT_BYTE), CKPT_EINVAL);
    CU_ASSERT_EQUAL(ckpt_protect(ck, "sp ace", buf, 1, CKPT_BYTE), CKPT_EINVAL);
    CU_ASSERT_EQUAL(ckpt_protect(ck, big, buf, 1, CKPT_BYTE), CKPT_EINVAL);
    big[255] = '\0';
    CU_ASSERT_EQUAL(ckpt_protect(ck, big, buf, 1, CKPT_BYTE), CKPT_OK);
    CU_ASSERT_EQUAL(ckpt_protect(ck, "x", NULL, 1, CKPT_BYTE), CKPT_EINVAL);
    CU_ASSERT_EQUAL(ckpt_protect(ck, "x", NULL, 0, CKPT_BYTE), CKPT_OK);
    CU_ASSERT_EQUAL(ckpt_protect(ck, "x", buf, 1, (ckpt_type_t)99), CKPT_EINVAL);
    CU_ASSERT_EQUAL(ckpt_protect(ck, "x", buf, SIZE_MAX / 2, CKPT_DOUBLE), CKPT_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(ckpt_errmsg(ck), "'x'"));
    CU_ASSERT_EQUAL(ckpt_unprotect(ck, "nope"), CKPT_EINVAL);
    CU_ASSERT_EQUAL(ckpt_unprotect(ck, "x"), CKPT_OK);
    CU_ASSERT_EQUAL(ckpt_unprotect(ck, big), CKPT_OK);
    CU_ASSERT_EQUAL(ckpt_save(NULL, 1), CKPT_EINVAL);
    CU_ASSERT_EQUAL(ckpt_save(ck, -5), CKPT_EINVAL);
    CU_ASSERT_EQUAL(ckpt_restore(ck, -7, &s), CKPT_EINVAL);
    CU_ASSERT_EQUAL(ckpt_latest(ck, NULL), CKPT_EINVAL);
    CU_ASSERT_EQUAL(ckpt_level(ck, 1, NULL), CKPT_EINVAL);
    CU_ASSERT_EQUAL(ckpt_wait(ck, 1, 9), CKPT_EINVAL);
    /* a bad argument on one rank only is the same error everywhere */
    CU_ASSERT_EQUAL(ckpt_save(ck, tl_rank == 1 ? -1 : 1), CKPT_EINVAL);
    CU_ASSERT_EQUAL(ckpt_level(ck, 1, &level), CKPT_OK);
    CU_ASSERT_EQUAL(level, CKPT_LEVEL_NONE);
    CU_ASSERT_EQUAL(ckpt_latest(ck, &s), CKPT_ENOENT);
    CU_ASSERT_EQUAL(ckpt_restore(ck, CKPT_LATEST, &s), CKPT_ENOENT);
    CU_ASSERT_EQUAL(ckpt_finalize(&ck), CKPT_OK);
}

static void test_strerror(void)
{
    for (int c = CKPT_OK; c <= CKPT_ENOMEM; c++) {
        CU_ASSERT_PTR_NOT_NULL(ckpt_strerror(c));
        CU_ASSERT_STRING_NOT_EQUAL(ckpt_strerror(c), "unknown error code");
    }
    CU_ASSERT_STRING_EQUAL(ckpt_strerror(-3), "unknown error code");
    CU_ASSERT_STRING_EQUAL(ckpt_strerror(CKPT_ENOENT), "no such recoverable checkpoint");
    CU_ASSERT_STRING_EQUAL(ckpt_errmsg(NULL), "no handle");
}

static void expect_config_error(const char *text, const char *needle)
{
    ckpt_t *ck = (ckpt_t *)1;
    int rc = ckpt_init(MPI_COMM_WORLD, tl_config("badconf", text), &ck);
    CU_ASSERT_EQUAL(rc, CKPT_ECONFIG);
    if (rc != CKPT_ECONFIG && tl_rank == 0)
        fprintf(stderr, "config '%s' (%s) was accepted\n", text, needle);
    CU_ASSERT_PTR_NULL(ck);
    if (rc == CKPT_OK)
        ckpt_finalize(&ck);
}

static void test_bad_config(void)
{
    ckpt_t *ck = NULL;
    expect_config_error("colour = blue", "colour");
    expect_config_error("ranks_per_node = -1", "ranks_per_node");
    expect_config_error("ranks_per_node = 2x", "ranks_per_node");
    expect_config_error("redundancy = triple", "redundancy");
    expect_config_error("partner_distance = 0", "partner_distance");
    expect_config_error("keep_local = 0", "keep_local");
    expect_config_error("verbose = 7", "verbose");
    expect_config_error("restore_check = never", "restore_check");
    expect_config_error("job = ../etc", "job");
    expect_config_error("cache_dir = relative/dir", "cache_dir");
    expect_config_error("cache_dir = /tmp/x%d", "cache_dir"); /* only %n */
    expect_config_error("cache_dir = /tmp/x%", "cache_dir");
    expect_config_error("just words", "key = value");
    /* a node count that maps every node onto itself */
    expect_config_error("ranks_per_node = 2\npartner_distance = 2", "partner_distance");
    CU_ASSERT_EQUAL(ckpt_init(MPI_COMM_WORLD, "/nonexistent/ckpt.conf", &ck),
                    CKPT_ECONFIG);
    /* the environment wins over the file */
    setenv("CKPT_VERBOSE", "9", 1);
    CU_ASSERT_EQUAL(ckpt_init(MPI_COMM_WORLD, tl_config("envconf", "verbose = 0"), &ck),
                    CKPT_ECONFIG);
    setenv("CKPT_VERBOSE", "0", 1);
    setenv("CKPT_KEEP_LOCAL", "3", 1);
    CU_ASSERT_EQUAL(ckpt_init(MPI_COMM_WORLD, tl_config("envconf", "verbose = 2"), &ck),
                    CKPT_OK);
    unsetenv("CKPT_VERBOSE");
    unsetenv("CKPT_KEEP_LOCAL");
    ckpt_finalize(&ck);
}

/* Storage settings are checked before any request: no service needed. */
static void test_bad_storage_config(void)
{
    static const char *url = "storage_url = https://acct.blob.core.windows.net/ckpt\n";
    char text[512];
    unsetenv("AZURE_STORAGE_ACCOUNT");
    unsetenv("AZURE_STORAGE_KEY");
    unsetenv("AZURE_STORAGE_SAS_TOKEN");
    expect_config_error("mode = writeback", "mode without storage_url");
    expect_config_error("mode = lazy", "mode");
    expect_config_error("storage_url = ftp://host/ckpt", "storage_url scheme");
    expect_config_error("storage_url = file://relative/dir", "storage_url path");
    expect_config_error("storage_url = https://acct.blob.core.windows.net/ckpt?sv=1&sig=x",
                        "SAS token in the URL");
    expect_config_error(url, "no credentials");
    snprintf(text, sizeof text, "%sstorage_key = not base64!", url);
    expect_config_error(text, "storage_key");
    snprintf(text, sizeof text, "%sstorage_sas = sv=1&sig=x\nstorage_account = other", url);
    expect_config_error(text, "storage_account");
    expect_config_error("storage_url = https://acct.blob.core.windows.net/c1\n"
                        "storage_sas = sv=1&sig=x", "container name");
    expect_config_error("storage_url = https://acct.blob.core.windows.net/a/b/c\n"
                        "storage_sas = sv=1&sig=x", "URL form");
    expect_config_error("upload_block_size = 0", "upload_block_size");
    expect_config_error("upload_block_size = 5000MiB", "upload_block_size");
    expect_config_error("upload_block_size = 16GB", "upload_block_size");
    expect_config_error("upload_concurrency = 0", "upload_concurrency");
    expect_config_error("download_concurrency = 0", "download_concurrency");
    expect_config_error("prefix_spread = 2", "prefix_spread");
    expect_config_error("storage_timeout = 0", "storage_timeout");
    expect_config_error("persist_every = 0", "persist_every");
    expect_config_error("keep_remote = -1", "keep_remote");
}

/* A region that differs on one rank: EMISMATCH on every rank, no buffer on
 * any rank modified, a message naming the region and both sizes. */
static void mismatch(const char *name, int how)
{
    ckpt_t *ck = open_ck(name, "");
    double w[100];
    int32_t n[10], extra[3];
    int64_t got;
    int rc;
    tl_fill(w, sizeof w, 1, tl_rank, 0);
    tl_fill(n, sizeof n, 1, tl_rank, 1);
    ckpt_protect(ck, "w", w, 100, CKPT_DOUBLE);
    ckpt_protect(ck, "n", n, 10, CKPT_INT32);
    CU_ASSERT_EQUAL(ckpt_save(ck, 1), CKPT_OK);
    memset(w, 0x11, sizeof w);
    memset(n, 0x11, sizeof n);
    if (tl_rank == 1) {
        if (how == 0)
            ckpt_protect(ck, "w", w, 50, CKPT_DOUBLE);
        else if (how == 1)
            ckpt_protect(ck, "w", w, 100, CKPT_INT64);
        else if (how == 2)
            ckpt_unprotect(ck, "n");
        else
            ckpt_protect(ck, "extra", extra, 3, CKPT_INT32);
    }
    rc = ckpt_restore(ck, CKPT_LATEST, &got);
    CU_ASSERT_EQUAL(rc, CKPT_EMISMATCH);
    CU_ASSERT_TRUE(tl_same(rc));
    CU_ASSERT_EQUAL(((unsigned char *)w)[0], 0x11);
    CU_ASSERT_EQUAL(((unsigned char *)w)[799], 0x11);
    CU_ASSERT_EQUAL(((unsigned char *)n)[39], 0x11);
    if (how == 0) {
        CU_ASSERT_PTR_NOT_NULL(strstr(ckpt_errmsg(ck), "'w'"));
        CU_ASSERT_PTR_NOT_NULL(strstr(ckpt_errmsg(ck), "800 bytes"));
        CU_ASSERT_PTR_NOT_NULL(strstr(ckpt_errmsg(ck), "400 bytes"));
    }
    if (how == 2)
        CU_ASSERT_PTR_NOT_NULL(strstr(ckpt_errmsg(ck), "'n'"));
    if (how == 3)
        CU_ASSERT_PTR_NOT_NULL(strstr(ckpt_errmsg(ck), "'extra'"));
    ckpt_finalize(&ck);
}

static void test_mismatch_count(void) { mismatch("mm-count", 0); }
static void test_mismatch_type(void) { mismatch("mm-type", 1); }
static void test_mismatch_missing(void) { mismatch("mm-missing", 2); }
static void test_mismatch_extra(void) { mismatch("mm-extra", 3); }

static void test_one_node(void)
{
    ckpt_t *ck = NULL;
    char text[64];
    int level = -1, v = 42;
    int64_t got;
    snprintf(text, sizeof text, "ranks_per_node = %d", tl_size);
    CU_ASSERT_EQUAL_FATAL(ckpt_init(MPI_COMM_WORLD, tl_config("onenode", text), &ck),
                          CKPT_OK);
    ckpt_protect(ck, "v", &v, 1, CKPT_INT32);
    CU_ASSERT_EQUAL(ckpt_save(ck, 0), CKPT_OK);
    CU_ASSERT_EQUAL(ckpt_level(ck, 0, &level), CKPT_OK);
    CU_ASSERT_EQUAL(level, CKPT_LEVEL_LOCAL);
    CU_ASSERT_EQUAL(ckpt_wait(ck, 0, CKPT_LEVEL_STORAGE), CKPT_ESTATE);
    v = 0;
    CU_ASSERT_EQUAL(ckpt_restore(ck, 0, &got), CKPT_OK);
    CU_ASSERT_EQUAL(v, 42);
    ckpt_finalize(&ck);
}

int main(int argc, char **argv)
{
    static const tl_test_t tests[] = {
        {"bad arguments", test_bad_arguments},
        {"error strings", test_strerror},
        {"bad configuration", test_bad_config},
        {"bad storage configuration", test_bad_storage_config},
        {"mismatch: count", test_mismatch_count},
        {"mismatch: type", test_mismatch_type},
        {"mismatch: region not saved", test_mismatch_missing},
        {"mismatch: region not protected", test_mismatch_extra},
        {"one node: LOCAL level", test_one_node},
        {NULL, NULL}};
    return tl_main(argc, argv, "api", tests);
}
