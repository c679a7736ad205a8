#include "region.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
} types[] = {
    [CKPT_BYTE] = {"byte", 1},       [CKPT_INT32] = {"int32", 4},
    [CKPT_INT64] = {"int64", 8},     [CKPT_UINT32] = {"uint32", 4},
    [CKPT_UINT64] = {"uint64", 8},   [CKPT_FLOAT16] = {"float16", 2},
    [CKPT_BFLOAT16] = {"bfloat16", 2}, [CKPT_FLOAT] = {"float", 4},
    [CKPT_DOUBLE] = {"double", 8},
};
#define NTYPES ((int)(sizeof types / sizeof types[0]))

size_t type_size(ckpt_type_t t)
{
    return (int)t >= 0 && (int)t < NTYPES ? types[t].size : 0;
}

const char *type_name(ckpt_type_t t)
{
    return (int)t >= 0 && (int)t < NTYPES ? types[t].name : "unknown";
}

int type_from_name(const char *s)
{
    for (int i = 0; i < NTYPES; i++)
        if (!strcmp(types[i].name, s))
            return i;
    return -1;
}

uint64_t region_bytes(const region_t *r)
{
    return (uint64_t)r->count * type_size(r->type);
}

region_t *region_find(region_set_t *rs, const char *name)
{
    for (int i = 0; i < rs->n; i++)
        if (!strcmp(rs->v[i].name, name))
            return &rs->v[i];
    return NULL;
}

int region_put(region_set_t *rs, const region_t *in)
{
    region_t *r = region_find(rs, in->name);
    if (r == NULL) {
        if (rs->n == rs->cap) {
            int cap = rs->cap ? 2 * rs->cap : 8;
            region_t *v = realloc(rs->v, (size_t)cap * sizeof *v);
            if (v == NULL)
                return CKPT_ENOMEM;
            rs->v = v;
            rs->cap = cap;
        }
        r = &rs->v[rs->n++];
    }
    *r = *in;
    return CKPT_OK;
}

static const char *const kind_names[] = {"private", "global", "replicated"};

const char *region_kind_name(int kind)
{
    return kind >= 0 && kind <= REGION_REPLICATED ? kind_names[kind] : "?";
}

int region_kind_from_name(const char *s)
{
    for (int k = 0; k <= REGION_REPLICATED; k++)
        if (strcmp(s, kind_names[k]) == 0)
            return k;
    return -1;
}

int region_del(region_set_t *rs, const char *name)
{
    region_t *r = region_find(rs, name);
    if (r == NULL)
        return CKPT_EINVAL;
    memmove(r, r + 1, (size_t)(rs->v + rs->n - (r + 1)) * sizeof *r);
    rs->n--;
    return CKPT_OK;
}

void region_set_free(region_set_t *rs)
{
    free(rs->v);
    rs->v = NULL;
    rs->n = rs->cap = 0;
}
