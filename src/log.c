#include "log.h"

#include <stdarg.h>
#include <stdio.h>

void log_msg(const ckpt_log_t *lg, int level, const char *fmt, ...)
{
    static const char *tag[] = {"", "warning: ", "", "debug: "};
    char line[1200];
    va_list ap;
    if (lg == NULL || level > lg->verbose)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One fprintf per line so that lines of different ranks do not interleave. */
    fprintf(stderr, "ckpt[%d]: %s%s\n", lg->rank, tag[level], line);
}
