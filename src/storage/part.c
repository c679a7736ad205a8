#include "part.h"
#include "manifest.h"
#include "textrec.h"
#include "ckpt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "ckpt-flush-part 1"

void part_name(const char *job, int64_t step, uint64_t generation, int node,
               char *buf, size_t n)
{
    int k = snprintf(buf, n, "%s/flush/step-%020" PRId64 "/g%016" PRIx64 "/",
                     job, step, generation);
    if (node >= 0 && k > 0 && (size_t)k < n)
        snprintf(buf + k, n - (size_t)k, "node-%d", node);
}

int part_node_of(const char *prefix, const char *name)
{
    size_t pl = strlen(prefix);
    int node;
    if (strncmp(name, prefix, pl) || strncmp(name + pl, "node-", 5) ||
        tr_int(name + pl + 5, MF_MAX_RANKS, &node))
        return -1;
    return node;
}

int part_alloc(part_t *p, int n)
{
    p->n = n;
    p->rank = calloc((size_t)n + 1, sizeof *p->rank);
    p->size = calloc((size_t)n + 1, sizeof *p->size);
    p->digest = calloc((size_t)n + 1, sizeof *p->digest);
    return p->rank && p->size && p->digest ? 0 : -1;
}

void part_free(part_t *p)
{
    free(p->rank);
    free(p->size);
    free(p->digest);
    p->rank = NULL;
    p->size = p->digest = NULL;
    p->n = 0;
}

int part_format(const part_t *p, char **text, size_t *len, ckpt_err_t *e)
{
    FILE *f = tr_begin(text, len, MAGIC, p->job, p->step, p->generation);
    if (f == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory formatting a part");
    fprintf(f, "node %d\nnodes %d\nranks %d\n", p->node, p->nnodes, p->nranks);
    for (int i = 0; i < p->n; i++)
        fprintf(f, "range %d %" PRIu64 " %016" PRIx64 "\n", p->rank[i],
                p->size[i], p->digest[i]);
    if (tr_end(f, text, len) != 0)
        return err_set(e, CKPT_ENOMEM, "out of memory formatting a part");
    return CKPT_OK;
}

static int parse_header(part_t *p, char **cur)
{
    char *v;
    if (tr_head(cur, MAGIC, p->job, &p->step, &p->generation) ||
        tr_keyword(tr_line(cur), "node", &v) || tr_int(v, MF_MAX_RANKS, &p->node) ||
        tr_keyword(tr_line(cur), "nodes", &v) || tr_int(v, MF_MAX_RANKS, &p->nnodes) ||
        tr_keyword(tr_line(cur), "ranks", &v) || tr_int(v, MF_MAX_RANKS, &p->nranks))
        return -1;
    return p->node < p->nnodes && p->nnodes <= p->nranks ? 0 : -1;
}

static int parse_range(part_t *p, int i, char *line)
{
    char *w[4];
    if (line == NULL || tr_words(line, w, 4) || strcmp(w[0], "range") ||
        tr_int(w[1], p->nranks - 1, &p->rank[i]) ||
        tr_u64(w[2], INT64_MAX, &p->size[i]) || tr_hex64(w[3], &p->digest[i]))
        return -1;
    return i > 0 && p->rank[i] <= p->rank[i - 1] ? -1 : 0;
}

int part_parse(char *text, size_t len, part_t *p, ckpt_err_t *e)
{
    char *cur = text;
    int lines = 0, rc = 0;
    memset(p, 0, sizeof *p);
    if (tr_unseal(text, len) != 0)
        return err_set(e, CKPT_ECORRUPT, "flush part is damaged (checksum)");
    if (parse_header(p, &cur) != 0)
        return err_set(e, CKPT_ECORRUPT, "flush part: malformed header");
    for (const char *q = cur; (q = strchr(q, '\n')) != NULL; q++)
        lines++;
    /* The shortest line is "range 0 0 <16 hex>\n": no allocation beyond
     * what the text could fill. */
    if (lines < 1 || lines > p->nranks || (size_t)lines > len / 27)
        return err_set(e, CKPT_ECORRUPT, "flush part: %d ranges for %d ranks",
                       lines, p->nranks);
    if (part_alloc(p, lines) != 0) {
        part_free(p);
        return err_set(e, CKPT_ENOMEM, "out of memory reading a flush part");
    }
    for (int i = 0; rc == 0 && i < lines; i++)
        rc = parse_range(p, i, tr_line(&cur));
    if (rc == 0 && tr_line(&cur) == NULL)
        return CKPT_OK;
    part_free(p);
    return err_set(e, CKPT_ECORRUPT, "flush part: bad range line");
}
