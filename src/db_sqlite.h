/* db_sqlite: the SQLite backend of db.h (WAL, the VFS of store_vfs.c, the
 * checkpointer of store_ckpt.c). Only the backend's own files include this
 * header, and with it <sqlite3.h>. */
#ifndef WXS_DB_SQLITE_H
#define WXS_DB_SQLITE_H
#include <sqlite3.h>
#include "db.h"

/* The SQLite handle under a connection of this backend (NULL for another
 * backend's connection). */
sqlite3 *db_sqlite_handle(struct db *db);

/* Transitional, for modules not yet moved onto db.h: a text column as a
 * malloc'd copy, NULL for NULL. */
#include <stdlib.h>
#include <string.h>
static inline char *store_col_strdup(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? strdup((const char *)t) : NULL;
}
#endif
