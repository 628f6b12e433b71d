/* http_framing: what libevent 2.1's request parser lets through about where
 * a request's body ends, checked by both listeners before anything else.
 * evhttp reads the body by the first Content-Length (or as chunked when the
 * first Transfer-Encoding is exactly "chunked") and never looks further: a
 * second, different Content-Length, "Content-Length: +5", or a
 * Transfer-Encoding beside a Content-Length are all read one way here and
 * may be read another way by a proxy in front, which is how requests are
 * smuggled (RFC 9112 6.3: answer 400 and close the connection). The
 * answer to such a request closes its connection, so whatever follows the
 * body as evhttp framed it is never read as a request of its own.
 * docs/http-edge.md lists what evhttp does itself and what is left. */
#ifndef WXS_HTTP_FRAMING_H
#define WXS_HTTP_FRAMING_H
#include <stdbool.h>
#include <event2/http.h>

/* Every method evhttp knows, and its "unknown method" bit (1 << 15, the
 * only other bit of the 16-bit mask): with it, evhttp hands TRACE,
 * CONNECT and methods it does not know ("get", "FOO") to our callback,
 * which answers 405 as the CONTRACT says, instead of answering 501 itself. */
#define HTTP_FRAMING_ALL_METHODS 0xffff

/* Check req's framing before answering it: returns why it is ambiguous or
 * malformed (a static string for the 400 answer and the log), or NULL when
 * it is sound. *close is set when the connection must close after the
 * answer: the framing is bad, or req announces a body that evhttp did not
 * read (it reads none for TRACE, HEAD and unknown methods), which would
 * otherwise be parsed as the next request. */
const char *http_framing_check(struct evhttp_request *req, bool *close);

/* Put an answer's body into req's output buffer, framed as evhttp does not
 * for two methods: nothing for HEAD (evhttp sends the body without a
 * Content-Length, so the client reads it as the start of the next answer),
 * and an explicit Content-Length for CONNECT (evhttp sends none). */
void http_framing_add_body(struct evhttp_request *req, const char *body, size_t len);
#endif
