/* Shared by the libFuzzer harnesses (fuzz_*.c). Each harness defines
 * LLVMFuzzerTestOneInput; libFuzzer's main drives it in a build configured
 * with --enable-fuzzing, replay.c's main in any other build. A harness
 * aborts when it sees the library break a promise, so libFuzzer (or the
 * replay) reports it like a crash. */
#ifndef CKPT_FUZZ_H
#define CKPT_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A path that reads as the given bytes: a file in fz_dir(), rewritten on
 * every call (so only one such path is live at a time). NULL on failure. */
const char *fz_file(const uint8_t *data, size_t size);

/* A scratch directory of this process, removed at exit. */
const char *fz_dir(void);

/* data as a NUL-terminated text without its last line if that line is a
 * "checksum ..." line, then sealed anew with tr_seal: the parser
 * behind the checksum sees the mutated body. malloc'd; NULL on no memory. */
char *fz_reseal(const uint8_t *data, size_t size, size_t *len);

/* Runs parse on data as given, then sealed anew (fz_reseal), each time on
 * a private copy: for sealed records, whose checksum would otherwise turn
 * nearly every mutated input away before the parser proper. */
void fz_sealed(const uint8_t *data, size_t size, void (*parse)(char *, size_t));

/* data copied with a terminating NUL (parsers modify their text). */
char *fz_text(const uint8_t *data, size_t size);

/* Reports a broken promise and aborts. */
void fz_fail(const char *what) __attribute__((noreturn));

#endif
