/* Recovery: lost nodes, damaged files and MANIFESTs. Rank 0 damages the
 * emulated nodes' directories between a save and a restore, exactly as a
 * lost or failing node would leave them. */
#include "testlib.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int rpn = 2;
#define N (3 * 1000 * 1000 + 17) /* bytes per rank: several stream chunks */

static int nodes(void) { return (tl_size + rpn - 1) / rpn; }
static int node_of(int r) { return r / rpn; }
static int partner_node(int r) { return (node_of(r) + 1) % nodes(); }

typedef struct {
    ckpt_t *ck;
    unsigned char *a, *b; /* two regions */
    const char *dir;
    char dirbuf[700];
} fixture_t;

static void setup_with(fixture_t *f, const char *name, const char *extra)
{
    char text[160];
    snprintf(text, sizeof text, "ranks_per_node = %d\nkeep_local = 4\n%s", rpn,
             extra);
    CU_ASSERT_EQUAL_FATAL(ckpt_init(MPI_COMM_WORLD, tl_config(name, text), &f->ck),
                          CKPT_OK);
    snprintf(f->dirbuf, sizeof f->dirbuf, "%s", tl_dir(name));
    /* tl_dir wiped the directory with the config: write it again for later */
    f->dir = f->dirbuf;
    f->a = malloc(N);
    f->b = malloc(1001);
    ckpt_protect(f->ck, "state.a", f->a, N, CKPT_BYTE);
    ckpt_protect(f->ck, "state.b", f->b, 1001 / 8, CKPT_DOUBLE);
}

static void setup(fixture_t *f, const char *name)
{
    setup_with(f, name, "");
}

static void save(fixture_t *f, int64_t step)
{
    tl_fill(f->a, N, step, tl_rank, 0);
    tl_fill(f->b, 1001 / 8 * 8, step, tl_rank, 1);
    CU_ASSERT_EQUAL(ckpt_save(f->ck, step), CKPT_OK);
}

static void poison(fixture_t *f)
{
    memset(f->a, 0xee, N);
    memset(f->b, 0xee, 1001);
}

static int poisoned(const fixture_t *f)
{
    for (size_t i = 0; i < N; i++)
        if (f->a[i] != 0xee)
            return 0;
    return 1;
}

static int intact(const fixture_t *f, int64_t step)
{
    return tl_check(f->a, N, step, tl_rank, 0) &&
           tl_check(f->b, 1001 / 8 * 8, step, tl_rank, 1);
}

static void teardown(fixture_t *f)
{
    free(f->a);
    free(f->b);
    CU_ASSERT_EQUAL(ckpt_finalize(&f->ck), CKPT_OK);
}

static void on_rank0(const fixture_t *f, const char *fmt, int node)
{
    tl_on_rank0(f->dir, fmt, node);
}

static void own_file(const fixture_t *f, int rank, int64_t step, char *buf)
{
    tl_rank_file(buf, 1024, f->dir, node_of(rank), step, rank);
}

static void copy_file(const fixture_t *f, int rank, int64_t step, char *buf)
{
    tl_rank_file(buf, 1024, f->dir, partner_node(rank), step, rank);
}

/* Steps 1 and 2 saved, node 1 lost, step 2 restored from the partners'
 * copies into poisoned buffers. */
static void lose_node_and_restore(fixture_t *f, const char *name)
{
    int64_t got = -1;
    setup(f, name);
    save(f, 1);
    save(f, 2);
    on_rank0(f, "rm -rf %s/node-%d", 1);
    poison(f);
    CU_ASSERT_EQUAL(ckpt_restore(f->ck, CKPT_LATEST, &got), CKPT_OK);
    CU_ASSERT_EQUAL(got, 2);
    CU_ASSERT_TRUE(tl_all(intact(f, 2)));
}

static void test_node_loss(void)
{
    fixture_t f;
    int level = -1;
    char path[1024];
    struct stat st;
    lose_node_and_restore(&f, "nodeloss");
    /* the restore streamed the copies into the buffers and wrote nothing:
     * one copy is left, and the level says so until ckpt_wait refills */
    CU_ASSERT_EQUAL(ckpt_level(f.ck, 2, &level), CKPT_OK);
    CU_ASSERT_EQUAL(level, CKPT_LEVEL_LOCAL);
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 2, CKPT_LEVEL_PARTNER), CKPT_OK);
    CU_ASSERT_EQUAL(ckpt_level(f.ck, 2, &level), CKPT_OK);
    CU_ASSERT_EQUAL(level, CKPT_LEVEL_PARTNER);
    /* the lost node holds its own files and its partner copies again */
    own_file(&f, tl_rank, 2, path);
    CU_ASSERT_EQUAL(stat(path, &st), 0);
    copy_file(&f, tl_rank, 2, path);
    CU_ASSERT_EQUAL(stat(path, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
    teardown(&f);
}

/* A node lost under many regions: one of several chunks (over 4 MiB), an
 * empty one, protected out of name and offset order, of other types; the
 * partners' copies land in every buffer exactly, the empty one untouched. */
static void test_node_loss_many_regions(void)
{
    fixture_t f;
    const size_t big = (9u << 20) / 8 + 3; /* doubles: 3 chunks and a bit */
    double *w = malloc(big * sizeof *w);
    int32_t small[7], empty[1] = {42};
    int64_t got = -1;
    setup(&f, "manyregions");
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    ckpt_protect(f.ck, "z.weights", w, big, CKPT_DOUBLE);
    ckpt_protect(f.ck, "empty", empty, 0, CKPT_INT32);
    ckpt_protect(f.ck, "m.small", small, 7, CKPT_INT32);
    tl_fill(w, big * sizeof *w, 3, tl_rank, 2);
    tl_fill(small, sizeof small, 3, tl_rank, 3);
    save(&f, 3);
    on_rank0(&f, "rm -rf %s/node-%d", 1);
    poison(&f);
    memset(w, 0xee, big * sizeof *w);
    memset(small, 0xee, sizeof small);
    CU_ASSERT_EQUAL(ckpt_restore(f.ck, CKPT_LATEST, &got), CKPT_OK);
    CU_ASSERT_EQUAL(got, 3);
    CU_ASSERT_TRUE(tl_all(intact(&f, 3) && tl_check(w, big * sizeof *w, 3, tl_rank, 2) &&
                          tl_check(small, sizeof small, 3, tl_rank, 3) &&
                          empty[0] == 42));
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 3, CKPT_LEVEL_PARTNER), CKPT_OK);
    free(w);
    teardown(&f);
}

static void test_adjacent_double_loss(void)
{
    fixture_t f;
    int64_t got = -1;
    int rc;
    setup(&f, "doubleloss");
    save(&f, 1);
    on_rank0(&f, "rm -rf %s/node-%d", 1);
    on_rank0(&f, "rm -rf %s/node-%d", 2 % nodes());
    poison(&f);
    rc = ckpt_restore(f.ck, CKPT_LATEST, &got);
    CU_ASSERT_EQUAL(rc, CKPT_ENOENT);
    CU_ASSERT_TRUE(tl_same(rc));
    CU_ASSERT_TRUE(tl_all(poisoned(&f)));
    CU_ASSERT_EQUAL(ckpt_latest(f.ck, &got), CKPT_ENOENT);
    teardown(&f);
}

/* Node 1 lost, and the own file of node 2's first rank damaged too: that
 * rank checks its own file while it streams node 1's copies (the overlap),
 * finds the damage, and gets its data from its own partner in a second
 * round; every rank ends with its own bytes. */
static void test_node_loss_sender_damaged(void)
{
    fixture_t f;
    int64_t got = -1;
    char path[1024];
    setup(&f, "lostanddamaged");
    save(&f, 1);
    save(&f, 2);
    own_file(&f, 2 * rpn, 2, path);
    if (tl_rank == 0)
        tl_flip_byte(path, -300);
    on_rank0(&f, "rm -rf %s/node-%d", 1);
    poison(&f);
    CU_ASSERT_EQUAL(ckpt_restore(f.ck, CKPT_LATEST, &got), CKPT_OK);
    CU_ASSERT_EQUAL(got, 2);
    CU_ASSERT_TRUE(tl_all(intact(&f, 2)));
    CU_ASSERT_EQUAL(access(path, F_OK), -1); /* the damaged file is gone */
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 2, CKPT_LEVEL_PARTNER), CKPT_OK);
    poison(&f);
    CU_ASSERT_EQUAL(ckpt_restore(f.ck, 2, &got), CKPT_OK);
    CU_ASSERT_TRUE(tl_all(intact(&f, 2)));
    teardown(&f);
}

/* Node 1 lost and restored from the partners' copies; then the copy that
 * holds its first rank's data is damaged before ckpt_wait re-creates node
 * 1's files from it: the refill fails on every rank with one code, writes
 * no file from the damaged bytes, the level stays below PARTNER, and a
 * restart falls back to the older step. */
static void test_refill_from_damaged_copy(void)
{
    fixture_t f;
    int64_t got = -1;
    int level = -1, rc, victim = rpn; /* the first rank of node 1 */
    char path[1024];
    struct stat st;
    lose_node_and_restore(&f, "refilldamaged");
    copy_file(&f, victim, 2, path);
    if (tl_rank == 0)
        tl_flip_byte(path, -100);
    MPI_Barrier(MPI_COMM_WORLD);
    rc = ckpt_wait(f.ck, 2, CKPT_LEVEL_PARTNER);
    CU_ASSERT_EQUAL(rc, CKPT_ENOENT); /* the step is no longer recoverable */
    CU_ASSERT_TRUE(tl_same(rc));
    CU_ASSERT_EQUAL(ckpt_level(f.ck, 2, &level), CKPT_OK);
    CU_ASSERT_TRUE(tl_all(level < CKPT_LEVEL_PARTNER));
    own_file(&f, victim, 2, path);
    CU_ASSERT_TRUE(tl_all(stat(path, &st) != 0));
    poison(&f);
    CU_ASSERT_EQUAL(ckpt_restore(f.ck, CKPT_LATEST, &got), CKPT_OK);
    CU_ASSERT_EQUAL(got, 1);
    CU_ASSERT_TRUE(tl_all(intact(&f, 1)));
    teardown(&f);
}

/* Node 1 lost, and its ranks now protect state.a one byte shorter than it
 * was saved: every rank gets CKPT_EMISMATCH, and node 1's ranks' buffers
 * keep their poison (the shape is checked before a streamed byte lands). */
static void test_streamed_mismatch(void)
{
    fixture_t f;
    int64_t got = -1;
    int rc;
    setup(&f, "streammismatch");
    save(&f, 1);
    on_rank0(&f, "rm -rf %s/node-%d", 1);
    if (node_of(tl_rank) == 1) {
        CU_ASSERT_EQUAL(ckpt_unprotect(f.ck, "state.a"), CKPT_OK);
        CU_ASSERT_EQUAL(ckpt_protect(f.ck, "state.a", f.a, N - 1, CKPT_BYTE), CKPT_OK);
    }
    poison(&f);
    rc = ckpt_restore(f.ck, 1, &got);
    CU_ASSERT_EQUAL(rc, CKPT_EMISMATCH);
    CU_ASSERT_TRUE(tl_same(rc));
    CU_ASSERT_TRUE(tl_all(node_of(tl_rank) != 1 || poisoned(&f)));
    teardown(&f);
}

/* Node 0's spares (the files of the step retention retired) replaced by a
 * hard link to a file elsewhere, a symbolic link to another, and a FIFO,
 * and the next step's directory planted with its temporary file as a hard
 * link too (the save sweeps that directory away first): the next save
 * writes new files, both outside files keep their bytes, and the step
 * restores. */
static void test_planted_spares(void)
{
    fixture_t f;
    char cmd[4096], node0[1024];
    setup_with(&f, "plantedspare", "keep_local = 1\n");
    save(&f, 1);
    save(&f, 2); /* step 1's files become node 0's spares */
    snprintf(node0, sizeof node0, "%s/cache/plantedspare/node-0/spare", f.dir);
    if (tl_rank == 0) {
        snprintf(cmd, sizeof cmd, "cd '%s' && test -f rank-0.h5 && "
                 "echo precious > ../../../../hard && echo precious > ../../../../soft && "
                 "rm -f rank-*.h5 && ln ../../../../hard rank-0.h5 && "
                 "ln -s ../../../../soft rank-%d.h5 && mkfifo rank-%d.h5 && "
                 "mkdir ../step-3 && ln ../../../../hard ../step-3/rank-0.h5.tmp",
                 node0, tl_size - 1, rpn > 1 ? 1 : tl_size - 2);
        CU_ASSERT_EQUAL(tl_run(cmd), 0);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    save(&f, 3);
    if (tl_rank == 0) {
        snprintf(cmd, sizeof cmd, "cd '%s' && test \"$(cat hard)\" = precious && "
                 "test \"$(cat soft)\" = precious", f.dir);
        CU_ASSERT_EQUAL(tl_run(cmd), 0);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    CU_ASSERT_TRUE(tl_restore_latest(f.ck, 3));
    CU_ASSERT_TRUE(tl_all(intact(&f, 3)));
    teardown(&f);
}

/* Damage rank 1's own file in `how`; the partner copy must be used. */
static void damaged_own(const char *name, int flip_off, int trunc)
{
    fixture_t f;
    int64_t got = -1;
    char path[1024];
    int level = -1;
    setup(&f, name);
    save(&f, 3);
    own_file(&f, 1, 3, path);
    if (tl_rank == 0) {
        if (trunc)
            tl_truncate(path, trunc);
        else
            tl_flip_byte(path, flip_off);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    poison(&f);
    CU_ASSERT_EQUAL(ckpt_restore(f.ck, CKPT_LATEST, &got), CKPT_OK);
    CU_ASSERT_EQUAL(got, 3);
    CU_ASSERT_TRUE(tl_all(intact(&f, 3)));
    /* damage to the data is found (a header byte HDF5 wrote is never
     * read: the MANIFEST indexes the file), the damaged file is gone (a
     * short one is not counted), and the level says so */
    CU_ASSERT_EQUAL(ckpt_level(f.ck, 3, &level), CKPT_OK);
    CU_ASSERT_EQUAL(level, flip_off < 0 || trunc ? CKPT_LEVEL_LOCAL
                                                 : CKPT_LEVEL_PARTNER);
    if (flip_off < 0)
        CU_ASSERT_EQUAL(access(path, F_OK), -1);
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 3, CKPT_LEVEL_PARTNER), CKPT_OK);
    CU_ASSERT_EQUAL(ckpt_level(f.ck, 3, &level), CKPT_OK);
    CU_ASSERT_EQUAL(level, CKPT_LEVEL_PARTNER);
    /* the damaged copy was replaced: a second restore needs no partner */
    poison(&f);
    CU_ASSERT_EQUAL(ckpt_restore(f.ck, 3, &got), CKPT_OK);
    CU_ASSERT_TRUE(tl_all(intact(&f, 3)));
    teardown(&f);
}

static void test_flipped_data_byte(void) { damaged_own("flipdata", -500, 0); }
static void test_flipped_header_byte(void) { damaged_own("fliphead", 200, 0); }
static void test_truncated_file(void) { damaged_own("truncated", 0, 4096); }

static void test_damaged_manifest(void)
{
    fixture_t f;
    int64_t got = -1;
    int level = -1;
    setup(&f, "badmanifest");
    save(&f, 4);
    on_rank0(&f, "printf 'X' | dd of=%s/node-%d/step-4/MANIFEST bs=1 seek=30 conv=notrunc status=none", 0);
    poison(&f);
    CU_ASSERT_EQUAL(ckpt_restore(f.ck, CKPT_LATEST, &got), CKPT_OK);
    CU_ASSERT_EQUAL(got, 4);
    CU_ASSERT_TRUE(tl_all(intact(&f, 4)));
    CU_ASSERT_EQUAL(ckpt_level(f.ck, 4, &level), CKPT_OK);
    CU_ASSERT_EQUAL(level, CKPT_LEVEL_LOCAL);
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 4, CKPT_LEVEL_PARTNER), CKPT_OK);
    CU_ASSERT_EQUAL(ckpt_level(f.ck, 4, &level), CKPT_OK);
    CU_ASSERT_EQUAL(level, CKPT_LEVEL_PARTNER);
    teardown(&f);
}

/* Both copies of rank 1's newest step are bad: the older step is used; with
 * no older step, ENOENT and untouched buffers. */
/* Both copies of rank 1's step 6 damaged: step 5 is restored; then step 5
 * too: CKPT_ENOENT. With restore_check = first no buffer is touched. With
 * inline (the default) ranks copy while checking, so the healthy ranks may
 * hold step 5's good data, and rank 1 part of its damaged data. */
static void both_copies_bad(const char *name, const char *check)
{
    fixture_t f;
    int64_t got = -1;
    char own[1024], copy[1024];
    int rc;
    setup_with(&f, name, check);
    save(&f, 5);
    save(&f, 6);
    own_file(&f, 1, 6, own);
    copy_file(&f, 1, 6, copy);
    if (tl_rank == 0) {
        tl_flip_byte(own, -100);
        tl_flip_byte(copy, -100);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    poison(&f);
    CU_ASSERT_EQUAL(ckpt_restore(f.ck, CKPT_LATEST, &got), CKPT_OK);
    CU_ASSERT_EQUAL(got, 5);
    CU_ASSERT_TRUE(tl_all(intact(&f, 5)));
    /* now break step 5 the same way: nothing is left */
    own_file(&f, 1, 5, own);
    copy_file(&f, 1, 5, copy);
    if (tl_rank == 0) {
        tl_flip_byte(own, -100);
        tl_flip_byte(copy, -100);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    poison(&f);
    rc = ckpt_restore(f.ck, CKPT_LATEST, &got);
    CU_ASSERT_EQUAL(rc, CKPT_ENOENT);
    CU_ASSERT_TRUE(tl_same(rc));
    if (!strcmp(check, "restore_check = first")) {
        CU_ASSERT_TRUE(tl_all(poisoned(&f)));
    } else {
        /* healthy ranks hold the poison or step 5's good data, no mix */
        CU_ASSERT_TRUE(tl_all(tl_rank == 1 || poisoned(&f) || intact(&f, 5)));
    }
    teardown(&f);
}

static void test_both_copies_bad(void)
{
    both_copies_bad("bothbad", "");
}

static void test_both_copies_bad_strict(void)
{
    both_copies_bad("bothbadfirst", "restore_check = first");
}

int main(int argc, char **argv)
{
    static const tl_test_t tests[] = {
        {"node loss: restore from partners, refilled", test_node_loss},
        {"node loss under many regions, one of several chunks, one empty",
         test_node_loss_many_regions},
        {"node loss and a sender's own file damaged: both from copies",
         test_node_loss_sender_damaged},
        {"adjacent double loss: ENOENT everywhere", test_adjacent_double_loss},
        {"flipped data byte: partner copy used", test_flipped_data_byte},
        {"flipped header byte: partner copy used", test_flipped_header_byte},
        {"truncated file: partner copy used", test_truncated_file},
        {"damaged MANIFEST: partner copies used", test_damaged_manifest},
        {"both copies bad: older step, then ENOENT", test_both_copies_bad},
        {"both copies bad, restore_check = first: no buffer touched",
         test_both_copies_bad_strict},
        {"refill from a copy damaged after the restore: fails, nothing wrong kept",
         test_refill_from_damaged_copy},
        {"node lost, its ranks protect another shape: EMISMATCH, buffers untouched",
         test_streamed_mismatch},
        {"spares planted as links and a FIFO: new files, nothing written through",
         test_planted_spares},
        {NULL, NULL}};
    if (argc > 1)
        rpn = atoi(argv[1]);
    return tl_main(argc, argv, "recovery", tests);
}
