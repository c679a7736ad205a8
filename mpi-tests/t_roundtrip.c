/* Round trips: all types, odd and empty sizes, different regions per rank,
 * step replacement, retention, redundancy modes, and 1 GiB per rank. */
#include "testlib.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int rpn = 2;
static size_t big_bytes;

#define NREG 12
typedef struct {
    void *buf[NREG];
    size_t count[NREG];
    ckpt_type_t type[NREG];
    int on[NREG];
} set_t;

static size_t tsize(ckpt_type_t t)
{
    static const size_t s[] = {1, 4, 8, 4, 8, 2, 2, 4, 8};
    return s[t];
}

/* Region k of this rank: every type, odd counts, some empty, and a set that
 * differs from rank to rank. */
static void make_set(set_t *s, ckpt_t *ck, int64_t step)
{
    memset(s, 0, sizeof *s);
    for (int k = 0; k < NREG; k++) {
        char name[32];
        s->on[k] = (k + tl_rank) % 4 != 3;
        s->type[k] = (ckpt_type_t)(k % 9);
        s->count[k] = k % 5 == 4 ? 0 : (size_t)(1 + k * 997 + tl_rank * 13);
        s->buf[k] = malloc(s->count[k] * tsize(s->type[k]) + 1);
        tl_fill(s->buf[k], s->count[k] * tsize(s->type[k]), step, tl_rank, k);
        snprintf(name, sizeof name, "r%d.%s-x_%d", k, k % 2 ? "a" : "b", tl_rank % 3);
        if (s->on[k])
            CU_ASSERT_EQUAL(ckpt_protect(ck, name, s->count[k] ? s->buf[k] : NULL,
                                         s->count[k], s->type[k]), CKPT_OK);
    }
}

static int check_set(const set_t *s, int64_t step)
{
    int ok = 1;
    for (int k = 0; k < NREG; k++)
        if (s->on[k])
            ok &= tl_check(s->buf[k], s->count[k] * tsize(s->type[k]), step,
                           tl_rank, k);
    return ok;
}

static void clear_set(set_t *s)
{
    for (int k = 0; k < NREG; k++)
        memset(s->buf[k], 0, s->count[k] * tsize(s->type[k]));
}

static void free_set(set_t *s)
{
    for (int k = 0; k < NREG; k++)
        free(s->buf[k]);
}

static ckpt_t *open_ck(const char *name, const char *extra)
{
    return tl_open(name, rpn, extra);
}

/* rpn 0 asks for detection: every rank of this machine is on one node. */
static int nodes(void)
{
    return rpn > 0 ? (tl_size + rpn - 1) / rpn : 1;
}

static void test_types_sizes_sets(void)
{
    ckpt_t *ck = open_ck("types", "");
    set_t s;
    int64_t got = -1;
    int level = -1;
    make_set(&s, ck, 5);
    CU_ASSERT_EQUAL(ckpt_save(ck, 5), CKPT_OK);
    clear_set(&s);
    CU_ASSERT_EQUAL(ckpt_restore(ck, CKPT_LATEST, &got), CKPT_OK);
    CU_ASSERT_EQUAL(got, 5);
    CU_ASSERT_TRUE(check_set(&s, 5));
    CU_ASSERT_EQUAL(ckpt_level(ck, 5, &level), CKPT_OK);
    CU_ASSERT_EQUAL(level, nodes() > 1 ? CKPT_LEVEL_PARTNER : CKPT_LEVEL_LOCAL);
    CU_ASSERT_EQUAL(ckpt_wait(ck, 5, CKPT_LEVEL_LOCAL), CKPT_OK);
    free_set(&s);
    CU_ASSERT_EQUAL(ckpt_finalize(&ck), CKPT_OK);
    CU_ASSERT_PTR_NULL(ck);
}

static void test_replace_step(void)
{
    ckpt_t *ck = open_ck("replace", "");
    set_t s;
    int64_t got = -1;
    make_set(&s, ck, 1);
    CU_ASSERT_EQUAL(ckpt_save(ck, 7), CKPT_OK);
    free_set(&s);
    make_set(&s, ck, 2); /* new contents, same step number */
    CU_ASSERT_EQUAL(ckpt_save(ck, 7), CKPT_OK);
    clear_set(&s);
    CU_ASSERT_EQUAL(ckpt_restore(ck, 7, &got), CKPT_OK);
    CU_ASSERT_EQUAL(got, 7);
    CU_ASSERT_TRUE(check_set(&s, 2));
    free_set(&s);
    ckpt_finalize(&ck);
}

static void test_retention_and_specific_step(void)
{
    char msg[1024];
    ckpt_t *ck = open_ck("retain", "keep_local = 2");
    set_t s = {0};
    int64_t got = -1, latest = -1;
    for (int64_t st = 1; st <= 5; st++) {
        free_set(&s);
        make_set(&s, ck, st);
        CU_ASSERT_EQUAL(ckpt_save(ck, st), CKPT_OK);
    }
    CU_ASSERT_EQUAL(ckpt_latest(ck, &latest), CKPT_OK);
    CU_ASSERT_EQUAL(latest, 5);
    clear_set(&s);
    CU_ASSERT_EQUAL(ckpt_restore(ck, 4, &got), CKPT_OK);
    CU_ASSERT_EQUAL(got, 4);
    CU_ASSERT_TRUE(check_set(&s, 4));
    CU_ASSERT_EQUAL(ckpt_restore(ck, 3, &got), CKPT_ENOENT);
    CU_ASSERT_TRUE(tl_same(ckpt_restore(ck, 3, &got)));
    CU_ASSERT_TRUE(check_set(&s, 4)); /* untouched by the failed restore */
    snprintf(msg, sizeof msg, "%s", ckpt_errmsg(ck));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "step 3"));
    free_set(&s);
    ckpt_finalize(&ck);
}

/* Retention keeps a removed step's files as spares; the next save rewrites
 * them in place (the same inode), cut to its size when it is smaller, and
 * restores what it saved. */
static void test_spares(void)
{
    ckpt_t *ck = open_ck("spares", "keep_local = 1");
    const size_t big = 1 << 20;
    unsigned char *buf = malloc(big);
    int node = rpn > 0 ? tl_rank / rpn : 0;
    char path[1024], victim[1024];
    struct stat st;
    ino_t first = 0;
    off_t full = 0;
    int64_t got = -1;
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    ckpt_protect(ck, "x", buf, big, CKPT_BYTE);
    for (int64_t step = 1; step <= 3; step++) {
        tl_fill(buf, big, step, tl_rank, 0);
        CU_ASSERT_EQUAL(ckpt_save(ck, step), CKPT_OK);
        tl_rank_file(path, sizeof path, tl_dir_of("spares"), node, step, tl_rank);
        CU_ASSERT_EQUAL(stat(path, &st), 0);
        if (step == 1) {
            first = st.st_ino;
            full = st.st_size;
        }
    }
    CU_ASSERT_EQUAL(st.st_ino, first); /* step 3 rewrote step 1's file */
    /* a spare replaced by a symbolic link is not written through */
    snprintf(victim, sizeof victim, "%s/victim-%d", tl_dir_of("spares"), tl_rank);
    tl_rank_file(path, sizeof path, tl_dir_of("spares"), node, 2, tl_rank);
    strcpy(strstr(path, "/step-2/"), "/spare/");
    MPI_Barrier(MPI_COMM_WORLD); /* node leaders retire step 2 after the save */
    snprintf(path + strlen(path), sizeof path - strlen(path), "rank-%d.h5", tl_rank);
    CU_ASSERT_EQUAL(unlink(path), 0);
    CU_ASSERT_EQUAL(close(open(victim, O_WRONLY | O_CREAT, 0600)), 0);
    CU_ASSERT_EQUAL(symlink(victim, path), 0);
    ckpt_protect(ck, "x", buf, big / 4, CKPT_BYTE);
    tl_fill(buf, big / 4, 4, tl_rank, 0);
    CU_ASSERT_EQUAL(ckpt_save(ck, 4), CKPT_OK);
    tl_rank_file(path, sizeof path, tl_dir_of("spares"), node, 4, tl_rank);
    CU_ASSERT_EQUAL(stat(path, &st), 0);
    CU_ASSERT_TRUE(st.st_size < full - (off_t)(big / 2));
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
    CU_ASSERT_EQUAL(stat(victim, &st), 0);
    CU_ASSERT_EQUAL(st.st_size, 0);
    memset(buf, 0, big);
    CU_ASSERT_EQUAL(ckpt_restore(ck, CKPT_LATEST, &got), CKPT_OK);
    CU_ASSERT_EQUAL(got, 4);
    CU_ASSERT_TRUE(tl_all(tl_check(buf, big / 4, 4, tl_rank, 0)));
    free(buf);
    ckpt_finalize(&ck);
}

static void test_single_redundancy(void)
{
    ckpt_t *ck = open_ck("single", "redundancy = single");
    set_t s;
    int level = -1;
    int64_t got;
    make_set(&s, ck, 9);
    CU_ASSERT_EQUAL(ckpt_save(ck, 9), CKPT_OK);
    CU_ASSERT_EQUAL(ckpt_level(ck, 9, &level), CKPT_OK);
    CU_ASSERT_EQUAL(level, CKPT_LEVEL_LOCAL);
    CU_ASSERT_EQUAL(ckpt_wait(ck, 9, CKPT_LEVEL_PARTNER), CKPT_ESTATE);
    clear_set(&s);
    CU_ASSERT_EQUAL(ckpt_restore(ck, CKPT_LATEST, &got), CKPT_OK);
    CU_ASSERT_TRUE(check_set(&s, 9));
    free_set(&s);
    ckpt_finalize(&ck);
}

static void test_partner_distance(void)
{
    char extra[64];
    ckpt_t *ck;
    set_t s;
    int64_t got;
    int d = nodes() > 2 ? 2 : 1;
    snprintf(extra, sizeof extra, "partner_distance = %d", d);
    ck = open_ck("distance", extra);
    make_set(&s, ck, 3);
    CU_ASSERT_EQUAL(ckpt_save(ck, 3), CKPT_OK);
    clear_set(&s);
    CU_ASSERT_EQUAL(ckpt_restore(ck, CKPT_LATEST, &got), CKPT_OK);
    CU_ASSERT_TRUE(check_set(&s, 3));
    free_set(&s);
    ckpt_finalize(&ck);
}

/* One big region per rank, restored after losing the own copies, so both
 * the local and the partner path carry it. */
static void test_big(void)
{
    ckpt_t *ck;
    unsigned char *buf;
    int64_t got;
    ck = open_ck("big", "");
    buf = malloc(big_bytes);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    tl_fill(buf, big_bytes, 1, tl_rank, 0);
    CU_ASSERT_EQUAL(ckpt_protect(ck, "weights", buf, big_bytes / 4, CKPT_FLOAT), CKPT_OK);
    CU_ASSERT_EQUAL(ckpt_save(ck, 1), CKPT_OK);
    memset(buf, 0, big_bytes);
    CU_ASSERT_EQUAL(ckpt_restore(ck, CKPT_LATEST, &got), CKPT_OK);
    CU_ASSERT_TRUE(tl_check(buf, big_bytes, 1, tl_rank, 0));
    free(buf);
    ckpt_finalize(&ck);
}

int main(int argc, char **argv)
{
    static const tl_test_t tests[] = {
        {"all types, odd and empty sizes, sets per rank", test_types_sizes_sets},
        {"saving a step again replaces it", test_replace_step},
        {"keep_local retention and restoring a given step", test_retention_and_specific_step},
        {"redundancy = single", test_single_redundancy},
        {"retired files rewritten in place", test_spares},
        {"partner_distance", test_partner_distance},
        {NULL, NULL}};
    static const tl_test_t big[] = {{"big region per rank", test_big}, {NULL, NULL}};
    if (argc > 1)
        rpn = atoi(argv[1]);
    if (argc > 2)
        big_bytes = (size_t)atoll(argv[2]);
    return tl_main(argc, argv, "roundtrip", big_bytes ? big : tests);
}
