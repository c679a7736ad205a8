#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

void log_msg(const ckpt_log_t *lg, int level, const char *fmt, ...)
{
    static const char *tag[] = {"", "warning: ", "", "debug: ", ""};
    char line[1200];
    va_list ap;
    if (lg == NULL || (level == LOG_NOTE ? 1 : level) > lg->verbose)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One fprintf per line so that lines of different ranks do not interleave. */
    fprintf(stderr, "ckpt[%d]: %s%s\n", lg->rank, tag[level], line);
}

double log_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void log_lap(const ckpt_log_t *lg, const char *phase, double *t)
{
    double t1 = log_now();
    log_msg(lg, LOG_DEBUG, "%s %.1f ms", phase, 1e3 * (t1 - *t));
    *t = t1;
}
