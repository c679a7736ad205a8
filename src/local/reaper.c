#include "reaper.h"
#include "fileio.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct job {
    struct job *next;
    char path[];
} job_t;

struct reaper {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    job_t *head, **tail;
    int stopping;
};

static void *run(void *arg)
{
    reaper_t *r = arg;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        job_t *j = r->head;
        if (j == NULL) {
            if (r->stopping)
                break;
            pthread_cond_wait(&r->wake, &r->lock);
            continue;
        }
        r->head = j->next;
        if (r->head == NULL)
            r->tail = &r->head;
        pthread_mutex_unlock(&r->lock);
        fio_rmtree(j->path);
        free(j);
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

reaper_t *reaper_start(void)
{
    reaper_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->wake, NULL);
    r->tail = &r->head;
    if (pthread_create(&r->thread, NULL, run, r) != 0) {
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->wake);
        free(r);
        return NULL;
    }
    return r;
}

void reaper_add(reaper_t *r, const char *path)
{
    size_t n = strlen(path) + 1;
    job_t *j = r ? malloc(sizeof *j + n) : NULL;
    if (j == NULL) {
        fio_rmtree(path);
        return;
    }
    memcpy(j->path, path, n);
    j->next = NULL;
    pthread_mutex_lock(&r->lock);
    *r->tail = j;
    r->tail = &j->next;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
}

void reaper_stop(reaper_t *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->lock);
    r->stopping = 1;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->wake);
    free(r);
}
