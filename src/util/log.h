/* Diagnostics to stderr, prefixed with the rank, filtered by `verbose`. */
#ifndef CKPT_LOG_H
#define CKPT_LOG_H

/* LOG_NOTE: progress shown from verbose 1, without the warning tag. */
enum { LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3, LOG_NOTE = 4 };

typedef struct ckpt_log {
    int rank;
    int verbose; /* 0 silent .. 3 debug */
} ckpt_log_t;

void log_msg(const ckpt_log_t *lg, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Monotonic seconds. */
double log_now(void);
/* At debug level, how long the phase since *t took; *t becomes now. */
void log_lap(const ckpt_log_t *lg, const char *phase, double *t);

#endif
