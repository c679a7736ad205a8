/* What the storage backends share with storage.c; not for other modules. */
#ifndef CKPT_STORAGE_IMPL_H
#define CKPT_STORAGE_IMPL_H

#include <stdatomic.h>
#include "storage.h"

typedef struct st_backend {
    int (*put)(storage_t *st, const char *name, const void *buf, size_t len,
               ckpt_err_t *e);
    int (*put_files)(storage_t *st, const char *name, const st_source_t *src,
                     ckpt_err_t *e);
    int (*get)(storage_t *st, const char *name, char **buf, size_t *len,
               ckpt_err_t *e);
    int (*get_range)(storage_t *st, const char *name, uint64_t off,
                     uint64_t len, int fd, ckpt_err_t *e);
    int (*list)(storage_t *st, const char *prefix, char ***names, int *n,
                ckpt_err_t *e);
    int (*del)(storage_t *st, const char *name, ckpt_err_t *e);
    int (*create_container)(storage_t *st, ckpt_err_t *e);
    void (*close)(storage_t *st);
} st_backend_t;

struct storage {
    const st_backend_t *be;
    void *impl;
    uint64_t block_size;
    int concurrency, read_concurrency, timeout;
    _Atomic uint64_t requests[OP_COUNT], bytes[OP_COUNT], retries[OP_COUNT];
    atomic_int hold;
};

/* Sleeps while the storage is held. */
void st_wait_hold(storage_t *st);

void st_count(storage_t *st, int op, uint64_t bytes);
void st_count_retry(storage_t *st, int op);

int st_file_open(storage_t *st, const char *root, ckpt_err_t *e);
int st_azure_open(storage_t *st, const st_params_t *p, ckpt_err_t *e);

/* A growable list of names, for the backends' list(). */
int st_names_add(char ***names, int *n, int *cap, const char *name);
void st_names_sort(char **names, int n);

#endif
