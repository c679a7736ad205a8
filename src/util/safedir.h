/* Directories trusted on a node shared with other users: no other user may
 * be able to rename, replace or fill what the library reads back. */
#ifndef CKPT_SAFEDIR_H
#define CKPT_SAFEDIR_H

#include "error.h"

/* Checks path and every directory on the way down from "/": each owned by
 * the user or root, and writable by group or others only with the sticky
 * bit (as /tmp); a symbolic link only if owned by the user or root, and
 * then its target the same way. With `own_last`, the last directory may
 * not be writable by group or others at all. A missing or unsafe
 * directory is CKPT_ECONFIG naming it; `what` names the setting. */
int safedir_check(const char *path, const char *what, int own_last,
                  ckpt_err_t *e);

/* The node's cache <cache_dir>/<job>/node-<node>: cache_dir checked as
 * above (created 0700 where missing), <job> and node-<node> the user's own:
 * real directories, owned by the user, not writable by group or others
 * (created 0700 where missing). */
int safedir_cache(const char *cache_dir, const char *job, int node,
                  ckpt_err_t *e);

#endif
