/* A restore at another rank count: the global and replicated regions of a
 * save that another number of ranks made, read where the caches hold it
 * (ck->other, from adopt.c) and cut to the slices protected now. Private
 * to src/core/. */
#ifndef CKPT_RESHAPE_H
#define CKPT_RESHAPE_H

#include "handle.h"
#include "smanifest.h"

/* Collective. One rank on a node that holds each old rank file reads its
 * datasets, checks each against its checksum before any byte is sent, and
 * sends every rank the elements its slices need (a replicated region: all
 * of them). CKPT_OK; NOT_AVAILABLE where a file is missing, damaged or
 * its slices do not tile their array; CKPT_EMISMATCH if a protected
 * region is private (it cannot be split) or not in the save as protected
 * (kind, type, global count); CKPT_ENOMEM, CKPT_EMPI. Agreed. */
int reshape_restore(ckpt_t *ck, ckpt_err_t *e);

/* The same from storage, where every cache was lost: the save another
 * number of ranks committed, as its manifest sm places it. Each old rank
 * file is fetched whole by one rank (into import-<S>/ of its node,
 * removed afterwards), checked against its digest, indexed, and its
 * slices sent on. */
int reshape_from_storage(ckpt_t *ck, const smanifest_t *sm, ckpt_err_t *e);

#endif
