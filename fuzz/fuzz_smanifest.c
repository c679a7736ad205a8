/* libFuzzer harness: the storage manifest, which a restore downloads and
 * parses before it trusts any object of the step. Every input is parsed as
 * given (the checksum turns nearly all of them away) and again sealed anew
 * (the parser behind the checksum sees the mutated lines). What it accepts
 * must survive sm_format and sm_parse unchanged. */
#include "fuzz.h"
#include "smanifest.h"
#include "ckpt.h"

#include <stdlib.h>
#include <string.h>

static int same(const smanifest_t *a, const smanifest_t *b)
{
    if (strcmp(a->job, b->job) || a->step != b->step ||
        a->generation != b->generation || a->spread != b->spread ||
        a->nnodes != b->nnodes || a->nranks != b->nranks)
        return 0;
    for (int n = 0; n < a->nnodes; n++)
        if (a->obj[n].size != b->obj[n].size ||
            strcmp(a->obj[n].name, b->obj[n].name))
            return 0;
    for (int r = 0; r < a->nranks; r++)
        if (a->r[r].node != b->r[r].node || a->r[r].off != b->r[r].off ||
            a->r[r].size != b->r[r].size || a->r[r].digest != b->r[r].digest)
            return 0;
    return 1;
}

/* The promises of smanifest.h about an accepted manifest: every range
 * inside its object, every object name the one computed for this save. */
static void check(const smanifest_t *m)
{
    char name[SM_NAME_MAX];
    for (int n = 0; n < m->nnodes; n++) {
        sm_object_name(m->job, m->step, m->generation, n, m->spread, name,
                       sizeof name);
        if (strcmp(name, m->obj[n].name))
            fz_fail("an accepted storage manifest names another object");
    }
    for (int r = 0; r < m->nranks; r++) {
        const sm_range_t *x = &m->r[r];
        if (x->node < 0 || x->node >= m->nnodes)
            fz_fail("an accepted storage manifest has a range on no node");
        if (x->off > m->obj[x->node].size ||
            x->size > m->obj[x->node].size - x->off)
            fz_fail("an accepted storage manifest has a range outside its object");
    }
}

/* What was accepted, written and parsed again, is the same manifest. */
static void round_trip(const smanifest_t *m)
{
    ckpt_err_t e = {0};
    smanifest_t again;
    char *text = NULL;
    size_t len = 0;
    if (sm_format(m, &text, &len, &e) != CKPT_OK)
        return; /* out of memory */
    if (sm_parse(text, len, &again, &e) != CKPT_OK)
        fz_fail("an accepted storage manifest, written again, is refused");
    if (!same(m, &again))
        fz_fail("an accepted storage manifest, written again, reads differently");
    sm_free(&again);
    free(text);
}

static void parse(char *text, size_t len)
{
    ckpt_err_t e = {0};
    smanifest_t m;
    if (sm_parse(text, len, &m, &e) == CKPT_OK) {
        check(&m);
        round_trip(&m);
        sm_free(&m);
    } else if ((e.code != CKPT_ECORRUPT && e.code != CKPT_ENOMEM) ||
               e.msg[0] == '\0') {
        fz_fail("a bad storage manifest is not CKPT_ECORRUPT with a message");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_sealed(data, size, parse);
    return 0;
}
