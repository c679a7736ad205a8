/* A Reed-Solomon code of k data and m parity blocks over GF(2^8), computed
 * by ISA-L: any k of the k + m blocks give back all the others. The code is
 * systematic (the data blocks are themselves) and built on a Cauchy matrix,
 * so every choice of k blocks can be inverted, for any k + m <= 255. The
 * arithmetic of the RS level (rs_level.c). */
#ifndef CKPT_RS_CODE_H
#define CKPT_RS_CODE_H

#include <stddef.h>
#include "error.h"

#define RS_BLOCKS_MAX 255

typedef struct rs_code {
    int k, m;
    unsigned char *matrix; /* (k + m) x k: the identity, then the m parity rows */
    unsigned char *tables; /* ISA-L's tables for the parity rows */
} rs_code_t;

/* 1 <= k, 1 <= m, k + m <= RS_BLOCKS_MAX; CKPT_EINVAL or CKPT_ENOMEM else. */
int rs_init(rs_code_t *c, int k, int m, ckpt_err_t *e);
void rs_free(rs_code_t *c);

/* parity[0..m) from data[0..k), len bytes each. */
void rs_encode(const rs_code_t *c, size_t len, unsigned char *const *data,
               unsigned char *const *parity);

/* One parity block: row `row` (0 .. m-1) of the code applied to data[0..k).
 * A holder of one parity share computes just its own. */
void rs_encode_row(const rs_code_t *c, int row, size_t len,
                   unsigned char *const *data, unsigned char *parity);

/* blocks[0..k) are the data blocks, blocks[k..k+m) the parity blocks, len
 * bytes each; present[i] says whether blocks[i] holds its bytes. Every
 * block not present is written (its buffer must exist). With fewer than k
 * present, nothing is written: CKPT_ENOENT, saying how many are lost. */
int rs_rebuild(const rs_code_t *c, size_t len, unsigned char *const *blocks,
               const int *present, ckpt_err_t *e);

/* rs_rebuild for one lost block `want` only (the others are not written). */
int rs_rebuild_one(const rs_code_t *c, size_t len, unsigned char *const *blocks,
                   const int *present, int want, ckpt_err_t *e);

#endif
