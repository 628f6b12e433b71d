/* wx_sign: WeChat callback signatures. signature = hex(sha1(sort(parts)
 * joined)), parts sorted byte-wise (strcmp), lowercase hex. Used for the URL
 * signature (token, timestamp, nonce) and msg_signature (+ Encrypt). */
#ifndef WXS_WX_SIGN_H
#define WXS_WX_SIGN_H
#include <stdbool.h>
#include <stddef.h>
#include "util.h"

#define WX_SIGN_HEX_LEN 40

/* Compute the signature of n NUL-terminated parts (n <= 8) into
 * out[WX_SIGN_HEX_LEN + 1]. Returns 0, or -1 on bad arguments. */
int wx_sign_compute(const char *const *parts, size_t n, char *out) WXS_MUSTCHECK;

/* Check signature against the parts in constant time. False for NULL or
 * empty parts, or a signature that is not 40 hex characters. */
bool wx_sign_verify(const char *const *parts, size_t n, const char *signature);

/* The URL signature: parts token, timestamp, nonce. */
bool wx_sign_check(const char *token, const char *timestamp, const char *nonce,
                   const char *signature);
#endif
