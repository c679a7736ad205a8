#include "stream.h"
#include "fileio.h"
#include "manifest.h"
#include "ckpt.h"
#include "xxh.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { TAG_PLAN = 7301, TAG_DATA = 7302, TAG_FIN = 7303 };
enum { NSLOT = 2 };

/* A piece is a META segment, or one chunk of a DATA segment. */
typedef struct piece {
    uint64_t off, len;
    const unsigned char *src; /* META: bytes in plan->meta; DATA: memory src */
    int data;                 /* DATA chunk number + 1, or 0 for META */
    int seg;                  /* the plan's segment */
} piece_t;

typedef struct slot {
    MPI_Request req;
    unsigned char *buf;
    int done;
} slot_t;

/* State shared by both directions: the walk through the pieces. */
typedef struct walk {
    piece_t *p;
    int *data_at;  /* piece of each DATA chunk */
    int n, next, ndata;
    int fd;
    const char *path;
    XXH3_state_t *hash;
    slot_t slot[NSLOT];
} walk_t;

/* Then the plan, then idx_len bytes of the index's region lines. */
typedef struct {
    uint64_t status, chunk, idx_len;
} plan_hdr_t;

/* The end of a stream: the sender's outcome, and its message, so that the
 * receiver's error says what failed where, not only that it did. */
typedef struct {
    uint64_t status, digest;
    char msg[CKPT_MSG_MAX];
} fin_t;

static int make_pieces(walk_t *w, const plan_t *pl, size_t chunk)
{
    const unsigned char *meta = pl->meta;
    int cap = 16;
    w->p = malloc((size_t)cap * sizeof *w->p);
    for (int i = 0; w->p && i < pl->nseg; i++) {
        const seg_t *s = &pl->seg[i];
        for (uint64_t o = 0, n; o < s->len; o += n) {
            n = s->kind == SEG_META ? s->len
                : s->len - o < chunk ? s->len - o : chunk;
            if (w->n == cap) {
                piece_t *q = realloc(w->p, (size_t)(cap *= 2) * sizeof *q);
                if (q == NULL) {
                    free(w->p);
                    w->p = NULL;
                    w->n = w->ndata = 0;
                    return -1;
                }
                w->p = q;
            }
            w->p[w->n++] = (piece_t){
                .off = s->off + o, .len = n,
                .src = s->kind == SEG_META ? meta
                       : s->src ? (const unsigned char *)s->src + o : NULL,
                .data = s->kind == SEG_DATA ? ++w->ndata : 0, .seg = i};
            if (s->kind == SEG_META)
                meta += n;
        }
    }
    if (w->p == NULL ||
        (w->data_at = malloc(((size_t)w->ndata + 1) * sizeof *w->data_at)) == NULL)
        return -1;
    for (int k = 0; k < w->n; k++)
        if (w->p[k].data)
            w->data_at[w->p[k].data - 1] = k;
    return 0;
}

static void walk_free(walk_t *w)
{
    for (int k = 0; k < NSLOT; k++) {
        free(w->slot[k].buf);
    }
    XXH3_freeState(w->hash);
    free(w->p);
    free(w->data_at);
}

/* hash: this end hashes the stream (not a sender of a checked copy, which
 * is hashed where it lands). */
static void walk_init(walk_t *w, int fd, const char *path, int hash)
{
    memset(w, 0, sizeof *w);
    w->fd = fd;
    w->path = path;
    w->hash = hash ? XXH3_createState() : NULL;
    if (w->hash != NULL)
        XXH3_64bits_reset(w->hash);
    for (int k = 0; k < NSLOT; k++)
        w->slot[k].req = MPI_REQUEST_NULL;
}

static int alloc_slots(walk_t *w, size_t chunk)
{
    for (int k = 0; k < NSLOT; k++)
        if ((w->slot[k].buf = malloc(chunk ? chunk : 1)) == NULL)
            return -1;
    return 0;
}

/* Writes a piece unless this stream already failed, then starts its
 * writeback without waiting: the fsync at the end finds little left to do,
 * and the disk works while the next chunks are copied and sent. */
static void write_piece(int fd, const void *bytes, const piece_t *p,
                        const char *path, ckpt_err_t *e)
{
    if (fd < 0 || e->code != CKPT_OK)
        return;
    if (fio_pwrite(fd, bytes, p->len, p->off, path, e) == CKPT_OK)
        sync_file_range(fd, (off_t)p->off, (off_t)p->len, SYNC_FILE_RANGE_WRITE);
}

/* ---- sending side ---- */

typedef struct {
    ostream_t *o;
    walk_t w;
} osend_t;

static void send_plan(MPI_Comm comm, osend_t *s, unsigned char **msg,
                      MPI_Request *req)
{
    ostream_t *o = s->o;
    size_t len = 0, ilen = 0;
    unsigned char *body = NULL;
    char *itext = NULL;
    plan_hdr_t h = {.status = (uint64_t)(o->failed != 0), .chunk = o->chunk};
    if (!o->failed && (plan_pack(o->plan, &body, &len) != CKPT_OK ||
                       (o->idx && manifest_format_regions(o->idx, &itext, &ilen)))) {
        h.status = 1; /* a refusal: no data follows */
        o->failed = err_set(&o->err, CKPT_ENOMEM, "out of memory packing a plan");
    }
    h.idx_len = ilen;
    *msg = malloc(sizeof h + len + ilen);
    if (*msg == NULL) { /* a refusal in the bare header, no data follows */
        h.status = 1;
        h.idx_len = 0;
        o->failed = err_set(&o->err, CKPT_ENOMEM, "out of memory sending a plan");
        MPI_Send(&h, sizeof h, MPI_BYTE, o->peer, TAG_PLAN, comm);
        *req = MPI_REQUEST_NULL;
        free(body);
        free(itext);
        return;
    }
    memcpy(*msg, &h, sizeof h);
    if (len)
        memcpy(*msg + sizeof h, body, len);
    if (ilen)
        memcpy(*msg + sizeof h + len, itext, ilen);
    free(body);
    free(itext);
    MPI_Isend(*msg, (int)(sizeof h + (h.status ? 0 : len + ilen)), MPI_BYTE,
              o->peer, TAG_PLAN, comm, req);
}

/* Hashes, writes locally and sends the next piece; 0 if it must wait. */
static int send_next(MPI_Comm comm, osend_t *s)
{
    ostream_t *o = s->o;
    walk_t *w = &s->w;
    piece_t *p = &w->p[w->next];
    const unsigned char *bytes = p->src;
    slot_t *sl = NULL;
    if (p->data) {
        sl = &w->slot[(p->data - 1) % NSLOT];
        if (o->peer >= 0 && sl->req != MPI_REQUEST_NULL)
            return 0;
        if (o->src_fd >= 0) {
            bytes = sl->buf;
            if (fio_pread(o->src_fd, sl->buf, p->len, p->off, o->src_path,
                          &o->err) != CKPT_OK)
                memset(sl->buf, 0, p->len); /* keep the stream going */
        }
        if (o->peer >= 0)
            MPI_Isend(bytes, (int)p->len, MPI_BYTE, o->peer, TAG_DATA, comm,
                      &sl->req);
    }
    write_piece(o->local_fd, bytes, p, o->local_path, &o->err);
    if (w->hash)
        XXH3_64bits_update(w->hash, bytes, p->len);
    w->next++;
    return 1;
}

/* ---- receiving side ---- */

typedef struct {
    istream_t *i;
    walk_t w;
    plan_t plan;
    int posted;   /* DATA chunks for which a receive was posted */
    int refused;  /* the sender sent no data */
    size_t chunk;
    unsigned char **dst; /* per segment: DATA goes here (place), or NULL */
} orecv_t;

/* Where DATA chunk k is received: into the caller's memory, or a slot. */
static unsigned char *chunk_target(orecv_t *r, int k, slot_t *sl, int *len)
{
    const piece_t *p = &r->w.p[r->w.data_at[k]];
    const seg_t *s = &r->plan.seg[p->seg];
    *len = (int)(r->dst ? p->len : r->chunk);
    return r->dst ? r->dst[p->seg] + (p->off - s->off) : sl->buf;
}

static void post_recv(MPI_Comm comm, orecv_t *r)
{
    walk_t *w = &r->w;
    while (r->posted < w->ndata) {
        slot_t *sl = &w->slot[r->posted % NSLOT];
        unsigned char *to;
        int len;
        if (sl->req != MPI_REQUEST_NULL || sl->done)
            return;
        to = chunk_target(r, r->posted, sl, &len);
        MPI_Irecv(to, len, MPI_BYTE, r->i->peer, TAG_DATA, comm, &sl->req);
        r->posted++;
    }
}

/* With a place function, DATA goes to the memory it names; where it
 * refuses, the data is still taken, into the slots, and dropped. */
static void place_data(orecv_t *r)
{
    istream_t *in = r->i;
    if (in->place == NULL)
        return;
    r->dst = calloc((size_t)r->plan.nseg + 1, sizeof *r->dst);
    if (r->dst == NULL)
        err_set(&in->err, CKPT_ENOMEM, "out of memory receiving from rank %d",
                in->peer);
    else if (in->place(in->ctx, &in->idx, &r->plan, r->dst, &in->err) != CKPT_OK) {
        free(r->dst);
        r->dst = NULL;
    }
}

static void recv_plan(MPI_Comm comm, orecv_t *r)
{
    istream_t *in = r->i;
    MPI_Status st;
    plan_hdr_t h;
    int len, rc;
    size_t body;
    unsigned char *msg;
    MPI_Probe(in->peer, TAG_PLAN, comm, &st);
    MPI_Get_count(&st, MPI_BYTE, &len);
    msg = malloc(len > 0 ? (size_t)len : 1);
    MPI_Recv(msg ? msg : (unsigned char *)&h, msg ? len : (int)sizeof h,
             MPI_BYTE, in->peer, TAG_PLAN, comm, MPI_STATUS_IGNORE);
    walk_init(&r->w, -1, in->path, 1);
    if (msg == NULL || (size_t)len < sizeof h) {
        err_set(&in->err, CKPT_ENOMEM, "out of memory receiving a plan");
        r->refused = 1; /* cannot tell: treat as no data (may then hang) */
        free(msg);
        return;
    }
    memcpy(&h, msg, sizeof h);
    body = (size_t)len - sizeof h;
    r->refused = h.status != 0;
    r->chunk = (size_t)h.chunk;
    if (r->refused || h.idx_len > body ||
        plan_unpack(&r->plan, msg + sizeof h, body - h.idx_len)) {
        err_set(&in->err, CKPT_ECORRUPT, "rank %d has no readable copy to send",
                in->peer);
        r->refused = 1;
    } else if (make_pieces(&r->w, &r->plan, r->chunk) || alloc_slots(&r->w, r->chunk)) {
        err_set(&in->err, CKPT_ENOMEM, "out of memory receiving from rank %d",
                in->peer); /* still drains: the sender's data must be taken */
    } else if ((rc = manifest_parse_regions((char *)msg + sizeof h + body - h.idx_len,
                                            h.idx_len, r->plan.size, &in->idx)) != 0) {
        if (rc == -2)
            err_set(&in->err, CKPT_ENOMEM, "out of memory reading the index "
                    "from rank %d", in->peer);
        else
            err_set(&in->err, CKPT_ECORRUPT, "rank %d sent a malformed index",
                    in->peer);
    } else {
        place_data(r);
    }
    free(msg);
}

static void open_target(orecv_t *r)
{
    istream_t *in = r->i;
    if (r->refused)
        return;
    in->size = r->plan.size;
    if (in->path == NULL)
        return;
    /* not truncated: a spare is rewritten in place (every byte of the file
     * is written, and the end is cut at its size when done) */
    r->w.fd = fio_open_rewrite(in->path);
    if (r->w.fd < 0)
        err_sys(&in->err, errno, "create %s", in->path);
}

/* Writes every piece that can be written in order; returns 1 when done. */
static int recv_advance(MPI_Comm comm, orecv_t *r)
{
    walk_t *w = &r->w;
    while (!r->refused && w->next < w->n) {
        piece_t *p = &w->p[w->next];
        const unsigned char *bytes = p->src;
        slot_t *sl = NULL;
        if (p->data) {
            int len;
            sl = &w->slot[(p->data - 1) % NSLOT];
            if (!sl->done)
                break;
            bytes = chunk_target(r, p->data - 1, sl, &len);
        }
        if (w->hash)
            XXH3_64bits_update(w->hash, bytes, p->len);
        write_piece(w->fd, bytes, p, w->path, &r->i->err);
        if (sl)
            sl->done = 0;
        w->next++;
        post_recv(comm, r);
    }
    return r->refused || w->next == w->n;
}

/* ---- the loop ---- */

/* Requests in one array for Testsome/Waitsome: sends, then receives. */
static int gather_reqs(osend_t *os, int nout, orecv_t *rs, int nin,
                       MPI_Request *reqs, slot_t **owner)
{
    int n = 0;
    for (int k = 0; k < nout; k++)
        for (int j = 0; j < NSLOT; j++, n++) {
            reqs[n] = os[k].w.slot[j].req;
            owner[n] = &os[k].w.slot[j];
        }
    for (int k = 0; k < nin; k++)
        for (int j = 0; j < NSLOT; j++, n++) {
            reqs[n] = rs[k].w.slot[j].req;
            owner[n] = &rs[k].w.slot[j];
        }
    return n;
}

static int pump(osend_t *os, int nout, orecv_t *rs, int nin,
                MPI_Request *reqs, slot_t **owner, int *idx, int block)
{
    int n = gather_reqs(os, nout, rs, nin, reqs, owner), done = 0;
    if (block)
        MPI_Waitsome(n, reqs, &done, idx, MPI_STATUSES_IGNORE);
    else
        MPI_Testsome(n, reqs, &done, idx, MPI_STATUSES_IGNORE);
    if (done == MPI_UNDEFINED)
        return 0;
    for (int k = 0; k < done; k++) {
        owner[idx[k]]->req = MPI_REQUEST_NULL;
        owner[idx[k]]->done = idx[k] >= nout * NSLOT; /* receives only */
    }
    return done;
}

static int all_done(osend_t *os, int nout, orecv_t *rs, int nin)
{
    for (int k = 0; k < nout; k++) {
        if (os[k].w.next < os[k].w.n && !os[k].o->failed)
            return 0;
        for (int j = 0; j < NSLOT; j++)
            if (os[k].w.slot[j].req != MPI_REQUEST_NULL)
                return 0;
    }
    for (int k = 0; k < nin; k++)
        if (!rs[k].refused && rs[k].w.next < rs[k].w.n)
            return 0;
    return 1;
}

static void run_loop(MPI_Comm comm, osend_t *os, int nout, orecv_t *rs,
                     int nin, int (*idle)(void *), void *ctx)
{
    int nreq = NSLOT * (nout + nin);
    MPI_Request *reqs = malloc((size_t)(nreq + 1) * sizeof *reqs);
    slot_t **owner = malloc((size_t)(nreq + 1) * sizeof *owner);
    int *idx = malloc((size_t)(nreq + 1) * sizeof *idx);
    while (!all_done(os, nout, rs, nin)) {
        int moved = 0;
        for (int k = 0; k < nout; k++)
            if (os[k].w.next < os[k].w.n && !os[k].o->failed)
                moved += send_next(comm, &os[k]);
        moved += pump(os, nout, rs, nin, reqs, owner, idx, 0);
        for (int k = 0; k < nin; k++)
            recv_advance(comm, &rs[k]);
        if (!moved && !all_done(os, nout, rs, nin) && !(idle && idle(ctx)))
            pump(os, nout, rs, nin, reqs, owner, idx, 1);
    }
    free(reqs);
    free(owner);
    free(idx);
}

static void finish(MPI_Comm comm, osend_t *os, int nout, orecv_t *rs, int nin)
{
    MPI_Request *req = malloc((size_t)(nout + nin + 1) * sizeof *req);
    fin_t *fo = calloc((size_t)nout + 1, sizeof *fo);
    fin_t *fi = calloc((size_t)nin + 1, sizeof *fi);
    int n = 0;
    for (int k = 0; k < nout; k++) {
        ostream_t *o = os[k].o;
        /* A checked copy's bytes are compared once, where they land, with
         * the digest its MANIFEST lists: that covers the disk and the way. */
        o->digest = o->check ? o->expect
                    : os[k].w.hash ? XXH3_64bits_digest(os[k].w.hash) : 0;
        if (os[k].w.hash == NULL && !o->check)
            err_set(&o->err, CKPT_ENOMEM, "out of memory hashing");
        /* A copy sent for a restore that cannot be read is a bad copy, as
         * a damaged one is: the receiver goes on to the next copy. */
        if (o->check && o->err.code == CKPT_EIO)
            o->err.code = CKPT_ECORRUPT;
        fo[k].status = (uint64_t)o->err.code;
        fo[k].digest = o->digest;
        snprintf(fo[k].msg, sizeof fo[k].msg, "%s", o->err.msg);
        if (os[k].o->peer >= 0 && !os[k].o->failed)
            MPI_Isend(&fo[k], sizeof fo[k], MPI_BYTE, os[k].o->peer, TAG_FIN,
                      comm, &req[n++]);
    }
    for (int k = 0; k < nin; k++)
        if (!rs[k].refused)
            MPI_Irecv(&fi[k], sizeof fi[k], MPI_BYTE, rs[k].i->peer, TAG_FIN,
                      comm, &req[n++]);
    MPI_Waitall(n, req, MPI_STATUSES_IGNORE);
    for (int k = 0; k < nin; k++) {
        istream_t *in = rs[k].i;
        in->digest = rs[k].w.hash ? XXH3_64bits_digest(rs[k].w.hash) : 0;
        if (rs[k].w.hash == NULL)
            err_set(&in->err, CKPT_ENOMEM, "out of memory hashing");
        if (rs[k].refused)
            continue;
        fi[k].msg[sizeof fi[k].msg - 1] = '\0';
        if (fi[k].status)
            err_set(&in->err, (int)fi[k].status, "rank %d failed: %s",
                    in->peer, fi[k].msg);
        else if (fi[k].digest != in->digest)
            err_set(&in->err, CKPT_ECORRUPT, "data from rank %d does not "
                    "match its digest (a damaged copy, or damaged on the way)",
                    in->peer);
    }
    free(req);
    free(fo);
    free(fi);
}

size_t stream_chunk(int fan_in)
{
    size_t c = (size_t)(16u << 20) / (size_t)(fan_in > 0 ? fan_in : 1);
    return c > (4u << 20) ? (4u << 20) : c < (256u << 10) ? (256u << 10) : c;
}

void stream_run(MPI_Comm comm, ostream_t *out, int nout, istream_t *in,
                int nin, int (*idle)(void *), void *ctx)
{
    osend_t *os = calloc((size_t)nout + 1, sizeof *os);
    orecv_t *rs = calloc((size_t)nin + 1, sizeof *rs);
    MPI_Request *preq = malloc((size_t)(nout + 1) * sizeof *preq);
    unsigned char **pmsg = calloc((size_t)nout + 1, sizeof *pmsg);
    int np = 0;
    /* Plans first: they tell the receivers what to expect. */
    for (int k = 0; k < nout; k++) {
        os[k].o = &out[k];
        walk_init(&os[k].w, out[k].local_fd, out[k].local_path, !out[k].check);
        if (!out[k].failed && (make_pieces(&os[k].w, out[k].plan, out[k].chunk) ||
                               (out[k].src_fd >= 0 && alloc_slots(&os[k].w, out[k].chunk))))
            out[k].failed = err_set(&out[k].err, CKPT_ENOMEM,
                                    "out of memory streaming a file");
        if (out[k].peer >= 0)
            send_plan(comm, &os[k], &pmsg[np], &preq[np]), np++;
    }
    for (int k = 0; k < nin; k++) {
        rs[k].i = &in[k];
        recv_plan(comm, &rs[k]);
        open_target(&rs[k]);
        post_recv(comm, &rs[k]);
    }
    MPI_Waitall(np, preq, MPI_STATUSES_IGNORE);
    run_loop(comm, os, nout, rs, nin, idle, ctx);
    finish(comm, os, nout, rs, nin);
    for (int k = 0; k < np; k++)
        free(pmsg[k]);
    for (int k = 0; k < nout; k++)
        walk_free(&os[k].w);
    for (int k = 0; k < nin; k++) {
        if (rs[k].w.fd >= 0 &&
            (ftruncate(rs[k].w.fd, (off_t)rs[k].plan.size) != 0 ||
             fsync(rs[k].w.fd) != 0))
            err_sys(&in[k].err, errno, "fsync %s", in[k].path);
        if (rs[k].w.fd >= 0)
            close(rs[k].w.fd);
        walk_free(&rs[k].w);
        plan_free(&rs[k].plan);
        free(rs[k].dst);
    }
    free(os);
    free(rs);
    free(preq);
    free(pmsg);
}
