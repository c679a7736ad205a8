/* A small data-parallel trainer that checkpoints with libckpt.
 *
 * Every rank fits the same linear model y = w.x to a stream of samples drawn
 * from its own random generator; gradients are summed over ranks and Adam
 * updates the weights. The state that must survive a failure is the weights,
 * Adam's two moment vectors, each rank's generator state and the iteration:
 * exactly what is protected below. A run that is killed and resumed ends
 * with bit-identical weights to one that never stopped.
 *
 * With --elastic the run may restart on another number of ranks: the
 * weights are replicated (ckpt_protect_replicated: stored once, not once
 * per rank), Adam's moments are sharded (each rank updates its slice,
 * ckpt_protect_global, then the weights are gathered), and the samples of
 * a step are drawn from the step and their index in the global batch, not
 * from per-rank generators, so nothing private to a rank is left.
 *
 *   trainer [-c CONFIG] [-n STEPS] [-k EVERY] [--elastic]
 *           [--die-at STEP --die-rank R] [--step-ms MS]
 *
 * Every step asks ckpt_need_save: on a save signal (SIGUSR1 or SIGTERM, as
 * Slurm sends before a time limit or a preemption) the step is saved and
 * the trainer exits with status 3, for its batch script to requeue it.
 */
#include <ckpt.h>

#include <getopt.h>
#include <unistd.h>
#include <math.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIM 256
#define BATCH 64

typedef struct {
    double w[DIM], m[DIM], v[DIM]; /* weights, Adam moments */
    uint64_t rng;                  /* this rank's generator */
    int64_t iter;
    double loss;
} model_t;

static uint64_t next_u64(uint64_t *s) /* xorshift64* */
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static double next_unit(uint64_t *s)
{
    return (double)(next_u64(s) >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* The hidden truth the model learns. */
static double truth(int j)
{
    return sin(0.1 * j) + 0.5;
}

/* One step: a mini-batch per rank, summed gradient, an Adam update. */
static void train_step(model_t *md, int nranks)
{
    double grad[DIM] = {0}, sum[DIM + 1], x[DIM], loss = 0;
    const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    for (int s = 0; s < BATCH; s++) {
        double y = 0, p = 0;
        for (int j = 0; j < DIM; j++) {
            x[j] = next_unit(&md->rng);
            y += truth(j) * x[j];
            p += md->w[j] * x[j];
        }
        y += 0.01 * next_unit(&md->rng);
        for (int j = 0; j < DIM; j++)
            grad[j] += (p - y) * x[j];
        loss += 0.5 * (p - y) * (p - y);
    }
    memcpy(sum, grad, sizeof grad);
    sum[DIM] = loss;
    MPI_Allreduce(MPI_IN_PLACE, sum, DIM + 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    md->iter++;
    for (int j = 0; j < DIM; j++) {
        double g = sum[j] / (BATCH * nranks);
        md->m[j] = b1 * md->m[j] + (1 - b1) * g;
        md->v[j] = b2 * md->v[j] + (1 - b2) * g * g;
        md->w[j] -= lr * (md->m[j] / (1 - pow(b1, (double)md->iter))) /
                    (sqrt(md->v[j] / (1 - pow(b2, (double)md->iter))) + eps);
    }
    md->loss = sum[DIM] / (BATCH * nranks);
}

/* The part [*lo, *lo + *len) of n items that rank r of `size` takes. */
static void split(int n, int size, int r, int *lo, int *len)
{
    *lo = r * (n / size) + (r < n % size ? r : n % size);
    *len = n / size + (r < n % size);
}

/* --elastic: sample s of step `iter` of the global batch (BATCH per rank
 * of the first run, 8 ranks), the same whoever draws it. */
#define GLOBAL_BATCH (8 * BATCH)

static void elastic_step(model_t *md, int rank, int nranks)
{
    double grad[DIM + 1] = {0}, x[DIM];
    const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    int lo, len, *counts = malloc((size_t)nranks * sizeof *counts),
                 *displs = malloc((size_t)nranks * sizeof *displs);
    split(GLOBAL_BATCH, nranks, rank, &lo, &len);
    for (int s = lo; s < lo + len; s++) {
        uint64_t g = 0x9E3779B97F4A7C15ULL * (uint64_t)(md->iter * GLOBAL_BATCH + s + 1);
        double y = 0, p = 0;
        for (int j = 0; j < DIM; j++) {
            x[j] = next_unit(&g);
            y += truth(j) * x[j];
            p += md->w[j] * x[j];
        }
        y += 0.01 * next_unit(&g);
        for (int j = 0; j < DIM; j++)
            grad[j] += (p - y) * x[j];
        grad[DIM] += 0.5 * (p - y) * (p - y);
    }
    MPI_Allreduce(MPI_IN_PLACE, grad, DIM + 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    md->iter++;
    split(DIM, nranks, rank, &lo, &len); /* this rank's slice of the moments */
    for (int j = lo; j < lo + len; j++) {
        double g = grad[j] / GLOBAL_BATCH;
        md->m[j] = b1 * md->m[j] + (1 - b1) * g;
        md->v[j] = b2 * md->v[j] + (1 - b2) * g * g;
        md->w[j] -= lr * (md->m[j] / (1 - pow(b1, (double)md->iter))) /
                    (sqrt(md->v[j] / (1 - pow(b2, (double)md->iter))) + eps);
    }
    for (int r = 0; r < nranks; r++)
        split(DIM, nranks, r, &displs[r], &counts[r]);
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, md->w, counts, displs,
                   MPI_DOUBLE, MPI_COMM_WORLD);
    md->loss = grad[DIM] / GLOBAL_BATCH;
    free(counts);
    free(displs);
}

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ULL;
    return h;
}

/* --elastic: weights and step replicated, the moments as global slices
 * (each rank its part of them: only that part is kept up to date). */
static int protect_elastic(ckpt_t *ck, model_t *md, int rank, int nranks)
{
    int lo, len;
    int rc = ckpt_protect_replicated(ck, "weights", md->w, DIM, CKPT_DOUBLE);
    split(DIM, nranks, rank, &lo, &len);
    if (rc == CKPT_OK)
        rc = ckpt_protect_global(ck, "adam.m", md->m + lo, (size_t)len,
                                 CKPT_DOUBLE, (uint64_t)lo, DIM);
    if (rc == CKPT_OK)
        rc = ckpt_protect_global(ck, "adam.v", md->v + lo, (size_t)len,
                                 CKPT_DOUBLE, (uint64_t)lo, DIM);
    if (rc == CKPT_OK)
        rc = ckpt_protect_replicated(ck, "iter", &md->iter, 1, CKPT_INT64);
    return rc;
}

static int protect_all(ckpt_t *ck, model_t *md)
{
    int rc = ckpt_protect(ck, "weights", md->w, DIM, CKPT_DOUBLE);
    if (rc == CKPT_OK)
        rc = ckpt_protect(ck, "adam.m", md->m, DIM, CKPT_DOUBLE);
    if (rc == CKPT_OK)
        rc = ckpt_protect(ck, "adam.v", md->v, DIM, CKPT_DOUBLE);
    if (rc == CKPT_OK)
        rc = ckpt_protect(ck, "rng", &md->rng, 1, CKPT_UINT64);
    if (rc == CKPT_OK)
        rc = ckpt_protect(ck, "iter", &md->iter, 1, CKPT_INT64);
    return rc;
}

/* Saves every k-th step, and whenever ckpt_need_save asks (a save
 * interval passed, or a scheduler's signal came: then *stop is set, and the
 * program exits for its requeue). */
static int checkpoint(ckpt_t *ck, const model_t *md, long every, int *saved,
                      int *stop)
{
    int why = CKPT_SAVE_NO, rc = ckpt_need_save(ck, &why);
    *saved = rc == CKPT_OK && (md->iter % every == 0 || why != CKPT_SAVE_NO);
    if (*saved)
        rc = ckpt_save(ck, md->iter);
    *stop = rc == CKPT_OK && why == CKPT_SAVE_SIGNAL;
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"steps", required_argument, NULL, 'n'},
        {"every", required_argument, NULL, 'k'}, {"die-at", required_argument, NULL, 'd'},
        {"die-rank", required_argument, NULL, 'r'},
        {"elastic", no_argument, NULL, 'e'},
        {"step-ms", required_argument, NULL, 's'}, {NULL, 0, NULL, 0}};
    const char *config = NULL;
    long steps = 100, every = 10, die_at = -1, die_rank = 0, step_ms = 0;
    int rank, nranks, rc, c, level = 0, elastic = 0, saved = 0, stop = 0;
    int64_t from = -1;
    model_t md = {0};
    ckpt_t *ck = NULL;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    while ((c = getopt_long(argc, argv, "c:n:k:d:r:es:", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'n': steps = atol(optarg); break;
        case 'k': every = atol(optarg); break;
        case 'd': die_at = atol(optarg); break;
        case 'r': die_rank = atol(optarg); break;
        case 'e': elastic = 1; break;
        case 's': step_ms = atol(optarg); break;
        default: MPI_Finalize(); return 2;
        }
    }
    md.rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(rank + 1);
    rc = ckpt_init(MPI_COMM_WORLD, config, &ck);
    if (rc == CKPT_OK)
        rc = elastic ? protect_elastic(ck, &md, rank, nranks) : protect_all(ck, &md);
    if (rc == CKPT_OK) {
        rc = ckpt_restore(ck, CKPT_LATEST, &from);
        if (rc == CKPT_ENOENT) {
            rc = CKPT_OK;
            from = -1;
        } else if (rc == CKPT_OK) {
            /* The restore returned as soon as the data was in place; lost
             * copies are re-created here (a single node has no partner
             * level to reach: CKPT_ESTATE, harmless). */
            ckpt_wait(ck, from, CKPT_LEVEL_PARTNER);
            ckpt_level(ck, from, &level);
        }
    }
    if (rc != CKPT_OK) {
        if (rank == 0)
            fprintf(stderr, "trainer: %s: %s\n", ckpt_strerror(rc),
                    ck ? ckpt_errmsg(ck) : "ckpt_init failed");
        ckpt_finalize(&ck);
        MPI_Finalize();
        return 1;
    }
    if (rank == 0 && from >= 0)
        printf("trainer: resumed from step %lld (level %d after refill) on %d "
               "ranks, w-hash %016llx\n", (long long)from, level, nranks,
               (unsigned long long)fnv(md.w, sizeof md.w, 1469598103934665603ULL));
    while (md.iter < steps && rc == CKPT_OK && !stop) {
        if (md.iter == die_at && rank == die_rank)
            raise(SIGKILL); /* a node failure, as abrupt as it gets */
        if (elastic)
            elastic_step(&md, rank, nranks);
        else
            train_step(&md, nranks);
        if (step_ms > 0)
            usleep((useconds_t)step_ms * 1000); /* a longer step */
        rc = checkpoint(ck, &md, every, &saved, &stop);
        if (rank == 0 && saved)
            printf("trainer: step %lld loss %.6e%s, w-hash %016llx\n",
                   (long long)md.iter, md.loss,
                   rc == CKPT_OK ? " (checkpoint saved)" : "",
                   (unsigned long long)fnv(md.w, sizeof md.w, 1469598103934665603ULL));
    }
    if (rc != CKPT_OK && rank == 0)
        fprintf(stderr, "trainer: save failed: %s\n", ckpt_errmsg(ck));
    if (stop) {
        if (rank == 0)
            printf("trainer: step %lld saved on a signal: exiting for a requeue\n",
                   (long long)md.iter);
        ckpt_finalize(&ck);
        MPI_Finalize();
        return 3;
    }
    if (rank == 0 && elastic)
        printf("trainer: done: %lld steps, loss %.12e, w[0] %.15e, w[%d] %.15e\n",
               (long long)md.iter, md.loss, md.w[0], DIM - 1, md.w[DIM - 1]);
    else if (rank == 0)
        printf("trainer: done: %lld steps, loss %.6e, weights hash %016llx\n",
               (long long)md.iter, md.loss,
               (unsigned long long)fnv(md.m, sizeof md.m,
                                       fnv(md.v, sizeof md.v, fnv(md.w, sizeof md.w, 1469598103934665603ULL))));
    ckpt_finalize(&ck);
    MPI_Finalize();
    return rc == CKPT_OK ? 0 : 1;
}
