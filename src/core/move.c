/* Rank files moved between nodes as files (see move.h). */
#include "move.h"
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The plan of a file as its index describes it: the datasets' bytes are
 * DATA, whatever lies between them is META, read from the file now. */
static int plan_from_index(plan_t *pl, int fd, const mf_entry_t *x,
                           const char *path, ckpt_err_t *e)
{
    const rf_index_t *idx = x->idx;
    seg_t *segs = calloc((size_t)idx->n + 1, sizeof *segs);
    int n = 0;
    if (segs == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory planning %s", path);
    for (int i = 0; i < idx->n; i++) {
        uint64_t len = idx->d[i].count * type_size((ckpt_type_t)idx->d[i].type);
        if (len > 0)
            segs[n++] = (seg_t){.off = idx->d[i].off, .len = len, .kind = SEG_DATA};
    }
    plan_build(pl, fd, x->size, segs, n, path, e);
    free(segs);
    return e->code;
}

void move_source(ckpt_t *ck, int64_t step, const move_t *m, ostream_t *o,
                 plan_t *pl, char *path)
{
    ckpt_err_t e = {0};
    const mf_entry_t *x = &m->x;
    o->peer = m->peer;
    o->chunk = stream_chunk(topo_fan_in(&ck->topo, m->peer));
    if (m->from)
        snprintf(path, PATH_MAX, "%s", m->from);
    else
        cache_rank_path(&ck->cache, step, m->rank, 0, path, PATH_MAX);
    o->src_fd = fio_open_read(path); /* a regular file, never a FIFO */
    o->src_path = path;
    o->local_fd = -1;
    o->plan = pl;
    o->idx = x->idx;
    o->check = 1;
    o->expect = x->digest;
    if (o->src_fd < 0 || x->idx == NULL ||
        plan_from_index(pl, o->src_fd, x, path, &e) != CKPT_OK)
        o->failed = 1;
}

void move_close(ostream_t *o, plan_t *pl, int n)
{
    for (int k = 0; k < n; k++) {
        if (o[k].src_fd >= 0)
            close(o[k].src_fd);
        plan_free(&pl[k]);
    }
}

int move_files(ckpt_t *ck, int64_t step, const move_t *send, int nsend,
                      move_t *recv, int nrecv, ckpt_err_t *e)
{
    ostream_t *o = calloc((size_t)nsend + 1, sizeof *o);
    istream_t *in = calloc((size_t)nrecv + 1, sizeof *in);
    plan_t *pl = calloc((size_t)nsend + 1, sizeof *pl);
    char (*paths)[PATH_MAX] = calloc((size_t)(nsend + 2 * nrecv) + 1, PATH_MAX);
    char dir[PATH_MAX];
    if (!o || !in || !pl || !paths)
        err_set(e, CKPT_ENOMEM, "out of memory moving files");
    /* agreed before any transfer: no peer waits on a rank that gave up */
    if (err_agree(ck->comm, e) != CKPT_OK)
        goto out;
    cache_step_dir(&ck->cache, step, dir, sizeof dir);
    if (nrecv > 0)
        fio_mkdirs(dir, e);
    for (int k = 0; k < nsend; k++)
        move_source(ck, step, &send[k], &o[k], &pl[k], paths[k]);
    for (int k = 0; k < nrecv; k++) {
        cache_rank_path(&ck->cache, step, recv[k].rank, 1, paths[nsend + k], PATH_MAX);
        in[k] = (istream_t){.peer = recv[k].peer, .path = paths[nsend + k]};
    }
    stream_run(ck->comm, o, nsend, in, nrecv, NULL, NULL);
    move_close(o, pl, nsend);
    for (int k = 0; k < nrecv; k++) {
        char *final = paths[nsend + nrecv + k];
        recv[k].x = (mf_entry_t){.rank = recv[k].rank, .size = in[k].size,
                                 .digest = in[k].digest};
        recv[k].idx = in[k].idx;
        cache_rank_path(&ck->cache, step, recv[k].rank, 0, final, PATH_MAX);
        recv[k].failed = in[k].err.code != CKPT_OK;
        if (in[k].err.code != CKPT_OK) {
            err_set(e, in[k].err.code, "%s", in[k].err.msg);
            unlink(in[k].path);
        } else if (e->code == CKPT_OK && rename(in[k].path, final) != 0) {
            err_sys(e, errno, "rename %s", in[k].path);
        }
    }
    if (nrecv > 0 && e->code == CKPT_OK)
        fio_fsync_dir(dir, e);
out:
    free(o);
    free(in);
    free(pl);
    free(paths);
    return e->code;
}

