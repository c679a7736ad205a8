/* ckpt-bench's cache mode: the LOCAL and PARTNER levels against the raw
 * file system, measured so that nothing flatters them. This disk's speed
 * depends on what ran just before, so every operation stands between two
 * runs of its baseline (raw write+fsync of the same bytes for a save, a
 * raw read of them for a restore) and the faster run counts; the order of
 * the operations turns round every other round; restores go into a
 * poisoned buffer and every byte is checked afterwards; a lost node is its
 * whole directory deleted; time to data (the restore returns) and time to
 * redundancy (ckpt_wait at PARTNER after it) are reported apart. */
#include "bench.h"
#include "when.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { BASE_WRITE, BASE_READ };
enum { SAVE_LOCAL, SAVE_PARTNER, RESTORE_LOCAL, RESTORE_LOST, NOP };

typedef struct {
    const char *name, *key;
    int base;       /* BASE_* */
    double scale;   /* bandwidth ratio = scale * baseline time / time */
    int by_time;    /* 1: the ratio is time / baseline time (lower is better) */
    const char *against;
} op_def_t;

/* --rs turns the PARTNER rows into RS rows (setup) */
static op_def_t ops[NOP] = {
    {"save LOCAL", "save_local", BASE_WRITE, 1, 0, "raw write+fsync"},
    {"save PARTNER", "save_partner", BASE_WRITE, 2, 0,
     "raw write+fsync / 2 (two copies per node)"},
    {"restore local", "restore_local", BASE_READ, 1, 0, "raw read"},
    {"restore, node lost", "restore_lost", BASE_READ, 1, 1,
     "raw read (time / time: lower is better)"},
};

typedef struct {
    bench_t *b;
    ckpt_t *single, *partner;
    ckpt_t *lost;             /* its own job: losing a node every round must
                                 not disturb the PARTNER saves' cache */
    unsigned char *scratch;   /* the raw read's target */
    char raw[1000];           /* this rank's raw file */
    int lost_node;            /* the node lost, or -1 with one node */
    double device[2];         /* O_DIRECT GB/s by BASE_*, 0: not possible */
    double *t[NOP], *base[NOP], *redundancy;
} cbench_t;

static int raw_io(cbench_t *c, int kind)
{
    bench_t *b = c->b;
    int fd = open(c->raw, kind == BASE_WRITE ? O_WRONLY | O_CREAT : O_RDONLY, 0600);
    size_t off = 0;
    if (fd < 0)
        return -1;
    while (off < b->bytes) {
        size_t n = b->bytes - off < (8u << 20) ? b->bytes - off : (8u << 20);
        ssize_t k = kind == BASE_WRITE ? pwrite(fd, b->buf + off, n, (off_t)off)
                                       : pread(fd, c->scratch + off, n, (off_t)off);
        if (k <= 0)
            break;
        off += (size_t)k;
    }
    if (kind == BASE_WRITE)
        fsync(fd);
    close(fd);
    return off == b->bytes ? 0 : -1;
}

/* fio-style: this rank's bytes (rounded up to 8 MiB pieces) written with
 * O_DIRECT and fsync'd, or read back with O_DIRECT, as the device does
 * them without the page cache; aggregate GB/s, or 0 where the file system
 * refuses O_DIRECT. */
static double device_io(cbench_t *c, int kind)
{
    const size_t piece = 8u << 20;
    bench_t *b = c->b;
    char path[1100];
    void *buf = NULL;
    size_t off = 0;
    int fd = -1, ok, all;
    double t0, t;
    snprintf(path, sizeof path, "%s/direct-%d", b->dir, b->rank);
    if (posix_memalign(&buf, 4096, piece) == 0) {
        memset(buf, 0x5a, piece);
        fd = open(path, (kind == BASE_WRITE ? O_WRONLY | O_CREAT : O_RDONLY) |
                        O_DIRECT, 0600);
    }
    t0 = bench_start();
    while (fd >= 0 && off < b->bytes &&
           (kind == BASE_WRITE ? pwrite(fd, buf, piece, (off_t)off)
                               : pread(fd, buf, piece, (off_t)off)) == (ssize_t)piece)
        off += piece;
    if (fd >= 0 && kind == BASE_WRITE)
        fsync(fd);
    t = bench_slowest(t0);
    ok = fd >= 0 && off >= b->bytes;
    if (fd >= 0)
        close(fd);
    free(buf);
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    return all ? (double)off * b->size / t / 1e9 : 0;
}

/* The device's speed before and after the rounds; the faster counts. */
static void device_baseline(cbench_t *c)
{
    for (int kind = BASE_WRITE; kind <= BASE_READ; kind++)
        c->device[kind] = fmax(c->device[kind], device_io(c, kind));
}

static double baseline(cbench_t *c, int kind, int *rc)
{
    double t0 = bench_start();
    *rc |= raw_io(c, kind);
    return bench_slowest(t0);
}

static double timed_restore(cbench_t *c, ckpt_t *ck, int op, int64_t r, int *rc)
{
    return bench_timed_restore(c->b, ck, r, ops[op].name, rc);
}

/* Rank 0 deletes the whole directory of the lost node (with --rs, of m
 * nodes from it on: as many as the code survives). */
static void lose_node(cbench_t *c)
{
    char cmd[1200];
    int n = c->b->rs_k > 0 ? c->b->rs_m : 1;
    for (int i = 0; c->b->rank == 0 && i < n; i++) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s/cache/bench-lost/node-%d'",
                 c->b->dir, c->lost_node + i);
        if (system(cmd) != 0)
            fprintf(stderr, "ckpt-bench: cannot delete node %d\n",
                    c->lost_node + i);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

static double run_op(cbench_t *c, int op, int slot, int64_t r, int *rc)
{
    double t0, t;
    switch (op) {
    case SAVE_LOCAL:
    case SAVE_PARTNER:
        t0 = bench_start();
        *rc |= bench_fail(op == SAVE_LOCAL ? c->single : c->partner,
                          ops[op].name, ckpt_save(op == SAVE_LOCAL ? c->single
                                                                   : c->partner, r));
        return bench_slowest(t0);
    case RESTORE_LOCAL:
        return timed_restore(c, c->partner, op, r, rc);
    default:
        t = timed_restore(c, c->lost, op, r, rc);
        t0 = bench_start();
        *rc |= bench_fail(c->lost, "ckpt_wait PARTNER",
                          ckpt_wait(c->lost, r, CKPT_LEVEL_PARTNER));
        c->redundancy[slot] = bench_slowest(t0);
        return t;
    }
}

/* One operation on step `step` between two baselines of its kind; the
 * faster counts. Results go to round `slot`. A node-loss restore first
 * gets a save of its own job, unmeasured, and the node is lost. */
static int measure(cbench_t *c, int op, int slot, int64_t step)
{
    int rc = 0;
    double before;
    if (op == RESTORE_LOST) {
        rc |= bench_fail(c->lost, "save", ckpt_save(c->lost, step));
        lose_node(c);
    }
    before = baseline(c, ops[op].base, &rc);
    c->t[op][slot] = run_op(c, op, slot, step, &rc);
    c->base[op][slot] = fmin(before, baseline(c, ops[op].base, &rc));
    return rc;
}

/* Saves before restores; every other round each pair runs the other way
 * round. r < 0 is the unmeasured warm-up, which saves step 0: round r saves
 * step r + 1, since a save of a lower step would supersede (and so delete,
 * in the background) the higher ones. */
static int round_once(cbench_t *c, int r)
{
    static const int fwd[NOP] = {SAVE_LOCAL, SAVE_PARTNER, RESTORE_LOCAL, RESTORE_LOST};
    static const int rev[NOP] = {SAVE_PARTNER, SAVE_LOCAL, RESTORE_LOST, RESTORE_LOCAL};
    int rc = 0, slot = r < 0 ? c->b->rounds : r;
    for (int k = 0; k < NOP && rc == 0; k++) {
        int op = (r & 1) ? rev[k] : fwd[k];
        if (op == RESTORE_LOST && c->lost_node < 0)
            continue;
        rc |= measure(c, op, slot, r + 1);
    }
    return rc;
}

static double ratio_of(int op, double t, double base)
{
    return ops[op].by_time ? t / base : ops[op].scale * base / t;
}

static void summary(const cbench_t *c, int op, double *gbs, double *rom,
                    double *mor)
{
    bench_t *b = c->b;
    double t[64], base[64], rat[64];
    int n = b->rounds < 64 ? b->rounds : 64;
    for (int r = 0; r < n; r++) {
        t[r] = c->t[op][r];
        base[r] = c->base[op][r];
        rat[r] = ratio_of(op, t[r], base[r]);
    }
    *mor = bench_median(rat, n);
    *gbs = (double)b->bytes * b->size / bench_median(t, n) / 1e9;
    *rom = ratio_of(op, bench_median(t, n), bench_median(base, n));
}

static void print_rounds(const cbench_t *c, int op, const char *sep)
{
    for (int r = 0; r < c->b->rounds; r++)
        printf("%s%.4f", r ? sep : "", c->t[op][r]);
}

static void report_json(const cbench_t *c, double extra)
{
    bench_t *b = c->b;
    printf("{\"ranks\": %d, \"ranks_per_node\": %d, \"bytes_per_rank\": %zu, "
           "\"rounds\": %d, \"extra_rss_mib\": %.1f", b->size, b->rpn, b->bytes,
           b->rounds, extra);
    for (int op = 0; op < NOP; op++) {
        double gbs, rom, mor;
        if (op == RESTORE_LOST && c->lost_node < 0)
            continue;
        summary(c, op, &gbs, &rom, &mor);
        printf(", \"%s\": {\"gbs\": %.4f, \"ratio_of_medians\": %.3f, "
               "\"median_of_ratios\": %.3f, \"seconds\": [", ops[op].key, gbs,
               rom, mor);
        print_rounds(c, op, ", ");
        printf("], \"baseline_seconds\": [");
        for (int r = 0; r < b->rounds; r++)
            printf("%s%.4f", r ? ", " : "", c->base[op][r]);
        printf("]}");
    }
    printf(", \"device_write_gbs\": %.4f, \"device_read_gbs\": %.4f",
           c->device[BASE_WRITE], c->device[BASE_READ]);
    if (c->lost_node >= 0) {
        printf(", \"time_to_redundancy_seconds\": [");
        for (int r = 0; r < b->rounds; r++)
            printf("%s%.4f", r ? ", " : "", c->t[RESTORE_LOST][r] + c->redundancy[r]);
        printf("]");
    }
    printf("}\n");
}

/* What save_interval = auto would choose for this job: Young/Daly with the
 * median redundant save as its stall and the default MTBF per node. */
static void print_auto_interval(const cbench_t *c)
{
    double t[64];
    int n = c->b->rounds < 64 ? c->b->rounds : 64, nodes = c->b->size / c->b->rpn;
    for (int r = 0; r < n; r++)
        t[r] = c->t[SAVE_PARTNER][r];
    printf("save_interval = auto would save every %.0f s here (C = %.3f s, the "
           "median redundant save; mtbf_hours = 43800 per node, %d nodes)\n",
           when_daly(bench_median(t, n), 43800, nodes), bench_median(t, n), nodes);
}

static void report_table(const cbench_t *c, double extra)
{
    bench_t *b = c->b;
    printf("ckpt-bench: %d ranks, %d per node, %.1f MiB per rank, %d rounds; "
           "each operation between two baselines, the faster counts\n",
           b->size, b->rpn, (double)b->bytes / 1048576, b->rounds);
    printf("%-20s %8s %9s %9s  %s\n", "operation", "GB/s", "ratio-of", "median-of",
           "against");
    printf("%-20s %8s %9s %9s\n", "", "", "medians", "ratios");
    for (int op = 0; op < NOP; op++) {
        double gbs, rom, mor;
        if (op == RESTORE_LOST && c->lost_node < 0)
            continue;
        summary(c, op, &gbs, &rom, &mor);
        printf("%-20s %8.3f %9.3f %9.3f  %s\n", ops[op].name, gbs, rom, mor,
               ops[op].against);
    }
    printf("seconds per round (operation / its baseline):\n");
    for (int op = 0; op < NOP; op++) {
        if (op == RESTORE_LOST && c->lost_node < 0)
            continue;
        printf("  %-20s", ops[op].name);
        for (int r = 0; r < b->rounds; r++)
            printf(" %.3f/%.3f", c->t[op][r], c->base[op][r]);
        printf("\n");
    }
    if (c->lost_node >= 0) {
        printf("  %-20s", "time to redundancy");
        for (int r = 0; r < b->rounds; r++)
            printf(" %.3f", c->t[RESTORE_LOST][r] + c->redundancy[r]);
        printf("  (%d node(s) from node %d lost; restore, then ckpt_wait "
               "PARTNER)\n", c->b->rs_k > 0 ? c->b->rs_m : 1, c->lost_node);
    }
    if (c->device[BASE_WRITE] > 0 && c->device[BASE_READ] > 0)
        printf("device (O_DIRECT, 8 MiB pieces, faster of two runs): write+fsync "
               "%.3f GB/s, read %.3f GB/s\n", c->device[BASE_WRITE],
               c->device[BASE_READ]);
    else
        printf("device (O_DIRECT): not measured, the file system refuses O_DIRECT\n");
    printf("extra memory per rank (peak RSS beyond the data): %.1f MiB\n", extra);
    print_auto_interval(c);
}

static int setup(cbench_t *c)
{
    bench_t *b = c->b;
    char rs[100] = "";
    int rc = 0;
    c->lost_node = b->size > b->rpn ? 1 : -1;
    snprintf(c->raw, sizeof c->raw, "%s/raw-%d", b->dir, b->rank);
    c->scratch = malloc(b->bytes);
    c->redundancy = calloc((size_t)b->rounds + 1, sizeof(double));
    for (int op = 0; op < NOP; op++) {
        c->t[op] = calloc((size_t)b->rounds + 1, sizeof(double));
        c->base[op] = calloc((size_t)b->rounds + 1, sizeof(double));
        rc |= !c->t[op] || !c->base[op];
    }
    if (rc || !c->scratch || !c->redundancy)
        return 1;
    /* resident before the RSS baseline: it is the raw read's, not ours */
    memset(c->scratch, 0xee, b->bytes); /* not 0: malloc+memset(0) may become calloc */
    rc |= ckpt_init(MPI_COMM_WORLD, bench_config(b, "single", "redundancy = single"),
                    &c->single);
    if (b->rs_k > 0) {
        static char against[80];
        snprintf(rs, sizeof rs, "redundancy = rs\nrs_data = %d\nrs_parity = %d",
                 b->rs_k, b->rs_m);
        snprintf(against, sizeof against, "raw write+fsync / %.3g (parity "
                 "%d/%d of the data)", 1 + (double)b->rs_m / b->rs_k, b->rs_m,
                 b->rs_k);
        ops[SAVE_PARTNER] = (op_def_t){"save RS", "save_rs", BASE_WRITE,
                                       1 + (double)b->rs_m / b->rs_k, 0, against};
    }
    rc |= ckpt_init(MPI_COMM_WORLD, bench_config(b, "partner", rs), &c->partner);
    rc |= ckpt_init(MPI_COMM_WORLD, bench_config(b, "lost", rs), &c->lost);
    if (rc == 0) {
        ckpt_protect(c->single, "data", b->buf, b->bytes, CKPT_BYTE);
        ckpt_protect(c->partner, "data", b->buf, b->bytes, CKPT_BYTE);
        ckpt_protect(c->lost, "data", b->buf, b->bytes, CKPT_BYTE);
        rc |= raw_io(c, BASE_WRITE);
    }
    return rc;
}

static void teardown(cbench_t *c)
{
    if (c->single)
        ckpt_finalize(&c->single);
    if (c->partner)
        ckpt_finalize(&c->partner);
    if (c->lost)
        ckpt_finalize(&c->lost);
    unlink(c->raw);
    snprintf(c->raw, sizeof c->raw, "%s/direct-%d", c->b->dir, c->b->rank);
    unlink(c->raw);
    for (int op = 0; op < NOP; op++) {
        free(c->t[op]);
        free(c->base[op]);
    }
    free(c->redundancy);
    free(c->scratch);
}

int cache_bench(bench_t *b)
{
    cbench_t c = {.b = b};
    long base_kib;
    double extra;
    int rc = setup(&c);
    /* An unmeasured first round: virtual disks are much slower on blocks
     * never written before, and that must not favour either side. */
    base_kib = bench_rss_kib();
    if (rc == 0)
        rc = round_once(&c, -1);
    device_baseline(&c);
    for (int r = 0; r < b->rounds && rc == 0; r++)
        rc = round_once(&c, r);
    device_baseline(&c);
    extra = (double)(bench_rss_kib() - base_kib) / 1024;
    MPI_Allreduce(MPI_IN_PLACE, &extra, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (rc == 0 && b->rank == 0)
        (b->json ? report_json : report_table)(&c, extra);
    teardown(&c);
    return rc;
}
