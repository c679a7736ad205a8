/* Caches of another layout adopted at init (see adopt.h): each node's
 * leader inventories the rank files its root holds, every rank gets all
 * inventories and computes the same plan from them, files are linked or
 * moved into this layout's places, the node MANIFESTs are written for this
 * layout, and the old directories are discarded. */
#include "adopt.h"
#include "fileio.h"
#include "killpoint.h"
#include "move.h"
#include "step.h"

#include <dirent.h>
#include <errno.h>
#include <time.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


enum { DIR_USED = 1, DIR_UNSAFE = 2 }; /* usable files; a step unreadable */

/* A file this rank places: whose it is, and where it comes from (all[]). */
typedef struct place {
    int rank, from;
} place_t;

typedef struct adopt {
    ckpt_t *ck;
    held_t *mine;    /* this node's inventory (leaders only) */
    int nmine, cap;
    int64_t *dirs;   /* node-<k> directories of this root (leaders) */
    char *used;      /* per directory: DIR_* */
    int64_t *newest; /* per directory: its newest step read */
    int ndirs;
    int64_t *stale;  /* steps of this node's own directory of another layout */
    int nstale, foreign;
    held_t *all;     /* every node's inventory */
    int nall;
    int64_t step;    /* the save adopted */
    uint64_t gen;
    int nranks;      /* its rank count */
    int *first, *order; /* all[order[first[r] ..]]: rank r's files of it */
    int *send_round, *recv_round, *recv_entry; /* this rank's transfers */
    int *bad;        /* per all[] entry: its file failed to arrive */
} adopt_t;

static int push_held(adopt_t *a, const held_t *h)
{
    if (a->nmine == a->cap) {
        int cap = a->cap ? 2 * a->cap : 64;
        held_t *v = realloc(a->mine, (size_t)cap * sizeof *v);
        if (v == NULL)
            return -1;
        a->mine = v;
        a->cap = cap;
    }
    a->mine[a->nmine++] = *h;
    return 0;
}

/* The MANIFEST of step-<step> in node-<dir> of this root, if this job's
 * for that step (and `nranks` ranks, if > 0), without RS parity (whose
 * geometry a new layout does not keep). */
int adopt_read(const ckpt_t *ck, int dir, int64_t step, int nranks,
               manifest_t *m, ckpt_err_t *e)
{
    cache_t c;
    char path[PATH_MAX];
    cache_init(&c, ck->cfg.cache_dir, ck->cfg.job, dir);
    cache_step_dir(&c, step, path, sizeof path);
    if (manifest_read(path, m, e) != CKPT_OK)
        return e->code;
    if (strcmp(m->job, ck->cfg.job) != 0 || m->step != step ||
        (nranks > 0 && m->nranks != nranks) || m->generation == 0 || m->rs_k != 0) {
        manifest_free(m);
        return err_set(e, CKPT_ENOENT, "%s: another job, step or layout", path);
    }
    return CKPT_OK;
}

/* A directory of our own, not a link or a place others can write: only
 * then is it read, linked from and discarded. */
static int own_dir(const ckpt_t *ck, int dir)
{
    cache_t c;
    struct stat st;
    cache_init(&c, ck->cfg.cache_dir, ck->cfg.job, dir);
    return lstat(c.node_dir, &st) == 0 && S_ISDIR(st.st_mode) &&
           st.st_uid == geteuid() && (st.st_mode & 022) == 0;
}

/* Whether m is what this layout writes on this node: this job's node and
 * rank counts, own files of this node's ranks, copies of its clients. */
static int laid_out_here(const ckpt_t *ck, const manifest_t *m)
{
    const topo_t *t = &ck->topo;
    if (m->node != t->node || m->nnodes != t->nnodes || m->nranks != ck->nranks)
        return 0;
    for (int k = 0; k < m->n; k++) {
        int r = m->e[k].rank, p = topo_partner_of(t, r);
        if (m->e[k].kind != MF_FILE)
            continue;
        if (m->e[k].own ? t->node_of[r] != t->node : p < 0 || t->node_of[p] != t->node)
            return 0;
    }
    return 1;
}

/* A listed file is there, a regular file of its listed size (a missing
 * or cut one is not counted as held: the plan takes another copy). */
static int file_there(const cache_t *c, const held_t *h)
{
    char path[PATH_MAX];
    struct stat st;
    cache_rank_path(c, h->step, h->rank, 0, path, sizeof path);
    return lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
           (uint64_t)st.st_size == h->size;
}

static int inventory_dir(adopt_t *a, int i, ckpt_err_t *e)
{
    ckpt_t *ck = a->ck;
    int dir = (int)a->dirs[i], ns = 0;
    int64_t *steps = NULL;
    cache_t c;
    cache_init(&c, ck->cfg.cache_dir, ck->cfg.job, dir);
    if (!own_dir(ck, dir))
        return CKPT_OK;
    if (cache_list_steps(&c, 1, &steps, &ns, e) != CKPT_OK) {
        free(steps);
        return e->code;
    }
    if (dir == ck->topo.node && (a->stale = calloc((size_t)ns + 1, sizeof *a->stale)) == NULL)
        err_set(e, CKPT_ENOMEM, "out of memory listing the cache");
    for (int s = 0; s < ns && e->code == CKPT_OK; s++) {
        manifest_t m;
        ckpt_err_t me = {0};
        int same;
        if (adopt_read(ck, dir, steps[s], 0, &m, &me) != CKPT_OK) {
            /* another job's or layout's is left alone; one that cannot be
             * read keeps its whole directory from being discarded */
            a->used[i] |= me.code != CKPT_ENOENT ? DIR_UNSAFE : 0;
            continue;
        }
        same = dir == ck->topo.node && laid_out_here(ck, &m);
        if (!same && dir == ck->topo.node)
            a->stale[a->nstale++] = steps[s];
        if (steps[s] > a->newest[i])
            a->newest[i] = steps[s];
        for (int k = 0; k < m.n && e->code == CKPT_OK; k++) {
            const mf_entry_t *x = &m.e[k];
            held_t h = {.step = m.step, .gen = m.generation, .size = x->size,
                        .digest = x->digest, .rank = x->rank,
                        .nranks = m.nranks, .holder = ck->topo.node, .dir = dir};
            if (x->kind != MF_FILE || !file_there(&c, &h))
                continue;
            if (push_held(a, &h) != 0)
                err_set(e, CKPT_ENOMEM, "out of memory listing the cache");
            a->used[i] |= DIR_USED;
            a->foreign |= !same;
        }
        manifest_free(&m);
    }
    free(steps);
    return e->code;
}

/* A leader lists every node-<k> directory of its root and the rank files
 * their complete steps list. */
static int inventory(adopt_t *a, ckpt_err_t *e)
{
    ckpt_t *ck = a->ck;
    if (cache_list_nodes(ck->cfg.cache_dir, ck->cfg.job, &a->dirs, &a->ndirs,
                         e) != CKPT_OK)
        return e->code;
    a->used = calloc((size_t)a->ndirs + 1, 1);
    a->newest = calloc((size_t)a->ndirs + 1, sizeof *a->newest);
    if (a->used == NULL || a->newest == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory listing the cache");
    for (int i = 0; i < a->ndirs && e->code == CKPT_OK; i++)
        inventory_dir(a, i, e);
    return e->code;
}

static int exchange(adopt_t *a, ckpt_err_t *e)
{
    MPI_Comm comm = a->ck->comm;
    int n = a->nmine * (int)sizeof(held_t), size = a->ck->nranks, total = 0;
    int *counts = calloc((size_t)size, sizeof *counts);
    int *displs = calloc((size_t)size, sizeof *displs);
    if (counts == NULL || displs == NULL)
        err_set(e, CKPT_ENOMEM, "out of memory gathering the caches' lists");
    if (err_agree(comm, e) != CKPT_OK)
        goto out;
    if (MPI_Allgather(&n, 1, MPI_INT, counts, 1, MPI_INT, comm) != MPI_SUCCESS) {
        err_set(e, CKPT_EMPI, "MPI failed gathering the caches' lists");
        goto out;
    }
    for (int r = 0; r < size; r++) {
        displs[r] = total;
        total += counts[r];
    }
    a->nall = total / (int)sizeof(held_t);
    if ((a->all = malloc((size_t)total + 1)) == NULL)
        err_set(e, CKPT_ENOMEM, "out of memory gathering the caches' lists");
    if (err_agree(comm, e) == CKPT_OK &&
        MPI_Allgatherv(a->mine, n, MPI_BYTE, a->all, counts, displs, MPI_BYTE,
                       comm) != MPI_SUCCESS)
        err_set(e, CKPT_EMPI, "MPI failed gathering the caches' lists");
out:
    free(counts);
    free(displs);
    return e->code;
}

/* Whether every rank's file of save (step, gen) of nr ranks is held
 * somewhere, and listed alike wherever it is. */
static int covered(const adopt_t *a, int64_t step, uint64_t gen, int nr)
{
    int seen = 0;
    int *at = malloc(((size_t)nr + 1) * sizeof *at);
    if (at == NULL)
        return -1;
    for (int r = 0; r < nr; r++)
        at[r] = -1;
    for (int i = 0; i < a->nall && seen >= 0; i++) {
        const held_t *h = &a->all[i];
        if (h->step != step || h->gen != gen || h->nranks != nr || h->rank < 0 ||
            h->rank >= nr)
            continue;
        if (at[h->rank] < 0) {
            at[h->rank] = i;
            seen++;
        } else if (a->all[at[h->rank]].size != h->size ||
                   a->all[at[h->rank]].digest != h->digest) {
            seen = -1;
        }
    }
    free(at);
    return seen == nr;
}

/* The newest step whose newest save no save of an earlier step supersedes
 * and whose files are all held, whatever its rank count: 1 if there is
 * one, -1 out of memory. */
static int choose(adopt_t *a)
{
    int64_t bound = INT64_MAX;
    for (;;) {
        int64_t step = -1;
        uint64_t gen = 0;
        int superseded = 0, nranks = 0;
        for (int i = 0; i < a->nall; i++)
            if (a->all[i].step < bound && a->all[i].step > step)
                step = a->all[i].step;
        if (step < 0)
            return 0;
        for (int i = 0; i < a->nall; i++)
            if (a->all[i].step == step && a->all[i].gen > gen)
                gen = a->all[i].gen;
        for (int i = 0; i < a->nall; i++) {
            superseded |= a->all[i].step < step && a->all[i].gen > gen;
            if (a->all[i].step == step && a->all[i].gen == gen)
                nranks = a->all[i].nranks;
        }
        int whole = superseded ? 0 : covered(a, step, gen, nranks);
        if (whole < 0)
            return -1;
        if (whole) {
            a->step = step;
            a->gen = gen;
            a->nranks = nranks;
            return 1;
        }
        bound = step;
    }
}

/* all[order[first[r] .. first[r+1])]: the entries of rank r's file of the
 * save adopted. */
static int index_by_rank(adopt_t *a)
{
    int nr = a->ck->nranks;
    free(a->first);
    free(a->order);
    a->first = calloc((size_t)nr + 2, sizeof *a->first);
    a->order = calloc((size_t)a->nall + 1, sizeof *a->order);
    if (a->first == NULL || a->order == NULL)
        return -1;
    for (int i = 0; i < a->nall; i++)
        if (a->all[i].step == a->step && a->all[i].gen == a->gen &&
            a->all[i].rank >= 0 && a->all[i].rank < nr)
            a->first[a->all[i].rank + 2]++;
    for (int r = 0; r < nr; r++)
        a->first[r + 2] += a->first[r + 1];
    for (int i = 0; i < a->nall; i++)
        if (a->all[i].step == a->step && a->all[i].gen == a->gen &&
            a->all[i].rank >= 0 && a->all[i].rank < nr)
            a->order[a->first[a->all[i].rank + 1]++] = i;
    return 0;
}

/* How many transfers the pair (from, to) had before this one: a pair of
 * ranks carries one file per round of move_files. An open-addressed table
 * of 2^bits slots, more than twice the transfers. */
static int pair_round(int64_t *keys, int *counts, int bits, int64_t key)
{
    size_t mask = ((size_t)1 << bits) - 1, i = (size_t)(key * 0x9E3779B97F4A7C15ULL >> 7) & mask;
    while (keys[i] != -1 && keys[i] != key)
        i = (i + 1) & mask;
    keys[i] = key;
    return counts[i]++;
}

/* What this rank does of the plan that every rank computes alike: each
 * rank's file goes to the rank itself and to the rank keeping its copy. A
 * node that holds the file links it; else the holder that sends least so
 * far sends it, from its ranks in turn, in the round after the last one
 * that pair of ranks used. Returns the number of rounds, or -1 (memory). */
static int plan(adopt_t *a, int *load, move_t *send, int *ns, move_t *recv,
                int *nr, place_t *link, int *nl)
{
    const topo_t *t = &a->ck->topo;
    int me = a->ck->rank, bits = 4, rounds = 1;
    int64_t *keys;
    int *counts;
    while (((int64_t)1 << bits) < 4 * (int64_t)a->ck->nranks + 16)
        bits++;
    keys = malloc(((size_t)1 << bits) * sizeof *keys);
    counts = calloc((size_t)1 << bits, sizeof *counts);
    if (keys == NULL || counts == NULL) {
        free(keys);
        free(counts);
        return -1;
    }
    memset(keys, 0xff, ((size_t)1 << bits) * sizeof *keys);
    for (int r = 0; r < a->ck->nranks; r++) {
        int dest[2] = {r, topo_partner_of(t, r)};
        for (int j = 0; j < 2; j++) {
            int d = dest[j], here = -1, best = -1, h, sender, round;
            if (d < 0)
                continue;
            for (int k = a->first[r]; k < a->first[r + 1] && here < 0; k++) {
                const held_t *x = &a->all[a->order[k]];
                if (x->holder == t->node_of[d])
                    here = a->order[k];
                else if (best < 0 || load[x->holder] < load[a->all[best].holder])
                    best = a->order[k];
            }
            if (here >= 0 || best < 0) { /* (best < 0: not covered) */
                if (here >= 0 && d == me)
                    link[(*nl)++] = (place_t){.rank = r, .from = here};
                continue;
            }
            h = a->all[best].holder;
            sender = t->members[t->first[h] + load[h]++ % topo_node_size(t, h)];
            round = pair_round(keys, counts, bits,
                               (int64_t)sender * a->ck->nranks + d);
            rounds = round >= rounds ? round + 1 : rounds;
            if (sender == me) { /* x.rank: the file's entry in all[], for now */
                a->send_round[*ns] = round;
                send[(*ns)++] = (move_t){.peer = d, .rank = r, .x = {.rank = best}};
            }
            if (d == me) {
                a->recv_round[*nr] = round;
                a->recv_entry[*nr] = best;
                recv[(*nr)++] = (move_t){.peer = sender, .rank = r};
            }
        }
    }
    free(keys);
    free(counts);
    return rounds;
}

/* held entry i's file: its path, and its entry with its index from the
 * MANIFEST that lists it (checked against what the plan was made from). */
static int held_file(const adopt_t *a, int i, char *path, mf_entry_t *x,
                     rf_index_t *idx, ckpt_err_t *e)
{
    const held_t *h = &a->all[i];
    const mf_entry_t *f;
    manifest_t m;
    cache_t c;
    cache_init(&c, a->ck->cfg.cache_dir, a->ck->cfg.job, h->dir);
    cache_rank_path(&c, h->step, h->rank, 0, path, PATH_MAX);
    if (adopt_read(a->ck, h->dir, h->step, h->nranks, &m, e) != CKPT_OK)
        return e->code;
    f = manifest_find(&m, h->rank);
    if (f == NULL || m.generation != h->gen || f->size != h->size ||
        f->digest != h->digest)
        err_set(e, CKPT_ECORRUPT, "%s changed while the caches were adopted", path);
    else if (manifest_index(&m, f, idx) != 0)
        err_set(e, CKPT_ENOMEM, "out of memory adopting %s", path);
    else
        *x = (mf_entry_t){.rank = h->rank, .own = h->rank == a->ck->rank,
                          .kind = MF_FILE, .size = h->size, .digest = h->digest,
                          .idx = idx};
    manifest_free(&m);
    return e->code;
}

/* A file this node holds, put in place under this node's step directory:
 * a hard link (the old directory keeps its name until it is discarded). */
static int link_file(adopt_t *a, const place_t *p, mf_entry_t *x,
                     rf_index_t *idx, ckpt_err_t *e)
{
    char from[PATH_MAX], to[PATH_MAX], tmp[PATH_MAX], fdpath[64];
    struct stat st;
    int fd;
    if (held_file(a, p->from, from, x, idx, e) != CKPT_OK)
        return e->code;
    cache_rank_path(&a->ck->cache, a->step, p->rank, 0, to, sizeof to);
    cache_rank_path(&a->ck->cache, a->step, p->rank, 1, tmp, sizeof tmp);
    /* The file opened (a regular one, not through a link) is the one
     * checked and the one linked: nothing can be swapped in between. */
    if ((fd = fio_open_read(from)) < 0 || fstat(fd, &st) != 0 ||
        (uint64_t)st.st_size != x->size) {
        if (fd >= 0)
            close(fd);
        return err_set(e, CKPT_ECORRUPT, "%s is not the file its MANIFEST lists",
                       from);
    }
    snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
    if (strcmp(from, to) != 0) { /* else: already in place */
        unlink(tmp);
        if (linkat(AT_FDCWD, fdpath, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) != 0)
            err_sys(e, errno, "link %s", from);
        else if (rename(tmp, to) != 0)
            err_sys(e, errno, "rename %s", tmp);
        if (e->code != CKPT_OK)
            unlink(tmp);
    }
    close(fd);
    return e->code;
}

/* The files sent: their paths, entries and indexes, from their MANIFESTs.
 * One that cannot be read is sent as a refusal. */
static void open_sends(adopt_t *a, move_t *send, int ns, char (*paths)[PATH_MAX],
                       rf_index_t *idx)
{
    for (int k = 0; k < ns; k++) {
        ckpt_err_t e = {0};
        int i = send[k].x.rank;
        send[k].from = paths[k];
        if (held_file(a, i, paths[k], &send[k].x, &idx[k], &e) != CKPT_OK)
            send[k].x = (mf_entry_t){.rank = send[k].rank}; /* no index: refused */
    }
}

/* The transfers of one round: this rank's sends and receives of it moved
 * together (move_files), each received file then listed in mine[]. A file
 * that failed to arrive marks its source bad. */
static int move_round(adopt_t *a, int round, move_t *send, int ns, move_t *recv,
                      int nr, move_t *tmp, mf_entry_t *mine, int *nm,
                      ckpt_err_t *e)
{
    int s = 0, r = 0;
    for (int k = 0; k < ns; k++)
        if (a->send_round[k] == round)
            tmp[s++] = send[k];
    for (int k = 0; k < nr; k++)
        if (a->recv_round[k] == round)
            tmp[s + r++] = recv[k];
    move_files(a->ck, a->step, tmp, s, tmp + s, r, e);
    for (int k = 0, j = 0; k < nr; k++) {
        if (a->recv_round[k] != round)
            continue;
        recv[k] = tmp[s + j++];
        if (recv[k].failed) {
            a->bad[a->recv_entry[k]] = 1;
            continue;
        }
        mine[*nm] = recv[k].x;
        mine[*nm].own = recv[k].rank == a->ck->rank;
        mine[(*nm)++].idx = &recv[k].idx;
    }
    return e->code;
}

/* Links this node's files into place; one that fails marks its entry bad. */
static int link_all(adopt_t *a, place_t *link, int nl, mf_entry_t *mine,
                    rf_index_t *idx, int *nm, ckpt_err_t *e)
{
    char dir[PATH_MAX];
    cache_step_dir(&a->ck->cache, a->step, dir, sizeof dir);
    if (fio_mkdirs(dir, e) != CKPT_OK)
        return e->code;
    for (int k = 0; k < nl && e->code == CKPT_OK; k++)
        if (link_file(a, &link[k], &mine[*nm], &idx[*nm], e) == CKPT_OK) {
            (*nm)++;
        } else {
            rankfile_index_free(&idx[*nm]);
            a->bad[link[k].from] = e->code == CKPT_ECORRUPT;
        }
    return e->code;
}

/* Places this rank's files of the adopted save, and lists them in its
 * node's MANIFEST for this layout. Collective. */
static int place_all(adopt_t *a, int *counts, ckpt_err_t *e)
{
    ckpt_t *ck = a->ck;
    int n = 2 * ck->nranks + 1, nc = ck->topo.nclients + 2;
    int ns = 0, nr = 0, nl = 0, nm = 0, rounds = -1;
    int *load = calloc((size_t)ck->topo.nnodes + 1, sizeof *load);
    move_t *send = calloc((size_t)n, sizeof *send);
    move_t *recv = calloc((size_t)nc, sizeof *recv);
    move_t *tmp = calloc((size_t)(n + nc), sizeof *tmp);
    place_t *link = calloc((size_t)nc, sizeof *link);
    rf_index_t *idx = calloc((size_t)(n + nc), sizeof *idx);
    mf_entry_t *mine = calloc((size_t)nc, sizeof *mine);
    char (*paths)[PATH_MAX] = NULL;
    free(a->send_round);
    free(a->recv_round);
    free(a->recv_entry);
    a->send_round = calloc((size_t)n, sizeof *a->send_round);
    a->recv_round = calloc((size_t)nc, sizeof *a->recv_round);
    a->recv_entry = calloc((size_t)nc, sizeof *a->recv_entry);
    if (load && send && recv && tmp && link && idx && mine && a->send_round &&
        a->recv_round && a->recv_entry && index_by_rank(a) == 0)
        rounds = plan(a, load, send, &ns, recv, &nr, link, &nl);
    if (rounds < 0 || (paths = calloc((size_t)ns + 1, PATH_MAX)) == NULL)
        err_set(e, CKPT_ENOMEM, "out of memory adopting the caches");
    else
        link_all(a, link, nl, mine, idx + n, &nm, e);
    if (err_agree(ck->comm, e) != CKPT_OK)
        goto out;
    open_sends(a, send, ns, paths, idx);
    for (int r = 0; r < rounds; r++)
        move_round(a, r, send, ns, recv, nr, tmp, mine, &nm, e);
    killpoint("adopt-placed", ck->rank);
    if (err_agree(ck->comm, e) == CKPT_OK)
        step_commit_node(ck, a->step, a->gen, mine, nm, NULL, e);
    err_agree(ck->comm, e);
    counts[0] = nl;
    counts[1] = nr;
out:
    for (int k = 0; idx && k < n + nc; k++)
        rankfile_index_free(&idx[k]);
    for (int k = 0; recv && k < nr; k++)
        rankfile_index_free(&recv[k].idx);
    free(load);
    free(send);
    free(recv);
    free(tmp);
    free(link);
    free(idx);
    free(mine);
    free(paths);
    return e->code;
}

static int listed_in(void *ctx, int rank)
{
    return manifest_find(ctx, rank) != NULL;
}

/* After the new MANIFESTs: the old directories, and steps of this node's
 * own directory that another layout wrote, are discarded; files of the
 * step adopted that its new MANIFEST does not list are removed. */
static void retire(adopt_t *a)
{
    ckpt_t *ck = a->ck;
    ckpt_err_t e = {0};
    for (int i = 0; i < a->ndirs; i++)
        if (a->used[i] == DIR_USED && a->newest[i] <= a->step &&
            a->dirs[i] != ck->topo.node &&
            cache_retire_node(&ck->cache, ck->cfg.cache_dir, ck->cfg.job,
                              (int)a->dirs[i], &e) != CKPT_OK)
            break;
    for (int s = 0; s < a->nstale && e.code == CKPT_OK; s++)
        if (a->stale[s] < a->step) /* older layouts' steps; newer ones not whole */
            cache_discard_step(&ck->cache, a->stale[s], &e);
    if (e.code == CKPT_OK) {
        char dir[PATH_MAX];
        manifest_t m;
        cache_step_dir(&ck->cache, a->step, dir, sizeof dir);
        if (manifest_read(dir, &m, &e) == CKPT_OK)
            cache_prune_step(&ck->cache, a->step, listed_in, &m);
        manifest_free(&m);
    }
    if (e.code != CKPT_OK)
        log_msg(&ck->log, LOG_WARN, "after adopting the caches: %s", e.msg);
}

/* An entry of the save chosen, of its rank count, for one of its ranks. */
static int of_other(const adopt_t *a, const held_t *h)
{
    return h->step == a->step && h->gen == a->gen && h->nranks == a->nranks &&
           h->rank >= 0 && h->rank < a->nranks;
}

/* A save of another rank count is not placed now: a restore reads its
 * slices where they are (reshape.c). Its files are kept in the handle. */
static void keep_other(adopt_t *a, ckpt_err_t *e)
{
    other_save_t *o = &a->ck->other;
    int n = 0;
    for (int i = 0; i < a->nall; i++)
        n += of_other(a, &a->all[i]);
    if ((o->v = malloc(((size_t)n + 1) * sizeof *o->v)) == NULL) {
        err_set(e, CKPT_ENOMEM, "out of memory listing the caches");
        return;
    }
    for (int i = 0; i < a->nall; i++)
        if (of_other(a, &a->all[i]))
            o->v[o->n++] = a->all[i];
    o->step = a->step;
    o->gen = a->gen;
    o->nranks = a->nranks;
    log_msg(&a->ck->log, a->ck->rank == 0 ? LOG_INFO : LOG_DEBUG, "step %"
            PRId64 " of %d ranks is in the caches: a restore can take its "
            "global and replicated regions", o->step, o->nranks);
}

int adopt_other_level(const ckpt_t *ck)
{
    const other_save_t *o = &ck->other;
    int level = CKPT_LEVEL_PARTNER;
    for (int r = 0; r < o->nranks && level > CKPT_LEVEL_NONE; r++) {
        int first = -1, nodes = 0;
        for (int i = 0; i < o->n && nodes < 2; i++)
            if (o->v[i].rank == r && o->v[i].holder != first) {
                first = nodes == 0 ? o->v[i].holder : first;
                nodes++;
            }
        if (nodes < 2)
            level = nodes == 1 ? CKPT_LEVEL_LOCAL : CKPT_LEVEL_NONE;
    }
    return level;
}

/* This node's own steps saved by another rank count (superseded). */
static void discard_other_counts(ckpt_t *ck)
{
    ckpt_err_t e = {0};
    int64_t *steps = NULL;
    int n = 0;
    if (cache_list_steps(&ck->cache, 1, &steps, &n, &e) == CKPT_OK)
        for (int i = 0; i < n; i++) {
            manifest_t m;
            ckpt_err_t me = {0};
            if (adopt_read(ck, ck->topo.node, steps[i], 0, &m, &me) != CKPT_OK)
                continue;
            if (m.nranks != ck->nranks)
                cache_discard_step(&ck->cache, steps[i], &me);
            manifest_free(&m);
        }
    free(steps);
}

void adopt_forget_other(ckpt_t *ck, int retire)
{
    other_save_t *o = &ck->other;
    for (int i = 0; retire && topo_is_leader(&ck->topo) && i < o->n; i++) {
        ckpt_err_t e = {0};
        int dir = o->v[i].dir, seen = 0;
        for (int k = 0; k < i; k++)
            seen |= o->v[k].holder == o->v[i].holder && o->v[k].dir == dir;
        if (!seen && o->v[i].holder == ck->topo.node && dir != ck->topo.node &&
            cache_retire_node(&ck->cache, ck->cfg.cache_dir, ck->cfg.job, dir,
                              &e) != CKPT_OK)
            log_msg(&ck->log, LOG_WARN, "%s", e.msg);
    }
    if (retire && topo_is_leader(&ck->topo))
        discard_other_counts(ck);
    free(o->v);
    *o = (other_save_t){.step = -1};
}

static void adopt_free(adopt_t *a)
{
    free(a->mine);
    free(a->dirs);
    free(a->used);
    free(a->newest);
    free(a->send_round);
    free(a->recv_round);
    free(a->recv_entry);
    free(a->bad);
    free(a->stale);
    free(a->all);
    free(a->first);
    free(a->order);
}

/* Collective: whether some node's root is another's too (a shared file
 * system): each leader leaves a token named for this run and its node,
 * and looks for the others' tokens. Then every node owns just node-<n>
 * there, and nothing is adopted. */
static int root_shared(ckpt_t *ck)
{
    char dir[PATH_MAX], tok[PATH_MAX + 128], prefix[64];
    unsigned long long run = (unsigned long long)time(NULL) << 20 ^
                             (unsigned long long)getpid();
    int seen = 0, any = 0, fd = -1;
    MPI_Bcast(&run, 1, MPI_UNSIGNED_LONG_LONG, 0, ck->comm);
    snprintf(dir, sizeof dir, "%s/%s", ck->cfg.cache_dir, ck->cfg.job);
    snprintf(prefix, sizeof prefix, "token-%llx-", run);
    snprintf(tok, sizeof tok, "%s/%s%d", dir, prefix, ck->topo.node);
    if (topo_is_leader(&ck->topo))
        fd = open(tok, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    MPI_Barrier(ck->comm);
    if (topo_is_leader(&ck->topo)) {
        DIR *d = opendir(dir);
        struct dirent *x;
        while (d && (x = readdir(d)) != NULL)
            seen |= strncmp(x->d_name, prefix, strlen(prefix)) == 0 &&
                    atoi(x->d_name + strlen(prefix)) != ck->topo.node;
        if (d)
            closedir(d);
    }
    MPI_Allreduce(&seen, &any, 1, MPI_INT, MPI_LOR, ck->comm);
    if (fd >= 0) {
        close(fd);
        unlink(tok);
    }
    return any;
}

/* Collective, after a try that failed: the sources of files that did not
 * arrive are left out (every rank learns which); 1 if some were. */
static int drop_bad(adopt_t *a)
{
    int n = 0;
    if (MPI_Allreduce(MPI_IN_PLACE, a->bad, a->nall, MPI_INT, MPI_LOR,
                      a->ck->comm) != MPI_SUCCESS)
        return 0;
    for (int i = 0; i < a->nall; i++)
        if (a->bad[i]) {
            a->all[i].step = -1; /* no longer held */
            a->bad[i] = 0;
            n++;
        }
    if (n > 0)
        log_msg(&a->ck->log, a->ck->rank == 0 ? LOG_WARN : LOG_DEBUG, "%d "
                "cached files of another layout did not arrive: trying other "
                "copies", n);
    return n > 0;
}

/* Collective: places the newest whole save, trying other copies of files
 * whose copy failed; a save of another rank count is kept for a restore. */
static void adopt_newest(adopt_t *a, ckpt_err_t *e)
{
    ckpt_t *ck = a->ck;
    int counts[2] = {0, 0}, sums[2] = {0, 0};
    if ((a->bad = calloc((size_t)a->nall + 1, sizeof *a->bad)) == NULL)
        err_set(e, CKPT_ENOMEM, "out of memory adopting the caches");
    while (err_agree(ck->comm, e) == CKPT_OK) {
        int c = choose(a);
        if (c < 0)
            err_set(e, CKPT_ENOMEM, "out of memory adopting the caches");
        if (err_agree(ck->comm, e) != CKPT_OK)
            return;
        if (c == 0) {
            log_msg(&ck->log, ck->rank == 0 ? LOG_INFO : LOG_DEBUG, "the caches "
                    "hold another layout's files, but no step whole: none adopted");
            return;
        }
        if (a->nranks != ck->nranks) {
            keep_other(a, e);
            if (err_agree(ck->comm, e) != CKPT_OK) /* alike on every rank */
                adopt_forget_other(ck, 0);
            return;
        }
        if (place_all(a, counts, e) == CKPT_OK)
            break;
        if (!drop_bad(a))
            return;
        err_clear(e);
    }
    if (e->code != CKPT_OK)
        return;
    killpoint("adopt-committed", ck->rank);
    if (topo_is_leader(&ck->topo))
        retire(a);
    MPI_Allreduce(counts, sums, 2, MPI_INT, MPI_SUM, ck->comm);
    log_msg(&ck->log, ck->rank == 0 ? LOG_INFO : LOG_DEBUG, "step %" PRId64
            " adopted from caches of another layout: %d files linked in "
            "place, %d sent between nodes", a->step, sums[0], sums[1]);
}

void adopt_caches(ckpt_t *ck)
{
    adopt_t a = {.ck = ck};
    ckpt_err_t e = {0};
    int any = 0;
    /* Emulated nodes sharing one root each own just node-<n> there. */
    if (USES_RS(ck) || (ck->cfg.ranks_per_node > 0 && !ck->cfg.root_per_node))
        return;
    if (root_shared(ck)) {
        log_msg(&ck->log, ck->rank == 0 ? LOG_INFO : LOG_DEBUG, "cache_dir is "
                "shared between nodes: each uses its node-<n> there");
        return;
    }
    if (topo_is_leader(&ck->topo))
        inventory(&a, &e);
    if (e.code != CKPT_OK)
        a.foreign = 1; /* agreed below, and reported */
    if (MPI_Allreduce(&a.foreign, &any, 1, MPI_INT, MPI_LOR, ck->comm) != MPI_SUCCESS)
        err_set(&e, CKPT_EMPI, "MPI failed asking about the caches");
    if ((any || e.code != CKPT_OK) && err_agree(ck->comm, &e) == CKPT_OK &&
        exchange(&a, &e) == CKPT_OK)
        adopt_newest(&a, &e);
    if (e.code != CKPT_OK)
        log_msg(&ck->log, ck->rank == 0 ? LOG_WARN : LOG_DEBUG, "caches of "
                "another layout not adopted: %s", e.msg);
    adopt_free(&a);
}
