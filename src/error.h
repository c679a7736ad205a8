/* Error codes, detailed messages, and collective agreement on an outcome. */
#ifndef CKPT_ERROR_H
#define CKPT_ERROR_H

#include <mpi.h>

#define CKPT_MSG_MAX 1024

/* The outcome of an operation: a CKPT_* code and a human message. */
typedef struct ckpt_err {
    int code;
    char msg[CKPT_MSG_MAX];
} ckpt_err_t;

/* Record code and a printf-style message in e (when e->code is still 0:
 * the first failure is the cause, later ones are consequences). Returns code. */
int err_set(ckpt_err_t *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like err_set, appending ": strerror(errnum)"; the code is chosen from errnum. */
int err_sys(ckpt_err_t *e, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The CKPT_* code for an errno value (ENOSPC, ENOMEM, else EIO). */
int err_from_errno(int errnum);

void err_clear(ckpt_err_t *e);

/* Collective: every rank passes its own outcome; on return every rank holds
 * the outcome of the lowest failing rank (code and message), or CKPT_OK.
 * Returns e->code. An MPI failure inside becomes CKPT_EMPI. */
int err_agree(MPI_Comm comm, ckpt_err_t *e);

#endif
