#include "wxapi.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "token.h"

#define WXAPI_JSON_MAX   (1u << 20) /* no API answer we use comes near 1 MiB */
#define WXAPI_ATTEMPTS   3          /* on -1 / transient failures: 1 + 2 retries */
#define WXAPI_BACKOFF_MS 200        /* doubled per retry, plus jitter */

struct wxapi {
    const struct cfg *cfg;
    struct store *st;
    CURL *curl;
    struct token_cache *tokens;
    struct wxapi_error err;
};

/* One HTTP exchange as the retry loop sees it. */
struct wx_req {
    const char *what;              /* endpoint for messages, never the URL (it carries secrets) */
    const char *base;              /* api_base or mp_base */
    const char *path;              /* "cgi-bin/..." */
    const char *query;             /* encoded, without the token; NULL = none */
    const char *body;              /* POST body (JSON); NULL = GET (or an upload) */
    const struct wxapi_file *file; /* multipart/form-data POST of one file; NULL = none */
    bool with_token;
    bool idempotent;
    size_t cap;
};

static const struct {
    long code;
    const char *hint;
} errcode_hints[] = {
    {-1, "WeChat system busy"},
    {40001, "access_token invalid or not the latest (or a wrong AppSecret)"},
    {40002, "invalid grant_type"},
    {40013, "invalid AppID: check [wechat] appid"},
    {40014, "invalid access_token"},
    {40052, "invalid QR action name"},
    {40053, "WeChat rejected the QR scene or expire_seconds"},
    {40125, "invalid AppSecret: check [wechat] appsecret"},
    {40164, "this server's IP address is not in the account's IP whitelist"},
    {41001, "access_token missing"},
    {42001, "access_token expired"},
    {45009, "API quota or frequency limit reached (the daily quota, or stable_token "
            "force_refresh more than 20 times a day or within 30 s); wait, or reset the "
            "quota in the MP admin console"},
    {45029, "the account's permanent QR codes (100000) are used up"},
    {48001, "API unauthorized: the account lacks this permission (is it verified?)"},
};

const char *wxapi_errcode_hint(long errcode)
{
    for (size_t i = 0; i < WXS_ARRAY_LEN(errcode_hints); i++)
        if (errcode_hints[i].code == errcode)
            return errcode_hints[i].hint;
    return NULL;
}

bool wxapi_errcode_is_token(long errcode)
{
    return errcode == 40001 || errcode == 40014 || errcode == 42001;
}

static void set_err(struct wxapi_error *e, int rc, const char *fmt, ...) WXS_PRINTF(3, 4);
static void set_err(struct wxapi_error *e, int rc, const char *fmt, ...)
{
    va_list ap;
    e->rc = rc;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
}

int wxapi_urlencode(struct buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        if (buf_append(out, plain ? (const char *)p : enc, plain ? 1 : 3) < 0)
            return -1;
    }
    if (!out->data && buf_append(out, "", 0) < 0)
        return -1;
    return 0;
}

/* errcode as WeChat sends it: a number; some proxies turn it into a string. */
static int errcode_of(json_t *root, long *out)
{
    json_t *v = json_object_get(root, "errcode");
    uint64_t u;
    if (!v) {
        *out = 0;
        return 0;
    }
    if (json_is_integer(v)) {
        *out = (long)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        bool neg = s[0] == '-';
        if (util_parse_u64(neg ? s + 1 : s, 0, 99999999, &u) == 0) {
            *out = neg ? -(long)u : (long)u;
            return 0;
        }
    }
    return -1;
}

static void api_error(struct wxapi_error *err, const char *what, long code, const char *errmsg)
{
    const char *hint = wxapi_errcode_hint(code);
    err->errcode = code;
    set_err(err, WXAPI_EAPI, "%s: WeChat error %ld%s%s%s: %s", what, code, hint ? " (" : "",
            hint ? hint : "", hint ? ")" : "", errmsg && *errmsg ? errmsg : "(no errmsg)");
}

int wxapi_parse_answer(const char *what, const char *body, size_t len, json_t **out,
                       struct wxapi_error *err)
{
    json_error_t jerr;
    long code = 0;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        set_err(err, WXAPI_EPROTO, "%s: answer is not a JSON object (%s)", what,
                root ? "wrong type" : jerr.text);
        goto fail;
    }
    if (errcode_of(root, &code) < 0) {
        set_err(err, WXAPI_EPROTO, "%s: errcode is not a number", what);
        goto fail;
    }
    if (code != 0) {
        api_error(err, what, code, json_string_value(json_object_get(root, "errmsg")));
        goto fail;
    }
    *out = root;
    return 0;
fail:
    json_decref(root);
    return err->rc;
}

/* ---- HTTP ---- */

struct sink {
    struct buf *b;
    size_t cap;
};

static size_t sink_write(char *p, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t len = size * n;
    if (s->b->len + len > s->cap || buf_append(s->b, p, len) < 0)
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    return len;
}

/* Strip one trailing '/' from base and one leading '/' from path. */
static int url_build(struct buf *url, const char *base, const char *path, const char *query,
                     const char *token)
{
    size_t bl = strlen(base);
    if (bl && base[bl - 1] == '/')
        bl--;
    if (*path == '/')
        path++;
    if (buf_append(url, base, bl) < 0 || buf_printf(url, "/%s", path) < 0)
        return -1;
    if (query && *query && buf_printf(url, "?%s", query) < 0)
        return -1;
    if (token && (buf_puts(url, query && *query ? "&access_token=" : "?access_token=") < 0 ||
                  wxapi_urlencode(url, token) < 0))
        return -1;
    return 0;
}

/* The multipart body of an upload: the file as field rq->file->field,
 * with its name (WeChat reads the type from the extension). */
static curl_mime *mime_for(CURL *c, const struct wxapi_file *f)
{
    curl_mime *m = curl_mime_init(c);
    curl_mimepart *part = m ? curl_mime_addpart(m) : NULL;
    if (!part || curl_mime_name(part, f->field) != CURLE_OK ||
        curl_mime_filename(part, f->name) != CURLE_OK ||
        curl_mime_type(part, f->type) != CURLE_OK ||
        curl_mime_data(part, f->data, f->len) != CURLE_OK) {
        curl_mime_free(m);
        return NULL;
    }
    return m;
}

static void curl_setup(struct wxapi *api, struct curl_slist *hdr, struct sink *sink,
                       const struct wx_req *rq)
{
    CURL *c = api->curl;
    long t = (long)api->cfg->api_timeout;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, t);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, t < 10 ? t : 10L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "wxscene/" WXSCENE_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    if (rq->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(rq->body));
    }
}

/* One exchange: 0 with the 2xx body in resp, or an error in api->err. */
static int http_once(struct wxapi *api, const struct wx_req *rq, const char *token,
                     struct buf *resp)
{
    struct buf url = {0};
    struct sink sink = {.b = resp, .cap = rq->cap};
    struct curl_slist *hdr = NULL;
    curl_mime *mime = NULL;
    long status = 0;
    int rc = WXAPI_EINTERNAL;
    buf_reset(resp);
    if (url_build(&url, rq->base, rq->path, rq->query, token) < 0) {
        set_err(&api->err, rc, "%s: out of memory", rq->what);
        goto done;
    }
    if (rq->body)
        hdr = curl_slist_append(NULL, "Content-Type: application/json; charset=utf-8");
    curl_setup(api, hdr, &sink, rq);
    if (rq->file) {
        if (!(mime = mime_for(api->curl, rq->file))) {
            set_err(&api->err, rc, "%s: cannot build the upload", rq->what);
            goto done;
        }
        curl_easy_setopt(api->curl, CURLOPT_MIMEPOST, mime);
    }
    curl_easy_setopt(api->curl, CURLOPT_URL, url.data);
    CURLcode cc = curl_easy_perform(api->curl);
    if (cc == CURLE_WRITE_ERROR) {
        set_err(&api->err, rc = WXAPI_EPROTO, "%s: answer larger than %zu bytes", rq->what,
                rq->cap);
        goto done;
    }
    if (cc != CURLE_OK) {
        long sent = 0;
        curl_easy_getinfo(api->curl, CURLINFO_REQUEST_SIZE, &sent);
        set_err(&api->err, rc = WXAPI_ENET, "%s: %s", rq->what, curl_easy_strerror(cc));
        api->err.unsent = sent == 0;
        goto done;
    }
    curl_easy_getinfo(api->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        api->err.http_status = status;
        set_err(&api->err, rc = WXAPI_EHTTP, "%s: HTTP status %ld", rq->what, status);
        goto done;
    }
    rc = 0;
done:
    curl_slist_free_all(hdr);
    curl_mime_free(mime);
    buf_free(&url);
    return rc;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Backoff before retry number `attempt` (1, 2, ...): 200 ms doubling, +0..25%. */
static void backoff(int attempt)
{
    unsigned char j = 0;
    long ms = (long)WXAPI_BACKOFF_MS << (attempt - 1);
    if (util_random(&j, 1) < 0)
        j = 0;
    sleep_ms(ms + ms * j / 1024);
}

/* Worth another attempt: WeChat busy, or a transient failure of a request
 * that cannot do its work twice. */
static bool retryable(const struct wx_req *rq, const struct wxapi_error *e)
{
    if (e->rc == WXAPI_EAPI)
        return e->errcode == -1;
    if (!rq->idempotent)
        return false;
    return e->rc == WXAPI_ENET || (e->rc == WXAPI_EHTTP && e->http_status >= 500);
}

/* One logical call with a given token: retried on -1 and transient errors.
 * Raw answers (rq->cap for images) skip JSON parsing when resp_json is NULL. */
static int call_with_token(struct wxapi *api, const struct wx_req *rq, const char *token,
                           struct buf *raw, json_t **resp_json)
{
    int rc = 0;
    for (int attempt = 0; attempt < WXAPI_ATTEMPTS; attempt++) {
        if (attempt > 0) {
            log_warn("wxapi: %s; retry %d of %d", api->err.msg, attempt, WXAPI_ATTEMPTS - 1);
            backoff(attempt);
        }
        memset(&api->err, 0, sizeof(api->err));
        rc = http_once(api, rq, token, raw);
        if (rc == 0 && resp_json)
            rc = wxapi_parse_answer(rq->what, raw->data ? raw->data : "", raw->len, resp_json,
                                    &api->err);
        if (rc == 0 || !retryable(rq, &api->err))
            return rc;
    }
    return rc;
}

/* The token dance around call_with_token: on a token error, expire the token
 * only if it is still the one used, take the fresh one and retry once. */
static int call(struct wxapi *api, const struct wx_req *rq, struct buf *raw, json_t **resp)
{
    char token[TOKEN_MAX];
    if (!rq->with_token)
        return call_with_token(api, rq, NULL, raw, resp);
    if (wxapi_token(api, token, sizeof(token)) < 0)
        return api->err.rc;
    int rc = call_with_token(api, rq, token, raw, resp);
    if (rc != WXAPI_EAPI || !wxapi_errcode_is_token(api->err.errcode))
        return rc;
    log_warn("wxapi: %s; refreshing the access_token and retrying once", api->err.msg);
    char why[sizeof(api->err.msg)];
    if (token_expire_if(api->tokens, token, why, sizeof(why)) < 0) {
        set_err(&api->err, WXAPI_EINTERNAL, "%s", why);
        return WXAPI_EINTERNAL;
    }
    if (wxapi_token(api, token, sizeof(token)) < 0)
        return api->err.rc;
    return call_with_token(api, rq, token, raw, resp);
}

static int call_json(struct wxapi *api, const struct wx_req *rq, json_t **resp)
{
    struct buf raw = {0};
    int rc = call(api, rq, &raw, resp);
    buf_free(&raw);
    return rc;
}

/* ---- access_token fetchers (token.h callbacks) ---- */

/* Pull access_token and expires_in out of a token answer. */
static int token_fields(struct wxapi *api, const char *what, json_t *root, char *tok, size_t toklen,
                        int64_t *expires_in)
{
    const char *t = json_string_value(json_object_get(root, "access_token"));
    json_t *e = json_object_get(root, "expires_in");
    if (!t || !*t || strlen(t) >= toklen || !json_is_integer(e) || json_integer_value(e) <= 0) {
        set_err(&api->err, WXAPI_EPROTO, "%s: answer without a usable access_token/expires_in",
                what);
        return WXAPI_EPROTO;
    }
    util_strlcpy(tok, t, toklen);
    *expires_in = json_integer_value(e);
    return 0;
}

static int fetch_classic(struct wxapi *api, char *tok, size_t toklen, int64_t *expires_in)
{
    struct buf q = {0};
    json_t *root = NULL;
    int rc = WXAPI_EINTERNAL;
    if (buf_puts(&q, "grant_type=client_credential&appid=") < 0 ||
        wxapi_urlencode(&q, api->cfg->appid) < 0 || buf_puts(&q, "&secret=") < 0 ||
        wxapi_urlencode(&q, api->cfg->appsecret) < 0) {
        set_err(&api->err, rc, "cgi-bin/token: out of memory");
        goto done;
    }
    struct wx_req rq = {.what = "cgi-bin/token",
                        .base = api->cfg->api_base,
                        .path = "cgi-bin/token",
                        .query = q.data,
                        .idempotent = true,
                        .cap = WXAPI_JSON_MAX};
    rc = call_json(api, &rq, &root);
    if (rc == 0)
        rc = token_fields(api, rq.what, root, tok, toklen, expires_in);
done:
    json_decref(root);
    buf_free(&q);
    return rc;
}

static int fetch_stable_once(struct wxapi *api, bool force, char *tok, size_t toklen,
                             int64_t *expires_in)
{
    json_t *root = NULL;
    char *body = NULL;
    json_t *req = json_pack("{s:s, s:s, s:s, s:b}", "grant_type", "client_credential", "appid",
                            api->cfg->appid, "secret", api->cfg->appsecret, "force_refresh", force);
    int rc = WXAPI_EINTERNAL;
    if (!req || !(body = json_dumps(req, JSON_COMPACT))) {
        set_err(&api->err, rc, "cgi-bin/stable_token: out of memory");
        goto done;
    }
    struct wx_req rq = {.what = "cgi-bin/stable_token",
                        .base = api->cfg->api_base,
                        .path = "cgi-bin/stable_token",
                        .body = body,
                        .idempotent = !force,
                        .cap = WXAPI_JSON_MAX};
    rc = call_json(api, &rq, &root);
    if (rc == 0)
        rc = token_fields(api, rq.what, root, tok, toklen, expires_in);
done:
    json_decref(root);
    json_decref(req);
    free(body);
    return rc;
}

/* stable_token returns the same token while it is valid; only when WeChat
 * rejected exactly that token is force_refresh worth one of its 20 a day. */
static int fetch_stable(struct wxapi *api, const char *rejected, char *tok, size_t toklen,
                        int64_t *expires_in)
{
    int rc = fetch_stable_once(api, false, tok, toklen, expires_in);
    if (rc == 0 && rejected && strcmp(tok, rejected) == 0) {
        log_warn("wxapi: stable_token returned the rejected token; forcing a refresh");
        rc = fetch_stable_once(api, true, tok, toklen, expires_in);
    }
    return rc;
}

static int token_fetch(void *arg, const char *rejected, char *tok, size_t toklen,
                       int64_t *expires_in, char *err, size_t errlen)
{
    struct wxapi *api = arg;
    int rc = api->cfg->stable_token ? fetch_stable(api, rejected, tok, toklen, expires_in)
                                    : fetch_classic(api, tok, toklen, expires_in);
    if (rc < 0)
        snprintf(err, errlen, "%s", api->err.msg);
    else
        log_info("wxapi: fetched a new access_token (%s, expires in %lld s)",
                 api->cfg->stable_token ? "stable_token" : "token", (long long)*expires_in);
    return rc;
}

/* ---- public ---- */

int wxapi_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void wxapi_global_cleanup(void)
{
    curl_global_cleanup();
}

int wxapi_new(struct wxapi **out, const struct cfg *cfg, struct store *st, char *err, size_t errlen)
{
    struct wxapi *api = calloc(1, sizeof(*api));
    if (!api || !(api->curl = curl_easy_init())) {
        snprintf(err, errlen, "wxapi: out of memory");
        goto fail;
    }
    api->cfg = cfg;
    api->st = st;
    int64_t lease = cfg->api_timeout * (WXAPI_ATTEMPTS + 1) + 5;
    struct token_opts o = {.key = cfg->appid,
                           .source = cfg->stable_token ? "stable_token" : "token",
                           .lease = lease,
                           .wait_max_ms = (lease + 5) * 1000,
                           .fetch = token_fetch,
                           .arg = api};
    if (token_cache_new(&api->tokens, st, &o) < 0) {
        snprintf(err, errlen, "wxapi: bad [wechat] appid for the token cache");
        goto fail;
    }
    *out = api;
    return 0;
fail:
    wxapi_free(api);
    return -1;
}

void wxapi_free(struct wxapi *api)
{
    if (!api)
        return;
    token_cache_free(api->tokens);
    if (api->curl)
        curl_easy_cleanup(api->curl);
    free(api);
}

const struct wxapi_error *wxapi_last_error(const struct wxapi *api)
{
    return &api->err;
}

int wxapi_token(struct wxapi *api, char *out, size_t outlen)
{
    char why[sizeof(api->err.msg)];
    memset(&api->err, 0, sizeof(api->err));
    if (token_get(api->tokens, out, outlen, why, sizeof(why)) == 0)
        return 0;
    if (api->err.rc == 0) /* not our own fetch: a waiter or the database */
        set_err(&api->err, WXAPI_ETOKEN, "access_token: %s", why);
    return api->err.rc;
}

int wxapi_post(struct wxapi *api, const char *path, json_t *body, bool idempotent, json_t **resp)
{
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text) {
        set_err(&api->err, WXAPI_EINTERNAL, "%s: cannot encode the request", path);
        return WXAPI_EINTERNAL;
    }
    struct wx_req rq = {.what = path,
                        .base = api->cfg->api_base,
                        .path = path,
                        .body = text,
                        .with_token = true,
                        .idempotent = idempotent,
                        .cap = WXAPI_JSON_MAX};
    int rc = call_json(api, &rq, resp);
    free(text);
    return rc;
}

int wxapi_upload(struct wxapi *api, const char *path, const char *query,
                 const struct wxapi_file *file, json_t **resp)
{
    struct wx_req rq = {.what = path,
                        .base = api->cfg->api_base,
                        .path = path,
                        .query = query,
                        .file = file,
                        .with_token = true,
                        .idempotent = false, /* a second upload makes a second material */
                        .cap = WXAPI_JSON_MAX};
    return call_json(api, &rq, resp);
}

int wxapi_get(struct wxapi *api, const char *path, const char *query, json_t **resp)
{
    struct wx_req rq = {.what = path,
                        .base = api->cfg->api_base,
                        .path = path,
                        .query = query,
                        .with_token = true,
                        .idempotent = true,
                        .cap = WXAPI_JSON_MAX};
    return call_json(api, &rq, resp);
}

int wxapi_showqrcode(struct wxapi *api, const char *ticket, struct buf *out, size_t max)
{
    struct buf q = {0};
    int rc = WXAPI_EINTERNAL;
    if (buf_puts(&q, "ticket=") < 0 || wxapi_urlencode(&q, ticket) < 0) {
        set_err(&api->err, rc, "cgi-bin/showqrcode: out of memory");
        goto done;
    }
    struct wx_req rq = {.what = "cgi-bin/showqrcode",
                        .base = api->cfg->mp_base,
                        .path = "cgi-bin/showqrcode",
                        .query = q.data,
                        .idempotent = true,
                        .cap = max};
    rc = call(api, &rq, out, NULL);
    if (rc == WXAPI_EHTTP && api->err.http_status == 404)
        set_err(&api->err, rc, "cgi-bin/showqrcode: WeChat does not know this ticket (404)");
done:
    buf_free(&q);
    return rc;
}
