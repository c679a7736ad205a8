/* Runs a batch of HTTP requests over libcurl's multi interface, a bounded
 * number in flight, each retried with exponential backoff and jitter on
 * transient failures (408, 429, 500, 502, 503, 504, timeouts, resets, short
 * bodies) and honouring Retry-After. No retry starts later than the storage
 * timeout after a request's first failure, and no attempt lasts longer than
 * the storage timeout, whatever the service answers. Any other failure stops
 * the batch at once. */
#ifndef CKPT_HTTP_H
#define CKPT_HTTP_H

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdint.h>
#include "error.h"

/* The largest body kept in memory (storage_get, a List Blobs page): more
 * is refused, never allocated. */
#define HTTP_BODY_MAX (64u << 20)
#define HTTP_BODY_MAX_TEXT "64 MiB"
/* In the message of a request given up after the timeout, for the reader;
 * callers test ERR_CAUSE_DOWN. */
#define HTTP_DOWN_MARK "(storage_timeout)"
/* The longest wait a Retry-After may ask for; more is malformed. */
#define HTTP_RETRY_AFTER_MAX 86400

typedef struct http_req http_req_t;

/* Sets the URL and the headers of one attempt (a signature has a date, so
 * each attempt is prepared afresh). */
typedef int (*http_prepare_fn)(void *ctx, http_req_t *r, CURL *h,
                               struct curl_slist **headers, ckpt_err_t *e);

struct http_req {
    /* Set by the caller. */
    int op;                   /* for the counters: the caller's kind */
    const char *method;       /* GET, PUT, DELETE */
    const char *what;         /* the object, for messages */
    http_prepare_fn prepare;
    void *ctx;
    const char *body;         /* request body in memory, or NULL ... */
    const int *src_fd;        /* ... or bytes of these files read back to back */
    const uint64_t *src_size;
    int src_n;
    uint64_t body_off, body_len;
    char md5[32];             /* Content-MD5 of the body (base64), or "" */
    uint64_t range_off, range_len; /* a ranged GET when range_len > 0 */
    double give_up_by;        /* if > 0: no retry starts after this time */
    int sink_fd;              /* a 2xx body goes to sink_fd at offset sink_off */
    uint64_t sink_off;        /* ... unless sink_fd < 0: then to resp */
    /* Results. */
    long status;
    char *resp;               /* the body (when not sunk), NUL-terminated */
    size_t resp_len, resp_cap;
    char error_code[64];      /* x-ms-error-code of a failure, printable */
    /* The engine's. */
    CURL *h;
    struct curl_slist *hdrs;
    int state, tries, timed_out;
    uint64_t pos, got;
    double began, first_fail, next_try, attempt_end;
    double retry_after;       /* < 0: none, or not one we accept */
    char refused[96];         /* why the answer is refused for good */
};

/* A Retry-After value (the header's text after the colon): delta-seconds,
 * 1 to 9 digits between optional blanks, at most HTTP_RETRY_AFTER_MAX.
 * Returns 0 and sets *seconds, or -1 for anything else (an HTTP-date,
 * "inf", a sign, a fraction, garbage): the caller then keeps its own
 * backoff. Pure: no state, no clock. */
int http_parse_retry_after(const char *value, double *seconds);
/* A Content-Length value: 1 to 19 digits between optional blanks. Returns
 * 0 and sets *len, or -1 (*len untouched). Pure. */
int http_parse_content_length(const char *value, uint64_t *len);

/* What a batch answers to, set by its caller: how long a request may keep
 * failing, a switch that pauses every transfer while it is on (tests hold
 * storage with it), and where each attempt is counted. */
typedef struct http_env {
    int timeout;              /* seconds */
    atomic_int *hold;
    void (*count)(void *ctx, int op, uint64_t bytes, int retried);
    void *ctx;
} http_env_t;

/* Runs the n requests, at most `concurrency` at a time. On failure e says
 * which request failed and why; *failed (may be NULL) gets its index. */
int http_run(const http_env_t *env, http_req_t *r, int n, int concurrency,
             int *failed, ckpt_err_t *e);
void http_req_free(http_req_t *r);
/* Up to want bytes of r's body at offset at; the count, or -1. */
int http_body_read(const http_req_t *r, char *p, uint64_t at, size_t want);

#endif
