/* ckpt-bench --storage: the STORAGE level. The stall of a save in writeback
 * mode against cache mode while uploads run, upload and download
 * throughput, and the storage requests of each step. */
#include "bench.h"
#include "handle.h"
#include "fileio.h"
#include "storage.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
    double *stall_cache, *stall_wb, *up, *down, *read;
    uint64_t req_step[OP_COUNT], req_cache_restore, bytes_cache_restore;
} sbench_t;

/* Stall of a save: cache mode with no upload anywhere, against writeback
 * mode while the upload of the step saved just before it runs. Each
 * measured save is the second of a pair, so that both see the same disk
 * history (this VM's disk is slow on the first write after a pause). */
static int bench_stall(bench_t *b, sbench_t *s, ckpt_t *cache, ckpt_t *wb)
{
    int rc = 0;
    for (int r = 0; r < b->rounds && rc == 0; r++) {
        int64_t step = 2 * r + 1;
        rc |= bench_fail(cache, "save", ckpt_save(cache, step));
        s->stall_cache[r] = bench_timed_save(cache, step + 1, &rc);
        rc |= bench_fail(wb, "save", ckpt_save(wb, step)); /* its upload starts */
        s->stall_wb[r] = bench_timed_save(wb, step + 1, &rc);
        /* The measured step waits behind `step`; both finish before the
         * next round, so that its cache save runs with no upload. */
        rc |= bench_fail(wb, "wait", ckpt_wait(wb, step + 1, CKPT_LEVEL_STORAGE));
    }
    return rc;
}

/* Upload: from the start of the save until the step is committed, as the
 * man page defines it; download: every node's cache deleted, then the whole
 * restore the program waits for, into a poisoned buffer, checked. The
 * download runs on a job of its own (`down`), saved and uploaded unmeasured
 * first: deleting the upload job's caches every round would leave its saves
 * no spares to rewrite, which a running job always has. */
static int bench_transfer(bench_t *b, sbench_t *s, ckpt_t *wb, ckpt_t *down)
{
    uint64_t r0[OP_COUNT], r1[OP_COUNT], b0[OP_COUNT], b1[OP_COUNT];
    char path[1100];
    int rc = 0;
    for (int r = 0; r < b->rounds && rc == 0; r++) {
        int64_t step = 1000 + r;
        double t0;
        bench_totals(wb->wb.st, r0, b0);
        t0 = bench_start();
        rc |= bench_fail(wb, "save", ckpt_save(wb, step));
        rc |= bench_fail(wb, "wait", ckpt_wait(wb, step, CKPT_LEVEL_STORAGE));
        s->up[r] = bench_slowest(t0);
        bench_totals(wb->wb.st, r1, b1);
        for (int op = 0; op < OP_COUNT; op++)
            s->req_step[op] = r1[op] - r0[op];
        bench_timed_restore(b, wb, step, "restore from cache", &rc);
        bench_totals(wb->wb.st, r0, b0);
        s->req_cache_restore = 0;
        s->bytes_cache_restore = 0;
        for (int op = 0; op < OP_COUNT; op++) {
            s->req_cache_restore += r0[op] - r1[op];
            s->bytes_cache_restore += b0[op] - b1[op];
        }
        rc |= bench_fail(down, "save", ckpt_save(down, step));
        rc |= bench_fail(down, "wait", ckpt_wait(down, step, CKPT_LEVEL_STORAGE));
        snprintf(path, sizeof path, "%s/cache/bench-down/node-%d", b->dir,
                 b->rank / b->rpn);
        if (b->rank % b->rpn == 0)
            fio_rmtree(path);
        s->down[r] = bench_timed_restore(b, down, step, "restore from storage", &rc);
        MPI_Allreduce(&down->storage_read_s, &s->read[r], 1, MPI_DOUBLE, MPI_MAX,
                      MPI_COMM_WORLD);
    }
    return rc;
}

static void print_rounds(const char *what, const double *v, int n)
{
    printf("%s", what);
    for (int r = 0; r < n; r++)
        printf(" %.3f", v[r]);
    printf("\n");
}

static void storage_report(bench_t *b, sbench_t *s)
{
    double ratio[64], total = (double)b->bytes * b->size;
    int n = b->rounds < 64 ? b->rounds : 64;
    uint64_t per_node = (uint64_t)b->bytes * (uint64_t)b->rpn, blocks, puts = 0;
    int nodes = (b->size + b->rpn - 1) / b->rpn;
    for (int r = 0; r < n; r++)
        ratio[r] = s->stall_wb[r] / s->stall_cache[r];
    uint64_t bs = (uint64_t)b->block_mib << 20;
    blocks = (per_node + bs - 1) / bs;
    for (int op = OP_PUT_BLOCK; op <= OP_PUT; op++)
        puts += s->req_step[op];
    printf("%s{\"ranks\": %d, \"ranks_per_node\": %d, \"bytes_per_rank\": %zu, "
           "\"rounds\": %d, \"stall_cache_s\": %.4f, \"stall_writeback_s\": %.4f, "
           "\"stall_ratio\": %.3f", b->json ? "" : "json: ", b->size, b->rpn,
           b->bytes, b->rounds, bench_median(s->stall_cache, n),
           bench_median(s->stall_wb, n), bench_median(ratio, n));
    printf(", \"upload_mbs\": %.1f, \"download_mbs\": %.1f, "
           "\"restore_from_storage_mbs\": %.1f, \"storage_read_phase_mbs\": %.1f",
           total / bench_median(s->up, n) / 1e6, total / bench_median(s->down, n) / 1e6,
           total / bench_median(s->down, n) / 1e6, total / bench_median(s->read, n) / 1e6);
    printf(", \"requests_per_step\": %llu, \"requests_bound\": %llu, "
           "\"cache_restore_requests\": %llu, \"cache_restore_bytes\": %llu",
           (unsigned long long)puts, (unsigned long long)(nodes * (blocks + 2) + 1),
           (unsigned long long)s->req_cache_restore,
           (unsigned long long)s->bytes_cache_restore);
    for (int op = 0; op < OP_COUNT; op++)
        printf(", \"step_%s\": %llu", storage_op_name(op),
               (unsigned long long)s->req_step[op]);
    printf("}\n");
    if (b->json)
        return;
    printf("ckpt-bench --storage: %d ranks, %d per node, %.1f MiB per rank, %d "
           "rounds (median)\n", b->size, b->rpn, (double)b->bytes / 1048576, n);
    printf("save stall, cache mode      %8.4f s  (no upload running)\n",
           bench_median(s->stall_cache, n));
    printf("save stall, writeback mode  %8.4f s  (an upload running; %.3f x "
           "cache, median of per-round ratios)\n", bench_median(s->stall_wb, n),
           bench_median(ratio, n));
    printf("upload to STORAGE           %8.1f MB/s (from the start of the save "
           "until committed)\n", total / bench_median(s->up, n) / 1e6);
    printf("download from storage       %8.1f MB/s (the whole restore, every "
           "cache lost, data checked)\n",
           total / bench_median(s->down, n) / 1e6);
    printf("  of which storage read     %8.1f MB/s (ranged GETs, checksum, "
           "file: the library's own timer)\n", total / bench_median(s->read, n) / 1e6);
    printf("requests per step           %8llu  (bound: ceil(bytes/block)+2 per "
           "node object + 1 = %llu)\n", (unsigned long long)puts,
           (unsigned long long)(nodes * (blocks + 2) + 1));
    printf("restore from cache          %8llu requests, %llu bytes of storage\n",
           (unsigned long long)s->req_cache_restore,
           (unsigned long long)s->bytes_cache_restore);
    print_rounds("seconds per round: upload  ", s->up, n);
    print_rounds("                   download", s->down, n);
}

int storage_bench(bench_t *b)
{
    char extra[1200];
    ckpt_t *cache = NULL, *wb = NULL, *down = NULL;
    sbench_t s = {0};
    int rc = 0;
    snprintf(extra, sizeof extra, "storage_url = %s\nkeep_local = 2", b->storage);
    s.stall_cache = calloc((size_t)b->rounds, sizeof(double));
    s.stall_wb = calloc((size_t)b->rounds, sizeof(double));
    s.up = calloc((size_t)b->rounds, sizeof(double));
    s.down = calloc((size_t)b->rounds, sizeof(double));
    s.read = calloc((size_t)b->rounds, sizeof(double));
    rc |= ckpt_init(MPI_COMM_WORLD, bench_config(b, "cache", "mode = cache\n"
                                                 "keep_local = 2"), &cache);
    rc |= ckpt_init(MPI_COMM_WORLD, bench_config(b, "wb", extra), &wb);
    rc |= ckpt_init(MPI_COMM_WORLD, bench_config(b, "down", extra), &down);
    if (rc == 0) {
        ckpt_protect(cache, "data", b->buf, b->bytes, CKPT_BYTE);
        ckpt_protect(wb, "data", b->buf, b->bytes, CKPT_BYTE);
        ckpt_protect(down, "data", b->buf, b->bytes, CKPT_BYTE);
        b->block_mib = wb->cfg.upload_block_size_mib;
        /* warm-up, unmeasured: fresh disk blocks, first connections */
        rc |= bench_fail(cache, "save", ckpt_save(cache, 0));
        rc |= bench_fail(wb, "save", ckpt_save(wb, 0));
        rc |= bench_fail(wb, "wait", ckpt_wait(wb, 0, CKPT_LEVEL_STORAGE));
    }
    if (rc == 0)
        rc = bench_stall(b, &s, cache, wb);
    if (rc == 0)
        rc = bench_transfer(b, &s, wb, down);
    if (rc == 0 && b->rank == 0)
        storage_report(b, &s);
    ckpt_finalize(&cache);
    ckpt_finalize(&wb);
    ckpt_finalize(&down);
    free(s.stall_cache);
    free(s.stall_wb);
    free(s.up);
    free(s.down);
    free(s.read);
    return rc;
}

