/* Removes discarded step directories in a background thread, so that a
 * save does not stall on unlinking gigabytes of old files. Correctness never
 * depends on it: a discarded step was renamed away atomically first, and
 * ckpt_init removes any that a dead job left behind. */
#ifndef CKPT_REAPER_H
#define CKPT_REAPER_H

typedef struct reaper reaper_t;

reaper_t *reaper_start(void);       /* NULL if no thread could start */
/* Queues path for removal; without a reaper, removes it now. */
void reaper_add(reaper_t *r, const char *path);
void reaper_stop(reaper_t *r);      /* finishes the queue, joins */

#endif
