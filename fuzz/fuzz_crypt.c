/* libFuzzer target for wx_crypt_decrypt. A fuzzer cannot forge a
 * msg_signature, so the harness signs each input itself with the context's
 * token; that gets the input past the signature check into the base64
 * decoder, the unpadding and the unpacker. Each input is used three ways:
 *   1. as the Encrypt text itself (base64 and length checks);
 *   2. as raw plaintext, AES-encrypted here with the context key so the
 *      fuzzer controls the padding, length field and AppID bytes directly;
 *   3. as a message for wx_crypt_encrypt, which must decrypt back to it.
 * Build: clang -fsanitize=fuzzer,address,undefined -Isrc fuzz/fuzz_crypt.c
 *        src/wx_crypt.c src/wx_sign.c src/util.c -lcrypto
 * Seeds: fuzz/corpus/crypt/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "wx_crypt.h"
#include "wx_sign.h"

#define TOKEN          "fuzztoken"
#define KEY            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
#define APPID          "wx2c2769f8efd9abc2"
#define TS             "1409735669"
#define NONCE          "1320562132"
#define FUZZ_MAX_INPUT (64 * 1024)

/* The AES key KEY decodes to: the harness encrypts with it independently. */
static const unsigned char aes_key[32] = {
    0x69, 0xb7, 0x1d, 0x79, 0xf8, 0x21, 0x8a, 0x39, 0x25, 0x9a, 0x7a, 0x29, 0xaa, 0xbb, 0x2d, 0xba,
    0xfc, 0x31, 0xcb, 0x3d, 0x35, 0xdb, 0x7e, 0x39, 0xeb, 0xbf, 0x3d, 0x00, 0x10, 0x83, 0x10, 0x51};

static struct wx_crypt *ctx(void)
{
    static struct wx_crypt *c;
    if (!c && wx_crypt_new(&c, TOKEN, KEY, NULL, APPID, NULL, 0) != WXC_OK)
        abort();
    return c;
}

/* Sign enc (NUL-terminated, length n) and decrypt it; a success must yield
 * a NUL-terminated message no longer than the input. */
static void decrypt_signed(const char *enc, size_t n)
{
    const char *parts[] = {TOKEN, TS, NONCE, enc};
    char sig[WX_SIGN_HEX_LEN + 1];
    char *out = NULL;
    size_t outlen = 0;

    if (wx_sign_compute(parts, 4, sig) != 0)
        abort();
    if (wx_crypt_decrypt(ctx(), sig, TS, NONCE, enc, n, &out, &outlen) == WXC_OK) {
        if (!out || out[outlen] != '\0' || outlen >= n)
            abort();
        free(out);
    }
}

static void as_encrypt_text(const uint8_t *data, size_t size)
{
    char *enc = malloc(size + 1);
    if (!enc)
        return;
    memcpy(enc, data, size);
    enc[size] = '\0';
    decrypt_signed(enc, size);
    free(enc);
}

/* Zero-extend to a multiple of 32, encrypt without padding, base64. */
static void as_plaintext(const uint8_t *data, size_t size)
{
    size_t n = (size + 31) / 32 * 32;
    unsigned char *pt = calloc(1, n + 32);
    unsigned char *ct = malloc(n + 32);
    char *b64 = malloc(n / 3 * 4 + 8);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0;
    int fin = 0;

    if (!pt || !ct || !b64 || !c || n == 0)
        goto done;
    memcpy(pt, data, size);
    if (EVP_EncryptInit_ex(c, EVP_aes_256_cbc(), NULL, aes_key, aes_key) != 1 ||
        EVP_CIPHER_CTX_set_padding(c, 0) != 1 || EVP_EncryptUpdate(c, ct, &len, pt, (int)n) != 1 ||
        EVP_EncryptFinal_ex(c, ct + len, &fin) != 1)
        abort();
    decrypt_signed(b64, (size_t)EVP_EncodeBlock((unsigned char *)b64, ct, (int)n));
done:
    EVP_CIPHER_CTX_free(c);
    free(pt);
    free(ct);
    free(b64);
}

static void round_trip(const uint8_t *data, size_t size)
{
    struct buf b = {0};
    const char *parts[4] = {TOKEN, TS, NONCE, NULL};
    char sig[WX_SIGN_HEX_LEN + 1];
    char *out = NULL;
    size_t outlen = 0;

    if (wx_crypt_encrypt(ctx(), (const char *)data, size, NULL, &b) != WXC_OK)
        abort();
    parts[3] = b.data;
    if (wx_sign_compute(parts, 4, sig) != 0 ||
        wx_crypt_decrypt(ctx(), sig, TS, NONCE, b.data, b.len, &out, &outlen) != WXC_OK ||
        outlen != size || (size && memcmp(out, data, size) != 0))
        abort();
    free(out);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    as_encrypt_text(data, size);
    as_plaintext(data, size);
    round_trip(data, size);
    return 0;
}
