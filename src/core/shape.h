/* Regions across ranks: what each rank stores of its protected regions (a
 * replicated region: its 1/N slice), the checks a save makes of global and
 * replicated regions, and replicated regions put together after a
 * restore. Private to src/core/. */
#ifndef CKPT_SHAPE_H
#define CKPT_SHAPE_H

#include "handle.h"

/* ck->stored from ck->regions: every region as this rank stores it. A
 * replicated region of C elements on N ranks: rank r stores elements
 * [r*(C/N) + min(r, C%N), ...), C/N of them, one more for the first C%N. */
int shape_view(ckpt_t *ck, ckpt_err_t *e);

/* Collective, at save (calls shape_view): every rank protects the same
 * global and replicated regions (name, kind, type, global count); the
 * slices of each global region tile it exactly once; each replicated
 * region has the same contents everywhere (XXH3). CKPT_EINVAL otherwise,
 * agreed. */
int shape_check_save(ckpt_t *ck, ckpt_err_t *e);

/* Collective, after a restore that filled each rank's stored slices: every
 * replicated region whole on every rank. */
int shape_fill(ckpt_t *ck, ckpt_err_t *e);

/* The global and replicated regions as protected, sorted by name (the
 * same order on every rank once shape_agree says so); their number, or -1
 * if out of memory. *out is malloc'd. */
int shape_shared(ckpt_t *ck, region_t ***out);
/* Collective: g (n of them; n < 0: out of memory here) is described alike
 * on every rank (name, kind, type, global count); else `code`, agreed. */
int shape_agree(ckpt_t *ck, region_t **g, int n, int code, ckpt_err_t *e);

/* 1 if some protected region is replicated. */
int shape_has_replicated(const ckpt_t *ck);

#endif
