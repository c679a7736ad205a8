/* The caches under attack: between a save and a restore, rank 0 swaps,
 * plants, truncates and re-seals files of the emulated nodes as a failing
 * disk, a stale node or a careless operator would. Each test states the one
 * outcome it allows: the newest save of the step, exactly; an older step,
 * exactly; or the same error on every rank. Data is a pattern keyed by the
 * save (step, and a salt for saving a step again), so a byte of any other
 * save fails the check. With argument "first", every test runs with
 * restore_check = first. */
#include "testlib.h"
#include "manifest.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RPN 2
#define N (1000 * 1000 + 17)
#define AGAIN 1000000 /* salt of a second save of a step */

static const char *check_mode = "";

typedef struct {
    ckpt_t *ck;
    unsigned char *a, *b;
    char name[64], dir[700], cache[800];
} fixture_t;

static int nodes(void) { return (tl_size + RPN - 1) / RPN; }

/* Opens `job` in the fixture's cache (the directory is kept: two jobs may
 * share it). */
static void open_job(fixture_t *f, const char *job)
{
    char conf[1024];
    snprintf(conf, sizeof conf, "%s/%s.conf", f->dir, job);
    if (tl_rank == 0) {
        FILE *c = fopen(conf, "w");
        fprintf(c, "ranks_per_node = %d\nkeep_local = 8\nverbose = 0\n%s\n"
                "cache_dir = %s\njob = %s\n", RPN, check_mode, f->cache, job);
        fclose(c);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    CU_ASSERT_EQUAL_FATAL(ckpt_init(MPI_COMM_WORLD, conf, &f->ck), CKPT_OK);
    ckpt_protect(f->ck, "state.a", f->a, N, CKPT_BYTE);
    ckpt_protect(f->ck, "state.b", f->b, 1001 / 8, CKPT_DOUBLE);
}

static void setup(fixture_t *f, const char *name)
{
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->dir, sizeof f->dir, "%s", tl_dir(name));
    snprintf(f->cache, sizeof f->cache, "%s/cache", f->dir);
    f->a = malloc(N);
    f->b = malloc(1001);
    open_job(f, name);
}

static void teardown(fixture_t *f)
{
    CU_ASSERT_EQUAL(ckpt_finalize(&f->ck), CKPT_OK);
    free(f->a);
    free(f->b);
}

/* Saves step with the data of save `key`. */
static void save_as(fixture_t *f, int64_t step, int64_t key)
{
    tl_fill(f->a, N, key, tl_rank, 0);
    tl_fill(f->b, 1001 / 8 * 8, key, tl_rank, 1);
    CU_ASSERT_EQUAL(ckpt_save(f->ck, step), CKPT_OK);
}

static void save(fixture_t *f, int64_t step) { save_as(f, step, step); }

/* Restores the newest step: it must be `step` with the data of save `key`,
 * on every rank. */
static int restores(fixture_t *f, int64_t step, int64_t key)
{
    memset(f->a, 0xee, N);
    memset(f->b, 0xee, 1001);
    return tl_restore_latest(f->ck, step) && tl_all(tl_check(f->a, N, key, tl_rank, 0) &&
                  tl_check(f->b, 1001 / 8 * 8, key, tl_rank, 1));
}

/* Rank 0 runs a shell command; %1$s is the job's cache, %2$s a scratch
 * file of the test. */
static void on_rank0(const fixture_t *f, const char *fmt)
{
    char cmd[4096], job[1024], scratch[1024];
    if (tl_rank == 0) {
        snprintf(job, sizeof job, "%s/%s", f->cache, f->name);
        snprintf(scratch, sizeof scratch, "%s/scratch", f->dir);
        snprintf(cmd, sizeof cmd, fmt, job, scratch);
        CU_ASSERT_EQUAL(tl_run(cmd), 0);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

static void test_file_of_other_step(void)
{
    fixture_t f;
    setup(&f, "otherstep");
    save(&f, 10);
    save(&f, 20);
    on_rank0(&f, "cp %1$s/node-0/step-10/rank-0.h5 %1$s/node-0/step-20/rank-0.h5");
    CU_ASSERT_TRUE(restores(&f, 20, 20));
    teardown(&f);
}

static void test_rank_files_swapped(void)
{
    fixture_t f;
    setup(&f, "swapped");
    save(&f, 20);
    on_rank0(&f, "cd %1$s/node-0/step-20 && mv rank-0.h5 x && mv rank-1.h5 "
                 "rank-0.h5 && mv x rank-1.h5");
    CU_ASSERT_TRUE(restores(&f, 20, 20));
    teardown(&f);
}

/* Two jobs share one cache root: a file of the other job counts for
 * nothing. */
static void test_file_of_other_job(void)
{
    fixture_t f;
    setup(&f, "jobA");
    save(&f, 20);
    CU_ASSERT_EQUAL(ckpt_finalize(&f.ck), CKPT_OK);
    open_job(&f, "jobB");
    save_as(&f, 20, 20 + AGAIN);
    CU_ASSERT_EQUAL(ckpt_finalize(&f.ck), CKPT_OK);
    open_job(&f, "jobA");
    on_rank0(&f, "cp %1$s/../jobB/node-0/step-20/rank-0.h5 %1$s/node-0/step-20/");
    CU_ASSERT_TRUE(restores(&f, 20, 20));
    teardown(&f);
}

/* A file of the step's first save, put back after the step was saved
 * again, counts for nothing: its generation differs. */
static void test_file_of_older_save(void)
{
    fixture_t f;
    setup(&f, "oldfile");
    save(&f, 20);
    on_rank0(&f, "cp %1$s/node-0/step-20/rank-0.h5 %2$s");
    save_as(&f, 20, 20 + AGAIN);
    on_rank0(&f, "cp %2$s %1$s/node-0/step-20/rank-0.h5");
    CU_ASSERT_TRUE(restores(&f, 20, 20 + AGAIN));
    teardown(&f);
}

/* A whole node directory of the first save comes back (a stale node): its
 * MANIFEST is an older save, so its ranks take their partners' copies. */
static void test_node_of_older_save(void)
{
    fixture_t f;
    int level = -1;
    setup(&f, "oldnode");
    save(&f, 20);
    on_rank0(&f, "cp -a %1$s/node-1 %2$s");
    save_as(&f, 20, 20 + AGAIN);
    on_rank0(&f, "rm -rf %1$s/node-1 && cp -a %2$s %1$s/node-1");
    CU_ASSERT_TRUE(restores(&f, 20, 20 + AGAIN));
    CU_ASSERT_EQUAL(ckpt_level(f.ck, 20, &level), CKPT_OK);
    CU_ASSERT_EQUAL(level, CKPT_LEVEL_LOCAL);
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 20, CKPT_LEVEL_PARTNER), CKPT_OK);
    CU_ASSERT_EQUAL(ckpt_level(f.ck, 20, &level), CKPT_OK);
    CU_ASSERT_EQUAL(level, CKPT_LEVEL_PARTNER);
    CU_ASSERT_TRUE(restores(&f, 20, 20 + AGAIN)); /* refilled with the new */
    teardown(&f);
}

/* Restart from 10, then save 11: steps 20 and 30 belong to the abandoned
 * run and are gone; the newest checkpoint is 11. */
static void test_rollback(void)
{
    fixture_t f;
    int64_t got = -1, latest = -1;
    struct stat sb;
    char path[1024];
    setup(&f, "rollback");
    save(&f, 10);
    save(&f, 20);
    save(&f, 30);
    CU_ASSERT_EQUAL(ckpt_restore(f.ck, 10, &got), CKPT_OK);
    CU_ASSERT_TRUE(tl_all(tl_check(f.a, N, 10, tl_rank, 0)));
    save(&f, 11);
    CU_ASSERT_EQUAL(ckpt_latest(f.ck, &latest), CKPT_OK);
    CU_ASSERT_EQUAL(latest, 11);
    CU_ASSERT_TRUE(restores(&f, 11, 11));
    tl_rank_file(path, sizeof path, f.dir, tl_rank / RPN, 30, tl_rank);
    CU_ASSERT_NOT_EQUAL(stat(path, &sb), 0);
    teardown(&f);
}

static void test_manifest_of_other_step(void)
{
    fixture_t f;
    setup(&f, "mfstep");
    save(&f, 10);
    save(&f, 20);
    on_rank0(&f, "cp %1$s/node-0/step-10/MANIFEST %1$s/node-0/step-20/MANIFEST");
    CU_ASSERT_TRUE(restores(&f, 20, 20));
    teardown(&f);
}

static void test_manifest_of_other_node(void)
{
    fixture_t f;
    setup(&f, "mfnode");
    save(&f, 20);
    on_rank0(&f, "cp %1$s/node-1/step-20/MANIFEST %1$s/node-0/step-20/MANIFEST");
    CU_ASSERT_TRUE(restores(&f, 20, 20));
    teardown(&f);
}

/* node-1's MANIFEST of step 20, re-sealed with a generation from the
 * future: no save of step 20 is complete, so step 10 is restored. */
static void test_manifest_from_the_future(void)
{
    fixture_t f;
    char dir[1024];
    setup(&f, "future");
    save(&f, 10);
    save(&f, 20);
    if (tl_rank == 0) {
        manifest_t m;
        ckpt_err_t e = {0};
        snprintf(dir, sizeof dir, "%s/%s/node-1/step-20", f.cache, f.name);
        CU_ASSERT_EQUAL(manifest_read(dir, &m, &e), CKPT_OK);
        m.generation = ~(uint64_t)0;
        CU_ASSERT_EQUAL(manifest_write(dir, &m, &e), CKPT_OK);
        manifest_free(&m);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    CU_ASSERT_TRUE(restores(&f, 10, 10));
    teardown(&f);
}

static void test_truncated_to_nothing(void)
{
    fixture_t f;
    setup(&f, "empty");
    save(&f, 20);
    on_rank0(&f, ": > %1$s/node-1/step-20/rank-2.h5");
    CU_ASSERT_TRUE(restores(&f, 20, 20));
    teardown(&f);
}

static void test_garbage_of_same_size(void)
{
    fixture_t f;
    setup(&f, "garbage");
    save(&f, 20);
    on_rank0(&f, "f=%1$s/node-1/step-20/rank-3.h5; head -c $(stat -c %%s $f) "
                 "/dev/urandom > %2$s && cp %2$s $f");
    CU_ASSERT_TRUE(restores(&f, 20, 20));
    teardown(&f);
}

static void test_truncated_manifest(void)
{
    fixture_t f;
    setup(&f, "mftrunc");
    save(&f, 20);
    on_rank0(&f, "truncate -s 40 %1$s/node-0/step-20/MANIFEST");
    CU_ASSERT_TRUE(restores(&f, 20, 20));
    teardown(&f);
}

/* Rank 1's own file is gone and its partner copy damaged: step 5. */
static void test_own_lost_copy_damaged(void)
{
    fixture_t f;
    char copy[1024];
    setup(&f, "lostdamaged");
    save(&f, 5);
    save(&f, 6);
    on_rank0(&f, "rm %1$s/node-0/step-6/rank-1.h5");
    tl_rank_file(copy, sizeof copy, f.dir, 1 % nodes(), 6, 1);
    if (tl_rank == 0)
        tl_flip_byte(copy, -300);
    MPI_Barrier(MPI_COMM_WORLD);
    CU_ASSERT_TRUE(restores(&f, 5, 5));
    teardown(&f);
}

/* Both copies of rank 2 replaced by its files of step 10, MANIFESTs
 * included: nothing of step 20 is left for rank 2, so step 10. */
static void test_both_copies_of_other_step(void)
{
    fixture_t f;
    setup(&f, "bothother");
    save(&f, 10);
    save(&f, 20);
    on_rank0(&f, "for n in 1 2; do cp %1$s/node-$n/step-10/rank-2.h5 "
                 "%1$s/node-$n/step-20/rank-2.h5; done");
    CU_ASSERT_TRUE(restores(&f, 10, 10));
    teardown(&f);
}

int main(int argc, char **argv)
{
    static const tl_test_t tests[] = {
        {"a rank file of another step", test_file_of_other_step},
        {"two rank files swapped", test_rank_files_swapped},
        {"a rank file of another job", test_file_of_other_job},
        {"a rank file of the step's older save", test_file_of_older_save},
        {"a node directory of the step's older save", test_node_of_older_save},
        {"rollback: a save supersedes later steps", test_rollback},
        {"a MANIFEST of another step", test_manifest_of_other_step},
        {"a MANIFEST of another node", test_manifest_of_other_node},
        {"a MANIFEST from the future: older step", test_manifest_from_the_future},
        {"a rank file truncated to nothing", test_truncated_to_nothing},
        {"a rank file of garbage", test_garbage_of_same_size},
        {"a truncated MANIFEST", test_truncated_manifest},
        {"own copy lost, partner copy damaged: older step",
         test_own_lost_copy_damaged},
        {"both copies of another step: older step", test_both_copies_of_other_step},
        {NULL, NULL}};
    if (argc > 1 && !strcmp(argv[1], "first"))
        check_mode = "restore_check = first";
    return tl_main(argc, argv, check_mode[0] ? "adversary-first" : "adversary",
                   tests);
}
