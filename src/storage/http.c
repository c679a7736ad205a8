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
/* Of a failure's body only this much is kept: its headers say why. */
#define ERROR_BODY_MAX (64u << 10)

static int blank(char c)
{
    return c == ' ' || c == '\t';
}

/* digits between optional blanks, at most maxd of them, into *v */
static int parse_digits(const char *s, int maxd, uint64_t *v)
{
    int nd = 0;
    *v = 0;
    while (blank(*s))
        s++;
    for (; *s >= '0' && *s <= '9'; s++, nd++) {
        if (nd == maxd)
            return -1;
        *v = *v * 10 + (uint64_t)(*s - '0');
    }
    while (blank(*s))
        s++;
    return nd > 0 && *s == '\0' ? 0 : -1;
}

int http_parse_retry_after(const char *value, double *seconds)
{
    uint64_t v;
    if (value == NULL || parse_digits(value, 9, &v) != 0 ||
        v > HTTP_RETRY_AFTER_MAX)
        return -1;
    *seconds = (double)v;
    return 0;
}

int http_parse_content_length(const char *value, uint64_t *len)
{
    uint64_t v;
    /* 19 digits reach 10^19 - 1: beyond INT64_MAX, which off_t and
     * curl_off_t hold (found by fuzz_http_headers) */
    if (value == NULL || parse_digits(value, 19, &v) != 0 || v > INT64_MAX)
        return -1;
    *len = v;
    return 0;
}

static void refuse(http_req_t *r, const char *why)
{
    if (!r->refused[0])
        snprintf(r->refused, sizeof r->refused, "%s", why);
}

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

static long status_of(const http_req_t *r)
{
    long status = 0;
    curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* A body kept in memory: a success's up to HTTP_BODY_MAX (more is refused),
 * a failure's first ERROR_BODY_MAX bytes (the rest is dropped). */
static size_t keep_body(http_req_t *r, const char *p, size_t n, int ok)
{
    size_t room = (ok ? HTTP_BODY_MAX : ERROR_BODY_MAX) - r->resp_len;
    if (ok && n > room) {
        refuse(r, "the answer is larger than " HTTP_BODY_MAX_TEXT);
        return 0;
    }
    if (append(r, p, n < room ? n : room) != 0) {
        refuse(r, "out of memory for the answer");
        return 0;
    }
    return n;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    http_req_t *r = arg;
    size_t n = size * nmemb;
    long status = status_of(r);
    if (status / 100 != 2 || r->sink_fd < 0)
        return keep_body(r, p, n, status / 100 == 2);
    if (r->range_len > 0 && r->got + n > r->range_len) {
        /* the service sent more than the range: it is not what was asked
         * for, and asking again will not change that */
        snprintf(r->refused, sizeof r->refused, "more bytes than the %llu "
                 "asked for", (unsigned long long)r->range_len);
        return 0;
    }
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

/* A success's Content-Length, checked before any byte of the body. */
static int length_ok(http_req_t *r, const char *value)
{
    uint64_t len;
    if (status_of(r) / 100 != 2)
        return 1;
    if (http_parse_content_length(value, &len) != 0) {
        refuse(r, "malformed Content-Length");
        return 0;
    }
    if (r->sink_fd < 0 && len > HTTP_BODY_MAX) {
        refuse(r, "the answer is larger than " HTTP_BODY_MAX_TEXT);
        return 0;
    }
    return 1;
}

/* The service's error code goes into messages: printable characters only. */
static void keep_error_code(http_req_t *r, const char *v)
{
    size_t i = 0;
    for (; v[i] && i + 1 < sizeof r->error_code; i++)
        r->error_code[i] = v[i] > ' ' && v[i] < 0x7f ? v[i] : '?';
    r->error_code[i] = '\0';
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
    http_req_t *r = arg;
    size_t n = size * nmemb;
    char line[256];
    snprintf(line, sizeof line, "%.*s", (int)(n < 255 ? n : 255), p);
    line[strcspn(line, "\r\n")] = '\0';
    if (!strncasecmp(line, "x-ms-error-code:", 16))
        keep_error_code(r, line + 16 + strspn(line + 16, " \t"));
    else if (!strncasecmp(line, "retry-after:", 12) &&
             http_parse_retry_after(line + 12, &r->retry_after) != 0)
        r->retry_after = -1; /* not a wait we understand: our backoff */
    else if (!strncasecmp(line, "content-length:", 15) &&
             !length_ok(r, line + 15))
        return 0;
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

/* What one http_run keeps between turns of its loop. */
typedef struct run {
    const http_env_t *env;
    CURLM *m;
    http_req_t *r;
    int n, conc, active, done, bad, paused;
    double held_since;
    unsigned seed;
} run_t;

static int start(const http_env_t *env, CURLM *m, http_req_t *r, ckpt_err_t *e)
{
    long stall = env->timeout < 30 ? env->timeout : 30;
    r->h = curl_easy_init();
    r->hdrs = NULL;
    r->pos = r->got = 0;
    r->resp_len = 0;
    if (r->resp)
        r->resp[0] = '\0'; /* an earlier try's body is not this one's */
    r->status = 0;
    r->retry_after = -1;
    r->timed_out = 0;
    r->refused[0] = r->error_code[0] = '\0';
    /* Our own limit rather than CURLOPT_TIMEOUT: time on hold (a save)
     * must not count, and curl's clock would go on while paused. */
    r->attempt_end = log_now() + env->timeout;
    if (r->tries == 0)
        r->began = log_now();
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

static void describe(const http_req_t *r, CURLcode c, int limit, char *buf,
                     size_t n)
{
    if (r->timed_out)
        snprintf(buf, n, "no complete answer within %d s", limit);
    else if (c != CURLE_OK)
        snprintf(buf, n, "%s", curl_easy_strerror(c));
    else if (r->status / 100 == 2)
        snprintf(buf, n, "short body (%llu of %llu bytes)",
                 (unsigned long long)r->got, (unsigned long long)r->range_len);
    else
        snprintf(buf, n, "HTTP %ld%s%s", r->status, r->error_code[0] ? " " : "",
                 r->error_code);
}

/* Our pause before try number `tries` + 1, with jitter. */
static double backoff(int tries, unsigned *seed)
{
    double wait = BACKOFF_FIRST * (double)(1u << (tries < 8 ? tries - 1 : 7));
    return (wait > BACKOFF_MAX ? BACKOFF_MAX : wait) *
           (0.5 + 0.5 * rand_r(seed) / (double)RAND_MAX);
}

static int give_up(const http_req_t *r, double now, const char *why,
                   ckpt_err_t *e)
{
    char asked[96] = "";
    if (r->retry_after > 0)
        snprintf(asked, sizeof asked, " (it asked to retry after %.0f s, past "
                 "the deadline)", r->retry_after);
    return err_set_cause(e, ERR_CAUSE_DOWN, CKPT_ESTORAGE, "%s %s: still "
                         "failing after %d tries over %.1f s " HTTP_DOWN_MARK
                         ": %s%s", r->method, r->what, r->tries,
                         now - r->began, why, asked);
}

/* One attempt ended: done, to be retried later, or failed for good. A retry
 * whose wait would end past the request's deadline is not made. */
static int finish(run_t *x, http_req_t *r, CURLcode c, ckpt_err_t *e)
{
    double now = log_now(), wait, deadline;
    char why[160];
    curl_off_t up = 0;
    curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(r->h, CURLINFO_SIZE_UPLOAD_T, &up);
    x->env->count(x->env->ctx, r->op, r->sink_fd >= 0 ? r->got : (uint64_t)up, 0);
    stop(x->m, r);
    if (r->refused[0])
        return err_set(e, CKPT_ESTORAGE, "%s %s: %s", r->method, r->what,
                       r->refused);
    if (c == CURLE_OK && r->status / 100 == 2 &&
        (r->range_len == 0 || r->got == r->range_len)) {
        r->state = R_DONE;
        return CKPT_OK;
    }
    describe(r, c, x->env->timeout, why, sizeof why);
    /* A complete answer shorter than the range is the object's end, not a
     * cut connection (curl reports that as CURLE_PARTIAL_FILE): the object
     * is shorter than its manifest says, and stays so. */
    if (!transient(c, r->status))
        return err_set(e, CKPT_ESTORAGE, "%s %s: %s", r->method, r->what, why);
    if (r->first_fail == 0)
        r->first_fail = now;
    deadline = r->first_fail + x->env->timeout;
    if (r->give_up_by > 0 && r->give_up_by < deadline)
        deadline = r->give_up_by;
    wait = backoff(r->tries, &x->seed);
    if (r->retry_after > wait)
        wait = r->retry_after;
    if (now + wait > deadline)
        return give_up(r, now, why, e);
    r->next_try = now + wait;
    r->state = R_WAIT;
    x->env->count(x->env->ctx, r->op, 0, 1);
    return CKPT_OK;
}

/* Time on hold is frozen time: deadlines and waits move past it. */
static void shift_clocks(run_t *x, double by)
{
    for (int i = 0; i < x->n; i++) {
        http_req_t *r = &x->r[i];
        r->attempt_end += by;
        r->next_try += by;
        r->began += by;
        if (r->first_fail > 0)
            r->first_fail += by;
        if (r->give_up_by > 0)
            r->give_up_by += by;
    }
}

/* While the storage is held, active transfers pause; after, they go on. */
static int held(run_t *x)
{
    int on = atomic_load(x->env->hold);
    if (on != x->paused) {
        for (int i = 0; i < x->n; i++)
            if (x->r[i].state == R_ACTIVE && x->r[i].h)
                curl_easy_pause(x->r[i].h, on ? CURLPAUSE_ALL : CURLPAUSE_CONT);
        if (on)
            x->held_since = log_now();
        else
            shift_clocks(x, log_now() - x->held_since);
    }
    x->paused = on;
    return on;
}

/* Starts what may start now; returns how long to wait for the next retry. */
static double launch(run_t *x, ckpt_err_t *e)
{
    double now = log_now(), nap = 0.1;
    int started = 0;
    for (int i = 0; i < x->n && e->code == CKPT_OK; i++) {
        http_req_t *r = &x->r[i];
        if (r->state == R_WAIT && r->next_try > now) {
            if (r->next_try - now < nap)
                nap = r->next_try - now;
            continue;
        }
        if (r->state != R_NEW && r->state != R_WAIT)
            continue;
        /* Preparing a request may take long (a block's MD5): while others
         * transfer, start one a turn, so that they are served between two
         * preparations instead of waiting for all of them; come back soon. */
        if (started && x->active < x->conc) {
            nap = 0;
            break;
        }
        if (x->active < x->conc && start(x->env, x->m, r, e) == CKPT_OK) {
            x->active++;
            started = 1;
        }
    }
    return nap;
}

static void ended(run_t *x, http_req_t *q, CURLcode c, ckpt_err_t *e)
{
    x->active--;
    if (finish(x, q, c, e) != CKPT_OK)
        x->bad = (int)(q - x->r);
    x->done += q->state == R_DONE;
}

/* Attempts past their time limit end as timed out (a body trickled forever,
 * a service that never finishes its answer). */
static void expire(run_t *x, ckpt_err_t *e)
{
    double now = log_now();
    for (int i = 0; i < x->n && e->code == CKPT_OK; i++)
        if (x->r[i].state == R_ACTIVE && now > x->r[i].attempt_end) {
            x->r[i].timed_out = 1;
            ended(x, &x->r[i], CURLE_OPERATION_TIMEDOUT, e);
        }
}

/* One turn: start, transfer, collect what ended, then sleep until there is
 * something to do (at most 0.1 s, so that limits are checked often). */
static void turn(run_t *x, ckpt_err_t *e)
{
    int running, left;
    CURLMsg *msg;
    double nap = launch(x, e);
    curl_multi_perform(x->m, &running);
    while (e->code == CKPT_OK && (msg = curl_multi_info_read(x->m, &left))) {
        http_req_t *q;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&q);
        ended(x, q, msg->data.result, e);
    }
    expire(x, e);
    if (x->done < x->n && e->code == CKPT_OK)
        curl_multi_poll(x->m, NULL, 0, (int)(nap * 1000) + 1, NULL);
}

int http_run(const http_env_t *env, http_req_t *r, int n, int conc,
             int *failed, ckpt_err_t *e)
{
    run_t x = {.env = env, .m = curl_multi_init(), .r = r, .n = n, .conc = conc,
               .bad = -1,
               .seed = (unsigned)getpid() ^ (unsigned)(log_now() * 1e6)};
    if (x.m == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory starting requests");
    for (int i = 0; i < n; i++)
        r[i].state = R_NEW, r[i].tries = 0, r[i].first_fail = 0, r[i].h = NULL;
    while (x.done < n && e->code == CKPT_OK) {
        if (held(&x))
            usleep(2000);
        else
            turn(&x, e);
    }
    for (int i = 0; i < n; i++)
        stop(x.m, &r[i]);
    curl_multi_cleanup(x.m);
    if (failed)
        *failed = x.bad;
    return e->code;
}

void http_req_free(http_req_t *r)
{
    free(r->resp);
    r->resp = NULL;
    r->resp_len = r->resp_cap = 0;
}
