#include "textrec.h"
#include "config.h"
#include "xxh.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

FILE *tr_begin(char **text, size_t *len, const char *magic, const char *job,
               int64_t step, uint64_t generation)
{
    FILE *f;
    *text = NULL;
    *len = 0;
    if ((f = open_memstream(text, len)) != NULL)
        fprintf(f, "%s\njob %s\nstep %" PRId64 "\ngeneration %016" PRIx64 "\n",
                magic, job, step, generation);
    return f;
}

int tr_end(FILE *f, char **text, size_t *len)
{
    if (fclose(f) != 0 || tr_seal(text, len) != 0) {
        free(*text);
        *text = NULL;
        return -1;
    }
    return 0;
}

int tr_seal(char **text, size_t *len)
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

int tr_unseal(char *text, size_t len)
{
    char *tail, *sum;
    uint64_t v;
    if (len == 0 || text[len - 1] != '\n' || memchr(text, '\0', len) != NULL)
        return -1;
    tail = memrchr(text, '\n', len - 1);
    tail = tail ? tail + 1 : text;
    text[len - 1] = '\0';
    if (strncmp(tail, "checksum ", 9) != 0)
        return -1;
    sum = tail + 9;
    if (tr_hex64(sum, &v) != 0 || v != XXH3_64bits(text, (size_t)(tail - text)))
        return -1;
    *tail = '\0';
    return 0;
}

char *tr_line(char **cursor)
{
    char *line = *cursor, *nl;
    if (line == NULL || *line == '\0')
        return NULL;
    nl = strchr(line, '\n');
    if (nl) {
        *nl = '\0';
        *cursor = nl + 1;
    } else {
        *cursor = line + strlen(line);
    }
    return line;
}

int tr_words(char *line, char **w, int n)
{
    int k = 0;
    for (char *p = line;;) {
        char *space;
        if (k == n || *p == '\0' || *p == ' ')
            return -1; /* a word too many, or an empty one */
        w[k++] = p;
        if ((space = strchr(p, ' ')) == NULL)
            break;
        *space = '\0';
        p = space + 1;
    }
    return k == n ? 0 : -1;
}

int tr_u64(const char *s, uint64_t max, uint64_t *v)
{
    uint64_t x = 0;
    if (s[0] < '0' || s[0] > '9' || (s[0] == '0' && s[1] != '\0'))
        return -1;
    for (; *s; s++) {
        uint64_t d = (uint64_t)(*s - '0');
        /* d > max first: max - d must not wrap around */
        if (*s < '0' || *s > '9' || d > max || x > (max - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

int tr_int(const char *s, int max, int *v)
{
    uint64_t x;
    if (max < 0 || tr_u64(s, (uint64_t)max, &x) != 0)
        return -1;
    *v = (int)x;
    return 0;
}

int tr_hex64(const char *s, uint64_t *v)
{
    uint64_t x = 0;
    int n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n == 16 || !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return -1;
        x = x << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    if (n != 16)
        return -1;
    *v = x;
    return 0;
}

int tr_keyword(char *line, const char *key, char **value)
{
    char *w[2];
    if (line == NULL || tr_words(line, w, 2) != 0 || strcmp(w[0], key) != 0)
        return -1;
    *value = w[1];
    return 0;
}

int tr_head(char **cur, const char *magic, char *job, int64_t *step,
            uint64_t *generation)
{
    char *line = tr_line(cur), *v;
    uint64_t s;
    if (line == NULL || strcmp(line, magic) != 0 ||
        tr_keyword(tr_line(cur), "job", &v) != 0 || !config_valid_job(v))
        return -1;
    snprintf(job, CKPT_NAME_MAX + 1, "%s", v);
    if (tr_keyword(tr_line(cur), "step", &v) || tr_u64(v, INT64_MAX, &s) ||
        tr_keyword(tr_line(cur), "generation", &v) || tr_hex64(v, generation))
        return -1;
    *step = (int64_t)s;
    return 0;
}
