/*
 * libckpt - fast, node-loss-safe checkpoints for MPI programs.
 *
 * The whole public API. Every function returns CKPT_OK (0) or a CKPT_E* code;
 * collective calls return the same code on every rank of the communicator
 * given to ckpt_init(). See ckpt(3) and the per-function man pages.
 */
#ifndef CKPT_H
#define CKPT_H

#include <stddef.h>
#include <stdint.h>
#include <mpi.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CKPT_LATEST ((int64_t)-1)

typedef struct ckpt ckpt_t; /* opaque */

typedef enum {
    CKPT_BYTE, CKPT_INT32, CKPT_INT64, CKPT_UINT32, CKPT_UINT64,
    CKPT_FLOAT16, CKPT_BFLOAT16, CKPT_FLOAT, CKPT_DOUBLE
} ckpt_type_t;

enum {
    CKPT_LEVEL_NONE = 0,
    CKPT_LEVEL_LOCAL = 1,
    CKPT_LEVEL_PARTNER = 2,
    CKPT_LEVEL_STORAGE = 3
};

enum {
    CKPT_OK = 0,
    CKPT_EINVAL,    /* bad argument */
    CKPT_ECONFIG,   /* bad configuration key or value */
    CKPT_ESTATE,    /* call not valid in the current state */
    CKPT_ENOENT,    /* no such (recoverable) checkpoint */
    CKPT_EMISMATCH, /* protected regions differ from the saved ones */
    CKPT_ECORRUPT,  /* checksum or format error */
    CKPT_EIO,       /* file system error */
    CKPT_ENOSPC,    /* no space left in the cache */
    CKPT_ESTORAGE,  /* object storage error */
    CKPT_EMPI,      /* MPI error */
    CKPT_ENOMEM     /* out of memory */
};

int ckpt_init(MPI_Comm comm, const char *config_path, ckpt_t **ck);
int ckpt_finalize(ckpt_t **ck);
int ckpt_protect(ckpt_t *ck, const char *name, void *buf, size_t count,
                 ckpt_type_t type);
/* This rank holds elements [offset, offset + count) of a global 1-D array of global_count
 * elements called name; the slices of all ranks tile the array exactly once (checked at
 * save). Restorable with any number of ranks, each declaring its own new slice. */
int ckpt_protect_global(ckpt_t *ck, const char *name, void *buf, size_t count,
                        ckpt_type_t type, uint64_t offset, uint64_t global_count);
/* Every rank holds the same contents (e.g. data-parallel weights). Stored once per step,
 * not once per rank: each rank writes about 1/N of it. Restored on every rank. */
int ckpt_protect_replicated(ckpt_t *ck, const char *name, void *buf, size_t count,
                            ckpt_type_t type);
int ckpt_unprotect(ckpt_t *ck, const char *name);
int ckpt_save(ckpt_t *ck, int64_t step);
int ckpt_restore(ckpt_t *ck, int64_t step, int64_t *restored);
int ckpt_latest(ckpt_t *ck, int64_t *step);
int ckpt_level(ckpt_t *ck, int64_t step, int *level);
int ckpt_wait(ckpt_t *ck, int64_t step, int level);

/* Whether the program should save now (collective: one small reduction);
 * *reason is the same on every rank. CKPT_SAVE_SIGNAL once any rank caught
 * one of save_signals (default USR1,TERM) since the last save began: save
 * and exit. CKPT_SAVE_INTERVAL once save_interval seconds passed since the
 * last save (auto: Young/Daly from this job's saves and mtbf_hours). */
enum { CKPT_SAVE_NO = 0, CKPT_SAVE_INTERVAL = 1, CKPT_SAVE_SIGNAL = 2 };
int ckpt_need_save(ckpt_t *ck, int *reason);   /* same *reason on every rank */
const char *ckpt_strerror(int code);
const char *ckpt_errmsg(const ckpt_t *ck);

#ifdef __cplusplus
}
#endif
#endif /* CKPT_H */
