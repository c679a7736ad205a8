/* A restore at another rank count (see reshape.h): readers chosen alike on
 * every rank, the datasets of the old files listed to all, the regions
 * protected now checked against them, then each region moved: its old
 * slices read and checked by their readers, then sent, piece by piece, to
 * the ranks whose new slices they overlap. */
#include "reshape.h"
#include "adopt.h"
#include "fileio.h"
#include "writeback.h"
#include "probe.h"
#include "shape.h"
#include "xxh.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TAG_SLICE 7401
#define MSG_MAX (1 << 30) /* bytes a message: MPI counts are ints */
#define PIECE (1u << 20) /* read and hashed at a time */

/* One dataset of a file of the old save, as its MANIFEST lists it. */
typedef struct slice {
    char name[CKPT_NAME_MAX + 1];
    int32_t orank, type, kind, pad;
    uint64_t count, goff, gcount, off, checksum;
} slice_t;

typedef struct reshape {
    ckpt_t *ck;
    other_save_t *o;   /* the save: its files in the caches (o->v), or none */
    const smanifest_t *sm; /* or: from storage, as this manifest places it */
    int *reader;       /* [o->nranks]: the rank that reads that old file */
    int *src;          /* [o->nranks]: its entry in o->v */
    slice_t *mine, *all;
    int nmine, nall;
    region_t **g;      /* the regions protected now, by name */
    int ng;
    uint64_t *need;    /* [rank][region][2]: elements (offset, count) it needs */
    MPI_Request *req;
    int nreq;
    int *bad;          /* [o->nranks]: that old file failed at its reader */
} reshape_t;

static int by_rank_holder(const void *a, const void *b)
{
    const held_t *x = a, *y = b;
    if (x->rank != y->rank)
        return (x->rank > y->rank) - (x->rank < y->rank);
    if (x->holder != y->holder)
        return (x->holder > y->holder) - (x->holder < y->holder);
    return (x->dir > y->dir) - (x->dir < y->dir);
}

/* Each old file's reader: a rank of the holder that reads least so far,
 * the node's ranks in turn. The same on every rank (o->v is). -1 out of
 * memory, -2 if some file has no copy left. */
static int assign_readers(reshape_t *x)
{
    const topo_t *t = &x->ck->topo;
    other_save_t *o = x->o;
    int *load = calloc((size_t)t->nnodes + 1, sizeof *load), k = 0, rc = 0;
    x->reader = calloc((size_t)o->nranks + 1, sizeof *x->reader);
    x->src = calloc((size_t)o->nranks + 1, sizeof *x->src);
    if (load == NULL || x->reader == NULL || x->src == NULL) {
        free(load);
        return -1;
    }
    /* From storage, old file r is fetched by rank r * N / old N: the rank
     * whose new slices most likely cover it when an array is split evenly. */
    for (int r = 0; x->sm && r < o->nranks; r++)
        x->reader[r] = (int)((int64_t)r * x->ck->nranks / o->nranks);
    if (x->sm) {
        free(load);
        return 0;
    }
    qsort(o->v, (size_t)o->n, sizeof *o->v, by_rank_holder);
    for (int r = 0; r < o->nranks && rc == 0; r++) {
        int best = -1, h;
        for (; k < o->n && o->v[k].rank < r; k++)
            ;
        for (; k < o->n && o->v[k].rank == r; k++)
            if (best < 0 || load[o->v[k].holder] < load[o->v[best].holder])
                best = k;
        if (best < 0) {
            rc = -2; /* every copy of it was bad */
            break;
        }
        h = o->v[best].holder;
        x->reader[r] = t->members[t->first[h] + load[h]++ % topo_node_size(t, h)];
        x->src[r] = best;
    }
    free(load);
    return rc;
}

static void old_path(const reshape_t *x, int orank, char *path)
{
    const held_t *h = &x->o->v[x->src[orank]];
    cache_t c;
    if (x->sm) {
        cache_import_path(&x->ck->cache, x->o->step, orank, path, PATH_MAX);
        return;
    }
    cache_init(&c, x->ck->cfg.cache_dir, x->ck->cfg.job, h->dir);
    cache_rank_path(&c, h->step, orank, 0, path, PATH_MAX);
}

/* The n datasets d of old rank r's file, as slices this rank reads. */
static int push_slices(reshape_t *x, int r, const rf_dataset_t *d, int n,
                       ckpt_err_t *e)
{
    slice_t *v = realloc(x->mine, ((size_t)x->nmine + (size_t)n + 1) * sizeof *v);
    if (v == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory listing slices");
    x->mine = v;
    for (int i = 0; i < n; i++) {
        slice_t *s = &x->mine[x->nmine++];
        *s = (slice_t){.orank = r, .type = d[i].type, .kind = d[i].kind,
                       .count = d[i].count, .goff = d[i].goff,
                       .gcount = d[i].gcount, .off = d[i].off,
                       .checksum = d[i].checksum};
        snprintf(s->name, sizeof s->name, "%s", d[i].name);
    }
    return CKPT_OK;
}

/* Old rank r's file fetched from storage into this node's import
 * directory, checked against the manifest's digest, then indexed (HDF5
 * reads only checked bytes) and its identity compared. */
static int fetch_old(reshape_t *x, int r, ckpt_err_t *e)
{
    ckpt_t *ck = x->ck;
    char path[PATH_MAX];
    uint64_t digest = 0;
    rf_index_t idx = {0};
    int fd;
    cache_import_path(&ck->cache, x->o->step, -1, path, sizeof path);
    if (fio_mkdirs(path, e) != CKPT_OK)
        return e->code;
    old_path(x, r, path);
    /* a fresh file: whatever was at that name is replaced, not followed */
    unlink(path);
    if ((fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
        return err_sys(e, errno, "create %s", path);
    wb_fetch_rank(&ck->wb, x->sm, r, fd, path, &digest, e);
    close(fd);
    if (e->code == CKPT_OK && rankfile_index(path, &idx, e) == CKPT_OK &&
        (strcmp(idx.id.job, ck->cfg.job) || idx.id.step != x->o->step ||
         idx.id.generation != x->o->gen || idx.id.rank != r))
        err_set(e, CKPT_ECORRUPT, "%s is not rank %d's file of step %" PRId64,
                path, r, x->o->step);
    if (e->code == CKPT_OK)
        push_slices(x, r, idx.d, idx.n, e);
    rankfile_index_free(&idx);
    return e->code;
}

/* The datasets of the old files this rank reads, from their MANIFESTs. */
static int list_mine(reshape_t *x, ckpt_err_t *e)
{
    ckpt_t *ck = x->ck;
    x->mine = NULL;
    for (int r = 0; x->sm && r < x->o->nranks && e->code == CKPT_OK; r++)
        if (x->reader[r] == ck->rank)
            fetch_old(x, r, e);
    for (int r = 0; !x->sm && r < x->o->nranks && e->code == CKPT_OK; r++) {
        const held_t *h = &x->o->v[x->src[r]];
        const mf_entry_t *f;
        manifest_t m;
        if (x->reader[r] != ck->rank)
            continue;
        if (adopt_read(ck, h->dir, h->step, x->o->nranks, &m, e) != CKPT_OK) {
            x->bad[r] = 1;
            continue;
        }
        f = manifest_find(&m, r);
        x->bad[r] = f == NULL || m.generation != h->gen || f->digest != h->digest;
        if (x->bad[r])
            err_set(e, CKPT_ECORRUPT, "rank %d's file of step %" PRId64
                    " changed since init", r, h->step);
        else
            push_slices(x, r, m.d + f->first, f->nregions, e);
        manifest_free(&m);
    }
    return e->code;
}

/* Everybody's slices to all, in rank order. */
static int gather_slices(reshape_t *x, ckpt_err_t *e)
{
    MPI_Comm comm = x->ck->comm;
    int size = x->ck->nranks, n = x->nmine * (int)sizeof(slice_t), total = 0;
    int64_t sum = 0;
    int *counts = calloc((size_t)size, sizeof *counts);
    int *displs = calloc((size_t)size, sizeof *displs);
    if (counts == NULL || displs == NULL)
        err_set(e, CKPT_ENOMEM, "out of memory gathering slices");
    if (err_agree(comm, e) != CKPT_OK)
        goto out;
    if (MPI_Allgather(&n, 1, MPI_INT, counts, 1, MPI_INT, comm) != MPI_SUCCESS) {
        err_set(e, CKPT_EMPI, "MPI failed gathering slices");
        goto out;
    }
    for (int r = 0; r < size; r++)
        sum += counts[r];
    if (sum > INT_MAX / 2) { /* the same on every rank */
        err_set(e, CKPT_ENOMEM, "too many slices to list at once (%" PRId64
                " bytes)", sum);
        goto out;
    }
    for (int r = 0; r < size; r++) {
        displs[r] = total;
        total += counts[r];
    }
    x->nall = total / (int)sizeof(slice_t);
    if ((x->all = malloc((size_t)total + 1)) == NULL)
        err_set(e, CKPT_ENOMEM, "out of memory gathering slices");
    if (err_agree(comm, e) == CKPT_OK &&
        MPI_Allgatherv(x->mine, n, MPI_BYTE, x->all, counts, displs, MPI_BYTE,
                       comm) != MPI_SUCCESS)
        err_set(e, CKPT_EMPI, "MPI failed gathering slices");
out:
    free(counts);
    free(displs);
    return err_agree(comm, e);
}

static int by_goff(const void *a, const void *b)
{
    const slice_t *x = *(const slice_t *const *)a, *y = *(const slice_t *const *)b;
    return (x->goff > y->goff) - (x->goff < y->goff);
}

/* Region g against the old slices of its name: kind, type and global count
 * as protected, and the slices tile the array once. */
static int check_region(reshape_t *x, const region_t *g, ckpt_err_t *e)
{
    const slice_t **s = malloc(((size_t)x->nall + 1) * sizeof *s);
    uint64_t end = 0;
    int n = 0;
    if (s == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory checking slices");
    for (int k = 0; k < x->nall; k++)
        if (strcmp(x->all[k].name, g->name) == 0)
            s[n++] = &x->all[k];
    for (int k = 0; k < n && e->code == CKPT_OK; k++)
        if (s[k]->kind != g->kind || s[k]->type != (int)g->type ||
            s[k]->gcount != g->gcount)
            err_set(e, CKPT_EMISMATCH, "region '%s' was saved as %s %s[%" PRIu64
                    "] but is protected as %s %s[%" PRIu64 "]", g->name,
                    region_kind_name(s[k]->kind), type_name(s[k]->type),
                    s[k]->gcount, region_kind_name(g->kind), type_name(g->type),
                    g->gcount);
    if (n == 0)
        err_set(e, CKPT_EMISMATCH, "region '%s' is protected but not in step %"
                PRId64, g->name, x->o->step);
    qsort(s, (size_t)n, sizeof *s, by_goff);
    for (int k = 0; k < n && e->code == CKPT_OK; k++) {
        if (s[k]->count > 0 && s[k]->goff != end)
            err_set(e, NOT_AVAILABLE, "region '%s': the saved slices do not "
                    "tile it", g->name);
        end += s[k]->count;
    }
    if (e->code == CKPT_OK && end != g->gcount)
        err_set(e, NOT_AVAILABLE, "region '%s': the saved slices do not tile it",
                g->name);
    free(s);
    return e->code;
}

/* The regions protected now: alike on every rank, none private, each as
 * saved; then what every rank needs of each. */
static int check_all(reshape_t *x, ckpt_err_t *e)
{
    ckpt_t *ck = x->ck;
    uint64_t *mine;
    for (int i = 0; i < ck->regions.n && e->code == CKPT_OK; i++)
        if (ck->regions.v[i].kind == REGION_PRIVATE)
            err_set(e, CKPT_EMISMATCH, "region '%s' is private to a rank: step %"
                    PRId64 " was saved on %d ranks, this job has %d",
                    ck->regions.v[i].name, x->o->step, x->o->nranks, ck->nranks);
    x->ng = shape_shared(ck, &x->g);
    if (shape_agree(ck, x->g, x->ng, CKPT_EMISMATCH, e) != CKPT_OK)
        return e->code;
    for (int i = 0; i < x->ng && e->code == CKPT_OK; i++)
        check_region(x, x->g[i], e);
    mine = calloc(2 * (size_t)x->ng + 1, sizeof *mine);
    x->need = calloc(2 * (size_t)x->ng * (size_t)ck->nranks + 1, sizeof *x->need);
    if (mine == NULL || x->need == NULL)
        err_set(e, CKPT_ENOMEM, "out of memory planning the restore");
    if (err_agree(ck->comm, e) == CKPT_OK) {
        for (int i = 0; i < x->ng; i++) {
            int global = x->g[i]->kind == REGION_GLOBAL;
            mine[2 * i] = global ? x->g[i]->goff : 0;
            mine[2 * i + 1] = global ? x->g[i]->count : x->g[i]->gcount;
        }
        if (MPI_Allgather(mine, 2 * x->ng, MPI_UINT64_T, x->need, 2 * x->ng,
                          MPI_UINT64_T, ck->comm) != MPI_SUCCESS)
            err_set(e, CKPT_EMPI, "MPI failed planning the restore");
    }
    free(mine);
    return err_agree(ck->comm, e);
}

static int by_orank(const void *a, const void *b)
{
    const slice_t *x = a, *y = b;
    return (x->orank > y->orank) - (x->orank < y->orank);
}

static int g_by_name(const void *key, const void *elem)
{
    return strcmp(key, (*(region_t *const *)elem)->name);
}

static int overlap(uint64_t a, uint64_t c, uint64_t b, uint64_t d, uint64_t *lo,
                   uint64_t *hi);

/* Bytes of old file `orank`'s slices (all[k..end)) that rank n needs. */
static uint64_t needs(const reshape_t *x, int k, int end, int n)
{
    const uint64_t *nd = &x->need[(size_t)n * 2 * (size_t)x->ng];
    uint64_t sum = 0, lo, hi;
    for (; k < end; k++) {
        const slice_t *s = &x->all[k];
        region_t **g = bsearch(s->name, x->g, (size_t)x->ng, sizeof *x->g, g_by_name);
        size_t i = g ? (size_t)(g - x->g) : 0;
        if (g && overlap(s->goff, s->count, nd[2 * i], nd[2 * i + 1], &lo, &hi))
            sum += (hi - lo) * type_size((*g)->type);
    }
    return sum;
}

/* Readers moved to where the data goes: each old file is read by the rank,
 * on a node that holds it, whose new slices need most of its bytes (in
 * 8 -> 4 ranks on the same nodes, each rank reads what it had), ties to
 * the node that reads least so far. The same on every rank. */
static int assign_by_need(reshape_t *x)
{
    if (x->sm) /* fetched files are read where they were fetched */
        return 0;
    const topo_t *t = &x->ck->topo;
    other_save_t *o = x->o;
    int *load = calloc((size_t)t->nnodes + 1, sizeof *load), k = 0, e = 0;
    if (load == NULL)
        return -1;
    qsort(x->all, (size_t)x->nall, sizeof *x->all, by_orank);
    for (int r = 0; r < o->nranks; r++) {
        int end = k, best = -1, entry = -1;
        uint64_t most = 0;
        for (; end < x->nall && x->all[end].orank == r; end++)
            ;
        for (; e < o->n && o->v[e].rank < r; e++)
            ;
        for (int i = e; i < o->n && o->v[i].rank == r; i++) {
            int h = o->v[i].holder;
            for (int q = t->first[h]; q < t->first[h + 1]; q++) {
                int rank = t->members[q];
                uint64_t b = needs(x, k, end, rank);
                if (best < 0 || b > most ||
                    (b == most && load[h] < load[o->v[entry].holder])) {
                    best = rank;
                    entry = i;
                    most = b;
                }
            }
        }
        if (best >= 0) {
            x->reader[r] = best;
            x->src[r] = entry;
            load[o->v[entry].holder]++;
        }
        k = end;
    }
    free(load);
    return 0;
}

/* Posts the messages of bytes [0, len) at buf, in pieces of MSG_MAX; with
 * x->req NULL, only counts them (x->nreq). */
static int post(reshape_t *x, int send, void *buf, uint64_t len, int peer)
{
    for (uint64_t at = 0; at < len;) {
        int n = len - at > MSG_MAX ? MSG_MAX : (int)(len - at), rc = MPI_SUCCESS;
        if (x->req != NULL)
            rc = send ? MPI_Isend((char *)buf + at, n, MPI_BYTE, peer, TAG_SLICE,
                                  x->ck->comm, &x->req[x->nreq])
                      : MPI_Irecv((char *)buf + at, n, MPI_BYTE, peer, TAG_SLICE,
                                  x->ck->comm, &x->req[x->nreq]);
        if (rc != MPI_SUCCESS)
            return -1;
        x->nreq++;
        at += (uint64_t)n;
    }
    return 0;
}

/* The overlap of [a, a + c) and [b, b + d): 1 and [*lo, *hi) if any. */
static int overlap(uint64_t a, uint64_t c, uint64_t b, uint64_t d, uint64_t *lo,
                   uint64_t *hi)
{
    *lo = a > b ? a : b;
    *hi = a + c < b + d ? a + c : b + d;
    return *lo < *hi;
}

/* Reads `len` bytes at `off` of fd into buf in pieces, each hashed while
 * in the CPU cache: the XXH3-64 of all of them, or an error. */
static int read_hashed(int fd, unsigned char *buf, uint64_t len, uint64_t off,
                       const char *path, uint64_t *sum, ckpt_err_t *e)
{
    XXH3_state_t *h = XXH3_createState();
    if (h == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory reading %s", path);
    XXH3_64bits_reset(h);
    for (uint64_t at = 0; at < len && e->code == CKPT_OK;) {
        size_t n = len - at < PIECE ? (size_t)(len - at) : PIECE;
        if (fio_pread(fd, buf + at, n, off + at, path, e) == CKPT_OK)
            XXH3_64bits_update(h, buf + at, n);
        at += n;
    }
    *sum = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return e->code;
}

/* The old slices of region i this rank reads, each checked whole: read
 * straight into this rank's buffer where it needs the whole slice (own[k]),
 * else into memory of their own. */
static int read_slices(reshape_t *x, int i, unsigned char **buf, char *own,
                       ckpt_err_t *e)
{
    const region_t *g = x->g[i];
    size_t es = type_size(g->type);
    const uint64_t *me = &x->need[(size_t)x->ck->rank * 2 * (size_t)x->ng + 2 * (size_t)i];
    for (int k = 0; k < x->nall && e->code == CKPT_OK; k++) {
        const slice_t *s = &x->all[k];
        char path[PATH_MAX];
        uint64_t sum = 0;
        int fd;
        if (strcmp(s->name, g->name) || x->reader[s->orank] != x->ck->rank)
            continue;
        old_path(x, s->orank, path);
        own[k] = s->goff >= me[0] && s->goff + s->count <= me[0] + me[1];
        buf[k] = own[k] && s->count > 0 ? (unsigned char *)g->buf + (s->goff - me[0]) * es
                                        : malloc(s->count * es + 1);
        own[k] &= s->count > 0; /* an empty slice: nothing of the buffer */
        if (buf[k] == NULL) {
            err_set(e, CKPT_ENOMEM, "out of memory reading %s", path);
            break;
        }
        if ((fd = fio_open_read(path)) < 0) {
            err_set(e, NOT_AVAILABLE, "%s: cannot be read", path);
            x->bad[s->orank] = 1;
            break;
        }
        if (read_hashed(fd, buf[k], s->count * es, s->off, path, &sum, e) == CKPT_OK &&
            sum != s->checksum)
            err_set(e, NOT_AVAILABLE, "%s: region '%s' is damaged (checksum)",
                    path, s->name);
        else if (e->code != CKPT_OK && e->code != CKPT_ENOMEM)
            e->code = NOT_AVAILABLE; /* a read error: this copy is bad */
        x->bad[s->orank] = e->code == NOT_AVAILABLE;
        close(fd);
    }
    return err_agree(x->ck->comm, e);
}

/* The messages of region i: receives of the overlaps of the old slices
 * with this rank's needs (in slice order), then sends of the slices read
 * here to every rank that needs part of them (none to itself where it read
 * a slice into its own buffer). */
static int post_all(reshape_t *x, int i, unsigned char **buf, const char *own,
                    const uint64_t *me)
{
    const region_t *g = x->g[i];
    size_t es = type_size(g->type), w = 2 * (size_t)x->ng;
    int failed = 0;
    for (int k = 0; k < x->nall && !failed; k++) {
        const slice_t *s = &x->all[k];
        uint64_t lo, hi;
        if (!strcmp(s->name, g->name) && !(own[k] && x->reader[s->orank] == x->ck->rank) &&
            overlap(s->goff, s->count, me[0], me[1], &lo, &hi))
            failed = post(x, 0, (char *)g->buf + (lo - me[0]) * es, (hi - lo) * es,
                          x->reader[s->orank]);
    }
    for (int k = 0; k < x->nall && !failed; k++) {
        const slice_t *s = &x->all[k];
        if (strcmp(s->name, g->name) || x->reader[s->orank] != x->ck->rank)
            continue;
        for (int r = 0; r < x->ck->nranks && !failed; r++) {
            const uint64_t *n = &x->need[(size_t)r * w + 2 * (size_t)i];
            uint64_t lo, hi;
            if (!(own[k] && r == x->ck->rank) &&
                overlap(s->goff, s->count, n[0], n[1], &lo, &hi))
                failed = post(x, 1, buf[k] + (lo - s->goff) * es, (hi - lo) * es, r);
        }
    }
    return failed;
}

/* Region i to every rank that needs part of it: receives posted first
 * (old slices in order), then the sends of the slices read here (none to
 * this rank where it read a slice into its own buffer). */
static int move_region(reshape_t *x, int i, ckpt_err_t *e)
{
    ckpt_t *ck = x->ck;
    region_t *g = x->g[i];
    size_t w = 2 * (size_t)x->ng;
    unsigned char **buf = calloc((size_t)x->nall + 1, sizeof *buf);
    char *own = calloc((size_t)x->nall + 1, 1);
    const uint64_t *me = &x->need[(size_t)ck->rank * w + 2 * (size_t)i];
    int failed = buf == NULL || own == NULL;
    x->nreq = 0;
    if (failed)
        err_set(e, CKPT_ENOMEM, "out of memory moving region '%s'", g->name);
    if (err_agree(ck->comm, e) != CKPT_OK || read_slices(x, i, buf, own, e) != CKPT_OK)
        goto out;
    /* counted first: nothing can fail once a peer may be waiting */
    free(x->req);
    x->req = NULL;
    post_all(x, i, buf, own, me);
    if ((x->req = malloc(((size_t)x->nreq + 1) * sizeof *x->req)) == NULL)
        err_set(e, CKPT_ENOMEM, "out of memory moving region '%s'", g->name);
    if (err_agree(ck->comm, e) != CKPT_OK)
        goto out;
    x->nreq = 0;
    failed = post_all(x, i, buf, own, me);
    if (MPI_Waitall(x->nreq, x->req, MPI_STATUSES_IGNORE) != MPI_SUCCESS || failed)
        err_set(e, CKPT_EMPI, "MPI failed moving region '%s'", g->name);
out:
    for (int k = 0; buf && own && k < x->nall; k++)
        if (!own[k])
            free(buf[k]);
    free(buf);
    free(own);
    return err_agree(ck->comm, e);
}

/* After a try that found bad copies: they are left out (every rank learns
 * which), and 1 is returned if some are, so that another try can take the
 * other copies. */
static int drop_bad(reshape_t *x)
{
    other_save_t *o = x->o;
    int n = 0;
    if (MPI_Allreduce(MPI_IN_PLACE, x->bad, o->nranks, MPI_INT, MPI_LOR,
                      x->ck->comm) != MPI_SUCCESS)
        return 0;
    for (int i = 0; i < o->n; i++) {
        int r = o->v[i].rank, gone = x->bad[r] && x->src[r] == i;
        if (gone)
            log_msg(&x->ck->log, x->ck->rank == 0 ? LOG_WARN : LOG_DEBUG,
                    "rank %d's file of step %" PRId64 " in node %d's cache is "
                    "bad: trying another copy", r, o->step, o->v[i].holder);
        else
            o->v[n++] = o->v[i];
    }
    return n < o->n ? (o->n = n, 1) : 0;
}

static void reshape_free(reshape_t *x)
{
    free(x->reader);
    free(x->src);
    free(x->mine);
    free(x->all);
    free(x->g);
    free(x->need);
    free(x->req);
    free(x->bad);
    *x = (reshape_t){.ck = x->ck, .o = x->o, .sm = x->sm};
}

/* One try with the copies left. */
static int reshape_once(reshape_t *x, ckpt_err_t *e)
{
    ckpt_t *ck = x->ck;
    int rc;
    x->bad = calloc((size_t)x->o->nranks + 1, sizeof *x->bad);
    rc = x->bad == NULL ? -1 : assign_readers(x);
    if (rc == -1)
        err_set(e, CKPT_ENOMEM, "out of memory planning the restore");
    else if (rc == -2)
        err_set(e, NOT_AVAILABLE, "step %" PRId64 " of %d ranks: some rank's "
                "file has no good copy left", x->o->step, x->o->nranks);
    double t = log_now();
    if (err_agree(ck->comm, e) == CKPT_OK)
        list_mine(x, e);
    if (e->code != CKPT_OK && e->code != CKPT_ENOMEM && e->code != CKPT_EMPI)
        e->code = NOT_AVAILABLE; /* that copy is bad: another may do */
    if (gather_slices(x, e) == CKPT_OK && check_all(x, e) == CKPT_OK &&
        assign_by_need(x) != 0)
        err_set(e, CKPT_ENOMEM, "out of memory planning the restore");
    log_lap(&ck->log, "restore: slices listed and checked", &t);
    if (err_agree(ck->comm, e) != CKPT_OK)
        return e->code;
    for (int i = 0; i < x->ng && e->code == CKPT_OK; i++) {
        move_region(x, i, e); /* agreed */
        log_lap(&ck->log, "restore: a region moved", &t);
    }
    return e->code;
}

/* Tries until a try works, or finds no bad copy to leave out (from
 * storage: one try, there is no other copy). */
static int reshape_tries(reshape_t *x, ckpt_err_t *e)
{
    while (reshape_once(x, e) == NOT_AVAILABLE && !x->sm) {
        int can = x->bad != NULL && x->src != NULL, all = 0;
        MPI_Allreduce(&can, &all, 1, MPI_INT, MPI_LAND, x->ck->comm);
        if (!all || !drop_bad(x))
            break;
        err_clear(e);
        reshape_free(x);
    }
    if (e->code == CKPT_OK)
        log_msg(&x->ck->log, LOG_INFO, "step %" PRId64 " restored from the "
                "slices of %d ranks%s", x->o->step, x->o->nranks,
                x->sm ? " in storage" : "");
    reshape_free(x);
    return e->code;
}

int reshape_restore(ckpt_t *ck, ckpt_err_t *e)
{
    reshape_t x = {.ck = ck, .o = &ck->other};
    return reshape_tries(&x, e);
}

int reshape_from_storage(ckpt_t *ck, const smanifest_t *sm, ckpt_err_t *e)
{
    other_save_t o = {.step = sm->step, .gen = sm->generation, .nranks = sm->nranks};
    reshape_t x = {.ck = ck, .o = &o, .sm = sm};
    char dir[PATH_MAX];
    reshape_tries(&x, e);
    /* the fetched files served this restore only */
    MPI_Barrier(ck->comm);
    cache_import_path(&ck->cache, sm->step, -1, dir, sizeof dir);
    if (topo_is_leader(&ck->topo))
        fio_rmtree(dir);
    return e->code;
}
