/* The RS level: parity shares of every set of a group (rs_group.h), made at
 * save from the rank files, checked and used to rebuild up to m lost rank
 * files, and made again where lost (refill). Every function is collective
 * over the group and moves data in lock step, one chunk of one stripe at a
 * time, so memory stays at a few chunks whatever the file sizes. */
#ifndef CKPT_RS_LEVEL_H
#define CKPT_RS_LEVEL_H

#include <limits.h>
#include <mpi.h>
#include <stdint.h>
#include "cache.h"
#include "error.h"
#include "manifest.h"
#include "rs_group.h"

/* Per set and position: the member's file is there (or there is no
 * member), its parity file is there, and the member does not need its data
 * rebuilt. */
enum { RS_MEMBER_OK = 1, RS_PARITY_OK = 2, RS_NO_NEED = 4 };

/* What the group holds of one step; the same on every rank of the group. */
typedef struct rs_state {
    uint64_t *size, *digest; /* [g->nranks]: each rank file's, 0 unknown */
    uint64_t *ok;            /* [width * s]: RS_* bits of set li, position q */
    uint64_t *pdigest;       /* [width]: this rank's parity files (local) */
    uint64_t *psize;         /* [width] */
    int *made;               /* [width]: made by rs_make_parity, not published */
} rs_state_t;

int rs_state_alloc(const rs_group_t *g, rs_state_t *st);
void rs_state_free(rs_state_t *st);

/* Collective over the group: st from the node MANIFESTs of the save being
 * probed (m: this node's, or NULL if it holds none of that save). */
int rs_probe(const rs_group_t *g, const cache_t *c, const manifest_t *m,
             rs_state_t *st, ckpt_err_t *e);
/* Collective over the group, at save: sizes and digests of the new files,
 * every member present and every parity share to be made. */
int rs_start(const rs_group_t *g, uint64_t size, uint64_t digest,
             rs_state_t *st, ckpt_err_t *e);
/* Shares set li has lost: positions without their member's file (where
 * there is a member) or without their parity. */
int rs_lost(const rs_group_t *g, const rs_state_t *st, int li);
/* 1 if this rank's file is there or can be rebuilt from its group; with
 * `spare`, if it also survives the loss of one more node. */
int rs_covered(const rs_group_t *g, const rs_state_t *st, int spare);
/* Nothing in the caches counts (storage holds a newer save). */
void rs_forget(const rs_group_t *g, rs_state_t *st);

/* Makes every parity share the state says is missing, from the members'
 * files (own_path: this rank's own file), into temporary files: published
 * by rs_publish. A rank whose file cannot be read still takes part. */
int rs_make_parity(const rs_group_t *g, MPI_Comm comm, const cache_t *c,
              int64_t step, rs_state_t *st, const char *own_path,
              ckpt_err_t *e);
/* The parity files rs_make_parity made get their final names. */
int rs_publish(const rs_group_t *g, const cache_t *c, int64_t step,
               rs_state_t *st, ckpt_err_t *e);
/* Rebuilds the own file of every rank with `need` from the shares left;
 * the rebuilt file is checked whole against its digest and put in place
 * (not fsync'd). Only if one fails are the shares checked, and a second
 * try leaves the bad ones out. CKPT_ENOENT where too many shares are lost,
 * CKPT_ECORRUPT where the result does not match. While a rank waits on the
 * transfers it runs idle(ctx) (if not NULL), a piece a call, until it
 * returns 0; what is left of that work, the caller does. */
int rs_rebuild_files(const rs_group_t *g, MPI_Comm comm, const cache_t *c,
                     int64_t step, rs_state_t *st, int need,
                     int (*idle)(void *), void *ctx, ckpt_err_t *e);

/* The MANIFEST lines of a node of the group: this rank's parity files,
 * and, at the node's leader, every other node's rank files as coded
 * entries (gathered here from `own`, this rank's entry). Collective over
 * the group. *text is malloc'd. */
int rs_lines(const rs_group_t *g, const rs_state_t *st, const mf_entry_t *own,
             int leader, char **text, size_t *len, ckpt_err_t *e);

#endif
