#include "fileio.h"
#include "ckpt.h"
#include "xxh.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Pieces of a hashed read: large enough for few system calls, small enough
 * to stay in the CPU's cache between the read and the hash. */
#define WINDOW (1u << 20)

int fio_pwrite(int fd, const void *buf, size_t len, uint64_t off,
               const char *path, ckpt_err_t *e)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return err_sys(e, n < 0 ? errno : ENOSPC, "write %s", path);
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return CKPT_OK;
}

int fio_pread(int fd, void *buf, size_t len, uint64_t off, const char *path,
              ckpt_err_t *e)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_sys(e, errno, "read %s", path);
        if (n == 0)
            return err_set(e, CKPT_ECORRUPT, "%s is shorter than expected", path);
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return CKPT_OK;
}

int fio_open_rewrite(const char *path)
{
    /* O_NONBLOCK: a FIFO planted at path must not block the open. */
    int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                  0600), other;
    struct stat st;
    /* Whatever sits at path (a spare, or something planted there) is only
     * written through if it is a regular file of its own: never through a
     * link into another file. Anything else is replaced by a new file. */
    other = fd < 0 ? errno == ELOOP || errno == ENXIO
                   : fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1;
    if (other) {
        if (fd >= 0)
            close(fd);
        unlink(path);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    }
    if (fd >= 0 && fchmod(fd, 0600) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

int fio_open_read(const char *path)
{
    struct stat st;
    /* never through a link planted at the last component */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    return fd;
}

int fio_digest_path(const char *path, uint64_t size, uint64_t *digest,
                    ckpt_err_t *e)
{
    int fd = fio_open_read(path);
    if (fd < 0)
        return err_sys(e, errno, "open %s", path);
    fio_digest(fd, size, digest, path, e);
    close(fd);
    return e->code;
}

static int fsync_path(const char *path, int flags, const char *what,
                      ckpt_err_t *e)
{
    int rc = CKPT_OK, fd = open(path, O_RDONLY | O_CLOEXEC | flags);
    if (fd < 0)
        return err_sys(e, errno, "open %s%s", what, path);
    if (fsync(fd) != 0)
        rc = err_sys(e, errno, "fsync %s%s", what, path);
    close(fd);
    return rc;
}

int fio_fsync_dir(const char *dir, ckpt_err_t *e)
{
    return fsync_path(dir, O_DIRECTORY, "directory ", e);
}

int fio_fsync_path(const char *path, ckpt_err_t *e)
{
    return fsync_path(path, O_NOFOLLOW, "", e);
}

int fio_replace(int fd, const char *tmp, const char *path, ckpt_err_t *e)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (e->code == CKPT_OK && fsync(fd) != 0)
        err_sys(e, errno, "fsync %s", tmp);
    close(fd);
    if (e->code == CKPT_OK && rename(tmp, path) != 0)
        err_sys(e, errno, "rename %s", tmp);
    if (e->code != CKPT_OK) {
        unlink(tmp);
        return e->code;
    }
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    return fio_fsync_dir(dir, e);
}

int fio_write_replace(const char *path, const char *tmp, const void *buf,
                      size_t len, ckpt_err_t *e)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_sys(e, errno, "create %s", tmp);
    fio_pwrite(fd, buf, len, 0, tmp, e);
    return fio_replace(fd, tmp, path, e);
}

int fio_mkdirs(const char *path, ckpt_err_t *e)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof buf)
        return err_set(e, CKPT_EINVAL, "path too long: %s", path);
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST)
                return err_sys(e, errno, "create directory %s", buf);
            *p = c;
            if (c == '\0')
                break;
        }
    }
    return CKPT_OK;
}

int fio_rmtree(const char *path)
{
    char sub[PATH_MAX + NAME_MAX + 2];
    struct dirent *d;
    int rc = 0;
    DIR *dir = opendir(path);
    if (dir == NULL)
        return errno == ENOENT ? 0 : (unlink(path) == 0 ? 0 : -1);
    while ((d = readdir(dir)) != NULL) {
        if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
            continue;
        snprintf(sub, sizeof sub, "%s/%s", path, d->d_name);
        if (d->d_type == DT_DIR ? fio_rmtree(sub) : unlink(sub))
            rc = -1;
    }
    closedir(dir);
    if (rmdir(path) != 0 && errno != ENOENT)
        rc = -1;
    return rc;
}

int fio_file_size(const char *path, uint64_t *size)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return -1;
    *size = (uint64_t)st.st_size;
    return 0;
}

int fio_hash_range(int fd, uint64_t off, uint64_t len, uint64_t *digest,
                   const char *path, ckpt_err_t *e)
{
    /* Read, not mapped: a file that shrinks or fails under a mapping raises
     * SIGBUS, which a library cannot catch; a read just fails. */
    char *buf = malloc(WINDOW);
    XXH3_state_t *h = XXH3_createState();
    if (buf == NULL || h == NULL) {
        err_set(e, CKPT_ENOMEM, "out of memory hashing %s", path);
        goto out;
    }
    XXH3_64bits_reset(h);
    while (len > 0) {
        size_t n = len < WINDOW ? (size_t)len : WINDOW;
        if (fio_pread(fd, buf, n, off, path, e) != CKPT_OK)
            goto out;
        XXH3_64bits_update(h, buf, n);
        off += n;
        len -= n;
    }
    *digest = XXH3_64bits_digest(h);
out:
    XXH3_freeState(h);
    free(buf);
    return e->code;
}

int fio_digest(int fd, uint64_t size, uint64_t *digest, const char *path,
               ckpt_err_t *e)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return err_sys(e, errno, "stat %s", path);
    if ((uint64_t)st.st_size != size)
        return err_set(e, CKPT_ECORRUPT, "%s has %lld bytes, expected %llu",
                       path, (long long)st.st_size, (unsigned long long)size);
    return fio_hash_range(fd, 0, size, digest, path, e);
}
