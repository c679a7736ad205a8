/* The event engine of ckpt-sim. An upload session is one step going to
 * storage: every unit (a node's object, or in direct mode a rank's object)
 * sends its blocks with `concurrency` requests in flight, then its block
 * list; in writeback mode a manifest follows the last object. Each request
 * must pass rate limits for its partition, its account and its blob; a
 * refused request is throttled (a 503) and retried with the library's
 * backoff. A request's transfer time is its bytes over the smaller of the
 * unit's share of its NIC and its share of the account's bandwidth.
 *
 * A refused request reserves the next free slot of the limit that refused
 * it, and its retries up to that slot are counted, not simulated: with a
 * million requests queued on one saturated partition, simulating every 503
 * would mean billions of events, while the partition serves the same number
 * of requests per second either way. */
#include "sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A rate limit as a virtual clock (GCRA), the same as a token bucket that
 * holds a tenth of a second of tokens: a request is admitted at t if
 * t >= tat - burst; each admission or reservation moves tat on by 1/rate. */
typedef struct bucket {
    double tat, step, burst;
    long sec, count;         /* requests started in second `sec` */
} bucket_t;

typedef struct ev {
    double t;
    int done;                /* 0: a request tries to start; 1: it ends */
    int kind;                /* SOP_* */
    long unit;               /* -1: the manifest */
    double bytes;
    int tries;
    double refused;          /* when it was first refused */
    int held;                /* limits whose slot this request already has */
} ev_t;

typedef struct unit {
    double left;             /* bytes not yet sent in a started request */
    int blocks, started, finished;
} unit_t;

typedef struct session {
    const sim_params_t *p;
    sim_result_t *r;
    ev_t *heap;
    long n, cap;
    unit_t *u;
    long units, units_done;
    double unit_bytes, unit_nic;
    bucket_t *part, *acct, *blob;
    long *active;            /* requests in flight per account */
    double *free_at;         /* when each account's server takes the next */
    int step;
    int manifest;            /* writeback: write one when objects are done */
    double end;
    unsigned seed;
} session_t;

static int push(session_t *s, ev_t e)
{
    long i;
    if (s->n == s->cap) {
        long cap = s->cap ? 2 * s->cap : 1024;
        ev_t *v = realloc(s->heap, (size_t)cap * sizeof *v);
        if (v == NULL)
            return -1;
        s->heap = v;
        s->cap = cap;
    }
    for (i = s->n++; i > 0 && s->heap[(i - 1) / 2].t > e.t; i = (i - 1) / 2)
        s->heap[i] = s->heap[(i - 1) / 2];
    s->heap[i] = e;
    return 0;
}

static ev_t pop(session_t *s)
{
    ev_t top = s->heap[0], last = s->heap[--s->n];
    long i = 0;
    for (;;) {
        long c = 2 * i + 1;
        if (c >= s->n)
            break;
        if (c + 1 < s->n && s->heap[c + 1].t < s->heap[c].t)
            c++;
        if (s->heap[c].t >= last.t)
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    s->heap[i] = last;
    return top;
}

/* The earliest time a request arriving at t gets through b; taking that
 * slot. */
static double reserve(bucket_t *b, double t)
{
    double at = fmax(t, b->tat - b->burst);
    b->tat = fmax(b->tat, at) + b->step;
    return at;
}

static void count_second(bucket_t *b, double t, double *peak)
{
    long sec = (long)t;
    if (sec != b->sec) {
        b->sec = sec;
        b->count = 0;
    }
    if (++b->count > *peak)
        *peak = (double)b->count;
}

static unsigned hash2(unsigned long a, unsigned long b)
{
    unsigned long x = a * 0x9E3779B97F4A7C15ul ^ (b + 0x632BE59BD9B4E019ul);
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ul;
    return (unsigned)(x ^ (x >> 29));
}

/* Sequential names put a step's objects in one partition (one name range);
 * hash prefixes spread them. The manifest is a unit of its own. */
static long partition_of(const session_t *s, long unit)
{
    if (s->p->sequential)
        return hash2((unsigned long)s->step, 1) % (unsigned)s->p->partitions;
    return hash2((unsigned long)s->step, (unsigned long)unit + 2) %
           (unsigned)s->p->partitions;
}

/* The library's backoff: 0.1 s doubling to 10 s, times [0.5, 1). */
static double backoff(session_t *s, int tries)
{
    double wait = 0.1 * (double)(1u << (tries < 8 ? tries - 1 : 7));
    s->seed = s->seed * 1103515245u + 12345u;
    return fmin(wait, 10.0) * (0.5 + 0.5 * (double)(s->seed >> 8) / 16777216.0);
}

/* A request refused at e->t whose slot comes at `at`: the library's retries
 * before the slot are refused again. The request starts at the slot itself,
 * as some waiting request's retry would take it: with many waiting, the
 * limit is never idle. */
static void count_retries(session_t *s, ev_t *e, double at)
{
    double t = e->t;
    if (e->tries == 0)
        e->refused = e->t;
    do {
        s->r->throttled++;
        e->tries++;
        t += backoff(s, e->tries);
    } while (t < at);
}

/* A request tries to start: every limit it does not yet hold a slot of
 * gives it the earliest slot; if one is later than now, it comes back then. */
static int try_start(session_t *s, ev_t e)
{
    const sim_params_t *p = s->p;
    long acct = (e.unit < 0 ? 0 : e.unit) % p->accounts;
    long part = partition_of(s, e.unit);
    bucket_t *lim[3] = {&s->part[part], &s->acct[acct],
                        e.unit < 0 ? NULL : &s->blob[e.unit]};
    double at = e.t, bw;
    for (int i = 0; i < 3; i++) {
        if (lim[i] == NULL || (e.held & (1 << i)))
            continue;
        e.held |= 1 << i;
        at = reserve(lim[i], e.t);
        if (at > e.t) {
            count_retries(s, &e, at);
            e.t = at;
            return push(s, e);
        }
    }
    s->r->req[e.kind]++;
    if (e.tries > 0)
        s->r->max_wait = fmax(s->r->max_wait, e.t - e.refused);
    count_second(&s->part[part], e.t, &s->r->peak_part_rps);
    count_second(&s->acct[acct], e.t, &s->r->peak_acct_rps);
    s->active[acct]++;
    bw = fmin(s->unit_nic, p->acct_ingress / (double)s->active[acct]);
    if (p->service_rps > 0) { /* queued behind the account's earlier requests */
        e.t = fmax(e.t, s->free_at[acct]);
        s->free_at[acct] = e.t + 1 / p->service_rps;
    }
    e.done = 1;
    e.t += p->latency + e.bytes / bw;
    return push(s, e);
}

static int next_block(session_t *s, long i, double t)
{
    unit_t *u = &s->u[i];
    double bytes = fmin(s->p->block_size, u->left);
    int kind = u->blocks == 1 ? SOP_PUT : SOP_PUT_BLOCK;
    u->left -= bytes;
    u->started++;
    return push(s, (ev_t){.t = t, .kind = kind, .unit = i, .bytes = bytes});
}

/* A request ended: the unit's next block, its block list, the manifest. */
static int finish(session_t *s, ev_t e)
{
    unit_t *u;
    s->active[(e.unit < 0 ? 0 : e.unit) % s->p->accounts]--;
    if (e.unit < 0) {
        s->end = e.t;
        return 0;
    }
    u = &s->u[e.unit];
    if (e.kind == SOP_PUT_BLOCK && ++u->finished < u->blocks)
        return u->started < u->blocks ? next_block(s, e.unit, e.t) : 0;
    if (e.kind == SOP_PUT_BLOCK)
        return push(s, (ev_t){.t = e.t, .kind = SOP_PUT_BLOCK_LIST,
                              .unit = e.unit, .bytes = 64.0 * u->blocks});
    if (++s->units_done < s->units)
        return 0;
    if (!s->manifest) {
        s->end = e.t;
        return 0;
    }
    return push(s, (ev_t){.t = e.t + s->p->commit_delay, .kind = SOP_PUT,
                          .unit = -1, .bytes = 100.0 * (double)s->p->nodes});
}

static void buckets(bucket_t *b, long n, double rate, double t)
{
    for (long i = 0; i < n; i++)
        b[i] = (bucket_t){.tat = t, .step = 1 / rate,
                          .burst = (fmax(1, rate / 10) - 1) / rate, .sec = -1};
}

/* One step to storage starting at t0; returns when it is committed, or -1. */
double sim_session(const sim_params_t *p, sim_result_t *r, int step, long units,
                   double unit_bytes, double unit_nic, int manifest, double t0)
{
    session_t s = {.p = p, .r = r, .units = units, .unit_bytes = unit_bytes,
                   .unit_nic = unit_nic, .step = step, .manifest = manifest,
                   .end = -1, .seed = (unsigned)step * 7919u + 1};
    long nb = (long)ceil(unit_bytes / p->block_size);
    int ok = 1;
    s.u = calloc((size_t)units, sizeof *s.u);
    s.part = calloc((size_t)p->partitions, sizeof *s.part);
    s.acct = calloc((size_t)p->accounts, sizeof *s.acct);
    s.blob = calloc((size_t)units, sizeof *s.blob);
    s.active = calloc((size_t)p->accounts, sizeof *s.active);
    s.free_at = calloc((size_t)p->accounts, sizeof *s.free_at);
    if (!s.u || !s.part || !s.acct || !s.blob || !s.active || !s.free_at)
        ok = 0;
    if (ok) {
        buckets(s.part, p->partitions, p->part_rps, t0);
        buckets(s.acct, p->accounts, p->acct_rps, t0);
        buckets(s.blob, units, p->blob_rps, t0);
    }
    for (long i = 0; ok && i < units; i++) {
        s.u[i] = (unit_t){.left = unit_bytes, .blocks = nb < 1 ? 1 : (int)nb};
        for (int k = 0; ok && k < p->concurrency && s.u[i].started < s.u[i].blocks; k++)
            ok = next_block(&s, i, t0) == 0;
    }
    while (ok && s.n > 0) {
        ev_t e = pop(&s);
        ok = (e.done ? finish(&s, e) : try_start(&s, e)) == 0;
    }
    free(s.heap);
    free(s.u);
    free(s.part);
    free(s.acct);
    free(s.blob);
    free(s.active);
    free(s.free_at);
    return ok ? s.end : -1;
}
