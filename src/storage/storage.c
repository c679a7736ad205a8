#include "storage_impl.h"
#include "ckpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *op_names[OP_COUNT] = {
    "put-block", "put-block-list", "put", "get", "list", "delete"};

const char *storage_op_name(int op)
{
    return op >= 0 && op < OP_COUNT ? op_names[op] : "?";
}

void storage_close(storage_t *st)
{
    if (st == NULL)
        return;
    st->be->close(st);
    free(st);
}

void st_count(storage_t *st, int op, uint64_t bytes)
{
    atomic_fetch_add(&st->requests[op], 1);
    atomic_fetch_add(&st->bytes[op], bytes);
}

void st_count_retry(storage_t *st, int op)
{
    atomic_fetch_add(&st->retries[op], 1);
}

void storage_stats(const storage_t *st, st_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (st == NULL)
        return;
    for (int i = 0; i < OP_COUNT; i++) {
        out->requests[i] = atomic_load(&st->requests[i]);
        out->bytes[i] = atomic_load(&st->bytes[i]);
        out->retries[i] = atomic_load(&st->retries[i]);
    }
}

void storage_stats_line(const st_stats_t *s, char *buf, size_t n)
{
    size_t used = 0;
    snprintf(buf, n, "none");
    for (int i = 0; i < OP_COUNT && used < n; i++) {
        if (s->requests[i] == 0)
            continue;
        used += (size_t)snprintf(buf + used, n - used, "%s%s %llu (%llu retried) "
                                 "%llu bytes", used ? ", " : "", op_names[i],
                                 (unsigned long long)s->requests[i],
                                 (unsigned long long)s->retries[i],
                                 (unsigned long long)s->bytes[i]);
    }
}

int storage_put(storage_t *st, const char *name, const void *buf, size_t len,
                ckpt_err_t *e)
{
    return st->be->put(st, name, buf, len, e);
}

int storage_put_files(storage_t *st, const char *name, const st_source_t *src,
                      ckpt_err_t *e)
{
    return st->be->put_files(st, name, src, e);
}

int storage_get(storage_t *st, const char *name, char **buf, size_t *len,
                ckpt_err_t *e)
{
    *buf = NULL;
    *len = 0;
    return st->be->get(st, name, buf, len, e);
}

int storage_get_range(storage_t *st, const char *name, uint64_t off,
                      uint64_t len, int fd, ckpt_err_t *e)
{
    return st->be->get_range(st, name, off, len, fd, e);
}

int storage_list(storage_t *st, const char *prefix, char ***names, int *n,
                 ckpt_err_t *e)
{
    *names = NULL;
    *n = 0;
    if (st->be->list(st, prefix, names, n, e) != CKPT_OK) {
        storage_names_free(*names, *n);
        *names = NULL;
        *n = 0;
        return e->code;
    }
    st_names_sort(*names, *n);
    return CKPT_OK;
}

int storage_delete(storage_t *st, const char *name, ckpt_err_t *e)
{
    return st->be->del(st, name, e);
}

int storage_create_container(storage_t *st, ckpt_err_t *e)
{
    return st->be->create_container(st, e);
}

int st_names_add(char ***names, int *n, int *cap, const char *name)
{
    if (*n == *cap) {
        int ncap = *cap ? 2 * *cap : 16;
        char **v = realloc(*names, (size_t)ncap * sizeof *v);
        if (v == NULL)
            return -1;
        *names = v;
        *cap = ncap;
    }
    if (((*names)[*n] = strdup(name)) == NULL)
        return -1;
    (*n)++;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void st_names_sort(char **names, int n)
{
    if (n > 1)
        qsort(names, (size_t)n, sizeof *names, cmp_name);
}

void storage_names_free(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int storage_is_down(const ckpt_err_t *e)
{
    return e->code == CKPT_ESTORAGE && e->cause == ERR_CAUSE_DOWN;
}

void storage_hold(storage_t *st, int on)
{
    if (st)
        atomic_store(&st->hold, on);
}

void st_wait_hold(storage_t *st)
{
    while (atomic_load(&st->hold))
        usleep(2000);
}

int storage_set_timeout(storage_t *st, int seconds)
{
    int old = st->timeout;
    st->timeout = seconds;
    return old;
}
