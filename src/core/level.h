/* The cache level that keeps a step redundant beyond the node-local copy:
 * partner copies or RS parity, behind one interface, so that save.c and
 * restore.c read as the same steps whatever the scheme. ck->level is the
 * one redundancy = chose (single uses the partner level with no partner).
 * Every operation marked collective is called by every rank. Private to
 * src/core/. */
#ifndef CKPT_LEVEL_H
#define CKPT_LEVEL_H

#include "probe.h"
#include "regcopy.h"
#include "save_state.h"

typedef struct level_ops {
    const char *what;   /* "partner copies", "RS parity": for messages */
    /* Redundancy is re-created by every refill, even at level PARTNER
     * (RS: lost shares of other sets), and after files came from storage
     * by one more pass. */
    int always_refill;

    /* Save. The partner copies stream with the write of the own file
     * (save.c's stream_step); a level that works from the written files
     * does it in apply, and fsyncs the own file after it (the disk writes
     * it meanwhile). NULL where a level has nothing to do. */
    int sync_after_apply;
    /* Collective: every own file is written at s->tmp. */
    int (*apply)(ckpt_t *ck, save_t *s, ckpt_err_t *e);
    /* Not collective: what apply made gets its final names. */
    int (*publish)(ckpt_t *ck, save_t *s, ckpt_err_t *e);
    /* Collective: the level's lines for the node MANIFEST (*more, malloc'd),
     * given this rank's entry. */
    int (*lines)(ckpt_t *ck, save_t *s, const mf_entry_t *own, char **more,
                 size_t *len, ckpt_err_t *e);

    /* Collective, probe: what the level holds for p->step, given this
     * node's MANIFEST (NULL: none usable); sets p->level_has. */
    int (*probe)(ckpt_t *ck, probe_t *p, const manifest_t *m, ckpt_err_t *e);
    /* Not collective: p now stands for a newer save than the caches hold. */
    void (*forget)(ckpt_t *ck, probe_t *p);
    /* Not collective: the step survives the loss of `losses` more nodes
     * on this rank's account. */
    int (*covered)(ckpt_t *ck, const probe_t *p, int losses);
    /* Not collective: this layout can be redundant at all. */
    int (*redundant)(const ckpt_t *ck);
    /* Collective, fetch: ranks with `need` get their file back, into a
     * file with to_file (or where the level only makes files), else into
     * the buffers; the others run `own` (if not NULL), the copy of their
     * own file, while they wait on the transfers, and may leave some of it.
     * *in_file says a file was written. */
    int (*fetch)(ckpt_t *ck, probe_t *p, int need, int to_file, regcopy_t *own,
                 int *in_file, ckpt_err_t *e);
    /* Collective, relist: the node MANIFESTs list what the nodes now hold:
     * this rank's own file if own_here (indexed by own_idx), and what the
     * level keeps; rewritten only where something changed. */
    int (*relist)(ckpt_t *ck, probe_t *p, int own_here, int changed,
                  const rf_index_t *own_idx, ckpt_err_t *e);
    /* Not collective: before a refill re-creates redundancy from this
     * rank's own file, that file must be checked whole. */
    int (*check_own_first)(ckpt_t *ck, const probe_t *p);
    /* Collective, refill: with every own file back (changed: this rank's
     * was fetched), what the level lacks is made again and listed; `stored`
     * says some rank's fetch wrote its file (from storage, or rebuilt), so
     * that this probe does not know all sizes of that save. */
    int (*refill)(ckpt_t *ck, probe_t *p, int changed, int stored,
                  const rf_index_t *own_idx, ckpt_err_t *e);
} level_ops_t;

extern const level_ops_t level_partner;
extern const level_ops_t level_rs;

#endif
