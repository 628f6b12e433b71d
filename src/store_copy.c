#include "store_copy.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "stats.h"
#include "stats_output.h"
#include "util.h"

/* Every table of the schema (version 16), in an order that keeps each
 * one's references before it. types: one letter a column, i = integer, t =
 * text, either may be NULL. data: a row here means the target is in use
 * (the others are derived or written by any start: replaced). */
static const struct table {
    const char *name, *cols, *types, *order;
    bool data;
} tables[STORE_COPY_TABLES] = {
    {"campaigns", "id, name, note, created_at", "itti", "id", true},
    {"channels",
     "scene, name, promoter, reply, scan_reply, tag, created_at, archived_at, campaign_id, "
     "followup_ids",
     "ttttttiiit", "scene", true},
    {"events",
     "id, dedup_key, kind, openid, create_time, received_at, msg_type, event, event_key, scene, "
     "is_new_fan, reply",
     "ititiittttit", "id", true},
    {"fans",
     "openid, first_scene, first_sub_at, last_scene, last_sub_at, subscribed, unsub_at, "
     "subscribe_count, source",
     "ttitiiiit", "openid", true},
    {"wx_token",
     "appid, token, source, fetched_at, refresh_at, expires_at, lock_owner, lock_until, fail_seq, "
     "fail_msg",
     "tttiiitiit", "appid", true},
    {"qr_batches", "id, source, started_at, finished_at", "ttii", "id", true},
    {"qr_codes",
     "id, scene, kind, expire_seconds, state, ticket, url, requested_at, created_at, expires_at, "
     "batch, attempts",
     "ittitttiiiti", "id", true},
    {"qr_perm_ids", "scene_id, state, since, retired_at", "itii", "scene_id", true},
    {"tag_ids", "name, tag_id, checked_at, error, failures, next_try", "tiitii", "name", true},
    {"tag_outbox",
     "id, openid, tag, state, attempts, next_try, last_error, reason, event_id, created_at, "
     "updated_at, owner_host, owner_pid, claim_until",
     "itttiittiiitii", "id", true},
    {"fan_backfill",
     "openid, subscribe_scene, qr_scene, qr_scene_str, subscribe_time, recorded_at, walk",
     "ttitiii", "openid", true},
    {"backfill_state",
     "id, walk, cursor, total, seen, added, known, gone, started_at, updated_at, finished_at",
     "iitiiiiiiii", "id", true},
    /* 016: reply kinds, media, follow-ups and their outbox */
    {"channel_replies",
     "scene, kind, title, description, picurl, url, media_id, media_file, updated_at", "tttttttti",
     "scene", true},
    {"media", "sha256, media_id, url, file_name, bytes, created_at", "ttttii", "sha256", true},
    {"followup_msgs", "id, scene, pos, kind, body, media_file, created_at, removed_at", "ititttii",
     "id", true},
    {"followup_outbox",
     "id, event_id, openid, scene, msgs, total, done, uncertain, state, attempts, next_try, "
     "last_error, reason, created_at, updated_at, owner_host, owner_pid, claim_until",
     "iitttiiitiittiitii", "id", true},
    {"stats_meta", "key, value", "tt", "key", false},
    {"stats_tz", "from_utc, utc_offset", "ii", "from_utc", false},
    {"stats_daily",
     "day, scene, scans, new_fans, returning_fans, unsubscribes, quick_unsubs, retained, "
     "first_scanners",
     "itiiiiiii", "day, scene", false},
    {"stats_churn", "unsub_day, scene, sub_day, n", "itii", "unsub_day, scene, sub_day", false},
    {"stats_scan_first", "day, scene, prev_day, n", "itii", "day, scene, prev_day", false},
    {"stats_scanners", "openid, days", "tt", "openid", false},
    {"health", "id, checked_at, seq", "iii", "id", false},
    {"promoter_links", "promoter, token_sha256, created_at", "tti", "promoter", true},
};

/* After rows with explicit ids, a backend with id sequences moves them
 * past the largest (SQLite's INTEGER PRIMARY KEY needs nothing: the
 * common text is never run there; db_pgsql_sql.c has the real ones). */
static const struct db_query q_seq[] = {
    {"copy.seq_events", "SELECT 1"},        {"copy.seq_qr_codes", "SELECT 1"},
    {"copy.seq_tag_outbox", "SELECT 1"},    {"copy.seq_campaigns", "SELECT 1"},
    {"copy.seq_followup_msgs", "SELECT 1"}, {"copy.seq_followup_outbox", "SELECT 1"},
};

/* Columns of t; 0 when its types do not match its column list. */
static size_t ncols(const struct table *t)
{
    size_t commas = 0;
    for (const char *p = t->cols; *p; p++)
        commas += *p == ',';
    return strlen(t->types) == commas + 1 ? commas + 1 : 0;
}

static int count_rows(struct db *db, const char *table, int64_t *n)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    struct db_stmt *s = db_prepare(db, sql);
    int rc = db_step(s);
    if (rc == DB_ROW)
        *n = db_col_int64(s, 0);
    db_finalize(s);
    return rc == DB_ROW ? 0 : -1;
}

static int copy_table(struct db *from, struct db *to, const struct table *t, int64_t *rows,
                      char *err, size_t errlen)
{
    char sql[1024];
    struct buf ins = {0};
    size_t n = ncols(t);
    if (n == 0)
        return snprintf(err, errlen, "%s: its column types do not match its columns", t->name), -1;
    snprintf(sql, sizeof(sql), "SELECT %s FROM %s ORDER BY %s", t->cols, t->name, t->order);
    struct db_stmt *r = db_prepare(from, sql);
    if (buf_printf(&ins, "INSERT INTO %s(%s) VALUES(", t->name, t->cols) < 0)
        goto oom;
    for (size_t i = 0; i < n; i++)
        if (buf_printf(&ins, "%s?%zu", i ? ", " : "", i + 1) < 0)
            goto oom;
    if (buf_puts(&ins, ")") < 0)
        goto oom;
    struct db_stmt *w = db_prepare(to, ins.data);
    int rc;
    *rows = 0;
    while ((rc = db_step(r)) == DB_ROW) {
        for (size_t i = 0; i < n; i++) {
            int c = (int)i, p = (int)i + 1;
            if (db_col_null(r, c))
                db_bind_null(w, p);
            else if (t->types[i] == 'i')
                db_bind_int64(w, p, db_col_int64(r, c));
            else
                db_bind_text(w, p, db_col_text(r, c));
        }
        if (db_run(w) < 0) {
            snprintf(err, errlen, "writing %s (row %lld): %s", t->name, (long long)*rows + 1,
                     db_errmsg(to));
            db_finalize(w);
            db_finalize(r);
            buf_free(&ins);
            return -1;
        }
        (*rows)++;
    }
    if (rc != DB_DONE)
        snprintf(err, errlen, "reading %s: %s", t->name, db_errmsg(from));
    db_finalize(w);
    db_finalize(r);
    buf_free(&ins);
    return rc == DB_DONE ? 0 : -1;
oom:
    db_finalize(r);
    buf_free(&ins);
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* The target's transaction: refuse a target in use, replace what a start
 * writes by itself, copy every table from the source's snapshot. */
static int copy_all(struct db *from, struct db *to, struct store_copy_report *rep, char *err,
                    size_t errlen)
{
    for (size_t i = 0; i < STORE_COPY_TABLES; i++) {
        int64_t n = 0;
        if (count_rows(to, tables[i].name, &n) < 0)
            return snprintf(err, errlen, "target: %s: %s", tables[i].name, db_errmsg(to)), -1;
        if (tables[i].data && n > 0)
            return snprintf(err, errlen,
                            "the target is not empty (table %s has %lld rows): copy only into a "
                            "new database",
                            tables[i].name, (long long)n),
                   -1;
    }
    for (size_t i = 0; i < STORE_COPY_TABLES; i++) {
        char sql[96];
        if (tables[i].data)
            continue;
        snprintf(sql, sizeof(sql), "DELETE FROM %s", tables[i].name);
        if (db_exec(to, sql) < 0)
            return snprintf(err, errlen, "target: %s: %s", tables[i].name, db_errmsg(to)), -1;
    }
    for (size_t i = 0; i < STORE_COPY_TABLES; i++) {
        rep->t[i].name = tables[i].name;
        if (copy_table(from, to, &tables[i], &rep->t[i].rows, err, errlen) < 0)
            return -1;
        rep->rows += rep->t[i].rows;
    }
    rep->ntables = STORE_COPY_TABLES;
    for (size_t i = 0; i < WXS_ARRAY_LEN(q_seq); i++)
        if (db_run(db_stmt(to, &q_seq[i])) < 0)
            return snprintf(err, errlen, "target: id sequences: %s", db_errmsg(to)), -1;
    return 0;
}

/* One report of each kind over every day that holds data, as JSON text. */
static char *report_text(struct stats *s, enum stats_by by, char *err, size_t errlen)
{
    struct stats_report *r = NULL;
    if (stats_query(s, by, 0, stats_today(s) + 3660, &r, err, errlen) < 0)
        return NULL;
    json_t *j = stats_report_json(r);
    char *txt = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    stats_report_free(r);
    if (!txt)
        snprintf(err, errlen, "out of memory");
    return txt;
}

static int verify(struct store *from, struct store *to, const struct cfg *cfg,
                  struct store_copy_report *rep, char *err, size_t errlen)
{
    for (size_t i = 0; i < STORE_COPY_TABLES; i++) {
        int64_t a = -1, b = -1;
        if (count_rows(store_db(from), tables[i].name, &a) < 0 ||
            count_rows(store_db(to), tables[i].name, &b) < 0)
            return snprintf(err, errlen, "check: counting %s failed", tables[i].name), -1;
        if (a != b || b != rep->t[i].rows)
            return snprintf(err, errlen,
                            "check: table %s has %lld rows in the source, %lld copied, %lld in "
                            "the target",
                            tables[i].name, (long long)a, (long long)rep->t[i].rows, (long long)b),
                   -1;
    }
    struct stats *sa = NULL, *sb = NULL;
    int ret = -1;
    if (stats_open(&sa, from, cfg->timezone, cfg->retention_days, NULL, err, errlen) < 0 ||
        stats_open(&sb, to, cfg->timezone, cfg->retention_days, NULL, err, errlen) < 0)
        goto done;
    static const enum stats_by bys[] = {STATS_BY_CHANNEL, STATS_BY_PROMOTER, STATS_BY_DAY};
    for (size_t i = 0; i < WXS_ARRAY_LEN(bys); i++) {
        char *x = report_text(sa, bys[i], err, errlen);
        char *y = x ? report_text(sb, bys[i], err, errlen) : NULL;
        bool same = x && y && strcmp(x, y) == 0;
        if (x && y && !same)
            snprintf(err, errlen,
                     "check: the statistics by %s differ between the source and the "
                     "target",
                     stats_by_name(bys[i]));
        free(x);
        free(y);
        if (!same)
            goto done;
        rep->reports_compared++;
    }
    ret = 0;
done:
    stats_close(sa);
    stats_close(sb);
    return ret;
}

/* A copy that failed its check leaves the target as a fresh migration
 * does (stats_meta keeps its one row). 0, or -1 when it could not. */
static const struct db_query q_meta_reset = {
    "copy.meta_reset", "INSERT INTO stats_meta(key, value) VALUES('timezone', '')"};

static int empty_target(struct db *to)
{
    if (db_begin(to, DB_TX_WRITE) < 0)
        return -1;
    for (size_t i = STORE_COPY_TABLES; i-- > 0;) {
        char sql[96];
        snprintf(sql, sizeof(sql), "DELETE FROM %s", tables[i].name);
        if (db_exec(to, sql) < 0) {
            db_rollback(to);
            return -1;
        }
    }
    if (db_run(db_stmt(to, &q_meta_reset)) < 0 || db_commit(to) < 0) {
        db_rollback(to);
        return -1;
    }
    return 0;
}

int store_copy(struct store *from, struct store *to, const struct cfg *cfg,
               struct store_copy_report *rep, char *err, size_t errlen)
{
    struct db *src = store_db(from), *dst = store_db(to);
    uint64_t t0 = util_mono_us();
    memset(rep, 0, sizeof(*rep));
    if (db_begin(src, DB_TX_READ) < 0)
        return snprintf(err, errlen, "source: %s", db_errmsg(src)), -1;
    if (db_begin(dst, DB_TX_WRITE) < 0) {
        snprintf(err, errlen, "target: %s", db_errmsg(dst));
        db_rollback(src);
        return -1;
    }
    int rc = copy_all(src, dst, rep, err, errlen);
    db_rollback(src); /* a read: nothing to keep */
    if (rc < 0) {
        db_rollback(dst); /* nothing of it was written */
        return -1;
    }
    if (db_commit(dst) < 0) {
        snprintf(err, errlen, "target: COMMIT: %s%s", db_errmsg(dst),
                 db_errclass(dst) == DB_EUNCERTAIN
                     ? " (the connection was lost: the copy may or may not be there; drop and "
                       "recreate that database before copying again)"
                     : "; nothing was written");
        db_rollback(dst);
        return -1;
    }
    uint64_t t1 = util_mono_us();
    rep->copy_s = (double)(t1 - t0) / 1e6;
    if (verify(from, to, cfg, rep, err, errlen) < 0) {
        size_t n = strlen(err);
        snprintf(err + n, errlen - n, "%s",
                 empty_target(dst) == 0
                     ? "; the target was emptied again"
                     : "; emptying the target failed too: drop and recreate that database");
        return -1;
    }
    rep->check_s = (double)(util_mono_us() - t1) / 1e6;
    return 0;
}
