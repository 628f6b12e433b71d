/* qr_perm: the permanent scene id ledger (qr_perm_ids). An account gets
 * 100000 permanent codes for ever, so ids are handed out lowest-free first,
 * kept while a code carries them, and only come back after the channel is
 * archived AND the operator confirms its printed codes are gone: a recycled
 * id on a forgotten poster would credit the new channel with old scans. */
#include <stdio.h>
#include <string.h>

#include "qr_internal.h"

static int ledger_state(struct store *st, uint64_t id, char *state, size_t statelen)
{
    sqlite3_stmt *s = qr_prep(st, "SELECT state FROM qr_perm_ids WHERE scene_id = ?1");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, (sqlite3_int64)id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        util_strlcpy(state, (const char *)sqlite3_column_text(s, 0), statelen);
    else
        state[0] = '\0';
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int qr_perm_state(struct store *st, uint64_t id)
{
    char state[16];
    if (ledger_state(st, id, state, sizeof(state)) < 0)
        return -1;
    return !state[0] ? 0 : strcmp(state, "used") == 0 ? 1 : 2;
}

int qr_perm_usage(struct store *st, struct qr_perm_usage *out)
{
    sqlite3_stmt *s = qr_prep(st, "SELECT (SELECT COUNT(*) FROM qr_perm_ids WHERE state = 'used'), "
                                  "(SELECT COUNT(*) FROM qr_perm_ids WHERE state = 'retired'), "
                                  "(SELECT COUNT(DISTINCT scene) FROM qr_codes "
                                  " WHERE kind = 'perm_str' AND state = 'done')");
    int rc = s ? sqlite3_step(s) : SQLITE_ERROR;
    if (rc == SQLITE_ROW) {
        out->ids_used = sqlite3_column_int64(s, 0);
        out->ids_retired = sqlite3_column_int64(s, 1);
        out->str_codes = sqlite3_column_int64(s, 2);
        out->ids_free = (int64_t)QR_PERM_ID_MAX - out->ids_used - out->ids_retired;
        out->codes_left = out->ids_free - out->str_codes;
        if (out->codes_left < 0)
            out->codes_left = 0;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : -1;
}

int qr_perm_reserve(struct store *st, uint64_t id, bool *inserted, struct qr_error *err)
{
    char state[16];
    *inserted = false;
    if (ledger_state(st, id, state, sizeof(state)) < 0)
        return qr_db_fail(st, err);
    if (strcmp(state, "retired") == 0)
        return qr_fail(err, QR_ECONFLICT, "scene",
                       "permanent scene_id %llu is retired (its channel was archived); once its "
                       "printed codes are gone, free it with: wxscene qr perm-ids --release %llu",
                       (unsigned long long)id, (unsigned long long)id);
    if (state[0])
        return 0; /* used: another code (or an interrupted run) already holds it */
    sqlite3_stmt *s = qr_prep(st, "INSERT INTO qr_perm_ids(scene_id, state, since) "
                                  "VALUES(?1, 'used', ?2)");
    if (s) {
        sqlite3_bind_int64(s, 1, (sqlite3_int64)id);
        sqlite3_bind_int64(s, 2, util_now());
    }
    if (qr_exec(s) < 0)
        return qr_db_fail(st, err);
    *inserted = true;
    return 0;
}

int qr_perm_unreserve(struct store *st, uint64_t id)
{
    sqlite3_stmt *s = qr_prep(st, "DELETE FROM qr_perm_ids WHERE scene_id = ?1 AND state = 'used' "
                                  "AND NOT EXISTS (SELECT 1 FROM qr_codes WHERE kind = 'perm_id' "
                                  "AND scene = CAST(?1 AS TEXT))");
    if (s)
        sqlite3_bind_int64(s, 1, (sqlite3_int64)id);
    return qr_exec(s);
}

/* An id with no ledger row is still taken while its scene text belongs to
 * a live channel or to a temporary code that can still be scanned. */
static int scene_taken(struct store *st, uint64_t id)
{
    char scene[24];
    snprintf(scene, sizeof(scene), "%llu", (unsigned long long)id);
    sqlite3_stmt *s = qr_prep(st, "SELECT EXISTS (SELECT 1 FROM channels WHERE scene = ?1 "
                                  "AND archived_at IS NULL) OR EXISTS (SELECT 1 FROM qr_codes "
                                  "WHERE scene = ?1 AND (state = 'pending' OR expires_at > ?2))");
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, scene, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, util_now());
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) != 0 : -1;
    sqlite3_finalize(s);
    return ret;
}

/* Walk the ledger in order; the gaps before each row are the free ids. */
static int first_free(struct store *st, sqlite3_stmt *ledger, uint64_t *out)
{
    uint64_t cand = 1;
    for (;;) {
        int rc = sqlite3_step(ledger);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return -1;
        uint64_t held =
            rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(ledger, 0) : QR_PERM_ID_MAX + 1;
        for (; cand < held; cand++) {
            int taken = scene_taken(st, cand);
            if (taken < 0)
                return -1;
            if (!taken) {
                *out = cand;
                return 0;
            }
        }
        cand = held + 1;
        if (rc == SQLITE_DONE)
            return 1;
    }
}

int qr_perm_alloc(struct store *st, uint64_t *out, struct qr_error *err)
{
    sqlite3_stmt *s = qr_prep(st, "SELECT scene_id FROM qr_perm_ids ORDER BY scene_id");
    int rc = s ? first_free(st, s, out) : -1;
    sqlite3_finalize(s);
    if (rc < 0)
        return qr_db_fail(st, err);
    if (rc > 0)
        return qr_fail(err, QR_ECONFLICT, "scene",
                       "no permanent scene id is free (1..%u are used or retired); see "
                       "wxscene qr perm-ids",
                       QR_PERM_ID_MAX);
    return 0;
}

int qr_perm_next_free(struct store *st, uint64_t *out)
{
    struct qr_error err;
    return qr_perm_alloc(st, out, &err) < 0 ? -1 : 0;
}

int qr_perm_reclaim_scene(struct store *st, const char *scene)
{
    return channel_rename_archived(st, scene);
}

struct archive_ctx {
    const char *scene;
    uint64_t retired;
    struct qr_error *err;
};

static int retire_id(struct store *st, struct archive_ctx *a)
{
    uint64_t id;
    char state[16];
    if (!channel_scene_is_id(a->scene) || util_parse_u64(a->scene, 1, QR_PERM_ID_MAX, &id) < 0)
        return 0;
    if (ledger_state(st, id, state, sizeof(state)) < 0)
        return qr_db_fail(st, a->err);
    if (strcmp(state, "used") != 0)
        return 0;
    sqlite3_stmt *s = qr_prep(st, "UPDATE qr_perm_ids SET state = 'retired', retired_at = ?2 "
                                  "WHERE scene_id = ?1");
    if (s) {
        sqlite3_bind_int64(s, 1, (sqlite3_int64)id);
        sqlite3_bind_int64(s, 2, util_now());
    }
    if (qr_exec(s) < 0)
        return qr_db_fail(st, a->err);
    a->retired = id;
    return 0;
}

static int archive_tx(struct store *st, void *arg)
{
    struct archive_ctx *a = arg;
    int state = qr_channel_state(st, a->scene);
    if (state < 0)
        return qr_db_fail(st, a->err);
    if (state == 2)
        return qr_fail(a->err, QR_EINVALID, "scene", "no channel %s", a->scene);
    if (state == 1)
        return qr_fail(a->err, QR_ECONFLICT, "scene", "channel %s is already archived", a->scene);
    if (channel_archive(st, a->scene, util_now()) < 0)
        return qr_db_fail(st, a->err);
    return retire_id(st, a);
}

int qr_channel_archive(struct store *st, const char *scene, uint64_t *retired_id,
                       struct qr_error *err)
{
    struct archive_ctx a = {.scene = scene, .err = err};
    memset(err, 0, sizeof(*err));
    if (store_tx(st, archive_tx, &a) < 0)
        return err->rc ? err->rc : qr_db_fail(st, err);
    *retired_id = a.retired;
    return 0;
}

struct release_ctx {
    uint64_t id;
    struct qr_error *err;
};

static int release_tx(struct store *st, void *arg)
{
    struct release_ctx *r = arg;
    char state[16];
    if (ledger_state(st, r->id, state, sizeof(state)) < 0)
        return qr_db_fail(st, r->err);
    if (!state[0])
        return qr_fail(r->err, QR_EINVALID, "scene", "permanent scene_id %llu is already free",
                       (unsigned long long)r->id);
    if (strcmp(state, "used") == 0)
        return qr_fail(r->err, QR_ECONFLICT, "scene",
                       "permanent scene_id %llu is in use; archive its channel first "
                       "(wxscene channel archive %llu)",
                       (unsigned long long)r->id, (unsigned long long)r->id);
    sqlite3_stmt *s = qr_prep(st, "DELETE FROM qr_perm_ids WHERE scene_id = ?1");
    if (s)
        sqlite3_bind_int64(s, 1, (sqlite3_int64)r->id);
    return qr_exec(s) < 0 ? qr_db_fail(st, r->err) : 0;
}

int qr_perm_release(struct store *st, uint64_t scene_id, struct qr_error *err)
{
    struct release_ctx r = {.id = scene_id, .err = err};
    memset(err, 0, sizeof(*err));
    if (store_tx(st, release_tx, &r) < 0)
        return err->rc ? err->rc : qr_db_fail(st, err);
    return 0;
}

int qr_perm_foreach_retired(struct store *st, int (*fn)(uint64_t id, int64_t retired_at, void *arg),
                            void *arg)
{
    sqlite3_stmt *s = qr_prep(st, "SELECT scene_id, retired_at FROM qr_perm_ids "
                                  "WHERE state = 'retired' ORDER BY retired_at, scene_id");
    int rc = s ? 0 : -1;
    while (rc == 0) {
        int step = sqlite3_step(s);
        if (step == SQLITE_DONE)
            break;
        rc = step == SQLITE_ROW
                 ? fn((uint64_t)sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1), arg)
                 : -1;
    }
    sqlite3_finalize(s);
    return rc;
}
