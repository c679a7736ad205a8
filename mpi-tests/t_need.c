/* ckpt_need_save: save signals (caught on one rank, told to all; a previous
 * handler still called; the old disposition back after finalize), the
 * save interval, save_interval = auto, bad arguments and configuration. */
#include "testlib.h"

#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static ckpt_t *open_ck(const char *name, const char *extra)
{
    return tl_open(name, 2, extra);
}

static int need(ckpt_t *ck)
{
    int reason = -1;
    CU_ASSERT_EQUAL(ckpt_need_save(ck, &reason), CKPT_OK);
    return reason;
}

static volatile sig_atomic_t program_saw;
static void program_handler(int sig)
{
    (void)sig;
    program_saw++;
}

static void test_signal(void)
{
    struct sigaction mine, now;
    ckpt_t *ck;
    char buf[64];
    memset(&mine, 0, sizeof mine);
    mine.sa_handler = program_handler;
    sigemptyset(&mine.sa_mask);
    sigaction(SIGUSR1, &mine, NULL); /* the program's own, installed first */
    ck = open_ck("sig", "");
    memset(buf, tl_rank, sizeof buf);
    CU_ASSERT_EQUAL(ckpt_protect(ck, "b", buf, sizeof buf, CKPT_BYTE), CKPT_OK);
    CU_ASSERT_EQUAL(need(ck), CKPT_SAVE_NO);
    if (tl_rank == 2)
        raise(SIGUSR1);
    CU_ASSERT_EQUAL(need(ck), CKPT_SAVE_SIGNAL); /* on every rank */
    CU_ASSERT_EQUAL(need(ck), CKPT_SAVE_SIGNAL); /* until a save */
    CU_ASSERT_EQUAL(program_saw, tl_rank == 2 ? 1 : 0);
    CU_ASSERT_EQUAL(ckpt_save(ck, 1), CKPT_OK);
    CU_ASSERT_EQUAL(need(ck), CKPT_SAVE_NO);
    if (tl_rank == 0)
        raise(SIGTERM); /* caught: the program goes on */
    CU_ASSERT_EQUAL(need(ck), CKPT_SAVE_SIGNAL);
    CU_ASSERT_EQUAL(ckpt_finalize(&ck), CKPT_OK);
    sigaction(SIGUSR1, NULL, &now);
    CU_ASSERT(now.sa_handler == program_handler);
    sigaction(SIGTERM, NULL, &now);
    CU_ASSERT(now.sa_handler == SIG_DFL);
    signal(SIGUSR1, SIG_DFL);
}

static void test_no_signals(void)
{
    struct sigaction now;
    ckpt_t *ck = open_ck("nosig", "save_signals = none\n");
    sigaction(SIGUSR1, NULL, &now);
    CU_ASSERT(now.sa_handler == SIG_DFL);
    CU_ASSERT_EQUAL(need(ck), CKPT_SAVE_NO);
    CU_ASSERT_EQUAL(ckpt_finalize(&ck), CKPT_OK);
    ck = open_ck("usr2", "save_signals = SIGUSR2, HUP\n");
    if (tl_rank == 3)
        raise(SIGHUP);
    CU_ASSERT_EQUAL(need(ck), CKPT_SAVE_SIGNAL);
    CU_ASSERT_EQUAL(ckpt_finalize(&ck), CKPT_OK);
}

static void test_interval(void)
{
    ckpt_t *ck = open_ck("interval", "save_interval = 1\nsave_signals = none\n");
    char buf[64] = {0};
    CU_ASSERT_EQUAL(ckpt_protect(ck, "b", buf, sizeof buf, CKPT_BYTE), CKPT_OK);
    CU_ASSERT_EQUAL(need(ck), CKPT_SAVE_NO);
    usleep(1100000);
    CU_ASSERT_EQUAL(need(ck), CKPT_SAVE_INTERVAL);
    CU_ASSERT_EQUAL(ckpt_save(ck, 1), CKPT_OK);
    CU_ASSERT_EQUAL(need(ck), CKPT_SAVE_NO);
    CU_ASSERT_EQUAL(ckpt_finalize(&ck), CKPT_OK);
}

/* mtbf_hours = 0.0002 per node on 2 nodes: M = 0.36 s; before a save C is
 * taken as 10 s (interval sqrt(7.2) = 2.7 s); after a save of some ms the
 * interval is well under a second. */
static void test_auto(void)
{
    ckpt_t *ck = open_ck("auto", "save_interval = auto\nmtbf_hours = 0.0002\n");
    char buf[64] = {0};
    CU_ASSERT_EQUAL(ckpt_protect(ck, "b", buf, sizeof buf, CKPT_BYTE), CKPT_OK);
    usleep(300000);
    CU_ASSERT_EQUAL(need(ck), CKPT_SAVE_NO);
    CU_ASSERT_EQUAL(ckpt_save(ck, 1), CKPT_OK);
    usleep(900000);
    CU_ASSERT_EQUAL(need(ck), CKPT_SAVE_INTERVAL);
    CU_ASSERT_EQUAL(ckpt_finalize(&ck), CKPT_OK);
}

static void test_bad(void)
{
    static const char *bad[] = {"save_signals = KILL\n", "save_signals = \n",
                                "save_signals = USR1,,FOO\n", "save_interval = -1\n",
                                "save_interval = soon\n", "mtbf_hours = 0\n",
                                "mtbf_hours = -3\n", "mtbf_hours = 1e99\n", NULL};
    ckpt_t *ck = open_ck("badarg", "");
    for (int i = 0; bad[i]; i++) {
        ckpt_t *x = NULL;
        CU_ASSERT_EQUAL(ckpt_init(MPI_COMM_WORLD, tl_config("bad", bad[i]), &x),
                        CKPT_ECONFIG);
        CU_ASSERT_PTR_NULL(x);
    }
    CU_ASSERT_EQUAL(ckpt_need_save(NULL, NULL), CKPT_EINVAL);
    if (tl_rank == 1) {
        CU_ASSERT_EQUAL(ckpt_need_save(ck, NULL), CKPT_EINVAL);
    } else {
        int r;
        CU_ASSERT_EQUAL(ckpt_need_save(ck, &r), CKPT_EINVAL);
    }
    CU_ASSERT_PTR_NOT_NULL(strstr(ckpt_errmsg(ck), "NULL"));
    CU_ASSERT_EQUAL(ckpt_finalize(&ck), CKPT_OK);
}

int main(int argc, char **argv)
{
    static const tl_test_t tests[] = {
        {"a signal on one rank: SIGNAL everywhere", test_signal},
        {"no save signals, other signals", test_no_signals},
        {"save_interval", test_interval},
        {"save_interval = auto", test_auto},
        {"bad arguments and configuration", test_bad},
        {NULL, NULL}};
    return tl_main(argc, argv, "need", tests);
}
