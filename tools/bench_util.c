/* Helpers shared by ckpt-bench's modes. */
#include "bench.h"
#include "handle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Every phase starts with no dirty pages of an earlier phase in flight, so
 * that no phase pays for another's writeback. */
double bench_start(void)
{
    sync();
    MPI_Barrier(MPI_COMM_WORLD);
    return MPI_Wtime();
}

double bench_slowest(double t0)
{
    double mine = MPI_Wtime() - t0, max;
    MPI_Allreduce(&mine, &max, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return max;
}

const char *bench_config(bench_t *b, const char *name, const char *extra)
{
    static char path[1000];
    snprintf(path, sizeof path, "%s/%s.conf", b->dir, name);
    if (b->rank == 0) {
        FILE *f = fopen(path, "w");
        if (f) {
            fprintf(f, "cache_dir = %s/cache\njob = bench-%s\nranks_per_node = %d\n"
                       "keep_local = 1\nverbose = 0\n%s\n", b->dir, name, b->rpn, extra);
            fclose(f);
        }
    }
    MPI_Barrier(MPI_COMM_WORLD);
    return path;
}

int bench_fail(ckpt_t *ck, const char *what, int rc)
{
    if (rc != CKPT_OK)
        fprintf(stderr, "ckpt-bench: %s: %s: %s\n", what, ckpt_strerror(rc),
                ckpt_errmsg(ck));
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double bench_quantile(double *v, size_t n, double q)
{
    qsort(v, n, sizeof *v, cmp_double);
    return v[(size_t)((double)(n - 1) * q)];
}

long bench_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}


void bench_totals(storage_t *st, uint64_t *req, uint64_t *bytes)
{
    st_stats_t s;
    uint64_t by[OP_COUNT];
    storage_stats(st, &s);
    MPI_Allreduce(s.requests, req, OP_COUNT, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(s.bytes, bytes ? bytes : by, OP_COUNT, MPI_UINT64_T, MPI_SUM,
                  MPI_COMM_WORLD);
}

double bench_timed_save(ckpt_t *ck, int64_t step, int *rc)
{
    double t0 = bench_start();
    *rc |= bench_fail(ck, "save", ckpt_save(ck, step));
    return bench_slowest(t0);
}

void bench_pattern(bench_t *b)
{
    for (size_t i = 0; i < b->bytes; i++)
        b->buf[i] = bench_byte(b, i);
}

double bench_timed_restore(bench_t *b, ckpt_t *ck, int64_t step,
                           const char *what, int *rc)
{
    int64_t got = -1;
    int ok = 1, all;
    double t0, t;
    memset(b->buf, 0xee, b->bytes);
    t0 = bench_start();
    *rc |= bench_fail(ck, what, ckpt_restore(ck, step, &got));
    t = bench_slowest(t0);
    for (size_t i = 0; i < b->bytes && ok; i++)
        ok = b->buf[i] == bench_byte(b, i);
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    if (!all && b->rank == 0)
        fprintf(stderr, "ckpt-bench: %s returned wrong data\n", what);
    *rc |= !all;
    return t;
}
