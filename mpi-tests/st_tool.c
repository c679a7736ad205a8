/* A test helper around the storage module: create a container, list, put,
 * get and delete objects, and make an account SAS token for Azurite. It is
 * how the tests inspect storage with the library's own client. Credentials
 * come from AZURE_STORAGE_ACCOUNT/_KEY or AZURE_STORAGE_SAS_TOKEN, the
 * storage timeout (default 30 s) from CKPT_STORAGE_TIMEOUT. */
#include "azure_sign.h"
#include "fileio.h"
#include "storage.h"
#include "ckpt.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int usage(void)
{
    fprintf(stderr, "usage: st_tool URL create|list [PREFIX]|put NAME FILE|"
            "get NAME FILE|del NAME\n       st_tool sas ACCOUNT KEY\n");
    return 2;
}

/* An account SAS (version 2019-12-12) for blobs, all permissions. */
static int make_sas(const char *account, const char *key)
{
    unsigned char k[128];
    char sts[512], sig[64], *esc = NULL;
    int klen = az_unbase64(key, k, sizeof k);
    if (klen <= 0)
        return usage();
    snprintf(sts, sizeof sts, "%s\nrwdlac\nb\nsco\n\n2035-01-01T00:00:00Z\n\n"
             "https,http\n2019-12-12\n", account);
    if (az_hmac(k, (size_t)klen, sts, sig) != 0)
        return 1;
    printf("sv=2019-12-12&ss=b&srt=sco&sp=rwdlac&se=2035-01-01T00:00:00Z&"
           "spr=https,http&sig=");
    for (esc = sig; *esc; esc++)
        printf(strchr("+/=", *esc) ? "%%%02X" : "%c", *esc);
    printf("\n");
    return 0;
}

static int file_cmd(storage_t *st, const char *cmd, const char *name,
                    const char *path, ckpt_err_t *e)
{
    uint64_t size = 0;
    int fd;
    if (!strcmp(cmd, "put")) {
        char paths[1][4096];
        st_source_t src = {.n = 1, .path = paths, .size = &size};
        snprintf(paths[0], sizeof paths[0], "%s", path);
        if (fio_file_size(path, &size) != 0)
            return err_set(e, CKPT_EIO, "cannot read %s", path);
        return storage_put_files(st, name, &src, e);
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return err_set(e, CKPT_EIO, "cannot create %s", path);
    {
        char *buf;
        size_t len;
        if (storage_get(st, name, &buf, &len, e) == CKPT_OK) {
            fio_pwrite(fd, buf, len, 0, path, e);
            free(buf);
        }
    }
    close(fd);
    return e->code;
}

int main(int argc, char **argv)
{
    ckpt_err_t e = {0};
    storage_t *st = NULL;
    st_params_t p = {.block_size = 4 << 20, .concurrency = 4, .timeout = 30};
    if (argc == 4 && !strcmp(argv[1], "sas"))
        return make_sas(argv[2], argv[3]);
    if (argc < 3)
        return usage();
    p.url = argv[1];
    p.account = getenv("AZURE_STORAGE_ACCOUNT");
    p.key = getenv("AZURE_STORAGE_KEY");
    p.sas = getenv("AZURE_STORAGE_SAS_TOKEN");
    if (getenv("CKPT_STORAGE_TIMEOUT"))
        p.timeout = atoi(getenv("CKPT_STORAGE_TIMEOUT"));
    if (storage_open(&st, &p, &e) != CKPT_OK)
        goto out;
    if (!strcmp(argv[2], "create")) {
        storage_create_container(st, &e);
    } else if (!strcmp(argv[2], "list")) {
        char **names;
        int n;
        if (storage_list(st, argc > 3 ? argv[3] : "", &names, &n, &e) == CKPT_OK) {
            for (int i = 0; i < n; i++)
                printf("%s\n", names[i]);
            storage_names_free(names, n);
        }
    } else if (!strcmp(argv[2], "del") && argc == 4) {
        storage_delete(st, argv[3], &e);
    } else if ((!strcmp(argv[2], "put") || !strcmp(argv[2], "get")) && argc == 5) {
        file_cmd(st, argv[2], argv[3], argv[4], &e);
    } else {
        storage_close(st);
        return usage();
    }
out:
    storage_close(st);
    if (e.code != CKPT_OK)
        fprintf(stderr, "st_tool: %s: %s\n", ckpt_strerror(e.code), e.msg);
    return e.code == CKPT_OK ? 0 : 1;
}
