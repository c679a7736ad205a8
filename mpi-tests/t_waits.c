/* Storage that answers badly must never make the library wait without end.
 * waits.sh runs this behind faultproxy.py in one of its modes, with
 * CKPT_STORAGE_URL and CKPT_STORAGE_TIMEOUT set, and says what to expect:
 *   t_waits init CODE BOUND     ckpt_init returns CODE (OK or ESTORAGE) on
 *                               every rank within BOUND seconds
 *   t_waits upload BOUND TEXT   ckpt_init succeeds, step 1 is saved, and
 *                               ckpt_wait(1, STORAGE) is CKPT_ESTORAGE on
 *                               every rank within BOUND seconds of the save,
 *                               with TEXT in its message
 * The script checks the messages ckpt_init prints. */
#include "testlib.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RPN 2
#define N (256 * 1024)

static int want_code;
static double bound;
static const char *want_text = "";

static const char *config(const char *name)
{
    char text[64];
    snprintf(text, sizeof text, "ranks_per_node = %d\nverbose = 1", RPN);
    return tl_config(name, text);
}

/* The slowest rank's time since t0, on every rank. */
static double slowest(double t0)
{
    double mine = MPI_Wtime() - t0, all;
    MPI_Allreduce(&mine, &all, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return all;
}

static void test_init(void)
{
    ckpt_t *ck = NULL;
    const char *conf = config("init");
    double t0 = MPI_Wtime(), took;
    int rc = ckpt_init(MPI_COMM_WORLD, conf, &ck);
    took = slowest(t0);
    if (tl_rank == 0)
        printf("\nckpt_init: %s after %.1f s (bound %.0f s)\n",
               ckpt_strerror(rc), took, bound);
    CU_ASSERT_EQUAL(rc, want_code);
    CU_ASSERT_TRUE(tl_same(rc));
    CU_ASSERT_TRUE(took <= bound);
    if (ck)
        ckpt_finalize(&ck);
}

static void test_upload(void)
{
    ckpt_t *ck = NULL;
    unsigned char *a = malloc(N);
    double t0, took;
    int rc;
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL_FATAL(ckpt_init(MPI_COMM_WORLD, config("upload"), &ck),
                          CKPT_OK);
    tl_fill(a, N, 1, tl_rank, 0);
    CU_ASSERT_EQUAL(ckpt_protect(ck, "a", a, N, CKPT_BYTE), CKPT_OK);
    t0 = MPI_Wtime();
    CU_ASSERT_EQUAL(ckpt_save(ck, 1), CKPT_OK); /* storage never fails a save */
    rc = ckpt_wait(ck, 1, CKPT_LEVEL_STORAGE);
    took = slowest(t0);
    if (tl_rank == 0)
        printf("\nckpt_wait: %s after %.1f s (bound %.0f s): %s\n",
               ckpt_strerror(rc), took, bound, ckpt_errmsg(ck));
    CU_ASSERT_EQUAL(rc, CKPT_ESTORAGE);
    CU_ASSERT_TRUE(tl_same(rc));
    CU_ASSERT_TRUE(took <= bound);
    CU_ASSERT_TRUE(tl_all(strstr(ckpt_errmsg(ck), want_text) != NULL));
    /* the step is still in the cache: nothing is lost */
    memset(a, 0, N);
    CU_ASSERT_EQUAL(ckpt_restore(ck, 1, NULL), CKPT_OK);
    CU_ASSERT_TRUE(tl_all(tl_check(a, N, 1, tl_rank, 0)));
    CU_ASSERT_EQUAL(ckpt_finalize(&ck), CKPT_ESTORAGE); /* step 1 never got
                                                           to storage */
    free(a);
}

static const tl_test_t init_tests[] = {{"bounded ckpt_init", test_init},
                                       {NULL, NULL}};
static const tl_test_t upload_tests[] = {{"bounded upload", test_upload},
                                         {NULL, NULL}};

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "init")) {
        want_code = !strcmp(argv[2], "OK") ? CKPT_OK : CKPT_ESTORAGE;
        bound = atof(argv[3]);
        return tl_main(argc, argv, "waits-init", init_tests);
    }
    if (argc == 4 && !strcmp(argv[1], "upload")) {
        bound = atof(argv[2]);
        want_text = argv[3];
        return tl_main(argc, argv, "waits-upload", upload_tests);
    }
    fprintf(stderr, "usage: t_waits init OK|ESTORAGE BOUND | "
            "t_waits upload BOUND TEXT\n");
    return 2;
}
