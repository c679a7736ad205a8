#include "manifest.h"
#include "fileio.h"
#include "ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#define MAGIC "ckpt-manifest 1\n"

/* The text without its last line; *len receives its length. */
static char *format_body(const manifest_t *m, size_t *len)
{
    char *buf = NULL;
    size_t cap = 0;
    FILE *f = open_memstream(&buf, &cap);
    if (f == NULL)
        return NULL;
    fprintf(f, MAGIC "job %s\nstep %" PRId64 "\nnode %d\nnodes %d\nranks %d\n",
            m->job, m->step, m->node, m->nnodes, m->nranks);
    for (int i = 0; i < m->n; i++)
        fprintf(f, "file rank-%d.h5 %" PRIu64 " %016" PRIx64 " %s\n",
                m->e[i].rank, m->e[i].size, m->e[i].digest,
                m->e[i].own ? "own" : "copy");
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *len = cap;
    return buf;
}

int manifest_seal(char **text, size_t *len)
{
    char tail[64];
    size_t n = (size_t)snprintf(tail, sizeof tail, "checksum %016" PRIx64 "\n",
                                XXH3_64bits(*text, *len));
    char *v = realloc(*text, *len + n + 1);
    if (v == NULL)
        return -1;
    memcpy(v + *len, tail, n + 1);
    *text = v;
    *len += n;
    return 0;
}

int manifest_unseal(char *text, size_t len)
{
    char *tail = len > 0 && text[len - 1] == '\n' ? memrchr(text, '\n', len - 1)
                                                  : NULL;
    uint64_t sum;
    if (tail == NULL || sscanf(tail + 1, "checksum %" SCNx64, &sum) != 1 ||
        sum != XXH3_64bits(text, (size_t)(tail + 1 - text)))
        return -1;
    tail[1] = '\0';
    return 0;
}

int manifest_write(const char *step_dir, const manifest_t *m, ckpt_err_t *e)
{
    char tmp[PATH_MAX + 8], path[PATH_MAX];
    size_t len;
    int fd, rc = CKPT_OK;
    char *body = format_body(m, &len);
    if (body == NULL || manifest_seal(&body, &len) != 0) {
        free(body);
        return err_set(e, CKPT_ENOMEM, "out of memory formatting MANIFEST");
    }
    snprintf(path, sizeof path, "%s/" MANIFEST_NAME, step_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = err_sys(e, errno, "create %s", tmp);
        goto out;
    }
    if (fio_pwrite(fd, body, len, 0, tmp, e) == CKPT_OK && fsync(fd) != 0)
        err_sys(e, errno, "fsync %s", tmp);
    close(fd);
    if ((rc = e->code) != CKPT_OK)
        goto out;
    if (rename(tmp, path) != 0)
        rc = err_sys(e, errno, "rename %s", tmp);
    else
        rc = fio_fsync_dir(step_dir, e);
out:
    if (rc != CKPT_OK)
        unlink(tmp);
    free(body);
    return rc;
}

static int parse_entry(manifest_t *m, const char *line)
{
    mf_entry_t *x = &m->e[m->n];
    char role[8];
    if (sscanf(line, "file rank-%d.h5 %" SCNu64 " %" SCNx64 " %7s", &x->rank,
               &x->size, &x->digest, role) != 4)
        return -1;
    if (strcmp(role, "own") && strcmp(role, "copy"))
        return -1;
    x->own = !strcmp(role, "own");
    m->n++;
    return 0;
}

static int parse_body(manifest_t *m, char *text)
{
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    int lines = 0;
    if (line == NULL || strcmp(line, "ckpt-manifest 1"))
        return -1;
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        lines++;
        if (!strncmp(line, "file ", 5)) {
            if (parse_entry(m, line) != 0)
                return -1;
        } else if (sscanf(line, "job %255s", m->job) != 1 &&
                   sscanf(line, "step %" SCNd64, &m->step) != 1 &&
                   sscanf(line, "node %d", &m->node) != 1 &&
                   sscanf(line, "nodes %d", &m->nnodes) != 1 &&
                   sscanf(line, "ranks %d", &m->nranks) != 1) {
            return -1;
        }
    }
    return lines >= 5 ? 0 : -1;
}

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
    size_t len = 0, nlines = 0;
    memset(m, 0, sizeof *m);
    snprintf(path, sizeof path, "%s/" MANIFEST_NAME, step_dir);
    if (read_text(path, &text, &len, e) != CKPT_OK)
        goto out;
    if (manifest_unseal(text, len) != 0) {
        err_set(e, CKPT_ECORRUPT, "%s is damaged (checksum)", path);
        goto out;
    }
    for (char *p = text; *p; p++)
        nlines += *p == '\n';
    m->e = calloc(nlines + 1, sizeof *m->e);
    if (m->e == NULL)
        err_set(e, CKPT_ENOMEM, "out of memory reading %s", path);
    else if (parse_body(m, text) != 0)
        err_set(e, CKPT_ECORRUPT, "%s is malformed", path);
out:
    free(text);
    if (e->code != CKPT_OK)
        manifest_free(m);
    return e->code;
}

const mf_entry_t *manifest_find(const manifest_t *m, int rank)
{
    for (int i = 0; i < m->n; i++)
        if (m->e[i].rank == rank)
            return &m->e[i];
    return NULL;
}

void manifest_free(manifest_t *m)
{
    free(m->e);
    m->e = NULL;
    m->n = 0;
}
