/* The STORAGE level against a real service: the script points
 * CKPT_STORAGE_URL (and credentials) at Azurite or a file:// directory, and
 * every test runs the same on both. Rank 0 loses emulated nodes by deleting
 * their cache directories, and inspects storage with the library's client. */
#include "testlib.h"
#include "handle.h"
#include "smanifest.h"
#include "storage.h"
#include "textrec.h"

#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RPN 2
#define N (3 * 1000 * 1000 + 5) /* bytes per rank: 3 blocks of 1 MiB */

typedef struct {
    ckpt_t *ck;
    unsigned char *a;
    char name[64], dir[700], conf[800], text[512];
} fixture_t;

static int nodes(void) { return (tl_size + RPN - 1) / RPN; }

static int open_job(fixture_t *f)
{
    f->ck = NULL;
    return ckpt_init(MPI_COMM_WORLD, f->conf, &f->ck);
}

/* A job of its own per test and rank count: storage outlives the tests. */
static void setup(fixture_t *f, const char *name, const char *extra)
{
    snprintf(f->name, sizeof f->name, "%s-np%d", name, tl_size);
    snprintf(f->text, sizeof f->text, "ranks_per_node = %d\nkeep_local = 8\n"
             "upload_block_size = 1MiB\nupload_concurrency = 4\n%s", RPN, extra);
    snprintf(f->conf, sizeof f->conf, "%s", tl_config(f->name, f->text));
    snprintf(f->dir, sizeof f->dir, "%s", tl_dir_of(f->name));
    f->a = malloc(N);
    CU_ASSERT_EQUAL_FATAL(open_job(f), CKPT_OK);
    ckpt_protect(f->ck, "weights", f->a, N, CKPT_BYTE);
}

static void save(fixture_t *f, int64_t step)
{
    tl_fill(f->a, N, step, tl_rank, 0);
    CU_ASSERT_EQUAL(ckpt_save(f->ck, step), CKPT_OK);
}

static void reopen(fixture_t *f)
{
    CU_ASSERT_EQUAL(ckpt_finalize(&f->ck), CKPT_OK);
    CU_ASSERT_EQUAL_FATAL(open_job(f), CKPT_OK);
    ckpt_protect(f->ck, "weights", f->a, N, CKPT_BYTE);
}

static void teardown(fixture_t *f)
{
    if (f->ck)
        CU_ASSERT_EQUAL(ckpt_finalize(&f->ck), CKPT_OK);
    free(f->a);
}

/* Rank 0 deletes the cache of node n (-1: of every node). */
static void lose(const fixture_t *f, int n)
{
    char cmd[2048];
    if (tl_rank == 0) {
        if (n < 0)
            snprintf(cmd, sizeof cmd, "rm -rf '%s/cache'", f->dir);
        else
            snprintf(cmd, sizeof cmd, "rm -rf '%s/cache/%s/node-%d'", f->dir,
                     f->name, n);
        CU_ASSERT_EQUAL(tl_run(cmd), 0);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

/* Restores the newest step: it must be `want`, with the data of save
 * `key` on every rank. */
static int restored_as(fixture_t *f, int64_t want, int64_t key)
{
    memset(f->a, 0xee, N);
    return tl_restore_latest(f->ck, want) && tl_all(tl_check(f->a, N, key, tl_rank, 0));
}

static int restored(fixture_t *f, int64_t want)
{
    return restored_as(f, want, want);
}

/* Storage requests of all ranks, by operation, summed; a request repeated
 * after a transient error (the fault proxy's) counts once. */
static void requests(const fixture_t *f, uint64_t *sum)
{
    st_stats_t s;
    storage_stats(f->ck->wb.st, &s);
    for (int op = 0; op < OP_COUNT; op++)
        s.requests[op] -= s.retries[op];
    MPI_Allreduce(s.requests, sum, OP_COUNT, MPI_UINT64_T, MPI_SUM,
                  MPI_COMM_WORLD);
}

/* The test's own client of the storage the job uses. */
static storage_t *test_storage(void)
{
    storage_t *st = NULL;
    ckpt_err_t e = {0};
    st_params_t p = {.url = getenv("CKPT_STORAGE_URL"),
                     .account = getenv("AZURE_STORAGE_ACCOUNT"),
                     .key = getenv("AZURE_STORAGE_KEY"),
                     .sas = getenv("AZURE_STORAGE_SAS_TOKEN"),
                     .block_size = 1 << 20, .concurrency = 2, .timeout = 30};
    if (storage_open(&st, &p, &e) != CKPT_OK)
        fprintf(stderr, "test storage: %s\n", e.msg);
    return st;
}

/* Names in storage under prefix (rank 0's view, broadcast as a count). */
static int count_objects(const char *prefix, const char *containing)
{
    int n = 0, hits = 0;
    char **names = NULL;
    if (tl_rank == 0) {
        storage_t *st = test_storage();
        ckpt_err_t e = {0};
        if (st != NULL && storage_list(st, prefix, &names, &n, &e) == CKPT_OK)
            for (int i = 0; i < n; i++)
                hits += strstr(names[i], containing) != NULL;
        if (e.code)
            fprintf(stderr, "listing storage: %s\n", e.msg);
        storage_names_free(names, n);
        storage_close(st);
    }
    MPI_Bcast(&hits, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return hits;
}

static int manifests(const fixture_t *f, int64_t step)
{
    char prefix[128], name[256];
    snprintf(prefix, sizeof prefix, SM_PREFIX_FMT, f->name);
    if (step < 0)
        return count_objects(prefix, "/manifest/step-");
    sm_manifest_name(f->name, step, name, sizeof name);
    return count_objects(name, "/manifest/step-");
}

static void test_all_caches_lost(void)
{
    fixture_t f;
    int level = -1;
    uint64_t before[OP_COUNT], after[OP_COUNT];
    setup(&f, "allcaches", "");
    save(&f, 1);
    save(&f, 2);
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 2, CKPT_LEVEL_STORAGE), CKPT_OK);
    CU_ASSERT_EQUAL(ckpt_level(f.ck, 2, &level), CKPT_OK);
    CU_ASSERT_EQUAL(level, CKPT_LEVEL_STORAGE);
    /* from the cache: not one storage request */
    requests(&f, before);
    CU_ASSERT_TRUE(restored(&f, 2));
    requests(&f, after);
    CU_ASSERT_EQUAL(memcmp(before, after, sizeof before), 0);
    CU_ASSERT_EQUAL(ckpt_finalize(&f.ck), CKPT_OK);
    lose(&f, -1);
    CU_ASSERT_EQUAL_FATAL(open_job(&f), CKPT_OK);
    ckpt_protect(f.ck, "weights", f.a, N, CKPT_BYTE);
    requests(&f, before);
    CU_ASSERT_TRUE(restored(&f, 2));
    requests(&f, after);
    /* 1 manifest, and a rank's 3 MB in ranged GETs of 1 MiB (one copy on
     * a file system) */
    CU_ASSERT_EQUAL(after[OP_GET] - before[OP_GET],
                    (uint64_t)tl_size * (strncmp(getenv("CKPT_STORAGE_URL"),
                                                 "file:", 5) ? 3 : 1) + 1);
    /* refilled: a second restore needs no storage */
    requests(&f, before);
    CU_ASSERT_TRUE(restored(&f, 2));
    requests(&f, after);
    CU_ASSERT_EQUAL(memcmp(before, after, sizeof before), 0);
    teardown(&f);
}

/* Node 0 and its partner node 1 are lost: node 0's ranks read storage,
 * node 1's ranks their copies on node 2. */
static void test_node_and_partner_lost(void)
{
    fixture_t f;
    char path[1024];
    struct stat sb;
    setup(&f, "pairlost", "");
    save(&f, 5);
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 5, CKPT_LEVEL_STORAGE), CKPT_OK);
    lose(&f, 0);
    lose(&f, 1);
    CU_ASSERT_TRUE(restored(&f, 5));
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 5, CKPT_LEVEL_PARTNER), CKPT_OK);
    tl_rank_file(path, sizeof path, f.dir, tl_rank / RPN, 5, tl_rank);
    CU_ASSERT_EQUAL(stat(path, &sb), 0);
    tl_rank_file(path, sizeof path, f.dir, (tl_rank / RPN + 1) % nodes(), 5, tl_rank);
    CU_ASSERT_EQUAL(stat(path, &sb), 0); /* back at PARTNER level */
    teardown(&f);
}

/* Node 1 is lost and the partner copies of its ranks (on node 2) are
 * damaged: the copies streamed into the buffers fail their digest, and
 * storage writes the buffers again. */
static void test_node_lost_copy_damaged(void)
{
    fixture_t f;
    char path[1024];
    setup(&f, "lostdamaged", "");
    save(&f, 5);
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 5, CKPT_LEVEL_STORAGE), CKPT_OK);
    lose(&f, 1);
    if (tl_rank / RPN == 1) {
        snprintf(path, sizeof path, "%s/cache/%s/node-%d/step-5/rank-%d.h5",
                 f.dir, f.name, 2 % nodes(), tl_rank);
        tl_flip_byte(path, -100);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    CU_ASSERT_TRUE(restored(&f, 5));
    teardown(&f);
}

static void test_persist_every(void)
{
    fixture_t f;
    int level = -1;
    setup(&f, "every3", "persist_every = 3");
    for (int64_t s = 1; s <= 7; s++)
        save(&f, s);
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 6, CKPT_LEVEL_STORAGE), CKPT_OK);
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 5, CKPT_LEVEL_STORAGE), CKPT_ESTATE);
    CU_ASSERT_EQUAL(ckpt_level(f.ck, 5, &level), CKPT_OK);
    CU_ASSERT_EQUAL(level, CKPT_LEVEL_PARTNER);
    CU_ASSERT_EQUAL(ckpt_finalize(&f.ck), CKPT_OK); /* uploads 7, the newest */
    CU_ASSERT_EQUAL(manifests(&f, 3), 1);
    CU_ASSERT_EQUAL(manifests(&f, 6), 1);
    CU_ASSERT_EQUAL(manifests(&f, 7), 1);
    CU_ASSERT_EQUAL(manifests(&f, -1), 3);
    free(f.a);
}

static void test_keep_remote(void)
{
    fixture_t f;
    char prefix[128];
    setup(&f, "keep2", "keep_remote = 2\nprefix_spread = 0");
    for (int64_t s = 1; s <= 5; s++) {
        save(&f, s);
        CU_ASSERT_EQUAL(ckpt_wait(f.ck, s, CKPT_LEVEL_STORAGE), CKPT_OK);
    }
    reopen(&f); /* the last commit's retention has run */
    CU_ASSERT_EQUAL(manifests(&f, -1), 2);
    CU_ASSERT_EQUAL(manifests(&f, 4) + manifests(&f, 5), 2);
    snprintf(prefix, sizeof prefix, "%s/step-", f.name);
    CU_ASSERT_EQUAL(count_objects(prefix, "/node-"), 2 * nodes());
    lose(&f, -1);
    reopen(&f);
    CU_ASSERT_TRUE(restored(&f, 5));
    teardown(&f);
}

/* Requests for one step: blocks + block list per node object, 1 manifest. */
static void test_request_count(void)
{
    fixture_t f;
    uint64_t before[OP_COUNT], after[OP_COUNT], puts = 0, blocks, bound;
    setup(&f, "requests", "");
    requests(&f, before);
    save(&f, 1);
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 1, CKPT_LEVEL_STORAGE), CKPT_OK);
    requests(&f, after);
    for (int op = OP_PUT_BLOCK; op <= OP_PUT; op++)
        puts += after[op] - before[op];
    blocks = 0;
    for (int n = 0; n < nodes(); n++) {
        uint64_t bytes = (uint64_t)(tl_size - n * RPN < RPN ? tl_size - n * RPN
                                                           : RPN) * (N + 8192);
        blocks += (bytes + (1 << 20) - 1) / (1 << 20) + 2;
    }
    bound = blocks + 1;
    CU_ASSERT_TRUE(puts <= bound);
    CU_ASSERT_EQUAL(after[OP_LIST] - before[OP_LIST], 0);
    if (tl_rank == 0)
        printf("requests for one step: %llu (bound %llu)\n",
               (unsigned long long)puts, (unsigned long long)bound);
    teardown(&f);
}

/* At least 16 distinct leading prefixes among at least 16 objects. */
static void test_prefix_spread(void)
{
    fixture_t f;
    int distinct = 0;
    setup(&f, "spread", "");
    for (int64_t s = 1; s * nodes() < 16 + nodes(); s++) {
        save(&f, s);
        CU_ASSERT_EQUAL(ckpt_wait(f.ck, s, CKPT_LEVEL_STORAGE), CKPT_OK);
    }
    if (tl_rank == 0) {
        storage_t *st = f.ck->wb.st;
        ckpt_err_t e = {0};
        char **names = NULL, seen[64][8];
        int n = 0, objects = 0;
        CU_ASSERT_EQUAL(storage_list(st, "", &names, &n, &e), CKPT_OK);
        for (int i = 0; i < n; i++) {
            int dup = 0;
            if (!strstr(names[i], f.name) || strstr(names[i], "/manifest/"))
                continue;
            objects++;
            for (int k = 0; k < distinct; k++)
                dup |= !strncmp(seen[k], names[i], 5);
            if (!dup && distinct < 64)
                snprintf(seen[distinct++], 8, "%.5s", names[i]);
        }
        CU_ASSERT_TRUE(objects >= 16);
        storage_names_free(names, n);
    }
    MPI_Bcast(&distinct, 1, MPI_INT, 0, MPI_COMM_WORLD);
    CU_ASSERT_TRUE(distinct >= 16);
    teardown(&f);
}

/* The upload of step 2 is in flight when every rank is killed. */
static void test_kill_mid_upload(void)
{
    fixture_t f;
    setup(&f, "killed", "upload_concurrency = 1");
    save(&f, 1);
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 1, CKPT_LEVEL_STORAGE), CKPT_OK);
    save(&f, 2);
    usleep(100000);
    raise(SIGKILL);
}

static void test_after_kill(void)
{
    fixture_t f;
    snprintf(f.name, sizeof f.name, "killed-np%d", tl_size);
    snprintf(f.dir, sizeof f.dir, "%s", tl_dir_of(f.name));
    snprintf(f.conf, sizeof f.conf, "%s/ckpt.conf", f.dir);
    f.a = malloc(N);
    lose(&f, -1);
    CU_ASSERT_EQUAL_FATAL(open_job(&f), CKPT_OK);
    ckpt_protect(f.ck, "weights", f.a, N, CKPT_BYTE);
    CU_ASSERT_EQUAL(manifests(&f, 2), 0);
    CU_ASSERT_TRUE(restored(&f, 1));
    teardown(&f);
}

/* Storage never answers: saves and cache restores work, waits fail. */
static void test_storage_down(void)
{
    fixture_t f;
    int rc;
    setup(&f, "down", "storage_timeout = 2");
    save(&f, 1);
    save(&f, 2);
    CU_ASSERT_TRUE(restored(&f, 2));
    rc = ckpt_wait(f.ck, 1, CKPT_LEVEL_STORAGE);
    CU_ASSERT_EQUAL(rc, CKPT_ESTORAGE);
    CU_ASSERT_TRUE(tl_same(rc));
    CU_ASSERT_PTR_NOT_NULL(strstr(ckpt_errmsg(f.ck), "did not reach storage"));
    save(&f, 3);
    CU_ASSERT_TRUE(restored(&f, 3));
    rc = ckpt_finalize(&f.ck);
    CU_ASSERT_EQUAL(rc, CKPT_ESTORAGE); /* step 3 could not be kept */
    CU_ASSERT_TRUE(tl_same(rc));
    CU_ASSERT_EQUAL_FATAL(open_job(&f), CKPT_OK);
    ckpt_protect(f.ck, "weights", f.a, N, CKPT_BYTE);
    CU_ASSERT_TRUE(restored(&f, 3)); /* nothing lost */
    CU_ASSERT_EQUAL(ckpt_finalize(&f.ck), CKPT_ESTORAGE);
    free(f.a);
}

/* Credentials that storage refuses fail ckpt_init on every rank. */
static void test_refused(void)
{
    fixture_t f;
    int rc;
    snprintf(f.name, sizeof f.name, "refused-np%d", tl_size);
    snprintf(f.conf, sizeof f.conf, "%s", tl_config(f.name, ""));
    rc = open_job(&f);
    CU_ASSERT_EQUAL(rc, CKPT_ESTORAGE);
    CU_ASSERT_TRUE(tl_same(rc));
    CU_ASSERT_PTR_NULL(f.ck);
}

/* ---- storage under attack: planted, stale and damaged objects ---- */

#define AGAIN 1000000 /* salt of a second save of a step */

static void save_as(fixture_t *f, int64_t step, int64_t key)
{
    tl_fill(f->a, N, key, tl_rank, 0);
    CU_ASSERT_EQUAL(ckpt_save(f->ck, step), CKPT_OK);
}


/* Rank 0 reads an object into memory (NULL if it cannot). */
static char *get_object(const char *name, size_t *len)
{
    storage_t *st = test_storage();
    ckpt_err_t e = {0};
    char *text = NULL;
    if (st == NULL || storage_get(st, name, &text, len, &e) != CKPT_OK)
        fprintf(stderr, "get %s: %s\n", name, e.msg);
    storage_close(st);
    return text;
}

static void put_object(const char *name, const char *buf, size_t len)
{
    storage_t *st = test_storage();
    ckpt_err_t e = {0};
    CU_ASSERT_EQUAL(st ? storage_put(st, name, buf, len, &e) : -1, CKPT_OK);
    storage_close(st);
}

/* Rank 0 writes text, sealed as a manifest would be, as step's manifest. */
static void plant_manifest(const fixture_t *f, int64_t step, const char *body)
{
    char name[256], *text = strdup(body);
    size_t len = strlen(body);
    if (tl_rank == 0) {
        sm_manifest_name(f->name, step, name, sizeof name);
        CU_ASSERT_EQUAL(tr_seal(&text, &len), 0);
        put_object(name, text, len);
    }
    free(text);
    MPI_Barrier(MPI_COMM_WORLD);
}

/* Rank 0 copies step from's manifest to step to's name. */
static void copy_manifest(const fixture_t *f, int64_t from, int64_t to)
{
    char name[256], *text;
    size_t len = 0;
    if (tl_rank == 0) {
        sm_manifest_name(f->name, from, name, sizeof name);
        text = get_object(name, &len);
        CU_ASSERT_PTR_NOT_NULL(text);
        sm_manifest_name(f->name, to, name, sizeof name);
        if (text)
            put_object(name, text, len);
        free(text);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

/* Planted manifests that no parser may trust, one the old format's heap
 * overflow (a `nodes` line after `ranks`): storage's step 1 is restored,
 * and a later save's retention removes them without harm. */
static void test_planted_manifests(void)
{
    fixture_t f;
    char body[512];
    setup(&f, "planted", "keep_remote = 1");
    save(&f, 1);
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 1, CKPT_LEVEL_STORAGE), CKPT_OK);
    snprintf(body, sizeof body, "ckpt-storage-manifest 1\njob %s\nstep 98\n"
             "ranks 1\nnodes 1000\nobject 999 10 x\n", f.name);
    plant_manifest(&f, 98, body);
    snprintf(body, sizeof body, "ckpt-storage-manifest 2\njob %s\nstep 99\n"
             "generation 0000000000000001\nspread 0\nnodes 1\nranks 1\n"
             "object 7 10 x\nrange 0 0 0 10 0000000000000000\n", f.name);
    plant_manifest(&f, 99, body);
    lose(&f, -1);
    reopen(&f);
    CU_ASSERT_TRUE(restored(&f, 1));
    save(&f, 2); /* supersedes 98 and 99; keep_remote = 1 then drops 1 */
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 2, CKPT_LEVEL_STORAGE), CKPT_OK);
    reopen(&f);
    CU_ASSERT_EQUAL(manifests(&f, -1), 1);
    CU_ASSERT_EQUAL(manifests(&f, 2), 1);
    teardown(&f);
}

/* Issue 9, item 4: restore 30, save 10 with keep_remote = 2: step 10 is
 * kept, and it is what a restore from storage alone gets. */
static void test_retention_after_rollback(void)
{
    fixture_t f;
    int64_t got = -1;
    setup(&f, "rollback", "keep_remote = 2");
    for (int64_t s = 10; s <= 30; s += 10) {
        save(&f, s);
        CU_ASSERT_EQUAL(ckpt_wait(f.ck, s, CKPT_LEVEL_STORAGE), CKPT_OK);
    }
    CU_ASSERT_EQUAL(ckpt_restore(f.ck, 30, &got), CKPT_OK);
    save_as(&f, 10, 10 + AGAIN);
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 10, CKPT_LEVEL_STORAGE), CKPT_OK);
    reopen(&f);
    CU_ASSERT_EQUAL(manifests(&f, -1), 1);
    CU_ASSERT_EQUAL(manifests(&f, 10), 1);
    lose(&f, -1);
    reopen(&f);
    CU_ASSERT_TRUE(restored_as(&f, 10, 10 + AGAIN));
    teardown(&f);
}

/* Issue 9, item 2: step 20 is in storage, then saved again and not
 * uploaded (persist_every = 2). Its level is no longer STORAGE, waiting for
 * it fails, and with node 0 and its partner node lost, no restore returns
 * the first save from storage: it is gone from there too. */
static void test_resave_not_uploaded(void)
{
    fixture_t f;
    int level = -1, rc;
    int64_t got = -1;
    setup(&f, "resave", "persist_every = 2");
    save(&f, 10);
    save(&f, 20);
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 20, CKPT_LEVEL_STORAGE), CKPT_OK);
    save_as(&f, 20, 20 + AGAIN);
    CU_ASSERT_EQUAL(ckpt_level(f.ck, 20, &level), CKPT_OK);
    CU_ASSERT_EQUAL(level, CKPT_LEVEL_PARTNER);
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 20, CKPT_LEVEL_STORAGE), CKPT_ESTATE);
    CU_ASSERT_TRUE(restored_as(&f, 20, 20 + AGAIN));
    lose(&f, 0);
    lose(&f, 1);
    rc = ckpt_restore(f.ck, CKPT_LATEST, &got);
    CU_ASSERT_EQUAL(rc, CKPT_ENOENT); /* step 10 never went to storage */
    CU_ASSERT_TRUE(tl_same(rc));
    /* the end of the job cannot upload 20 either: its node 0 is lost */
    rc = ckpt_finalize(&f.ck);
    CU_ASSERT_EQUAL(rc, CKPT_ESTORAGE);
    CU_ASSERT_TRUE(tl_same(rc));
    CU_ASSERT_EQUAL(manifests(&f, 20), 0);
    free(f.a);
}

/* A manifest naming another job's objects, planted in this job's
 * namespace: retention deletes the manifest, never the other job's data. */
static void test_planted_other_job(void)
{
    fixture_t a, b;
    setup(&b, "victim", "");
    save(&b, 5);
    CU_ASSERT_EQUAL(ckpt_wait(b.ck, 5, CKPT_LEVEL_STORAGE), CKPT_OK);
    CU_ASSERT_EQUAL(ckpt_finalize(&b.ck), CKPT_OK);
    setup(&a, "intruder", "keep_remote = 1");
    save(&a, 1);
    CU_ASSERT_EQUAL(ckpt_wait(a.ck, 1, CKPT_LEVEL_STORAGE), CKPT_OK);
    if (tl_rank == 0) {
        char from[256], to[256], *text;
        size_t len = 0;
        sm_manifest_name(b.name, 5, from, sizeof from);
        sm_manifest_name(a.name, 0, to, sizeof to);
        if ((text = get_object(from, &len)) != NULL)
            put_object(to, text, len);
        free(text);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    save(&a, 2); /* retention: steps 0 and 1 go */
    CU_ASSERT_EQUAL(ckpt_wait(a.ck, 2, CKPT_LEVEL_STORAGE), CKPT_OK);
    reopen(&a);
    CU_ASSERT_EQUAL(manifests(&a, -1), 1);
    teardown(&a);
    CU_ASSERT_EQUAL_FATAL(open_job(&b), CKPT_OK);
    ckpt_protect(b.ck, "weights", b.a, N, CKPT_BYTE);
    lose(&b, -1);
    reopen(&b);
    CU_ASSERT_TRUE(restored(&b, 5));
    teardown(&b);
}

/* Step 2's object of node 0, longer than its manifest says (the extra
 * bytes are not read), then shorter: storage's complete answer is final,
 * so step 1 is restored at once, not after storage_timeout of retries. */
static void test_object_longer_and_shorter(void)
{
    fixture_t f;
    char name[256], obj[SM_NAME_MAX] = "", *text = NULL;
    size_t len = 0;
    double t0;
    setup(&f, "objsize", "storage_timeout = 120");
    save(&f, 1);
    save(&f, 2);
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 2, CKPT_LEVEL_STORAGE), CKPT_OK);
    if (tl_rank == 0) {
        smanifest_t m;
        ckpt_err_t e = {0};
        sm_manifest_name(f.name, 2, name, sizeof name);
        text = get_object(name, &len);
        if (text && sm_parse(text, len, &m, &e) == CKPT_OK) {
            snprintf(obj, sizeof obj, "%s", m.obj[0].name);
            sm_free(&m);
        }
        free(text);
        text = get_object(obj, &len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(text);
        text = realloc(text, len + 100);
        memset(text + len, 'x', 100);
        put_object(obj, text, len + 100);
    }
    lose(&f, -1);
    reopen(&f);
    CU_ASSERT_TRUE(restored(&f, 2));
    lose(&f, -1);
    if (tl_rank == 0)
        put_object(obj, text, len - 1000);
    reopen(&f);
    t0 = MPI_Wtime();
    CU_ASSERT_TRUE(restored(&f, 1));
    CU_ASSERT_TRUE(tl_all(MPI_Wtime() - t0 < 60));
    free(text);
    teardown(&f);
}

/* Step 1's manifest under step 2's name: step 2 is not restored from it. */
static void test_manifest_of_other_step(void)
{
    fixture_t f;
    setup(&f, "mfstep", "");
    save(&f, 1);
    save(&f, 2);
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 2, CKPT_LEVEL_STORAGE), CKPT_OK);
    copy_manifest(&f, 1, 2);
    lose(&f, -1);
    reopen(&f);
    CU_ASSERT_TRUE(restored(&f, 1));
    teardown(&f);
}

/* The first save of step 20's manifest put back after the second save
 * committed: with node 0 and its partner lost, storage's older save is
 * never combined with the caches' newer one; step 10 is restored. */
static void test_stale_manifest(void)
{
    fixture_t f;
    char name[256], *old = NULL;
    size_t len = 0;
    setup(&f, "stale", "");
    save(&f, 10);
    save(&f, 20);
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 20, CKPT_LEVEL_STORAGE), CKPT_OK);
    sm_manifest_name(f.name, 20, name, sizeof name);
    if (tl_rank == 0)
        old = get_object(name, &len);
    save_as(&f, 20, 20 + AGAIN);
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 20, CKPT_LEVEL_STORAGE), CKPT_OK);
    if (tl_rank == 0 && old)
        put_object(name, old, len);
    free(old);
    MPI_Barrier(MPI_COMM_WORLD);
    lose(&f, 0);
    lose(&f, 1);
    CU_ASSERT_TRUE(restored(&f, 10));
    teardown(&f);
}

/* Rank 0 keeps a committed step's manifest and objects, to put them back
 * later as storage that could not be cleaned would have kept them. */
typedef struct {
    char *text[8];
    size_t len[8];
    char name[8][SM_NAME_MAX];
    int n;
} kept_t;

static void keep_step(const fixture_t *f, int64_t step, kept_t *k)
{
    smanifest_t m;
    ckpt_err_t e = {0};
    char *copy;
    int rc;
    memset(k, 0, sizeof *k);
    if (tl_rank != 0)
        return;
    sm_manifest_name(f->name, step, k->name[0], sizeof k->name[0]);
    k->text[0] = get_object(k->name[0], &k->len[0]);
    k->n = 1;
    if (k->text[0] == NULL || (copy = strdup(k->text[0])) == NULL)
        return;
    rc = sm_parse(copy, k->len[0], &m, &e); /* the parser cuts its text */
    free(copy);
    if (rc != CKPT_OK)
        return;
    for (int i = 0; i < m.nnodes && k->n < 8; i++, k->n++) {
        snprintf(k->name[k->n], sizeof k->name[k->n], "%s", m.obj[i].name);
        k->text[k->n] = get_object(k->name[k->n], &k->len[k->n]);
    }
    sm_free(&m);
}

static void put_back(kept_t *k)
{
    for (int i = k->n - 1; i >= 0; i--) {
        if (k->text[i])
            put_object(k->name[i], k->text[i], k->len[i]);
        free(k->text[i]);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

/* Restart from 10 and save 11 while 30 of the abandoned run could not be
 * removed from storage (it is put back, manifest and objects): a restore
 * after a restart gets 11 from the caches, never 30. */
static void test_superseded_in_storage(void)
{
    fixture_t f;
    kept_t k;
    int64_t got = -1;
    setup(&f, "superseded", "");
    save(&f, 10);
    save(&f, 30);
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 30, CKPT_LEVEL_STORAGE), CKPT_OK);
    keep_step(&f, 30, &k);
    CU_ASSERT_EQUAL(ckpt_restore(f.ck, 10, &got), CKPT_OK);
    save(&f, 11);
    CU_ASSERT_EQUAL(ckpt_wait(f.ck, 11, CKPT_LEVEL_STORAGE), CKPT_OK);
    reopen(&f); /* the removal of 30 has run */
    CU_ASSERT_EQUAL(manifests(&f, 30), 0);
    put_back(&k);
    reopen(&f);
    CU_ASSERT_TRUE(restored(&f, 11));
    teardown(&f);
}

static const tl_test_t adversary[] = {
    {"a superseded step put back in storage", test_superseded_in_storage},
    {"planted manifests: no crash, older step, removed", test_planted_manifests},
    {"restore 30, save 10, keep_remote = 2: 10 is kept", test_retention_after_rollback},
    {"a step saved again and not uploaded is not in storage", test_resave_not_uploaded},
    {"a manifest of another job: its objects survive", test_planted_other_job},
    {"an object longer, then shorter than its manifest", test_object_longer_and_shorter},
    {"a manifest of another step", test_manifest_of_other_step},
    {"a stale manifest of the step's older save", test_stale_manifest},
    {NULL, NULL}};

static const tl_test_t roundtrip[] = {
    {"all caches lost: restore from storage", test_all_caches_lost},
    {"node and its partner lost", test_node_and_partner_lost},
    {"a node lost and its partners' copies damaged", test_node_lost_copy_damaged},
    {"persist_every = 3", test_persist_every},
    {"keep_remote = 2", test_keep_remote},
    {"requests per step", test_request_count},
    {"prefix spread", test_prefix_spread},
    {NULL, NULL}};
static const tl_test_t kill_tests[] = {{"killed mid-upload", test_kill_mid_upload},
                                       {NULL, NULL}};
static const tl_test_t after_kill[] = {{"restart after the kill", test_after_kill},
                                       {NULL, NULL}};
static const tl_test_t down[] = {{"storage down", test_storage_down}, {NULL, NULL}};
static const tl_test_t refused[] = {{"refused credentials", test_refused},
                                    {NULL, NULL}};

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "roundtrip";
    if (!strcmp(which, "kill"))
        return tl_main(argc, argv, "storage-kill", kill_tests);
    if (!strcmp(which, "after-kill"))
        return tl_main(argc, argv, "storage-after-kill", after_kill);
    if (!strcmp(which, "down"))
        return tl_main(argc, argv, "storage-down", down);
    if (!strcmp(which, "refused"))
        return tl_main(argc, argv, "storage-refused", refused);
    if (!strcmp(which, "adversary"))
        return tl_main(argc, argv, "storage-adversary", adversary);
    return tl_main(argc, argv, "storage", roundtrip);
}
