/* When to save (see when.h).
 *
 * A signal has one handler per process, so what the handler touches is
 * process-wide: a counter of signals caught (each handle remembers the
 * count when its last save began) and the handlers that were there before,
 * which the handler calls in turn when they were functions. A previous
 * SIG_DFL is not called: for SIGTERM it would end the program before it
 * could save, which is what asking for the signal means to prevent. */
#include "when.h"
#include "ckpt.h"
#include "log.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <string.h>

#define NSIGS 32

static volatile sig_atomic_t caught;     /* wraps: only compared */
static struct sigaction previous[NSIGS];
static int users[NSIGS];                 /* handles with this handler */

static void on_signal(int sig, siginfo_t *info, void *uc)
{
    const struct sigaction *p = &previous[sig];
    caught = caught + 1;
    if (p->sa_flags & SA_SIGINFO) {
        if (p->sa_sigaction)
            p->sa_sigaction(sig, info, uc);
    } else if (p->sa_handler != SIG_DFL && p->sa_handler != SIG_IGN) {
        p->sa_handler(sig);
    }
}

int when_start(when_t *w, const ckpt_config_t *cfg, int nnodes, ckpt_err_t *e)
{
    memset(w, 0, sizeof *w);
    w->last = log_now();
    w->interval = cfg->save_interval;
    w->mtbf_hours = cfg->mtbf_hours;
    w->nnodes = nnodes;
    for (int s = 1; s < NSIGS; s++) {
        struct sigaction sa;
        if (!(cfg->save_signals & 1u << s))
            continue;
        if (users[s] == 0) {
            memset(&sa, 0, sizeof sa);
            sa.sa_sigaction = on_signal;
            sa.sa_flags = SA_SIGINFO | SA_RESTART;
            sigemptyset(&sa.sa_mask);
            if (sigaction(s, &sa, &previous[s]) != 0) {
                when_stop(w);
                return err_sys(e, errno, "installing the handler of signal %d", s);
            }
        }
        users[s]++;
        w->signals |= 1u << s;
    }
    w->seen = (unsigned long)caught;
    return CKPT_OK;
}

void when_stop(when_t *w)
{
    for (int s = 1; s < NSIGS; s++)
        if (w->signals & 1u << s && --users[s] == 0)
            sigaction(s, &previous[s], NULL);
    w->signals = 0;
}

static double job_mtbf_s(double mtbf_hours, int nnodes)
{
    return mtbf_hours * 3600.0 / (nnodes > 0 ? nnodes : 1);
}

double when_daly(double stall_s, double mtbf_hours, int nnodes)
{
    return sqrt(2.0 * stall_s * job_mtbf_s(mtbf_hours, nnodes));
}

/* Until this run measured a save, its stall is taken as 10 s. */
double when_auto_interval(const when_t *w)
{
    double c = 0;
    if (w->nstall == 0)
        c = 10.0;
    for (int i = 0; i < w->nstall; i++)
        c += w->stall[i] / w->nstall;
    return when_daly(c, w->mtbf_hours, w->nnodes);
}

int when_local(const when_t *w)
{
    double due;
    if (w->signals && (unsigned long)caught != w->seen)
        return CKPT_SAVE_SIGNAL;
    if (w->interval == 0)
        return CKPT_SAVE_NO;
    due = w->interval > 0 ? w->interval : when_auto_interval(w);
    return log_now() - w->last >= due ? CKPT_SAVE_INTERVAL : CKPT_SAVE_NO;
}

void when_save_begins(when_t *w)
{
    w->seen = (unsigned long)caught;
}

void when_saved(when_t *w, double seconds)
{
    if (w->nstall == WHEN_STALLS) {
        memmove(w->stall, w->stall + 1, (WHEN_STALLS - 1) * sizeof *w->stall);
        w->nstall--;
    }
    w->stall[w->nstall++] = seconds;
    w->last = log_now();
}
