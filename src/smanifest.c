#include "smanifest.h"
#include "manifest.h"
#include "ckpt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define MAGIC "ckpt-storage-manifest 1"

void sm_manifest_name(const char *job, int64_t step, char *buf, size_t n)
{
    snprintf(buf, n, SM_PREFIX_FMT "step-%020" PRId64, job, step);
}

int64_t sm_step_of(const char *name)
{
    const char *p = strstr(name, "/manifest/step-");
    char *end;
    long long s;
    if (p == NULL)
        return -1;
    s = strtoll(p + 15, &end, 10);
    return *end == '\0' && end - (p + 15) == 20 && s >= 0 ? (int64_t)s : -1;
}

void sm_object_name(const char *job, int64_t step, int node, int spread,
                    char *buf, size_t n)
{
    char key[CKPT_NAME_MAX + 64];
    int len = snprintf(key, sizeof key, "%s/step-%" PRId64 "/node-%d", job,
                       step, node);
    if (spread)
        snprintf(buf, n, "%04x/%s",
                 (unsigned)(XXH3_64bits(key, (size_t)len) >> 48), key);
    else
        snprintf(buf, n, "%s", key);
}

int sm_alloc(smanifest_t *m, int nnodes, int nranks)
{
    m->nnodes = nnodes;
    m->nranks = nranks;
    m->obj = calloc((size_t)nnodes + 1, sizeof *m->obj);
    m->r = calloc((size_t)nranks + 1, sizeof *m->r);
    return m->obj && m->r ? 0 : -1;
}

void sm_free(smanifest_t *m)
{
    free(m->obj);
    free(m->r);
    m->obj = NULL;
    m->r = NULL;
}

int sm_format(const smanifest_t *m, char **text, size_t *len, ckpt_err_t *e)
{
    FILE *f = open_memstream(text, len);
    if (f == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory formatting a manifest");
    fprintf(f, MAGIC "\njob %s\nstep %" PRId64 "\nnodes %d\nranks %d\n", m->job,
            m->step, m->nnodes, m->nranks);
    for (int n = 0; n < m->nnodes; n++)
        fprintf(f, "object %d %" PRIu64 " %s\n", n, m->obj[n].size, m->obj[n].name);
    for (int r = 0; r < m->nranks; r++)
        fprintf(f, "range %d %d %" PRIu64 " %" PRIu64 " %016" PRIx64 "\n", r,
                m->r[r].node, m->r[r].off, m->r[r].size, m->r[r].digest);
    if (fclose(f) != 0 || manifest_seal(text, len) != 0) {
        free(*text);
        *text = NULL;
        return err_set(e, CKPT_ENOMEM, "out of memory formatting a manifest");
    }
    return CKPT_OK;
}

/* Header lines, then objects and ranges, which need the counts first. */
static int parse_line(smanifest_t *m, const char *line)
{
    int i, node;
    sm_range_t x;
    char name[SM_NAME_MAX];
    uint64_t size;
    if (sscanf(line, "object %d %" SCNu64 " %511s", &i, &size, name) == 3) {
        if (m->obj == NULL || i < 0 || i >= m->nnodes)
            return -1;
        m->obj[i].size = size;
        snprintf(m->obj[i].name, sizeof m->obj[i].name, "%s", name);
        return 0;
    }
    if (sscanf(line, "range %d %d %" SCNu64 " %" SCNu64 " %" SCNx64, &i, &node,
               &x.off, &x.size, &x.digest) == 5) {
        if (m->r == NULL || i < 0 || i >= m->nranks || node < 0 || node >= m->nnodes)
            return -1;
        x.node = node;
        m->r[i] = x;
        return 0;
    }
    if (sscanf(line, "job %255s", m->job) == 1 ||
        sscanf(line, "step %" SCNd64, &m->step) == 1 ||
        sscanf(line, "nodes %d", &m->nnodes) == 1)
        return 0;
    if (m->obj == NULL && sscanf(line, "ranks %d", &m->nranks) == 1)
        return m->nnodes > 0 && m->nranks > 0 && m->nranks < (1 << 24) &&
                       m->nnodes <= m->nranks && sm_alloc(m, m->nnodes, m->nranks) == 0
                   ? 0 : -1;
    return -1;
}

int sm_parse(char *text, size_t len, smanifest_t *m, ckpt_err_t *e)
{
    char *save = NULL, *line;
    memset(m, 0, sizeof *m);
    if (manifest_unseal(text, len) != 0)
        return err_set(e, CKPT_ECORRUPT, "storage manifest is damaged (checksum)");
    line = strtok_r(text, "\n", &save);
    if (line == NULL || strcmp(line, MAGIC))
        return err_set(e, CKPT_ECORRUPT, "storage manifest: unknown format");
    while ((line = strtok_r(NULL, "\n", &save)) != NULL)
        if (parse_line(m, line) != 0) {
            sm_free(m);
            return err_set(e, CKPT_ECORRUPT, "storage manifest: bad line '%.80s'",
                           line);
        }
    if (m->obj == NULL) {
        sm_free(m);
        return err_set(e, CKPT_ECORRUPT, "storage manifest: no ranks");
    }
    return CKPT_OK;
}
