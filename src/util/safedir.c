#include "safedir.h"
#include "fileio.h"
#include "ckpt.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LINKS 40 /* as the kernel's ELOOP limit */
#define OTHERS_WRITE (S_IWGRP | S_IWOTH)

typedef struct {
    const char *what;  /* the setting, for messages */
    uid_t uid;
    int own_last;
    int missing_ok, missing; /* a missing component ends the walk */
    int links;
    ckpt_err_t *e;
} walk_t;

static int refuse(const char *what, const char *path, const char *why,
                  ckpt_err_t *e)
{
    return err_set(e, CKPT_ECONFIG, "%s: %s %s", what, path, why);
}

static int refuse_owner(const char *what, const char *path, uid_t owner,
                        int link, ckpt_err_t *e)
{
    char why[200];
    snprintf(why, sizeof why, "%s user %u, not %s you (%u) or root: that user "
             "could replace what the library keeps below it",
             link ? "is a symbolic link owned by" : "belongs to",
             (unsigned)owner, link ? "by" : "to", (unsigned)geteuid());
    return refuse(what, path, why, e);
}

/* One directory on the way down; `strict` for one that nobody else may
 * write to even with the sticky bit. */
static int check_dir(walk_t *w, const char *path, const struct stat *sb,
                     int strict)
{
    if (!S_ISDIR(sb->st_mode))
        return refuse(w->what, path, "is not a directory", w->e);
    if (sb->st_uid != w->uid && sb->st_uid != 0)
        return refuse_owner(w->what, path, sb->st_uid, 0, w->e);
    if (!(sb->st_mode & OTHERS_WRITE))
        return CKPT_OK;
    if (strict)
        return refuse(w->what, path, "is writable by group or others: it must "
                      "be a directory only you can write to (chmod go-w)", w->e);
    if (!(sb->st_mode & S_ISVTX))
        return refuse(w->what, path, "is writable by group or others and has "
                      "no sticky bit: they could rename or replace what the "
                      "library keeps below it (chmod go-w, or +t)", w->e);
    return CKPT_OK;
}

static int check_at(walk_t *w, const char *path, int strict)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return err_set(w->e, CKPT_ECONFIG, "%s: cannot use %s: %s", w->what,
                       path, strerror(errno));
    return check_dir(w, path, &sb, strict);
}

/* Past separators and "." components. */
static const char *skip(const char *s)
{
    while (*s == '/' || (s[0] == '.' && (s[1] == '/' || s[1] == '\0')))
        s++;
    return s;
}

/* A symbolic link at `path`: checked, and its target put in front of the
 * components still to walk (todo, at *rest). */
static int follow(walk_t *w, const char *path, const struct stat *sb,
                  char *todo, size_t cap, const char **rest, char *done)
{
    char target[PATH_MAX], joined[2 * PATH_MAX];
    ssize_t n;
    if (sb->st_uid != w->uid && sb->st_uid != 0)
        return refuse_owner(w->what, path, sb->st_uid, 1, w->e);
    if (++w->links > MAX_LINKS)
        return refuse(w->what, path, "has too many levels of symbolic links",
                      w->e);
    if ((n = readlink(path, target, sizeof target - 1)) < 0)
        return err_set(w->e, CKPT_ECONFIG, "%s: cannot read the link %s: %s",
                       w->what, path, strerror(errno));
    target[n] = '\0';
    if ((size_t)snprintf(joined, sizeof joined, "%s/%s", target, *rest) >= cap)
        return refuse(w->what, path, "leads to a path too long", w->e);
    memcpy(todo, joined, strlen(joined) + 1);
    *rest = todo;
    if (target[0] == '/')
        done[0] = '\0';
    return CKPT_OK;
}

/* Walks path from "/", resolving links as it goes, so that `done` is always
 * a checked path without links and ".." can be taken lexically. */
static int walk(walk_t *w, const char *path)
{
    char done[PATH_MAX] = "", cand[PATH_MAX], todo[2 * PATH_MAX];
    const char *p;
    struct stat sb;
    if ((size_t)snprintf(todo, sizeof todo, "%s", path) >= sizeof todo)
        return refuse(w->what, "the path", "is too long", w->e);
    if (check_at(w, "/", 0) != CKPT_OK)
        return w->e->code;
    for (p = skip(todo); *p; p = skip(p)) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            char *slash = strrchr(done, '/');
            if (slash)
                *slash = '\0';
            p += n;
            continue;
        }
        if ((size_t)snprintf(cand, sizeof cand, "%s/%.*s", done, (int)n, p) >=
            sizeof cand)
            return refuse(w->what, path, "is too long", w->e);
        p += n;
        if (lstat(cand, &sb) != 0) {
            if (errno == ENOENT && w->missing_ok)
                return w->missing = 1, CKPT_OK;
            return err_set(w->e, CKPT_ECONFIG, "%s: cannot use %s: %s",
                           w->what, cand, strerror(errno));
        }
        if (S_ISLNK(sb.st_mode)) {
            if (follow(w, cand, &sb, todo, sizeof todo, &p, done) != CKPT_OK)
                return w->e->code;
            continue;
        }
        if (check_dir(w, cand, &sb, 0) != CKPT_OK)
            return w->e->code;
        memcpy(done, cand, strlen(cand) + 1);
    }
    return w->own_last ? check_at(w, done[0] ? done : "/", 1) : CKPT_OK;
}

int safedir_check(const char *path, const char *what, int own_last,
                  ckpt_err_t *e)
{
    walk_t w = {.what = what, .uid = geteuid(), .own_last = own_last, .e = e};
    return walk(&w, path);
}

/* A level the library makes for itself: created 0700 if missing, then
 * checked, so that a directory planted in between is caught. */
static int own_dir(const char *path, ckpt_err_t *e)
{
    struct stat sb;
    char why[128];
    if (lstat(path, &sb) != 0 && errno == ENOENT &&
        mkdir(path, 0700) != 0 && errno != EEXIST)
        return err_sys(e, errno, "cache_dir: create directory %s", path);
    if (lstat(path, &sb) != 0)
        return err_sys(e, errno, "cache_dir: stat %s", path);
    if (S_ISLNK(sb.st_mode))
        return refuse("cache_dir", path, "is a symbolic link: the library's "
                      "own directories must be real ones", e);
    if (!S_ISDIR(sb.st_mode))
        return refuse("cache_dir", path, "is not a directory", e);
    snprintf(why, sizeof why, "belongs to user %u, not to you (%u)",
             (unsigned)sb.st_uid, (unsigned)geteuid());
    if (sb.st_uid != geteuid())
        return refuse("cache_dir", path, why, e);
    if (sb.st_mode & OTHERS_WRITE)
        return refuse("cache_dir", path, "is writable by group or others: "
                      "only you may write to it (chmod go-w)", e);
    return CKPT_OK;
}

int safedir_cache(const char *cache_dir, const char *job, int node,
                  ckpt_err_t *e)
{
    char path[PATH_MAX];
    walk_t w = {.what = "cache_dir", .uid = geteuid(), .missing_ok = 1, .e = e};
    /* Nothing is created below a directory that fails the check. */
    if (walk(&w, cache_dir) != CKPT_OK)
        return e->code;
    if (w.missing) {
        w = (walk_t){.what = "cache_dir", .uid = geteuid(), .e = e};
        if (fio_mkdirs(cache_dir, e) != CKPT_OK || walk(&w, cache_dir) != CKPT_OK)
            return e->code;
    }
    if ((size_t)snprintf(path, sizeof path, "%s/%s", cache_dir, job) >=
        sizeof path)
        return refuse("cache_dir", cache_dir, "is too long", e);
    if (own_dir(path, e) != CKPT_OK)
        return e->code;
    if ((size_t)snprintf(path, sizeof path, "%s/%s/node-%d", cache_dir, job,
                         node) >= sizeof path)
        return refuse("cache_dir", cache_dir, "is too long", e);
    return own_dir(path, e);
}
