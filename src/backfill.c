#include "backfill.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "stats.h"
#include "wxapi.h"

#define OPENID_MAX 128 /* openids are 28 characters; anything far longer is not one */

static const struct db_query q_state_get = {"backfill.state_get",
                                            "SELECT cursor, total, seen, gone, walk, finished_at "
                                            "FROM backfill_state WHERE id = 1"};
/* The first walk inserts the row (walk = DEFAULT 1); a later one bumps it. */
static const struct db_query q_state_new = {
    "backfill.state_new",
    "INSERT INTO backfill_state(id, cursor, total, seen, added, known, gone, "
    "started_at, updated_at, finished_at) VALUES(1, NULL, 0, 0, 0, 0, 0, ?1, ?1, "
    "NULL) ON CONFLICT(id) DO UPDATE SET walk = backfill_state.walk + 1, cursor = NULL, "
    "total = 0, seen = 0, added = 0, known = 0, gone = 0, started_at = excluded.started_at, "
    "updated_at = excluded.updated_at, finished_at = NULL RETURNING walk"};
static const struct db_query q_state_page = {
    "backfill.state_page",
    "UPDATE backfill_state SET cursor = ?1, total = ?2, seen = ?3, added = ?4, "
    "known = ?5, gone = ?6, updated_at = ?7 WHERE id = 1"};
static const struct db_query q_state_finish = {
    "backfill.state_finish",
    "UPDATE backfill_state SET finished_at = ?1, updated_at = ?1 WHERE id = 1"};
static const struct db_query q_known = {"backfill.known", "SELECT 1 FROM fans WHERE openid = ?1"};
static const struct db_query q_fan_add = {
    "backfill.fan_add",
    "INSERT INTO fans(openid, first_scene, first_sub_at, last_scene, last_sub_at, "
    "subscribed, subscribe_count, source) VALUES(?1, ?2, ?3, ?2, ?3, 1, 1, "
    "'backfill') ON CONFLICT(openid) DO NOTHING"};
static const struct db_query q_origin_add = {
    "backfill.origin_add",
    "INSERT INTO fan_backfill(openid, subscribe_scene, qr_scene, qr_scene_str, "
    "subscribe_time, recorded_at, walk) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) "
    "ON CONFLICT(openid) DO NOTHING"};
static const struct db_query q_added = {"backfill.added",
                                        "SELECT count(*) FROM fan_backfill WHERE walk = ?1"};

/* Prepared before the first call: a schema this build cannot use fails
 * the run before it spends API quota. */
static const struct db_query *const bf_queries[] = {
    &q_state_get, &q_state_new, &q_state_page, &q_state_finish,
    &q_known,     &q_fan_add,   &q_origin_add, &q_added,
};

struct bf {
    const struct cfg *cfg;
    struct db *db;
    struct wxapi *api;
    const struct backfill_opts *o;
    struct backfill_progress *p;
    char *cursor;          /* next_openid to ask for, NULL = the first page */
    int64_t walk;          /* backfill_state.walk: which fan_backfill rows are this walk's */
    uint64_t next_call_us; /* rate limit: no call before this (monotonic) */
    char *err;
    size_t errlen;
};

/* One follower of a page that the store does not know yet. */
struct bf_chunk {
    size_t n;
    const char *openid[BACKFILL_INFO_MAX];
};

int backfill_scene(const char *subscribe_scene, int64_t qr_scene, const char *qr_scene_str,
                   char *out, size_t outlen)
{
    if (!subscribe_scene || strcmp(subscribe_scene, "ADD_SCENE_QR_CODE") != 0)
        return 0;
    if (qr_scene_str && *qr_scene_str) {
        size_t n = strlen(qr_scene_str);
        if (n > 64 || n >= outlen || !util_utf8_valid(qr_scene_str, n))
            return 0;
        for (const unsigned char *c = (const unsigned char *)qr_scene_str; *c; c++)
            if (*c < 0x20 || *c == 0x7f)
                return 0;
        memcpy(out, qr_scene_str, n + 1);
        return 1;
    }
    if (qr_scene > 0 && qr_scene <= 4294967295LL) {
        snprintf(out, outlen, "%lld", (long long)qr_scene);
        return 1;
    }
    return 0; /* the account's own code, or a code without scene */
}

static int fail(struct bf *b, const char *what, const char *why)
{
    snprintf(b->err, b->errlen, "%s: %s", what, why);
    return -1;
}

/* The connection's last error; call it right after the failing call. */
static int db_fail(struct bf *b, const char *what)
{
    return fail(b, what, db_errmsg(b->db));
}

/* Run a statement without rows to read (and reset it). */
static int exec_step(struct bf *b, struct db_stmt *s, const char *what)
{
    return db_run(s) < 0 ? db_fail(b, what) : 0;
}

static void sleep_us(uint64_t us)
{
    struct timespec ts = {.tv_sec = (time_t)(us / 1000000), .tv_nsec = (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* At most [backfill] rate calls per second, evenly spaced, so a long walk
 * neither trips the frequency limit (45009) nor starves other API users. */
static void rate_wait(struct bf *b)
{
    uint64_t now = util_mono_us(), gap = 1000000u / (uint64_t)b->cfg->backfill_rate;
    if (b->next_call_us > now)
        sleep_us(b->next_call_us - now);
    b->next_call_us = (b->next_call_us > now ? b->next_call_us : now) + gap;
    b->p->calls++;
}

static void progress(struct bf *b)
{
    if (b->o->on_progress)
        b->o->on_progress(b->o->arg, b->p);
}

static bool stopped(const struct bf *b)
{
    return b->o->stop && atomic_load(b->o->stop);
}

/* ---- the walk's state row ---- */

/* The fans this walk recorded so far into *n; -1 with err set. */
static int added_so_far(struct bf *b, int64_t *n)
{
    struct db_stmt *s = db_stmt(b->db, &q_added);
    db_bind_int64(s, 1, b->walk);
    int rc = db_step(s);
    if (rc == DB_ROW)
        *n = db_col_int64(s, 0);
    else
        db_fail(b, "fan_backfill");
    db_reset(s);
    return rc == DB_ROW ? 0 : -1;
}

/* Resume an unfinished walk, or start a new one (first run, the last walk
 * finished, or --restart). */
static int walk_load(struct bf *b)
{
    struct db_stmt *s = db_stmt(b->db, &q_state_get);
    int rc = db_step(s);
    bool resume = rc == DB_ROW && db_col_null(s, 5) && !b->o->restart;
    if (resume) {
        bool has_cursor = !db_col_null(s, 0);
        b->cursor = db_col_strdup(s, 0);
        b->p->total = db_col_int64(s, 1);
        b->p->seen = db_col_int64(s, 2);
        b->p->gone = db_col_int64(s, 3);
        b->walk = db_col_int64(s, 4);
        b->p->resumed = b->p->seen > 0 || has_cursor;
        if (has_cursor && !b->cursor)
            rc = fail(b, "backfill", "out of memory");
    } else if (rc < 0) {
        db_fail(b, "backfill state");
    }
    db_reset(s);
    if (rc < 0)
        return -1;
    if (resume) {
        if (added_so_far(b, &b->p->added) < 0)
            return -1;
        b->p->known = b->p->seen - b->p->added - b->p->gone;
        return 0;
    }
    s = db_stmt(b->db, &q_state_new);
    db_bind_int64(s, 1, util_now());
    rc = db_step(s);
    b->walk = rc == DB_ROW ? db_col_int64(s, 0) : 1; /* first row: DEFAULT 1 */
    if (rc < 0)
        db_fail(b, "backfill state");
    db_reset(s);
    return rc < 0 ? -1 : 0;
}

/* Commit the page: the cursor moves past it only now. */
static int walk_page_done(struct bf *b, const char *next, int64_t n, int64_t gone)
{
    b->p->seen += n;
    b->p->gone += gone;
    if (added_so_far(b, &b->p->added) < 0)
        return -1;
    b->p->known = b->p->seen - b->p->added - b->p->gone;
    b->p->in_page = 0;
    struct db_stmt *s = db_stmt(b->db, &q_state_page);
    db_bind_text(s, 1, next);
    db_bind_int64(s, 2, b->p->total);
    db_bind_int64(s, 3, b->p->seen);
    db_bind_int64(s, 4, b->p->added);
    db_bind_int64(s, 5, b->p->known);
    db_bind_int64(s, 6, b->p->gone);
    db_bind_int64(s, 7, util_now());
    if (exec_step(b, s, "backfill cursor") < 0)
        return -1;
    free(b->cursor);
    b->cursor = strdup(next);
    return b->cursor ? 0 : fail(b, "backfill", "out of memory");
}

static int walk_finish(struct bf *b)
{
    struct db_stmt *s = db_stmt(b->db, &q_state_finish);
    db_bind_int64(s, 1, util_now());
    b->p->finished = true;
    return exec_step(b, s, "backfill state");
}

/* ---- user/info/batchget ---- */

static bool chunk_has(const struct bf_chunk *c, const char *openid)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->openid[i], openid) == 0)
            return true;
    return false;
}

/* Record one current follower: the fans row only if none exists (events
 * win, even one that arrived while we asked), and WeChat's words with it. */
static int record_fan(struct bf *b, json_t *u)
{
    const char *openid = json_string_value(json_object_get(u, "openid"));
    const char *sub_scene = json_string_value(json_object_get(u, "subscribe_scene"));
    const char *qrs = json_string_value(json_object_get(u, "qr_scene_str"));
    json_int_t qr = json_integer_value(json_object_get(u, "qr_scene"));
    json_int_t when = json_integer_value(json_object_get(u, "subscribe_time"));
    char scene[80];
    bool has_scene = backfill_scene(sub_scene, qr, qrs, scene, sizeof(scene)) == 1;
    int64_t now = util_now();
    struct db_stmt *s = db_stmt(b->db, &q_fan_add);
    db_bind_text(s, 1, openid);
    db_bind_text(s, 2, has_scene ? scene : NULL);
    db_bind_int64(s, 3, when > 0 ? when : now);
    if (exec_step(b, s, "fans") < 0)
        return -1;
    if (db_changes(b->db) == 0)
        return 0; /* known from an event meanwhile: events win */
    /* retained_fans counts current fans by their latest scene */
    if (stats_fan_changed(b->db, NULL, 0, false, has_scene ? scene : NULL, when > 0 ? when : now,
                          true) < 0)
        return db_fail(b, "statistics");
    s = db_stmt(b->db, &q_origin_add);
    db_bind_text(s, 1, openid);
    db_bind_text(s, 2, sub_scene ? sub_scene : "");
    if (qr > 0)
        db_bind_int64(s, 3, qr);
    else
        db_bind_null(s, 3);
    db_bind_text_opt(s, 4, qrs);
    db_bind_int64(s, 5, when > 0 ? when : now);
    db_bind_int64(s, 6, now);
    db_bind_int64(s, 7, b->walk);
    return exec_step(b, s, "fan_backfill");
}

/* Store the answer's followers, one transaction per call. Entries for
 * openids we did not ask about are ignored; subscribe 0 = gone. */
static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* The chunk's openids locked in sorted order (store_fan_lock) before any
 * of their rows is read or written: a push of one of them in another
 * instance's transaction waits, or this waits for it, and the fan is new
 * to exactly one of them. */
static int lock_chunk(struct bf *b, const struct bf_chunk *c)
{
    const char *ids[BACKFILL_INFO_MAX];
    size_t n = c->n < BACKFILL_INFO_MAX ? c->n : BACKFILL_INFO_MAX;
    for (size_t i = 0; i < n; i++)
        ids[i] = c->openid[i];
    qsort(ids, n, sizeof(ids[0]), cmp_str);
    for (size_t i = 0; i < n; i++)
        if (store_fan_lock(b->db, ids[i]) < 0)
            return db_fail(b, "locking the fans");
    return 0;
}

static int record_infos(struct bf *b, const struct bf_chunk *c, json_t *list, int64_t *gone)
{
    json_t *u;
    size_t i;
    int ret = db_begin(b->db, DB_TX_WRITE) < 0 ? db_fail(b, "begin") : 0;
    if (ret == 0)
        ret = lock_chunk(b, c);
    json_array_foreach(list, i, u)
    {
        const char *openid = json_string_value(json_object_get(u, "openid"));
        if (ret < 0)
            break;
        if (!openid || !chunk_has(c, openid))
            continue;
        if (json_integer_value(json_object_get(u, "subscribe")) != 1) {
            (*gone)++; /* left meanwhile: nothing about them is kept */
            continue;
        }
        ret = record_fan(b, u);
    }
    if (ret == 0 && db_commit(b->db) == 0)
        return 0;
    if (ret == 0)
        db_fail(b, "commit"); /* uncertain included: the rerun adds nothing twice */
    db_rollback(b->db);
    return -1;
}

static int batchget(struct bf *b, const struct bf_chunk *c, int64_t *gone)
{
    json_t *list = json_array(), *resp = NULL;
    int ret = -1;
    for (size_t i = 0; list && i < c->n; i++)
        json_array_append_new(list,
                              json_pack("{s:s, s:s}", "openid", c->openid[i], "lang", "zh_CN"));
    json_t *body = list ? json_pack("{s:o}", "user_list", list) : NULL;
    if (!body)
        return fail(b, "user/info/batchget", "out of memory");
    rate_wait(b);
    if (wxapi_post(b->api, "cgi-bin/user/info/batchget", body, true, &resp) < 0) {
        fail(b, "backfill", wxapi_last_error(b->api)->msg);
        goto done;
    }
    json_t *infos = json_object_get(resp, "user_info_list");
    if (!json_is_array(infos)) {
        fail(b, "cgi-bin/user/info/batchget", "answer without user_info_list");
        goto done;
    }
    ret = record_infos(b, c, infos, gone);
done:
    json_decref(body);
    json_decref(resp);
    return ret;
}

/* ---- user/get pages ---- */

/* 0 = unknown to the store, 1 = known, -1 = error. */
static int is_known(struct bf *b, const char *openid)
{
    struct db_stmt *s = db_stmt(b->db, &q_known);
    db_bind_text(s, 1, openid);
    int rc = db_step(s);
    if (rc < 0)
        db_fail(b, "fans");
    db_reset(s);
    return rc < 0 ? -1 : rc == DB_ROW;
}

static int page_check(struct bf *b, json_t *ids)
{
    json_t *v;
    size_t i;
    json_array_foreach(ids, i, v)
    {
        const char *o = json_string_value(v);
        if (!o || !*o || strlen(o) > OPENID_MAX)
            return fail(b, "cgi-bin/user/get", "an openid in data.openid is not a short string");
    }
    return 0;
}

/* Ask about the unknown openids of one page, 100 per call. */
static int page_walk(struct bf *b, json_t *ids, int64_t *gone)
{
    struct bf_chunk c = {0};
    json_t *v;
    size_t i, n = json_array_size(ids);
    json_array_foreach(ids, i, v)
    {
        const char *o = json_string_value(v);
        int k = is_known(b, o);
        if (k < 0)
            return -1;
        if (k == 0)
            c.openid[c.n++] = o;
        if (c.n == BACKFILL_INFO_MAX || (i + 1 == n && c.n > 0)) {
            if (stopped(b) || batchget(b, &c, gone) < 0)
                return stopped(b) ? 1 : -1;
            c.n = 0;
            b->p->in_page = (int64_t)i + 1;
            if (added_so_far(b, &b->p->added) < 0)
                return -1;
            progress(b);
        }
    }
    return 0;
}

/* One user/get page: 0 = walked (more may follow), 1 = the end, -1 error,
 * 2 = stopped. */
static int page(struct bf *b)
{
    struct buf q = {0};
    json_t *resp = NULL;
    int ret = -1;
    int64_t gone = 0;
    if (b->cursor && (buf_puts(&q, "next_openid=") < 0 || wxapi_urlencode(&q, b->cursor) < 0))
        return fail(b, "backfill", "out of memory");
    rate_wait(b);
    if (wxapi_get(b->api, "cgi-bin/user/get", q.data, &resp) < 0) {
        fail(b, "backfill", wxapi_last_error(b->api)->msg);
        goto done;
    }
    json_t *ids = json_object_get(json_object_get(resp, "data"), "openid");
    const char *next = json_string_value(json_object_get(resp, "next_openid"));
    if (json_is_integer(json_object_get(resp, "total")))
        b->p->total = json_integer_value(json_object_get(resp, "total"));
    if (json_array_size(ids) == 0) {
        ret = 1;
        goto done;
    }
    if (page_check(b, ids) < 0)
        goto done;
    int rc = page_walk(b, ids, &gone);
    if (rc != 0) {
        ret = rc < 0 ? -1 : 2;
        goto done;
    }
    if (!next || !*next) /* some pages end the list without a final empty page */
        next = json_string_value(json_array_get(ids, json_array_size(ids) - 1));
    ret = walk_page_done(b, next, (int64_t)json_array_size(ids), gone);
    progress(b);
done:
    json_decref(resp);
    buf_free(&q);
    return ret;
}

/* ---- entry ---- */

static int bf_open(struct bf *b, struct store *st, char *err, size_t errlen)
{
    b->db = store_db(st);
    for (size_t i = 0; i < WXS_ARRAY_LEN(bf_queries); i++)
        if (!db_stmt(b->db, bf_queries[i]))
            return db_fail(b, bf_queries[i]->name);
    return wxapi_new(&b->api, b->cfg, st, err, errlen);
}

static void bf_close(struct bf *b)
{
    wxapi_free(b->api);
    free(b->cursor);
}

int backfill_run(const struct cfg *cfg, struct store *st, const struct backfill_opts *o,
                 struct backfill_progress *p, char *err, size_t errlen)
{
    struct bf b = {.cfg = cfg, .o = o, .p = p, .err = err, .errlen = errlen};
    int ret = -1, rc = 0;
    memset(p, 0, sizeof(*p));
    if (bf_open(&b, st, err, errlen) < 0 || walk_load(&b) < 0)
        goto done;
    progress(&b);
    while (rc == 0 && !stopped(&b))
        rc = page(&b);
    if (rc < 0)
        goto done;
    if (rc == 1 && walk_finish(&b) < 0)
        goto done;
    progress(&b);
    ret = 0;
done:
    bf_close(&b);
    return ret;
}
