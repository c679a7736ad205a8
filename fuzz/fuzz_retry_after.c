/* libFuzzer harness, NOT BUILT YET: the Retry-After header value.
 * TODO(http_parse_retry_after): src/http.h is to declare
 *   int http_parse_retry_after(const char *value, double *seconds);
 * (another change of issue 9). When it lands: add fuzz/fuzz_retry_after to
 * FUZZ_PROGS in Makefile.am (sources fuzz/fuzz_retry_after.c
 * $(FUZZ_COMMON)), `retry_after` to PARSERS in fuzz/fuzz.sh, and seeds to
 * fuzz/corpus/retry_after/ ("120", "0", "Wed, 21 Oct 2015 07:28:00 GMT",
 * "-5", "1e400", " 3 ", "nan"). Adjust the promises below to what http.h
 * documents; these are the ones a retry loop needs. */
#include "fuzz.h"
#include "http.h"

#include <math.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *value = fz_text(data, size);
    double seconds = -1;
    if (value == NULL)
        return 0;
    if (http_parse_retry_after(value, &seconds) == 0) {
        /* atof took "nan", "inf", "-5" and "1e400": a wait must be a
         * finite, non-negative number of seconds. */
        if (!isfinite(seconds) || seconds < 0)
            fz_fail("Retry-After gave a wait that is not a finite number >= 0");
    }
    free(value);
    return 0;
}
