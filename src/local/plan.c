#include "plan.h"
#include "fileio.h"
#include "ckpt.h"

#include <stdlib.h>
#include <string.h>

static int add_seg(plan_t *p, uint64_t off, uint64_t len, int kind,
                   const void *src)
{
    seg_t *s = realloc(p->seg, (size_t)(p->nseg + 1) * sizeof *s);
    if (s == NULL)
        return -1;
    p->seg = s;
    s[p->nseg++] = (seg_t){.off = off, .len = len, .kind = kind, .src = src};
    return 0;
}

static int by_offset(const void *a, const void *b)
{
    const seg_t *x = a, *y = b;
    return (x->off > y->off) - (x->off < y->off);
}

int plan_build(plan_t *p, int fd, uint64_t size, seg_t *data, int ndata,
               const char *path, ckpt_err_t *e)
{
    uint64_t pos = 0, m = 0;
    memset(p, 0, sizeof *p);
    if (ndata > 1)
        qsort(data, (size_t)ndata, sizeof *data, by_offset);
    p->size = size;
    for (int i = 0; i <= ndata; i++) {
        uint64_t end = i < ndata ? data[i].off : size;
        if (end < pos || end > size)
            return err_set(e, CKPT_ECORRUPT, "%s: overlapping datasets", path);
        if (end > pos && add_seg(p, pos, end - pos, SEG_META, NULL) != 0)
            goto nomem;
        if (i < ndata) {
            if (add_seg(p, data[i].off, data[i].len, SEG_DATA, data[i].src) != 0)
                goto nomem;
            pos = data[i].off + data[i].len;
        }
    }
    for (int i = 0; i < p->nseg; i++)
        if (p->seg[i].kind == SEG_META)
            p->meta_len += p->seg[i].len;
    p->meta = malloc(p->meta_len ? p->meta_len : 1);
    if (p->meta == NULL)
        goto nomem;
    for (int i = 0; i < p->nseg; i++) {
        if (p->seg[i].kind != SEG_META)
            continue;
        if (fio_pread(fd, p->meta + m, p->seg[i].len, p->seg[i].off, path, e))
            return e->code;
        m += p->seg[i].len;
    }
    return CKPT_OK;
nomem:
    return err_set(e, CKPT_ENOMEM, "out of memory planning %s", path);
}

/* Wire: u64 size, u64 nseg, nseg x {u64 off, u64 len, u64 kind}, meta bytes. */
int plan_pack(const plan_t *p, unsigned char **buf, size_t *len)
{
    uint64_t *w;
    *len = 8 * (2 + 3 * (size_t)p->nseg) + p->meta_len;
    *buf = malloc(*len);
    if (*buf == NULL)
        return CKPT_ENOMEM;
    w = (uint64_t *)*buf;
    *w++ = p->size;
    *w++ = (uint64_t)p->nseg;
    for (int i = 0; i < p->nseg; i++) {
        *w++ = p->seg[i].off;
        *w++ = p->seg[i].len;
        *w++ = (uint64_t)p->seg[i].kind;
    }
    memcpy(w, p->meta, p->meta_len);
    return CKPT_OK;
}

int plan_unpack(plan_t *p, const unsigned char *buf, size_t len)
{
    const uint64_t *w = (const uint64_t *)buf;
    uint64_t nseg, meta = 0;
    memset(p, 0, sizeof *p);
    if (len < 16 || (nseg = w[1]) > (len - 16) / 24)
        return CKPT_ECORRUPT;
    p->size = w[0];
    for (uint64_t i = 0; i < nseg; i++) {
        const uint64_t *s = w + 2 + 3 * i;
        if (add_seg(p, s[0], s[1], (int)s[2], NULL) != 0)
            goto fail;
        if (s[2] == SEG_META)
            meta += s[1];
    }
    p->meta_len = len - 16 - 24 * nseg;
    if (meta != p->meta_len || (p->meta = malloc(meta ? meta : 1)) == NULL)
        goto fail;
    memcpy(p->meta, buf + 16 + 24 * nseg, meta);
    return CKPT_OK;
fail:
    plan_free(p);
    return CKPT_ECORRUPT;
}

void plan_free(plan_t *p)
{
    free(p->seg);
    free(p->meta);
    memset(p, 0, sizeof *p);
}
