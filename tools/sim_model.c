/* ckpt-sim's model of a run: checkpoints every `interval` of compute, the
 * program's stall in each mode, the sequence of upload sessions (one step
 * uploading, the newest waiting, older waiting ones skipped, as the library
 * does), storage traffic per day, and the work lost per node failure. */
#include "sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    if (n == 0)
        return -1;
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

/* Every rank uploads its own object; the program waits for all of them. */
static int run_direct(const sim_params_t *p, sim_result_t *r, double *stalls)
{
    double t = 0;
    int rpn = p->ranks_per_node;
    for (int i = 0; i < p->checkpoints; i++) {
        double end = sim_session(p, r, i, p->nodes * rpn, p->bytes_per_node / rpn,
                                 p->nic_bw / (rpn * p->concurrency), 0, t);
        if (end < 0)
            return -1;
        stalls[i] = end - t;
        t = end + p->interval;
    }
    r->stored = p->checkpoints;
    r->stall = median(stalls, p->checkpoints);
    r->stall_max = stalls[p->checkpoints - 1];
    r->to_storage = r->stall;
    return 0;
}

/* Step i's save ends at ready(i); uploads run one at a time. */
static int run_writeback(const sim_params_t *p, sim_result_t *r, double stall,
                         double *to)
{
    double period = p->interval + stall, busy = 0;
    int pending = -1, n = 0;
    r->req[SOP_LIST] = 1; /* ckpt_init lists the committed steps */
    for (int i = 0; i <= p->checkpoints; i++) {
        double ready = i < p->checkpoints ? i * period + stall : INFINITY;
        int stored = i < p->checkpoints && (i + 1) % p->persist_every == 0;
        /* The waiting step starts whenever the one uploading is done. */
        while (pending >= 0 && busy <= ready) {
            double start = fmax(busy, pending * period + stall);
            busy = sim_session(p, r, pending, p->nodes, p->bytes_per_node,
                               p->nic_bw / p->concurrency, 1, start);
            if (busy < 0)
                return -1;
            to[n++] = busy - pending * period;
            pending = -1;
        }
        if (!stored)
            continue;
        if (pending >= 0)
            r->skipped++; /* a newer step takes the waiting one's place */
        pending = i;
    }
    r->stored = n;
    r->to_storage = median(to, n);
    return 0;
}

/* Expected work lost per failure: a lone node's data comes from its partner
 * (the last checkpoint); if its partner failed too within the same period,
 * from storage (the last stored step) or, in cache mode, from nowhere. */
static void failures(const sim_params_t *p, int mode, sim_result_t *r)
{
    double period = p->interval + r->stall;
    double pair = fmin(1, period / (p->mtbf_hours * 3600));
    double partner = period / 2 + p->bytes_per_node / p->nic_bw;
    r->failures_per_day = (double)p->nodes * 24 / p->mtbf_hours;
    if (mode == SIM_DIRECT) {
        r->lost_work = period / 2 + r->restore_storage;
    } else if (mode == SIM_CACHE) {
        r->lost_work = partner;
        r->total_loss_prob = pair;
    } else {
        r->lost_work = (1 - pair) * partner +
                       pair * (p->persist_every * period / 2 + r->to_storage +
                               r->restore_storage);
    }
}

int sim_run(const sim_params_t *p, int mode, sim_result_t *r)
{
    double B = p->bytes_per_node;
    double cache_stall = p->stall > 0 ? p->stall
                                      : fmax(2 * B / p->ssd_bw, B / p->nic_bw);
    double *buf = calloc((size_t)p->checkpoints + 1, sizeof *buf);
    double egress = fmin(p->accounts * p->acct_egress, p->nodes * p->nic_bw);
    int rc = 0;
    memset(r, 0, sizeof *r);
    if (buf == NULL)
        return -1;
    r->to_storage = -1;
    if (mode == SIM_DIRECT) {
        rc = run_direct(p, r, buf);
    } else {
        r->stall = r->stall_max = cache_stall;
        if (mode == SIM_WRITEBACK)
            rc = run_writeback(p, r, cache_stall, buf);
    }
    if (mode != SIM_CACHE)
        r->bytes_per_day = (double)p->nodes * B * 86400 /
                           (p->interval + r->stall) * r->stored / p->checkpoints;
    r->restore_storage = (double)p->nodes * B / egress +
                         p->latency * ceil(B / p->block_size / 16);
    failures(p, mode, r);
    free(buf);
    return rc;
}
