/* Migrations from schema/NNN_name.sql, embedded at build time (generated). */
#ifndef WXS_SCHEMA_H
#define WXS_SCHEMA_H
#include <stddef.h>

struct schema_migration {
    const char *name; /* file name, e.g. "001_core.sql"; version = its number */
    const char *sql;
};
extern const struct schema_migration schema_migrations[];
extern const size_t schema_migration_count;
#endif
