#include "http_framing.h"

#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "util.h"

/* The methods whose body evhttp reads (evhttp_method_may_have_body). */
#define BODY_READ                                                                                  \
    (EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE |    \
     EVHTTP_REQ_OPTIONS | EVHTTP_REQ_CONNECT)

/* What the request's headers say about its body. */
struct framing {
    unsigned lengths, encodings; /* how many Content-Length / Transfer-Encoding */
    const char *why;             /* the first fault found, or NULL */
};

/* One Content-Length: digits only (evhttp takes "+5" and "-0" through
 * strtoll), and the same number as any earlier one. */
static void check_length(struct framing *f, const char *v, uint64_t *first)
{
    uint64_t n;
    if (v[strspn(v, "0123456789")] != '\0' || util_parse_u64(v, 0, UINT64_MAX, &n) < 0)
        f->why = f->why ? f->why : "malformed Content-Length";
    else if (f->lengths++ == 0)
        *first = n;
    else if (n != *first)
        f->why = f->why ? f->why : "conflicting Content-Length headers";
}

static bool key_is(const char *key, const char *name)
{
    return (key[0] | 0x20) == (name[0] | 0x20) && strcasecmp(key, name) == 0;
}

static const char *check_headers(const struct evkeyvalq *h, struct framing *f)
{
    const struct evkeyval *kv;
    uint64_t first = 0;
    const char *coding = NULL;
    TAILQ_FOREACH(kv, h, next)
    {
        if (key_is(kv->key, "content-length"))
            check_length(f, kv->value, &first);
        else if (key_is(kv->key, "transfer-encoding") && f->encodings++ == 0)
            coding = kv->value;
    }
    if (f->why)
        return f->why;
    if (f->encodings && f->lengths)
        return "both Transfer-Encoding and Content-Length";
    if (f->encodings > 1 || (coding && strcasecmp(coding, "chunked") != 0))
        return "unsupported Transfer-Encoding (only chunked)";
    return NULL;
}

const char *http_framing_check(struct evhttp_request *req, bool *close)
{
    struct framing f = {0};
    const char *why = check_headers(evhttp_request_get_input_headers(req), &f);
    bool unread = (f.lengths || f.encodings) && !(evhttp_request_get_command(req) & BODY_READ);
    *close = why || unread;
    return why;
}

void http_framing_add_body(struct evhttp_request *req, const char *body, size_t len)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd == EVHTTP_REQ_HEAD)
        return;
    if (cmd == EVHTTP_REQ_CONNECT) {
        char n[24];
        *util_put_i64(n, n + sizeof(n) - 1, (int64_t)len) = '\0';
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Length", n);
    }
    evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
}
