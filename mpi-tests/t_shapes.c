/* Driver for shapes.sh: global and replicated regions, saved on some number
 * of ranks and restored on another. Element i of the global array "g" at
 * step S is G(S, i); every element of the replicated "w" is W(S, i). Each
 * rank holds the slice split() gives it (uneven: rank r of n gets one more
 * element while r < count % n), shifted by SHIFT ranks.
 *   t_shapes CONF save FIRST LAST GCOUNT WCOUNT [private]
 *   t_shapes CONF check GCOUNT WCOUNT STEP [private]    restore, compare
 *   t_shapes CONF check-save GCOUNT WCOUNT STEP NEXT     and then save NEXT
 *   t_shapes CONF expect-save GCOUNT WCOUNT CASE        the save is EINVAL:
 *        CASE gap | overlap | differ | names
 *   t_shapes CONF expect-restore GCOUNT WCOUNT CODE [private]
 * Prints "restored S (level L)" on rank 0 and "N passed, N failed". */
#include "testlib.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int checks, failures;

static void expect(int ok, const char *what)
{
    checks++;
    if (!tl_all(ok)) {
        failures++;
        if (tl_rank == 0)
            fprintf(stderr, "t_shapes: FAILED: %s\n", what);
    }
}

static uint64_t G(int64_t s, uint64_t i) { return (uint64_t)s * 1000003u + i * 7919u; }
static double W(int64_t s, uint64_t i) { return (double)s + (double)i / 8.0; }

static void split(uint64_t c, int n, int r, uint64_t *start, uint64_t *len)
{
    uint64_t q = c / (uint64_t)n, rem = c % (uint64_t)n, ur = (uint64_t)r;
    *start = ur * q + (ur < rem ? ur : rem);
    *len = q + (ur < rem);
}

typedef struct job {
    ckpt_t *ck;
    uint64_t gcount, wcount, goff, glen;
    uint64_t *g;
    double *w;
    int32_t priv[16];
} job_t;

static void protect(job_t *j, int with_private)
{
    split(j->gcount, tl_size, (tl_rank + 1) % tl_size, &j->goff, &j->glen);
    j->g = calloc(j->glen + 1, sizeof *j->g);
    j->w = calloc(j->wcount + 1, sizeof *j->w);
    expect(ckpt_protect_global(j->ck, "g", j->g, j->glen, CKPT_UINT64, j->goff,
                               j->gcount) == CKPT_OK, "protect global");
    expect(ckpt_protect_replicated(j->ck, "w", j->w, j->wcount, CKPT_DOUBLE) ==
           CKPT_OK, "protect replicated");
    if (with_private)
        expect(ckpt_protect(j->ck, "p", j->priv, 16, CKPT_INT32) == CKPT_OK,
               "protect private");
}

static void fill(job_t *j, int64_t s)
{
    for (uint64_t i = 0; i < j->glen; i++)
        j->g[i] = G(s, j->goff + i);
    for (uint64_t i = 0; i < j->wcount; i++)
        j->w[i] = W(s, i);
    for (int i = 0; i < 16; i++)
        j->priv[i] = (int32_t)(s * 100 + tl_rank);
}

static int same_data(const job_t *j, int64_t s)
{
    int ok = 1;
    for (uint64_t i = 0; ok && i < j->glen; i++)
        ok = j->g[i] == G(s, j->goff + i);
    for (uint64_t i = 0; ok && i < j->wcount; i++)
        ok = j->w[i] == W(s, i);
    return ok;
}

/* The save of a broken shape fails with CKPT_EINVAL, alike everywhere. */
static void expect_bad_save(job_t *j, const char *c)
{
    char mine[1024], first[1024];
    int rc;
    fill(j, 1);
    if (!strcmp(c, "gap") && tl_rank == 0)
        ckpt_protect_global(j->ck, "g", j->g, j->glen ? j->glen - 1 : 0,
                            CKPT_UINT64, j->goff, j->gcount);
    if (!strcmp(c, "overlap") && tl_rank == 0)
        ckpt_protect_global(j->ck, "g", j->g, j->glen, CKPT_UINT64,
                            j->goff ? j->goff - 1 : 1, j->gcount);
    if (!strcmp(c, "differ") && tl_rank == tl_size - 1)
        j->w[j->wcount / 2] += 1.0;
    if (!strcmp(c, "names") && tl_rank == 1)
        ckpt_unprotect(j->ck, "w");
    rc = ckpt_save(j->ck, 1);
    snprintf(mine, sizeof mine, "%s", ckpt_errmsg(j->ck));
    memcpy(first, mine, sizeof first);
    MPI_Bcast(first, sizeof first, MPI_CHAR, 0, MPI_COMM_WORLD);
    expect(rc == CKPT_EINVAL, "the save is CKPT_EINVAL");
    expect(tl_same(rc) && !strcmp(first, mine), "the same code and message everywhere");
    if (tl_rank == 0)
        printf("save refused: %s\n", mine);
    expect(ckpt_latest(j->ck, &(int64_t){0}) == CKPT_ENOENT, "nothing was saved");
}

static void check(job_t *j, int64_t want)
{
    int64_t got = -1;
    int level = 0;
    int rc = ckpt_restore(j->ck, CKPT_LATEST, &got);
    if (rc != CKPT_OK && tl_rank == 0)
        fprintf(stderr, "t_shapes: restore: %s\n", ckpt_errmsg(j->ck));
    expect(rc == CKPT_OK, "restore");
    expect(got == want, "restored the expected step");
    expect(rc == CKPT_OK && same_data(j, got), "global slices and replicated "
           "array exactly as saved");
    expect(ckpt_level(j->ck, got, &level) == CKPT_OK, "level");
    if (tl_rank == 0)
        printf("restored %lld (level %d)\n", (long long)got, level);
}

int main(int argc, char **argv)
{
    job_t j = {0};
    const char *mode;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &tl_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &tl_size);
    if (argc < 6) {
        fprintf(stderr, "usage: see the top of t_shapes.c\n");
        return 2;
    }
    mode = argv[2];
    expect(ckpt_init(MPI_COMM_WORLD, argv[1], &j.ck) == CKPT_OK, "ckpt_init");
    if (j.ck == NULL)
        goto out;
    j.gcount = strtoull(argv[!strcmp(mode, "save") ? 5 : 3], NULL, 10);
    j.wcount = strtoull(argv[!strcmp(mode, "save") ? 6 : 4], NULL, 10);
    protect(&j, argc > 7 ? strcmp(mode, "check-save") != 0
                         : argc > 6 && strcmp(mode, "save") && strcmp(mode, "check-save"));
    if (!strcmp(mode, "save")) {
        for (int64_t s = atoll(argv[3]); s <= atoll(argv[4]); s++) {
            fill(&j, s);
            expect(ckpt_save(j.ck, s) == CKPT_OK, "save");
        }
    } else if (!strcmp(mode, "check")) {
        check(&j, atoll(argv[5]));
    } else if (!strcmp(mode, "check-save") && argc > 6) {
        check(&j, atoll(argv[5]));
        fill(&j, atoll(argv[6]));
        expect(ckpt_save(j.ck, atoll(argv[6])) == CKPT_OK, "save after the restore");
    } else if (!strcmp(mode, "expect-save")) {
        expect_bad_save(&j, argv[5]);
    } else if (!strcmp(mode, "expect-restore")) {
        int rc = ckpt_restore(j.ck, CKPT_LATEST, NULL);
        if (tl_rank == 0)
            printf("restore: %s: %s\n", ckpt_strerror(rc), ckpt_errmsg(j.ck));
        expect(rc == atoi(argv[5]), "the restore fails with the expected code");
        expect(tl_same(rc), "the same code everywhere");
    }
    free(j.g);
    free(j.w);
    ckpt_finalize(&j.ck);
out:
    if (tl_rank == 0)
        printf("t_shapes: %d passed, %d failed\n", checks - failures, failures);
    MPI_Finalize();
    return failures ? 1 : 0;
}
