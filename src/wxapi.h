/* wxapi: the WeChat HTTP API client (libcurl + jansson), synchronous, one
 * handle per thread. Base URLs come from [wechat] api_base / mp_base and
 * every call is bounded by [wechat] api_timeout. Answers are checked the way
 * the platform documents them: {"errcode": N, "errmsg": "... rid: ..."} is
 * matched by errcode only; -1 (system busy) is retried with backoff; a
 * token error (40001/40014/42001) expires the cached token if it is still
 * the one used (compare-and-expire, see token.h), fetches or picks up a
 * fresh one and retries once. Tokens and secrets never appear in messages.
 *
 * Call wxapi_global_init() once from main() before any thread starts. */
#ifndef WXS_WXAPI_H
#define WXS_WXAPI_H
#include <jansson.h>
#include <stdbool.h>
#include "cfg.h"
#include "store.h"
#include "util.h"

enum wxapi_rc {
    WXAPI_OK = 0,
    WXAPI_EINTERNAL = -1, /* out of memory, database */
    WXAPI_EAPI = -2,      /* WeChat answered errcode != 0: see wxapi_error.errcode */
    WXAPI_ENET = -3,      /* connect, TLS, timeout */
    WXAPI_EHTTP = -4,     /* unexpected HTTP status (e.g. showqrcode 404) */
    WXAPI_EPROTO = -5,    /* not JSON, or a required field missing or mistyped */
    WXAPI_ETOKEN = -6, /* no access_token (another process's refresh failed, waiting timed out) */
};

/* The last failure of a handle, one line for the operator. */
struct wxapi_error {
    int rc;           /* enum wxapi_rc */
    long errcode;     /* WXAPI_EAPI: WeChat's errcode */
    long http_status; /* WXAPI_EHTTP: the status */
    bool unsent;      /* WXAPI_ENET: not a byte of the request went out (connect failed) */
    char msg[512];
};

struct wxapi;

int wxapi_global_init(void) WXS_MUSTCHECK;
void wxapi_global_cleanup(void);

/* cfg and st are borrowed and must outlive the handle. Caller frees with
 * wxapi_free(). */
int wxapi_new(struct wxapi **out, const struct cfg *cfg, struct store *st, char *err,
              size_t errlen) WXS_MUSTCHECK;
void wxapi_free(struct wxapi *api);

/* Valid after a failed call, until the next call on the handle. */
const struct wxapi_error *wxapi_last_error(const struct wxapi *api);

/* POST body (JSON) to api_base/path?access_token=...; path like
 * "cgi-bin/tags/create". idempotent: retrying after a timeout or a 5xx
 * cannot do the work twice. On success *resp is the answer (caller
 * json_decref()s it). */
int wxapi_post(struct wxapi *api, const char *path, json_t *body, bool idempotent,
               json_t **resp) WXS_MUSTCHECK;

/* One file of a multipart/form-data upload. */
struct wxapi_file {
    const char *field; /* the form field ("media") */
    const char *name;  /* the file name WeChat sees (its extension says the type) */
    const char *type;  /* the part's Content-Type, e.g. "image/png" */
    const void *data;
    size_t len;
};

/* POST file as multipart/form-data to api_base/path?query&access_token=...
 * (material/add_material). Never retried after a timeout or a 5xx: the
 * upload may have been stored. On success *resp is the answer (caller
 * json_decref()s it). */
int wxapi_upload(struct wxapi *api, const char *path, const char *query,
                 const struct wxapi_file *file, json_t **resp) WXS_MUSTCHECK;

/* GET api_base/path?query&access_token=...; query may be NULL and must be
 * already encoded (use wxapi_urlencode). */
int wxapi_get(struct wxapi *api, const char *path, const char *query, json_t **resp) WXS_MUSTCHECK;

/* GET mp_base/cgi-bin/showqrcode?ticket=ENCODED into out (image bytes,
 * at most max). A ticket WeChat does not know is WXAPI_EHTTP with 404. */
int wxapi_showqrcode(struct wxapi *api, const char *ticket, struct buf *out,
                     size_t max) WXS_MUSTCHECK;

/* A usable access_token (cached, refreshed when due). */
int wxapi_token(struct wxapi *api, char *out, size_t outlen) WXS_MUSTCHECK;

/* ---- pure helpers, exposed for tests and other callers ---- */

/* Append s percent-encoded: everything outside [A-Za-z0-9-._~]. */
int wxapi_urlencode(struct buf *out, const char *s) WXS_MUSTCHECK;

/* Parse an API answer. 0 with *out (caller json_decref()s) when it is a JSON
 * object without a non-zero errcode; WXAPI_EAPI / WXAPI_EPROTO with err
 * filled otherwise. what names the endpoint in the message. */
int wxapi_parse_answer(const char *what, const char *body, size_t len, json_t **out,
                       struct wxapi_error *err) WXS_MUSTCHECK;

/* A short explanation of a known errcode, or NULL. */
const char *wxapi_errcode_hint(long errcode);

/* True for the errcodes that mean "this access_token is no good". */
bool wxapi_errcode_is_token(long errcode);
#endif
