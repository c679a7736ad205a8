#include "regcopy.h"
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* Small enough that a piece is still in the CPU cache when it is hashed
 * (the data crosses memory once), and that a rank waiting on its streams
 * looks at them again soon. */
#define PIECE (256u << 10)

void regcopy_open(regcopy_t *c, region_set_t *rs, const rf_index_t *idx,
                  const char *path, int verify)
{
    memset(c, 0, sizeof *c);
    c->regions = rs;
    c->idx = idx;
    c->path = path;
    c->verify = verify;
    /* A plain read is the cheapest copy (no page faults on the cache
     * side, unlike a mapping). */
    if ((c->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        err_sys(&c->err, errno, "open %s", path);
    else if (verify && (c->hash = XXH3_createState()) == NULL)
        err_set(&c->err, CKPT_ENOMEM, "out of memory hashing %s", path);
}

/* The next region with bytes to copy, its dataset and hash ready; 0 if
 * none is left (or an empty one fails its checksum). */
static int next_region(regcopy_t *c)
{
    for (; c->i < c->regions->n; c->i++) {
        const region_t *r = &c->regions->v[c->i];
        c->d = rankfile_find(c->idx, r->name);
        if (region_bytes(r) == 0 && c->hash && XXH3_64bits("", 0) != c->d->checksum) {
            c->bad = 1;
            c->bad_name = r->name;
            return 0;
        }
        if (region_bytes(r) == 0)
            continue;
        if (c->hash)
            XXH3_64bits_reset(c->hash);
        return 1;
    }
    return 0;
}

int regcopy_step(void *arg)
{
    regcopy_t *c = arg;
    const region_t *r;
    uint64_t len, n;
    if (c->err.code != CKPT_OK || c->bad)
        return 0;
    if (c->done == 0 && !next_region(c))
        return 0;
    r = &c->regions->v[c->i];
    len = region_bytes(r);
    n = len - c->done < PIECE ? len - c->done : PIECE;
    if (fio_pread(c->fd, (char *)r->buf + c->done, n, c->d->off + c->done,
                  c->path, &c->err) != CKPT_OK)
        return 0;
    if (c->hash)
        XXH3_64bits_update(c->hash, (char *)r->buf + c->done, n);
    if ((c->done += n) < len)
        return 1;
    c->done = 0;
    if (c->hash && XXH3_64bits_digest(c->hash) != c->d->checksum) {
        c->bad = 1;
        c->bad_name = r->name;
        return 0;
    }
    c->i++;
    return 1;
}

void regcopy_run(regcopy_t *c)
{
    while (regcopy_step(c))
        ;
}

void regcopy_close(regcopy_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    XXH3_freeState(c->hash);
    c->hash = NULL;
}
