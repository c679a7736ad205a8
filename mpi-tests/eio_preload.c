/* A failing disk for the read-error tests, preloaded into the ranks: reads
 * of the files whose path contains one of the comma-separated strings in
 * CKPT_TEST_EIO_PATHS fail with EIO at offsets from CKPT_TEST_EIO_FROM
 * (default 0), as a bad sector would. The bad sectors belong to the file
 * first met under that path (its inode): a file written there later, as a
 * restore replaces a bad copy, reads well. Only open() and pread() are
 * wrapped: they are how the library reads rank files. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_FD 4096

#define MAX_PATTERNS 8

static unsigned char failing[MAX_FD];
static ino_t bad_inode[MAX_PATTERNS]; /* 0: not met yet */

/* 1 if fd is the first file met under a failing path. */
static int is_bad(int fd, const char *path)
{
    const char *list = getenv("CKPT_TEST_EIO_PATHS");
    char buf[4096], *save = NULL;
    struct stat st;
    int k = 0;
    if (list == NULL || path == NULL || strlen(list) >= sizeof buf ||
        fstat(fd, &st) != 0)
        return 0;
    strcpy(buf, list);
    for (char *s = strtok_r(buf, ",", &save); s && k < MAX_PATTERNS;
         s = strtok_r(NULL, ",", &save), k++) {
        if (!strstr(path, s))
            continue;
        if (bad_inode[k] == 0)
            bad_inode[k] = st.st_ino;
        return bad_inode[k] == st.st_ino;
    }
    return 0;
}

static int track(int fd, const char *path)
{
    if (fd >= 0 && fd < MAX_FD)
        failing[fd] = (unsigned char)is_bad(fd, path);
    return fd;
}

#define WRAP_OPEN(name)                                                      \
    int name(const char *path, int flags, ...)                               \
    {                                                                        \
        static int (*real)(const char *, int, ...);                          \
        mode_t mode = 0;                                                     \
        if (flags & O_CREAT) {                                               \
            va_list ap;                                                      \
            va_start(ap, flags);                                             \
            mode = (mode_t)va_arg(ap, int);                                  \
            va_end(ap);                                                      \
        }                                                                    \
        if (real == NULL)                                                    \
            real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, #name); \
        return track(real(path, flags, mode), path);                         \
    }
WRAP_OPEN(open)
WRAP_OPEN(open64)

#define WRAP_PREAD(name)                                                     \
    ssize_t name(int fd, void *buf, size_t n, off_t off)                     \
    {                                                                        \
        static ssize_t (*real)(int, void *, size_t, off_t);                  \
        const char *from = getenv("CKPT_TEST_EIO_FROM");                     \
        if (real == NULL)                                                    \
            real = (ssize_t (*)(int, void *, size_t, off_t))dlsym(RTLD_NEXT, #name); \
        if (fd >= 0 && fd < MAX_FD && failing[fd] &&                         \
            (off_t)(off + (off_t)n) > (from ? atoll(from) : 0)) {            \
            errno = EIO;                                                     \
            return -1;                                                       \
        }                                                                    \
        return real(fd, buf, n, off);                                        \
    }
WRAP_PREAD(pread)
WRAP_PREAD(pread64)
