/* Azure Storage Shared Key signatures and the hashes Azure checks, through
 * OpenSSL. */
#ifndef CKPT_AZURE_SIGN_H
#define CKPT_AZURE_SIGN_H

#include <stddef.h>

/* base64 of data; out needs 4 * ceil(n / 3) + 1 bytes. */
void az_base64(const unsigned char *data, size_t n, char *out);
/* Decodes base64 into out (cap bytes); returns the length, or -1. */
int az_unbase64(const char *in, unsigned char *out, size_t cap);
/* base64 of HMAC-SHA256(key, msg); out needs 45 bytes. */
int az_hmac(const unsigned char *key, size_t klen, const char *msg, char *out);
/* The RFC 1123 date for x-ms-date, independent of the locale. */
void az_date(char *buf, size_t n);

#endif
