/* A step on the nodes: its directories, and its node MANIFESTs. */
#ifndef CKPT_STEP_H
#define CKPT_STEP_H

#include <stdint.h>
#include "handle.h"
#include "manifest.h"

/* Node leaders discard the step and every later one (a save of step S
 * supersedes what was saved as S or later: that timeline was rolled back),
 * then create the step's directory afresh. Not collective by itself:
 * callers agree afterwards. */
int step_prepare(ckpt_t *ck, int64_t step, ckpt_err_t *e);
/* Collective over the node: the node's files (each rank gives its entries,
 * each with its file's index, and `more` lines already formatted, or NULL)
 * are listed in the MANIFEST of save `generation` by the node's leader. */
int step_commit_node(ckpt_t *ck, int64_t step, uint64_t generation,
                     const mf_entry_t *mine, int n, const char *more,
                     ckpt_err_t *e);
/* After an agreed failure: node leaders remove what the step left. */
void step_discard(ckpt_t *ck, int64_t step);

#endif
