/* libFuzzer harness: a node's MANIFEST, which decides whether a step is
 * complete on a node, what each rank file must hash to, and where each own
 * file's datasets lie (a restore reads the file by it). Every input is
 * parsed as given (the checksum turns nearly all of them away) and again
 * sealed anew (the parser behind the checksum sees the mutated lines). What
 * it accepts must survive manifest_write and manifest_read unchanged. */
#include "fuzz.h"
#include "manifest.h"
#include "region.h"
#include "ckpt.h"

#include <stdlib.h>
#include <string.h>

static int same_datasets(const rf_dataset_t *a, const rf_dataset_t *b, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(a[i].name, b[i].name) || a[i].type != b[i].type ||
            a[i].count != b[i].count || a[i].off != b[i].off ||
            a[i].checksum != b[i].checksum)
            return 0;
    return 1;
}

static int same(const manifest_t *a, const manifest_t *b)
{
    if (strcmp(a->job, b->job) || a->step != b->step ||
        a->generation != b->generation || a->node != b->node ||
        a->nnodes != b->nnodes || a->nranks != b->nranks || a->n != b->n ||
        a->rs_k != b->rs_k || a->rs_m != b->rs_m || a->rs_first != b->rs_first ||
        a->rs_nodes != b->rs_nodes)
        return 0;
    for (int i = 0; i < a->n; i++) {
        const mf_entry_t *x = &a->e[i], *y = &b->e[i];
        if (x->rank != y->rank || x->own != y->own || x->kind != y->kind ||
            x->size != y->size ||
            x->digest != y->digest || x->nregions != y->nregions ||
            !same_datasets(a->d + x->first, b->d + y->first, x->nregions))
            return 0;
    }
    return 1;
}

/* The promises of manifest.h about an accepted MANIFEST: what a restore
 * indexes by stays inside the counts and inside the file. */
static void check(const manifest_t *m)
{
    if (m->node < 0 || m->node >= m->nnodes || m->nnodes > m->nranks)
        fz_fail("an accepted MANIFEST has a node outside its nodes");
    for (int i = 0; i < m->n; i++) {
        const mf_entry_t *x = &m->e[i];
        if (x->rank < 0 || x->rank >= m->nranks)
            fz_fail("an accepted MANIFEST lists a rank outside its ranks");
        /* copies list their datasets too (format 3): a partner streams a
         * copy into the buffers by them */
        if (x->first < 0 || x->nregions < 0 || x->first + x->nregions > m->nd)
            fz_fail("an accepted MANIFEST has datasets outside its list");
        for (int k = x->first; k < x->first + x->nregions; k++) {
            const rf_dataset_t *d = &m->d[k];
            uint64_t bytes = d->count * type_size((ckpt_type_t)d->type);
            if (d->off > x->size || bytes > x->size - d->off)
                fz_fail("an accepted MANIFEST has a dataset outside its file");
        }
    }
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
    if (manifest_parse(text, len, &m, &e) == CKPT_OK) {
        check(&m);
        round_trip(&m);
        manifest_free(&m);
    } else if ((e.code != CKPT_ECORRUPT && e.code != CKPT_ENOMEM) ||
               e.msg[0] == '\0') {
        fz_fail("a bad MANIFEST is not CKPT_ECORRUPT with a message");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_sealed(data, size, parse);
    return 0;
}
