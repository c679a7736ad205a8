#include "rs_code.h"
#include "ckpt.h"

#include <isa-l/erasure_code.h>
#include <stdlib.h>
#include <string.h>

/* ISA-L takes an int length: blocks go through in pieces of this size. */
#define PIECE ((size_t)1 << 20)

int rs_init(rs_code_t *c, int k, int m, ckpt_err_t *e)
{
    memset(c, 0, sizeof *c);
    if (k < 1 || m < 1 || k + m > RS_BLOCKS_MAX)
        return err_set(e, CKPT_EINVAL, "a Reed-Solomon code needs 1 <= k, "
                       "1 <= m and k + m <= %d (k = %d, m = %d)", RS_BLOCKS_MAX,
                       k, m);
    c->matrix = malloc((size_t)(k + m) * (size_t)k);
    c->tables = malloc((size_t)32 * (size_t)k * (size_t)m);
    if (c->matrix == NULL || c->tables == NULL) {
        rs_free(c);
        return err_set(e, CKPT_ENOMEM, "out of memory for a Reed-Solomon code");
    }
    c->k = k;
    c->m = m;
    gf_gen_cauchy1_matrix(c->matrix, k + m, k);
    ec_init_tables(k, m, c->matrix + (size_t)k * (size_t)k, c->tables);
    return CKPT_OK;
}

void rs_free(rs_code_t *c)
{
    free(c->matrix);
    free(c->tables);
    c->matrix = c->tables = NULL;
}

/* out[0..rows) = the rows of `tables` applied to in[0..k), piece by piece. */
static void apply(int k, int rows, unsigned char *tables, size_t len,
                  unsigned char *const *in, unsigned char *const *out)
{
    unsigned char *src[RS_BLOCKS_MAX], *dst[RS_BLOCKS_MAX];
    for (size_t off = 0; off < len; off += PIECE) {
        size_t n = len - off < PIECE ? len - off : PIECE;
        for (int i = 0; i < k; i++)
            src[i] = in[i] + off;
        for (int i = 0; i < rows; i++)
            dst[i] = out[i] + off;
        ec_encode_data((int)n, k, rows, tables, src, dst);
    }
}

void rs_encode(const rs_code_t *c, size_t len, unsigned char *const *data,
               unsigned char *const *parity)
{
    apply(c->k, c->m, c->tables, len, data, parity);
}

void rs_encode_row(const rs_code_t *c, int row, size_t len,
                   unsigned char *const *data, unsigned char *parity)
{
    apply(c->k, 1, c->tables + (size_t)32 * (size_t)c->k * (size_t)row, len,
          data, &parity);
}

/* The rows that turn the k blocks in `from` into each lost block: the
 * inverse of their rows of the matrix, then, for a lost parity block, its
 * own row through that inverse. */
static int rebuild_rows(const rs_code_t *c, const int *from, const int *lost,
                        int nlost, unsigned char *rows)
{
    int k = c->k;
    unsigned char *b = malloc((size_t)k * (size_t)k), *inv = malloc((size_t)k * (size_t)k);
    int rc = -1;
    if (b == NULL || inv == NULL)
        goto out;
    for (int i = 0; i < k; i++)
        memcpy(b + (size_t)i * k, c->matrix + (size_t)from[i] * k, (size_t)k);
    if (gf_invert_matrix(b, inv, k) != 0) {
        rc = -2; /* cannot happen: every k rows of a Cauchy matrix invert */
        goto out;
    }
    for (int r = 0; r < nlost; r++) {
        unsigned char *row = rows + (size_t)r * k;
        if (lost[r] < k) {
            memcpy(row, inv + (size_t)lost[r] * k, (size_t)k);
            continue;
        }
        for (int i = 0; i < k; i++) {
            unsigned char s = 0;
            for (int j = 0; j < k; j++)
                s ^= gf_mul(c->matrix[(size_t)lost[r] * k + j], inv[(size_t)j * k + i]);
            row[i] = s;
        }
    }
    rc = 0;
out:
    free(b);
    free(inv);
    return rc;
}

/* Rebuilds the lost blocks listed in lost[0..nlost) from the first k
 * present ones. */
static int rebuild_blocks(const rs_code_t *c, size_t len,
                          unsigned char *const *blocks, const int *present,
                          const int *lost, int nlost, ckpt_err_t *e)
{
    int k = c->k, n = c->k + c->m, from[RS_BLOCKS_MAX], nfrom = 0, rc;
    unsigned char *src[RS_BLOCKS_MAX], *dst[RS_BLOCKS_MAX], *rows, *tables;
    for (int i = 0; i < n && nfrom < k; i++)
        if (present[i])
            from[nfrom++] = i;
    if (nlost == 0)
        return CKPT_OK;
    if (nfrom < k)
        return err_set(e, CKPT_ENOENT, "%d of %d Reed-Solomon blocks are lost; "
                       "at most %d can be rebuilt", n - nfrom, n, c->m);
    rows = malloc((size_t)nlost * (size_t)k);
    tables = malloc((size_t)32 * (size_t)k * (size_t)nlost);
    rc = rows && tables ? rebuild_rows(c, from, lost, nlost, rows) : -1;
    if (rc != 0) {
        free(rows);
        free(tables);
        return rc == -2 ? err_set(e, CKPT_EINVAL, "the surviving Reed-Solomon "
                                  "blocks do not determine the lost ones")
                        : err_set(e, CKPT_ENOMEM, "out of memory rebuilding "
                                  "lost blocks");
    }
    ec_init_tables(k, nlost, rows, tables);
    for (int i = 0; i < k; i++)
        src[i] = blocks[from[i]];
    for (int i = 0; i < nlost; i++)
        dst[i] = blocks[lost[i]];
    apply(k, nlost, tables, len, src, dst);
    free(rows);
    free(tables);
    return CKPT_OK;
}

int rs_rebuild(const rs_code_t *c, size_t len, unsigned char *const *blocks,
               const int *present, ckpt_err_t *e)
{
    int lost[RS_BLOCKS_MAX], nlost = 0;
    for (int i = 0; i < c->k + c->m; i++)
        if (!present[i])
            lost[nlost++] = i;
    return rebuild_blocks(c, len, blocks, present, lost, nlost, e);
}

int rs_rebuild_one(const rs_code_t *c, size_t len, unsigned char *const *blocks,
                   const int *present, int want, ckpt_err_t *e)
{
    return rebuild_blocks(c, len, blocks, present, &want, !present[want], e);
}
