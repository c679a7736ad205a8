/* ckpt-bench: save and restore N bytes per rank for R rounds and compare,
 * in the same run and on the same file system, with the raw baseline: each
 * rank write()+fsync() of the same bytes, and read() of them back.
 * With --storage URL it measures the STORAGE level instead: the stall of a
 * save in writeback mode against cache mode while uploads run, upload and
 * download throughput, and the storage requests of each step. */
#include "ckpt.h"
#include "handle.h"
#include "fileio.h"
#include "storage.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

enum { RAW_WRITE, RAW_READ, SAVE_LOCAL, SAVE_PARTNER, RESTORE_LOCAL,
       RESTORE_PARTNER, NPHASE };
static const char *phase_name[] = {"raw write+fsync", "raw read", "save LOCAL",
                                   "save PARTNER", "restore local",
                                   "restore partner"};
static const char *phase_key[] = {"raw_write", "raw_read", "save_local",
                                  "save_partner", "restore_local",
                                  "restore_partner"};

typedef struct {
    size_t bytes;
    int rounds, rpn, json, rank, size;
    const char *storage;
    int block_mib;       /* the writeback handle's upload_block_size */
    char dir[900];
    unsigned char *buf;
    double *t[NPHASE]; /* [rounds] slowest rank's seconds */
} bench_t;

/* Every phase starts with no dirty pages of an earlier phase in flight, so
 * that no phase pays for another's writeback. */
static double start(void)
{
    sync();
    MPI_Barrier(MPI_COMM_WORLD);
    return MPI_Wtime();
}

static double slowest(double t0)
{
    double mine = MPI_Wtime() - t0, max;
    MPI_Allreduce(&mine, &max, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return max;
}

static int raw_write(bench_t *b, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    size_t off = 0;
    if (fd < 0)
        return -1;
    while (off < b->bytes) {
        size_t n = b->bytes - off < (8u << 20) ? b->bytes - off : (8u << 20);
        ssize_t w = pwrite(fd, b->buf + off, n, (off_t)off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    fsync(fd);
    close(fd);
    return off == b->bytes ? 0 : -1;
}

static int raw_read(bench_t *b, const char *path)
{
    int fd = open(path, O_RDONLY);
    size_t off = 0;
    if (fd < 0)
        return -1;
    while (off < b->bytes) {
        ssize_t r = pread(fd, b->buf + off, b->bytes - off, (off_t)off);
        if (r <= 0)
            break;
        off += (size_t)r;
    }
    close(fd);
    return off == b->bytes ? 0 : -1;
}

static const char *write_config(bench_t *b, const char *name, const char *extra)
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

static int fail(ckpt_t *ck, const char *what, int rc)
{
    if (rc != CKPT_OK)
        fprintf(stderr, "ckpt-bench: %s: %s: %s\n", what, ckpt_strerror(rc),
                ckpt_errmsg(ck));
    return rc;
}

/* One round: baseline, then the library at each level. */
static int round_once(bench_t *b, int r, ckpt_t *single, ckpt_t *partner)
{
    char path[1000];
    double t0;
    int64_t got;
    int rc = 0;
    snprintf(path, sizeof path, "%s/raw-%d", b->dir, b->rank);
    t0 = start();
    rc |= raw_write(b, path);
    b->t[RAW_WRITE][r] = slowest(t0);
    t0 = start();
    rc |= raw_read(b, path);
    b->t[RAW_READ][r] = slowest(t0);
    unlink(path);
    t0 = start();
    rc |= fail(single, "save LOCAL", ckpt_save(single, r));
    b->t[SAVE_LOCAL][r] = slowest(t0);
    t0 = start();
    rc |= fail(partner, "save PARTNER", ckpt_save(partner, r));
    b->t[SAVE_PARTNER][r] = slowest(t0);
    t0 = start();
    rc |= fail(partner, "restore local", ckpt_restore(partner, r, &got));
    b->t[RESTORE_LOCAL][r] = slowest(t0);
    /* Lose every own copy: each rank's data then comes from its partner. */
    snprintf(path, sizeof path, "%s/cache/bench-partner/node-%d/step-%d/rank-%d.h5",
             b->dir, b->rank / b->rpn, r, b->rank);
    unlink(path);
    t0 = start();
    rc |= fail(partner, "restore partner", ckpt_restore(partner, r, &got));
    b->t[RESTORE_PARTNER][r] = slowest(t0);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The median over rounds of phase p's speed relative to its baseline in the
 * same round: robust against a disk whose speed drifts between rounds. */
static double ratio(bench_t *b, int p, int base, double limit)
{
    double v[64];
    int n = b->rounds < 64 ? b->rounds : 64;
    for (int r = 0; r < n; r++)
        v[r] = b->t[base][r] / (b->t[p][r] * limit);
    return median(v, n);
}

static void report(bench_t *b, double extra_mib)
{
    double gbs[NPHASE], rat[NPHASE], total = (double)b->bytes * b->size;
    /* what each phase is compared with, and the ideal fraction of it */
    static const int base[NPHASE] = {RAW_WRITE, RAW_READ, RAW_WRITE, RAW_WRITE,
                                      RAW_READ, RAW_READ};
    static const double limit[NPHASE] = {1, 1, 1, 0.5, 1, 1};
    for (int p = 0; p < NPHASE; p++)
        rat[p] = ratio(b, p, base[p], limit[p]);
    for (int p = 0; p < NPHASE; p++)
        gbs[p] = total / median(b->t[p], b->rounds) / 1e9;
    if (b->json) {
        printf("{\"ranks\": %d, \"ranks_per_node\": %d, \"bytes_per_rank\": %zu, "
               "\"rounds\": %d, \"extra_rss_mib\": %.1f", b->size, b->rpn, b->bytes,
               b->rounds, extra_mib);
        for (int p = 0; p < NPHASE; p++)
            printf(", \"%s_gbs\": %.4f, \"%s_ratio\": %.3f", phase_key[p], gbs[p],
                   phase_key[p], rat[p]);
        printf("}\n");
        return;
    }
    printf("ckpt-bench: %d ranks, %d per node, %.1f MiB per rank, %d rounds "
           "(median)\n", b->size, b->rpn, (double)b->bytes / 1048576, b->rounds);
    printf("%-18s %10s %10s  %s\n", "phase", "GB/s", "ratio", "ratio (median of per-round ratios) against");
    for (int p = 0; p < NPHASE; p++)
        printf("%-18s %10.3f %10.3f  %s%s\n", phase_name[p], gbs[p], rat[p],
               phase_name[base[p]],
               limit[p] < 1 ? " / 2 (two copies per node)" : "");
    printf("extra memory per rank (peak RSS beyond the data): %.1f MiB\n", extra_mib);
}

/* ---- the STORAGE level ---- */

typedef struct {
    double *stall_cache, *stall_wb, *up, *down, *read;
    uint64_t req_step[OP_COUNT], req_cache_restore, bytes_cache_restore;
} sbench_t;

/* Requests and bytes of every rank, summed, by operation. */
static void storage_totals(ckpt_t *ck, uint64_t *req, uint64_t *bytes)
{
    st_stats_t s;
    storage_stats(ck->wb.st, &s);
    MPI_Allreduce(s.requests, req, OP_COUNT, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(s.bytes, bytes, OP_COUNT, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
}

static double timed_save(ckpt_t *ck, int64_t step, int *rc)
{
    double t0 = start();
    *rc |= fail(ck, "save", ckpt_save(ck, step));
    return slowest(t0);
}

/* Stall of a save: cache mode with no upload anywhere, against writeback
 * mode while the upload of the step saved just before it runs. Each
 * measured save is the second of a pair, so that both see the same disk
 * history (this VM's disk is slow on the first write after a pause). */
static int bench_stall(bench_t *b, sbench_t *s, ckpt_t *cache, ckpt_t *wb)
{
    int rc = 0;
    for (int r = 0; r < b->rounds && rc == 0; r++) {
        int64_t step = 2 * r + 1;
        rc |= fail(cache, "save", ckpt_save(cache, step));
        s->stall_cache[r] = timed_save(cache, step + 1, &rc);
        rc |= fail(wb, "save", ckpt_save(wb, step)); /* its upload starts */
        s->stall_wb[r] = timed_save(wb, step + 1, &rc);
        /* The measured step waits behind `step`; both finish before the
         * next round, so that its cache save runs with no upload. */
        rc |= fail(wb, "wait", ckpt_wait(wb, step + 1, CKPT_LEVEL_STORAGE));
    }
    return rc;
}

/* Upload: save, then the time until the step is committed; download: every
 * node's cache deleted, then a restore. */
static int bench_transfer(bench_t *b, sbench_t *s, ckpt_t *wb)
{
    uint64_t r0[OP_COUNT], r1[OP_COUNT], b0[OP_COUNT], b1[OP_COUNT];
    char path[1100];
    int64_t got;
    int rc = 0;
    for (int r = 0; r < b->rounds && rc == 0; r++) {
        int64_t step = 1000 + r;
        double t0;
        storage_totals(wb, r0, b0);
        rc |= fail(wb, "save", ckpt_save(wb, step));
        t0 = start();
        rc |= fail(wb, "wait", ckpt_wait(wb, step, CKPT_LEVEL_STORAGE));
        s->up[r] = slowest(t0);
        storage_totals(wb, r1, b1);
        for (int op = 0; op < OP_COUNT; op++)
            s->req_step[op] = r1[op] - r0[op];
        t0 = start();
        rc |= fail(wb, "restore from cache", ckpt_restore(wb, step, &got));
        slowest(t0);
        storage_totals(wb, r0, b0);
        s->req_cache_restore = 0;
        s->bytes_cache_restore = 0;
        for (int op = 0; op < OP_COUNT; op++) {
            s->req_cache_restore += r0[op] - r1[op];
            s->bytes_cache_restore += b0[op] - b1[op];
        }
        snprintf(path, sizeof path, "%s/cache/bench-wb/node-%d", b->dir,
                 b->rank / b->rpn);
        if (b->rank % b->rpn == 0)
            fio_rmtree(path);
        t0 = start();
        rc |= fail(wb, "restore from storage", ckpt_restore(wb, step, &got));
        s->down[r] = slowest(t0);
        MPI_Allreduce(&wb->storage_read_s, &s->read[r], 1, MPI_DOUBLE, MPI_MAX,
                      MPI_COMM_WORLD);
    }
    return rc;
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
           "\"stall_ratio\": %.3f, \"upload_mbs\": %.1f, \"download_mbs\": %.1f, "
           "\"restore_from_storage_mbs\": %.1f, "
           "\"requests_per_step\": %llu, \"requests_bound\": %llu, "
           "\"cache_restore_requests\": %llu, \"cache_restore_bytes\": %llu",
           b->json ? "" : "json: ", b->size, b->rpn, b->bytes, b->rounds,
           median(s->stall_cache, n), median(s->stall_wb, n), median(ratio, n),
           total / median(s->up, n) / 1e6, total / median(s->read, n) / 1e6,
           total / median(s->down, n) / 1e6, (unsigned long long)puts, (unsigned long long)(nodes * (blocks + 2) + 1),
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
           median(s->stall_cache, n));
    printf("save stall, writeback mode  %8.4f s  (an upload running; %.3f x "
           "cache, median of per-round ratios)\n", median(s->stall_wb, n),
           median(ratio, n));
    printf("upload to STORAGE           %8.1f MB/s\n", total / median(s->up, n) / 1e6);
    printf("download from storage       %8.1f MB/s (the restore's storage read: "
           "ranged GETs, checksum, fsync)\n", total / median(s->read, n) / 1e6);
    printf("restore from storage        %8.1f MB/s (all caches lost; with the "
           "refill to PARTNER level)\n", total / median(s->down, n) / 1e6);
    printf("requests per step           %8llu  (bound: ceil(bytes/block)+2 per "
           "node object + 1 = %llu)\n", (unsigned long long)puts,
           (unsigned long long)(nodes * (blocks + 2) + 1));
    printf("restore from cache          %8llu requests, %llu bytes of storage\n",
           (unsigned long long)s->req_cache_restore,
           (unsigned long long)s->bytes_cache_restore);
}

static int storage_bench(bench_t *b)
{
    char extra[1200];
    ckpt_t *cache = NULL, *wb = NULL;
    sbench_t s = {0};
    int rc = 0;
    snprintf(extra, sizeof extra, "storage_url = %s\nkeep_local = 2", b->storage);
    s.stall_cache = calloc((size_t)b->rounds, sizeof(double));
    s.stall_wb = calloc((size_t)b->rounds, sizeof(double));
    s.up = calloc((size_t)b->rounds, sizeof(double));
    s.down = calloc((size_t)b->rounds, sizeof(double));
    s.read = calloc((size_t)b->rounds, sizeof(double));
    rc |= ckpt_init(MPI_COMM_WORLD, write_config(b, "cache", "mode = cache\n"
                                                 "keep_local = 2"), &cache);
    rc |= ckpt_init(MPI_COMM_WORLD, write_config(b, "wb", extra), &wb);
    if (rc == 0) {
        ckpt_protect(cache, "data", b->buf, b->bytes, CKPT_BYTE);
        ckpt_protect(wb, "data", b->buf, b->bytes, CKPT_BYTE);
        b->block_mib = wb->cfg.upload_block_size_mib;
        /* warm-up, unmeasured: fresh disk blocks, first connections */
        rc |= fail(cache, "save", ckpt_save(cache, 0));
        rc |= fail(wb, "save", ckpt_save(wb, 0));
        rc |= fail(wb, "wait", ckpt_wait(wb, 0, CKPT_LEVEL_STORAGE));
    }
    if (rc == 0)
        rc = bench_stall(b, &s, cache, wb);
    if (rc == 0)
        rc = bench_transfer(b, &s, wb);
    if (rc == 0 && b->rank == 0)
        storage_report(b, &s);
    ckpt_finalize(&cache);
    ckpt_finalize(&wb);
    free(s.stall_cache);
    free(s.stall_wb);
    free(s.up);
    free(s.down);
    free(s.read);
    return rc;
}

static long rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int parse(bench_t *b, int argc, char **argv)
{
    static const struct option opts[] = {
        {"bytes", required_argument, NULL, 'b'}, {"rounds", required_argument, NULL, 'r'},
        {"ranks-per-node", required_argument, NULL, 'n'},
        {"dir", required_argument, NULL, 'd'}, {"json", no_argument, NULL, 'j'},
        {"storage", required_argument, NULL, 's'}, {NULL, 0, NULL, 0}};
    const char *tmp = getenv("TMPDIR");
    int c;
    b->bytes = 256u << 20;
    b->rounds = 3;
    b->rpn = 1;
    snprintf(b->dir, sizeof b->dir, "%s/ckpt-bench", tmp ? tmp : "/tmp");
    while ((c = getopt_long(argc, argv, "b:r:n:d:js:", opts, NULL)) != -1) {
        switch (c) {
        case 'b': b->bytes = (size_t)strtoull(optarg, NULL, 0); break;
        case 'r': b->rounds = atoi(optarg); break;
        case 'n': b->rpn = atoi(optarg); break;
        case 'd': snprintf(b->dir, sizeof b->dir, "%s", optarg); break;
        case 'j': b->json = 1; break;
        case 's': b->storage = optarg; break;
        default: return -1;
        }
    }
    return b->bytes >= 8 && b->rounds > 0 && b->rpn > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    bench_t b = {0};
    ckpt_t *single = NULL, *partner = NULL;
    long base_kib, peak_kib;
    double extra;
    int rc = 0;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &b.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &b.size);
    if (parse(&b, argc, argv) != 0) {
        if (b.rank == 0)
            fprintf(stderr, "usage: ckpt-bench [-b BYTES] [-r ROUNDS] "
                            "[-n RANKS_PER_NODE] [-d DIR] [--storage URL] "
                            "[--json]\n");
        MPI_Finalize();
        return 2;
    }
    if (b.rank == 0 && (mkdir(b.dir, 0700) != 0 && errno != EEXIST))
        fprintf(stderr, "ckpt-bench: cannot create %s\n", b.dir);
    b.buf = malloc(b.bytes);
    for (int p = 0; p < NPHASE; p++)
        b.t[p] = calloc((size_t)b.rounds, sizeof(double));
    for (size_t i = 0; i < b.bytes; i++)
        b.buf[i] = (unsigned char)(i * 131 + (size_t)b.rank);
    if (b.storage) {
        rc = storage_bench(&b);
        goto out;
    }
    rc |= ckpt_init(MPI_COMM_WORLD, write_config(&b, "single", "redundancy = single"), &single);
    rc |= ckpt_init(MPI_COMM_WORLD, write_config(&b, "partner", ""), &partner);
    if (rc == 0) {
        ckpt_protect(single, "data", b.buf, b.bytes, CKPT_BYTE);
        ckpt_protect(partner, "data", b.buf, b.bytes, CKPT_BYTE);
        /* An unmeasured first round: virtual disks are much slower on blocks
         * never written before, and that must not favour either side. */
        base_kib = rss_kib();
        rc = round_once(&b, 0, single, partner);
        for (int r = 0; r < b.rounds && rc == 0; r++)
            rc = round_once(&b, r, single, partner);
        peak_kib = rss_kib();
        extra = (double)(peak_kib - base_kib) / 1024;
        MPI_Allreduce(MPI_IN_PLACE, &extra, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (rc == 0 && b.rank == 0)
            report(&b, extra);
    }
    ckpt_finalize(&single);
    ckpt_finalize(&partner);
out:
    for (int p = 0; p < NPHASE; p++)
        free(b.t[p]);
    free(b.buf);
    MPI_Finalize();
    return rc ? 1 : 0;
}
