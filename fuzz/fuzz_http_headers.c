/* libFuzzer harness: the HTTP header values the storage client acts on.
 * Retry-After decides how long a request waits and Content-Length how much
 * memory a body may take; a value the parsers accept must be one a retry
 * loop and an allocation can live with. The first input byte picks the
 * header, the rest is its value. */
#include "fuzz.h"
#include "http.h"

#include <math.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *value = size > 0 ? fz_text(data + 1, size - 1) : NULL;
    double seconds = -1;
    uint64_t len = 0;
    if (value == NULL)
        return 0;
    if (data[0] & 1) {
        if (http_parse_retry_after(value, &seconds) == 0 &&
            (!isfinite(seconds) || seconds < 0 || seconds > 86400))
            fz_fail("Retry-After gave a wait that is not 0 to 86400 seconds");
    } else if (http_parse_content_length(value, &len) == 0 && len > INT64_MAX) {
        fz_fail("Content-Length gave a length beyond any object");
    }
    free(value);
    return 0;
}
