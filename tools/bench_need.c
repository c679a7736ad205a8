/* ckpt-bench --need-save: what ckpt_need_save costs a training loop that
 * calls it every step. 10,000 calls a round, timed from a barrier to the
 * slowest rank's return; microseconds per call, every round printed, and
 * an MPI_Allreduce of one int timed the same way beside it (the floor of
 * any collective on this machine). */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>

#define CALLS 10000

static double per_call(ckpt_t *ck, int *rc)
{
    double t0 = bench_start();
    int reason, x = 1, y;
    for (int i = 0; i < CALLS && *rc == 0; i++) {
        if (ck)
            *rc |= ckpt_need_save(ck, &reason) != CKPT_OK || reason != CKPT_SAVE_NO;
        else
            MPI_Allreduce(&x, &y, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    }
    return bench_slowest(t0) / CALLS * 1e6;
}

int need_bench(bench_t *b)
{
    char path[1100];
    ckpt_t *ck = NULL;
    int rc = 0, n = b->rounds < 64 ? b->rounds : 64;
    double need[64], floor_[64];
    snprintf(path, sizeof path, "%s/need.conf", b->dir);
    if (b->rank == 0) {
        FILE *f = fopen(path, "w");
        if (f) {
            fprintf(f, "cache_dir = %s/need\njob = need\nranks_per_node = %d\n"
                       "save_interval = 3600\nverbose = 0\n", b->dir, b->rpn);
            fclose(f);
        }
    }
    MPI_Barrier(MPI_COMM_WORLD);
    rc = ckpt_init(MPI_COMM_WORLD, path, &ck) != CKPT_OK;
    per_call(rc ? NULL : ck, &rc); /* warm up */
    for (int r = 0; r < n && rc == 0; r++) {
        need[r] = per_call(ck, &rc);
        floor_[r] = per_call(NULL, &rc);
    }
    if (rc == 0 && b->rank == 0) {
        printf("ckpt-bench --need-save: %d ranks, %d per node, %d rounds of %d calls\n",
               b->size, b->rpn, n, CALLS);
        printf("  ckpt_need_save / MPI_Allreduce of one int, us per call:");
        for (int r = 0; r < n; r++)
            printf(" %.2f/%.2f", need[r], floor_[r]);
        printf("\n  median %.2f us per call (goal <= 50), MPI_Allreduce alone %.2f us\n",
               bench_median(need, n), bench_median(floor_, n));
    }
    if (ck)
        ckpt_finalize(&ck);
    return rc;
}
