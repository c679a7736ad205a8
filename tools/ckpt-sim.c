/* ckpt-sim: extrapolates checkpoint traffic to 10,000-100,000 nodes with a
 * discrete-event model (no MPI). It takes the figures a ckpt-bench --scale
 * run measured (--bench FILE.json) and cluster parameters, and reports, for
 * the direct baseline, cache mode and writeback mode: the program's stall,
 * the time to STORAGE, whether storage keeps up, throttled requests, peak
 * requests/s per partition and per account, storage bytes per day, and the
 * work lost per node failure. --validate compares it with the measured run. */
#include "sim.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *mode_name[SIM_NMODES] = {"direct", "cache", "writeback"};
static const char *op_name[SOP_COUNT] = {"put-block", "put-block-list", "put",
                                         "get", "list", "delete"};

typedef struct opts {
    sim_params_t p;
    const char *bench;
    int validate, json, csv, csv_header;
    double tolerance;
    json_t *measured;
} opts_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: ckpt-sim [--bench FILE.json [--validate [--tolerance F]]]\n"
            "  [--nodes N] [--ranks-per-node R] [--bytes-per-node B] [--interval S]\n"
            "  [--checkpoints C] [--persist-every K] [--ssd-bw B/s] [--nic-bw B/s]\n"
            "  [--mtbf-hours H] [--block-size B] [--concurrency N] [--accounts A]\n"
            "  [--account-ingress B/s] [--account-egress B/s] [--account-rps R]\n"
            "  [--partition-rps R] [--blob-rps R] [--partitions P]\n"
            "  [--naming prefix|sequential] [--latency S] [--commit-delay S]\n"
            "  [--stall S] [--service-rps R]\n"
            "  [--json | --csv [--csv-header]]\n");
}

/* Azure Blob's published targets for a standard account, a fast node. */
static void defaults(sim_params_t *p)
{
    *p = (sim_params_t){.nodes = 10000, .ranks_per_node = 8,
                        .bytes_per_node = 4.0 * (1 << 30), .interval = 600,
                        .checkpoints = 6, .persist_every = 1, .ssd_bw = 2e9,
                        .nic_bw = 12.5e9, .mtbf_hours = 43800,
                        .block_size = 16 << 20, .concurrency = 8, .accounts = 1,
                        .acct_ingress = 7.5e9, .acct_egress = 15e9,
                        .acct_rps = 20000, .part_rps = 2000, .blob_rps = 500,
                        .partitions = 256, .latency = 0.02, .commit_delay = 0.02};
}

static double num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : -1;
}

static json_t *mode_of(json_t *bench, const char *name)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(bench, "modes"), i, m)
        if (!strcmp(json_string_value(json_object_get(m, "mode")), name))
            return m;
    return NULL;
}

/* The measured run's shape becomes the simulated cluster's. */
static int load_bench(opts_t *o)
{
    json_error_t err;
    json_t *b = json_load_file(o->bench, 0, &err);
    if (b == NULL || !json_is_array(json_object_get(b, "modes"))) {
        fprintf(stderr, "ckpt-sim: %s: %s\n", o->bench, b ? "no modes" : err.text);
        json_decref(b);
        return -1;
    }
    o->p.nodes = (long)num(b, "nodes");
    o->p.ranks_per_node = (int)num(b, "ranks_per_node");
    o->p.bytes_per_node = num(b, "bytes_per_rank") * o->p.ranks_per_node;
    o->p.checkpoints = (int)num(b, "steps");
    o->p.persist_every = (int)num(b, "persist_every");
    o->p.block_size = num(b, "block_size");
    /* The save's cost is measured, not modelled: 2 cores for 200 ranks. */
    o->p.stall = num(mode_of(b, "writeback"), "stall_median_s");
    o->measured = b;
    return o->p.nodes > 0 && o->p.checkpoints > 0 ? 0 : -1;
}

static int parse(opts_t *o, int argc, char **argv)
{
    static const struct option opts[] = {
        {"bench", 1, 0, 'b'}, {"validate", 0, 0, 'V'}, {"tolerance", 1, 0, 'T'},
        {"nodes", 1, 0, 'n'}, {"ranks-per-node", 1, 0, 'r'},
        {"bytes-per-node", 1, 0, 'B'}, {"interval", 1, 0, 'i'},
        {"checkpoints", 1, 0, 'c'}, {"persist-every", 1, 0, 'k'},
        {"ssd-bw", 1, 0, 's'}, {"nic-bw", 1, 0, 'N'}, {"mtbf-hours", 1, 0, 'm'},
        {"block-size", 1, 0, 'z'}, {"concurrency", 1, 0, 'C'},
        {"accounts", 1, 0, 'a'}, {"account-ingress", 1, 0, 'I'},
        {"account-egress", 1, 0, 'E'}, {"account-rps", 1, 0, 'R'},
        {"partition-rps", 1, 0, 'P'}, {"blob-rps", 1, 0, 'O'},
        {"partitions", 1, 0, 'p'}, {"naming", 1, 0, 'x'}, {"latency", 1, 0, 'l'},
        {"commit-delay", 1, 0, 'd'}, {"stall", 1, 0, 'S'},
        {"service-rps", 1, 0, 'Q'}, {"json", 0, 0, 'j'}, {"csv", 0, 0, 'v'},
        {"csv-header", 0, 0, 'H'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    sim_params_t *p = &o->p;
    int c;
    defaults(p);
    o->tolerance = 0.5;
    /* --bench first, so that explicit options override what it says */
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--bench") && (o->bench = argv[i + 1], load_bench(o)))
            return -1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        double v = optarg ? atof(optarg) : 0;
        switch (c) {
        case 'b': break;
        case 'V': o->validate = 1; break;
        case 'T': o->tolerance = v; break;
        case 'n': p->nodes = (long)v; break;
        case 'r': p->ranks_per_node = (int)v; break;
        case 'B': p->bytes_per_node = v; break;
        case 'i': p->interval = v; break;
        case 'c': p->checkpoints = (int)v; break;
        case 'k': p->persist_every = (int)v; break;
        case 's': p->ssd_bw = v; break;
        case 'N': p->nic_bw = v; break;
        case 'm': p->mtbf_hours = v; break;
        case 'z': p->block_size = v; break;
        case 'C': p->concurrency = (int)v; break;
        case 'a': p->accounts = (int)v; break;
        case 'I': p->acct_ingress = v; break;
        case 'E': p->acct_egress = v; break;
        case 'R': p->acct_rps = v; break;
        case 'P': p->part_rps = v; break;
        case 'O': p->blob_rps = v; break;
        case 'p': p->partitions = (int)v; break;
        case 'x': p->sequential = !strcmp(optarg, "sequential"); break;
        case 'l': p->latency = v; break;
        case 'd': p->commit_delay = v; break;
        case 'S': p->stall = v; break;
        case 'Q': p->service_rps = v; break;
        case 'j': o->json = 1; break;
        case 'v': o->csv = 1; break;
        case 'H': o->csv_header = 1; break;
        case 'h': usage(stdout); exit(0);
        default: return -1;
        }
    }
    return p->nodes > 0 && p->ranks_per_node > 0 && p->bytes_per_node > 0 &&
                   p->checkpoints > 0 && p->persist_every > 0 && p->ssd_bw > 0 &&
                   p->nic_bw > 0 && p->block_size > 0 && p->concurrency > 0 &&
                   p->accounts > 0 && p->partitions > 0 && p->acct_rps > 0 &&
                   p->part_rps > 0 && p->blob_rps > 0 && p->mtbf_hours > 0
               ? 0 : -1;
}

static uint64_t total_requests(const sim_result_t *r)
{
    uint64_t n = 0;
    for (int op = 0; op < SOP_COUNT; op++)
        n += r->req[op];
    return n;
}

static void print_csv(const opts_t *o, const sim_result_t *r)
{
    const sim_params_t *p = &o->p;
    if (o->csv_header)
        printf("mode,nodes,naming,bytes_per_node,interval_s,persist_every,"
               "stall_s,to_storage_s,stored,skipped,requests,throttled,"
               "peak_partition_rps,peak_account_rps,storage_tb_per_day,"
               "restore_storage_s,failures_per_day,lost_work_s,total_loss_prob,"
               "max_wait_s\n");
    for (int m = 0; m < SIM_NMODES; m++)
        printf("%s,%ld,%s,%.0f,%.0f,%d,%.4f,%.4f,%d,%d,%llu,%llu,%.0f,%.0f,%.3f,"
               "%.2f,%.3f,%.2f,%.3g,%.1f\n", mode_name[m], p->nodes,
               p->sequential ? "sequential" : "prefix", p->bytes_per_node,
               p->interval, p->persist_every, r[m].stall, r[m].to_storage,
               r[m].stored, r[m].skipped, (unsigned long long)total_requests(&r[m]),
               (unsigned long long)r[m].throttled, r[m].peak_part_rps,
               r[m].peak_acct_rps, r[m].bytes_per_day / 1e12, r[m].restore_storage,
               r[m].failures_per_day, r[m].lost_work, r[m].total_loss_prob,
               r[m].max_wait);
}

static void print_table(const opts_t *o, const sim_result_t *r)
{
    const sim_params_t *p = &o->p;
    printf("ckpt-sim: %ld nodes x %.2f GiB, checkpoint every %.0f s, persist_every "
           "%d, %s names over %d partitions, %d account(s)\n", p->nodes,
           p->bytes_per_node / (1 << 30), p->interval, p->persist_every,
           p->sequential ? "sequential" : "prefix-spread", p->partitions, p->accounts);
    printf("%-10s %9s %10s %7s %7s %10s %10s %8s %9s %9s %9s %9s %9s\n", "mode",
           "stall s", "STORAGE s", "stored", "skipped", "requests", "throttled",
           "wait s", "peak/prt", "peak/acct", "TB/day", "lost s", "P(loss)");
    for (int m = 0; m < SIM_NMODES; m++)
        printf("%-10s %9.2f %10.2f %7d %7d %10llu %10llu %8.1f %9.0f %9.0f %9.2f "
               "%9.1f %9.2g\n", mode_name[m], r[m].stall, r[m].to_storage,
               r[m].stored, r[m].skipped, (unsigned long long)total_requests(&r[m]),
               (unsigned long long)r[m].throttled, r[m].max_wait, r[m].peak_part_rps,
               r[m].peak_acct_rps, r[m].bytes_per_day / 1e12, r[m].lost_work,
               r[m].total_loss_prob);
    printf("(stall and STORAGE: median per checkpoint; wait: longest one request "
           "kept being refused; peaks: requests admitted in one second; lost: "
           "expected work lost per node failure, %.2f failures/day)\n",
           r[0].failures_per_day);
}

static void print_json(const opts_t *o, const sim_result_t *r)
{
    printf("{\"nodes\": %ld, \"naming\": \"%s\", \"modes\": [", o->p.nodes,
           o->p.sequential ? "sequential" : "prefix");
    for (int m = 0; m < SIM_NMODES; m++) {
        printf("%s\n {\"mode\": \"%s\", \"stall_s\": %.6f, \"to_storage_s\": %.6f, "
               "\"stored\": %d, \"skipped\": %d, \"throttled\": %llu, "
               "\"max_wait_s\": %.3f, "
               "\"peak_partition_rps\": %.0f, \"peak_account_rps\": %.0f, "
               "\"bytes_per_day\": %.0f, \"lost_work_s\": %.3f",
               m ? "," : "", mode_name[m], r[m].stall, r[m].to_storage,
               r[m].stored, r[m].skipped, (unsigned long long)r[m].throttled,
               r[m].max_wait, r[m].peak_part_rps, r[m].peak_acct_rps,
               r[m].bytes_per_day,
               r[m].lost_work);
        for (int op = 0; op < SOP_COUNT; op++)
            printf(", \"req_%s\": %llu", op_name[op], (unsigned long long)r[m].req[op]);
        printf("}");
    }
    printf("\n]}\n");
}

/* Request counts must match the measured run exactly; times within the
 * tolerance (a ratio: 0.5 accepts half to one and a half times). */
static int validate(const opts_t *o, const sim_result_t *r)
{
    int bad = 0;
    static const int modes[] = {SIM_DIRECT, SIM_WRITEBACK};
    for (int i = 0; i < 2; i++) {
        int m = modes[i];
        json_t *meas = mode_of(o->measured, mode_name[m]);
        double t_meas = num(meas, "to_storage_s"), ratio;
        for (int op = 0; op < SOP_COUNT; op++) {
            char key[64];
            double got;
            snprintf(key, sizeof key, "req_%s", op_name[op]);
            got = num(meas, key);
            printf("validate %-9s %-15s measured %8.0f simulated %8llu %s\n",
                   mode_name[m], op_name[op], got,
                   (unsigned long long)r[m].req[op],
                   got == (double)r[m].req[op] ? "exact" : "DIFFERENT");
            bad |= got != (double)r[m].req[op];
        }
        ratio = r[m].to_storage / t_meas;
        printf("validate %-9s time to STORAGE measured %.3f s simulated %.3f s "
               "(x %.2f, tolerance x %.2f..%.2f) %s\n", mode_name[m], t_meas,
               r[m].to_storage, ratio, 1 - o->tolerance, 1 + o->tolerance,
               fabs(ratio - 1) <= o->tolerance ? "within" : "OUTSIDE");
        bad |= fabs(ratio - 1) > o->tolerance;
    }
    printf("validation: %s\n", bad ? "FAILED" : "passed");
    return bad;
}

int main(int argc, char **argv)
{
    opts_t o = {0};
    sim_result_t r[SIM_NMODES];
    int rc = 0;
    if (parse(&o, argc, argv) != 0) {
        usage(stderr);
        json_decref(o.measured);
        return 2;
    }
    for (int m = 0; m < SIM_NMODES && rc == 0; m++)
        rc = sim_run(&o.p, m, &r[m]);
    if (rc != 0) {
        fprintf(stderr, "ckpt-sim: out of memory\n");
        json_decref(o.measured);
        return 1;
    }
    if (o.validate && o.measured)
        rc = validate(&o, r);
    else if (o.csv)
        print_csv(&o, r);
    else if (o.json)
        print_json(&o, r);
    else
        print_table(&o, r);
    json_decref(o.measured);
    return rc ? 1 : 0;
}
