/* qr_internal: helpers shared by qr.c, qr_perm.c, qr_image.c and
 * qr_batch.c; not for other modules. */
#ifndef WXS_QR_INTERNAL_H
#define WXS_QR_INTERNAL_H
#include <sqlite3.h>
#include "channel.h"
#include "qr.h"

/* The columns qr_code_from_row() reads, in order. */
#define QR_CODE_COLUMNS                                                                            \
    "id, scene, kind, expire_seconds, ticket, url, created_at, expires_at, batch, attempts"
#define QR_CODE_NCOLUMNS 10

/* Fill err and return rc. */
int qr_fail(struct qr_error *err, int rc, const char *field, const char *fmt, ...) WXS_PRINTF(4, 5);
int qr_db_fail(struct store *st, struct qr_error *err);

/* Prepared statement on the store's handle, NULL on error; qr_exec steps it
 * to completion and finalizes it (0 ok, -1 error). */
sqlite3_stmt *qr_prep(struct store *st, const char *sql);
int qr_exec(sqlite3_stmt *s);

int qr_code_from_row(sqlite3_stmt *s, struct qr_code *c);
int qr_code_load(sqlite3_stmt *s, struct qr_code *out);
int qr_code_by_id(struct store *st, int64_t id, struct qr_code *out);

/* channels.archived_at of scene: 0 active, 1 archived, 2 absent, -1 error. */
int qr_channel_state(struct store *st, const char *scene);

/* Permanent id ledger, inside the caller's transaction. */
int qr_perm_reserve(struct store *st, uint64_t id, bool *inserted, struct qr_error *err);
/* 0 free, 1 used, 2 retired, -1 error. */
int qr_perm_state(struct store *st, uint64_t id);
int qr_perm_unreserve(struct store *st, uint64_t id);
int qr_perm_alloc(struct store *st, uint64_t *out, struct qr_error *err);
/* A released id whose archived channel row still holds the scene text:
 * move that row aside so a new channel can take the scene. */
int qr_perm_reclaim_scene(struct store *st, const char *scene);
/* Write data to path atomically (path.tmp.PID, fsync, rename). */
int qr_write_file(const char *path, const char *data, size_t len, char *err, size_t errlen);
#endif
