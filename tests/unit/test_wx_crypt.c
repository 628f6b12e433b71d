/* wx_crypt against the protocol notes' vectors (V3, V5, V6), round trips
 * with 32-byte PKCS#7 edge cases, and every rejection path: signature,
 * base64, length, padding, unpacking, AppID, keys and key rotation. The
 * malformed ciphertexts are built here with EVP directly so the code under
 * test does not grade its own homework. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "wx_crypt.h"
#include "wx_sign.h"

#define V3_TOKEN "spamtest"
#define V3_KEY   "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
#define V3_APPID "wx2c2769f8efd9abc2"
#define V3_TS    "1409735669"
#define V3_NONCE "1320562132"
#define V3_SIG   "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
#define V3_ENCRYPT                                                                                 \
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PG" \
    "HQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6" \
    "tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp" \
    "3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhv" \
    "Ql+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
#define V3_PLAIN                                                                                   \
    "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n"                                  \
    "<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n"                      \
    "<CreateTime>1409735668</CreateTime>\n"                                                        \
    "<MsgType><![CDATA[text]]></MsgType>\n"                                                        \
    "<Content><![CDATA[abcdteT]]></Content>\n"                                                     \
    "<MsgId>6054768590064713728</MsgId>\n</xml>"
/* The AES keys V3_KEY (derived in the notes) and V6_KEY decode to. */
static const char v3_aes_hex[] = "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051";
static const char v6_aes_hex[] = "916c4f115d94103cb15a998f74a0b71787603c398ebdf297d471a71140d2d5a4";

#define V5_TOKEN "pamtest"
#define V5_APPID "wxb11529c136998cb6"
#define V5_MSG                                                                                     \
    "\xe6\x88\x91\xe6\x98\xaf\xe4\xb8\xad\xe6\x96\x87"                                             \
    "abcd123"
#define V5_ENCRYPT                                                                                 \
    "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
#define V5_SIG "82c962d39941aa48552f90ef55aa323dc620cc10"

#define V6_TOKEN "123456"
#define V6_KEY   "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
#define V6_APPID "wx49f0ab532d5d035a"
#define V6_TS    "1411525903"
#define V6_NONCE "461056294"
#define V6_MSG                                                                                     \
    "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n"            \
    "<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n"                                \
    "<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n"                        \
    "<CreateTime>1411525903</CreateTime>\n</xml>"
#define V6_REPLY                                                                                   \
    "<xml>\n<Encrypt><![CDATA[9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3" \
    "nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIk" \
    "MKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2" \
    "IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8" \
    "kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3]]></"                                               \
    "Encrypt>\n<MsgSignature><![CDATA[407518b7649e86"                                              \
    "ef23978113f92d27afa9296533]]></MsgSignature>\n<TimeStamp>1411525903</"                        \
    "TimeStamp>\n<Nonce><![CD"                                                                     \
    "ATA[461056294]]></Nonce>\n</xml>"
#define V6_IN_SIG "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
#define V6_IN_ENCRYPT                                                                              \
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTy" \
    "eDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYy" \
    "olBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWO" \
    "MZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7ml" \
    "sl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
#define V6_IN_PLAIN                                                                                \
    "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n"                               \
    "<FromUserName><![CDATA[messense]]></FromUserName>\n<CreateTime>1411525903</CreateTime>\n"     \
    "<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n"                   \
    "<MsgId>4363689963896700987</MsgId>\n<AgentID>1</AgentID>\n</xml>"

#define OTHER_KEY "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj"

static struct wx_crypt *make(const char *token, const char *key, const char *prev,
                             const char *appid)
{
    struct wx_crypt *c = NULL;
    char err[128] = "";
    int rc = wx_crypt_new(&c, token, key, prev, appid, err, sizeof(err));
    if (rc != WXC_OK)
        print_message("wx_crypt_new: %s\n", err);
    assert_int_equal(rc, WXC_OK);
    assert_non_null(c);
    return c;
}

static void sign4(const char *token, const char *ts, const char *nonce, const char *enc, char *out)
{
    const char *parts[] = {token, ts, nonce, enc};
    assert_int_equal(wx_sign_compute(parts, 4, out), 0);
}

/* Decrypt with a signature computed here for (token, ts, nonce, enc). */
static int decrypt_signed(const struct wx_crypt *c, const char *token, const char *enc, char **out,
                          size_t *outlen)
{
    char sig[WX_SIGN_HEX_LEN + 1];
    sign4(token, "1", "2", enc, sig);
    return wx_crypt_decrypt(c, sig, "1", "2", enc, strlen(enc), out, outlen);
}

static void hex2bin(const char *hex, unsigned char *out)
{
    for (size_t i = 0; hex[2 * i]; i++) {
        char b[3] = {hex[2 * i], hex[2 * i + 1], '\0'};
        out[i] = (unsigned char)strtoul(b, NULL, 16);
    }
}

/* Raw AES-256-CBC (IV = key[0..15], no padding) with a hex key. */
static void aes_raw(const char *key_hex, int enc, const unsigned char *in, size_t n,
                    unsigned char *out)
{
    unsigned char key[32];
    int len = 0;
    int fin = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    hex2bin(key_hex, key);
    assert_non_null(ctx);
    assert_int_equal(EVP_CipherInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, key, enc), 1);
    assert_int_equal(EVP_CIPHER_CTX_set_padding(ctx, 0), 1);
    assert_int_equal(EVP_CipherUpdate(ctx, out, &len, in, (int)n), 1);
    assert_int_equal(EVP_CipherFinal_ex(ctx, out + len, &fin), 1);
    assert_int_equal(len + fin, (int)n);
    EVP_CIPHER_CTX_free(ctx);
}

static size_t b64_decode(const char *s, unsigned char *out)
{
    size_t n = strlen(s);
    int got = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
    assert_true(got >= 0);
    return (size_t)got - (n && s[n - 1] == '=') - (n > 1 && s[n - 2] == '=');
}

/* ---- known answers ---- */

static void test_v3_decrypt(void **state)
{
    struct wx_crypt *c = make(V3_TOKEN, V3_KEY, NULL, V3_APPID);
    char *out = NULL;
    size_t len = 0;
    (void)state;
    assert_int_equal(
        wx_crypt_decrypt(c, V3_SIG, V3_TS, V3_NONCE, V3_ENCRYPT, strlen(V3_ENCRYPT), &out, &len),
        WXC_OK);
    assert_int_equal(len, 280);
    assert_int_equal(strlen(V3_PLAIN), 280);
    assert_memory_equal(out, V3_PLAIN, 280);
    assert_int_equal(out[280], '\0');
    free(out);
    /* Encrypt given as a slice of a larger buffer: only encrypt_len counts. */
    char slice[sizeof(V3_ENCRYPT) + 8];
    memcpy(slice, V3_ENCRYPT "]]></En", sizeof(V3_ENCRYPT) + 7);
    out = NULL;
    assert_int_equal(
        wx_crypt_decrypt(c, V3_SIG, V3_TS, V3_NONCE, slice, strlen(V3_ENCRYPT), &out, &len),
        WXC_OK);
    assert_int_equal(len, 280);
    free(out);
    /* Uppercase hex in msg_signature is the same signature. */
    out = NULL;
    assert_int_equal(wx_crypt_decrypt(c, "5D197AAFFBA7E9B25A30732F161A50DEE96BD5FA", V3_TS,
                                      V3_NONCE, V3_ENCRYPT, strlen(V3_ENCRYPT), &out, &len),
                     WXC_OK);
    free(out);
    wx_crypt_free(c);
}

/* V6's push packs to 20 + 281 + 18 = 319 bytes: one pad byte, 0x01. */
static void test_v6_decrypt_pad1(void **state)
{
    struct wx_crypt *c = make(V6_TOKEN, V6_KEY, NULL, V6_APPID);
    unsigned char ct[512];
    unsigned char pt[512];
    char *out = NULL;
    size_t len = 0;
    (void)state;
    size_t n = b64_decode(V6_IN_ENCRYPT, ct);
    assert_int_equal(n % 32, 0);
    aes_raw(v6_aes_hex, 0, ct, n, pt);
    assert_int_equal(pt[n - 1], 1);
    assert_int_equal(wx_crypt_decrypt(c, V6_IN_SIG, V6_TS, V6_NONCE, V6_IN_ENCRYPT,
                                      strlen(V6_IN_ENCRYPT), &out, &len),
                     WXC_OK);
    assert_int_equal(len, 281);
    assert_int_equal(strlen(V6_IN_PLAIN), 281);
    assert_memory_equal(out, V6_IN_PLAIN, 281);
    free(out);
    wx_crypt_free(c);
}

static void test_v5_encrypt(void **state)
{
    struct wx_crypt *c = make(V5_TOKEN, V3_KEY, NULL, V5_APPID);
    struct buf b = {0};
    char sig[WX_SIGN_HEX_LEN + 1];
    char *out = NULL;
    size_t len = 0;
    (void)state;
    assert_int_equal(strlen(V5_MSG), 19);
    assert_int_equal(
        wx_crypt_encrypt(c, V5_MSG, strlen(V5_MSG), (const unsigned char *)"aaaabbbbccccdddd", &b),
        WXC_OK);
    assert_string_equal(b.data, V5_ENCRYPT);
    sign4(V5_TOKEN, "1409304348", "xxxxxx", b.data, sig);
    assert_string_equal(sig, V5_SIG);
    assert_int_equal(wx_crypt_decrypt(c, V5_SIG, "1409304348", "xxxxxx", b.data, b.len, &out, &len),
                     WXC_OK);
    assert_int_equal(len, 19);
    assert_memory_equal(out, V5_MSG, 19);
    free(out);
    buf_free(&b);
    wx_crypt_free(c);
}

static void test_v6_reply(void **state)
{
    struct wx_crypt *c = make(V6_TOKEN, V6_KEY, NULL, V6_APPID);
    struct buf b = {0};
    (void)state;
    assert_int_equal(buf_puts(&b, "prefix|"), 0);
    assert_int_equal(wx_crypt_encrypt_reply(c, V6_MSG, strlen(V6_MSG), V6_TS, V6_NONCE,
                                            (const unsigned char *)"1234567890123456", &b),
                     WXC_OK);
    assert_string_equal(b.data, "prefix|" V6_REPLY);
    assert_int_equal(b.len, strlen("prefix|" V6_REPLY));
    buf_free(&b);
    wx_crypt_free(c);
}

/* ---- round trips ---- */

/* 20 + 26 + 18 (V3_APPID) = 64: already aligned, so a whole block of 32 x
 * 0x20 must be added, and removed again on decrypt. */
static void test_pad32(void **state)
{
    struct wx_crypt *c = make(V3_TOKEN, V3_KEY, NULL, V3_APPID);
    const char msg[] = "abcdefghijklmnopqrstuvwxyz";
    struct buf b = {0};
    unsigned char ct[256];
    unsigned char pt[256];
    char *out = NULL;
    size_t len = 0;
    (void)state;
    assert_int_equal(wx_crypt_encrypt(c, msg, 26, NULL, &b), WXC_OK);
    size_t n = b64_decode(b.data, ct);
    assert_int_equal(n, 96);
    aes_raw(v3_aes_hex, 0, ct, n, pt);
    for (size_t i = 64; i < 96; i++)
        assert_int_equal(pt[i], 0x20);
    assert_memory_equal(pt + 16, "\0\0\0\x1a", 4);
    assert_memory_equal(pt + 20, msg, 26);
    assert_memory_equal(pt + 46, V3_APPID, 18);
    assert_int_equal(decrypt_signed(c, V3_TOKEN, b.data, &out, &len), WXC_OK);
    assert_int_equal(len, 26);
    assert_memory_equal(out, msg, 26);
    free(out);
    buf_free(&b);
    wx_crypt_free(c);
}

static void test_round_trips(void **state)
{
    static const size_t lens[] = {0, 1, 11, 12, 13, 25, 26, 27, 31, 32, 33, 1000, 70000};
    struct wx_crypt *c = make(V3_TOKEN, V3_KEY, NULL, V3_APPID);
    char *msg = malloc(70000);
    (void)state;
    assert_non_null(msg);
    for (size_t i = 0; i < 70000; i++)
        msg[i] = (char)(i * 7 + 3); /* binary, embedded NULs included */
    for (size_t i = 0; i < WXS_ARRAY_LEN(lens); i++) {
        struct buf a = {0};
        struct buf b = {0};
        char *out = NULL;
        size_t len = 1;
        print_message("len %zu\n", lens[i]);
        assert_int_equal(wx_crypt_encrypt(c, msg, lens[i], NULL, &a), WXC_OK);
        assert_int_equal(wx_crypt_encrypt(c, msg, lens[i], NULL, &b), WXC_OK);
        assert_string_not_equal(a.data, b.data); /* fresh random prefix each time */
        assert_null(memchr(a.data, '\n', a.len));
        assert_int_equal(a.len % 4, 0);
        size_t padded = (20 + lens[i] + 18) / 32 * 32 + 32;
        assert_int_equal(a.len, (padded + 2) / 3 * 4);
        assert_int_equal(decrypt_signed(c, V3_TOKEN, a.data, &out, &len), WXC_OK);
        assert_int_equal(len, lens[i]);
        if (len)
            assert_memory_equal(out, msg, len);
        assert_int_equal(out[len], '\0');
        free(out);
        buf_free(&a);
        buf_free(&b);
    }
    free(msg);
    wx_crypt_free(c);
}

/* ---- hand-built plaintexts: padding and unpacking ---- */

struct crafted {
    const char *name;
    uint32_t len_field;       /* BE32 length written into the header */
    size_t msg_len;           /* bytes of message actually present */
    const char *appid;        /* appended after the message */
    size_t pad_len;           /* bytes of padding appended */
    const unsigned char *pad; /* NULL: pad_len bytes of value pad_len */
    size_t trunc;             /* drop this many trailing ciphertext bytes */
    int want;
};

static const unsigned char pad_zero[14] = {0};
static const unsigned char pad_33[] = {33, 33, 33, 33, 33, 33, 33, 33, 33, 33, 33, 33, 33, 33};
static const unsigned char pad_mixed[] = {14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 13, 14};
static const unsigned char pad_first[] = {13, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14};
static const unsigned char pad_32_bad[32] = {32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
                                             32, 32, 32, 32, 32, 31, 32, 32, 32, 32, 32,
                                             32, 32, 32, 32, 32, 32, 32, 32, 32, 32};

/* Each row's 20 + msg_len + strlen(appid) + pad_len is a multiple of 32
 * (run_crafted asserts it). The "good" rows prove the builder itself is
 * right, so the failures below them fail for the stated reason. */
static const struct crafted crafted[] = {
    {"good pad 1", 25, 25, V3_APPID, 1, NULL, 0, WXC_OK},
    {"good pad 14", 12, 12, V3_APPID, 14, NULL, 0, WXC_OK},
    {"good pad 16", 10, 10, V3_APPID, 16, NULL, 0, WXC_OK},
    {"good pad 32", 26, 26, V3_APPID, 32, NULL, 0, WXC_OK},
    {"pad byte 0", 12, 12, V3_APPID, 14, pad_zero, 0, WXC_DECRYPT_AES},
    {"pad byte 33", 12, 12, V3_APPID, 14, pad_33, 0, WXC_DECRYPT_AES},
    {"inconsistent pad (inner)", 12, 12, V3_APPID, 14, pad_mixed, 0, WXC_DECRYPT_AES},
    {"inconsistent pad (first)", 12, 12, V3_APPID, 14, pad_first, 0, WXC_DECRYPT_AES},
    {"inconsistent pad 32", 26, 26, V3_APPID, 32, pad_32_bad, 0, WXC_DECRYPT_AES},
    {"len field covers appid", 30, 12, V3_APPID, 14, NULL, 0, WXC_ILLEGAL_BUFFER},
    {"len field past end", 0xffffffffu, 12, V3_APPID, 14, NULL, 0, WXC_ILLEGAL_BUFFER},
    {"len field leaves 1 appid byte", 29, 12, V3_APPID, 14, NULL, 0, WXC_VALIDATE_APPID},
    {"len field short", 11, 12, V3_APPID, 14, NULL, 0, WXC_VALIDATE_APPID},
    {"empty appid", 12, 12, "", 32, NULL, 0, WXC_ILLEGAL_BUFFER},
    {"plaintext 20 bytes", 0, 0, "", 12, NULL, 0, WXC_ILLEGAL_BUFFER},
    {"appid prefix only", 12, 12, "wx2c2769f8efd9abc", 15, NULL, 0, WXC_VALIDATE_APPID},
    {"appid longer", 12, 12, V3_APPID "x", 13, NULL, 0, WXC_VALIDATE_APPID},
    {"appid other case", 12, 12, "WX2C2769F8EFD9ABC2", 14, NULL, 0, WXC_VALIDATE_APPID},
    {"truncated 96 to 48", 26, 26, V3_APPID, 32, NULL, 48, WXC_DECRYPT_AES},
    {"truncated 96 to 64", 26, 26, V3_APPID, 32, NULL, 32, WXC_DECRYPT_AES},
    {"truncated 64 to 48", 12, 12, V3_APPID, 14, NULL, 16, WXC_DECRYPT_AES},
};

/* Pack, pad by hand, encrypt with raw EVP, base64, sign, decrypt. */
static int run_crafted(const struct wx_crypt *c, const struct crafted *k)
{
    unsigned char pt[256];
    unsigned char ct[256];
    char b64[400];
    char *out = NULL;
    size_t len = 0;
    size_t alen = strlen(k->appid);
    size_t n = 20 + k->msg_len + alen + k->pad_len;
    assert_true(n <= sizeof(pt));
    assert_int_equal(n % 32, 0);
    memset(pt, 'r', 16);
    pt[16] = (unsigned char)(k->len_field >> 24);
    pt[17] = (unsigned char)(k->len_field >> 16);
    pt[18] = (unsigned char)(k->len_field >> 8);
    pt[19] = (unsigned char)k->len_field;
    memset(pt + 20, 'm', k->msg_len);
    memcpy(pt + 20 + k->msg_len, k->appid, alen);
    if (k->pad)
        memcpy(pt + n - k->pad_len, k->pad, k->pad_len);
    else
        memset(pt + n - k->pad_len, (int)k->pad_len, k->pad_len);
    aes_raw(v3_aes_hex, 1, pt, n, ct);
    EVP_EncodeBlock((unsigned char *)b64, ct, (int)(n - k->trunc));
    int rc = decrypt_signed(c, V3_TOKEN, b64, &out, &len);
    if (rc == WXC_OK) {
        assert_int_equal(len, k->len_field);
        free(out);
    }
    return rc;
}

static void test_crafted(void **state)
{
    struct wx_crypt *c = make(V3_TOKEN, V3_KEY, NULL, V3_APPID);
    (void)state;
    for (size_t i = 0; i < WXS_ARRAY_LEN(crafted); i++) {
        print_message("case %s\n", crafted[i].name);
        assert_int_equal(run_crafted(c, &crafted[i]), crafted[i].want);
    }
    wx_crypt_free(c);
}

/* ---- rejections before the cipher ---- */

struct reject {
    const char *name;
    const char *sig; /* NULL: a valid signature over enc */
    const char *enc;
    int want;
};

static const struct reject rejects[] = {
    {"V3 altered signature", "5d197aaffba7e9b25a30732f161a50dee96bd5fb", V3_ENCRYPT,
     WXC_VALIDATE_SIGNATURE},
    {"V3 signature of other text", V3_SIG, V5_ENCRYPT, WXC_VALIDATE_SIGNATURE},
    {"signature too short", "5d197aaffba7e9b25a30732f161a50dee96bd5f", V3_ENCRYPT,
     WXC_VALIDATE_SIGNATURE},
    {"signature empty", "", V3_ENCRYPT, WXC_VALIDATE_SIGNATURE},
    {"encrypt empty", NULL, "", WXC_VALIDATE_SIGNATURE},
    {"bad char", NULL, "hyzAe4OzmOMbd6Tv!dIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+",
     WXC_DECODE_BASE64},
    {"url-safe alphabet", NULL, "hyzAe4OzmOMbd6Tv-dIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3_",
     WXC_DECODE_BASE64},
    {"length not multiple of 4", NULL, "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KU",
     WXC_DECODE_BASE64},
    {"padding in the middle", NULL, "hyz=e4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUeP",
     WXC_DECODE_BASE64},
    {"three pad chars", NULL,
     "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KU===", WXC_DECODE_BASE64},
    {"embedded newline", NULL, "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvx\nYtJlE2B655HuD0m8KUePWB3",
     WXC_DECODE_BASE64},
    {"leading space", NULL, " hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3",
     WXC_DECODE_BASE64},
    {"16 bytes", NULL, "hyzAe4OzmOMbd6TvGdIOOw==", WXC_DECRYPT_AES},
    {"30 bytes", NULL, "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvx", WXC_DECRYPT_AES},
    {"48 bytes", NULL, "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87w",
     WXC_DECRYPT_AES},
    /* V3's first 288 bytes: blocks decrypt, the last byte is '<' (0x3c). */
    {"V3 truncated to 288", NULL,
     "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PG"
     "HQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6"
     "tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp"
     "3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhv",
     WXC_DECRYPT_AES},
};

static void test_rejects(void **state)
{
    struct wx_crypt *c = make(V3_TOKEN, V3_KEY, NULL, V3_APPID);
    (void)state;
    for (size_t i = 0; i < WXS_ARRAY_LEN(rejects); i++) {
        const struct reject *r = &rejects[i];
        char sig[WX_SIGN_HEX_LEN + 1];
        char *out = (char *)"untouched";
        size_t len = 7;
        print_message("case %s\n", r->name);
        if (r->sig)
            util_strlcpy(sig, r->sig, sizeof(sig));
        else
            sign4(V3_TOKEN, V3_TS, V3_NONCE, r->enc, sig);
        assert_int_equal(
            wx_crypt_decrypt(c, sig, V3_TS, V3_NONCE, r->enc, strlen(r->enc), &out, &len), r->want);
        assert_string_equal(out, "untouched");
        assert_int_equal(len, 7);
    }
    wx_crypt_free(c);
}

/* The signature binds timestamp and nonce too; NULL arguments are refused. */
static void test_signature_inputs(void **state)
{
    struct wx_crypt *c = make(V3_TOKEN, V3_KEY, NULL, V3_APPID);
    struct wx_crypt *t = make("spamtesT", V3_KEY, NULL, V3_APPID);
    char *out = NULL;
    size_t len = 0;
    size_t n = strlen(V3_ENCRYPT);
    (void)state;
    assert_int_equal(wx_crypt_decrypt(c, V3_SIG, "1409735670", V3_NONCE, V3_ENCRYPT, n, &out, &len),
                     WXC_VALIDATE_SIGNATURE);
    assert_int_equal(wx_crypt_decrypt(c, V3_SIG, V3_TS, "1320562133", V3_ENCRYPT, n, &out, &len),
                     WXC_VALIDATE_SIGNATURE);
    assert_int_equal(wx_crypt_decrypt(t, V3_SIG, V3_TS, V3_NONCE, V3_ENCRYPT, n, &out, &len),
                     WXC_VALIDATE_SIGNATURE);
    assert_int_equal(wx_crypt_decrypt(c, NULL, V3_TS, V3_NONCE, V3_ENCRYPT, n, &out, &len),
                     WXC_VALIDATE_SIGNATURE);
    assert_int_equal(wx_crypt_decrypt(c, V3_SIG, NULL, V3_NONCE, V3_ENCRYPT, n, &out, &len),
                     WXC_VALIDATE_SIGNATURE);
    assert_int_equal(wx_crypt_decrypt(c, V3_SIG, V3_TS, V3_NONCE, V3_ENCRYPT, n - 1, &out, &len),
                     WXC_VALIDATE_SIGNATURE);
    assert_int_not_equal(wx_crypt_decrypt(NULL, V3_SIG, V3_TS, V3_NONCE, V3_ENCRYPT, n, &out, &len),
                         WXC_OK);
    assert_int_not_equal(wx_crypt_decrypt(c, V3_SIG, V3_TS, V3_NONCE, NULL, n, &out, &len), WXC_OK);
    assert_int_not_equal(wx_crypt_decrypt(c, V3_SIG, V3_TS, V3_NONCE, V3_ENCRYPT, n, NULL, &len),
                         WXC_OK);
    assert_null(out);
    wx_crypt_free(t);
    wx_crypt_free(c);
}

static void test_wrong_appid(void **state)
{
    struct wx_crypt *c = make(V3_TOKEN, V3_KEY, NULL, "wx_other_appid");
    struct wx_crypt *d = make(V3_TOKEN, V3_KEY, NULL, "wx2c2769f8efd9abc");
    char *out = NULL;
    size_t len = 0;
    size_t n = strlen(V3_ENCRYPT);
    (void)state;
    assert_int_equal(wx_crypt_decrypt(c, V3_SIG, V3_TS, V3_NONCE, V3_ENCRYPT, n, &out, &len),
                     WXC_VALIDATE_APPID);
    assert_int_equal(wx_crypt_decrypt(d, V3_SIG, V3_TS, V3_NONCE, V3_ENCRYPT, n, &out, &len),
                     WXC_VALIDATE_APPID);
    assert_null(out);
    wx_crypt_free(c);
    wx_crypt_free(d);
}

/* ---- keys ---- */

struct key_case {
    const char *name;
    const char *key;
    const char *prev;
    int want;
};

static const struct key_case keys[] = {
    {"V3 sample (non-canonical ...EFG)", V3_KEY, NULL, WXC_OK},
    {"V6 sample (non-canonical ...S1aR)", V6_KEY, NULL, WXC_OK},
    {"all A", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL, WXC_OK},
    {"with + and /", "+/+/+/+/+/abcdefghijklmnopqrstuvwxyz0123456", NULL, WXC_OK},
    {"prev empty = none", V3_KEY, "", WXC_OK},
    {"prev set", V3_KEY, V6_KEY, WXC_OK},
    {"42 chars", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF", NULL, WXC_ILLEGAL_AES_KEY},
    {"44 chars", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG=", NULL, WXC_ILLEGAL_AES_KEY},
    {"44 chars canonical", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH", NULL,
     WXC_ILLEGAL_AES_KEY},
    {"empty", "", NULL, WXC_ILLEGAL_AES_KEY},
    {"NULL", NULL, NULL, WXC_ILLEGAL_AES_KEY},
    {"url-safe -", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF-", NULL, WXC_ILLEGAL_AES_KEY},
    {"url-safe _", "_bcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", NULL, WXC_ILLEGAL_AES_KEY},
    {"padding char", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF=", NULL, WXC_ILLEGAL_AES_KEY},
    {"space", "abcdefghijklmnopqrstuvwxyz 123456789ABCDEFG", NULL, WXC_ILLEGAL_AES_KEY},
    {"trailing newline", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF\n", NULL, WXC_ILLEGAL_AES_KEY},
    {"non-ASCII", "abcdefghijklmnopqrstuvwxyz0123456789ABCDE\xc3\xa9", NULL, WXC_ILLEGAL_AES_KEY},
    {"bad prev", V3_KEY, "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF", WXC_ILLEGAL_AES_KEY},
};

static void test_keys(void **state)
{
    (void)state;
    for (size_t i = 0; i < WXS_ARRAY_LEN(keys); i++) {
        const struct key_case *k = &keys[i];
        struct wx_crypt *c = (struct wx_crypt *)&keys; /* must stay untouched on failure */
        char err[128] = "";
        print_message("case %s\n", k->name);
        int rc = wx_crypt_new(&c, V3_TOKEN, k->key, k->prev, V3_APPID, err, sizeof(err));
        assert_int_equal(rc, k->want);
        if (rc == WXC_OK) {
            assert_ptr_not_equal(c, (struct wx_crypt *)&keys);
            wx_crypt_free(c);
        } else {
            assert_ptr_equal(c, (struct wx_crypt *)&keys);
            assert_true(strlen(err) > 0);
        }
    }
}

static void test_new_arguments(void **state)
{
    struct wx_crypt *c = NULL;
    char err[8];
    (void)state;
    assert_int_equal(wx_crypt_new(&c, "", V3_KEY, NULL, V3_APPID, err, sizeof(err)),
                     WXC_ILLEGAL_AES_KEY);
    assert_int_equal(wx_crypt_new(&c, NULL, V3_KEY, NULL, V3_APPID, NULL, 0), WXC_ILLEGAL_AES_KEY);
    assert_int_equal(wx_crypt_new(&c, V3_TOKEN, V3_KEY, NULL, "", NULL, 0), WXC_ILLEGAL_AES_KEY);
    assert_int_equal(wx_crypt_new(&c, V3_TOKEN, V3_KEY, NULL, NULL, err, sizeof(err)),
                     WXC_ILLEGAL_AES_KEY);
    assert_true(strlen(err) < sizeof(err)); /* truncated, terminated */
    assert_int_equal(wx_crypt_new(NULL, V3_TOKEN, V3_KEY, NULL, V3_APPID, NULL, 0),
                     WXC_ILLEGAL_AES_KEY);
    assert_null(c);
    wx_crypt_free(NULL);
}

/* A push encrypted with the old key still decrypts while the old key is
 * configured as prev_key; replies always use the new key. */
static void test_key_rotation(void **state)
{
    struct wx_crypt *old = make(V3_TOKEN, V3_KEY, NULL, V3_APPID);
    struct wx_crypt *rot = make(V3_TOKEN, OTHER_KEY, V3_KEY, V3_APPID);
    struct wx_crypt *cur = make(V3_TOKEN, OTHER_KEY, NULL, V3_APPID);
    struct wx_crypt *cur2 = make(V3_TOKEN, OTHER_KEY, "", V3_APPID);
    const char msg[] = "<xml>rotated</xml>";
    struct buf b = {0};
    char *out = NULL;
    size_t len = 0;
    (void)state;
    assert_int_equal(wx_crypt_encrypt(old, msg, strlen(msg), NULL, &b), WXC_OK);
    assert_int_equal(decrypt_signed(rot, V3_TOKEN, b.data, &out, &len), WXC_OK);
    assert_int_equal(len, strlen(msg));
    assert_memory_equal(out, msg, len);
    free(out);
    out = NULL;
    int rc = decrypt_signed(cur, V3_TOKEN, b.data, &out, &len);
    assert_true(rc == WXC_DECRYPT_AES || rc == WXC_ILLEGAL_BUFFER || rc == WXC_VALIDATE_APPID);
    assert_int_equal(decrypt_signed(cur2, V3_TOKEN, b.data, &out, &len), rc);
    assert_null(out);
    /* Same message again, V3 itself: decrypts through the fallback. */
    assert_int_equal(
        wx_crypt_decrypt(rot, V3_SIG, V3_TS, V3_NONCE, V3_ENCRYPT, strlen(V3_ENCRYPT), &out, &len),
        WXC_OK);
    assert_int_equal(len, 280);
    free(out);
    out = NULL;
    /* The current key still works on a rotating context... */
    buf_reset(&b);
    assert_int_equal(wx_crypt_encrypt(rot, msg, strlen(msg), NULL, &b), WXC_OK);
    assert_int_equal(decrypt_signed(cur, V3_TOKEN, b.data, &out, &len), WXC_OK);
    free(out);
    out = NULL;
    /* ...and replies are not made with the previous key. */
    rc = decrypt_signed(old, V3_TOKEN, b.data, &out, &len);
    assert_int_not_equal(rc, WXC_OK);
    /* Wrong AppID under the old key is still an AppID failure overall. */
    struct wx_crypt *rot_other = make(V3_TOKEN, OTHER_KEY, V3_KEY, "wx_other_appid");
    assert_int_not_equal(wx_crypt_decrypt(rot_other, V3_SIG, V3_TS, V3_NONCE, V3_ENCRYPT,
                                          strlen(V3_ENCRYPT), &out, &len),
                         WXC_OK);
    assert_null(out);
    wx_crypt_free(rot_other);
    buf_free(&b);
    wx_crypt_free(old);
    wx_crypt_free(rot);
    wx_crypt_free(cur);
    wx_crypt_free(cur2);
}

/* ---- reply envelope ---- */

struct reply_case {
    const char *name;
    const char *ts;
    const char *nonce;
};

static const struct reply_case bad_replies[] = {
    {"NULL timestamp", NULL, "1"},
    {"empty timestamp", "", "1"},
    {"non-digit timestamp", "14115259O3", "1"},
    {"markup in timestamp", "1</TimeStamp><x>", "1"},
    {"timestamp too long", "123456789012345678901", "1"},
    {"NULL nonce", "1", NULL},
    {"empty nonce", "1", ""},
    {"CDATA end in nonce", "1", "a]]><x/>"},
    {"newline in nonce", "1", "a\nb"},
};

static void test_reply_rejects(void **state)
{
    struct wx_crypt *c = make(V6_TOKEN, V6_KEY, NULL, V6_APPID);
    struct buf b = {0};
    (void)state;
    assert_int_equal(buf_puts(&b, "keep"), 0);
    for (size_t i = 0; i < WXS_ARRAY_LEN(bad_replies); i++) {
        print_message("case %s\n", bad_replies[i].name);
        assert_int_equal(
            wx_crypt_encrypt_reply(c, "m", 1, bad_replies[i].ts, bad_replies[i].nonce, NULL, &b),
            WXC_GEN_RETURN_XML);
        assert_string_equal(b.data, "keep");
    }
    assert_int_equal(wx_crypt_encrypt(c, NULL, 5, NULL, &b), WXC_ILLEGAL_BUFFER);
    assert_int_not_equal(wx_crypt_encrypt(c, "m", 1, NULL, NULL), WXC_OK);
    assert_int_not_equal(wx_crypt_encrypt(NULL, "m", 1, NULL, &b), WXC_OK);
    assert_string_equal(b.data, "keep");
    /* An empty message is a valid reply payload. */
    assert_int_equal(wx_crypt_encrypt_reply(c, NULL, 0, "0", "n-1_x", NULL, &b), WXC_OK);
    buf_free(&b);
    wx_crypt_free(c);
}

/* Reply built by wx_crypt decrypts with its own MsgSignature. */
static void test_reply_round_trip(void **state)
{
    struct wx_crypt *c = make(V6_TOKEN, V6_KEY, NULL, V6_APPID);
    struct buf b = {0};
    char enc[1024];
    char sig[WX_SIGN_HEX_LEN + 1];
    char *out = NULL;
    size_t len = 0;
    (void)state;
    assert_int_equal(wx_crypt_encrypt_reply(c, V6_MSG, strlen(V6_MSG), V6_TS, V6_NONCE, NULL, &b),
                     WXC_OK);
    const char *e = strstr(b.data, "<Encrypt><![CDATA[") + 18;
    const char *ee = strstr(e, "]]>");
    const char *s = strstr(b.data, "<MsgSignature><![CDATA[") + 23;
    assert_true(ee > e && (size_t)(ee - e) < sizeof(enc));
    memcpy(enc, e, (size_t)(ee - e));
    enc[ee - e] = '\0';
    memcpy(sig, s, WX_SIGN_HEX_LEN);
    sig[WX_SIGN_HEX_LEN] = '\0';
    assert_int_equal(wx_crypt_decrypt(c, sig, V6_TS, V6_NONCE, enc, strlen(enc), &out, &len),
                     WXC_OK);
    assert_int_equal(len, strlen(V6_MSG));
    assert_memory_equal(out, V6_MSG, len);
    free(out);
    buf_free(&b);
    wx_crypt_free(c);
}

static void test_strerror(void **state)
{
    static const struct {
        int code;
        const char *name;
    } names[] = {
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
        {-1, "Unknown"},
        {-40012, "Unknown"},
    };
    (void)state;
    for (size_t i = 0; i < WXS_ARRAY_LEN(names); i++)
        assert_string_equal(wx_crypt_strerror(names[i].code), names[i].name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v3_decrypt),
        cmocka_unit_test(test_v6_decrypt_pad1),
        cmocka_unit_test(test_v5_encrypt),
        cmocka_unit_test(test_v6_reply),
        cmocka_unit_test(test_pad32),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_crafted),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_signature_inputs),
        cmocka_unit_test(test_wrong_appid),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_new_arguments),
        cmocka_unit_test(test_key_rotation),
        cmocka_unit_test(test_reply_rejects),
        cmocka_unit_test(test_reply_round_trip),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
