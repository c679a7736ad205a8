/* Which backend serves a storage_url: the only file that knows them all,
 * so that the backends can share storage.c's helpers without storage.c
 * reaching back into them. */
#include "storage_impl.h"
#include "ckpt.h"

#include <stdlib.h>
#include <string.h>

int storage_open(storage_t **out, const st_params_t *p, ckpt_err_t *e)
{
    storage_t *st = calloc(1, sizeof *st);
    int rc;
    *out = NULL;
    if (st == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory opening storage");
    st->block_size = p->block_size;
    st->concurrency = p->concurrency > 0 ? p->concurrency : 1;
    st->read_concurrency = p->read_concurrency > 0 ? p->read_concurrency
                                                   : st->concurrency;
    st->timeout = p->timeout;
    if (!strncmp(p->url, "file://", 7))
        rc = st_file_open(st, p->url + 7, e);
    else if (!strncmp(p->url, "https://", 8) || !strncmp(p->url, "http://", 7))
        rc = st_azure_open(st, p, e);
    else
        rc = err_set(e, CKPT_ECONFIG, "storage_url must start with file://, "
                     "https:// or http://");
    if (rc != CKPT_OK) {
        free(st);
        return rc;
    }
    *out = st;
    return CKPT_OK;
}
