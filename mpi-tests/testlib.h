/* Helpers for the MPI tests: a CUnit runner whose outcome is agreed over
 * all ranks, a private cache directory per test, deterministic data. */
#ifndef TESTLIB_H
#define TESTLIB_H

#include <CUnit/CUnit.h>
#include <stddef.h>
#include <stdint.h>
#include "ckpt.h"

typedef struct {
    const char *name;
    CU_TestFunc fn;
} tl_test_t;

extern int tl_rank, tl_size;

/* MPI_Init, runs the tests (all ranks, same order), MPI_Finalize; returns the
 * exit status. Rank 0 prints CUnit's summary with failures of all ranks. */
int tl_main(int argc, char **argv, const char *suite, const tl_test_t *tests);

/* A fresh directory for this test (same path on every rank), and a config
 * file in it holding `text` plus cache_dir and job lines. */
const char *tl_dir(const char *name);
const char *tl_config(const char *name, const char *text);
/* ckpt_init on a fresh tl_config(name) with ranks_per_node = rpn and the
 * lines extra; a failure ends the test (CU_ASSERT_EQUAL_FATAL). */
ckpt_t *tl_open(const char *name, int rpn, const char *extra);
/* The test's directory as tl_dir made it, left as it is. */
const char *tl_dir_of(const char *name);

/* Deterministic contents: byte i of region `region` of `rank` at `step`. */
void tl_fill(void *buf, size_t bytes, int64_t step, int rank, int region);
int tl_check(const void *buf, size_t bytes, int64_t step, int rank, int region);

/* Restores CKPT_LATEST: 1 if every rank got CKPT_OK and step `want`,
 * else 0 with what happened printed by rank 0. */
int tl_restore_latest(ckpt_t *ck, int64_t want);

/* Every rank got the same code: returns 1 if so. */
int tl_same(int code);
/* Every rank passes v != 0. */
int tl_all(int v);

/* Paths in the layout of DESIGN.md. */
void tl_rank_file(char *buf, size_t n, const char *dir, int node, int64_t step,
                  int rank);
void tl_flip_byte(const char *path, long off); /* off < 0: from the end */
/* Collective: rank 0 runs `fmt` formatted with the job's cache root (under
 * the test directory `dir`, job named as it) and `node`; the rest wait. */
void tl_on_rank0(const char *dir, const char *fmt, int node);
void tl_truncate(const char *path, long len);
int tl_run(const char *cmd); /* system(), returns exit status */

/* ckpt_init with its standard error captured: returns its code, the text
 * rank 0 wrote (where a failed init reports why) in msg on every rank, and
 * the handle in *ck (finalized at once when ck is NULL). The text is also
 * passed on to the real standard error. */
int tl_init_logged(const char *config, ckpt_t **ck, char *msg, size_t n);

#endif
