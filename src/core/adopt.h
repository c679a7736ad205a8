/* Caches left by another layout of the job, adopted at init. Private to
 * src/core/. */
#ifndef CKPT_ADOPT_H
#define CKPT_ADOPT_H

#include "handle.h"

/* Collective. Where a node's own root (cache_dir with "%n", or real nodes)
 * holds another layout's files (node-<k> directories of other numbers, or
 * a MANIFEST of another node count), the newest step whose every rank file
 * some node holds is placed as this layout wants it: each rank's own file
 * on its node, its copy on its partner's; a node that holds a file links
 * it, the others receive it over MPI from a node that holds it, each file
 * checked against its digest on the way. The old directories are then
 * discarded. A failure leaves the caches as they were (warned) and is not
 * an error of the init: the restore then finds less in the caches. */
void adopt_caches(ckpt_t *ck);

/* The MANIFEST of step-<step> in node-<dir> of this node's root, if it is
 * this job's for that step and of `nranks` ranks (any if 0), without RS
 * parity: CKPT_ENOENT otherwise (m then holds nothing to free). */
int adopt_read(const ckpt_t *ck, int dir, int64_t step, int nranks,
               manifest_t *m, ckpt_err_t *e);

/* The level of the save of another rank count the caches hold: PARTNER
 * if every file of it is held on two nodes or more, LOCAL if on one. */
int adopt_other_level(const ckpt_t *ck);

/* Drops ck->other; with `retire`, after a save in this layout (which
 * supersedes it), leaders discard the other node directories of their
 * root that held it. */
void adopt_forget_other(ckpt_t *ck, int retire);

#endif
