/* A node shared with other users: the cache and file:// storage are used
 * only where no other user can rename, replace or plant what the library
 * reads back; otherwise ckpt_init is CKPT_ECONFIG on every rank, naming the
 * directory and what is wrong with it. The tests run as root; another user
 * is nobody (65534), made with chown. */
#include "testlib.h"

#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define JOB "victim"
#define OTHER "65534"

static char msg[4096];
static char *saved_tmpdir;

/* A shell command run by rank 0 while the others wait: the attacker. */
static void fs(const char *fmt, ...)
{
    char cmd[4096];
    int rc = 0;
    va_list ap;
    MPI_Barrier(MPI_COMM_WORLD); /* every rank has looked at what was before */
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (tl_rank == 0 && (rc = tl_run(cmd)) != 0)
        fprintf(stderr, "setup failed (%d): %s\n", rc, cmd);
    CU_ASSERT_EQUAL(rc, 0);
    MPI_Barrier(MPI_COMM_WORLD);
}

/* dir/name.conf: job JOB on 2 ranks per node, and `text`. */
static const char *conf(const char *dir, const char *name, const char *fmt, ...)
{
    static char path[1024];
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    snprintf(path, sizeof path, "%s/%s.conf", dir, name);
    if (tl_rank == 0) {
        FILE *f = fopen(path, "w");
        fprintf(f, "job = " JOB "\nranks_per_node = 2\nverbose = 1\n%s\n", text);
        fclose(f);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    return path;
}

/* ckpt_init gives `want` on every rank; a refusal names `path` and says
 * `why` about it. */
static void expect(const char *config, int want, const char *path,
                   const char *why)
{
    char needle[2048];
    int rc = tl_init_logged(config, NULL, msg, sizeof msg);
    CU_ASSERT_EQUAL(rc, want);
    CU_ASSERT_TRUE(tl_same(rc));
    if (path) {
        snprintf(needle, sizeof needle, "%s %s", path, why);
        CU_ASSERT_PTR_NOT_NULL(strstr(msg, needle));
        if (tl_rank == 0 && strstr(msg, needle) == NULL)
            fprintf(stderr, "message lacks '%s'\n", needle);
    }
}

/* Step 1 of JOB holding `value` on every rank. */
static void save_value(const char *config, int value)
{
    ckpt_t *ck = NULL;
    int v = value;
    CU_ASSERT_EQUAL_FATAL(ckpt_init(MPI_COMM_WORLD, config, &ck), CKPT_OK);
    ckpt_protect(ck, "v", &v, 1, CKPT_INT32);
    CU_ASSERT_EQUAL(ckpt_save(ck, 1), CKPT_OK);
    CU_ASSERT_EQUAL(ckpt_finalize(&ck), CKPT_OK);
}

static void set_tmpdir(const char *dir)
{
    const char *old = getenv("TMPDIR");
    if (saved_tmpdir == NULL)
        saved_tmpdir = strdup(old ? old : "");
    setenv("TMPDIR", dir, 1);
}

static void restore_tmpdir(void)
{
    if (saved_tmpdir && *saved_tmpdir)
        setenv("TMPDIR", saved_tmpdir, 1);
    else
        unsetenv("TMPDIR");
    free(saved_tmpdir);
    saved_tmpdir = NULL;
}

static int mode_of(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode) && sb.st_uid == geteuid()
               ? (int)(sb.st_mode & 07777) : -1;
}

/* Without cache_dir: $TMPDIR/ckpt-<uid>, made 0700 down to the node. */
static void test_default_per_user(void)
{
    const char *d = tl_dir("default");
    char tmp[1024], path[2048];
    ckpt_t *ck = NULL;
    int v = 7;
    int64_t got = -1;
    snprintf(tmp, sizeof tmp, "%s/tmp", d);
    fs("mkdir -m 1777 '%s'", tmp);
    set_tmpdir(tmp);
    save_value(conf(d, "default", ""), 7);
    snprintf(path, sizeof path, "%s/ckpt-%u", tmp, (unsigned)geteuid());
    CU_ASSERT_EQUAL(mode_of(path), 0700);
    snprintf(path, sizeof path, "%s/ckpt-%u/" JOB, tmp, (unsigned)geteuid());
    CU_ASSERT_EQUAL(mode_of(path), 0700);
    snprintf(path, sizeof path, "%s/ckpt-%u/" JOB "/node-%d", tmp,
             (unsigned)geteuid(), tl_rank / 2);
    CU_ASSERT_EQUAL(mode_of(path), 0700);
    snprintf(path, sizeof path, "%s/ckpt", tmp);
    CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0);
    v = 0;
    CU_ASSERT_EQUAL_FATAL(ckpt_init(MPI_COMM_WORLD, conf(d, "default", ""), &ck),
                          CKPT_OK);
    ckpt_protect(ck, "v", &v, 1, CKPT_INT32);
    CU_ASSERT_EQUAL(ckpt_restore(ck, CKPT_LATEST, &got), CKPT_OK);
    CU_ASSERT_EQUAL(got, 1);
    CU_ASSERT_EQUAL(v, 7);
    ckpt_finalize(&ck);
    restore_tmpdir();
}

/* Another user plants $TMPDIR/ckpt-<uid> as a link to a directory of theirs. */
static void test_default_planted_link(void)
{
    const char *d = tl_dir("plantlink");
    char tmp[1024], link[1100], evil[1100];
    snprintf(tmp, sizeof tmp, "%s/tmp", d);
    snprintf(link, sizeof link, "%s/ckpt-%u", tmp, (unsigned)geteuid());
    snprintf(evil, sizeof evil, "%s/evil", d);
    fs("mkdir -m 1777 '%s' && mkdir -m 0777 '%s' && chown " OTHER " '%s' && "
       "ln -s '%s' '%s' && chown -h " OTHER " '%s'", tmp, evil, evil, evil,
       link, link);
    set_tmpdir(tmp);
    expect(conf(d, "plantlink", ""), CKPT_ECONFIG, link,
           "is a symbolic link owned by user " OTHER);
    restore_tmpdir();
    snprintf(evil, sizeof evil, "%s/evil/" JOB, d);
    CU_ASSERT_NOT_EQUAL(access(evil, F_OK), 0); /* nothing made in theirs */
}

/* The case, end to end: another user made the default cache root,
 * world-writable, and filled it with a checkpoint of the victim's job
 * holding their data. The victim is refused, never restores it. */
static void test_default_planted_data(void)
{
    const char *d = tl_dir("plantdata");
    char tmp[1024], root[1100];
    snprintf(tmp, sizeof tmp, "%s/tmp", d);
    snprintf(root, sizeof root, "%s/ckpt-%u", tmp, (unsigned)geteuid());
    save_value(conf(d, "attacker", "cache_dir = %s/evil", d), 666);
    fs("mkdir -m 1777 '%s' && mv '%s/evil' '%s' && chown -R " OTHER " '%s' && "
       "chmod 0777 '%s'", tmp, d, root, root, root);
    set_tmpdir(tmp);
    expect(conf(d, "victim", ""), CKPT_ECONFIG, root,
           "belongs to user " OTHER);
    restore_tmpdir();
}

/* The victim's own cache under a world-writable directory without the
 * sticky bit: another user renames the job away and plants theirs. */
static void test_renamed_and_planted(void)
{
    const char *d = tl_dir("renamed");
    char c[1024];
    snprintf(c, sizeof c, "%s/c", d);
    fs("mkdir -m 0755 '%s'", c);
    save_value(conf(d, "victim", "cache_dir = %s", c), 1);
    save_value(conf(d, "attacker", "cache_dir = %s/evil", d), 666);
    fs("chmod 0777 '%s' && mv '%s/" JOB "' '%s/moved' && mv '%s/evil/" JOB "' "
       "'%s/' && chown -R " OTHER " '%s/" JOB "'", c, c, c, d, c, c);
    expect(conf(d, "victim", "cache_dir = %s", c), CKPT_ECONFIG, c,
           "is writable by group or others and has no sticky bit");
    /* With the sticky bit the planted job directory is still not theirs. */
    fs("chmod 1777 '%s'", c);
    snprintf(c + strlen(c), sizeof c - strlen(c), "/" JOB);
    expect(conf(d, "victim", "cache_dir = %s/c", d), CKPT_ECONFIG, c,
           "belongs to user " OTHER ", not to you");
}

static void test_writable_parent(void)
{
    const char *d = tl_dir("writable");
    char open[1024], below[1100];
    snprintf(open, sizeof open, "%s/open", d);
    snprintf(below, sizeof below, "%s/cache", open);
    fs("mkdir -m 0777 '%s'", open);
    expect(conf(d, "ww", "cache_dir = %s", below), CKPT_ECONFIG, open,
           "is writable by group or others and has no sticky bit");
    CU_ASSERT_NOT_EQUAL(access(below, F_OK), 0); /* nothing made below it */
    fs("chmod 0775 '%s'", open);
    expect(conf(d, "ww", "cache_dir = %s", below), CKPT_ECONFIG, open,
           "is writable by group or others and has no sticky bit");
    /* as /tmp or a node-local SSD mount */
    fs("chmod 1777 '%s'", open);
    expect(conf(d, "ww", "cache_dir = %s", below), CKPT_OK, NULL, NULL);
    CU_ASSERT_EQUAL(mode_of(below), 0700);
    /* the cache directory itself may be such a mount */
    fs("chmod 1777 '%s'", below);
    expect(conf(d, "ww", "cache_dir = %s", below), CKPT_OK, NULL, NULL);
}

static void test_other_owner(void)
{
    const char *d = tl_dir("owner");
    char theirs[1024];
    snprintf(theirs, sizeof theirs, "%s/theirs", d);
    fs("mkdir -m 0755 '%s' && chown " OTHER " '%s'", theirs, theirs);
    expect(conf(d, "owner", "cache_dir = %s/cache", theirs), CKPT_ECONFIG,
           theirs, "belongs to user " OTHER);
}

static void test_links(void)
{
    const char *d = tl_dir("links");
    char path[1100];
    /* the user's own link is followed */
    fs("cd '%s' && mkdir real && ln -s real link", d);
    expect(conf(d, "own", "cache_dir = %s/link/cache", d), CKPT_OK, NULL, NULL);
    snprintf(path, sizeof path, "%s/real/cache/" JOB, d);
    CU_ASSERT_EQUAL(mode_of(path), 0700);
    /* and its target checked like any path */
    fs("cd '%s' && mkdir -m 0777 bad && ln -s '%s/bad' link2", d, d);
    snprintf(path, sizeof path, "%s/bad", d);
    expect(conf(d, "target", "cache_dir = %s/link2/cache", d), CKPT_ECONFIG,
           path, "is writable by group or others and has no sticky bit");
    /* another user's link in a sticky directory is not followed */
    fs("cd '%s' && mkdir -m 1777 st && mkdir real2 && ln -s ../real2 st/cache "
       "&& chown -h " OTHER " st/cache", d);
    snprintf(path, sizeof path, "%s/st/cache", d);
    expect(conf(d, "theirs", "cache_dir = %s", path), CKPT_ECONFIG, path,
           "is a symbolic link owned by user " OTHER);
}

static void test_own_levels(void)
{
    const char *d = tl_dir("levels");
    char path[1100];
    /* <job> a link, even the user's own */
    fs("cd '%s' && mkdir -p cache elsewhere && ln -s ../elsewhere cache/" JOB, d);
    snprintf(path, sizeof path, "%s/cache/" JOB, d);
    expect(conf(d, "link", "cache_dir = %s/cache", d), CKPT_ECONFIG, path,
           "is a symbolic link: the library's own directories must be real");
    /* node-1 group-writable: found by the ranks of node 1, reported by all */
    fs("rm '%s'", path);
    expect(conf(d, "node", "cache_dir = %s/cache", d), CKPT_OK, NULL, NULL);
    snprintf(path, sizeof path, "%s/cache/" JOB "/node-1", d);
    fs("chmod 0770 '%s'", path);
    expect(conf(d, "node", "cache_dir = %s/cache", d), CKPT_ECONFIG, path,
           "is writable by group or others: only you may write to it");
    fs("chmod 0700 '%s' && chown " OTHER " '%s'", path, path);
    expect(conf(d, "node", "cache_dir = %s/cache", d), CKPT_ECONFIG, path,
           "belongs to user " OTHER ", not to you");
    fs("chown 0 '%s'", path);
    expect(conf(d, "node", "cache_dir = %s/cache", d), CKPT_OK, NULL, NULL);
}

/* storage_url = file://<root>: the root must be the user's own. */
static void test_storage_root(void)
{
    const char *d = tl_dir("fileroot");
    char path[1100];
#define STORE(root) conf(d, "store", "cache_dir = %s/cache\nstorage_url = " \
                         "file://%s/%s", d, d, root)
    fs("cd '%s' && mkdir store", d);
    expect(STORE("store"), CKPT_OK, NULL, NULL);
    fs("cd '%s' && mkdir -m 0777 open && mkdir open/store", d);
    snprintf(path, sizeof path, "%s/open", d);
    expect(STORE("open/store"), CKPT_ECONFIG, path,
           "is writable by group or others and has no sticky bit");
    fs("cd '%s' && mkdir theirs && chown " OTHER " theirs", d);
    snprintf(path, sizeof path, "%s/theirs", d);
    expect(STORE("theirs"), CKPT_ECONFIG, path, "belongs to user " OTHER);
    /* shared by all, even with the sticky bit: anyone could make <job>/ */
    fs("cd '%s' && mkdir -m 1777 shared", d);
    snprintf(path, sizeof path, "%s/shared", d);
    expect(STORE("shared"), CKPT_ECONFIG, path,
           "is writable by group or others: it must be a directory only you");
    fs("cd '%s' && mkdir -m 1777 st && mkdir target && ln -s ../target st/store "
       "&& chown -h " OTHER " st/store", d);
    snprintf(path, sizeof path, "%s/st/store", d);
    expect(STORE("st/store"), CKPT_ECONFIG, path,
           "is a symbolic link owned by user " OTHER);
    snprintf(path, sizeof path, "%s/missing: No such file or directory", d);
    expect(STORE("missing"), CKPT_ECONFIG, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, path));
#undef STORE
}

int main(int argc, char **argv)
{
    static const tl_test_t tests[] = {
        {"default cache root is per user, made 0700", test_default_per_user},
        {"planted link as default cache root", test_default_planted_link},
        {"planted default cache root with data", test_default_planted_data},
        {"job renamed and planted in a writable cache root",
         test_renamed_and_planted},
        {"cache below a writable directory", test_writable_parent},
        {"cache below another user's directory", test_other_owner},
        {"links on the way to the cache", test_links},
        {"the library's own levels", test_own_levels},
        {"file:// storage root", test_storage_root},
        {NULL, NULL}};
    return tl_main(argc, argv, "shared", tests);
}
