/* A step's storage manifest and the names of its objects. The manifest is
 * written last, after every node object of the step is committed: a step
 * exists in storage iff its manifest does. Text, sealed like a node
 * MANIFEST, every line in this order:
 *   ckpt-storage-manifest 2 / job / step / generation / spread / nodes / ranks
 *   object <node> <size> <name>                  nodes 0, 1, ... in order
 *   range <rank> <node> <offset> <size> <xxh3>   ranks 0, 1, ... in order
 * Object names are never taken from the text: the parser recomputes them
 * from job, step, generation and spread, and refuses a text whose names
 * differ, so that no manifest can point a restore or a deletion at an
 * object of another job or save. */
#ifndef CKPT_SMANIFEST_H
#define CKPT_SMANIFEST_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "error.h"

#define SM_NAME_MAX 512

typedef struct sm_object {
    uint64_t size;
    char name[SM_NAME_MAX];
} sm_object_t;

typedef struct sm_range {
    int node;
    uint64_t off, size, digest;
} sm_range_t;

typedef struct smanifest {
    char job[CKPT_NAME_MAX + 1];
    int64_t step;
    uint64_t generation;
    int spread;        /* object names carry a hash prefix */
    int nnodes, nranks;
    sm_object_t *obj;  /* [nnodes] */
    sm_range_t *r;     /* [nranks] */
} smanifest_t;

/* <job>/manifest/step-<S, 20 digits>: listing by prefix sorts by step. */
void sm_manifest_name(const char *job, int64_t step, char *buf, size_t n);
#define SM_PREFIX_FMT "%s/manifest/"
/* The step of a manifest name of this job, or -1. */
int64_t sm_step_of(const char *job, const char *name);
/* [<4 hex digits of a hash>/]<job>/step-<S>/g<generation>/node-<n>: the
 * hash prefix puts consecutive steps and nodes in different storage
 * partitions; the generation keeps two saves of one step apart. */
void sm_object_name(const char *job, int64_t step, uint64_t generation,
                    int node, int spread, char *buf, size_t n);

/* Sets the counts and allocates; names are filled by sm_name_objects. */
int sm_alloc(smanifest_t *m, int nnodes, int nranks);
void sm_name_objects(smanifest_t *m);
void sm_free(smanifest_t *m);
/* Sealed text, malloc'd. */
int sm_format(const smanifest_t *m, char **text, size_t *len, ckpt_err_t *e);
/* CKPT_ECORRUPT unless the text is one sm_format could have written, with
 * every range inside its object. text is modified. */
int sm_parse(char *text, size_t len, smanifest_t *m, ckpt_err_t *e);

#endif
