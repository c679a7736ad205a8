#include "testlib.h"

#include <CUnit/Basic.h>
#include <fcntl.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int tl_rank, tl_size;
static char root[512];

int tl_all(int v)
{
    int r;
    MPI_Allreduce(&v, &r, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    return r;
}

int tl_same(int code)
{
    int lo, hi;
    MPI_Allreduce(&code, &lo, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&code, &hi, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return lo == hi;
}

int tl_restore_latest(ckpt_t *ck, int64_t want)
{
    int64_t got = -1;
    int rc = ckpt_restore(ck, CKPT_LATEST, &got);
    if (tl_same(rc) && rc == CKPT_OK && tl_all(got == want))
        return 1;
    if (tl_rank == 0)
        fprintf(stderr, "restore: %s, step %lld (wanted %lld): %s\n",
                ckpt_strerror(rc), (long long)got, (long long)want,
                ckpt_errmsg(ck));
    return 0;
}

int tl_run(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

const char *tl_dir(const char *name)
{
    static char dir[700];
    char cmd[1600];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    if (tl_rank == 0) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
        tl_run(cmd);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    return dir;
}

const char *tl_dir_of(const char *name)
{
    static char dir[700];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    return dir;
}

const char *tl_config(const char *name, const char *text)
{
    static char path[800];
    const char *dir = tl_dir(name);
    snprintf(path, sizeof path, "%s/ckpt.conf", dir);
    if (tl_rank == 0) {
        FILE *f = fopen(path, "w");
        fprintf(f, "cache_dir = %s/cache\njob = %s\nverbose = 0\n%s\n", dir,
                name, text);
        fclose(f);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    return path;
}

ckpt_t *tl_open(const char *name, int rpn, const char *extra)
{
    ckpt_t *ck = NULL;
    char text[256];
    snprintf(text, sizeof text, "ranks_per_node = %d\n%s", rpn, extra);
    CU_ASSERT_EQUAL_FATAL(ckpt_init(MPI_COMM_WORLD, tl_config(name, text), &ck),
                          CKPT_OK);
    return ck;
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

void tl_fill(void *buf, size_t bytes, int64_t step, int rank, int region)
{
    unsigned char *p = buf;
    uint64_t seed = mix((uint64_t)step * 1000003u + (uint64_t)rank * 7919u +
                        (uint64_t)region);
    for (size_t i = 0; i < bytes; i += 8) {
        uint64_t v = mix(seed + i);
        memcpy(p + i, &v, bytes - i < 8 ? bytes - i : 8);
    }
}

int tl_check(const void *buf, size_t bytes, int64_t step, int rank, int region)
{
    const unsigned char *p = buf;
    uint64_t seed = mix((uint64_t)step * 1000003u + (uint64_t)rank * 7919u +
                        (uint64_t)region);
    for (size_t i = 0; i < bytes; i += 8) {
        uint64_t v = mix(seed + i);
        if (memcmp(p + i, &v, bytes - i < 8 ? bytes - i : 8) != 0)
            return 0;
    }
    return 1;
}

void tl_rank_file(char *buf, size_t n, const char *dir, int node, int64_t step,
                  int rank)
{
    snprintf(buf, n, "%s/cache/%s/node-%d/step-%lld/rank-%d.h5", dir,
             strrchr(dir, '/') + 1, node, (long long)step, rank);
}

void tl_on_rank0(const char *dir, const char *fmt, int node)
{
    char cmd[2048], path[1024];
    if (tl_rank == 0) {
        snprintf(path, sizeof path, "%s/cache/%s", dir, strrchr(dir, '/') + 1);
        snprintf(cmd, sizeof cmd, fmt, path, node);
        CU_ASSERT_EQUAL(tl_run(cmd), 0);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

void tl_flip_byte(const char *path, long off)
{
    int fd = open(path, O_RDWR);
    struct stat st;
    unsigned char c;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "tl_flip_byte: cannot open %s\n", path);
        if (fd >= 0)
            close(fd);
        return;
    }
    if (off < 0)
        off += st.st_size;
    if (pread(fd, &c, 1, off) == 1) {
        c ^= 0x5a;
        if (pwrite(fd, &c, 1, off) != 1)
            fprintf(stderr, "tl_flip_byte: write failed\n");
    }
    close(fd);
}

void tl_truncate(const char *path, long len)
{
    if (truncate(path, len) != 0)
        fprintf(stderr, "tl_truncate: %s failed\n", path);
}

int tl_init_logged(const char *config, ckpt_t **out, char *msg, size_t n)
{
    ckpt_t *ck = NULL;
    FILE *log = tmpfile();
    int rc, saved;
    size_t got = 0;
    fflush(stderr);
    saved = dup(2);
    if (log)
        dup2(fileno(log), 2);
    rc = ckpt_init(MPI_COMM_WORLD, config, &ck);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    if (log) {
        rewind(log);
        got = fread(msg, 1, n - 1, log);
        fclose(log);
    }
    msg[got] = '\0';
    fputs(msg, stderr);
    MPI_Bcast(msg, (int)n, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (out)
        *out = ck;
    else if (ck)
        ckpt_finalize(&ck);
    return rc;
}

int tl_main(int argc, char **argv, const char *suite, const tl_test_t *tests)
{
    unsigned fails = 0, total_fails = 0, run = 0;
    const char *base = getenv("TMPDIR");
    CU_pSuite s;
    (void)argc;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &tl_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &tl_size);
    snprintf(root, sizeof root, "%s/ckpt-tests/%s-np%d", base ? base : "/tmp",
             strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0],
             tl_size);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    s = CU_add_suite(suite, NULL, NULL);
    for (const tl_test_t *t = tests; t->name; t++)
        CU_add_test(s, t->name, t->fn);
    /* Rank 0 reports; the other ranks run the same tests quietly. */
    CU_basic_set_mode(CU_BRM_VERBOSE);
    if (tl_rank == 0)
        CU_basic_run_tests();
    else
        CU_run_all_tests();
    fails = CU_get_number_of_failures();
    run = CU_get_number_of_tests_run();
    if (fails && tl_rank != 0)
        CU_basic_show_failures(CU_get_failure_list());
    MPI_Allreduce(&fails, &total_fails, 1, MPI_UNSIGNED, MPI_SUM, MPI_COMM_WORLD);
    if (tl_rank == 0)
        printf("%s (np %d): %u tests, %u failed assertions on all ranks\n",
               suite, tl_size, run, total_fails);
    CU_cleanup_registry();
    MPI_Finalize();
    return total_fails ? 1 : 0;
}
