/* ckpt-bench: save and restore N bytes per rank for R rounds and compare,
 * in the same run and on the same file system, with the raw baseline: each
 * rank write()+fsync() of the same bytes, and read() of them back.
 * With --storage URL it measures the STORAGE level instead: the stall of a
 * save in writeback mode against cache mode while uploads run, upload and
 * download throughput, and the storage requests of each step. */
#include "bench.h"
#include "config.h"

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

static const char *phase_name[] = {"raw write+fsync", "raw read", "save LOCAL",
                                   "save PARTNER", "restore local",
                                   "restore partner"};
static const char *phase_key[] = {"raw_write", "raw_read", "save_local",
                                  "save_partner", "restore_local",
                                  "restore_partner"};


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

/* One round: baseline, then the library at each level. */
static int round_once(bench_t *b, int r, ckpt_t *single, ckpt_t *partner)
{
    char path[1000];
    double t0;
    int64_t got;
    int rc = 0;
    snprintf(path, sizeof path, "%s/raw-%d", b->dir, b->rank);
    t0 = bench_start();
    rc |= raw_write(b, path);
    b->t[RAW_WRITE][r] = bench_slowest(t0);
    t0 = bench_start();
    rc |= raw_read(b, path);
    b->t[RAW_READ][r] = bench_slowest(t0);
    unlink(path);
    t0 = bench_start();
    rc |= bench_fail(single, "save LOCAL", ckpt_save(single, r));
    b->t[SAVE_LOCAL][r] = bench_slowest(t0);
    t0 = bench_start();
    rc |= bench_fail(partner, "save PARTNER", ckpt_save(partner, r));
    b->t[SAVE_PARTNER][r] = bench_slowest(t0);
    t0 = bench_start();
    rc |= bench_fail(partner, "restore local", ckpt_restore(partner, r, &got));
    b->t[RESTORE_LOCAL][r] = bench_slowest(t0);
    /* Lose every own copy: each rank's data then comes from its partner. */
    snprintf(path, sizeof path, "%s/cache/bench-partner/node-%d/step-%d/rank-%d.h5",
             b->dir, b->rank / b->rpn, r, b->rank);
    unlink(path);
    t0 = bench_start();
    rc |= bench_fail(partner, "restore partner", ckpt_restore(partner, r, &got));
    b->t[RESTORE_PARTNER][r] = bench_slowest(t0);
    return rc;
}

/* The median over rounds of phase p's speed relative to its baseline in the
 * same round: robust against a disk whose speed drifts between rounds. */
static double ratio(bench_t *b, int p, int base, double limit)
{
    double v[64];
    int n = b->rounds < 64 ? b->rounds : 64;
    for (int r = 0; r < n; r++)
        v[r] = b->t[base][r] / (b->t[p][r] * limit);
    return bench_median(v, n);
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
        gbs[p] = total / bench_median(b->t[p], b->rounds) / 1e9;
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

static int parse(bench_t *b, int argc, char **argv)
{
    static const struct option opts[] = {
        {"bytes", required_argument, NULL, 'b'}, {"rounds", required_argument, NULL, 'r'},
        {"ranks-per-node", required_argument, NULL, 'n'},
        {"dir", required_argument, NULL, 'd'}, {"json", no_argument, NULL, 'j'},
        {"storage", required_argument, NULL, 's'}, {"scale", no_argument, NULL, 'S'},
        {"steps", required_argument, NULL, 't'},
        {"persist-every", required_argument, NULL, 'k'},
        {"lose-nodes", required_argument, NULL, 'L'}, {"csv", no_argument, NULL, 'C'},
        {"out", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0}};
    const char *tmp = getenv("TMPDIR");
    int c;
    b->bytes = 256u << 20;
    b->rounds = 3;
    b->rpn = 1;
    b->steps = 3;
    b->persist_every = 1;
    snprintf(b->dir, sizeof b->dir, "%s/ckpt-bench", tmp ? tmp : "/tmp");
    while ((c = getopt_long(argc, argv, "b:r:n:d:js:", opts, NULL)) != -1) {
        switch (c) {
        case 'b': b->bytes = (size_t)strtoull(optarg, NULL, 0); break;
        case 'r': b->rounds = atoi(optarg); break;
        case 'n': b->rpn = atoi(optarg); break;
        case 'd': snprintf(b->dir, sizeof b->dir, "%s", optarg); break;
        case 'j': b->json = 1; break;
        case 's': b->storage = optarg; break;
        case 'S': b->scale = 1; break;
        case 't': b->steps = atoi(optarg); break;
        case 'k': b->persist_every = atoi(optarg); break;
        case 'C': b->csv = 1; break;
        case 'o': b->out = optarg; break;
        case 'L':
            for (char *p = optarg; *p && b->nlost < 4096; p += *p == ',')
                b->lost[b->nlost++] = (int)strtol(p, &p, 10);
            break;
        default: return -1;
        }
    }
    return b->bytes >= 8 && b->rounds > 0 && b->rpn > 0 && b->steps > 0 &&
                   b->persist_every > 0 && (!b->scale || b->storage)
               ? 0 : -1;
}

/* A URL with credentials is refused before it reaches a config file. */
static int bad_url(const bench_t *b)
{
    ckpt_err_t e = {0};
    if (config_check_url(b->storage, "--storage", &e) == CKPT_OK)
        return 0;
    if (b->rank == 0)
        fprintf(stderr, "ckpt-bench: %s\n", e.msg);
    return 1;
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
                            "[-n RANKS_PER_NODE] [-d DIR] [--storage URL "
                            "[--scale [--steps S] [--persist-every K] "
                            "[--lose-nodes N,N..] [--csv] [--out PREFIX]]] "
                            "[--json]\n");
        MPI_Finalize();
        return 2;
    }
    if (b.storage && bad_url(&b)) {
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
        rc = b.scale ? scale_bench(&b) : storage_bench(&b);
        goto out;
    }
    rc |= ckpt_init(MPI_COMM_WORLD, bench_config(&b, "single", "redundancy = single"), &single);
    rc |= ckpt_init(MPI_COMM_WORLD, bench_config(&b, "partner", ""), &partner);
    if (rc == 0) {
        ckpt_protect(single, "data", b.buf, b.bytes, CKPT_BYTE);
        ckpt_protect(partner, "data", b.buf, b.bytes, CKPT_BYTE);
        /* An unmeasured first round: virtual disks are much slower on blocks
         * never written before, and that must not favour either side. */
        base_kib = bench_rss_kib();
        rc = round_once(&b, 0, single, partner);
        for (int r = 0; r < b.rounds && rc == 0; r++)
            rc = round_once(&b, r, single, partner);
        peak_kib = bench_rss_kib();
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
