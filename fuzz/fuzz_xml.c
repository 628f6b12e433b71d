/* libFuzzer target for wx_xml_parse, the parser every pushed body meets
 * first. Each input is parsed both ways (a plaintext push and a safe-mode
 * envelope). On success the struct must hold NUL-terminated fields within
 * their limits, and a plaintext push must survive the trip the server makes
 * with it: its fields go into a passive reply (reply_text_xml), which must
 * itself parse back to the same values (CDATA splitting, "]]>" in
 * EventKey, UTF-8 cut points). Any violation aborts.
 * Build: fuzz/run.sh (CMake target fuzz_xml in build-fuzz/), or by hand:
 *   clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc fuzz/fuzz_xml.c
 *   src/wx_xml.c src/reply.c src/util.c $(pkg-config --cflags --libs libxml-2.0 libcrypto)
 * Seeds: fuzz/corpus/xml/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"
#include "util.h"
#include "wx_xml.h"

#define FUZZ_MAX_INPUT (128 * 1024)

static void check_field(const char *f, size_t cap)
{
    if (strnlen(f, cap) >= cap)
        abort();
}

static void check_msg(const struct wx_msg *m)
{
    check_field(m->to, sizeof(m->to));
    check_field(m->from, sizeof(m->from));
    check_field(m->msg_type, sizeof(m->msg_type));
    check_field(m->event, sizeof(m->event));
    check_field(m->event_key, sizeof(m->event_key));
    check_field(m->ticket, sizeof(m->ticket));
    check_field(m->content, sizeof(m->content));
    check_field(m->msg_id, sizeof(m->msg_id));
    if (m->encrypt && strlen(m->encrypt) != m->encrypt_len)
        abort();
    if (!util_utf8_valid(m->content, strlen(m->content)))
        abort(); /* truncation must cut at a character boundary */
}

/* XML 1.0 turns CR into LF when parsing, so a value with CR cannot come
 * back byte for byte; everything else must. */
static int has_cr(const char *s)
{
    return strchr(s, '\r') != NULL;
}

/* The reply the server would send for m, parsed again. */
static void check_reply_roundtrip(const struct wx_msg *m)
{
    struct buf xml = {0};
    struct wx_msg back;
    char err[256];
    if (has_cr(m->from) || has_cr(m->to) || has_cr(m->event_key))
        return;
    if (reply_text_xml(&xml, m->from, m->to, m->create_time, m->event_key) < 0)
        abort();
    if (wx_xml_parse(xml.data, xml.len, true, &back, err, sizeof(err)) < 0)
        abort();
    if (strcmp(back.to, m->from) != 0 || strcmp(back.from, m->to) != 0 ||
        strcmp(back.content, m->event_key) != 0 || back.create_time != m->create_time ||
        strcmp(back.msg_type, "text") != 0)
        abort();
    wx_msg_clear(&back);
    buf_free(&xml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int inited;
    struct wx_msg m;
    char err[256];
    if (!inited) {
        wx_xml_global_init();
        inited = 1;
    }
    if (size > FUZZ_MAX_INPUT)
        return 0;
    if (wx_xml_parse((const char *)data, size, true, &m, err, sizeof(err)) == 0) {
        check_msg(&m);
        if (!m.to[0] || !m.from[0] || !m.msg_type[0] || !m.has_create_time)
            abort();
        check_reply_roundtrip(&m);
        wx_msg_clear(&m);
    } else if (!err[0] || !memchr(err, '\0', sizeof(err))) {
        abort(); /* a rejection always says why */
    }
    if (wx_xml_parse((const char *)data, size, false, &m, err, sizeof(err)) == 0) {
        check_msg(&m);
        if (!m.encrypt || !m.encrypt_len)
            abort();
        wx_msg_clear(&m);
    }
    return 0;
}
