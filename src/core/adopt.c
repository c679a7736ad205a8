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

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One rank file a node's root holds, as its MANIFEST lists it. */
typedef struct held {
    int64_t step;
    uint64_t gen, size, digest;
    int32_t rank;
    int32_t holder; /* the node, numbered as now, whose root holds it */
    int32_t dir;    /* in node-<dir> there */
    int32_t pad;
} held_t;

/* A file this rank places: whose it is, and where it comes from (all[]). */
typedef struct place {
    int rank, from;
} place_t;

typedef struct adopt {
    ckpt_t *ck;
    held_t *mine;    /* this node's inventory (leaders only) */
    int nmine, cap;
    int64_t *dirs;   /* node-<k> directories of this root (leaders) */
    char *used;      /* per directory: it lists usable files */
    int ndirs;
    int64_t *stale;  /* steps of this node's own directory of another layout */
    int nstale, foreign;
    held_t *all;     /* every node's inventory */
    int nall;
    int64_t step;    /* the save adopted */
    uint64_t gen;
    int *first, *order; /* all[order[first[r] ..]]: rank r's files of it */
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
 * for that step and this rank count, without RS parity (whose geometry a
 * new layout does not keep). */
static int read_held(const ckpt_t *ck, int dir, int64_t step, manifest_t *m,
                     ckpt_err_t *e)
{
    cache_t c;
    char path[PATH_MAX];
    cache_init(&c, ck->cfg.cache_dir, ck->cfg.job, dir);
    cache_step_dir(&c, step, path, sizeof path);
    if (manifest_read(path, m, e) != CKPT_OK)
        return e->code;
    if (strcmp(m->job, ck->cfg.job) != 0 || m->step != step ||
        m->nranks != ck->nranks || m->generation == 0 || m->rs_k != 0) {
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

static int inventory_dir(adopt_t *a, int i, ckpt_err_t *e)
{
    ckpt_t *ck = a->ck;
    int dir = (int)a->dirs[i], ns = 0;
    int64_t *steps = NULL;
    cache_t c;
    cache_init(&c, ck->cfg.cache_dir, ck->cfg.job, dir);
    if (!own_dir(ck, dir) || cache_list_steps(&c, 1, &steps, &ns, e) != CKPT_OK)
        return e->code;
    if (dir == ck->topo.node && (a->stale = calloc((size_t)ns + 1, sizeof *a->stale)) == NULL)
        err_set(e, CKPT_ENOMEM, "out of memory listing the cache");
    for (int s = 0; s < ns && e->code == CKPT_OK; s++) {
        manifest_t m;
        ckpt_err_t me = {0};
        int same;
        if (read_held(ck, dir, steps[s], &m, &me) != CKPT_OK)
            continue;
        same = dir == ck->topo.node && m.node == dir && m.nnodes == ck->topo.nnodes;
        if (!same && dir == ck->topo.node)
            a->stale[a->nstale++] = steps[s];
        for (int k = 0; k < m.n && e->code == CKPT_OK; k++) {
            const mf_entry_t *x = &m.e[k];
            held_t h = {.step = m.step, .gen = m.generation, .size = x->size,
                        .digest = x->digest, .rank = x->rank,
                        .holder = ck->topo.node, .dir = dir};
            if (x->kind != MF_FILE)
                continue;
            if (push_held(a, &h) != 0)
                err_set(e, CKPT_ENOMEM, "out of memory listing the cache");
            a->used[i] = 1;
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
    if ((a->used = calloc((size_t)a->ndirs + 1, 1)) == NULL)
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

/* Whether every rank's file of save (step, gen) is held somewhere, and
 * listed alike wherever it is. */
static int covered(const adopt_t *a, int64_t step, uint64_t gen)
{
    int nr = a->ck->nranks, seen = 0;
    int *at = malloc((size_t)nr * sizeof *at);
    if (at == NULL)
        return 0;
    for (int r = 0; r < nr; r++)
        at[r] = -1;
    for (int i = 0; i < a->nall && seen >= 0; i++) {
        const held_t *h = &a->all[i];
        if (h->step != step || h->gen != gen || h->rank < 0 || h->rank >= nr)
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
 * and whose files are all held: 1 if there is one. */
static int choose(adopt_t *a)
{
    int64_t bound = INT64_MAX;
    for (;;) {
        int64_t step = -1;
        uint64_t gen = 0;
        int superseded = 0;
        for (int i = 0; i < a->nall; i++)
            if (a->all[i].step < bound && a->all[i].step > step)
                step = a->all[i].step;
        if (step < 0)
            return 0;
        for (int i = 0; i < a->nall; i++)
            if (a->all[i].step == step && a->all[i].gen > gen)
                gen = a->all[i].gen;
        for (int i = 0; i < a->nall; i++)
            superseded |= a->all[i].step < step && a->all[i].gen > gen;
        if (!superseded && covered(a, step, gen)) {
            a->step = step;
            a->gen = gen;
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

/* What this rank does of the plan that every rank computes alike: each
 * rank's file goes to the rank itself and to the rank keeping its copy. A
 * node that holds the file links it; else the holder that sends least so
 * far sends it, from its ranks in turn. */
static void plan(adopt_t *a, int *load, move_t *send, int *ns, move_t *recv,
                 int *nr, place_t *link, int *nl)
{
    const topo_t *t = &a->ck->topo;
    int me = a->ck->rank;
    for (int r = 0; r < a->ck->nranks; r++) {
        int dest[2] = {r, topo_partner_of(t, r)};
        for (int j = 0; j < 2; j++) {
            int d = dest[j], here = -1, best = -1, h, sender;
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
            if (sender == me) /* x.rank: the file's entry in all[], for now */
                send[(*ns)++] = (move_t){.peer = d, .rank = r, .x = {.rank = best}};
            if (d == me)
                recv[(*nr)++] = (move_t){.peer = sender, .rank = r};
        }
    }
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
    if (read_held(a->ck, h->dir, h->step, &m, e) != CKPT_OK)
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
    char from[PATH_MAX], to[PATH_MAX], tmp[PATH_MAX];
    struct stat st;
    if (held_file(a, p->from, from, x, idx, e) != CKPT_OK)
        return e->code;
    cache_rank_path(&a->ck->cache, a->step, p->rank, 0, to, sizeof to);
    cache_rank_path(&a->ck->cache, a->step, p->rank, 1, tmp, sizeof tmp);
    if (lstat(from, &st) != 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size != x->size)
        return err_set(e, CKPT_ECORRUPT, "%s is not the file its MANIFEST lists",
                       from);
    if (strcmp(from, to) == 0)
        return CKPT_OK; /* already in place */
    unlink(tmp);
    if (link(from, tmp) != 0)
        return err_sys(e, errno, "link %s", from);
    if (rename(tmp, to) != 0) {
        err_sys(e, errno, "rename %s", tmp);
        unlink(tmp);
    }
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

/* Places this rank's files of the adopted save, and lists them in its
 * node's MANIFEST for this layout. Collective. */
static int place_all(adopt_t *a, int *counts, ckpt_err_t *e)
{
    ckpt_t *ck = a->ck;
    int n = 2 * ck->nranks + 1, ns = 0, nr = 0, nl = 0, nm = 0;
    int *load = calloc((size_t)ck->topo.nnodes + 1, sizeof *load);
    move_t *send = calloc((size_t)n, sizeof *send);
    move_t *recv = calloc((size_t)ck->topo.nclients + 2, sizeof *recv);
    place_t *link = calloc((size_t)ck->topo.nclients + 2, sizeof *link);
    rf_index_t *idx = calloc((size_t)n + ck->topo.nclients + 2, sizeof *idx);
    mf_entry_t *mine = calloc((size_t)ck->topo.nclients + 2, sizeof *mine);
    char (*paths)[PATH_MAX] = NULL, dir[PATH_MAX];
    if (load && send && recv && link && idx && mine && index_by_rank(a) == 0)
        plan(a, load, send, &ns, recv, &nr, link, &nl);
    if (!load || !send || !recv || !link || !idx || !mine || !a->first ||
        (paths = calloc((size_t)ns + 1, PATH_MAX)) == NULL)
        err_set(e, CKPT_ENOMEM, "out of memory adopting the caches");
    cache_step_dir(&ck->cache, a->step, dir, sizeof dir);
    if (e->code == CKPT_OK)
        fio_mkdirs(dir, e);
    for (int k = 0; k < nl && e->code == CKPT_OK; k++, nm++)
        link_file(a, &link[k], &mine[nm], &idx[ns + nm], e);
    if (err_agree(ck->comm, e) != CKPT_OK)
        goto out;
    open_sends(a, send, ns, paths, idx);
    move_files(ck, a->step, send, ns, recv, nr, e);
    for (int k = 0; k < nr && e->code == CKPT_OK; k++) {
        mine[nm] = recv[k].x;
        mine[nm].own = recv[k].rank == ck->rank;
        mine[nm++].idx = &recv[k].idx;
    }
    killpoint("adopt-placed", ck->rank);
    if (err_agree(ck->comm, e) == CKPT_OK)
        step_commit_node(ck, a->step, a->gen, mine, nm, NULL, e);
    err_agree(ck->comm, e);
    counts[0] = nl;
    counts[1] = nr;
out:
    for (int k = 0; idx && k < n + ck->topo.nclients + 2; k++)
        rankfile_index_free(&idx[k]);
    for (int k = 0; recv && k < nr; k++)
        rankfile_index_free(&recv[k].idx);
    free(load);
    free(send);
    free(recv);
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
        if (a->used[i] && a->dirs[i] != ck->topo.node &&
            cache_retire_node(&ck->cache, ck->cfg.cache_dir, ck->cfg.job,
                              (int)a->dirs[i], &e) != CKPT_OK)
            break;
    for (int s = 0; s < a->nstale && e.code == CKPT_OK; s++)
        if (a->stale[s] != a->step)
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

static void adopt_free(adopt_t *a)
{
    free(a->mine);
    free(a->dirs);
    free(a->used);
    free(a->stale);
    free(a->all);
    free(a->first);
    free(a->order);
}

void adopt_caches(ckpt_t *ck)
{
    adopt_t a = {.ck = ck};
    ckpt_err_t e = {0};
    int any = 0, counts[2] = {0, 0}, sums[2] = {0, 0};
    /* Emulated nodes sharing one root each own just node-<n> there. */
    if (USES_RS(ck) || (ck->cfg.ranks_per_node > 0 && !ck->cfg.root_per_node))
        return;
    if (topo_is_leader(&ck->topo))
        inventory(&a, &e);
    if (e.code != CKPT_OK)
        a.foreign = 1; /* agreed below, and reported */
    if (MPI_Allreduce(&a.foreign, &any, 1, MPI_INT, MPI_LOR, ck->comm) != MPI_SUCCESS)
        err_set(&e, CKPT_EMPI, "MPI failed asking about the caches");
    if ((!any && e.code == CKPT_OK) || err_agree(ck->comm, &e) != CKPT_OK ||
        exchange(&a, &e) != CKPT_OK)
        goto out;
    if (!choose(&a)) {
        log_msg(&ck->log, ck->rank == 0 ? LOG_INFO : LOG_DEBUG, "the caches hold "
                "another layout's files, but no step whole: none adopted");
        goto out;
    }
    if (place_all(&a, counts, &e) == CKPT_OK) {
        killpoint("adopt-committed", ck->rank);
        if (topo_is_leader(&ck->topo))
            retire(&a);
        MPI_Allreduce(counts, sums, 2, MPI_INT, MPI_SUM, ck->comm);
        log_msg(&ck->log, ck->rank == 0 ? LOG_INFO : LOG_DEBUG, "step %" PRId64
                " adopted from caches of another layout: %d files linked in "
                "place, %d sent between nodes", a.step, sums[0], sums[1]);
    }
out:
    if (e.code != CKPT_OK)
        log_msg(&ck->log, ck->rank == 0 ? LOG_WARN : LOG_DEBUG, "caches of "
                "another layout not adopted: %s", e.msg);
    adopt_free(&a);
}
