/* The file:// backend: objects are files under a root directory (a shared
 * or parallel file system). Writes go to a temporary name, are fsynced and
 * renamed, so an object is either whole or absent, as in Azure. */
#include "storage_impl.h"
#include "config.h"
#include "fileio.h"
#include "safedir.h"
#include "ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


typedef struct { char root[PATH_MAX / 2]; } st_file_t;

static const char *root_of(storage_t *st)
{
    return ((st_file_t *)st->impl)->root;
}

static int valid_name(const char *s)
{
    if (*s == '\0' || *s == '/' || strstr(s, "..") || strstr(s, "//") ||
        strstr(s, CKPT_TMP_MARK))
        return 0;
    for (; *s; s++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789._-/", *s))
            return 0;
    return 1;
}

static int path_of(storage_t *st, const char *name, char *buf, ckpt_err_t *e)
{
    if (!valid_name(name))
        return err_set(e, CKPT_ESTORAGE, "bad object name '%s'", name);
    if (snprintf(buf, PATH_MAX, "%s/%s", root_of(st), name) >= PATH_MAX)
        return err_set(e, CKPT_ESTORAGE, "object name too long: '%s'", name);
    return CKPT_OK;
}

/* Creates the temporary file for name, with the parent directories. */
static int create_tmp(storage_t *st, const char *name, char *path, char *tmp,
                      int *fd, ckpt_err_t *e)
{
    char dir[PATH_MAX];
    if (path_of(st, name, path, e) != CKPT_OK)
        return e->code;
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    if (fio_mkdirs(dir, e) != CKPT_OK)
        return e->code;
    snprintf(tmp, PATH_MAX, "%s" CKPT_TMP_MARK "%d", path, (int)getpid());
    if ((*fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
        return err_sys(e, errno, "create %s", tmp);
    return CKPT_OK;
}

/* Into place atomically; a failure is the storage's. */
static int finish_tmp(int fd, const char *tmp, const char *path, ckpt_err_t *e)
{
    if (fio_replace(fd, tmp, path, e) != CKPT_OK)
        e->code = CKPT_ESTORAGE;
    return e->code;
}

static int f_put(storage_t *st, const char *name, const void *buf, size_t len,
                 ckpt_err_t *e)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    int fd;
    if (create_tmp(st, name, path, tmp, &fd, e) != CKPT_OK)
        return e->code = CKPT_ESTORAGE;
    fio_pwrite(fd, buf, len, 0, tmp, e);
    st_count(st, OP_PUT, len);
    return finish_tmp(fd, tmp, path, e);
}

/* len bytes from in at ioff to out at ooff, in the kernel, in pieces
 * between which a save can hold the transfer. */
static int copy_range(storage_t *st, int in, uint64_t ioff, int out,
                      uint64_t ooff, uint64_t len, const char *what,
                      ckpt_err_t *e)
{
    while (len > 0) {
        loff_t a = (loff_t)ioff, b = (loff_t)ooff;
        ssize_t n;
        st_wait_hold(st);
        n = copy_file_range(in, &a, out, &b, len < (8u << 20) ? len : (8u << 20), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_sys(e, errno, "copy %s", what);
        if (n == 0)
            return err_set(e, CKPT_ESTORAGE, "%s is shorter than expected", what);
        ioff += (uint64_t)n;
        ooff += (uint64_t)n;
        len -= (uint64_t)n;
    }
    return CKPT_OK;
}

static int f_put_files(storage_t *st, const char *name, const st_source_t *src,
                       ckpt_err_t *e)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    uint64_t off = 0;
    int fd;
    if (create_tmp(st, name, path, tmp, &fd, e) != CKPT_OK)
        return e->code = CKPT_ESTORAGE;
    for (int i = 0; i < src->n && e->code == CKPT_OK; i++) {
        int in = open(src->path[i], O_RDONLY | O_CLOEXEC);
        if (in < 0) {
            err_sys(e, errno, "open %s", src->path[i]);
            break;
        }
        copy_range(st, in, 0, fd, off, src->size[i], src->path[i], e);
        close(in);
        off += src->size[i];
    }
    st_count(st, OP_PUT, off);
    return finish_tmp(fd, tmp, path, e);
}

static int open_object(storage_t *st, const char *name, int *fd, ckpt_err_t *e)
{
    char path[PATH_MAX];
    if (path_of(st, name, path, e) != CKPT_OK)
        return e->code;
    /* O_NONBLOCK: a FIFO planted in the directory must not hang the open. */
    if ((*fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) >= 0)
        return CKPT_OK;
    if (errno == ENOENT)
        return err_set(e, CKPT_ENOENT, "object '%s' does not exist", name);
    err_sys(e, errno, "open %s", path);
    return e->code = CKPT_ESTORAGE;
}

static int f_get(storage_t *st, const char *name, char **buf, size_t *len,
                 ckpt_err_t *e)
{
    struct stat sb;
    int fd;
    if (open_object(st, name, &fd, e) != CKPT_OK)
        return e->code;
    if (fstat(fd, &sb) != 0)
        err_sys(e, errno, "stat %s", name);
    else if (!S_ISREG(sb.st_mode) || sb.st_size > (off_t)ST_GET_MAX)
        err_set(e, CKPT_ESTORAGE, "object '%s' is not a regular file of at "
                "most " ST_GET_MAX_TEXT, name);
    else if ((*buf = malloc((size_t)sb.st_size + 1)) == NULL)
        err_set(e, CKPT_ENOMEM, "out of memory reading '%s'", name);
    else if (fio_pread(fd, *buf, (size_t)sb.st_size, 0, name, e) == CKPT_OK)
        (*buf)[*len = (size_t)sb.st_size] = '\0';
    close(fd);
    st_count(st, OP_GET, *len);
    return e->code;
}

static int f_get_range(storage_t *st, const char *name, uint64_t off,
                       uint64_t len, int fd, ckpt_err_t *e)
{
    int in;
    if (open_object(st, name, &in, e) != CKPT_OK)
        return e->code;
    copy_range(st, in, off, fd, 0, len, name, e);
    close(in);
    st_count(st, OP_GET, len);
    return e->code ? (e->code = CKPT_ESTORAGE) : CKPT_OK;
}

typedef struct walk {
    const char *prefix;
    char ***names;
    int *n, cap;
} walk_t;

/* Adds the objects under dir (name rel, "" at the root) that match. */
static int walk(walk_t *w, const char *dir, const char *rel)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int rc = 0;
    if (d == NULL)
        return errno == ENOENT && *rel ? 0 : -1;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        char path[PATH_MAX], name[PATH_MAX];
        size_t k;
        if (de->d_name[0] == '.' || strstr(de->d_name, CKPT_TMP_MARK))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        snprintf(name, sizeof name, "%s%s", rel, de->d_name);
        k = strlen(name) < strlen(w->prefix) ? strlen(name) : strlen(w->prefix);
        if (strncmp(name, w->prefix, k))
            continue; /* neither a match nor on the way to one */
        if (de->d_type == DT_DIR) {
            strcat(name, "/");
            rc = walk(w, path, name);
        } else if (strlen(name) >= strlen(w->prefix)) {
            rc = st_names_add(w->names, w->n, &w->cap, name);
        }
    }
    closedir(d);
    return rc;
}

static int f_list(storage_t *st, const char *prefix, char ***names, int *n,
                  ckpt_err_t *e)
{
    walk_t w = {.prefix = prefix, .names = names, .n = n};
    st_count(st, OP_LIST, 0);
    if (walk(&w, root_of(st), "") != 0)
        return err_set(e, CKPT_ESTORAGE, "cannot list storage directory %s: "
                       "%s (create it, or fix storage_url)", root_of(st),
                       strerror(errno));
    return CKPT_OK;
}

static int f_del(storage_t *st, const char *name, ckpt_err_t *e)
{
    char path[PATH_MAX];
    if (path_of(st, name, path, e) != CKPT_OK)
        return e->code;
    st_count(st, OP_DELETE, 0);
    if (unlink(path) != 0 && errno != ENOENT)
        return err_set(e, CKPT_ESTORAGE, "delete %s: %s", path, strerror(errno));
    /* The folders of the name go too once they are empty. */
    for (char *slash; (slash = strrchr(path, '/')) != NULL;) {
        *slash = '\0';
        if (strlen(path) <= strlen(root_of(st)) || rmdir(path) != 0)
            break;
    }
    return CKPT_OK;
}

static int f_create(storage_t *st, ckpt_err_t *e)
{
    return fio_mkdirs(root_of(st), e);
}

static void f_close(storage_t *st)
{
    free(st->impl);
}

static const st_backend_t file_backend = {
    f_put, f_put_files, f_get, f_get_range, f_list, f_del, f_create, f_close};

int st_file_open(storage_t *st, const char *root, ckpt_err_t *e)
{
    st_file_t *f;
    if (root[0] != '/' || strlen(root) >= sizeof f->root)
        return err_set(e, CKPT_ECONFIG, "storage_url: file:// needs an "
                       "absolute path, as in file:///shared/ckpt");
    if ((f = calloc(1, sizeof *f)) == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory opening storage");
    snprintf(f->root, sizeof f->root, "%s", root);
    while (strlen(f->root) > 1 && f->root[strlen(f->root) - 1] == '/')
        f->root[strlen(f->root) - 1] = '\0';
    /* The root must be the user's own: what is below it is then the
     * library's, made 0700, and no other user can plant or rename it. */
    if (safedir_check(f->root, "storage_url", 1, e) != CKPT_OK) {
        free(f);
        return e->code;
    }
    st->be = &file_backend;
    st->impl = f;
    return CKPT_OK;
}
