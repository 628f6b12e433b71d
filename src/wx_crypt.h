/* wx_crypt: safe-mode (AES) message crypto of the official-account callback.
 * AESKey = base64(EncodingAESKey + "="), 32 bytes, decoded leniently (sample
 * keys are non-canonical base64); AES-256-CBC, IV = key[0..15], PKCS#7 with
 * block size 32 (every pad byte checked); plaintext = random(16) ||
 * len(BE32) || msg || appid. OpenSSL EVP only. Errors are the official
 * codes below, for logs; callers map them to HTTP 401/400 without telling a
 * padding failure from an AppID failure. A context keeps its AES contexts
 * between calls: one thread at a time. */
#ifndef WXS_WX_CRYPT_H
#define WXS_WX_CRYPT_H
#include <stddef.h>
#include "util.h"

enum wx_crypt_err {
    WXC_OK = 0,
    WXC_VALIDATE_SIGNATURE = -40001,
    WXC_PARSE_XML = -40002,
    WXC_COMPUTE_SIGNATURE = -40003,
    WXC_ILLEGAL_AES_KEY = -40004,
    WXC_VALIDATE_APPID = -40005,
    WXC_ENCRYPT_AES = -40006,
    WXC_DECRYPT_AES = -40007,
    WXC_ILLEGAL_BUFFER = -40008,
    WXC_ENCODE_BASE64 = -40009,
    WXC_DECODE_BASE64 = -40010,
    WXC_GEN_RETURN_XML = -40011,
};

/* Static name of an error code, e.g. "ValidateAppid" (for logs). */
const char *wx_crypt_strerror(int code);

struct wx_crypt;

/* Build a context. prev_key may be NULL or "" (no rotation); when set,
 * decryption falls back to it if the current key fails, so a key change in
 * the WeChat console does not drop pushes. Replies always use the current
 * key. Returns 0 or WXC_ILLEGAL_AES_KEY with a reason in err. Caller frees
 * with wx_crypt_free(). token and appid are copied. */
int wx_crypt_new(struct wx_crypt **out, const char *token, const char *encoding_aes_key,
                 const char *prev_key, const char *appid, char *err, size_t errlen) WXS_MUSTCHECK;
void wx_crypt_free(struct wx_crypt *c);

/* Verify msg_signature over (token, timestamp, nonce, encrypt) in constant
 * time, then base64-decode, decrypt, unpad and unpack encrypt, and check the
 * AppID. On success *out is the message (malloc'd, NUL-terminated, caller
 * frees) and *outlen its byte length. On failure *out is untouched and the
 * code says what failed. */
int wx_crypt_decrypt(const struct wx_crypt *c, const char *msg_signature, const char *timestamp,
                     const char *nonce, const char *encrypt, size_t encrypt_len, char **out,
                     size_t *outlen) WXS_MUSTCHECK;

/* Encrypt msg into the passive-reply envelope (protocol notes 2.4):
 * <xml>\n<Encrypt><![CDATA[..]]></Encrypt>\n<MsgSignature><![CDATA[..]]>
 * </MsgSignature>\n<TimeStamp>ts</TimeStamp>\n<Nonce><![CDATA[..]]></Nonce>\n
 * </xml>, appended to out. random16 NULL = 16 fresh CSPRNG bytes (tests pass
 * fixed ones). */
int wx_crypt_encrypt_reply(const struct wx_crypt *c, const char *msg, size_t msglen,
                           const char *timestamp, const char *nonce, const unsigned char *random16,
                           struct buf *out) WXS_MUSTCHECK;

/* The bare Encrypt value (base64) for msg; appended to out. */
int wx_crypt_encrypt(const struct wx_crypt *c, const char *msg, size_t msglen,
                     const unsigned char *random16, struct buf *out) WXS_MUSTCHECK;
#endif
