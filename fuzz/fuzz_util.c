#include "fuzz.h"
#include "textrec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

static char scratch[4096];

const char *fz_file(const uint8_t *data, size_t size)
{
    /* A plain file: HDF5 1.10 cannot open a memfd by its /proc path. */
    static char path[sizeof scratch + 16];
    int fd, ok;
    snprintf(path, sizeof path, "%s/input", fz_dir());
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return NULL;
    ok = size == 0 || write(fd, data, size) == (ssize_t)size;
    close(fd);
    return ok ? path : NULL;
}

static void remove_scratch(void)
{
    char cmd[sizeof scratch + 16];
    if (scratch[0] == '\0')
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", scratch);
}

const char *fz_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    if (scratch[0])
        return scratch;
    /* tmpfs where there is one: the harnesses fsync on every input. */
    if (access("/dev/shm", W_OK) == 0)
        tmp = "/dev/shm";
    else if (tmp == NULL || tmp[0] != '/')
        tmp = "/tmp";
    snprintf(scratch, sizeof scratch, "%s/ckpt-fuzz-XXXXXX", tmp);
    if (mkdtemp(scratch) == NULL)
        fz_fail("cannot make a scratch directory");
    atexit(remove_scratch);
    return scratch;
}

char *fz_text(const uint8_t *data, size_t size)
{
    char *t = malloc(size + 1);
    if (t == NULL)
        return NULL;
    if (size > 0)
        memcpy(t, data, size);
    t[size] = '\0';
    return t;
}

char *fz_reseal(const uint8_t *data, size_t size, size_t *len)
{
    char *t = malloc(size + 2), *last;
    size_t n = size;
    if (t == NULL)
        return NULL;
    if (size > 0)
        memcpy(t, data, size);
    t[size] = '\0';
    /* The last line starts after the last newline before the final byte. */
    last = n > 1 ? memrchr(t, '\n', n - 1) : NULL;
    last = last ? last + 1 : t;
    if (size - (size_t)(last - t) >= 9 && !memcmp(last, "checksum ", 9))
        n = (size_t)(last - t);
    /* The seal is a line of its own: a body cut mid-line gets its newline. */
    if (n > 0 && t[n - 1] != '\n')
        t[n++] = '\n';
    t[n] = '\0';
    *len = n;
    if (tr_seal(&t, len) != 0) {
        free(t);
        return NULL;
    }
    return t;
}

void fz_fail(const char *what)
{
    fprintf(stderr, "fuzz: broken promise: %s\n", what);
    abort();
}

void fz_sealed(const uint8_t *data, size_t size, void (*parse)(char *, size_t))
{
    size_t len;
    char *text = fz_text(data, size);
    if (text) {
        parse(text, size);
        free(text);
    }
    if ((text = fz_reseal(data, size, &len)) != NULL) {
        parse(text, len);
        free(text);
    }
}
