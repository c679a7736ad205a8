/* libFuzzer harness: the configuration file and the CKPT_* environment.
 * An input is the file's text; if it holds a NUL byte, what follows it is
 * one environment value: its first byte picks the variable, the rest (up to
 * the next NUL) is the value. config_load must either fill the config with
 * values inside their documented ranges or say CKPT_ECONFIG. */
#include "fuzz.h"
#include "config.h"
#include "ckpt.h"

#include <stdlib.h>
#include <string.h>

static const char *const vars[] = {
    "CKPT_JOB", "CKPT_CACHE_DIR", "CKPT_RANKS_PER_NODE", "CKPT_REDUNDANCY",
    "CKPT_PARTNER_DISTANCE", "CKPT_KEEP_LOCAL", "CKPT_VERBOSE",
    "CKPT_RESTORE_CHECK", "CKPT_MODE", "CKPT_STORAGE_URL",
    "CKPT_STORAGE_ACCOUNT", "CKPT_STORAGE_KEY", "CKPT_STORAGE_SAS",
    "CKPT_PERSIST_EVERY", "CKPT_KEEP_REMOTE", "CKPT_UPLOAD_BLOCK_SIZE",
    "CKPT_UPLOAD_CONCURRENCY", "CKPT_DOWNLOAD_CONCURRENCY",
    "CKPT_PREFIX_SPREAD", "CKPT_STORAGE_TIMEOUT", "AZURE_STORAGE_ACCOUNT",
    "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN",
};
#define NVARS (sizeof vars / sizeof vars[0])

static int terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

/* The promises of config.h and ckpt.conf(5) about an accepted config. */
static void check(const ckpt_config_t *c)
{
    if (!terminated(c->job, sizeof c->job) || !config_valid_name(c->job))
        fz_fail("an accepted job name is not valid");
    if (!terminated(c->cache_dir, sizeof c->cache_dir) || c->cache_dir[0] != '/')
        fz_fail("an accepted cache_dir is not an absolute path");
    if (!terminated(c->storage_url, sizeof c->storage_url) ||
        !terminated(c->storage_account, sizeof c->storage_account) ||
        !terminated(c->storage_key, sizeof c->storage_key) ||
        !terminated(c->storage_sas, sizeof c->storage_sas))
        fz_fail("an accepted string is not terminated");
    if (strchr(c->storage_url, '?'))
        fz_fail("a storage_url with a query string was accepted");
    if (c->ranks_per_node < 0 || c->partner_distance < 1 ||
        c->keep_local < 1 || c->verbose < 0 || c->verbose > 3 ||
        c->persist_every < 1 || c->keep_remote < 0 ||
        c->upload_block_size_mib < 1 || c->upload_block_size_mib > 4000 ||
        c->upload_concurrency < 1 || c->upload_concurrency > 256 ||
        c->download_concurrency < 1 || c->download_concurrency > 256 ||
        (c->prefix_spread != 0 && c->prefix_spread != 1) ||
        c->storage_timeout < 1)
        fz_fail("an accepted number is out of its range");
    if ((c->mode != MODE_CACHE && c->mode != MODE_WRITEBACK) ||
        (c->mode == MODE_WRITEBACK && !c->storage_url[0]))
        fz_fail("an accepted mode is not cache, or writeback with a URL");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t file_len = nul ? (size_t)(nul - data) : size;
    const char *path = fz_file(data, file_len);
    ckpt_err_t e = {0};
    ckpt_config_t cfg;
    if (path == NULL)
        return 0;
    /* The input alone decides what config_load sees. */
    for (size_t i = 0; i < NVARS; i++)
        unsetenv(vars[i]);
    if (nul && file_len + 1 < size) {
        char *val = fz_text(nul + 2, size - file_len - 2);
        if (val == NULL)
            return 0;
        setenv(vars[nul[1] % NVARS], val, 1);
        free(val);
    }
    if (config_load(&cfg, path, &e) == CKPT_OK)
        check(&cfg);
    else if (e.code != CKPT_ECONFIG || e.msg[0] == '\0')
        fz_fail("a bad config is not CKPT_ECONFIG with a message");
    return 0;
}
