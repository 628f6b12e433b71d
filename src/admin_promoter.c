/* The console's promoter endpoints (admin_console.h): the leaderboard, a
 * promoter's private link, and the promoter's own read-only page at
 * /p/TOKEN, which shows that promoter's channels and numbers and nothing
 * else (no reply texts, no other promoter, no token, no admin right). */
#include "admin_console.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "assets.h"
#include "log.h"
#include "promoter_link.h"
#include "stats_output.h"
#include "tz.h"

#define PROMOTER_MAX 128 /* bytes of a promoter's name (channel_validate) */

static void job_err(struct ajob *j, int status, const char *msg, const char *code,
                    const char *field)
{
    admin_ajob_json(j, status,
                    json_pack("{s:s, s:s, s:s?}", "error", msg, "code", code, "field", field));
}

/* ---- GET /api/promoters ---- */

static int link_of(const char *promoter, int64_t created_at, void *arg)
{
    return json_object_set_new(arg, promoter,
                               json_pack("{s:I}", "created_at", (json_int_t)created_at));
}

/* Each leaderboard row gets "link": {"created_at"} or null. */
static int add_links(json_t *report, json_t *links)
{
    json_t *rows = json_object_get(report, "promoters"), *row;
    size_t i;
    json_array_foreach(rows, i, row)
    {
        const char *p = json_string_value(json_object_get(row, "promoter"));
        json_t *l = p ? json_object_get(links, p) : NULL;
        if (json_object_set(row, "link", l ? l : json_null()) < 0)
            return -1;
    }
    return 0;
}

static void run_promoters(struct ajob *j, struct store *st, struct stats *stats)
{
    struct evkeyvalq q = {0};
    struct stats_report *rep = NULL;
    json_t *links = json_object(), *out = NULL;
    char err[512];
    int64_t d0, d1;
    if (evhttp_parse_query_str(j->query, &q) < 0) {
        job_err(j, 400, "the query string is malformed", "bad_query", NULL);
        goto done;
    }
    const char *since = evhttp_find_header(&q, "since"), *until = evhttp_find_header(&q, "until");
    if (stats_range(stats, STATS_BY_PROMOTER, since && *since ? since : NULL,
                    until && *until ? until : NULL, "since", "until", &d0, &d1, err,
                    sizeof(err)) < 0) {
        job_err(j, 400, err, "date_invalid", strncmp(err, "until", 5) == 0 ? "until" : "since");
    } else if (stats_query(stats, STATS_BY_PROMOTER, d0, d1, &rep, err, sizeof(err)) < 0 ||
               !links || promoter_link_foreach(st, link_of, links) < 0 ||
               !(out = stats_report_json(rep)) || add_links(out, links) < 0) {
        log_warn("admin: promoters: %s", err);
        json_decref(out);
        job_err(j, 500, "the promoter query failed (see the server log)", "internal", NULL);
    } else {
        admin_ajob_json(j, 200, out);
    }
done:
    json_decref(links);
    stats_report_free(rep);
    evhttp_clear_headers(&q);
}

void admin_h_promoters(struct areq *r)
{
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->req));
    char *copy = strdup(q ? q : "");
    if (!copy)
        return admin_reply_json(r, 500, NULL);
    admin_ajob_submit(r, run_promoters, copy, NULL);
}

/* ---- POST|DELETE /api/promoters/{name}/link ---- */

static void promoter_not_found(struct ajob *j, const char *name)
{
    char msg[200];
    snprintf(msg, sizeof(msg), "promoter %s has no active channel", name);
    admin_ajob_json(j, 404,
                    json_pack("{s:s, s:s, s:s, s:{s:s}}", "error", msg, "code",
                              "promoter_not_found", "field", "name", "params", "name", name));
}

static void run_link_make(struct ajob *j, struct store *st, struct stats *stats)
{
    char token[PROMOTER_LINK_TOKEN_LEN + 1], hash[PROMOTER_LINK_HASH_LEN + 1], url[700];
    const char *base = j->cfg->admin_public_url;
    size_t blen = strlen(base);
    int64_t now = util_now();
    (void)stats;
    int known = promoter_link_known(st, j->query);
    if (known == 0)
        return promoter_not_found(j, j->query);
    if (known < 0 || promoter_link_token(token, hash) < 0 ||
        promoter_link_set(st, j->query, hash, now) < 0) {
        log_warn("admin: promoter link: %s", store_errmsg(st));
        return job_err(j, 500, "cannot make the link (see the server log)", "internal", NULL);
    }
    while (blen && base[blen - 1] == '/')
        blen--;
    snprintf(url, sizeof(url), "%.*s/p/%s", (int)blen, base, token);
    admin_ajob_json(j, 201, json_pack("{s:s, s:I}", "url", url, "created_at", (json_int_t)now));
}

static void run_link_revoke(struct ajob *j, struct store *st, struct stats *stats)
{
    (void)stats;
    int rc = promoter_link_delete(st, j->query);
    if (rc < 0) {
        log_warn("admin: promoter link revoke: %s", store_errmsg(st));
        return job_err(j, 500, "cannot revoke the link (see the server log)", "internal", NULL);
    }
    if (rc == 1)
        return admin_ajob_json(j, 404,
                               json_pack("{s:s, s:s, s:s}", "error", "this promoter has no link",
                                         "code", "link_not_found", "field", "name"));
    admin_ajob_json(j, 200, json_pack("{s:b}", "revoked", 1));
}

/* "{name}/link" after /api/promoters/: the name decoded strictly and
 * tidied as channels store promoters. */
static void link_submit(struct areq *r, void (*run)(struct ajob *, struct store *, struct stats *))
{
    const char *seg = r->path + strlen("/api/promoters/");
    size_t n = strlen(seg);
    char err[256], raw[3 * PROMOTER_MAX + 8];
    if (n < 6 || strcmp(seg + n - 5, "/link") != 0 || n - 5 >= sizeof(raw) ||
        memchr(seg, '/', n - 5)) {
        return admin_reply_json(r, 404,
                                json_pack("{s:s, s:s}", "error", "not found", "code", "not_found"));
    }
    memcpy(raw, seg, n - 5);
    raw[n - 5] = '\0';
    char *name = admin_segment_decode(r, raw, "name", PROMOTER_MAX, err, sizeof(err));
    char *tidy = name ? channel_text_tidy(name) : NULL;
    free(name);
    if (!tidy)
        return admin_reply_json(
            r, 400,
            json_pack("{s:s, s:s, s:s}", "error", err, "code", "name_invalid", "field", "name"));
    admin_ajob_submit(r, run, tidy, NULL);
}

void admin_h_link_make(struct areq *r)
{
    link_submit(r, run_link_make);
}

void admin_h_link_revoke(struct areq *r)
{
    link_submit(r, run_link_revoke);
}

/* ---- GET /p/{token}, /p/{token}.json ---- */

/* The promoter page: its own script and style only, nothing framed, no
 * referrer (the token is in the URL). */
static const char *const public_headers[] = {
    "Content-Security-Policy",
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy",
    "no-referrer",
    NULL,
};

static const struct asset *asset_named(const char *name)
{
    for (const struct asset *as = assets; as->name; as++)
        if (strcmp(as->name, name) == 0)
            return as;
    return NULL;
}

/* Unknown, revoked or malformed: one answer for all. */
static void public_not_found(struct ajob *j)
{
    job_err(j, 404, "not found", "not_found", NULL);
}

static int counts_set(json_t *o, const struct stats_counts *c)
{
    return json_object_set_new(o, "scans", json_integer(c->scans)) < 0 ||
                   json_object_set_new(o, "unique_scanners", json_integer(c->unique_scanners)) <
                       0 ||
                   json_object_set_new(o, "new_fans", json_integer(c->new_fans)) < 0 ||
                   json_object_set_new(o, "returning_fans", json_integer(c->returning_fans)) < 0 ||
                   json_object_set_new(o, "unsubscribes", json_integer(c->unsubscribes)) < 0 ||
                   json_object_set_new(o, "net_fans", json_integer(c->net_fans)) < 0 ||
                   json_object_set_new(o, "retained_fans", json_integer(c->retained_fans)) < 0
               ? -1
               : 0;
}

/* The promoter's channel rows (nothing but scene, name and numbers) and
 * their totals. */
static json_t *public_channels(const struct stats_report *rep, const char *promoter,
                               json_t **totals)
{
    json_t *a = json_array();
    struct stats_counts t = {0};
    for (size_t i = 0; a && i < rep->nrows; i++) {
        const struct stats_row *row = &rep->rows[i];
        if (!row->name || !row->promoter || strcmp(row->promoter, promoter) != 0)
            continue;
        json_t *o = json_pack("{s:s, s:s}", "scene", row->scene, "name", row->name);
        if (!o || counts_set(o, &row->c) < 0 || json_array_append_new(a, o) < 0)
            return json_decref(a), NULL;
        t.scans += row->c.scans, t.unique_scanners += row->c.unique_scanners;
        t.new_fans += row->c.new_fans, t.returning_fans += row->c.returning_fans;
        t.unsubscribes += row->c.unsubscribes, t.net_fans += row->c.net_fans;
        t.retained_fans += row->c.retained_fans;
    }
    *totals = json_object();
    if (!*totals || counts_set(*totals, &t) < 0)
        return json_decref(a), NULL;
    return a;
}

static json_t *public_days(const struct stats_report *rep)
{
    json_t *a = json_array();
    char day[16];
    for (size_t i = 0; a && i < rep->nrows; i++) {
        tz_format_date(rep->rows[i].day, day, sizeof(day));
        if (json_array_append_new(a, json_pack("{s:s, s:I, s:I}", "day", day, "new_fans",
                                               (json_int_t)rep->rows[i].c.new_fans, "scans",
                                               (json_int_t)rep->rows[i].c.scans)) < 0)
            return json_decref(a), NULL;
    }
    return a;
}

static void public_json(struct ajob *j, struct stats *stats, const char *promoter, const char *qs)
{
    struct evkeyvalq q = {0};
    struct stats_report *chan = NULL, *days = NULL;
    char err[512], since[16], until[16];
    int64_t d0, d1;
    json_t *totals = NULL, *rows = NULL;
    if (evhttp_parse_query_str(qs ? qs : "", &q) < 0) {
        job_err(j, 400, "the query string is malformed", "bad_query", NULL);
        goto done;
    }
    const char *s = evhttp_find_header(&q, "since"), *u = evhttp_find_header(&q, "until");
    if (stats_range(stats, STATS_BY_DAY, s && *s ? s : NULL, u && *u ? u : NULL, "since", "until",
                    &d0, &d1, err, sizeof(err)) < 0) {
        job_err(j, 400, err, "date_invalid", NULL);
        goto done;
    }
    if (stats_query(stats, STATS_BY_CHANNEL, d0, d1, &chan, err, sizeof(err)) < 0 ||
        stats_query_scoped(stats, STATS_BY_DAY, NULL, promoter, d0, d1, &days, err, sizeof(err)) <
            0 ||
        !(rows = public_channels(chan, promoter, &totals))) {
        log_warn("admin: promoter page: %s", err);
        job_err(j, 500, "the statistics query failed", "internal", NULL);
        goto done;
    }
    tz_format_date(d0, since, sizeof(since));
    tz_format_date(d1, until, sizeof(until));
    admin_ajob_json(j, 200,
                    json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "promoter", promoter, "since",
                              since, "until", until, "timezone", j->cfg->timezone, "channels", rows,
                              "totals", totals, "days", public_days(days)));
    rows = totals = NULL;
done:
    json_decref(rows);
    json_decref(totals);
    stats_report_free(chan);
    stats_report_free(days);
    evhttp_clear_headers(&q);
}

/* The page, the same bytes for every token: with 404 for an unknown or
 * revoked one, so that the browser still runs its script, which says so
 * in the reader's language (its .json answers 404 too). */
static void public_page(struct ajob *j, int status)
{
    const struct asset *as = asset_named("promoter.html");
    buf_reset(&j->out);
    if (!as || buf_append(&j->out, as->data, as->size) < 0)
        return public_not_found(j);
    j->status = status;
    j->ctype = "text/html; charset=utf-8";
}

/* j->query: "TOKEN" (the page) or "TOKEN.json?QUERY" (its data). The
 * lookup is by the token's hash, the same path for every token. */
static void run_public(struct ajob *j, struct store *st, struct stats *stats)
{
    char hash[PROMOTER_LINK_HASH_LEN + 1], *promoter = NULL;
    char *qs = strchr(j->query, '?');
    int64_t created;
    if (qs)
        *qs++ = '\0';
    size_t n = strlen(j->query);
    bool json = n > 5 && strcmp(j->query + n - 5, ".json") == 0;
    if (json)
        j->query[n - 5] = '\0';
    promoter_link_hash(j->query, hash);
    j->headers = public_headers;
    int rc = promoter_link_find(st, hash, &promoter, &created);
    if (rc < 0)
        log_warn("admin: promoter page: %s", store_errmsg(st));
    bool found = rc == 0 && strlen(j->query) == PROMOTER_LINK_TOKEN_LEN;
    if (json && found)
        public_json(j, stats, promoter, qs);
    else if (json)
        public_not_found(j);
    else
        public_page(j, found ? 200 : 404);
    free(promoter);
}

/* The page's own files, served from /p/ so that a proxy publishing /p/
 * publishes them too. */
static const struct {
    const char *path, *asset, *ctype;
} public_files[] = {
    {"promoter.js", "promoter.js", "text/javascript; charset=utf-8"},
    {"i18n.js", "i18n.js", "text/javascript; charset=utf-8"},
    {"console.css", "console.css", "text/css; charset=utf-8"},
};

void admin_h_public(struct areq *r)
{
    const char *seg = r->path + strlen("/p/");
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    for (size_t i = 0; i < WXS_ARRAY_LEN(public_files); i++) {
        const struct asset *as = asset_named(public_files[i].asset);
        if (strcmp(seg, public_files[i].path) != 0 || !as)
            continue;
        for (const char *const *p = public_headers; *p; p += 2)
            evhttp_add_header(h, p[0], p[1]);
        return admin_reply(r, 200, public_files[i].ctype, (const char *)as->data, as->size);
    }
    const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->req));
    size_t n = strnlen(seg, 64), qn = qs ? strnlen(qs, 256) : 0;
    char *arg = malloc(n + qn + 2);
    if (!arg)
        return admin_reply_json(r, 500, NULL);
    snprintf(arg, n + qn + 2, "%.*s%s%.*s", (int)n, seg, qs ? "?" : "", (int)qn, qs ? qs : "");
    admin_ajob_submit(r, run_public, arg, NULL);
}
