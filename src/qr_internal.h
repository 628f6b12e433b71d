/* qr_internal: the qr module's own helpers (qr.c, qr_image.c) that
 * qr_batch.c builds on; not for other modules. The permanent id ledger is
 * not here: it is a module of its own below qr (qr_perm.h). */
#ifndef WXS_QR_INTERNAL_H
#define WXS_QR_INTERNAL_H
#include <stddef.h>
#include "db.h"
#include "store.h"
#include "util.h"

/* qr.h's types, declared only: qr_internal.h does not include qr.h back. */
struct qr_code;
struct qr_error;

/* The columns qr_code_from_row() reads, in order. */
#define QR_CODE_COLUMNS                                                                            \
    "id, scene, kind, expire_seconds, ticket, url, created_at, expires_at, batch, attempts"
#define QR_CODE_NCOLUMNS 10

/* Fill err and return rc. */
int qr_fail(struct qr_error *err, int rc, const char *field, const char *fmt, ...) WXS_PRINTF(4, 5);
/* QR_EINTERNAL with "database: WHAT: <the database's message>": call it
 * right after the failing call, before anything else runs on db (a
 * ROLLBACK would replace the message). */
int qr_db_fail(struct db *db, struct qr_error *err, const char *fmt, ...) WXS_PRINTF(3, 4);

/* The current row of a statement selecting QR_CODE_COLUMNS. */
int qr_code_from_row(struct db_stmt *s, struct qr_code *c);

/* channel_state() of scene (CHANNEL_ACTIVE, _ARCHIVED, _ABSENT), or < 0
 * with the database's message in err. */
int qr_channel_state(struct store *st, const char *scene, struct qr_error *err);

/* Write data to path atomically (path.tmp.PID, fsync, rename). */
int qr_write_file(const char *path, const char *data, size_t len, char *err, size_t errlen);
#endif
