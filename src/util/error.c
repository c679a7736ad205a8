#include "error.h"
#include "ckpt.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int err_vset(ckpt_err_t *e, int cause, int code, const char *fmt,
                    va_list ap)
{
    if (e->code == CKPT_OK) {
        e->code = code;
        e->cause = cause;
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    }
    return code;
}

int err_set_cause(ckpt_err_t *e, int cause, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(e, cause, code, fmt, ap);
    va_end(ap);
    return code;
}

int err_set(ckpt_err_t *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(e, ERR_CAUSE_NONE, code, fmt, ap);
    va_end(ap);
    return code;
}

int err_from_errno(int errnum)
{
    switch (errnum) {
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
        return CKPT_ENOSPC;
    case ENOMEM:
        return CKPT_ENOMEM;
    default:
        return CKPT_EIO;
    }
}

int err_sys(ckpt_err_t *e, int errnum, const char *fmt, ...)
{
    char what[CKPT_MSG_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return err_set(e, err_from_errno(errnum), "%s: %s", what, strerror(errnum));
}

void err_clear(ckpt_err_t *e)
{
    e->code = CKPT_OK;
    e->cause = ERR_CAUSE_NONE;
    e->msg[0] = '\0';
}

int err_agree(MPI_Comm comm, ckpt_err_t *e)
{
    int rank, first, mine;
    MPI_Comm_rank(comm, &rank);
    mine = e->code != CKPT_OK ? rank : INT_MAX;
    if (MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
        goto mpi_failed;
    if (first == INT_MAX)
        return CKPT_OK;
    /* One failure is broadcast so that every rank reports the same thing. */
    if (MPI_Bcast(&e->code, 1, MPI_INT, first, comm) != MPI_SUCCESS ||
        MPI_Bcast(&e->cause, 1, MPI_INT, first, comm) != MPI_SUCCESS ||
        MPI_Bcast(e->msg, sizeof e->msg, MPI_CHAR, first, comm) != MPI_SUCCESS)
        goto mpi_failed;
    return e->code;
mpi_failed:
    e->code = CKPT_OK;
    return err_set(e, CKPT_EMPI, "MPI failed while agreeing on an outcome");
}
