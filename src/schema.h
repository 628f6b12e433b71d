/* Migrations from schema/NNN_name.sql, embedded at build time (generated). */
#ifndef WXS_SCHEMA_H
#define WXS_SCHEMA_H
#include <stddef.h>
#include "db.h"

/* Rows {name, sql}: name is the file name, e.g. "001_core.sql"; its
 * version is its number. */
extern const struct db_migration schema_migrations[];
extern const size_t schema_migration_count;
#endif
