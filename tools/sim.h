/* ckpt-sim: a discrete-event model of checkpoint traffic at scale. See
 * ckpt-sim(1) for the model and its simplifications. */
#ifndef CKPT_SIM_H
#define CKPT_SIM_H

#include <stdint.h>

enum { SIM_DIRECT, SIM_CACHE, SIM_WRITEBACK, SIM_NMODES };
enum { SOP_PUT_BLOCK, SOP_PUT_BLOCK_LIST, SOP_PUT, SOP_GET, SOP_LIST,
       SOP_DELETE, SOP_COUNT };

typedef struct sim_params {
    long nodes;
    int ranks_per_node;
    double bytes_per_node;
    double interval;        /* compute seconds between checkpoints */
    int checkpoints;        /* simulated checkpoints */
    int persist_every;
    double ssd_bw, nic_bw;  /* bytes/s per node */
    double mtbf_hours;      /* per node */
    double block_size;
    int concurrency;        /* requests in flight per writer */
    int accounts;
    double acct_ingress, acct_egress; /* bytes/s per account */
    double acct_rps, part_rps, blob_rps; /* requests/s limits */
    int partitions;         /* partitions prefix-spread names fall into */
    int sequential;         /* names without the hash prefix */
    double latency;         /* seconds per request besides the transfer */
    double commit_delay;    /* seconds from the last object to the manifest */
    double stall;           /* > 0: the save's stall, instead of the model's */
    double service_rps;     /* > 0: requests an account serves per second,
                               queueing the rest (an emulator such as
                               Azurite), besides the throttling limits */
} sim_params_t;

typedef struct sim_result {
    double stall;           /* median program stall per checkpoint, s */
    double stall_max;
    double to_storage;      /* median, from the checkpoint's start; -1: none */
    int stored, skipped;
    uint64_t req[SOP_COUNT];
    uint64_t throttled;
    double max_wait;        /* longest one request kept being refused, s */
    double peak_part_rps, peak_acct_rps;
    double bytes_per_day;
    double restore_storage; /* every node reads its data from storage, s */
    double failures_per_day;
    double lost_work;       /* expected seconds of work lost per failure */
    double total_loss_prob; /* per failure: no copy anywhere */
} sim_result_t;

int sim_run(const sim_params_t *p, int mode, sim_result_t *out);
/* One step to storage starting at t0 (sim_engine.c): `units` objects of
 * unit_bytes, each request getting at most unit_nic bytes/s of its NIC, and
 * a manifest after them if asked. Returns when it is committed, or -1. */
double sim_session(const sim_params_t *p, sim_result_t *r, int step, long units,
                   double unit_bytes, double unit_nic, int manifest, double t0);

#endif
