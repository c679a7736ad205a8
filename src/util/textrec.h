/* Sealed text records, the framing shared by the node MANIFEST and the
 * storage manifest: lines of space-separated words ending in a line
 * "checksum <XXH3-64 of what precedes>", and strict readers for the words.
 * Strict means: what the writer prints and nothing else (no sign, no
 * leading zeros or spaces, no overflow), because a lenient reader is where
 * a damaged or planted record slips through. */
#ifndef CKPT_TEXTREC_H
#define CKPT_TEXTREC_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

/* A record being written into *text (open_memstream), starting with the
 * lines tr_head reads; NULL if out of memory. */
FILE *tr_begin(char **text, size_t *len, const char *magic, const char *job,
               int64_t step, uint64_t generation);
/* Closes f and seals the text: 0, or -1 (out of memory) with *text freed
 * and NULL. */
int tr_end(FILE *f, char **text, size_t *len);

/* Appends the checksum line (realloc'ing *text); 0 or -1 (no memory). */
int tr_seal(char **text, size_t *len);
/* Checks the checksum line and cuts it off: 0, or -1 on damage (also for
 * a NUL byte inside the text). */
int tr_unseal(char *text, size_t len);

/* The next line at *cursor (its '\n' replaced by NUL), or NULL at the end. */
char *tr_line(char **cursor);
/* Splits line in place into exactly n words separated by single spaces:
 * 0, or -1 if it has another number of words. */
int tr_words(char *line, char **w, int n);

/* Decimal without sign or leading zeros, within [0, max]: 0 or -1. */
int tr_u64(const char *s, uint64_t max, uint64_t *v);
int tr_int(const char *s, int max, int *v);
/* Exactly 16 lowercase hex digits: 0 or -1. */
int tr_hex64(const char *s, uint64_t *v);
/* "<key> <word>": 0 and *value, or -1. */
int tr_keyword(char *line, const char *key, char **value);
/* The lines every libckpt record starts with: `magic`, then job (a valid
 * job name, into job[CKPT_NAME_MAX + 1]), step and generation: 0 or -1. */
int tr_head(char **cur, const char *magic, char *job, int64_t *step,
            uint64_t *generation);

#endif
