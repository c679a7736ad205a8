/* XXH3 through libxxhash's run-time dispatch: its AVX2 or AVX-512 code
 * where the CPU has them, about twice the speed of the plain entry points
 * on the machines we measured, and the same digests. */
#ifndef CKPT_XXH_H
#define CKPT_XXH_H

#include <xxhash.h>
#if defined(__x86_64__)
#include <xxh_x86dispatch.h>
#endif

#endif
