/* One save in progress: what save.c writes and the cache level reads.
 * Private to src/core/. */
#ifndef CKPT_SAVE_STATE_H
#define CKPT_SAVE_STATE_H

#include "handle.h"
#include "plan.h"
#include "rankfile.h"
#include "rs_level.h"
#include "stream.h"

typedef struct save {
    int64_t step;
    uint64_t generation;
    plan_t plan;
    rf_index_t idx;       /* what the file holds, for the MANIFEST */
    ostream_t out;        /* out.digest: the own file's */
    istream_t *in;        /* one per client */
    char (*in_path)[PATH_MAX];
    char tmp[PATH_MAX];   /* the own file until published */
    rs_state_t rs;        /* level = rs: the group's files and parity */
} save_t;

#endif
