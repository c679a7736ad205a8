/* The public API: argument checks, then the module that does the work. */
#include "adopt.h"
#include "handle.h"
#include "level.h"
#include "safedir.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int invalid(ckpt_t *ck, const char *fmt, const char *what)
{
    err_clear(&ck->err);
    return err_set(&ck->err, CKPT_EINVAL, fmt, what);
}

/* Collective calls check arguments on every rank and agree, so that a bad
 * argument on one rank is the same CKPT_EINVAL everywhere, never a hang. */
static int agree_args(ckpt_t *ck, int ok, const char *msg)
{
    err_clear(&ck->err);
    if (!ok)
        err_set(&ck->err, CKPT_EINVAL, "rank %d: %s", ck->rank, msg);
    if (err_agree(ck->comm, &ck->err) != CKPT_OK)
        return ck->err.code;
    /* Every collective call is also when finished uploads are noticed. */
    wb_poll(&ck->wb);
    return CKPT_OK;
}

static void report_single(ckpt_t *ck)
{
    if (ck->cfg.redundancy != REDUNDANCY_SINGLE && !ck->level->redundant(ck))
        log_msg(&ck->log, ck->rank == 0 ? LOG_WARN : LOG_DEBUG,
                "only one node: no %s, checkpoints are at LOCAL level",
                ck->level->what);
}

/* The STORAGE level borrows what it needs of the handle. */
static int start_writeback(ckpt_t *ck)
{
    wb_env_t env = {.comm = ck->comm, .rank = ck->rank, .nranks = ck->nranks,
                    .cfg = &ck->cfg, .topo = &ck->topo, .cache = &ck->cache,
                    .log = &ck->log, .err = &ck->err};
    return wb_init(&ck->wb, &env);
}

/* Collective: the newest step complete in every rank's cache goes to
 * storage if it is newer than the newest committed one (the job before
 * ended before uploading it). */
static void resume_upload(ckpt_t *ck)
{
    int64_t step;
    uint64_t generation;
    mf_entry_t own;
    if (!wb_active(&ck->wb))
        return;
    if (query_complete(ck, &step, &own, &generation) == CKPT_OK)
        wb_resume(&ck->wb, step, generation, &own);
    err_clear(&ck->err);
}

static int init_handle(ckpt_t *ck, MPI_Comm comm, const char *config_path)
{
    ckpt_err_t *e = &ck->err;
    ck->comm = MPI_COMM_NULL;
    ck->topo.node_comm = MPI_COMM_NULL;
    ck->other.step = -1;
    if (MPI_Comm_dup(comm, &ck->comm) != MPI_SUCCESS)
        return err_set(e, CKPT_EMPI, "MPI_Comm_dup failed");
    MPI_Comm_set_errhandler(ck->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(ck->comm, &ck->rank);
    MPI_Comm_size(ck->comm, &ck->nranks);
    ck->log.rank = ck->rank;
    ck->log.verbose = LOG_WARN; /* until the configuration says otherwise, so
                                   that a bad configuration is reported */
    config_load(&ck->cfg, config_path, e);
    if (e->code == CKPT_OK)
        ck->log.verbose = ck->cfg.verbose;
    if (err_agree(ck->comm, e) != CKPT_OK)
        return e->code;
    topo_build(&ck->topo, ck->comm, ck->cfg.ranks_per_node,
               ck->cfg.partner_distance,
               ck->cfg.redundancy == REDUNDANCY_PARTNER, e);
    if (e->code == CKPT_OK && config_node_root(&ck->cfg, ck->topo.node) != 0)
        err_set(e, CKPT_ECONFIG, "cache_dir: too long once %%n is replaced by "
                "the node number");
    if (err_agree(ck->comm, e) != CKPT_OK)
        return e->code;
    ck->level = USES_RS(ck) ? &level_rs : &level_partner;
    if (USES_RS(ck))
        rs_group_build(&ck->rs, &ck->topo, ck->cfg.rs_data, ck->cfg.rs_parity,
                       ck->comm, e);
    if (err_agree(ck->comm, e) != CKPT_OK)
        return e->code;
    /* Each rank checks the path to its own node's cache. */
    safedir_cache(ck->cfg.cache_dir, ck->cfg.job, ck->topo.node, e);
    if (err_agree(ck->comm, e) != CKPT_OK)
        return e->code;
    cache_init(&ck->cache, ck->cfg.cache_dir, ck->cfg.job, ck->topo.node);
    /* Only a node's leader discards steps, so only it needs a reaper. */
    if (topo_is_leader(&ck->topo)) {
        ck->cache.reaper = reaper_start();
        cache_clean(&ck->cache, &ck->log);
    }
    adopt_caches(ck);
    report_single(ck);
    when_start(&ck->when, &ck->cfg, ck->topo.nnodes, e);
    if (err_agree(ck->comm, e) != CKPT_OK || save_init_generation(ck) != CKPT_OK ||
        start_writeback(ck) != CKPT_OK)
        return e->code;
    resume_upload(ck);
    return CKPT_OK;
}

static void free_handle(ckpt_t *ck)
{
    wb_free(&ck->wb);
    reaper_stop(ck->cache.reaper);
    rs_group_free(&ck->rs);
    topo_free(&ck->topo);
    region_set_free(&ck->regions);
    region_set_free(&ck->stored);
    adopt_forget_other(ck, 0);
    sm_free(&ck->sm_read);
    when_stop(&ck->when);
    if (ck->comm != MPI_COMM_NULL)
        MPI_Comm_free(&ck->comm);
    free(ck);
}

int ckpt_init(MPI_Comm comm, const char *config_path, ckpt_t **out)
{
    int initialized = 0, rc;
    ckpt_t *ck;
    if (out == NULL)
        return CKPT_EINVAL;
    *out = NULL;
    MPI_Initialized(&initialized);
    if (!initialized || comm == MPI_COMM_NULL)
        return CKPT_ESTATE;
    ck = calloc(1, sizeof *ck);
    if (ck == NULL)
        return CKPT_ENOMEM;
    rc = init_handle(ck, comm, config_path);
    if (rc != CKPT_OK) {
        log_msg(&ck->log, ck->rank == 0 ? LOG_WARN : LOG_DEBUG, "%s", ck->err.msg);
        free_handle(ck);
        return rc;
    }
    *out = ck;
    return CKPT_OK;
}

/* Pending uploads finish first (and the newest step goes to storage);
 * their failure is reported, and the handle is freed all the same. */
int ckpt_finalize(ckpt_t **ck)
{
    int rc;
    if (ck == NULL || *ck == NULL)
        return CKPT_EINVAL;
    err_clear(&(*ck)->err);
    rc = wb_finalize(&(*ck)->wb);
    if (rc != CKPT_OK)
        log_msg(&(*ck)->log, (*ck)->rank == 0 ? LOG_WARN : LOG_DEBUG, "%s",
                (*ck)->err.msg);
    MPI_Barrier((*ck)->comm);
    free_handle(*ck);
    *ck = NULL;
    return rc;
}

/* The checks every kind of region shares; name is checked before it is
 * copied into r. */
static int protect(ckpt_t *ck, const char *name, region_t *r)
{
    if (ck == NULL)
        return CKPT_EINVAL;
    if (name == NULL || !config_valid_name(name))
        return invalid(ck, "bad region name '%s': use 1..255 characters of "
                       "[A-Za-z0-9._-]", name ? name : "(null)");
    snprintf(r->name, sizeof r->name, "%s", name);
    if (type_size(r->type) == 0)
        return invalid(ck, "region '%s': unknown type", name);
    if (r->buf == NULL && r->count > 0)
        return invalid(ck, "region '%s': NULL buffer with a non-zero count", name);
    if (r->count > SIZE_MAX / type_size(r->type))
        return invalid(ck, "region '%s': count overflows the address space", name);
    if (r->goff > r->gcount || r->count > r->gcount - r->goff)
        return invalid(ck, "region '%s': the slice [offset, offset + count) "
                       "lies outside the global array", name);
    err_clear(&ck->err);
    if (region_put(&ck->regions, r) != CKPT_OK)
        return err_set(&ck->err, CKPT_ENOMEM, "out of memory protecting '%s'", name);
    return CKPT_OK;
}

int ckpt_protect(ckpt_t *ck, const char *name, void *buf, size_t count,
                 ckpt_type_t type)
{
    region_t r = {.buf = buf, .count = count, .type = type,
                  .kind = REGION_PRIVATE, .gcount = count};
    return protect(ck, name, &r);
}

int ckpt_protect_global(ckpt_t *ck, const char *name, void *buf, size_t count,
                        ckpt_type_t type, uint64_t offset, uint64_t global_count)
{
    region_t r = {.buf = buf, .count = count, .type = type, .kind = REGION_GLOBAL,
                  .goff = offset, .gcount = global_count};
    return protect(ck, name, &r);
}

int ckpt_protect_replicated(ckpt_t *ck, const char *name, void *buf, size_t count,
                            ckpt_type_t type)
{
    region_t r = {.buf = buf, .count = count, .type = type,
                  .kind = REGION_REPLICATED, .gcount = count};
    return protect(ck, name, &r);
}

int ckpt_unprotect(ckpt_t *ck, const char *name)
{
    if (ck == NULL)
        return CKPT_EINVAL;
    if (name == NULL || region_del(&ck->regions, name) != CKPT_OK)
        return invalid(ck, "no protected region named '%s'", name ? name : "(null)");
    err_clear(&ck->err);
    return CKPT_OK;
}

int ckpt_save(ckpt_t *ck, int64_t step)
{
    if (ck == NULL)
        return CKPT_EINVAL;
    double t0 = log_now();
    int rc;
    if (agree_args(ck, step >= 0, "ckpt_save needs a step >= 0") != CKPT_OK)
        return ck->err.code;
    when_save_begins(&ck->when);
    if ((rc = save_step(ck, step)) == CKPT_OK)
        when_saved(&ck->when, log_now() - t0);
    return rc;
}

/* One reduction, no agreement round before it: the argument check travels
 * in it. Finished uploads are not polled here (the next call that saves,
 * restores or waits does): this is called every training step. */
int ckpt_need_save(ckpt_t *ck, int *reason)
{
    int v[2], all[2];
    if (ck == NULL)
        return CKPT_EINVAL;
    v[0] = reason == NULL;
    v[1] = reason ? when_local(&ck->when) : CKPT_SAVE_NO;
    err_clear(&ck->err);
    if (MPI_Allreduce(v, all, 2, MPI_INT, MPI_MAX, ck->comm) != MPI_SUCCESS)
        return err_set(&ck->err, CKPT_EMPI, "MPI failed in ckpt_need_save");
    if (all[0])
        return err_set(&ck->err, CKPT_EINVAL, "ckpt_need_save needs a place "
                       "for the reason (a NULL pointer on some rank)");
    *reason = all[1];
    return CKPT_OK;
}

int ckpt_restore(ckpt_t *ck, int64_t step, int64_t *restored)
{
    if (ck == NULL)
        return CKPT_EINVAL;
    if (agree_args(ck, step >= 0 || step == CKPT_LATEST,
                   "ckpt_restore needs a step >= 0 or CKPT_LATEST") != CKPT_OK)
        return ck->err.code;
    return restore_step(ck, step, restored);
}

int ckpt_latest(ckpt_t *ck, int64_t *step)
{
    if (ck == NULL)
        return CKPT_EINVAL;
    if (agree_args(ck, step != NULL, "ckpt_latest needs a result pointer"))
        return ck->err.code;
    return query_latest(ck, step);
}

int ckpt_level(ckpt_t *ck, int64_t step, int *level)
{
    if (ck == NULL)
        return CKPT_EINVAL;
    if (agree_args(ck, step >= 0 && level != NULL,
                   "ckpt_level needs a step >= 0 and a result pointer"))
        return ck->err.code;
    return query_level(ck, step, level);
}

int ckpt_wait(ckpt_t *ck, int64_t step, int level)
{
    int have;
    if (ck == NULL)
        return CKPT_EINVAL;
    if (agree_args(ck, step >= 0 && level >= CKPT_LEVEL_LOCAL &&
                           level <= CKPT_LEVEL_STORAGE,
                   "ckpt_wait needs a step >= 0 and a level from "
                   "CKPT_LEVEL_LOCAL to CKPT_LEVEL_STORAGE"))
        return ck->err.code;
    if (level == CKPT_LEVEL_PARTNER)
        return wait_partner(ck, step);
    if (query_level(ck, step, &have) != CKPT_OK || have >= level)
        return ck->err.code;
    if (level == CKPT_LEVEL_STORAGE)
        return wb_wait(&ck->wb, step);
    return err_set(&ck->err, CKPT_ESTATE, "step %" PRId64 " is at level %d "
                   "and will not reach level %d", step, have, level);
}

const char *ckpt_strerror(int code)
{
    static const char *names[] = {
        [CKPT_OK] = "success",
        [CKPT_EINVAL] = "invalid argument",
        [CKPT_ECONFIG] = "bad configuration",
        [CKPT_ESTATE] = "operation not valid in this state",
        [CKPT_ENOENT] = "no such recoverable checkpoint",
        [CKPT_EMISMATCH] = "protected regions do not match the checkpoint",
        [CKPT_ECORRUPT] = "checkpoint data is corrupt",
        [CKPT_EIO] = "file system error",
        [CKPT_ENOSPC] = "no space left in the cache",
        [CKPT_ESTORAGE] = "object storage error",
        [CKPT_EMPI] = "MPI error",
        [CKPT_ENOMEM] = "out of memory",
    };
    if (code < 0 || code >= (int)(sizeof names / sizeof names[0]))
        return "unknown error code";
    return names[code];
}

const char *ckpt_errmsg(const ckpt_t *ck)
{
    if (ck == NULL)
        return "no handle";
    return ck->err.code == CKPT_OK ? "" : ck->err.msg;
}
