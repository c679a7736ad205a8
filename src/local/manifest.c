#include "manifest.h"
#include "fileio.h"
#include "textrec.h"
#include "ckpt.h"
#include "region.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAGIC "ckpt-manifest 3"

/* A slice ends in " <kind> <global offset> <global count>". */
static void format_region(FILE *f, const rf_dataset_t *d)
{
    fprintf(f, "region %s %s %" PRIu64 " %" PRIu64 " %016" PRIx64, d->name,
            type_name(d->type), d->count, d->off, d->checksum);
    if (d->kind != REGION_PRIVATE)
        fprintf(f, " %s %" PRIu64 " %" PRIu64, region_kind_name(d->kind), d->goff,
                d->gcount);
    fputc('\n', f);
}

static void format_entry(FILE *f, const mf_entry_t *x, const rf_dataset_t *d,
                         int nd)
{
    if (x->kind == MF_PARITY) {
        fprintf(f, "parity %d %" PRIu64 " %016" PRIx64 "\n", x->rank, x->size,
                x->digest);
        return;
    }
    fprintf(f, "file rank-%d.h5 %" PRIu64 " %016" PRIx64 " %s\n", x->rank,
            x->size, x->digest,
            x->kind == MF_CODED ? "coded" : x->own ? "own" : "copy");
    for (int i = 0; i < nd; i++)
        format_region(f, &d[i]);
}

int manifest_format_entries(const mf_entry_t *x, int n, char **text, size_t *len)
{
    FILE *f = open_memstream(text, len);
    if (f == NULL)
        return -1;
    for (int i = 0; i < n; i++)
        format_entry(f, &x[i], x[i].idx ? x[i].idx->d : NULL,
                     x[i].idx ? x[i].idx->n : 0);
    return fclose(f) == 0 ? 0 : -1;
}

int manifest_format_regions(const rf_index_t *idx, char **text, size_t *len)
{
    FILE *f = open_memstream(text, len);
    if (f == NULL)
        return -1;
    for (int i = 0; i < idx->n; i++)
        format_region(f, &idx->d[i]);
    return fclose(f) == 0 ? 0 : -1;
}

/* The header, then body, then the checksum line. */
static char *format_text(const manifest_t *m, const char *body, size_t blen,
                         size_t *len)
{
    char *buf = NULL;
    size_t cap = 0;
    FILE *f = tr_begin(&buf, &cap, MAGIC, m->job, m->step, m->generation);
    if (f == NULL)
        return NULL;
    fprintf(f, "node %d\nnodes %d\nranks %d\n", m->node, m->nnodes, m->nranks);
    fwrite(body, 1, blen, f);
    if (tr_end(f, &buf, &cap) != 0)
        return NULL;
    *len = cap;
    return buf;
}

int manifest_write(const char *step_dir, const manifest_t *m, ckpt_err_t *e)
{
    char *body = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&body, &len);
    if (f == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory formatting MANIFEST");
    if (m->rs_k > 0)
        fprintf(f, "layout rs %d %d %d %d\n", m->rs_k, m->rs_m, m->rs_first,
                m->rs_nodes);
    for (int i = 0; i < m->n; i++)
        format_entry(f, &m->e[i], m->d + m->e[i].first, m->e[i].nregions);
    if (fclose(f) != 0) {
        free(body);
        return err_set(e, CKPT_ENOMEM, "out of memory formatting MANIFEST");
    }
    manifest_write_body(step_dir, m, body, len, e);
    free(body);
    return e->code;
}

int manifest_write_body(const char *step_dir, const manifest_t *m,
                        const char *body, size_t blen, ckpt_err_t *e)
{
    char tmp[PATH_MAX + 8], path[PATH_MAX];
    size_t len;
    int rc;
    char *text = format_text(m, body, blen, &len);
    if (text == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory formatting MANIFEST");
    snprintf(path, sizeof path, "%s/" MANIFEST_NAME, step_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    rc = fio_write_replace(path, tmp, text, len, e);
    free(text);
    return rc;
}

static int parse_header(manifest_t *m, char **cur)
{
    char *v;
    if (tr_head(cur, MAGIC, m->job, &m->step, &m->generation) ||
        tr_keyword(tr_line(cur), "node", &v) || tr_int(v, MF_MAX_RANKS, &m->node) ||
        tr_keyword(tr_line(cur), "nodes", &v) || tr_int(v, MF_MAX_RANKS, &m->nnodes) ||
        tr_keyword(tr_line(cur), "ranks", &v) || tr_int(v, MF_MAX_RANKS, &m->nranks))
        return -1;
    return m->node < m->nnodes && m->nnodes <= m->nranks ? 0 : -1;
}

/* "parity <set> <size> <digest>": a set is a local rank index. */
static int parse_parity(const manifest_t *m, char *line, mf_entry_t *x)
{
    char *w[4];
    x->kind = MF_PARITY;
    return tr_words(line, w, 4) != 0 || strcmp(w[0], "parity") != 0 ||
           tr_int(w[1], m->nranks - 1, &x->rank) ||
           tr_u64(w[2], INT64_MAX, &x->size) || tr_hex64(w[3], &x->digest)
               ? -1 : 0;
}

/* "file rank-<r>.h5 <size> <digest> own|copy|coded" */
static int parse_entry(const manifest_t *m, char *line, mf_entry_t *x)
{
    char *w[5], *end;
    size_t n;
    if (!strncmp(line, "parity ", 7))
        return parse_parity(m, line, x);
    if (tr_words(line, w, 5) != 0 || strcmp(w[0], "file") != 0 ||
        strncmp(w[1], "rank-", 5) != 0 || (n = strlen(w[1])) < 9 ||
        strcmp(end = w[1] + n - 3, ".h5") != 0)
        return -1;
    *end = '\0';
    if (tr_int(w[1] + 5, m->nranks - 1, &x->rank) ||
        tr_u64(w[2], INT64_MAX, &x->size) || tr_hex64(w[3], &x->digest))
        return -1;
    x->own = !strcmp(w[4], "own");
    x->kind = !strcmp(w[4], "coded") ? MF_CODED : MF_FILE;
    return x->own || x->kind == MF_CODED || !strcmp(w[4], "copy") ? 0 : -1;
}

/* Rank files by rank, then parity files by set. */
static int cmp_rank(const void *a, const void *b)
{
    const mf_entry_t *x = a, *y = b;
    int px = x->kind == MF_PARITY, py = y->kind == MF_PARITY;
    if (px != py)
        return px - py;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

/* "region <name> <type> <count> <offset> <checksum>", inside the file. */
static int parse_region(char *line, uint64_t size, rf_dataset_t *d)
{
    char *w[9];
    uint64_t bytes;
    int n = 1; /* words: one more than spaces */
    for (const char *p = line; *p; p++)
        n += *p == ' ';
    d->kind = REGION_PRIVATE;
    d->goff = 0;
    if (n == 9 && (tr_words(line, w, 9) != 0 ||
                   (d->kind = region_kind_from_name(w[6])) <= REGION_PRIVATE ||
                   tr_u64(w[7], INT64_MAX / 8, &d->goff) ||
                   tr_u64(w[8], INT64_MAX / 8, &d->gcount)))
        return -1;
    if ((n != 9 && tr_words(line, w, 6) != 0) || strcmp(w[0], "region") != 0 ||
        !config_valid_name(w[1]) || (d->type = type_from_name(w[2])) < 0 ||
        tr_u64(w[3], INT64_MAX / 8, &d->count) || tr_u64(w[4], INT64_MAX, &d->off) ||
        tr_hex64(w[5], &d->checksum))
        return -1;
    snprintf(d->name, sizeof d->name, "%s", w[1]);
    if (d->kind == REGION_PRIVATE)
        d->gcount = d->count;
    if (d->goff > d->gcount || d->count > d->gcount - d->goff)
        return -1;
    bytes = d->count * type_size((ckpt_type_t)d->type);
    return d->off <= size && bytes <= size - d->off ? 0 : -1;
}

int manifest_parse_regions(char *text, size_t len, uint64_t size,
                           rf_index_t *idx)
{
    size_t lines = 1;
    char *cur = text;
    memset(idx, 0, sizeof *idx);
    if (memchr(text, '\0', len) != NULL || (len > 0 && text[len - 1] != '\n'))
        return -1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    if ((idx->d = calloc(lines, sizeof *idx->d)) == NULL)
        return -2;
    if (len == 0)
        return 0;
    text[len - 1] = '\0';
    for (char *line; (line = tr_line(&cur)) != NULL;)
        if (parse_region(line, size, &idx->d[idx->n++]) != 0) {
            rankfile_index_free(idx);
            return -1;
        }
    if ((size_t)idx->n == lines - 1) /* an empty line ends tr_line early */
        return 0;
    rankfile_index_free(idx);
    return -1;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* 1 if some dataset name stands twice in one file. */
static int names_repeat(const manifest_t *m, const mf_entry_t *x)
{
    char **names = malloc(((size_t)x->nregions + 1) * sizeof *names);
    int dup = names == NULL;
    for (int i = 0; !dup && i < x->nregions; i++)
        names[i] = m->d[x->first + i].name;
    if (!dup && x->nregions > 1)
        qsort(names, (size_t)x->nregions, sizeof *names, cmp_name);
    for (int i = 1; !dup && i < x->nregions; i++)
        dup = !strcmp(names[i], names[i - 1]);
    free(names);
    return dup;
}

/* Each rank at most once; no dataset name twice in one file. */
static int unique(const manifest_t *m)
{
    mf_entry_t *sorted = malloc(((size_t)m->n + 1) * sizeof *sorted);
    int dup = sorted == NULL;
    for (int k = 0; !dup && k < m->n; k++)
        dup = names_repeat(m, &m->e[k]);
    if (!dup && m->n > 1) {
        memcpy(sorted, m->e, (size_t)m->n * sizeof *sorted);
        qsort(sorted, (size_t)m->n, sizeof *sorted, cmp_rank);
        for (int i = 1; i < m->n; i++)
            dup |= cmp_rank(&sorted[i], &sorted[i - 1]) == 0;
    }
    free(sorted);
    return dup ? -1 : 0;
}

/* File lines, each followed by its region lines, to the end. */
/* "layout rs <k> <m> <first node> <nodes>", at most once. */
static int parse_layout(manifest_t *m, char *line)
{
    char *w[6];
    if (m->rs_k != 0 || tr_words(line, w, 6) != 0 || strcmp(w[1], "rs") != 0 ||
        tr_int(w[2], 255, &m->rs_k) || tr_int(w[3], 255, &m->rs_m) ||
        tr_int(w[4], m->nnodes - 1, &m->rs_first) ||
        tr_int(w[5], m->nnodes, &m->rs_nodes))
        return -1;
    return m->rs_k > 0 && m->rs_nodes > 0 &&
                   m->rs_first + m->rs_nodes <= m->nnodes &&
                   m->rs_k + m->rs_m == m->rs_nodes ? 0 : -1;
}

static int parse_entries(manifest_t *m, char *cur)
{
    size_t lines = 1;
    for (const char *p = cur; *p; p++)
        lines += *p == '\n';
    m->e = calloc(lines, sizeof *m->e);
    m->d = calloc(lines, sizeof *m->d);
    if (m->e == NULL || m->d == NULL)
        return -2;
    for (char *line; (line = tr_line(&cur)) != NULL;) {
        if (!strncmp(line, "region ", 7)) {
            mf_entry_t *x = m->n > 0 ? &m->e[m->n - 1] : NULL;
            if (x == NULL || x->kind == MF_PARITY ||
                parse_region(line, x->size, &m->d[m->nd++]) != 0)
                return -1;
            x->nregions++;
        } else if (!strncmp(line, "layout ", 7)) {
            if (parse_layout(m, line) != 0)
                return -1;
        } else if (parse_entry(m, line, &m->e[m->n]) == 0) {
            m->e[m->n++].first = m->nd;
        } else {
            return -1;
        }
    }
    return unique(m);
}

int manifest_parse(char *text, size_t len, manifest_t *m, ckpt_err_t *e)
{
    char *cur = text;
    int rc;
    memset(m, 0, sizeof *m);
    if (tr_unseal(text, len) != 0)
        return err_set(e, CKPT_ECORRUPT, "damaged (checksum)");
    if (parse_header(m, &cur) != 0)
        return err_set(e, CKPT_ECORRUPT, "malformed header");
    if ((rc = parse_entries(m, cur)) != 0) {
        manifest_free(m);
        return rc == -2 ? err_set(e, CKPT_ENOMEM, "out of memory")
                        : err_set(e, CKPT_ECORRUPT, "malformed file list");
    }
    return CKPT_OK;
}

/* A whole small file into a NUL-terminated buffer. */
static int read_text(const char *path, char **text, size_t *len,
                     ckpt_err_t *e)
{
    uint64_t size;
    int fd, rc;
    if (fio_file_size(path, &size) != 0)
        return err_set(e, CKPT_ENOENT, "%s is missing", path);
    if (size > (64u << 20))
        return err_set(e, CKPT_ECORRUPT, "%s is implausibly large", path);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return err_sys(e, errno, "open %s", path);
    *text = malloc(size + 1);
    rc = *text ? fio_pread(fd, *text, size, 0, path, e)
               : err_set(e, CKPT_ENOMEM, "out of memory reading %s", path);
    close(fd);
    if (rc == CKPT_OK)
        (*text)[size] = '\0';
    *len = size;
    return rc;
}

int manifest_read(const char *step_dir, manifest_t *m, ckpt_err_t *e)
{
    char path[PATH_MAX], *text = NULL;
    size_t len = 0;
    ckpt_err_t pe = {0};
    memset(m, 0, sizeof *m);
    snprintf(path, sizeof path, "%s/" MANIFEST_NAME, step_dir);
    if (read_text(path, &text, &len, e) == CKPT_OK &&
        manifest_parse(text, len, m, &pe) != CKPT_OK)
        err_set(e, pe.code, "%s: %s", path, pe.msg);
    free(text);
    return e->code;
}

int manifest_index(const manifest_t *m, const mf_entry_t *x, rf_index_t *idx)
{
    memset(idx, 0, sizeof *idx);
    snprintf(idx->id.job, sizeof idx->id.job, "%s", m->job);
    idx->id.step = m->step;
    idx->id.generation = m->generation;
    idx->id.rank = x->rank;
    idx->d = malloc(((size_t)x->nregions + 1) * sizeof *idx->d);
    if (idx->d == NULL)
        return -1;
    memcpy(idx->d, m->d + x->first, (size_t)x->nregions * sizeof *idx->d);
    idx->n = x->nregions;
    return 0;
}

const mf_entry_t *manifest_find(const manifest_t *m, int rank)
{
    for (int i = 0; i < m->n; i++)
        if (m->e[i].rank == rank && m->e[i].kind != MF_PARITY)
            return &m->e[i];
    return NULL;
}

const mf_entry_t *manifest_find_parity(const manifest_t *m, int set)
{
    for (int i = 0; i < m->n; i++)
        if (m->e[i].rank == set && m->e[i].kind == MF_PARITY)
            return &m->e[i];
    return NULL;
}

void manifest_free(manifest_t *m)
{
    free(m->e);
    free(m->d);
    m->e = NULL;
    m->d = NULL;
    m->n = m->nd = 0;
}
