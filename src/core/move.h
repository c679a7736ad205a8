/* Rank files moved between nodes as files, over the partner streams: a
 * copy sent back or again (level_partner.c), and the files a new layout
 * takes from wherever the old one left them (adopt.c). Private to
 * src/core/. */
#ifndef CKPT_MOVE_H
#define CKPT_MOVE_H

#include <limits.h>
#include "handle.h"
#include "plan.h"
#include "stream.h"

/* One file moved between nodes: whose it is (rank), the rank at the other
 * end (peer), and its entry: given with its index (x.idx) when sent, filled
 * in when received, with the index as the sender named it in idx. A file
 * sent is read from `from`, or from this node's cache when NULL. */
typedef struct move {
    int peer, rank;
    mf_entry_t x;
    rf_index_t idx;
    const char *from;
    int failed;    /* out, received: the file did not arrive whole */
} move_t;

/* A stream to m->peer of m's file (with its index), which the receiver
 * checks against its digest; marked failed if it cannot be opened or
 * planned. path (PATH_MAX bytes) holds the file's name while it is sent. */
void move_source(ckpt_t *ck, int64_t step, const move_t *m, ostream_t *o,
                 plan_t *pl, char *path);
void move_close(ostream_t *o, plan_t *pl, int n);

/* Streams files: this rank sends `send` and receives `recv` into its own
 * node directory, where the received files are renamed into place. A pair
 * of ranks carries at most one file each way per call. */
int move_files(ckpt_t *ck, int64_t step, const move_t *send, int nsend,
               move_t *recv, int nrecv, ckpt_err_t *e);

#endif
