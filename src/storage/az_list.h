/* One page of an Azure List Blobs answer, parsed strictly: the storage
 * service is not trusted to send what the protocol says. Pure: bytes in,
 * names and the next marker (or an error) out; no network, no clock. */
#ifndef CKPT_AZ_LIST_H
#define CKPT_AZ_LIST_H

#include <stddef.h>
#include "error.h"

#define AZ_NAME_MAX 1024   /* longest blob name Azure allows */
#define AZ_MARKER_MAX 1024 /* longest continuation marker we accept */

typedef struct az_list {
    char **names;     /* malloc'd names of the pages so far (st_names_add) */
    int n, cap;
    int max_names;    /* more names in all is an error */
    /* In: the marker the page was asked with ("" for the first page).
     * Out: its NextMarker, "" after the last page. */
    char marker[AZ_MARKER_MAX + 1];
} az_list_t;

/* Parses the page xml (len bytes, need not end in NUL) of a listing of
 * prefix. The root must be <EnumerationResults> with one <Blobs> of <Blob>
 * elements, each with one <Name>: 1 to AZ_NAME_MAX bytes, no control
 * characters, starting with prefix, not Encoded; at most one <NextMarker>,
 * at most AZ_MARKER_MAX bytes, printable, and not the marker asked with
 * ("storage repeats its listing marker"); no DTD. Anything else is
 * CKPT_ESTORAGE with a message saying what is wrong, and l->marker is then
 * "". Names added before an error stay in l for the caller to free. */
int az_list_parse(const char *xml, size_t len, const char *prefix,
                  az_list_t *l, ckpt_err_t *e);

#endif
