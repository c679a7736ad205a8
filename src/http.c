#include "http.h"
#include "log.h"
#include "ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum { R_NEW, R_ACTIVE, R_WAIT, R_DONE };

#define BACKOFF_FIRST 0.1  /* seconds before the first retry */
#define BACKOFF_MAX 10.0   /* and the longest pause between tries */

static int append(http_req_t *r, const char *p, size_t n)
{
    if (r->resp_len + n + 1 > r->resp_cap) {
        size_t cap = (r->resp_len + n + 1) * 2;
        char *v = realloc(r->resp, cap);
        if (v == NULL)
            return -1;
        r->resp = v;
        r->resp_cap = cap;
    }
    memcpy(r->resp + r->resp_len, p, n);
    r->resp[r->resp_len += n] = '\0';
    return 0;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    http_req_t *r = arg;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &status);
    if (status / 100 != 2 || r->sink_fd < 0)
        return append(r, p, n) == 0 ? n : 0;
    if (r->range_len > 0 && r->got + n > r->range_len)
        return 0; /* more than asked for: fail, and retry */
    for (size_t done = 0; done < n;) {
        ssize_t w = pwrite(r->sink_fd, p + done, n - done,
                           (off_t)(r->sink_off + r->got + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return 0;
        done += (size_t)w;
    }
    r->got += n;
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
    http_req_t *r = arg;
    size_t n = size * nmemb;
    char line[256];
    snprintf(line, sizeof line, "%.*s", (int)(n < 255 ? n : 255), p);
    line[strcspn(line, "\r\n")] = '\0';
    if (!strncasecmp(line, "x-ms-error-code:", 16))
        snprintf(r->error_code, sizeof r->error_code, "%s",
                 line + 16 + strspn(line + 16, " "));
    else if (!strncasecmp(line, "retry-after:", 12))
        r->retry_after = atof(line + 12);
    return n;
}

int http_body_read(const http_req_t *r, char *p, uint64_t at, size_t want)
{
    uint64_t base = 0;
    if (at + want > r->body_len)
        want = (size_t)(r->body_len - at);
    if (r->body) {
        memcpy(p, r->body + r->body_off + at, want);
        return (int)want;
    }
    at += r->body_off;
    for (int i = 0; i < r->src_n; base += r->src_size[i++]) {
        ssize_t got;
        if (at >= base + r->src_size[i])
            continue;
        if (want > base + r->src_size[i] - at)
            want = (size_t)(base + r->src_size[i] - at);
        do
            got = pread(r->src_fd[i], p, want, (off_t)(at - base));
        while (got < 0 && errno == EINTR);
        return got > 0 ? (int)got : -1;
    }
    return -1;
}

static size_t on_read(char *p, size_t size, size_t nmemb, void *arg)
{
    http_req_t *r = arg;
    size_t want = size * nmemb > (1u << 30) ? (1u << 30) : size * nmemb;
    int got;
    if (r->pos >= r->body_len)
        return 0;
    got = http_body_read(r, p, r->pos, want);
    if (got <= 0)
        return CURL_READFUNC_ABORT;
    r->pos += (uint64_t)got;
    return (size_t)got;
}

static int on_seek(void *arg, curl_off_t off, int origin)
{
    http_req_t *r = arg;
    if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    r->pos = (uint64_t)off;
    return CURL_SEEKFUNC_OK;
}

static int start(storage_t *st, CURLM *m, http_req_t *r, ckpt_err_t *e)
{
    long stall = st->timeout < 30 ? st->timeout : 30;
    r->h = curl_easy_init();
    r->hdrs = NULL;
    r->pos = r->got = 0;
    r->resp_len = 0;
    r->status = 0;
    r->retry_after = 0;
    r->error_code[0] = '\0';
    if (r->h == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory starting a request");
    if (r->prepare(r->ctx, r, r->h, &r->hdrs, e) != CKPT_OK)
        return e->code;
    curl_easy_setopt(r->h, CURLOPT_CUSTOMREQUEST, r->method);
    if (!strcmp(r->method, "PUT")) {
        curl_easy_setopt(r->h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(r->h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(r->h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(r->h, CURLOPT_READDATA, r);
        curl_easy_setopt(r->h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(r->h, CURLOPT_SEEKDATA, r);
    } else if (!strcmp(r->method, "DELETE")) {
        curl_easy_setopt(r->h, CURLOPT_NOBODY, 0L);
    }
    curl_easy_setopt(r->h, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(r->h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(r->h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(r->h, CURLOPT_PRIVATE, r);
    curl_easy_setopt(r->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->h, CURLOPT_CONNECTTIMEOUT, stall > 10 ? 10L : stall);
    /* A request that moves less than 1 KiB/s for `stall` seconds is stuck. */
    curl_easy_setopt(r->h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(r->h, CURLOPT_LOW_SPEED_TIME, stall > 0 ? stall : 1L);
    /* Large buffers: fewer read and write callbacks, fewer system calls. */
    curl_easy_setopt(r->h, CURLOPT_UPLOAD_BUFFERSIZE, 1L << 20);
    curl_easy_setopt(r->h, CURLOPT_BUFFERSIZE, 512L << 10);
    curl_easy_setopt(r->h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(r->h, CURLOPT_SSL_VERIFYHOST, 2L);
    r->state = R_ACTIVE;
    r->tries++;
    if (curl_multi_add_handle(m, r->h) != CURLM_OK)
        return err_set(e, CKPT_ESTORAGE, "libcurl refused a request");
    return CKPT_OK;
}

static void stop(CURLM *m, http_req_t *r)
{
    if (r->h) {
        curl_multi_remove_handle(m, r->h);
        curl_easy_cleanup(r->h);
        r->h = NULL;
    }
    curl_slist_free_all(r->hdrs);
    r->hdrs = NULL;
}

static int transient(CURLcode c, long status)
{
    switch (c) {
    case CURLE_OK:
        return status == 408 || status == 429 || status == 500 ||
               status == 502 || status == 503 || status == 504;
    case CURLE_COULDNT_CONNECT: case CURLE_OPERATION_TIMEDOUT:
    case CURLE_RECV_ERROR: case CURLE_SEND_ERROR: case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE: case CURLE_WRITE_ERROR: case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: case CURLE_SSL_CONNECT_ERROR:
    case CURLE_COULDNT_RESOLVE_HOST:
        return 1;
    default:
        return 0;
    }
}

static void describe(const http_req_t *r, CURLcode c, char *buf, size_t n)
{
    if (c != CURLE_OK)
        snprintf(buf, n, "%s", curl_easy_strerror(c));
    else if (r->status / 100 == 2)
        snprintf(buf, n, "short body (%llu of %llu bytes)",
                 (unsigned long long)r->got, (unsigned long long)r->range_len);
    else
        snprintf(buf, n, "HTTP %ld%s%s", r->status, r->error_code[0] ? " " : "",
                 r->error_code);
}

/* One attempt ended: done, to be retried later, or failed for good. */
static int finish(storage_t *st, CURLM *m, http_req_t *r, CURLcode c,
                  unsigned *seed, ckpt_err_t *e)
{
    double now = log_now(), wait;
    char why[160];
    curl_off_t up = 0;
    curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(r->h, CURLINFO_SIZE_UPLOAD_T, &up);
    st_count(st, r->op, r->sink_fd >= 0 ? r->got : (uint64_t)up);
    stop(m, r);
    if (c == CURLE_OK && r->status / 100 == 2 &&
        (r->range_len == 0 || r->got == r->range_len)) {
        /* Start writing a finished piece back now, so that the caller's
         * closing fsync finds little left to do. */
        if (r->sink_fd >= 0 && r->got > 0)
            sync_file_range(r->sink_fd, (off_t)r->sink_off, (off_t)r->got,
                            SYNC_FILE_RANGE_WRITE);
        r->state = R_DONE;
        return CKPT_OK;
    }
    describe(r, c, why, sizeof why);
    if (!transient(c, r->status) && !(c == CURLE_OK && r->status / 100 == 2))
        return err_set(e, CKPT_ESTORAGE, "%s %s: %s", r->method, r->what, why);
    if (r->first_fail == 0)
        r->first_fail = now;
    if (now - r->first_fail > st->timeout)
        return err_set(e, CKPT_ESTORAGE, "%s %s: still failing after %d tries "
                       "over %.0f s " ST_DOWN_MARK ": %s", r->method, r->what,
                       r->tries, now - r->first_fail, why);
    wait = BACKOFF_FIRST * (double)(1u << (r->tries < 8 ? r->tries - 1 : 7));
    wait = (wait > BACKOFF_MAX ? BACKOFF_MAX : wait) *
           (0.5 + 0.5 * rand_r(seed) / (double)RAND_MAX);
    if (r->retry_after > wait)
        wait = r->retry_after;
    r->next_try = now + wait;
    r->state = R_WAIT;
    st_count_retry(st, r->op);
    return CKPT_OK;
}

/* While the storage is held, active transfers pause; after, they go on. */
static void pause_all(http_req_t *r, int n, int on)
{
    for (int i = 0; i < n; i++)
        if (r[i].state == R_ACTIVE && r[i].h)
            curl_easy_pause(r[i].h, on ? CURLPAUSE_ALL : CURLPAUSE_CONT);
}

static int held(storage_t *st, http_req_t *r, int n, int *paused)
{
    int now = atomic_load(&st->hold);
    if (now != *paused)
        pause_all(r, n, now);
    *paused = now;
    return now;
}

/* Starts what may start now; returns how long to wait for the next retry. */
static double launch(storage_t *st, CURLM *m, http_req_t *r, int n, int conc,
                     int *active, ckpt_err_t *e)
{
    double now = log_now(), nap = 0.1;
    for (int i = 0; i < n && e->code == CKPT_OK; i++) {
        if (r[i].state == R_WAIT && r[i].next_try > now) {
            if (r[i].next_try - now < nap)
                nap = r[i].next_try - now;
            continue;
        }
        if ((r[i].state == R_NEW || r[i].state == R_WAIT) &&
            *active < conc && start(st, m, &r[i], e) == CKPT_OK)
            (*active)++;
    }
    return nap;
}

int http_run(storage_t *st, http_req_t *r, int n, int conc, int *failed,
             ckpt_err_t *e)
{
    CURLM *m = curl_multi_init();
    unsigned seed = (unsigned)getpid() ^ (unsigned)(log_now() * 1e6);
    int active = 0, done = 0, bad = -1, paused = 0;
    if (m == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory starting requests");
    for (int i = 0; i < n; i++)
        r[i].state = R_NEW, r[i].tries = 0, r[i].first_fail = 0, r[i].h = NULL;
    while (done < n && e->code == CKPT_OK) {
        int running, left;
        CURLMsg *msg;
        double nap;
        if (held(st, r, n, &paused)) {
            usleep(2000);
            continue;
        }
        nap = launch(st, m, r, n, conc, &active, e);
        curl_multi_perform(m, &running);
        while (e->code == CKPT_OK && (msg = curl_multi_info_read(m, &left))) {
            http_req_t *q;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&q);
            active--;
            if (finish(st, m, q, msg->data.result, &seed, e) != CKPT_OK)
                bad = (int)(q - r);
            done += q->state == R_DONE;
        }
        if (done < n && e->code == CKPT_OK)
            curl_multi_poll(m, NULL, 0, (int)(nap * 1000) + 1, NULL);
    }
    for (int i = 0; i < n; i++)
        stop(m, &r[i]);
    curl_multi_cleanup(m);
    if (failed)
        *failed = bad;
    return e->code;
}

void http_req_free(http_req_t *r)
{
    free(r->resp);
    r->resp = NULL;
    r->resp_len = r->resp_cap = 0;
}
