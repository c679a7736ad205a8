/* When to save (ckpt_need_save): save signals caught, the save interval,
 * and the Young/Daly interval of save_interval = auto. */
#ifndef CKPT_WHEN_H
#define CKPT_WHEN_H

#include "config.h"
#include "error.h"

#define WHEN_STALLS 5

typedef struct when {
    unsigned signals;      /* the signals this handle installed handlers for */
    unsigned long seen;    /* signals caught before the last save began */
    double last;           /* monotonic seconds: the last save's end, or init */
    double stall[WHEN_STALLS]; /* the last saves' durations, seconds */
    int nstall;
    double mtbf_hours;     /* one node's mean time between failures */
    int nnodes;
    int interval;          /* save_interval (SAVE_INTERVAL_AUTO) */
} when_t;

/* Installs the handlers of cfg->save_signals (process-wide, shared by all
 * handles, chaining what was there). */
int when_start(when_t *w, const ckpt_config_t *cfg, int nnodes, ckpt_err_t *e);
/* The previous handlers back when the last handle stops. */
void when_stop(when_t *w);
/* Not collective: CKPT_SAVE_NO, _INTERVAL or _SIGNAL on this rank. */
int when_local(const when_t *w);
/* A save begins (signals caught from now on ask for the next) / ended
 * well after `seconds`. */
void when_save_begins(when_t *w);
void when_saved(when_t *w, double seconds);
/* The interval save_interval = auto uses now, seconds. */
double when_auto_interval(const when_t *w);
/* Young/Daly: sqrt(2 C M), C one save's stall, M the job's MTBF. */
double when_daly(double stall_s, double mtbf_hours, int nnodes);

#endif
