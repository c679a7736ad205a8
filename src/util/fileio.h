/* File-system primitives with errno-to-ckpt error mapping. */
#ifndef CKPT_FILEIO_H
#define CKPT_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

/* Whole-buffer pwrite/pread, retrying short transfers and EINTR. */
int fio_pwrite(int fd, const void *buf, size_t len, uint64_t off,
               const char *path, ckpt_err_t *e);
int fio_pread(int fd, void *buf, size_t len, uint64_t off, const char *path,
              ckpt_err_t *e);
/* Opens path for writing in place (created if absent, not truncated: the
 * caller writes every byte and cuts the end), mode 0600 whatever it was:
 * an fd, or -1 with errno. A symbolic link, a hard-linked file, a FIFO or
 * anything but a regular file of one name at path is replaced by a new
 * file, never written through. */
int fio_open_rewrite(const char *path);
/* Opens a regular file for reading: -1 with errno (EINVAL for anything but
 * a regular file) else; a FIFO planted at path does not block the open. */
int fio_open_read(const char *path);
int fio_fsync_dir(const char *dir, ckpt_err_t *e);
int fio_fsync_path(const char *path, ckpt_err_t *e); /* a file written earlier */
/* The one way a file is replaced atomically: tmp, written through fd (or,
 * for fio_write_replace, created 0600 with buf), is fsync'd, closed and
 * renamed over path, and path's directory is fsync'd, so that a crash
 * leaves the old file or the new one, never a mix. fd is closed in every
 * case; on failure (or if e already holds one) tmp is removed. */
int fio_replace(int fd, const char *tmp, const char *path, ckpt_err_t *e);
int fio_write_replace(const char *path, const char *tmp, const void *buf,
                      size_t len, ckpt_err_t *e);
int fio_mkdirs(const char *path, ckpt_err_t *e);  /* mkdir -p, mode 0700 */
int fio_rmtree(const char *path);                 /* rm -rf; 0 or -1 */
int fio_file_size(const char *path, uint64_t *size); /* 0 or -1 */

/* XXH3-64 of len bytes at off, read in pieces so that memory stays bounded
 * whatever the size. CKPT_ECORRUPT if the file is shorter than off + len. */
int fio_hash_range(int fd, uint64_t off, uint64_t len, uint64_t *digest,
                   const char *path, ckpt_err_t *e);

/* XXH3-64 of a whole file of the given size (CKPT_ECORRUPT on another size). */
int fio_digest(int fd, uint64_t size, uint64_t *digest, const char *path,
               ckpt_err_t *e);
/* fio_digest of the regular file at path (opened by fio_open_read). */
int fio_digest_path(const char *path, uint64_t size, uint64_t *digest,
                    ckpt_err_t *e);

#endif
