/* store_backup: `wxscene store backup FILE`, an online copy of a SQLite
 * store while wxscened runs and writes. Part of the SQLite backend (like
 * store_ckpt): the copy is SQLite's own VACUUM INTO, one read snapshot, so
 * it holds every transaction committed before it began and none after,
 * without stopping the writer (WAL readers never block it).
 *
 * The copy goes to a temporary file beside FILE (created 0600: events hold
 * openids), then the caller's scrub statements run on it (--without-token:
 * the cached access_token must not travel with backups), SQLite's
 * integrity_check must answer "ok" and the schema version must be
 * readable, the file is fsynced and only then renamed into place (and the
 * directory fsynced): FILE is either absent, the old file, or a complete,
 * checked backup, never half of one. */
#ifndef WXS_STORE_BACKUP_H
#define WXS_STORE_BACKUP_H
#include <stdbool.h>
#include <stdint.h>
#include "db.h"
#include "util.h"

struct store_backup_opts {
    bool force; /* replace an existing FILE (else it is refused, also one made meanwhile) */
    /* SQL statements run on the copy, in one transaction, before it is
     * checked; their deleted content is overwritten, not left in free
     * pages. NULL-terminated, or NULL. */
    const char *const *scrub;
};

struct store_backup_report {
    int64_t bytes;
    int schema_version;
    int64_t channels, events, fans;
};

/* Copy the SQLite database under db (a DB_CAP_EMBEDDED connection, outside
 * any transaction) to file. 0, or -1 with err saying what failed and
 * naming the path. */
int store_backup(struct db *db, const char *file, const struct store_backup_opts *o,
                 struct store_backup_report *rep, char *err, size_t errlen) WXS_MUSTCHECK;
#endif
