/* The protected regions of one rank, and the element types. */
#ifndef CKPT_REGION_H
#define CKPT_REGION_H

#include <stddef.h>
#include <stdint.h>
#include "ckpt.h"
#include "config.h"

/* What a region is across ranks: private to its rank, a slice of a
 * global 1-D array, or the same contents on every rank. */
enum { REGION_PRIVATE = 0, REGION_GLOBAL = 1, REGION_REPLICATED = 2 };

typedef struct region {
    char name[CKPT_NAME_MAX + 1];
    void *buf;
    size_t count;
    ckpt_type_t type;
    int kind;        /* REGION_* */
    uint64_t goff;   /* global, replicated: elements [goff, goff + count) */
    uint64_t gcount; /* of an array of gcount elements */
} region_t;

typedef struct region_set {
    region_t *v;
    int n, cap;
} region_set_t;

size_t type_size(ckpt_type_t t);         /* 0 for an unknown type */
const char *type_name(ckpt_type_t t);    /* "float", "bfloat16", ... */
int type_from_name(const char *s);       /* -1 if unknown */

region_t *region_find(region_set_t *rs, const char *name);
/* Adds or updates (by r->name); CKPT_ENOMEM on allocation failure. */
int region_put(region_set_t *rs, const region_t *r);
const char *region_kind_name(int kind);  /* "private", "global", ... */
int region_kind_from_name(const char *s); /* -1 if unknown */
int region_del(region_set_t *rs, const char *name); /* CKPT_EINVAL if absent */
void region_set_free(region_set_t *rs);
uint64_t region_bytes(const region_t *r);

#endif
