#include "azure_sign.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void az_base64(const unsigned char *data, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, data, (int)n);
}

int az_unbase64(const char *in, unsigned char *out, size_t cap)
{
    size_t len = strlen(in);
    int n;
    if (len == 0 || len % 4 != 0 || len / 4 * 3 > cap)
        return -1;
    n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
    if (n < 0)
        return -1;
    /* EVP_DecodeBlock counts the padding as data. */
    if (in[len - 1] == '=')
        n--;
    if (in[len - 2] == '=')
        n--;
    return n;
}

int az_hmac(const unsigned char *key, size_t klen, const char *msg, char *out)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mlen = 0;
    if (HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg,
             strlen(msg), mac, &mlen) == NULL)
        return -1;
    az_base64(mac, mlen, out);
    return 0;
}

void az_date(char *buf, size_t n)
{
    static const char *day[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    time_t now = time(NULL);
    gmtime_r(&now, &tm);
    snprintf(buf, n, "%s, %02d %s %04d %02d:%02d:%02d GMT", day[tm.tm_wday],
             tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
}
