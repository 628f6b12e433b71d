/* db_sqlite: the SQLite backend of db.h (WAL, the VFS of store_vfs.c, the
 * checkpointer of store_ckpt.c). Only the backend's own files include this
 * header, and with it <sqlite3.h> (scripts/check_seam.py, ctest lint.seam);
 * tests may, to look at the file underneath. */
#ifndef WXS_DB_SQLITE_H
#define WXS_DB_SQLITE_H
#include <sqlite3.h>
#include "db.h"

/* The SQLite handle under a connection of this backend (NULL for another
 * backend's connection). */
sqlite3 *db_sqlite_handle(struct db *db);
/* The connection's write-lock wait in ms (what the store_ckpt puts back
 * after a checkpoint that must not wait); 0 for another backend's. */
int db_sqlite_busy_timeout(struct db *db);

#endif
