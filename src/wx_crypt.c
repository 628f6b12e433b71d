/* wx_crypt: safe-mode message crypto (protocol notes 2.2-2.5). Every length
 * read from the network is checked before it is used; errors carry the
 * official codes so logs can be compared with the Tencent samples. */
#include "wx_crypt.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "wx_sign.h"

#define WXC_KEY_CHARS 43 /* EncodingAESKey length */
#define WXC_KEY_BYTES 32 /* AES-256 key */
#define WXC_IV_BYTES  16 /* IV = key[0..15] */
#define WXC_BLOCK     32 /* PKCS#7 block size of the protocol (not AES's 16) */
#define WXC_RANDOM    16 /* random prefix */
#define WXC_HEADER    20 /* random prefix + BE32 length */
#define WXC_MAX_TS    20 /* digits of a reply timestamp */

struct wx_crypt {
    char *token;
    char *appid;
    size_t appid_len;
    EVP_CIPHER *cipher; /* fetched once: no per-request provider lookup */
    /* Set up on first use and reused (a fresh context and key schedule
     * per call was ~4,500 instructions): [0] encrypts with key, [1]
     * decrypts with key, [2] decrypts with prev_key. */
    EVP_CIPHER_CTX *ctx[3];
    unsigned char key[WXC_KEY_BYTES];
    unsigned char prev_key[WXC_KEY_BYTES];
    bool has_prev;
};

/* One decrypt attempt's result: where the message sits in the plaintext. */
struct unpacked {
    size_t off;
    size_t len;
};

static const struct {
    int code;
    const char *name;
} err_names[] = {
    {WXC_OK, "OK"},
    {WXC_VALIDATE_SIGNATURE, "ValidateSignature"},
    {WXC_PARSE_XML, "ParseXml"},
    {WXC_COMPUTE_SIGNATURE, "ComputeSignature"},
    {WXC_ILLEGAL_AES_KEY, "IllegalAesKey"},
    {WXC_VALIDATE_APPID, "ValidateAppid"},
    {WXC_ENCRYPT_AES, "EncryptAES"},
    {WXC_DECRYPT_AES, "DecryptAES"},
    {WXC_ILLEGAL_BUFFER, "IllegalBuffer"},
    {WXC_ENCODE_BASE64, "EncodeBase64"},
    {WXC_DECODE_BASE64, "DecodeBase64"},
    {WXC_GEN_RETURN_XML, "GenReturnXml"},
};

const char *wx_crypt_strerror(int code)
{
    for (size_t i = 0; i < WXS_ARRAY_LEN(err_names); i++)
        if (err_names[i].code == code)
            return err_names[i].name;
    return "Unknown";
}

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        util_strlcpy(err, msg, errlen);
}

/* True when all n bytes are in the standard base64 alphabet (no '=').
 * Branch-free on purpose: the Encrypt text is random, so a chain of early
 * exits mispredicts on every character; this form has no early exit and
 * the compiler can vectorise it (it was 2 % of safe-mode CPU as a chain). */
static bool all_b64(const char *s, size_t n)
{
    unsigned ok = 1;

    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        ok &= (unsigned)((unsigned char)(ch - 'A') < 26) |
              (unsigned)((unsigned char)(ch - 'a') < 26) |
              (unsigned)((unsigned char)(ch - '0') < 10) | (unsigned)(ch == '+') |
              (unsigned)(ch == '/');
    }
    return ok != 0;
}

/* EncodingAESKey + "=" decoded leniently: the published sample keys carry
 * non-zero discarded bits in their last character, which a strict RFC 4648
 * decoder rejects. EVP_DecodeBlock ignores those bits (as OFF-CPP does); the
 * alphabet check keeps it from also accepting whitespace or padding. */
static int decode_key(const char *s, unsigned char *key, char *err, size_t errlen)
{
    int rc = WXC_ILLEGAL_AES_KEY;
    char in[WXC_KEY_CHARS + 1];
    unsigned char raw[WXC_KEY_BYTES + 3];

    if (!s || strnlen(s, WXC_KEY_CHARS + 1) != WXC_KEY_CHARS) {
        set_err(err, errlen, "encoding_aes_key must be 43 characters");
        goto done;
    }
    if (!all_b64(s, WXC_KEY_CHARS)) {
        set_err(err, errlen, "encoding_aes_key has a non-base64 character");
        goto done;
    }
    memcpy(in, s, WXC_KEY_CHARS);
    in[WXC_KEY_CHARS] = '=';
    /* 44 characters always decode to 33 bytes, the last one from the '='. */
    if (EVP_DecodeBlock(raw, (const unsigned char *)in, sizeof(in)) != WXC_KEY_BYTES + 1) {
        set_err(err, errlen, "encoding_aes_key does not decode to 32 bytes");
        goto done;
    }
    memcpy(key, raw, WXC_KEY_BYTES);
    rc = WXC_OK;
done:
    OPENSSL_cleanse(raw, sizeof(raw));
    return rc;
}

static char *dup_str(const char *s, size_t *len)
{
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n + 1);
        if (len)
            *len = n;
    }
    return p;
}

void wx_crypt_free(struct wx_crypt *c)
{
    if (!c)
        return;
    OPENSSL_cleanse(c->key, sizeof(c->key));
    OPENSSL_cleanse(c->prev_key, sizeof(c->prev_key));
    for (size_t i = 0; i < WXS_ARRAY_LEN(c->ctx); i++)
        EVP_CIPHER_CTX_free(c->ctx[i]);
    EVP_CIPHER_free(c->cipher);
    free(c->token);
    free(c->appid);
    free(c);
}

/* Check the non-key arguments of wx_crypt_new; the key has its own checker. */
static bool args_ok(struct wx_crypt **out, const char *token, const char *appid, char *err,
                    size_t errlen)
{
    if (!out) {
        set_err(err, errlen, "no output pointer");
        return false;
    }
    if (!token || !*token) {
        set_err(err, errlen, "token is empty");
        return false;
    }
    if (!appid || !*appid) {
        set_err(err, errlen, "appid is empty");
        return false;
    }
    return true;
}

int wx_crypt_new(struct wx_crypt **out, const char *token, const char *encoding_aes_key,
                 const char *prev_key, const char *appid, char *err, size_t errlen)
{
    int rc = WXC_ILLEGAL_AES_KEY;
    struct wx_crypt *c = NULL;

    if (!args_ok(out, token, appid, err, errlen))
        goto done;
    c = calloc(1, sizeof(*c));
    if (!c) {
        set_err(err, errlen, "out of memory");
        goto done;
    }
    if (decode_key(encoding_aes_key, c->key, err, errlen) != WXC_OK)
        goto done;
    if (prev_key && *prev_key) {
        if (decode_key(prev_key, c->prev_key, err, errlen) != WXC_OK)
            goto done;
        c->has_prev = CRYPTO_memcmp(c->key, c->prev_key, WXC_KEY_BYTES) != 0;
    }
    c->token = dup_str(token, NULL);
    c->appid = dup_str(appid, &c->appid_len);
    c->cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
    if (!c->token || !c->appid || !c->cipher) {
        set_err(err, errlen, "out of memory or AES-256-CBC unavailable");
        goto done;
    }
    *out = c;
    c = NULL;
    rc = WXC_OK;
done:
    wx_crypt_free(c);
    return rc;
}

/* AES-256-CBC with IV = key[0..15] and padding disabled: the protocol pads
 * to 32 bytes itself. in and out may be the same buffer; n is a multiple of
 * 32. */
static int aes_cbc(const struct wx_crypt *c, const unsigned char *key, int enc,
                   const unsigned char *in, size_t n, unsigned char *out)
{
    int len = 0;
    int fin = 0;
    /* the contexts are a cache, not part of the value (c is heap memory) */
    EVP_CIPHER_CTX **slot = (EVP_CIPHER_CTX **)&c->ctx[enc ? 0 : key == c->key ? 1 : 2];

    if (n > INT32_MAX)
        return -1;
    if (!*slot) { /* the key schedule, once */
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        if (!ctx || EVP_CipherInit_ex(ctx, c->cipher, NULL, key, key, enc) != 1) {
            EVP_CIPHER_CTX_free(ctx);
            return -1;
        }
        *slot = ctx;
    } else if (EVP_CipherInit_ex(*slot, NULL, NULL, NULL, key, enc) != 1) { /* the IV again */
        return -1;
    }
    if (EVP_CIPHER_CTX_set_padding(*slot, 0) != 1 ||
        EVP_CipherUpdate(*slot, out, &len, in, (int)n) != 1 ||
        EVP_CipherFinal_ex(*slot, out + len, &fin) != 1 || (size_t)len + (size_t)fin != n)
        return -1;
    return 0;
}

/* PKCS#7 with block size 32: the pad length N is 1..32 and all N bytes
 * must equal N (stricter than every sample, which check at most the last
 * byte). Returns the unpadded length, or 0 for bad padding. */
static size_t unpad(const unsigned char *p, size_t n)
{
    unsigned char pad = p[n - 1];
    unsigned char diff = 0;

    if (pad < 1 || pad > WXC_BLOCK)
        return 0;
    for (size_t i = n - pad; i < n; i++)
        diff |= (unsigned char)(p[i] ^ pad);
    return diff == 0 ? n - pad : 0;
}

/* Split random(16) || BE32 len || msg || appid and check the AppID. The
 * appid must be non-empty, so a msg_len that reaches the end is rejected. */
static int unpack(const struct wx_crypt *c, const unsigned char *p, size_t n, struct unpacked *u)
{
    uint32_t msg_len;

    if (n <= WXC_HEADER)
        return WXC_ILLEGAL_BUFFER;
    msg_len = (uint32_t)p[16] << 24 | (uint32_t)p[17] << 16 | (uint32_t)p[18] << 8 | p[19];
    if (msg_len >= n - WXC_HEADER)
        return WXC_ILLEGAL_BUFFER;
    if (!util_secure_eq((const char *)p + WXC_HEADER + msg_len, n - WXC_HEADER - msg_len, c->appid,
                        c->appid_len))
        return WXC_VALIDATE_APPID;
    u->off = WXC_HEADER;
    u->len = msg_len;
    return WXC_OK;
}

/* One attempt with one key: decrypt ct into pt, unpad, unpack. */
static int try_key(const struct wx_crypt *c, const unsigned char *key, const unsigned char *ct,
                   size_t n, unsigned char *pt, struct unpacked *u)
{
    size_t plain;

    if (aes_cbc(c, key, 0, ct, n, pt) != 0)
        return WXC_DECRYPT_AES;
    plain = unpad(pt, n);
    if (plain == 0)
        return WXC_DECRYPT_AES;
    return unpack(c, pt, plain, u);
}

/* Strict base64 for the Encrypt value: standard alphabet, length a multiple
 * of 4, at most two '=' and only at the end. EVP_DecodeBlock alone would
 * accept surrounding whitespace and misplaced padding. Returns the decoded
 * length, or 0 when the text is not base64. */
static size_t b64_decode(const char *s, size_t n, unsigned char *out)
{
    size_t pad = 0;
    int got;

    if (n == 0 || n % 4 != 0 || n > INT32_MAX)
        return 0;
    while (pad < 2 && s[n - 1 - pad] == '=')
        pad++;
    if (!all_b64(s, n - pad))
        return 0;
    got = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
    if (got < 0 || (size_t)got != n / 4 * 3)
        return 0;
    return (size_t)got - pad;
}

/* Decode, then decrypt with the current key and, if that fails and a
 * previous key is configured, with the previous one. The first error is
 * reported: it is the one that matters once rotation is over. */
static int decrypt_body(const struct wx_crypt *c, const char *encrypt, size_t encrypt_len,
                        unsigned char *ct, unsigned char *pt, struct unpacked *u)
{
    int rc;
    size_t n = b64_decode(encrypt, encrypt_len, ct);

    if (n == 0)
        return WXC_DECODE_BASE64;
    if (n % WXC_BLOCK != 0)
        return WXC_DECRYPT_AES;
    rc = try_key(c, c->key, ct, n, pt, u);
    if (rc != WXC_OK && c->has_prev && try_key(c, c->prev_key, ct, n, pt, u) == WXC_OK)
        rc = WXC_OK;
    return rc;
}

/* msg_signature over (token, timestamp, nonce, encrypt). encrypt is copied
 * to a NUL-terminated string because the caller's text is length-bounded. */
static bool signature_ok(const struct wx_crypt *c, const char *msg_signature, const char *timestamp,
                         const char *nonce, const char *encrypt_z)
{
    const char *parts[] = {c->token, timestamp, nonce, encrypt_z};
    return wx_sign_verify(parts, WXS_ARRAY_LEN(parts), msg_signature);
}

int wx_crypt_decrypt(const struct wx_crypt *c, const char *msg_signature, const char *timestamp,
                     const char *nonce, const char *encrypt, size_t encrypt_len, char **out,
                     size_t *outlen)
{
    int rc = WXC_ILLEGAL_BUFFER;
    char *work = NULL;
    char *msg = NULL;
    unsigned char *ct;
    struct unpacked u = {0, 0};
    size_t dec_cap = encrypt_len / 4 * 3 + 3;

    if (!c || !encrypt || !out || !outlen || encrypt_len > SIZE_MAX / 4)
        goto done;
    /* One block: the NUL-terminated Encrypt copy, the ciphertext, the plaintext. */
    work = malloc(encrypt_len + 1 + 2 * dec_cap);
    if (!work)
        goto done;
    memcpy(work, encrypt, encrypt_len);
    work[encrypt_len] = '\0';
    rc = WXC_VALIDATE_SIGNATURE;
    if (!signature_ok(c, msg_signature, timestamp, nonce, work))
        goto done;
    ct = (unsigned char *)work + encrypt_len + 1;
    rc = decrypt_body(c, encrypt, encrypt_len, ct, ct + dec_cap, &u);
    if (rc != WXC_OK)
        goto done;
    rc = WXC_ILLEGAL_BUFFER;
    msg = malloc(u.len + 1);
    if (!msg)
        goto done;
    memcpy(msg, ct + dec_cap + u.off, u.len);
    msg[u.len] = '\0';
    *out = msg;
    *outlen = u.len;
    rc = WXC_OK;
done:
    if (work)
        OPENSSL_cleanse(work, encrypt_len + 1 + 2 * dec_cap);
    free(work);
    return rc;
}

/* random(16) || BE32 len || msg || appid || PKCS#7(32) pad into p, which
 * holds padded bytes. */
static void pack(const struct wx_crypt *c, const unsigned char *random16, const char *msg,
                 size_t msglen, unsigned char *p, size_t padded)
{
    size_t used = WXC_HEADER + msglen + c->appid_len;
    unsigned char pad = (unsigned char)(padded - used);

    memcpy(p, random16, WXC_RANDOM);
    p[16] = (unsigned char)(msglen >> 24);
    p[17] = (unsigned char)(msglen >> 16);
    p[18] = (unsigned char)(msglen >> 8);
    p[19] = (unsigned char)msglen;
    if (msglen)
        memcpy(p + WXC_HEADER, msg, msglen);
    memcpy(p + WXC_HEADER + msglen, c->appid, c->appid_len);
    memset(p + used, pad, pad);
}

/* Pad length for the protocol's 32-byte PKCS#7, or 0 when msglen cannot be
 * carried in the 32-bit length field or the sizes overflow. */
static size_t padded_len(const struct wx_crypt *c, size_t msglen)
{
    size_t used;

    if (msglen > UINT32_MAX || msglen > SIZE_MAX / 2 - c->appid_len - 2 * WXC_BLOCK)
        return 0;
    used = WXC_HEADER + msglen + c->appid_len;
    return used + (WXC_BLOCK - used % WXC_BLOCK);
}

int wx_crypt_encrypt(const struct wx_crypt *c, const char *msg, size_t msglen,
                     const unsigned char *random16, struct buf *out)
{
    int rc = WXC_ILLEGAL_BUFFER;
    unsigned char rnd[WXC_RANDOM];
    unsigned char *work = NULL;
    size_t padded = 0;
    size_t b64cap = 0;
    int b64len;

    if (!c || !out || (!msg && msglen))
        goto done;
    padded = padded_len(c, msglen);
    if (padded == 0)
        goto done;
    b64cap = (padded + 2) / 3 * 4 + 1;
    work = malloc(padded + b64cap);
    if (!work)
        goto done;
    rc = WXC_ENCRYPT_AES;
    if (!random16 && util_random(rnd, sizeof(rnd)) != 0)
        goto done;
    pack(c, random16 ? random16 : rnd, msg, msglen, work, padded);
    if (aes_cbc(c, c->key, 1, work, padded, work) != 0)
        goto done;
    rc = WXC_ENCODE_BASE64;
    b64len = EVP_EncodeBlock(work + padded, work, (int)padded);
    if (b64len <= 0 || buf_append(out, work + padded, (size_t)b64len) != 0)
        goto done;
    rc = WXC_OK;
done:
    if (work)
        OPENSSL_clear_free(work, padded + b64cap);
    return rc;
}

/* The reply's TimeStamp sits outside CDATA and Nonce inside it, so both are
 * checked before they reach the XML: digits only for the timestamp, no
 * control characters and no "]]>" for the nonce. */
static bool reply_fields_ok(const char *timestamp, const char *nonce)
{
    size_t n;

    if (!timestamp || !nonce || !*nonce || strstr(nonce, "]]>"))
        return false;
    n = strnlen(timestamp, WXC_MAX_TS + 1);
    if (n == 0 || n > WXC_MAX_TS)
        return false;
    for (size_t i = 0; i < n; i++)
        if (timestamp[i] < '0' || timestamp[i] > '9')
            return false;
    for (const char *p = nonce; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

int wx_crypt_encrypt_reply(const struct wx_crypt *c, const char *msg, size_t msglen,
                           const char *timestamp, const char *nonce, const unsigned char *random16,
                           struct buf *out)
{
    int rc = WXC_GEN_RETURN_XML;
    struct buf enc = {0};
    char sig[WX_SIGN_HEX_LEN + 1];
    size_t mark = out ? out->len : 0;
    const char *parts[4];

    if (!c || !out || !reply_fields_ok(timestamp, nonce))
        goto done;
    rc = wx_crypt_encrypt(c, msg, msglen, random16, &enc);
    if (rc != WXC_OK)
        goto done;
    parts[0] = c->token;
    parts[1] = timestamp;
    parts[2] = nonce;
    parts[3] = enc.data;
    rc = WXC_COMPUTE_SIGNATURE;
    if (wx_sign_compute(parts, WXS_ARRAY_LEN(parts), sig) != 0)
        goto done;
    rc = WXC_GEN_RETURN_XML;
    /* appended piece by piece: a printf of the ~600-byte Encrypt was
     * ~16,000 instructions */
    if (buf_puts(out, "<xml>\n<Encrypt><![CDATA[") != 0 ||
        buf_append(out, enc.data, enc.len) != 0 ||
        buf_puts(out, "]]></Encrypt>\n<MsgSignature><![CDATA[") != 0 || buf_puts(out, sig) != 0 ||
        buf_puts(out, "]]></MsgSignature>\n<TimeStamp>") != 0 || buf_puts(out, timestamp) != 0 ||
        buf_puts(out, "</TimeStamp>\n<Nonce><![CDATA[") != 0 || buf_puts(out, nonce) != 0 ||
        buf_puts(out, "]]></Nonce>\n</xml>") != 0) {
        out->len = mark; /* out as it was */
        if (out->data)
            out->data[mark] = '\0';
        goto done;
    }
    rc = WXC_OK;
done:
    buf_free(&enc);
    return rc;
}
