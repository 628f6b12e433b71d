/* db_pgsql: the PostgreSQL backend of db.h (libpq). Callers open it with
 * db_open(&db, "postgresql", conninfo, ...) and see db.h alone; only
 * db_pgsql.c includes <libpq-fe.h>. What is here is the part a test
 * checks on its own. */
#ifndef WXS_DB_PGSQL_H
#define WXS_DB_PGSQL_H
#include "db.h"

/* The largest ?N a statement may use (PostgreSQL allows 65535). */
#define DB_PGSQL_MAX_PARAMS 32767

/* sql with each ?N parameter written $N, the form PostgreSQL prepares;
 * ?N inside a string literal ('', E''), a quoted identifier, a comment or
 * a dollar-quoted string is text and stays. *nparams = the largest N (0
 * for none). The text keeps its length. Caller frees; NULL when out of
 * memory. */
char *db_pgsql_translate(const char *sql, int *nparams);
#endif
