#include "qr_perm.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "channel.h"

static const struct db_query q_state = {"qr_perm.state",
                                        "SELECT state FROM qr_perm_ids WHERE scene_id = ?1"};
/* The insert is its own check: no row yet means free, whoever asks. */
static const struct db_query q_reserve = {
    "qr_perm.reserve", "INSERT INTO qr_perm_ids(scene_id, state, since) VALUES(?1, 'used', ?2) "
                       "ON CONFLICT(scene_id) DO NOTHING"};
static const struct db_query q_unreserve = {
    "qr_perm.unreserve", "DELETE FROM qr_perm_ids WHERE scene_id = ?1 AND state = 'used' "
                         "AND NOT EXISTS (SELECT 1 FROM qr_codes WHERE kind = 'perm_id' "
                         "AND scene = ?2)"};
static const struct db_query q_held = {"qr_perm.held",
                                       "SELECT scene_id FROM qr_perm_ids ORDER BY scene_id"};
static const struct db_query q_scene_taken = {
    "qr_perm.scene_taken",
    "SELECT CASE WHEN EXISTS (SELECT 1 FROM channels WHERE scene = ?1 AND archived_at IS NULL) "
    "OR EXISTS (SELECT 1 FROM qr_codes WHERE scene = ?1 AND (state = 'pending' OR "
    "expires_at > ?2)) THEN 1 ELSE 0 END"};
static const struct db_query q_retire = {
    "qr_perm.retire", "UPDATE qr_perm_ids SET state = 'retired', retired_at = ?2 "
                      "WHERE scene_id = ?1 AND state = 'used'"};
static const struct db_query q_release = {
    "qr_perm.release", "DELETE FROM qr_perm_ids WHERE scene_id = ?1 AND state = 'retired'"};
static const struct db_query q_usage = {
    "qr_perm.usage", "SELECT (SELECT COUNT(*) FROM qr_perm_ids WHERE state = 'used'), "
                     "(SELECT COUNT(*) FROM qr_perm_ids WHERE state = 'retired'), "
                     "(SELECT COUNT(DISTINCT scene) FROM qr_codes "
                     " WHERE kind = 'perm_str' AND state = 'done')"};
static const struct db_query q_retired = {"qr_perm.retired",
                                          "SELECT scene_id, retired_at FROM qr_perm_ids "
                                          "WHERE state = 'retired' ORDER BY retired_at, scene_id"};

/* The database's message for the call that just failed, with what was
 * being done; read before any other call on the connection replaces it. */
static int db_fail(struct db *db, char *err, size_t errlen, const char *fmt, ...) WXS_PRINTF(4, 5);
static int db_fail(struct db *db, char *err, size_t errlen, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "database: %s: %s", what, db_errmsg(db));
    return QR_PERM_EDB;
}

int qr_perm_state(struct db *db, uint64_t id, enum qr_perm_state *out, char *err, size_t errlen)
{
    struct db_stmt *s = db_stmt(db, &q_state);
    db_bind_int64(s, 1, (int64_t)id);
    int rc = db_step(s);
    if (rc < 0) {
        db_fail(db, err, errlen, "reading permanent scene_id %llu", (unsigned long long)id);
        db_reset(s);
        return QR_PERM_EDB;
    }
    const char *state = rc == DB_ROW ? db_col_text(s, 0) : NULL;
    *out = !state ? QR_PERM_FREE : strcmp(state, "retired") == 0 ? QR_PERM_RETIRED : QR_PERM_USED;
    db_reset(s);
    return 0;
}

int qr_perm_reserve(struct db *db, uint64_t id, bool *inserted, char *err, size_t errlen)
{
    struct db_stmt *s = db_stmt(db, &q_reserve);
    enum qr_perm_state state;
    *inserted = false;
    db_bind_int64(s, 1, (int64_t)id);
    db_bind_int64(s, 2, util_now());
    if (db_run(s) < 0)
        return db_fail(db, err, errlen, "reserving permanent scene_id %llu",
                       (unsigned long long)id);
    if (db_changes(db) > 0) {
        *inserted = true;
        return 0;
    }
    int rc = qr_perm_state(db, id, &state, err, errlen);
    if (rc < 0)
        return rc;
    if (state == QR_PERM_RETIRED) {
        snprintf(err, errlen,
                 "permanent scene_id %llu is retired (its channel was archived); once its "
                 "printed codes are gone, free it with: wxscene qr perm-ids --release %llu",
                 (unsigned long long)id, (unsigned long long)id);
        return QR_PERM_ECONFLICT;
    }
    return 0; /* used: another code (or an interrupted run) already holds it */
}

int qr_perm_unreserve(struct db *db, uint64_t id, char *err, size_t errlen)
{
    char scene[24];
    struct db_stmt *s = db_stmt(db, &q_unreserve);
    snprintf(scene, sizeof(scene), "%llu", (unsigned long long)id);
    db_bind_int64(s, 1, (int64_t)id);
    db_bind_text(s, 2, scene);
    if (db_run(s) < 0)
        return db_fail(db, err, errlen, "giving back permanent scene_id %llu",
                       (unsigned long long)id);
    return 0;
}

/* An id with no ledger row is still taken while its scene text belongs to
 * a live channel or to a temporary code that can still be scanned.
 * 1 taken, 0 free, < 0 error (err filled). */
static int scene_taken(struct db *db, uint64_t id, char *err, size_t errlen)
{
    char scene[24];
    struct db_stmt *s = db_stmt(db, &q_scene_taken);
    snprintf(scene, sizeof(scene), "%llu", (unsigned long long)id);
    db_bind_text(s, 1, scene);
    db_bind_int64(s, 2, util_now());
    int rc = db_step(s), ret;
    if (rc == DB_ROW)
        ret = db_col_int(s, 0) != 0;
    else
        ret = db_fail(db, err, errlen, "looking for channels and codes of scene %s", scene);
    db_reset(s);
    return ret;
}

/* Walk the ledger in order; the gaps before each row are the free ids.
 * 0 found, 1 none left, < 0 error. */
static int first_free(struct db *db, struct db_stmt *held, uint64_t *out, char *err, size_t errlen)
{
    uint64_t cand = 1;
    for (;;) {
        int rc = db_step(held);
        if (rc < 0)
            return db_fail(db, err, errlen, "reading the permanent scene id ledger");
        uint64_t next = rc == DB_ROW ? (uint64_t)db_col_int64(held, 0) : QR_PERM_ID_MAX + 1;
        for (; cand < next; cand++) {
            int taken = scene_taken(db, cand, err, errlen);
            if (taken < 0)
                return taken;
            if (!taken) {
                *out = cand;
                return 0;
            }
        }
        cand = next + 1;
        if (rc == DB_DONE)
            return 1;
    }
}

/* DB_CAP_SERIAL_WRITES: the id found here is reserved later in the same
 * transaction, and the channels and codes that make an id taken are read
 * now; nobody else may write in between. SQLite's BEGIN IMMEDIATE gives
 * that; a backend without it needs a lock around the allocation (an
 * advisory lock, or SELECT ... FOR UPDATE on the ledger). qr_create also
 * checks that its reservation inserted the row, so two allocators never
 * share an id silently. */
int qr_perm_next_free(struct db *db, uint64_t *out, char *err, size_t errlen)
{
    struct db_stmt *s = db_stmt(db, &q_held);
    *out = 0;
    int rc = first_free(db, s, out, err, errlen);
    db_reset(s);
    if (rc < 0)
        return rc;
    if (rc > 0) {
        snprintf(err, errlen,
                 "no permanent scene id is free (1..%u are used or retired); see "
                 "wxscene qr perm-ids",
                 QR_PERM_ID_MAX);
        return QR_PERM_ECONFLICT;
    }
    return 0;
}

int qr_perm_retire(struct db *db, const char *scene, uint64_t *retired, char *err, size_t errlen)
{
    uint64_t id;
    *retired = 0;
    if (!channel_scene_is_id(scene) || util_parse_u64(scene, 1, QR_PERM_ID_MAX, &id) < 0)
        return 0;
    struct db_stmt *s = db_stmt(db, &q_retire);
    db_bind_int64(s, 1, (int64_t)id);
    db_bind_int64(s, 2, util_now());
    if (db_run(s) < 0)
        return db_fail(db, err, errlen, "retiring permanent scene_id %llu", (unsigned long long)id);
    if (db_changes(db) > 0)
        *retired = id;
    return 0;
}

/* One conditional DELETE: only a retired id is freed, whoever else writes;
 * the state is read afterwards only to say why nothing was. */
int qr_perm_release(struct db *db, uint64_t id, char *err, size_t errlen)
{
    struct db_stmt *s = db_stmt(db, &q_release);
    enum qr_perm_state state;
    db_bind_int64(s, 1, (int64_t)id);
    if (db_run(s) < 0)
        return db_fail(db, err, errlen, "freeing permanent scene_id %llu", (unsigned long long)id);
    if (db_changes(db) > 0)
        return 0;
    int rc = qr_perm_state(db, id, &state, err, errlen);
    if (rc < 0)
        return rc;
    if (state == QR_PERM_FREE) {
        snprintf(err, errlen, "permanent scene_id %llu is already free", (unsigned long long)id);
        return QR_PERM_EINVALID;
    }
    snprintf(err, errlen,
             "permanent scene_id %llu is in use; archive its channel first "
             "(wxscene channel archive %llu)",
             (unsigned long long)id, (unsigned long long)id);
    return QR_PERM_ECONFLICT;
}

int qr_perm_usage(struct db *db, struct qr_perm_usage *out, char *err, size_t errlen)
{
    struct db_stmt *s = db_stmt(db, &q_usage);
    if (db_step(s) != DB_ROW) { /* an aggregate always has its row */
        int rc = db_fail(db, err, errlen, "counting permanent codes");
        db_reset(s);
        return rc;
    }
    out->ids_used = db_col_int64(s, 0);
    out->ids_retired = db_col_int64(s, 1);
    out->str_codes = db_col_int64(s, 2);
    db_reset(s);
    out->ids_free = (int64_t)QR_PERM_ID_MAX - out->ids_used - out->ids_retired;
    out->codes_left = out->ids_free - out->str_codes;
    if (out->codes_left < 0)
        out->codes_left = 0;
    return 0;
}

int qr_perm_foreach_retired(struct db *db, int (*fn)(uint64_t id, int64_t retired_at, void *arg),
                            void *arg, char *err, size_t errlen)
{
    struct db_stmt *s = db_stmt(db, &q_retired);
    int rc = 0, ret = 0;
    while (ret == 0 && (rc = db_step(s)) == DB_ROW)
        ret = fn((uint64_t)db_col_int64(s, 0), db_col_int64(s, 1), arg);
    if (ret == 0 && rc < 0)
        ret = db_fail(db, err, errlen, "reading the retired permanent scene ids");
    db_reset(s);
    return ret;
}
