/* Driver for the kill and fault scripts. Data of step S is a known pattern,
 * so any restored step can be checked byte for byte.
 *   t_pattern CONF save FIRST LAST BYTES      save steps FIRST..LAST
 *   t_pattern CONF expect-save STEP BYTES CODE   the save fails with CODE everywhere
 *   t_pattern CONF check BYTES [STEP]         restore latest; data must match
 * Prints "restored S" on rank 0 and "N passed, N failed". */
#include "testlib.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int checks, failures;

static void expect(int ok, const char *what)
{
    int all = tl_all(ok);
    checks++;
    if (!all) {
        failures++;
        if (tl_rank == 0)
            fprintf(stderr, "t_pattern: FAILED: %s\n", what);
    }
}

static int code_of(const char *name)
{
    for (int c = CKPT_OK; c <= CKPT_ENOMEM; c++) {
        static const char *n[] = {"OK", "EINVAL", "ECONFIG", "ESTATE", "ENOENT",
                                  "EMISMATCH", "ECORRUPT", "EIO", "ENOSPC",
                                  "ESTORAGE", "EMPI", "ENOMEM"};
        if (!strcmp(name, n[c]))
            return c;
    }
    return -1;
}

/* Every rank reports the same message. */
static int same_message(ckpt_t *ck)
{
    char mine[1024] = {0}, first[1024];
    snprintf(mine, sizeof mine, "%s", ckpt_errmsg(ck));
    memcpy(first, mine, sizeof first);
    MPI_Bcast(first, sizeof first, MPI_CHAR, 0, MPI_COMM_WORLD);
    return strcmp(first, mine) == 0 && mine[0] != '\0';
}

int main(int argc, char **argv)
{
    ckpt_t *ck = NULL;
    size_t bytes;
    unsigned char *buf;
    int rc;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &tl_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &tl_size);
    if (argc < 4) {
        fprintf(stderr, "usage: see the top of t_pattern.c\n");
        return 2;
    }
    rc = ckpt_init(MPI_COMM_WORLD, argv[1], &ck);
    expect(rc == CKPT_OK, "ckpt_init");
    if (rc != CKPT_OK)
        goto out;
    bytes = (size_t)atoll(!strcmp(argv[2], "save")          ? argv[5]
                          : !strcmp(argv[2], "expect-save") ? argv[4]
                                                            : argv[3]);
    buf = malloc(bytes + tl_rank * 4096 + 1);
    bytes += (size_t)tl_rank * 4096; /* ranks differ in size */
    ckpt_protect(ck, "data", buf, bytes, CKPT_BYTE);
    if (!strcmp(argv[2], "save")) {
        for (int64_t s = atoll(argv[3]); s <= atoll(argv[4]); s++) {
            tl_fill(buf, bytes, s, tl_rank, 0);
            expect(ckpt_save(ck, s) == CKPT_OK, "save");
        }
    } else if (!strcmp(argv[2], "expect-save")) {
        int want = code_of(argv[5]);
        tl_fill(buf, bytes, atoll(argv[3]), tl_rank, 0);
        rc = ckpt_save(ck, atoll(argv[3]));
        if (rc != want && tl_rank == 0)
            fprintf(stderr, "t_pattern: save returned %s: %s\n",
                    ckpt_strerror(rc), ckpt_errmsg(ck));
        expect(rc == want, "save fails with the expected code");
        expect(tl_same(rc), "same code on every rank");
        expect(same_message(ck), "same message on every rank");
        if (tl_rank == 0)
            printf("save failed as expected: %s\n", ckpt_errmsg(ck));
    } else if (!strcmp(argv[2], "check")) {
        int64_t got = -1;
        int level = 0;
        memset(buf, 0, bytes);
        rc = ckpt_restore(ck, CKPT_LATEST, &got);
        expect(rc == CKPT_OK, "restore");
        expect(rc != CKPT_OK || tl_check(buf, bytes, got, tl_rank, 0),
               "restored data is exactly what was saved under that step");
        if (argc > 4)
            expect(got == atoll(argv[4]), "restored the expected step");
        expect(ckpt_level(ck, got, &level) == CKPT_OK && level >= CKPT_LEVEL_LOCAL,
               "restored step has a level");
        if (tl_rank == 0)
            printf("restored %lld (level %d)\n", (long long)got, level);
    }
    free(buf);
    ckpt_finalize(&ck);
out:
    if (tl_rank == 0)
        printf("t_pattern: %d passed, %d failed\n", checks - failures, failures);
    MPI_Finalize();
    return failures ? 1 : 0;
}
