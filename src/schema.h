/* Migrations from schema/NNN_name.sql and schema/pg/NNN_name.sql,
 * embedded at build time (generated). */
#ifndef WXS_SCHEMA_H
#define WXS_SCHEMA_H
#include <stddef.h>
#include "db.h"

/* Rows {name, sql}: name is the file name, e.g. "001_core.sql"; its
 * version is its number. */
extern const struct db_migration schema_migrations[];
extern const size_t schema_migration_count;
/* PostgreSQL's, from schema/pg/NNN_name.sql: a migration there has the
 * number of the SQLite one it matches (011_baseline.sql creates what
 * 001..011 leave), so later ones are added to both folders alike. */
extern const struct db_migration schema_pg_migrations[];
extern const size_t schema_pg_migration_count;
#endif
