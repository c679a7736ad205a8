/* libFuzzer harness: a node's MANIFEST, which decides whether a step is
 * complete on a node and what each rank file must hash to. Every input is
 * parsed as given (the checksum turns nearly all of them away) and again
 * sealed anew (the parser behind the checksum sees the mutated lines). What
 * it accepts must survive manifest_write and manifest_read unchanged. */
#include "fuzz.h"
#include "manifest.h"
#include "ckpt.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* TODO(manifest_parse): when src/manifest.h declares
 *   int manifest_parse(char *text, size_t len, manifest_t *m, ckpt_err_t *e);
 * call it here on the text in memory. Until then the text goes through a
 * MANIFEST file in a scratch directory and manifest_read: the same parser,
 * fewer inputs a second. */
static int parse_text(char *text, size_t len, manifest_t *m, ckpt_err_t *e)
{
    char path[4200];
    int fd, ok;
    snprintf(path, sizeof path, "%s/" MANIFEST_NAME, fz_dir());
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        fz_fail("cannot write the scratch MANIFEST");
    ok = write(fd, text, len) == (ssize_t)len;
    close(fd);
    if (!ok)
        fz_fail("cannot write the scratch MANIFEST");
    return manifest_read(fz_dir(), m, e);
}

static int same(const manifest_t *a, const manifest_t *b)
{
    if (strcmp(a->job, b->job) || a->step != b->step || a->node != b->node ||
        a->nnodes != b->nnodes || a->nranks != b->nranks || a->n != b->n)
        return 0;
    for (int i = 0; i < a->n; i++)
        if (a->e[i].rank != b->e[i].rank || a->e[i].own != b->e[i].own ||
            a->e[i].size != b->e[i].size || a->e[i].digest != b->e[i].digest)
            return 0;
    return 1;
}

/* What was accepted, written and read again, is the same manifest. */
static void round_trip(const manifest_t *m)
{
    ckpt_err_t e = {0};
    manifest_t again;
    if (manifest_write(fz_dir(), m, &e) != CKPT_OK)
        fz_fail("an accepted MANIFEST cannot be written again");
    if (manifest_read(fz_dir(), &again, &e) != CKPT_OK)
        fz_fail("an accepted MANIFEST, written again, is refused");
    if (!same(m, &again))
        fz_fail("an accepted MANIFEST, written again, reads differently");
    manifest_free(&again);
}

static void parse(char *text, size_t len)
{
    ckpt_err_t e = {0};
    manifest_t m;
    if (parse_text(text, len, &m, &e) == CKPT_OK) {
        round_trip(&m);
        manifest_free(&m);
    } else if (e.code != CKPT_ECORRUPT || e.msg[0] == '\0') {
        fz_fail("a bad MANIFEST is not CKPT_ECORRUPT with a message");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len;
    char *text = fz_text(data, size);
    if (text) {
        parse(text, size);
        free(text);
    }
    if ((text = fz_reseal(data, size, &len)) != NULL) {
        parse(text, len);
        free(text);
    }
    return 0;
}
