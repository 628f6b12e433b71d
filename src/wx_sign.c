/* wx_sign: SHA-1 over the byte-wise sorted concatenation of the parts
 * (protocol notes 1 and 2.2). The parts are hashed one after the other, so
 * msg_signature over a large Encrypt value needs no concatenation buffer. */
#include "wx_sign.h"

#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define WX_SIGN_MAX_PARTS 8

/* Insertion sort of at most WX_SIGN_MAX_PARTS pointers: strcmp order is the
 * byte-wise order the official samples use (PHP SORT_STRING, std::sort). */
static void sort_parts(const char **v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        const char *cur = v[i];
        size_t j = i;
        while (j > 0 && strcmp(v[j - 1], cur) > 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = cur;
    }
}

static void hex_lower(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

/* SHA-1 fetched from the provider once: EVP_sha1() makes every
 * EVP_DigestInit_ex look the implementation up again (OpenSSL 3's
 * "implicit fetch"), about half the cost of signing a short query. */
static EVP_MD *sha1_md;
static pthread_once_t sha1_once = PTHREAD_ONCE_INIT;

static void sha1_fetch(void)
{
    sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
}

static const EVP_MD *sha1(void)
{
    pthread_once(&sha1_once, sha1_fetch);
    return sha1_md ? sha1_md : EVP_sha1();
}

/* Feed the sorted parts to SHA-1 one by one and write the lowercase hex. */
static int digest_parts(const char *const *sorted, size_t n, char *out)
{
    int rc = -1;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    if (!ctx || EVP_DigestInit_ex(ctx, sha1(), NULL) != 1)
        goto done;
    for (size_t i = 0; i < n; i++)
        if (EVP_DigestUpdate(ctx, sorted[i], strlen(sorted[i])) != 1)
            goto done;
    if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen * 2 != WX_SIGN_HEX_LEN)
        goto done;
    hex_lower(md, mdlen, out);
    rc = 0;
done:
    EVP_MD_CTX_free(ctx);
    return rc;
}

int wx_sign_compute(const char *const *parts, size_t n, char *out)
{
    const char *sorted[WX_SIGN_MAX_PARTS];

    if (!parts || !out || n == 0 || n > WX_SIGN_MAX_PARTS)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!parts[i])
            return -1;
        sorted[i] = parts[i];
    }
    sort_parts(sorted, n);
    return digest_parts(sorted, n, out);
}

/* Copy a candidate signature into out as lowercase, accepting exactly
 * WX_SIGN_HEX_LEN hex digits of either case. Its shape is not secret, so the
 * early returns leak nothing about the expected value. */
static bool normalize_hex(const char *sig, char *out)
{
    if (!sig || strnlen(sig, WX_SIGN_HEX_LEN + 1) != WX_SIGN_HEX_LEN)
        return false;
    for (size_t i = 0; i < WX_SIGN_HEX_LEN; i++) {
        char ch = sig[i];
        if (ch >= 'A' && ch <= 'F')
            ch = (char)(ch - 'A' + 'a');
        else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
            return false;
        out[i] = ch;
    }
    out[WX_SIGN_HEX_LEN] = '\0';
    return true;
}

bool wx_sign_verify(const char *const *parts, size_t n, const char *signature)
{
    char want[WX_SIGN_HEX_LEN + 1];
    char got[WX_SIGN_HEX_LEN + 1];

    if (!parts || n == 0 || n > WX_SIGN_MAX_PARTS)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!parts[i] || parts[i][0] == '\0')
            return false;
    if (!normalize_hex(signature, got))
        return false;
    if (wx_sign_compute(parts, n, want) != 0)
        return false;
    return CRYPTO_memcmp(want, got, WX_SIGN_HEX_LEN) == 0;
}

bool wx_sign_check(const char *token, const char *timestamp, const char *nonce,
                   const char *signature)
{
    const char *parts[] = {token, timestamp, nonce};
    return wx_sign_verify(parts, WXS_ARRAY_LEN(parts), signature);
}
