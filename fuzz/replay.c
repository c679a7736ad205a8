/* main() for the fuzz harnesses in a build without libFuzzer: feeds every
 * file named (or found in a directory named) to LLVMFuzzerTestOneInput
 * once, as `fuzz_<parser> FILE...` does in a libFuzzer build, so regression
 * inputs run in every build, under the sanitizers too. Like libFuzzer it
 * fails an input that runs longer than -timeout=S seconds or grows the
 * process beyond -rss_limit_mb=M; other flags are ignored. */
#include "fuzz.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *current = "";
static long rss_limit_mb;

/* From a signal handler or the watchdog: no stdio, no malloc. */
static void die(const char *what)
{
    const char *parts[] = {"replay: ", what, " on ", current, "\n"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (write(2, parts[i], strlen(parts[i])) < 0)
            break;
    _exit(70);
}

static void on_alarm(int sig)
{
    (void)sig;
    die("timeout");
}

static long rss_mb(void)
{
    char buf[128] = {0};
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return 0;
    if (fgets(buf, sizeof buf, f) == NULL ||
        sscanf(buf, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024) / 1024;
}

/* Polls like libFuzzer's RSS thread: an input that eats memory without
 * bound is stopped while the machine still has some. */
static void *watchdog(void *arg)
{
    (void)arg;
    for (;;) {
        if (rss_mb() > rss_limit_mb)
            die("out of memory (rss over -rss_limit_mb)");
        usleep(50 * 1000);
    }
    return NULL;
}

static int replay_file(const char *path, unsigned timeout)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    uint8_t *buf = NULL;
    int rc = -1;
    if (f == NULL || fstat(fileno(f), &st) != 0)
        goto out;
    /* Exactly the input's size, as libFuzzer gives it: an over-read by the
     * parser lands outside the allocation, where AddressSanitizer sees it. */
    buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
    if (buf == NULL ||
        fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
        goto out;
    current = path;
    alarm(timeout);
    LLVMFuzzerTestOneInput(buf, (size_t)st.st_size);
    alarm(0);
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "replay: cannot read %s\n", path);
    free(buf);
    if (f)
        fclose(f);
    return rc;
}

static int replay(const char *path, unsigned timeout, int *count)
{
    struct stat st;
    struct dirent *d;
    DIR *dir;
    int rc = 0;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s is missing\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        (*count)++;
        return replay_file(path, timeout);
    }
    if ((dir = opendir(path)) == NULL)
        return -1;
    while (rc == 0 && (d = readdir(dir)) != NULL) {
        char sub[4096];
        if (d->d_name[0] == '.')
            continue;
        snprintf(sub, sizeof sub, "%s/%s", path, d->d_name);
        rc = replay(sub, timeout, count);
    }
    closedir(dir);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned timeout = 0;
    int count = 0;
    pthread_t t;
    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "-timeout=", 9))
            timeout = (unsigned)atoi(argv[i] + 9);
        else if (!strncmp(argv[i], "-rss_limit_mb=", 14))
            rss_limit_mb = atol(argv[i] + 14);
    }
    signal(SIGALRM, on_alarm);
    if (rss_limit_mb > 0 && pthread_create(&t, NULL, watchdog, NULL) != 0)
        return 1;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') /* libFuzzer's flags */
            continue;
        if (replay(argv[i], timeout, &count) != 0)
            return 1;
    }
    printf("replay: %d inputs ran\n", count);
    return 0;
}
