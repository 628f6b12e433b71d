/* libFuzzer target for the log's escaping (log.c): any bytes from outside
 * (NULs included, as log_batch_addn takes them) become one line that is
 * safe to print, and that says what was sent.
 *
 * Invariants checked on every input, against a UTF-8 decoder written here
 * (not util_utf8_seq, the one log.c uses):
 *   - the line is at most 2 KiB, ends with its only '\n', and holds no byte
 *     below 0x20, no DEL and no byte that is not part of valid UTF-8; no C1
 *     control (U+0080..U+009F) either;
 *   - after the "LEVEL " prefix, the line is the input with each byte that
 *     must not stay written as \xNN (lower-case hex), every other byte as it
 *     was, cut only at a character boundary when the line is full;
 *   - a shorter input is never cut.
 * Build: fuzz/run.sh (CMake target fuzz_log in build-fuzz/).
 * Seeds: fuzz/corpus/log/. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define LINE_MAX_BYTES 2048

/* The length of the valid UTF-8 character at s[0..n) (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_char(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len;
    uint32_t c, min;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    } else if ((s[0] & 0xE0) == 0xC0) {
        len = 2, c = s[0] & 0x1F, min = 0x80;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3, c = s[0] & 0x0F, min = 0x800;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4, c = s[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

/* Whether the character may reach the log as it is. */
static bool printable(uint32_t cp)
{
    return (cp >= 0x20 && cp < 0x7F) || cp >= 0xA0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool once;
    if (!once) {
        log_set_level(LOG_DEBUG);
        once = true;
    }
    struct log_batch b = {0};
    log_batch_addn(&b, LOG_WARN, (const char *)data, size);
    const unsigned char *line = (const unsigned char *)b.lines.data;
    size_t n = b.lines.len;
    if (n == 0 || n > LINE_MAX_BYTES || line[n - 1] != '\n')
        abort();
    if (memchr(line, '\n', n - 1))
        abort(); /* a second line */
    for (size_t i = 0, k; i < n - 1; i += k) {
        uint32_t cp;
        if ((k = utf8_char(line + i, n - 1 - i, &cp)) == 0 || !printable(cp))
            abort();
    }
    const unsigned char *tag = (const unsigned char *)strstr((const char *)line, "WARN ");
    if (!tag)
        abort();
    size_t o = (size_t)(tag - line) + 5, end = n - 1;
    size_t i = 0;
    while (i < size) {
        uint32_t cp;
        size_t k = utf8_char(data + i, size - i, &cp);
        if (k > 0 && printable(cp)) {
            if (o + k > end)
                break; /* cut here: the line is full */
            if (memcmp(line + o, data + i, k) != 0)
                abort();
            o += k, i += k;
        } else {
            char esc[5];
            snprintf(esc, sizeof(esc), "\\x%02x", data[i]);
            if (o + 4 > end)
                break;
            if (memcmp(line + o, esc, 4) != 0)
                abort();
            o += 4, i += 1;
        }
    }
    if (o != end)
        abort(); /* bytes in the line that the input does not explain */
    if (i < size && end + 4 <= LINE_MAX_BYTES - 1)
        abort(); /* cut although the next piece (at most 4 bytes) fitted */
    buf_free(&b.lines);
    return 0;
}
