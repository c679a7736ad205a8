/* ckpt-bench --scale: the same data checkpointed three ways in one run,
 *   direct     every rank uploads its own object synchronously (no cache:
 *              what a user without libckpt does)
 *   cache      mode = cache: LOCAL and PARTNER levels only
 *   writeback  mode = writeback, persist_every k
 * and for each: the save stall (median and p99 over ranks and steps), the
 * time until a step is at each level, restores (from the cache, after losing
 * nodes, from storage alone), storage requests and bytes by operation,
 * requests per second per node, objects per step and peak RSS. Every restore
 * is checked byte for byte. */
#include "bench.h"
#include "handle.h"
#include "fileio.h"
#include "storage.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { M_DIRECT, M_CACHE, M_WRITEBACK, NMODES };
static const char *mode_name[NMODES] = {"direct", "cache", "writeback"};

typedef struct row {
    double stall_med, stall_p99;
    double to_partner, to_storage;      /* seconds after the save began */
    double restore_local, restore_lost, restore_storage; /* -1: not here */
    uint64_t req[OP_COUNT], bytes[OP_COUNT];  /* saves and uploads */
    uint64_t restore_req, restore_bytes;      /* all restores */
    double req_per_s_node, objects_per_step, rss_mib;
    int steps_stored;                   /* steps that reached storage */
    int verified;                       /* every restore matched */
} row_t;

/* Deterministic contents for (step, rank), so that any restore is checked:
 * word i is seed + i. */
static uint64_t seed_of(int64_t step, int rank)
{
    return (uint64_t)step * 0x9E3779B97F4A7C15ull ^ (uint64_t)rank << 32;
}

static void fill(unsigned char *buf, size_t n, int64_t step, int rank)
{
    uint64_t seed = seed_of(step, rank);
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t v = seed + i;
        memcpy(buf + i, &v, 8);
    }
}

static int matches(const unsigned char *buf, size_t n, int64_t step, int rank)
{
    uint64_t seed = seed_of(step, rank);
    int ok = 1;
    for (size_t i = 0; i + 8 <= n && ok; i += 8) {
        uint64_t v;
        memcpy(&v, buf + i, 8);
        ok = v == seed + i;
    }
    MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    return ok;
}

/* Median and p99 of every rank's stalls, on rank 0. */
static void stall_stats(bench_t *b, const double *mine, int n, row_t *row)
{
    double *all = b->rank == 0 ? malloc(sizeof *all * (size_t)n * (size_t)b->size)
                               : NULL;
    MPI_Gather(mine, n, MPI_DOUBLE, all, n, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (b->rank == 0 && all) {
        size_t total = (size_t)n * (size_t)b->size;
        row->stall_med = bench_quantile(all, total, 0.5);
        row->stall_p99 = bench_quantile(all, total, 0.99);
    }
    free(all);
}

static int is_lost(const bench_t *b, int node)
{
    for (int i = 0; i < b->nlost; i++)
        if (b->lost[i] == node)
            return 1;
    return 0;
}

/* Node leaders delete their node's cache: the listed nodes, or all. */
static void lose(bench_t *b, const char *job, int all)
{
    char path[1200];
    int node = b->rank / b->rpn;
    if (b->rank % b->rpn == 0 && (all || is_lost(b, node))) {
        snprintf(path, sizeof path, "%s/cache/bench-%s/node-%d", b->dir, job, node);
        fio_rmtree(path);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

/* A restore of the newest step, timed and checked. */
static double timed_restore(bench_t *b, ckpt_t *ck, int *ok)
{
    int64_t got = -1;
    double t0;
    int rc;
    memset(b->buf, 0, b->bytes);
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = MPI_Wtime();
    rc = bench_fail(ck, "restore", ckpt_restore(ck, CKPT_LATEST, &got));
    t0 = bench_slowest(t0);
    *ok &= rc == CKPT_OK && matches(b->buf, b->bytes, got, b->rank);
    return t0;
}

/* Saves b->steps steps; per-rank stalls go to row. In writeback mode each
 * stored step is waited for, so that every one reaches storage and the time
 * to STORAGE is measured per step (median into row->to_storage). Returns
 * the seconds the last save took (slowest rank). */
static double save_steps(bench_t *b, ckpt_t *ck, storage_t *direct, row_t *row,
                         int *rc)
{
    double *mine = calloc((size_t)b->steps, sizeof *mine), last = 0;
    double *stored = calloc((size_t)b->steps, sizeof *stored);
    int nstored = 0;
    char name[256];
    ckpt_err_t e = {0};
    for (int s = 1; s <= b->steps && *rc == 0; s++) {
        double t0;
        fill(b->buf, b->bytes, s, b->rank);
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = MPI_Wtime();
        if (ck) {
            *rc |= bench_fail(ck, "save", ckpt_save(ck, s));
        } else {
            snprintf(name, sizeof name, "bench-direct/step-%d/rank-%d", s, b->rank);
            if (storage_put(direct, name, b->buf, b->bytes, &e) != CKPT_OK)
                fprintf(stderr, "ckpt-bench: direct upload: %s\n", e.msg);
            *rc |= e.code;
            MPI_Allreduce(MPI_IN_PLACE, rc, 1, MPI_INT, MPI_BOR, MPI_COMM_WORLD);
        }
        mine[s - 1] = MPI_Wtime() - t0;
        last = bench_slowest(t0);
        if (ck && ck->wb.st && s % b->persist_every == 0) {
            *rc |= bench_fail(ck, "wait", ckpt_wait(ck, s, CKPT_LEVEL_STORAGE));
            stored[nstored++] = bench_slowest(t0);
        }
    }
    stall_stats(b, mine, b->steps, row);
    row->to_storage = nstored ? bench_median(stored, nstored) : -1;
    free(mine);
    free(stored);
    return last;
}

/* Every rank reads its own object back: the direct user's restart. */
static double direct_restore(bench_t *b, storage_t *st, int *ok)
{
    char name[256], *data = NULL;
    size_t len = 0;
    ckpt_err_t e = {0};
    double t0;
    snprintf(name, sizeof name, "bench-direct/step-%d/rank-%d", b->steps, b->rank);
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = MPI_Wtime();
    if (storage_get(st, name, &data, &len, &e) == CKPT_OK && len == b->bytes)
        memcpy(b->buf, data, len);
    t0 = bench_slowest(t0);
    if (e.code != CKPT_OK)
        memset(b->buf, 0, b->bytes);
    *ok &= matches(b->buf, b->bytes, b->steps, b->rank); /* collective */
    free(data);
    return t0;
}

static int run_direct(bench_t *b, row_t *row)
{
    st_params_t p = {.url = b->storage, .account = getenv("AZURE_STORAGE_ACCOUNT"),
                     .key = getenv("AZURE_STORAGE_KEY"),
                     .sas = getenv("AZURE_STORAGE_SAS_TOKEN"),
                     .block_size = 16u << 20, .concurrency = 8, .timeout = 600};
    storage_t *st = NULL;
    ckpt_err_t e = {0};
    uint64_t before[OP_COUNT], after[OP_COUNT];
    int rc = 0, ok = 1;
    double t0 = MPI_Wtime();
    storage_open(&st, &p, &e);
    rc = err_agree(MPI_COMM_WORLD, &e);
    if (rc != CKPT_OK) {
        if (b->rank == 0)
            fprintf(stderr, "ckpt-bench: %s\n", e.msg);
        return rc;
    }
    row->to_storage = save_steps(b, NULL, st, row, &rc);
    row->to_partner = -1; /* no cache: storage is the only level */
    bench_totals(st, row->req, row->bytes);
    row->req_per_s_node = 0;
    for (int op = 0; op < OP_COUNT; op++)
        row->req_per_s_node += (double)row->req[op];
    row->req_per_s_node /= (MPI_Wtime() - t0) * (double)b->nnodes;
    row->objects_per_step = b->size;
    row->steps_stored = b->steps;
    row->restore_local = row->restore_lost = -1;
    bench_totals(st, before, NULL);
    row->restore_storage = direct_restore(b, st, &ok);
    bench_totals(st, after, NULL);
    for (int op = 0; op < OP_COUNT; op++)
        row->restore_req += after[op] - before[op];
    row->restore_bytes = b->bytes * (uint64_t)b->size;
    row->verified = ok;
    storage_close(st);
    return rc;
}

/* The cache and writeback modes: saves, then restores at each level. */
static int run_library(bench_t *b, int mode, row_t *row)
{
    char extra[1400];
    ckpt_t *ck = NULL;
    uint64_t r0[OP_COUNT], r1[OP_COUNT], b1[OP_COUNT];
    int rc, ok = 1;
    double t0;
    snprintf(extra, sizeof extra, "%s\nkeep_local = 2\npersist_every = %d",
             mode == M_CACHE ? "mode = cache" : "mode = writeback",
             b->persist_every);
    if (mode == M_WRITEBACK)
        snprintf(extra + strlen(extra), sizeof extra - strlen(extra),
                 "\nstorage_url = %s", b->storage);
    rc = ckpt_init(MPI_COMM_WORLD, bench_config(b, mode_name[mode], extra), &ck);
    if (rc != CKPT_OK)
        return rc;
    ckpt_protect(ck, "data", b->buf, b->bytes, CKPT_BYTE);
    t0 = MPI_Wtime();
    row->to_partner = save_steps(b, ck, NULL, row, &rc);
    if (mode == M_WRITEBACK && rc == 0) {
        bench_totals(ck->wb.st, row->req, row->bytes);
        row->steps_stored = ck->wb.ncommitted;
        row->objects_per_step = b->nnodes + 1;
        for (int op = 0; op < OP_COUNT; op++)
            row->req_per_s_node += (double)row->req[op];
        row->req_per_s_node /= (MPI_Wtime() - t0) * (double)b->nnodes;
    }
    if (rc == 0) {
        if (ck->wb.st)
            bench_totals(ck->wb.st, r0, NULL);
        row->restore_local = timed_restore(b, ck, &ok);
        lose(b, mode_name[mode], 0);
        row->restore_lost = b->nlost ? timed_restore(b, ck, &ok) : -1;
        row->restore_storage = -1;
        if (mode == M_WRITEBACK) {
            lose(b, mode_name[mode], 1);
            row->restore_storage = timed_restore(b, ck, &ok);
            bench_totals(ck->wb.st, r1, b1);
            for (int op = 0; op < OP_COUNT; op++)
                row->restore_req += r1[op] - r0[op];
            row->restore_bytes = b1[OP_GET];
        }
    }
    row->verified = ok;
    ckpt_finalize(&ck);
    return rc;
}

static void print_row(FILE *f, const bench_t *b, int m, const row_t *r, int csv)
{
    uint64_t total = 0, up = 0;
    for (int op = 0; op < OP_COUNT; op++) {
        total += r->req[op];
        up += op == OP_GET ? 0 : r->bytes[op];
    }
    if (csv) {
        fprintf(f, "%s,%d,%d,%zu,%d,%d,%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f", mode_name[m],
               b->nnodes, b->size, b->bytes, b->steps, b->persist_every, b->nlost,
               r->stall_med, r->stall_p99, r->to_partner, r->to_storage,
               r->restore_local, r->restore_lost, r->restore_storage);
        for (int op = 0; op < OP_COUNT; op++)
            fprintf(f, ",%" PRIu64, r->req[op]);
        fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.3f,%.1f,%.1f,%d,%d\n", up,
               r->restore_req, r->restore_bytes, r->req_per_s_node,
               r->objects_per_step, r->rss_mib, r->steps_stored, r->verified);
        return;
    }
    fprintf(f, "%-10s %8.4f %8.4f %8.3f %9.3f %8.3f %8.3f %8.3f %8" PRIu64 " %9.1f %8.2f "
           "%7.0f %7.1f %s\n", mode_name[m], r->stall_med, r->stall_p99,
           r->to_partner, r->to_storage, r->restore_local, r->restore_lost,
           r->restore_storage, total, (double)up / 1048576, r->req_per_s_node,
           r->objects_per_step, r->rss_mib, r->verified ? "yes" : "NO");
}

static void print_csv_header(FILE *f)
{
    fprintf(f, "mode,nodes,ranks,bytes_per_rank,steps,persist_every,lost_nodes,"
           "stall_median_s,stall_p99_s,to_partner_s,to_storage_s,"
           "restore_local_s,restore_lost_s,restore_storage_s");
    for (int op = 0; op < OP_COUNT; op++)
        fprintf(f, ",req_%s", storage_op_name(op));
    fprintf(f, ",bytes_up,restore_requests,restore_bytes,requests_per_s_per_node,"
           "objects_per_step,peak_rss_mib,steps_stored,verified\n");
}

static void print_json(FILE *f, const bench_t *b, const row_t *rows)
{
    fprintf(f, "{\"nodes\": %d, \"ranks\": %d, \"ranks_per_node\": %d, "
           "\"bytes_per_rank\": %zu, \"steps\": %d, \"persist_every\": %d, "
           "\"lost_nodes\": %d, \"block_size\": %d, \"modes\": [", b->nnodes,
           b->size, b->rpn, b->bytes, b->steps, b->persist_every, b->nlost,
           16 << 20);
    for (int m = 0; m < NMODES; m++) {
        const row_t *r = &rows[m];
        fprintf(f, "%s\n {\"mode\": \"%s\", \"stall_median_s\": %.6f, \"stall_p99_s\": "
               "%.6f, \"to_partner_s\": %.6f, \"to_storage_s\": %.6f, "
               "\"restore_local_s\": %.6f, \"restore_lost_s\": %.6f, "
               "\"restore_storage_s\": %.6f, \"requests_per_s_per_node\": %.4f, "
               "\"objects_per_step\": %.1f, \"peak_rss_mib\": %.1f, "
               "\"steps_stored\": %d, \"restore_requests\": %" PRIu64 ", "
               "\"verified\": %s", m ? "," : "", mode_name[m], r->stall_med,
               r->stall_p99, r->to_partner, r->to_storage, r->restore_local,
               r->restore_lost, r->restore_storage, r->req_per_s_node,
               r->objects_per_step, r->rss_mib, r->steps_stored, r->restore_req,
               r->verified ? "true" : "false");
        for (int op = 0; op < OP_COUNT; op++)
            fprintf(f, ", \"req_%s\": %" PRIu64 ", \"bytes_%s\": %" PRIu64,
                   storage_op_name(op), r->req[op], storage_op_name(op), r->bytes[op]);
        fprintf(f, "}");
    }
    fprintf(f, "\n]}\n");
}

/* Writes PREFIX.csv and PREFIX.json; the table goes to stdout. */
static void write_files(const bench_t *b, const row_t *rows)
{
    char path[1100];
    FILE *f;
    snprintf(path, sizeof path, "%s.csv", b->out);
    if ((f = fopen(path, "w")) != NULL) {
        print_csv_header(f);
        for (int m = 0; m < NMODES; m++)
            print_row(f, b, m, &rows[m], 1);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s.json", b->out);
    if ((f = fopen(path, "w")) != NULL) {
        print_json(f, b, rows);
        fclose(f);
    }
}

static void report_scale(const bench_t *b, const row_t *rows)
{
    FILE *f = stdout;
    if (b->out)
        write_files(b, rows);
    if (b->csv) {
        print_csv_header(f);
        for (int m = 0; m < NMODES; m++)
            print_row(f, b, m, &rows[m], 1);
        return;
    }
    if (b->json) {
        print_json(f, b, rows);
        return;
    }
    fprintf(f, "ckpt-bench --scale: %d nodes, %d ranks, %.2f MiB per rank, %d steps, "
            "persist_every %d, %d nodes lost before the restore\n", b->nnodes,
            b->size, (double)b->bytes / 1048576, b->steps, b->persist_every, b->nlost);
    fprintf(f, "%-10s %8s %8s %8s %9s %8s %8s %8s %8s %9s %8s %7s %7s %s\n", "mode",
            "stall", "p99", "PARTNER", "STORAGE", "rst-loc", "rst-lost",
            "rst-stor", "requests", "MiB up", "req/s/nd", "obj/st", "RSS MiB",
            "verified");
    for (int m = 0; m < NMODES; m++)
        print_row(f, b, m, &rows[m], 0);
    fprintf(f, "(seconds; STORAGE: from the start of a stored step's save until "
            "committed, median; -1: not applicable)\n");
}

/* Partners (n, n + 1) must not both be lost: their data would be gone from
 * every cache. */
static int check_lost(const bench_t *b)
{
    for (int i = 0; i < b->nlost; i++)
        if (b->lost[i] < 0 || b->lost[i] >= b->nnodes ||
            (b->nnodes > 1 && is_lost(b, (b->lost[i] + 1) % b->nnodes)))
            return -1;
    return 0;
}

int scale_bench(bench_t *b)
{
    row_t rows[NMODES];
    int rc = 0;
    memset(rows, 0, sizeof rows);
    b->nnodes = (b->size + b->rpn - 1) / b->rpn;
    if (check_lost(b) != 0) {
        if (b->rank == 0)
            fprintf(stderr, "ckpt-bench: --lose-nodes: nodes must exist and no "
                    "two partners (n, n+1) may both be lost\n");
        return 2;
    }
    for (int m = 0; m < NMODES && rc == 0; m++) {
        long kib;
        rc = m == M_DIRECT ? run_direct(b, &rows[m]) : run_library(b, m, &rows[m]);
        kib = bench_rss_kib();
        MPI_Allreduce(MPI_IN_PLACE, &kib, 1, MPI_LONG, MPI_MAX, MPI_COMM_WORLD);
        rows[m].rss_mib = (double)kib / 1024;
    }
    if (rc == 0 && b->rank == 0)
        report_scale(b, rows);
    return rc;
}
