/* libFuzzer harness: the metadata of a rank file (an HDF5 file), read by
 * rankfile_index as a restore reads every file it is handed. The input is
 * the whole file; most of what is parsed is parsed by HDF5 itself, which is
 * not instrumented, so coverage guides the fuzzer only through our side. */
#include "fuzz.h"
#include "rankfile.h"
#include "ckpt.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_file(data, size);
    ckpt_err_t e = {0};
    rf_index_t idx;
    if (path == NULL)
        return 0;
    if (rankfile_index(path, &idx, &e) == CKPT_OK) {
        for (int i = 0; i < idx.n; i++) {
            if (memchr(idx.d[i].name, '\0', sizeof idx.d[i].name) == NULL)
                fz_fail("a dataset name is not terminated");
            if (idx.d[i].type < 0)
                fz_fail("a dataset of an unknown type was accepted");
        }
        rankfile_index_free(&idx);
    } else if (e.code != CKPT_ECORRUPT || e.msg[0] == '\0') {
        fz_fail("a bad rank file is not CKPT_ECORRUPT with a message");
    }
    return 0;
}
