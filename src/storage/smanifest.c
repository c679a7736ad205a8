#include "smanifest.h"
#include "manifest.h"
#include "textrec.h"
#include "ckpt.h"
#include "xxh.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "ckpt-storage-manifest 2"
/* The shortest object or range line: a count claimed beyond len / this
 * cannot be in the text, and is refused before anything is allocated. */
#define MIN_LINE 10

void sm_manifest_name(const char *job, int64_t step, char *buf, size_t n)
{
    snprintf(buf, n, SM_PREFIX_FMT "step-%020" PRId64, job, step);
}

int64_t sm_step_of(const char *job, const char *name)
{
    size_t jl = strlen(job);
    uint64_t s;
    if (strncmp(name, job, jl) != 0 || strncmp(name + jl, "/manifest/step-", 15))
        return -1;
    name += jl + 15;
    /* 20 digits with leading zeros: skip them, then read strictly */
    if (strlen(name) != 20 || strspn(name, "0123456789") != 20)
        return -1;
    while (name[0] == '0' && name[1] != '\0')
        name++;
    return tr_u64(name, INT64_MAX, &s) == 0 ? (int64_t)s : -1;
}

void sm_object_name(const char *job, int64_t step, uint64_t generation,
                    int node, int spread, char *buf, size_t n)
{
    char key[CKPT_NAME_MAX + 96];
    int len = snprintf(key, sizeof key, "%s/step-%" PRId64 "/g%016" PRIx64
                       "/node-%d", job, step, generation, node);
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

void sm_name_objects(smanifest_t *m)
{
    for (int n = 0; n < m->nnodes; n++)
        sm_object_name(m->job, m->step, m->generation, n, m->spread,
                       m->obj[n].name, sizeof m->obj[n].name);
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
    FILE *f = tr_begin(text, len, MAGIC, m->job, m->step, m->generation);
    if (f == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory formatting a manifest");
    fprintf(f, "spread %d\nnodes %d\nranks %d\n", m->spread, m->nnodes,
            m->nranks);
    for (int n = 0; n < m->nnodes; n++)
        fprintf(f, "object %d %" PRIu64 " %s\n", n, m->obj[n].size, m->obj[n].name);
    for (int r = 0; r < m->nranks; r++)
        fprintf(f, "range %d %d %" PRIu64 " %" PRIu64 " %016" PRIx64 "\n", r,
                m->r[r].node, m->r[r].off, m->r[r].size, m->r[r].digest);
    if (tr_end(f, text, len) != 0)
        return err_set(e, CKPT_ENOMEM, "out of memory formatting a manifest");
    return CKPT_OK;
}

static int parse_header(smanifest_t *m, char **cur, size_t len)
{
    char *v;
    int nnodes, nranks;
    if (tr_head(cur, MAGIC, m->job, &m->step, &m->generation) ||
        tr_keyword(tr_line(cur), "spread", &v) || tr_int(v, 1, &m->spread) ||
        tr_keyword(tr_line(cur), "nodes", &v) || tr_int(v, MF_MAX_RANKS, &nnodes) ||
        tr_keyword(tr_line(cur), "ranks", &v) || tr_int(v, MF_MAX_RANKS, &nranks))
        return -1;
    if (nnodes < 1 || nnodes > nranks ||
        (uint64_t)nnodes + (uint64_t)nranks > len / MIN_LINE)
        return -1;
    return sm_alloc(m, nnodes, nranks) == 0 ? 0 : -2;
}

/* "object <n> <size> <name>", the name as recomputed. */
static int parse_object(smanifest_t *m, int n, char *line)
{
    char *w[4];
    int i;
    return line != NULL && tr_words(line, w, 4) == 0 && !strcmp(w[0], "object") &&
                   tr_int(w[1], m->nnodes - 1, &i) == 0 && i == n &&
                   tr_u64(w[2], INT64_MAX, &m->obj[n].size) == 0 &&
                   !strcmp(w[3], m->obj[n].name)
               ? 0 : -1;
}

/* "range <r> <node> <offset> <size> <digest>", inside its object. */
static int parse_range(smanifest_t *m, int r, char *line)
{
    char *w[6];
    int i;
    sm_range_t *x = &m->r[r];
    if (line == NULL || tr_words(line, w, 6) != 0 || strcmp(w[0], "range") != 0 ||
        tr_int(w[1], m->nranks - 1, &i) != 0 || i != r ||
        tr_int(w[2], m->nnodes - 1, &x->node) != 0 ||
        tr_u64(w[3], INT64_MAX, &x->off) != 0 ||
        tr_u64(w[4], INT64_MAX, &x->size) != 0 || tr_hex64(w[5], &x->digest) != 0)
        return -1;
    return x->off + x->size <= m->obj[x->node].size ? 0 : -1;
}

int sm_parse(char *text, size_t len, smanifest_t *m, ckpt_err_t *e)
{
    char *cur = text, *line = NULL;
    int rc;
    memset(m, 0, sizeof *m);
    if (tr_unseal(text, len) != 0)
        return err_set(e, CKPT_ECORRUPT, "storage manifest is damaged (checksum)");
    if ((rc = parse_header(m, &cur, len)) != 0) {
        sm_free(m);
        return rc == -2 ? err_set(e, CKPT_ENOMEM, "out of memory reading a "
                                  "storage manifest")
                        : err_set(e, CKPT_ECORRUPT, "storage manifest: "
                                  "malformed header");
    }
    sm_name_objects(m);
    for (int n = 0; rc == 0 && n < m->nnodes; n++)
        rc = parse_object(m, n, line = tr_line(&cur));
    for (int r = 0; rc == 0 && r < m->nranks; r++)
        rc = parse_range(m, r, line = tr_line(&cur));
    if (rc == 0 && (line = tr_line(&cur)) == NULL)
        return CKPT_OK;
    sm_free(m);
    return err_set(e, CKPT_ECORRUPT, "storage manifest of step %" PRId64
                   ": bad or missing line%s%.80s%s", m->step, line ? " '" : "",
                   line ? line : "", line ? "'" : "");
}
