/* libFuzzer harness: a flush part, which ckpt-flush reads from storage
 * (put there by another node, or by anyone who can write the container)
 * before it commits a step from it. Every input is parsed as given and
 * again sealed anew. What it accepts must keep part.h's promises and
 * survive part_format and part_parse unchanged. */
#include "fuzz.h"
#include "part.h"
#include "ckpt.h"

#include <stdlib.h>
#include <string.h>

static void check(const part_t *p)
{
    if (p->n < 1 || p->n > p->nranks || p->node < 0 || p->node >= p->nnodes ||
        p->nnodes > p->nranks)
        fz_fail("an accepted part has counts out of range");
    for (int i = 0; i < p->n; i++)
        if (p->rank[i] < 0 || p->rank[i] >= p->nranks ||
            (i > 0 && p->rank[i] <= p->rank[i - 1]))
            fz_fail("an accepted part has ranks out of range or order");
}

static void round_trip(const part_t *p)
{
    ckpt_err_t e = {0};
    part_t again;
    char *text = NULL;
    size_t len = 0;
    if (part_format(p, &text, &len, &e) != CKPT_OK)
        return; /* out of memory */
    if (part_parse(text, len, &again, &e) != CKPT_OK)
        fz_fail("an accepted part, written again, is refused");
    if (strcmp(p->job, again.job) || p->step != again.step ||
        p->generation != again.generation || p->node != again.node ||
        p->nnodes != again.nnodes || p->nranks != again.nranks ||
        p->n != again.n ||
        memcmp(p->rank, again.rank, (size_t)p->n * sizeof *p->rank) ||
        memcmp(p->size, again.size, (size_t)p->n * sizeof *p->size) ||
        memcmp(p->digest, again.digest, (size_t)p->n * sizeof *p->digest))
        fz_fail("an accepted part, written again, reads differently");
    part_free(&again);
    free(text);
}

static void parse(char *text, size_t len)
{
    ckpt_err_t e = {0};
    part_t p;
    if (part_parse(text, len, &p, &e) == CKPT_OK) {
        check(&p);
        round_trip(&p);
        part_free(&p);
    } else if ((e.code != CKPT_ECORRUPT && e.code != CKPT_ENOMEM) ||
               e.msg[0] == '\0') {
        fz_fail("a bad part is not CKPT_ECORRUPT with a message");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_sealed(data, size, parse);
    return 0;
}
