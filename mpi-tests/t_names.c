/* Job names: ckpt_init accepts exactly the names that every storage backend
 * stores and lists back. Each accepted name takes a step to storage, loses
 * every cache and restores the step from storage alone; each refused one is
 * CKPT_ECONFIG saying what is allowed. The script points CKPT_STORAGE_URL
 * at a file:// directory or at Azurite. */
#include "testlib.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *accepted[] = {
    "a", "Z9", "x.y", "a.b.c", "job-1_2", "9lives", "A.-_z", "a-", "a_",
    "manifest", "abcd", "node-0", "step-1", "ckpt-tmp", "x.ckpt-tmp",
    NULL};
static const char *refused[] = {
    "", ".hidden", ".", "..", "a..b", "trail.", "-dash", "_under", "a/b",
    "a b", "a.ckpt-tmp.b", "caf\xc3\xa9", "a:b", "a\\b", "a%2Fb", NULL};

static char msg[4096];

static const char *job_conf(int i, const char *name)
{
    static char path[1024];
    char dirname[32];
    const char *dir;
    snprintf(dirname, sizeof dirname, "n%d", i);
    dir = tl_dir(dirname);
    snprintf(path, sizeof path, "%s/ckpt.conf", dir);
    if (tl_rank == 0) {
        FILE *f = fopen(path, "w");
        fprintf(f, "cache_dir = %s/cache\njob = %s\nranks_per_node = 2\n"
                   "verbose = 0\nupload_block_size = 1MiB\n", dir, name);
        fclose(f);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    return path;
}

/* Saved, in storage, every cache lost, restored from storage. */
static int round_trip(int i, const char *name)
{
    const char *conf = job_conf(i, name);
    char cmd[1200];
    ckpt_t *ck = NULL;
    int64_t got = -1;
    int level = -1, ok = 1;
    double a[300];
    tl_fill(a, sizeof a, 1, tl_rank, 0);
    CU_ASSERT_EQUAL_FATAL(ckpt_init(MPI_COMM_WORLD, conf, &ck), CKPT_OK);
    ckpt_protect(ck, "a", a, 300, CKPT_DOUBLE);
    ok &= ckpt_save(ck, 1) == CKPT_OK;
    ok &= ckpt_wait(ck, 1, CKPT_LEVEL_STORAGE) == CKPT_OK;
    ok &= ckpt_finalize(&ck) == CKPT_OK;
    snprintf(cmd, sizeof cmd, "rm -rf '%s/n%d/cache'", tl_dir_of(""), i);
    if (tl_rank == 0)
        tl_run(cmd);
    MPI_Barrier(MPI_COMM_WORLD);
    memset(a, 0, sizeof a);
    CU_ASSERT_EQUAL_FATAL(ckpt_init(MPI_COMM_WORLD, conf, &ck), CKPT_OK);
    ckpt_protect(ck, "a", a, 300, CKPT_DOUBLE);
    ok &= ckpt_level(ck, 1, &level) == CKPT_OK && level == CKPT_LEVEL_STORAGE;
    ok &= ckpt_restore(ck, CKPT_LATEST, &got) == CKPT_OK && got == 1;
    ok &= tl_check(a, sizeof a, 1, tl_rank, 0);
    ok &= ckpt_finalize(&ck) == CKPT_OK;
    ok = tl_all(ok);
    if (!ok && tl_rank == 0)
        fprintf(stderr, "job name '%s' did not round-trip\n", name);
    return ok;
}

static void test_accepted_round_trip(void)
{
    char longest[256];
    int i;
    for (i = 0; accepted[i]; i++)
        CU_ASSERT_TRUE(round_trip(i, accepted[i]));
    memset(longest, 'L', 255);
    longest[255] = '\0';
    CU_ASSERT_TRUE(round_trip(i, longest));
}

static void expect_refused(int i, const char *name)
{
    int rc = tl_init_logged(job_conf(i, name), NULL, msg, sizeof msg);
    CU_ASSERT_EQUAL(rc, CKPT_ECONFIG);
    CU_ASSERT_TRUE(tl_same(rc));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "key 'job'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "starting with a letter or digit, not "
                                       "ending with '.', without '..'"));
    if (rc != CKPT_ECONFIG && tl_rank == 0)
        fprintf(stderr, "job name '%s' was accepted\n", name);
}

static void test_refused(void)
{
    char longer[257];
    int i;
    for (i = 0; refused[i]; i++)
        expect_refused(100 + i, refused[i]);
    memset(longer, 'L', 256);
    longer[256] = '\0';
    expect_refused(100 + i, longer);
    setenv("CKPT_JOB", ".hidden", 1);
    expect_refused(200, "fine");
    unsetenv("CKPT_JOB");
}

int main(int argc, char **argv)
{
    static const tl_test_t tests[] = {
        {"accepted job names round-trip through storage", test_accepted_round_trip},
        {"refused job names", test_refused},
        {NULL, NULL}};
    return tl_main(argc, argv, "names", tests);
}
