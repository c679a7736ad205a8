/* The Reed-Solomon level (redundancy = rs, 4 + 2 unless a test says
 * otherwise): every pair of lost nodes of a group, lost nodes with damaged
 * parity, more losses than the code survives (older step, storage, or
 * CKPT_ENOENT), uneven groups and nodes, and refill. Rank 0 damages the
 * emulated nodes' directories between a save and a restore. Argument:
 * ranks per node. */
#include "testlib.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int rpn = 1;
/* bytes per rank: rank-dependent, so that the members of a set differ in
 * size (padding) and each piece spans several chunks for some ranks */
static size_t nbytes(int rank) { return (size_t)(5 << 20) + 4099u * (size_t)rank; }

static int nodes(void) { return (tl_size + rpn - 1) / rpn; }

typedef struct {
    ckpt_t *ck;
    unsigned char *a;
    size_t n;
    char dir[700];
    char conf[1000];
} fixture_t;

static void setup(fixture_t *f, const char *name, const char *extra)
{
    char text[512];
    snprintf(text, sizeof text, "ranks_per_node = %d\nkeep_local = 4\n"
             "redundancy = rs\n%s", rpn, extra);
    snprintf(f->conf, sizeof f->conf, "%s", tl_config(name, text));
    CU_ASSERT_EQUAL_FATAL(ckpt_init(MPI_COMM_WORLD, f->conf, &f->ck), CKPT_OK);
    snprintf(f->dir, sizeof f->dir, "%s", tl_dir_of(name));
    f->n = nbytes(tl_rank);
    f->a = malloc(f->n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->a);
    ckpt_protect(f->ck, "state", f->a, f->n, CKPT_BYTE);
}

static void save(fixture_t *f, int64_t step)
{
    tl_fill(f->a, f->n, step, tl_rank, 0);
    CU_ASSERT_EQUAL(ckpt_save(f->ck, step), CKPT_OK);
}

static void poison(fixture_t *f) { memset(f->a, 0xee, f->n); }

static int poisoned(const fixture_t *f)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->a[i] != 0xee)
            return 0;
    return 1;
}

static int intact(const fixture_t *f, int64_t step)
{
    return tl_check(f->a, f->n, step, tl_rank, 0);
}

static void teardown(fixture_t *f)
{
    free(f->a);
    CU_ASSERT_EQUAL(ckpt_finalize(&f->ck), CKPT_OK);
}

static void on_rank0(const fixture_t *f, const char *fmt, int node)
{
    tl_on_rank0(f->dir, fmt, node);
}

static void lose(const fixture_t *f, int node)
{
    on_rank0(f, "rm -rf %s/node-%d", node);
}

static int level_of(fixture_t *f, int64_t step)
{
    int level = -1;
    CU_ASSERT_EQUAL(ckpt_level(f->ck, step, &level), CKPT_OK);
    return level;
}

/* Restores `step` into poisoned buffers: 1 if every rank got it intact. */
static int restored(fixture_t *f, int64_t want, int64_t step)
{
    int64_t got = -1;
    int rc;
    poison(f);
    rc = ckpt_restore(f->ck, want, &got);
    if (rc != CKPT_OK || got != step || !intact(f, step))
        fprintf(stderr, "rank %d: restore of %lld: %s, step %lld, %s\n", tl_rank,
                (long long)want, ckpt_strerror(rc), (long long)got,
                rc == CKPT_OK ? "wrong data" : ckpt_errmsg(f->ck));
    return tl_all(rc == CKPT_OK && got == step && intact(f, step));
}

/* Nodes a and b lost together, step 2 rebuilt into the buffers, then the
 * lost files and parity made again: the level is back at PARTNER and a
 * second loss of the same nodes is survived too. */
static void lose_pair(fixture_t *f, int a, int b)
{
    lose(f, a);
    lose(f, b);
    CU_ASSERT_TRUE(restored(f, CKPT_LATEST, 2));
    CU_ASSERT_EQUAL(ckpt_wait(f->ck, 2, CKPT_LEVEL_PARTNER), CKPT_OK);
    CU_ASSERT_EQUAL(level_of(f, 2), CKPT_LEVEL_PARTNER);
}

static void test_every_pair(void)
{
    fixture_t f;
    int s = nodes() < 6 ? nodes() : 6, failures = 0;
    setup(&f, "rspairs", "");
    save(&f, 1);
    save(&f, 2);
    CU_ASSERT_EQUAL(level_of(&f, 2), CKPT_LEVEL_PARTNER);
    for (int a = 0; a < s; a++)
        for (int b = a + 1; b < s; b++) {
            int before = CU_get_number_of_failures();
            lose_pair(&f, a, b);
            if (CU_get_number_of_failures() != (unsigned)before && tl_rank == 0)
                fprintf(stderr, "lost nodes %d and %d: failed\n", a, b);
            failures += CU_get_number_of_failures() != (unsigned)before;
        }
    CU_ASSERT_EQUAL(failures, 0);
    teardown(&f);
}

/* One node lost: the level is still PARTNER with 2 parity shares (one more
 * loss is survived), the restore rebuilds the lost ranks, and ckpt_wait
 * makes the parity again. */
static void test_single_loss_level(void)
{
    fixture_t f;
    char path[1024];
    struct stat st;
    setup(&f, "rssingle", "");
    save(&f, 1);
    lose(&f, 1);
    CU_ASSERT_EQUAL(level_of(&f, 1), CKPT_LEVEL_LOCAL); /* node 1's ranks */
    CU_ASSERT_TRUE(restored(&f, 1, 1));
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 1, CKPT_LEVEL_PARTNER), CKPT_OK);
    snprintf(path, sizeof path, "%s/cache/rssingle/node-1/step-1/parity-0.rs",
             f.dir);
    CU_ASSERT_TRUE(tl_all(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600));
    lose(&f, 1);
    lose(&f, 0);
    CU_ASSERT_TRUE(restored(&f, 1, 1));
    teardown(&f);
}

/* More nodes lost than the group has parity shares, no storage: the
 * restore fails with CKPT_ENOENT on every rank and touches no buffer. */
static void test_too_many_lost(void)
{
    fixture_t f;
    int64_t got = -1;
    int rc;
    setup(&f, "rstoomany", "");
    save(&f, 1);
    lose(&f, 0);
    lose(&f, 2);
    lose(&f, 4);
    poison(&f);
    rc = ckpt_restore(f.ck, CKPT_LATEST, &got);
    CU_ASSERT_EQUAL(rc, CKPT_ENOENT);
    CU_ASSERT_TRUE(tl_same(rc));
    CU_ASSERT_TRUE(tl_all(poisoned(&f)));
    CU_ASSERT_EQUAL(level_of(&f, 1), CKPT_LEVEL_NONE);
    teardown(&f);
}

/* Four bytes of a parity file damaged: `slot` 0 is the share of the first
 * stripe the node holds parity for, 1 of the second (2 parity rows). */
static void damage_parity(const fixture_t *f, int node, int slot)
{
    on_rank0(f, slot == 0
                 ? "p=%s/node-%d/step-2/parity-0.rs; printf XXXX | dd of=$p "
                   "bs=1 seek=1000 conv=notrunc status=none"
                 : "p=%s/node-%d/step-2/parity-0.rs; printf XXXX | dd of=$p "
                   "bs=1 seek=$(( $(stat -c %%s $p) / 2 + 1000 )) conv=notrunc "
                   "status=none", node);
}

/* Node 1 lost, and node 2's parity share of stripe 2 (the first share a
 * rebuild of node 1's piece there reads) damaged: the rebuilt file fails
 * its digest, the second try checks every share first, leaves node 2's
 * parity out and uses node 3's: step 2 restores whole. */
static void test_lost_and_corrupt_parity(void)
{
    fixture_t f;
    setup(&f, "rscorrupt", "");
    save(&f, 1);
    save(&f, 2);
    lose(&f, 1);
    damage_parity(&f, 2, 1);
    CU_ASSERT_TRUE(restored(&f, CKPT_LATEST, 2));
    teardown(&f);
}

/* Node 1 lost and node 3's parity file replaced by a FIFO (a planted
 * file that would block a reader): never opened, the restore uses the
 * other shares. */
static void test_planted_fifo(void)
{
    fixture_t f;
    setup(&f, "rsfifo", "");
    save(&f, 1);
    save(&f, 2);
    lose(&f, 1);
    on_rank0(&f, "p=%s/node-%d/step-2/parity-0.rs; rm -f $p && mkfifo $p", 3);
    CU_ASSERT_TRUE(restored(&f, CKPT_LATEST, 2));
    teardown(&f);
}

/* Nodes 1 and 2 lost and node 3's share of stripe 2 damaged: that stripe
 * has three bad shares out of 2 parity; the damaged one is found before
 * its bytes count, step 2 is not available, and step 1 (whose shares are
 * whole) restores. */
static void test_too_many_with_corrupt_parity(void)
{
    fixture_t f;
    setup(&f, "rscorrupt2", "");
    save(&f, 1);
    save(&f, 2);
    lose(&f, 1);
    lose(&f, 2);
    damage_parity(&f, 3, 0);
    CU_ASSERT_TRUE(restored(&f, CKPT_LATEST, 1));
    teardown(&f);
}

/* Rank 0's own file damaged (data bytes), and node `lost` lost too unless
 * it is -1: the damage is found while rank 0 copies its file (during the
 * rebuild of the lost node, whose first try rank 0's damaged share spoils
 * and whose second try leaves it out), rank 0's file is rebuilt from the
 * group, every rank ends with its own bytes, and the refill brings the
 * step back to PARTNER. */
static void damaged_own(const char *name, int lost)
{
    fixture_t f;
    setup(&f, name, "");
    save(&f, 1);
    if (lost >= 0)
        lose(&f, lost);
    on_rank0(&f, "printf 'XXXX' | dd of=%s/node-%d/step-1/rank-0.h5 bs=1 "
             "seek=100000 conv=notrunc status=none", 0);
    CU_ASSERT_TRUE(restored(&f, CKPT_LATEST, 1));
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 1, CKPT_LEVEL_PARTNER), CKPT_OK);
    CU_ASSERT_EQUAL(level_of(&f, 1), CKPT_LEVEL_PARTNER);
    CU_ASSERT_TRUE(restored(&f, 1, 1));
    teardown(&f);
}

static void test_damaged_own_file(void) { damaged_own("rsdamaged", -1); }
static void test_lost_and_damaged_survivor(void) { damaged_own("rsdamaged2", 1); }

/* A job `name` with a file:// storage tier at `store`: step 1 saved and
 * committed there. */
static void setup_stored(fixture_t *f, const char *name, const char *store)
{
    char extra[900];
    snprintf(extra, sizeof extra, "storage_url = file://%s\n", tl_dir(store));
    setup(f, name, extra);
    save(f, 1);
    CU_ASSERT_EQUAL(ckpt_wait(f->ck, 1, CKPT_LEVEL_STORAGE), CKPT_OK);
}

/* Beyond m lost with a file:// storage tier: the step comes from storage. */
static void test_storage_fallback(void)
{
    fixture_t f;
    char path[1100];
    struct stat st;
    setup_stored(&f, "rsstorage", "rsstore");
    lose(&f, 0);
    lose(&f, 1);
    lose(&f, 2);
    CU_ASSERT_TRUE(restored(&f, CKPT_LATEST, 1));
    /* the fetched files in the caches, their parity made again */
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 1, CKPT_LEVEL_PARTNER), CKPT_OK);
    snprintf(path, sizeof path, "%s/cache/rsstorage/node-0/step-1/parity-0.rs",
             f.dir);
    CU_ASSERT_TRUE(tl_all(stat(path, &st) == 0));
    lose(&f, 3);
    lose(&f, 4);
    CU_ASSERT_TRUE(restored(&f, CKPT_LATEST, 1));
    teardown(&f);
}

/* Nodes 1 and 2 lost and node 3's parity file gone: the stripes where node
 * 3 holds parity lack three shares, the others two. The lost nodes' ranks
 * cannot be rebuilt and read storage, while the stripes that could be
 * decoded must send them nothing (they take part in the rebuild with no
 * receive buffers): step 1 comes back exactly from storage. */
static void test_storage_partly_decodable(void)
{
    fixture_t f;
    setup_stored(&f, "rsstorage2", "rsstore2");
    lose(&f, 1);
    lose(&f, 2);
    on_rank0(&f, "rm -f %s/node-%d/step-1/parity-0.rs", 3);
    CU_ASSERT_TRUE(restored(&f, CKPT_LATEST, 1));
    teardown(&f);
}

/* A restart with another layout (rs_parity = 1 instead of 2): the parity
 * files are of another size than it makes, so they do not count: the step
 * is at LOCAL, and with a node lost it is not recoverable (no wrong
 * rebuild). */
static void test_other_layout(void)
{
    fixture_t f;
    int64_t got = -1;
    int rc;
    setup(&f, "rslayout", "");
    save(&f, 1);
    CU_ASSERT_EQUAL(ckpt_finalize(&f.ck), CKPT_OK);
    setenv("CKPT_RS_PARITY", "1", 1);
    rc = ckpt_init(MPI_COMM_WORLD, f.conf, &f.ck);
    unsetenv("CKPT_RS_PARITY");
    CU_ASSERT_EQUAL_FATAL(rc, CKPT_OK);
    ckpt_protect(f.ck, "state", f.a, f.n, CKPT_BYTE);
    CU_ASSERT_EQUAL(level_of(&f, 1), CKPT_LEVEL_LOCAL);
    lose(&f, 1);
    poison(&f);
    rc = ckpt_restore(f.ck, CKPT_LATEST, &got);
    CU_ASSERT_EQUAL(rc, CKPT_ENOENT);
    CU_ASSERT_TRUE(tl_same(rc));
    CU_ASSERT_TRUE(tl_all(poisoned(&f)));
    teardown(&f);
}

int main(int argc, char **argv)
{
    static const tl_test_t tests[] = {
        {"every pair of lost nodes of a group: rebuilt, refilled",
         test_every_pair},
        {"one lost node: level, rebuild, refill, then two more", test_single_loss_level},
        {"three lost nodes, no storage: ENOENT everywhere, buffers untouched",
         test_too_many_lost},
        {"a lost node and a damaged parity share: rebuilt from the others",
         test_lost_and_corrupt_parity},
        {"two lost nodes and a damaged parity share: older step",
         test_too_many_with_corrupt_parity},
        {"a parity file replaced by a FIFO: not opened", test_planted_fifo},
        {"a damaged own file: rebuilt from the group", test_damaged_own_file},
        {"a lost node and a survivor's damaged own file: both rebuilt",
         test_lost_and_damaged_survivor},
        {"more lost nodes than parity: storage", test_storage_fallback},
        {"two lost nodes and a parity file gone: storage, nothing sent to them",
         test_storage_partly_decodable},
        {"restart with another layout: its parity does not count", test_other_layout},
        {NULL, NULL}};
    if (argc > 1)
        rpn = atoi(argv[1]);
    return tl_main(argc, argv, "rs", tests);
}
