/* libFuzzer harness: one page of an Azure List Blobs answer, from a
 * service that is not trusted. What az_list_parse accepts must keep its
 * promises (names of the prefix, of 1 to AZ_NAME_MAX bytes without control
 * characters; a next marker that differs from the one asked with); what it
 * refuses must be CKPT_ESTORAGE with a message and no marker to follow.
 * The first input byte chooses whether the page was asked with a marker. */
#include "fuzz.h"
#include "az_list.h"
#include "storage.h"
#include "ckpt.h"

#include <string.h>

#define PREFIX "job/manifest/"

static void check_names(const az_list_t *l)
{
    for (int i = 0; i < l->n; i++) {
        size_t n = strlen(l->names[i]);
        if (n == 0 || n > AZ_NAME_MAX || strncmp(l->names[i], PREFIX, strlen(PREFIX)))
            fz_fail("a listed name is empty, too long or outside the prefix");
        for (size_t k = 0; k < n; k++)
            if ((unsigned char)l->names[i][k] < 32)
                fz_fail("a listed name holds a control character");
    }
    if (l->n > l->max_names)
        fz_fail("more names than allowed");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    az_list_t l = {.max_names = 1000};
    ckpt_err_t e = {0};
    int rc;
    if (size == 0)
        return 0;
    if (data[0] & 1)
        strcpy(l.marker, "2!72!MDAwMDEy");
    rc = az_list_parse((const char *)data + 1, size - 1, PREFIX, &l, &e);
    if (rc == CKPT_OK) {
        check_names(&l);
        if ((data[0] & 1) && !strcmp(l.marker, "2!72!MDAwMDEy"))
            fz_fail("a page that repeats its marker was accepted");
    } else if (rc != CKPT_ESTORAGE || !e.msg[0] || l.marker[0]) {
        fz_fail("a refused page is not CKPT_ESTORAGE with a message and no marker");
    }
    storage_names_free(l.names, l.n);
    return 0;
}
