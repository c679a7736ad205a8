/* ckpt-bench: save and restore N bytes per rank for R rounds and compare,
 * in the same run and on the same file system, with the raw baseline: each
 * rank write()+fsync() of the same bytes, and read() of them back
 * (bench_cache.c).
 * With --storage URL it measures the STORAGE level instead: the stall of a
 * save in writeback mode against cache mode while uploads run, upload and
 * download throughput, and the storage requests of each step. */
#include "bench.h"
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int parse(bench_t *b, int argc, char **argv)
{
    static const struct option opts[] = {
        {"bytes", required_argument, NULL, 'b'}, {"rounds", required_argument, NULL, 'r'},
        {"ranks-per-node", required_argument, NULL, 'n'},
        {"dir", required_argument, NULL, 'd'}, {"json", no_argument, NULL, 'j'},
        {"storage", required_argument, NULL, 's'}, {"scale", no_argument, NULL, 'S'},
        {"steps", required_argument, NULL, 't'},
        {"persist-every", required_argument, NULL, 'k'},
        {"lose-nodes", required_argument, NULL, 'L'}, {"csv", no_argument, NULL, 'C'},
        {"out", required_argument, NULL, 'o'}, {"rs", required_argument, NULL, 'R'},
        {"shapes", no_argument, NULL, 'H'}, {"need-save", no_argument, NULL, 'N'},
        {NULL, 0, NULL, 0}};
    const char *tmp = getenv("TMPDIR");
    int c;
    b->bytes = 256u << 20;
    b->rounds = 3;
    b->rpn = 1;
    b->steps = 3;
    b->persist_every = 1;
    snprintf(b->dir, sizeof b->dir, "%s/ckpt-bench", tmp ? tmp : "/tmp");
    while ((c = getopt_long(argc, argv, "b:r:n:d:js:", opts, NULL)) != -1) {
        switch (c) {
        case 'b': b->bytes = (size_t)strtoull(optarg, NULL, 0); break;
        case 'r': b->rounds = atoi(optarg); break;
        case 'n': b->rpn = atoi(optarg); break;
        case 'd': snprintf(b->dir, sizeof b->dir, "%s", optarg); break;
        case 'j': b->json = 1; break;
        case 's': b->storage = optarg; break;
        case 'S': b->scale = 1; break;
        case 't': b->steps = atoi(optarg); break;
        case 'k': b->persist_every = atoi(optarg); break;
        case 'C': b->csv = 1; break;
        case 'H': b->shapes = 1; break;
        case 'N': b->need = 1; break;
        case 'o': b->out = optarg; break;
        case 'R':
            if (sscanf(optarg, "%d,%d", &b->rs_k, &b->rs_m) != 2 || b->rs_k < 1 ||
                b->rs_m < 1)
                return -1;
            break;
        case 'L':
            for (char *p = optarg; *p && b->nlost < 4096; p += *p == ',')
                b->lost[b->nlost++] = (int)strtol(p, &p, 10);
            break;
        default: return -1;
        }
    }
    return b->bytes >= 8 && b->rounds > 0 && b->rpn > 0 && b->steps > 0 &&
                   b->persist_every > 0 && (!b->scale || b->storage)
               ? 0 : -1;
}

/* A URL with credentials is refused before it reaches a config file. */
static int bad_url(const bench_t *b)
{
    ckpt_err_t e = {0};
    if (config_check_url(b->storage, "--storage", &e) == CKPT_OK)
        return 0;
    if (b->rank == 0)
        fprintf(stderr, "ckpt-bench: %s\n", e.msg);
    return 1;
}

int main(int argc, char **argv)
{
    bench_t b = {0};
    int rc = 0;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &b.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &b.size);
    if (parse(&b, argc, argv) != 0) {
        if (b.rank == 0)
            fprintf(stderr, "usage: ckpt-bench [-b BYTES] [-r ROUNDS] "
                            "[-n RANKS_PER_NODE] [-d DIR] [--rs K,M | --shapes | --need-save] [--storage URL "
                            "[--scale [--steps S] [--persist-every K] "
                            "[--lose-nodes N,N..] [--csv] [--out PREFIX]]] "
                            "[--json]\n");
        MPI_Finalize();
        return 2;
    }
    if (b.storage && bad_url(&b)) {
        MPI_Finalize();
        return 2;
    }
    if (b.rank == 0 && (mkdir(b.dir, 0700) != 0 && errno != EEXIST))
        fprintf(stderr, "ckpt-bench: cannot create %s\n", b.dir);
    b.buf = malloc(b.bytes);
    if (b.buf == NULL) {
        rc = 1;
    } else {
        bench_pattern(&b);
        rc = b.need ? need_bench(&b) : b.shapes ? shapes_bench(&b) : !b.storage ? cache_bench(&b)
             : b.scale ? scale_bench(&b) : storage_bench(&b);
    }
    free(b.buf);
    MPI_Finalize();
    return rc ? 1 : 0;
}
