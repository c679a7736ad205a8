/* ckpt-bench's modes and the helpers they share. */
#ifndef CKPT_BENCH_H
#define CKPT_BENCH_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>
#include "ckpt.h"

typedef struct {
    size_t bytes;
    int rounds, rpn, json, rank, size;
    const char *storage;
    int scale, csv, steps, persist_every, nnodes;
    const char *out;        /* --out PREFIX: PREFIX.csv and PREFIX.json */
    int lost[4096], nlost;  /* --lose-nodes */
    int block_mib;       /* the writeback handle's upload_block_size */
    int rs_k, rs_m;      /* --rs K,M: the redundant level is RS, not partner */
    int shapes;          /* --shapes: replicated saves, restores at another size */
    int need;            /* --need-save: the cost of ckpt_need_save */
    char dir[900];
    unsigned char *buf;
} bench_t;

/* A phase starts after sync(2) and a barrier: no phase pays for another's
 * writeback. bench_slowest is the slowest rank's seconds since t0. */
double bench_start(void);
double bench_slowest(double t0);
/* A config file in b->dir for job bench-<name>; collective. */
const char *bench_config(bench_t *b, const char *name, const char *extra);
int bench_fail(ckpt_t *ck, const char *what, int rc);
double bench_median(double *v, int n); /* sorts v */
long bench_rss_kib(void);
/* Sorts v; the q-quantile (0..1) of its n values. */
double bench_quantile(double *v, size_t n, double q);
/* Collective: storage requests and bytes (may be NULL) of all ranks, by
 * operation. */
struct storage;
void bench_totals(struct storage *st, uint64_t *req, uint64_t *bytes);
double bench_timed_save(ckpt_t *ck, int64_t step, int *rc);
/* Byte i of this rank's data, and b->buf filled with them. */
#define bench_byte(b, i) ((unsigned char)((i) * 131 + (size_t)(b)->rank))
void bench_pattern(bench_t *b);
/* Collective: a restore of step into a poisoned buffer, its slowest rank's
 * seconds; every byte is then checked (wrong data sets *rc). */
double bench_timed_restore(bench_t *b, ckpt_t *ck, int64_t step,
                           const char *what, int *rc);

int cache_bench(bench_t *b);
int storage_bench(bench_t *b);
int scale_bench(bench_t *b);
int shapes_bench(bench_t *b);
int need_bench(bench_t *b);

#endif
