#include "upload.h"
#include "smanifest.h"
#include "ckpt.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct upload {
    storage_t *st;
    const ckpt_log_t *lg;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    up_job_t *head, *tail;
    int quit;
};

up_job_t *upload_job_new(int kind, int64_t step, int nsrc)
{
    up_job_t *j = calloc(1, sizeof *j);
    if (j == NULL)
        return NULL;
    j->kind = kind;
    j->step = step;
    j->src.n = nsrc;
    j->src.path = calloc((size_t)nsrc + 1, sizeof *j->src.path);
    j->src.size = calloc((size_t)nsrc + 1, sizeof *j->src.size);
    if (j->src.path == NULL || j->src.size == NULL) {
        upload_job_free(j);
        return NULL;
    }
    return j;
}

void upload_job_free(up_job_t *j)
{
    if (j == NULL)
        return;
    free(j->src.path);
    free(j->src.size);
    free(j->text);
    free(j);
}

/* Deletes one committed step of the job: its manifest first, so that the
 * step is never seen half-deleted, then the objects, by the names the
 * parser recomputed (never names read from storage). A manifest that does
 * not parse, or is another step's or job's, loses only itself. */
static void delete_step(upload_t *u, const char *job, const char *name,
                        int64_t step, ckpt_err_t *e)
{
    char *text = NULL;
    size_t len;
    smanifest_t m = {0};
    ckpt_err_t pe = {0};
    int whole;
    if (storage_get(u->st, name, &text, &len, e) != CKPT_OK)
        goto out;
    whole = sm_parse(text, len, &m, &pe) == CKPT_OK && !strcmp(m.job, job) &&
            m.step == step;
    if (storage_delete(u->st, name, e) != CKPT_OK)
        goto out;
    for (int k = 0; whole && k < m.nnodes && e->code == CKPT_OK; k++)
        storage_delete(u->st, m.obj[k].name, e);
    log_msg(u->lg, whole ? LOG_INFO : LOG_WARN, "storage: deleted step %" PRId64
            "%s%s", step, whole ? "" : "; its objects stay: ",
            whole ? "" : (pe.code ? pe.msg : "the manifest names another step"));
out:
    if (e->code == CKPT_ENOENT)
        err_clear(e); /* gone already: what was wanted */
    sm_free(&m);
    free(text);
}

/* After step j->step is committed: steps after it are left over from a
 * superseded save and go; of the others, the newest keep_remote stay (the
 * one just committed always among them). */
static void retain(upload_t *u, up_job_t *j)
{
    char prefix[300], **names = NULL;
    int n = 0, kept = 0;
    ckpt_err_t e = {0};
    snprintf(prefix, sizeof prefix, SM_PREFIX_FMT, j->job);
    if (storage_list(u->st, prefix, &names, &n, &e) != CKPT_OK)
        goto out;
    for (int i = n - 1; i >= 0 && e.code == CKPT_OK; i--) {
        int64_t s = sm_step_of(j->job, names[i]);
        if (s < 0 || (s <= j->step && kept++ < j->keep_remote) ||
            (s > j->step && j->keep_newer))
            continue;
        delete_step(u, j->job, names[i], s, &e);
    }
out:
    if (e.code != CKPT_OK)
        log_msg(u->lg, LOG_WARN, "storage retention: %s", e.msg);
    storage_names_free(names, n);
}

/* A new save of step j->step supersedes every committed step >= it. */
static void retract(upload_t *u, up_job_t *j)
{
    char prefix[300], **names = NULL;
    int n = 0;
    snprintf(prefix, sizeof prefix, SM_PREFIX_FMT, j->job);
    if (storage_list(u->st, prefix, &names, &n, &j->err) == CKPT_OK)
        for (int i = 0; i < n && j->err.code == CKPT_OK; i++) {
            int64_t s = sm_step_of(j->job, names[i]);
            if (s >= j->step)
                delete_step(u, j->job, names[i], s, &j->err);
        }
    if (j->err.code != CKPT_OK)
        log_msg(u->lg, LOG_WARN, "storage: steps from %" PRId64 " on are "
                "superseded but could not be removed: %s", j->step, j->err.msg);
    storage_names_free(names, n);
}

static void run(upload_t *u, up_job_t *j)
{
    double t0 = log_now();
    if (j->kind == JOB_OBJECT) {
        for (int i = 0; i < j->src.n; i++)
            j->bytes += j->src.size[i];
        storage_put_files(u->st, j->name, &j->src, &j->err);
    } else if (j->kind == JOB_COMMIT) {
        j->bytes = j->len;
        if (storage_put(u->st, j->name, j->text, j->len, &j->err) == CKPT_OK &&
            j->keep_remote > 0)
            retain(u, j);
    } else {
        retract(u, j);
    }
    j->seconds = log_now() - t0;
}

int upload_run(storage_t *st, const ckpt_log_t *lg, up_job_t *j,
               ckpt_err_t *e)
{
    upload_t u = {.st = st, .lg = lg};
    run(&u, j);
    j->state = j->err.code == CKPT_OK ? JOB_DONE : JOB_FAILED;
    if (j->err.code != CKPT_OK)
        return err_set(e, j->err.code, "%s", j->err.msg);
    return CKPT_OK;
}

static void *worker(void *arg)
{
    upload_t *u = arg;
    pthread_mutex_lock(&u->lock);
    for (;;) {
        up_job_t *j;
        while (u->head == NULL && !u->quit)
            pthread_cond_wait(&u->cond, &u->lock);
        if (u->head == NULL)
            break;
        j = u->head;
        u->head = j->next;
        if (u->head == NULL)
            u->tail = NULL;
        pthread_mutex_unlock(&u->lock);
        run(u, j);
        if (j->detached) {
            upload_job_free(j);
            pthread_mutex_lock(&u->lock);
            continue;
        }
        pthread_mutex_lock(&u->lock);
        j->state = j->err.code == CKPT_OK ? JOB_DONE : JOB_FAILED;
    }
    pthread_mutex_unlock(&u->lock);
    return NULL;
}

upload_t *upload_start(storage_t *st, const ckpt_log_t *lg)
{
    upload_t *u = calloc(1, sizeof *u);
    if (u == NULL)
        return NULL;
    u->st = st;
    u->lg = lg;
    pthread_mutex_init(&u->lock, NULL);
    pthread_cond_init(&u->cond, NULL);
    if (pthread_create(&u->thread, NULL, worker, u) != 0) {
        pthread_mutex_destroy(&u->lock);
        pthread_cond_destroy(&u->cond);
        free(u);
        return NULL;
    }
    return u;
}

void upload_stop(upload_t *u)
{
    if (u == NULL)
        return;
    pthread_mutex_lock(&u->lock);
    u->quit = 1;
    pthread_cond_signal(&u->cond);
    pthread_mutex_unlock(&u->lock);
    pthread_join(u->thread, NULL);
    pthread_mutex_destroy(&u->lock);
    pthread_cond_destroy(&u->cond);
    free(u);
}

void upload_submit(upload_t *u, up_job_t *j)
{
    j->state = JOB_BUSY;
    j->next = NULL;
    pthread_mutex_lock(&u->lock);
    if (u->tail)
        u->tail->next = j;
    else
        u->head = j;
    u->tail = j;
    pthread_cond_signal(&u->cond);
    pthread_mutex_unlock(&u->lock);
}

int upload_state(upload_t *u, const up_job_t *j, ckpt_err_t *e)
{
    int s;
    pthread_mutex_lock(&u->lock);
    s = j->state;
    pthread_mutex_unlock(&u->lock);
    if (s == JOB_FAILED)
        err_set(e, j->err.code, "%s", j->err.msg);
    return s;
}
