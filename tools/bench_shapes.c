/* ckpt-bench --shapes: what restarting anywhere costs.
 *  1. A region every rank holds alike, saved as one replicated region
 *     against the same bytes saved as N private copies (partner level).
 *  2. A global array saved by N ranks, restored by N/2 ranks (half as many
 *     per node: the same nodes), against the same array restored by N ranks
 *     after a node loss (the partner streams). Both are timed from a fresh
 *     ckpt_init to the return of ckpt_restore, as a restarted job waits for
 *     them (nothing is saved on the way); the buffers are poisoned first
 *     and checked after.
 * Each round runs each pair in turn, the order turned round every other
 * round, and the ratios are taken within the round. No storage is
 * configured: every byte comes from the node caches. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    bench_t *b;
    double *priv, *rep, *other, *lost; /* seconds per round */
    unsigned char *big;                /* 2 x bytes: a slice at half the ranks */
} sbench_t;

static unsigned char gbyte(uint64_t i)
{
    return (unsigned char)(i * 131 + 7);
}

/* A config of job `job` with a root per emulated node; collective. */
static const char *conf(bench_t *b, const char *job, int rpn, const char *extra)
{
    static char path[1100];
    snprintf(path, sizeof path, "%s/%s.conf", b->dir, job);
    if (b->rank == 0) {
        FILE *f = fopen(path, "w");
        if (f) {
            fprintf(f, "cache_dir = %s/shapes/r%%n\njob = %s\nranks_per_node = %d\n"
                       "keep_local = 1\nverbose = 0\n%s\n", b->dir, job, rpn, extra);
            fclose(f);
        }
    }
    MPI_Barrier(MPI_COMM_WORLD);
    return path;
}

static void wipe(bench_t *b)
{
    char cmd[1200];
    if (b->rank == 0) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s/shapes'", b->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "ckpt-bench: cannot clear %s/shapes\n", b->dir);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

/* 1: the same bytes as N private copies or one replicated region. */
static double save_as(sbench_t *s, int replicated, int64_t step, int *rc)
{
    bench_t *b = s->b;
    ckpt_t *ck = NULL;
    double t0, t = 0;
    *rc |= ckpt_init(MPI_COMM_WORLD, conf(b, replicated ? "rep" : "priv", b->rpn, ""),
                     &ck);
    if (*rc)
        return 0;
    memset(b->buf, 0x3c, b->bytes); /* alike on every rank */
    if (replicated)
        ckpt_protect_replicated(ck, "w", b->buf, b->bytes, CKPT_BYTE);
    else
        ckpt_protect(ck, "w", b->buf, b->bytes, CKPT_BYTE);
    t0 = bench_start();
    *rc |= bench_fail(ck, replicated ? "replicated save" : "private save",
                      ckpt_save(ck, step));
    t = bench_slowest(t0);
    ckpt_finalize(&ck);
    return t;
}

/* A global array of N slices of `bytes` saved by all ranks, step 1. */
static int save_global(bench_t *b, const char *job)
{
    ckpt_t *ck = NULL;
    int rc = ckpt_init(MPI_COMM_WORLD, conf(b, job, b->rpn, ""), &ck);
    uint64_t off = (uint64_t)b->rank * b->bytes;
    for (size_t i = 0; rc == 0 && i < b->bytes; i++)
        b->buf[i] = gbyte(off + i);
    if (rc == 0)
        rc = ckpt_protect_global(ck, "g", b->buf, b->bytes, CKPT_BYTE, off,
                                 (uint64_t)b->size * b->bytes);
    if (rc == 0)
        rc = bench_fail(ck, "save", ckpt_save(ck, 1));
    ckpt_finalize(&ck);
    return rc;
}

/* Collective over the world; ranks of `comm` (MPI_COMM_NULL elsewhere)
 * start a job of `nranks` ranks and restore their slices of `per` bytes
 * into a poisoned buffer; the slowest rank's seconds. */
static double init_restore(sbench_t *s, MPI_Comm comm, const char *cfg, size_t per,
                           int *rc)
{
    bench_t *b = s->b;
    ckpt_t *ck = NULL;
    int r, ok = 1, all, err = 0;
    double t0, t;
    memset(s->big, 0xee, per);
    t0 = bench_start();
    if (comm != MPI_COMM_NULL) {
        MPI_Comm_rank(comm, &r);
        err = ckpt_init(comm, cfg, &ck);
        if (err == 0)
            err = ckpt_protect_global(ck, "g", s->big, per, CKPT_BYTE,
                                      (uint64_t)r * per, (uint64_t)b->size * b->bytes);
        if (err == 0)
            err = bench_fail(ck, "restore", ckpt_restore(ck, 1, NULL));
        ckpt_finalize(&ck);
        for (size_t i = 0; err == 0 && ok && i < per; i++)
            ok = s->big[i] == gbyte((uint64_t)r * per + i);
    }
    t = bench_slowest(t0);
    ok &= err == 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    if (!all && b->rank == 0)
        fprintf(stderr, "ckpt-bench: a restore failed or returned wrong data\n");
    *rc |= !all;
    return t;
}

/* 2a: N -> N/2 ranks, half as many per node. */
static double restore_other(sbench_t *s, int *rc)
{
    bench_t *b = s->b;
    MPI_Comm half;
    const char *cfg;
    double t;
    wipe(b);
    *rc |= save_global(b, "g");
    MPI_Comm_split(MPI_COMM_WORLD, b->rank < b->size / 2 ? 0 : MPI_UNDEFINED,
                   b->rank, &half);
    cfg = conf(b, "g", b->rpn / 2, "");
    t = init_restore(s, half, cfg, 2 * b->bytes, rc);
    if (half != MPI_COMM_NULL)
        MPI_Comm_free(&half);
    return t;
}

/* 2b: N ranks again after node 1's root is gone. */
static double restore_lost(sbench_t *s, int *rc)
{
    bench_t *b = s->b;
    char cmd[1200];
    wipe(b);
    *rc |= save_global(b, "g");
    if (b->rank == 0) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s/shapes/r1'", b->dir);
        *rc |= system(cmd) != 0;
    }
    return init_restore(s, MPI_COMM_WORLD, conf(b, "g", b->rpn, ""), b->bytes, rc);
}

static int round_once(sbench_t *s, int r)
{
    int rc = 0, slot = r < 0 ? s->b->rounds : r, flip = r & 1;
    for (int k = 0; k < 2 && rc == 0; k++) {
        if ((k ^ flip) == 0)
            s->priv[slot] = save_as(s, 0, r + 2, &rc);
        else
            s->rep[slot] = save_as(s, 1, r + 2, &rc);
    }
    for (int k = 0; k < 2 && rc == 0; k++) {
        if ((k ^ flip) == 0)
            s->other[slot] = restore_other(s, &rc);
        else
            s->lost[slot] = restore_lost(s, &rc);
    }
    return rc;
}

static void report(const sbench_t *s)
{
    bench_t *b = s->b;
    int n = b->rounds < 64 ? b->rounds : 64;
    double p[64], q[64], o[64], l[64], r1[64], r2[64], data = (double)b->size * b->bytes;
    for (int r = 0; r < n; r++) {
        p[r] = s->priv[r];
        q[r] = s->rep[r];
        o[r] = s->other[r];
        l[r] = s->lost[r];
        r1[r] = q[r] / p[r];
        r2[r] = l[r] / o[r];
    }
    printf("ckpt-bench --shapes: %d ranks, %d per node, %.1f MiB per rank, %d rounds; "
           "pairs in turn, the order turned every other round\n", b->size, b->rpn,
           (double)b->bytes / 1048576, b->rounds);
    printf("replicated save / %d private copies (time): ratio of medians %.3f, "
           "median of ratios %.3f (goal <= 1.3/N = %.3f)\n", b->size,
           bench_median(q, n) / bench_median(p, n), bench_median(r1, n),
           1.3 / b->size);
    printf("  seconds per round (private/replicated):");
    for (int r = 0; r < n; r++)
        printf(" %.3f/%.3f", s->priv[r], s->rep[r]);
    printf("\nrestore at another size (%d -> %d ranks) / same layout after a node "
           "loss (bandwidth, init to return): ratio of medians %.3f, median of "
           "ratios %.3f (goal >= 0.5); %.3f and %.3f GB/s\n", b->size, b->size / 2,
           bench_median(l, n) / bench_median(o, n), bench_median(r2, n),
           data / bench_median(o, n) / 1e9, data / bench_median(l, n) / 1e9);
    printf("  seconds per round (other size/node lost):");
    for (int r = 0; r < n; r++)
        printf(" %.3f/%.3f", s->other[r], s->lost[r]);
    printf("\n  storage requests: none (no storage configured: every byte from "
           "the caches)\n");
}

int shapes_bench(bench_t *b)
{
    sbench_t s = {.b = b};
    int rc = b->rpn < 2 || b->rpn % 2 || b->size % b->rpn || b->size < 2 * b->rpn;
    if (rc && b->rank == 0)
        fprintf(stderr, "ckpt-bench --shapes: needs an even -n >= 2 and at least "
                        "two full nodes\n");
    s.priv = calloc((size_t)b->rounds + 1, sizeof(double));
    s.rep = calloc((size_t)b->rounds + 1, sizeof(double));
    s.other = calloc((size_t)b->rounds + 1, sizeof(double));
    s.lost = calloc((size_t)b->rounds + 1, sizeof(double));
    s.big = malloc(2 * b->bytes);
    rc |= !s.priv || !s.rep || !s.other || !s.lost || !s.big;
    if (rc == 0)
        rc = round_once(&s, -1); /* unmeasured: first writes of new blocks */
    for (int r = 0; r < b->rounds && rc == 0; r++)
        rc = round_once(&s, r);
    if (rc == 0 && b->rank == 0)
        report(&s);
    wipe(b);
    free(s.priv);
    free(s.rep);
    free(s.other);
    free(s.lost);
    free(s.big);
    return rc;
}
