/* Error codes, detailed messages, and collective agreement on an outcome. */
#ifndef CKPT_ERROR_H
#define CKPT_ERROR_H

#include <mpi.h>

#define CKPT_MSG_MAX 1024

/* Why an operation failed, where the code alone does not tell a caller
 * what to do next. Callers test this, never the message's text. */
enum {
    ERR_CAUSE_NONE = 0,
    ERR_CAUSE_DOWN = 1  /* storage did not answer within storage_timeout */
};

/* The outcome of an operation: a CKPT_* code, its cause and a human
 * message. */
typedef struct ckpt_err {
    int code;
    int cause;   /* ERR_CAUSE_* */
    char msg[CKPT_MSG_MAX];
} ckpt_err_t;

/* Record code and a printf-style message in e (when e->code is still 0:
 * the first failure is the cause, later ones are consequences). Returns code. */
int err_set(ckpt_err_t *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like err_set, recording a cause (ERR_CAUSE_*) with the code. */
int err_set_cause(ckpt_err_t *e, int cause, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Like err_set, appending ": strerror(errnum)"; the code is chosen from errnum. */
int err_sys(ckpt_err_t *e, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The CKPT_* code for an errno value (ENOSPC, ENOMEM, else EIO). */
int err_from_errno(int errnum);

void err_clear(ckpt_err_t *e);

/* Collective: every rank passes its own outcome; on return every rank holds
 * the outcome of the lowest failing rank (code, cause and message), or
 * CKPT_OK.
 * Returns e->code. An MPI failure inside becomes CKPT_EMPI. */
int err_agree(MPI_Comm comm, ckpt_err_t *e);

#endif
