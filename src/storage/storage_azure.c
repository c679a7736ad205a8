/* The Azure Blob backend (and Azurite): Put Blob, Put Block and Put Block
 * List with Content-MD5 on every body, ranged Get Blob, List Blobs, Delete
 * Blob; Shared Key or SAS auth. Credentials never reach a message. */
#include "storage_impl.h"
#include "az_list.h"
#include "azure_sign.h"
#include "http.h"
#include "log.h"
#include "ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define AZ_VERSION "2021-08-06"
#define MAX_QUERY 4

typedef struct az {
    char base[512];       /* scheme://host[:port] */
    char path[768];       /* /container, or /account/container (path style) */
    char account[256], container[256];
    unsigned char key[128];
    int klen;             /* 0: SAS */
    char sas[2048];
} az_t;

/* What one request is about: the prepare callback's context. */
typedef struct az_call {
    az_t *az;
    const char *blob;     /* NULL: the container itself */
    const char *q[MAX_QUERY][2]; /* query pairs, sorted by name */
    int nq;
    int block_blob;       /* send x-ms-blob-type: BlockBlob */
    char blockid[24];
} az_call_t;

static int body_md5(http_req_t *r, ckpt_err_t *e)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mlen = 0;
    static const size_t chunk = 1 << 20;
    char *buf = malloc(chunk);
    EVP_MD_CTX *x = EVP_MD_CTX_new();
    int rc = CKPT_OK;
    if (buf == NULL || x == NULL || !EVP_DigestInit_ex(x, EVP_md5(), NULL))
        rc = err_set(e, CKPT_ENOMEM, "out of memory hashing a block");
    for (uint64_t at = 0; rc == CKPT_OK && at < r->body_len;) {
        int got = http_body_read(r, buf, at, chunk);
        if (got <= 0)
            rc = err_set(e, CKPT_EIO, "cannot read the data of %s: %s", r->what,
                         strerror(errno));
        else
            EVP_DigestUpdate(x, buf, (size_t)got), at += (uint64_t)got;
    }
    if (rc == CKPT_OK && EVP_DigestFinal_ex(x, md, &mlen))
        az_base64(md, mlen, r->md5);
    EVP_MD_CTX_free(x);
    free(buf);
    return rc;
}

static int add_header(struct curl_slist **h, const char *fmt, const char *v)
{
    char line[4200];
    struct curl_slist *n;
    snprintf(line, sizeof line, fmt, v);
    if ((n = curl_slist_append(*h, line)) == NULL)
        return -1;
    *h = n;
    return 0;
}

static int make_url(const az_call_t *c, CURL *h, const char *path, char *url,
                    size_t n)
{
    size_t used = (size_t)snprintf(url, n, "%s%s", c->az->base, path);
    for (int i = 0; i < c->nq && used < n; i++) {
        char *v = curl_easy_escape(h, c->q[i][1], 0);
        if (v == NULL)
            return -1;
        used += (size_t)snprintf(url + used, n - used, "%c%s=%s", i ? '&' : '?',
                                 c->q[i][0], v);
        curl_free(v);
    }
    if (c->az->sas[0] && used < n)
        used += (size_t)snprintf(url + used, n - used, "%c%s", c->nq ? '&' : '?',
                                 c->az->sas);
    return used < n ? 0 : -1;
}

/* The Shared Key string to sign, for the headers az_prepare sends. */
static void string_to_sign(const az_call_t *c, const http_req_t *r,
                           const char *path, const char *date,
                           const char *range, char *s, size_t n)
{
    char len[24] = "";
    size_t used;
    if (r->body_len > 0)
        snprintf(len, sizeof len, "%" PRIu64, r->body_len);
    used = (size_t)snprintf(s, n, "%s\n\n\n%s\n%s\n\n\n\n\n\n\n\n%s"
                            "x-ms-date:%s\n%s%s%sx-ms-version:" AZ_VERSION
                            "\n/%s%s", r->method, len, r->md5,
                            c->block_blob ? "x-ms-blob-type:BlockBlob\n" : "",
                            date, range[0] ? "x-ms-range:" : "", range,
                            range[0] ? "\n" : "", c->az->account, path);
    for (int i = 0; i < c->nq && used < n; i++)
        used += (size_t)snprintf(s + used, n - used, "\n%s:%s", c->q[i][0],
                                 c->q[i][1]);
}

static int az_prepare(void *ctx, http_req_t *r, CURL *h,
                      struct curl_slist **hd, ckpt_err_t *e)
{
    az_call_t *c = ctx;
    char path[1536], url[4096], date[64], range[80] = "", sts[4096], sig[64];
    snprintf(path, sizeof path, "%s%s%s", c->az->path, c->blob ? "/" : "",
             c->blob ? c->blob : "");
    if (make_url(c, h, path, url, sizeof url) != 0)
        return err_set(e, CKPT_ESTORAGE, "URL too long for '%s'", r->what);
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (!strcmp(r->method, "PUT") && r->body_len > 0 && !r->md5[0] &&
        body_md5(r, e) != CKPT_OK)
        return e->code;
    if (r->range_len > 0)
        snprintf(range, sizeof range, "bytes=%" PRIu64 "-%" PRIu64, r->range_off,
                 r->range_off + r->range_len - 1);
    az_date(date, sizeof date);
    if (add_header(hd, "x-ms-date: %s", date) ||
        add_header(hd, "x-ms-version: %s", AZ_VERSION) ||
        add_header(hd, "%s", "Expect:") ||
        (c->block_blob && add_header(hd, "%s", "x-ms-blob-type: BlockBlob")) ||
        (range[0] && add_header(hd, "x-ms-range: %s", range)) ||
        (r->md5[0] && add_header(hd, "Content-MD5: %s", r->md5)))
        return err_set(e, CKPT_ENOMEM, "out of memory building a request");
    if (c->az->klen == 0)
        return CKPT_OK; /* SAS: the token in the URL is the credential */
    string_to_sign(c, r, path, date, range, sts, sizeof sts);
    if (az_hmac(c->az->key, (size_t)c->az->klen, sts, sig) != 0)
        return err_set(e, CKPT_ESTORAGE, "cannot sign a request (OpenSSL)");
    snprintf(url, sizeof url, "Authorization: SharedKey %s:%s", c->az->account, sig);
    if (add_header(hd, "%s", url))
        return err_set(e, CKPT_ENOMEM, "out of memory building a request");
    return CKPT_OK;
}

static az_t *az_of(storage_t *st)
{
    return st->impl;
}

_Static_assert(HTTP_BODY_MAX == ST_GET_MAX, "a GET into memory has one limit");

static void count(void *ctx, int op, uint64_t bytes, int retried)
{
    if (retried)
        st_count_retry(ctx, op);
    else
        st_count(ctx, op, bytes);
}

/* Runs the requests; failures Azure explains get a message saying what to
 * fix. A missing blob is CKPT_ENOENT. */
static int az_run(storage_t *st, http_req_t *r, int n, ckpt_err_t *e)
{
    az_t *az = az_of(st);
    http_env_t env = {.timeout = st->timeout, .hold = &st->hold,
                      .count = count, .ctx = st};
    int bad = -1;
    int conc = r[0].op == OP_GET ? st->read_concurrency : st->concurrency;
    if (http_run(&env, r, n, conc, &bad, e) == CKPT_OK || bad < 0)
        return e->code;
    if (r[bad].status == 403) {
        err_clear(e);
        err_set(e, CKPT_ESTORAGE, "storage refused the credentials for account "
                "'%s' (HTTP 403 %s on %s): check storage_key "
                "(AZURE_STORAGE_KEY), or that the SAS token (storage_sas) is "
                "valid, unexpired and allows read, write, delete and list",
                az->account, r[bad].error_code, r[bad].what);
    } else if (r[bad].status == 404 &&
               !strcmp(r[bad].error_code, "ContainerNotFound")) {
        err_clear(e);
        err_set(e, CKPT_ESTORAGE, "container '%s' does not exist in account "
                "'%s': create it, or fix storage_url", az->container,
                az->account);
    } else if (r[bad].status == 404) {
        err_clear(e);
        err_set(e, CKPT_ENOENT, "object '%s' does not exist", r[bad].what);
    }
    return e->code;
}

static http_req_t request(int op, const char *method, const char *what,
                          az_call_t *c)
{
    return (http_req_t){.op = op, .method = method, .what = what,
                        .prepare = az_prepare, .ctx = c, .sink_fd = -1};
}

static int put_blocks(storage_t *st, const char *name, const char *mem,
                      const int *fd, const st_source_t *src, uint64_t total,
                      ckpt_err_t *e);

static int z_put(storage_t *st, const char *name, const void *buf, size_t len,
                 ckpt_err_t *e)
{
    if (len > st->block_size)
        return put_blocks(st, name, buf, NULL, NULL, len, e);
    az_call_t c = {.az = az_of(st), .blob = name, .block_blob = 1};
    http_req_t r = request(OP_PUT, "PUT", name, &c);
    r.body = buf;
    r.body_len = len;
    az_run(st, &r, 1, e);
    http_req_free(&r);
    return e->code;
}

static int put_block_list(storage_t *st, const char *name, az_call_t *blocks,
                          int nb, ckpt_err_t *e)
{
    az_call_t c = {.az = az_of(st), .blob = name,
                   .q = {{"comp", "blocklist"}}, .nq = 1};
    http_req_t r = request(OP_PUT_BLOCK_LIST, "PUT", name, &c);
    size_t cap = 64 + (size_t)nb * 48, used;
    char *xml = malloc(cap);
    if (xml == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory listing blocks");
    used = (size_t)snprintf(xml, cap, "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
                            "<BlockList>");
    for (int i = 0; i < nb; i++)
        used += (size_t)snprintf(xml + used, cap - used, "<Latest>%s</Latest>",
                                 blocks[i].blockid);
    used += (size_t)snprintf(xml + used, cap - used, "</BlockList>");
    r.body = xml;
    r.body_len = used;
    az_run(st, &r, 1, e);
    http_req_free(&r);
    free(xml);
    return e->code;
}

/* The object in blocks of block_size, then the list that commits them; the
 * bytes come from memory (mem) or from the files of src. */
static int put_blocks(storage_t *st, const char *name, const char *mem,
                      const int *fd, const st_source_t *src, uint64_t total,
                      ckpt_err_t *e)
{
    uint64_t bs = st->block_size;
    int nb = (int)((total + bs - 1) / bs);
    az_call_t *c = calloc((size_t)nb, sizeof *c);
    http_req_t *r = calloc((size_t)nb, sizeof *r);
    if (c == NULL || r == NULL) {
        err_set(e, CKPT_ENOMEM, "out of memory uploading '%s'", name);
        goto out;
    }
    for (int i = 0; i < nb; i++) {
        char id[16];
        snprintf(id, sizeof id, "%012d", i); /* ids of one length, no '=' */
        c[i] = (az_call_t){.az = az_of(st), .blob = name, .nq = 2,
                           .q = {{"blockid", NULL}, {"comp", "block"}}};
        az_base64((const unsigned char *)id, 12, c[i].blockid);
        c[i].q[0][1] = c[i].blockid;
        r[i] = request(OP_PUT_BLOCK, "PUT", name, &c[i]);
        r[i].body = mem;
        r[i].src_fd = fd;
        r[i].src_size = src ? src->size : NULL;
        r[i].src_n = src ? src->n : 0;
        r[i].body_off = (uint64_t)i * bs;
        r[i].body_len = total - r[i].body_off < bs ? total - r[i].body_off : bs;
    }
    if (az_run(st, r, nb, e) == CKPT_OK)
        put_block_list(st, name, c, nb, e);
out:
    for (int i = 0; r && i < nb; i++)
        http_req_free(&r[i]);
    free(c);
    free(r);
    return e->code;
}

static int z_put_files(storage_t *st, const char *name, const st_source_t *src,
                       ckpt_err_t *e)
{
    int *fd = calloc((size_t)src->n + 1, sizeof *fd), i;
    uint64_t total = 0;
    if (fd == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory uploading '%s'", name);
    for (i = 0; i < src->n; i++) {
        total += src->size[i];
        if ((fd[i] = open(src->path[i], O_RDONLY | O_CLOEXEC)) < 0) {
            err_sys(e, errno, "open %s", src->path[i]);
            goto out;
        }
    }
    if (total > st->block_size) {
        put_blocks(st, name, NULL, fd, src, total, e);
    } else {
        az_call_t c = {.az = az_of(st), .blob = name, .block_blob = 1};
        http_req_t r = request(OP_PUT, "PUT", name, &c);
        r.src_fd = fd;
        r.src_size = src->size;
        r.src_n = src->n;
        r.body_len = total;
        az_run(st, &r, 1, e);
        http_req_free(&r);
    }
out:
    while (i-- > 0)
        close(fd[i]);
    free(fd);
    return e->code;
}

static int z_get(storage_t *st, const char *name, char **buf, size_t *len,
                 ckpt_err_t *e)
{
    az_call_t c = {.az = az_of(st), .blob = name};
    http_req_t r = request(OP_GET, "GET", name, &c);
    if (az_run(st, &r, 1, e) == CKPT_OK) {
        if (r.resp == NULL && (r.resp = calloc(1, 1)) == NULL)
            err_set(e, CKPT_ENOMEM, "out of memory reading '%s'", name);
        *buf = r.resp;
        *len = r.resp_len;
        r.resp = NULL;
    }
    http_req_free(&r);
    return e->code;
}

static int z_get_range(storage_t *st, const char *name, uint64_t off,
                       uint64_t len, int fd, ckpt_err_t *e)
{
    uint64_t bs = st->block_size;
    int n = (int)((len + bs - 1) / bs);
    az_call_t c = {.az = az_of(st), .blob = name};
    http_req_t *r;
    if (len == 0)
        return CKPT_OK;
    if ((r = calloc((size_t)n, sizeof *r)) == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory reading '%s'", name);
    for (int i = 0; i < n; i++) {
        r[i] = request(OP_GET, "GET", name, &c);
        r[i].sink_fd = fd;
        r[i].sink_off = (uint64_t)i * bs;
        r[i].range_off = off + r[i].sink_off;
        r[i].range_len = len - r[i].sink_off < bs ? len - r[i].sink_off : bs;
    }
    az_run(st, r, n, e);
    for (int i = 0; i < n; i++)
        http_req_free(&r[i]);
    free(r);
    return e->code;
}

/* One page of List Blobs, asked with l->marker; the whole listing must end
 * by `until`, so no retry of a page starts later. */
static int list_page(storage_t *st, const char *prefix, az_list_t *l,
                     double until, ckpt_err_t *e)
{
    az_call_t c = {.az = az_of(st), .nq = 0};
    http_req_t r;
    c.q[c.nq][0] = "comp", c.q[c.nq++][1] = "list";
    if (l->marker[0])
        c.q[c.nq][0] = "marker", c.q[c.nq++][1] = l->marker;
    c.q[c.nq][0] = "prefix", c.q[c.nq++][1] = prefix;
    c.q[c.nq][0] = "restype", c.q[c.nq++][1] = "container";
    r = request(OP_LIST, "GET", "(list)", &c);
    r.give_up_by = until;
    if (az_run(st, &r, 1, e) == CKPT_OK)
        az_list_parse(r.resp ? r.resp : "", r.resp_len, prefix, l, e);
    http_req_free(&r);
    return e->code;
}

/* Page after page while the service gives a next marker, within
 * storage_timeout in all: a service that never stops giving new markers
 * counts as storage that does not answer. */
static int z_list(storage_t *st, const char *prefix, char ***names, int *n,
                  ckpt_err_t *e)
{
    az_list_t *l = calloc(1, sizeof *l);
    double t0 = log_now(), until = t0 + st->timeout;
    int pages = 0;
    if (l == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory listing storage");
    l->max_names = ST_LIST_MAX;
    do {
        if (pages > 0 && log_now() > until)
            err_set_cause(e, ERR_CAUSE_DOWN, CKPT_ESTORAGE, "listing '%s' "
                          "had not ended after %d pages and %.1f s "
                          HTTP_DOWN_MARK, prefix, pages, log_now() - t0);
        else
            list_page(st, prefix, l, until, e);
        pages++;
    } while (e->code == CKPT_OK && l->marker[0]);
    *names = l->names;
    *n = l->n;
    free(l);
    return e->code;
}

static int z_del(storage_t *st, const char *name, ckpt_err_t *e)
{
    az_call_t c = {.az = az_of(st), .blob = name};
    http_req_t r = request(OP_DELETE, "DELETE", name, &c);
    if (az_run(st, &r, 1, e) == CKPT_ENOENT)
        err_clear(e); /* already gone: what was wanted */
    http_req_free(&r);
    return e->code;
}

static int z_create(storage_t *st, ckpt_err_t *e)
{
    az_call_t c = {.az = az_of(st), .q = {{"restype", "container"}}, .nq = 1};
    http_req_t r = request(OP_PUT, "PUT", az_of(st)->container, &c);
    if (az_run(st, &r, 1, e) != CKPT_OK && r.status == 409)
        err_clear(e); /* it exists */
    http_req_free(&r);
    return e->code;
}

static void z_close(storage_t *st)
{
    OPENSSL_cleanse(st->impl, sizeof(az_t));
    free(st->impl);
}

static const st_backend_t azure_backend = {
    z_put, z_put_files, z_get, z_get_range, z_list, z_del, z_create, z_close};

/* https://acct.blob.core.windows.net/container, or path style
 * http://host:port/acct/container (Azurite). */
static int parse_url(az_t *az, const char *url, const char *account,
                     ckpt_err_t *e)
{
    const char *host = strstr(url, "://") + 3, *slash = strchr(host, '/');
    char seg[2][256] = {{0}};
    int nseg;
    if (slash == NULL || slash == host || (size_t)(slash - url) >= sizeof az->base)
        goto bad;
    snprintf(az->base, sizeof az->base, "%.*s", (int)(slash - url), url);
    nseg = sscanf(slash, "/%255[A-Za-z0-9-]/%255[A-Za-z0-9$-]", seg[0], seg[1]);
    if (nseg == 2 && strlen(slash) == strlen(seg[0]) + strlen(seg[1]) + 2) {
        snprintf(az->account, sizeof az->account, "%s", seg[0]);
        snprintf(az->container, sizeof az->container, "%s", seg[1]);
        snprintf(az->path, sizeof az->path, "/%s/%s", seg[0], seg[1]);
    } else if (nseg == 1 && strlen(slash) == strlen(seg[0]) + 1) {
        snprintf(az->account, sizeof az->account, "%.*s",
                 (int)strcspn(host, "."), host);
        snprintf(az->container, sizeof az->container, "%s", seg[0]);
        snprintf(az->path, sizeof az->path, "/%s", seg[0]);
    } else {
        goto bad;
    }
    if (strlen(az->container) < 3 || strlen(az->container) > 63)
        return err_set(e, CKPT_ECONFIG, "storage_url: container name '%s' "
                       "must be 3 to 63 characters", az->container);
    if (account && account[0] && strcmp(account, az->account))
        return err_set(e, CKPT_ECONFIG, "storage_account '%s' does not match "
                       "the account '%s' of storage_url", account, az->account);
    return CKPT_OK;
bad:
    return err_set(e, CKPT_ECONFIG, "storage_url: expected "
                   "https://<account>.blob.core.windows.net/<container> or "
                   "http://<host>:<port>/<account>/<container>");
}

int st_azure_open(storage_t *st, const st_params_t *p, ckpt_err_t *e)
{
    az_t *az = calloc(1, sizeof *az);
    if (az == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory opening storage");
    if (parse_url(az, p->url, p->account, e) != CKPT_OK)
        goto fail;
    if (p->sas && p->sas[0]) {
        if (strlen(p->sas) >= sizeof az->sas) {
            err_set(e, CKPT_ECONFIG, "storage_sas is too long");
            goto fail;
        }
        snprintf(az->sas, sizeof az->sas, "%s", p->sas + (p->sas[0] == '?'));
    } else if (p->key && p->key[0]) {
        az->klen = az_unbase64(p->key, az->key, sizeof az->key);
        if (az->klen <= 0) {
            err_set(e, CKPT_ECONFIG, "storage_key is not a base64 account key");
            goto fail;
        }
    } else {
        err_set(e, CKPT_ECONFIG, "no storage credentials: set storage_key "
                "(AZURE_STORAGE_KEY) or storage_sas (AZURE_STORAGE_SAS_TOKEN)");
        goto fail;
    }
    st->be = &azure_backend;
    st->impl = az;
    return CKPT_OK;
fail:
    OPENSSL_cleanse(az, sizeof *az);
    free(az);
    return e->code;
}
