/* Object storage: a file:// directory or an Azure Blob container, behind one
 * small interface. Every request and byte is counted by operation. Calls are
 * blocking and may run from any thread; each call makes its own connections. */
#ifndef CKPT_STORAGE_H
#define CKPT_STORAGE_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

typedef enum {
    OP_PUT_BLOCK, OP_PUT_BLOCK_LIST, OP_PUT, OP_GET, OP_LIST, OP_DELETE,
    OP_COUNT
} st_op_t;

typedef struct st_stats {
    uint64_t requests[OP_COUNT];
    uint64_t bytes[OP_COUNT];   /* bodies sent (puts) or received (gets) */
    uint64_t retries[OP_COUNT]; /* of the requests: repeats after a
                                   transient error */
} st_stats_t;

/* The bytes of one object: files read back to back. */
typedef struct st_source {
    int n;
    char (*path)[4096];
    uint64_t *size;
} st_source_t;

typedef struct st_params {
    const char *url;      /* file:///abs/path or https://acct.../container */
    const char *account, *key, *sas;
    uint64_t block_size;  /* Put Block size, and ranged GET size */
    int concurrency;      /* requests in flight in one upload */
    int read_concurrency; /* ranged GETs in flight in one read (0: as above) */
    int timeout;          /* seconds a request may keep failing */
} st_params_t;

typedef struct storage storage_t;

/* storage_get refuses a larger object (manifests are far smaller). */
#define ST_GET_MAX (64u << 20)
#define ST_GET_MAX_TEXT "64 MiB"
/* storage_list refuses a listing of more names. */
#define ST_LIST_MAX 1000000

/* Checks the URL and credentials' form; makes no request. */
int storage_open(storage_t **st, const st_params_t *p, ckpt_err_t *e);
void storage_close(storage_t *st);
const char *storage_op_name(int op);
void storage_stats(const storage_t *st, st_stats_t *out);
/* One line "put-block 3 (0 retried) 50331648 bytes, ..." of the operations
 * used, for logs. */
void storage_stats_line(const st_stats_t *s, char *buf, size_t n);

int storage_put(storage_t *st, const char *name, const void *buf, size_t len,
                ckpt_err_t *e);
/* Uploads src as one object (blocks and a block list when it is larger than
 * the block size), each block checked by the service. */
int storage_put_files(storage_t *st, const char *name, const st_source_t *src,
                      ckpt_err_t *e);
/* Whole small object into a malloc'd, NUL-terminated buffer. A missing
 * object is CKPT_ENOENT; one larger than ST_GET_MAX is CKPT_ESTORAGE. */
int storage_get(storage_t *st, const char *name, char **buf, size_t *len,
                ckpt_err_t *e);
/* len bytes at off of the object, written to fd at offset 0, with parallel
 * ranged requests. */
int storage_get_range(storage_t *st, const char *name, uint64_t off,
                      uint64_t len, int fd, ckpt_err_t *e);
/* Names starting with prefix, sorted; *names is an array of malloc'd
 * strings (free with storage_names_free). A listing that has not ended
 * storage_timeout seconds after it began is given up (storage_is_down);
 * one of more than ST_LIST_MAX names, or a malformed answer, is
 * CKPT_ESTORAGE. */
int storage_list(storage_t *st, const char *prefix, char ***names, int *n,
                 ckpt_err_t *e);
void storage_names_free(char **names, int n);
/* 1 if e is storage that kept failing transiently (down or overloaded), as
 * opposed to a refusal such as bad credentials. */
int storage_is_down(const ckpt_err_t *e);
/* While held, transfers pause and no request starts: a save's stall must not
 * grow because of storage. Any thread may hold and release. */
void storage_hold(storage_t *st, int on);
/* Sets how long requests may keep failing (and an attempt, or a listing,
 * may last); returns the old value. */
int storage_set_timeout(storage_t *st, int seconds);
/* A missing object is not an error. */
int storage_delete(storage_t *st, const char *name, ckpt_err_t *e);
/* For tests and tools: create the container (or directory). */
int storage_create_container(storage_t *st, ckpt_err_t *e);

#endif
