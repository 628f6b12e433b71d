/* db: the backend-neutral database layer (model: Dovecot's lib-sql).
 *
 * A backend is a table of functions registered by name (db_sqlite.c,
 * db_pgsql.c); callers hold an opaque connection and never include a
 * backend's header. Only the backend files include their library's
 * header (SQLite's, libpq's).
 *
 * Statements are written once, as `struct db_query` rows with `?N`
 * parameters in SQL both SQLite and PostgreSQL accept (ON CONFLICT,
 * RETURNING). A backend may replace a query's text by name from its own
 * override table (the few that must differ live there, not in #ifdefs).
 * A query is prepared on its first use on a connection and kept for the
 * connection's life: the callback path never re-parses SQL.
 *
 * Errors: every call that can fail returns 0 (or DB_ROW) on success and a
 * negative DB_E* class on failure; db_errmsg() keeps the backend's own
 * message until the next call on the connection. One connection is used by
 * one thread at a time. */
#ifndef WXS_DB_H
#define WXS_DB_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util.h"

struct db;
struct db_stmt;

enum {
    DB_DONE = 0, /* db_step: no (more) rows; other calls: success */
    DB_ROW = 1,  /* db_step: a row is ready for the db_col_*() getters */
};

/* Error classes (negative). DB_EUNCERTAIN is the one a caller must treat
 * with care: the write may or may not have happened (a lost connection or
 * a timeout during COMMIT); the callback answers 503 and WeChat's retry is
 * deduplicated by the unique key. */
enum db_error {
    DB_EOTHER = -1,      /* anything else: syntax, I/O, full disk, misuse */
    DB_ECONFLICT = -2,   /* a UNIQUE / PRIMARY KEY constraint */
    DB_ECONSTRAINT = -3, /* another constraint: CHECK, NOT NULL, FOREIGN KEY */
    DB_EBUSY = -4,       /* locked, serialisation failure, deadlock: retry the transaction */
    DB_EUNCERTAIN = -5,  /* the connection was lost during a write: outcome unknown */
    DB_ENOMEM = -6,
};

/* What a backend does differently: callers branch on a property, never on
 * a backend's name. */
enum db_cap {
    /* Write transactions are serialised database-wide (SQLite's BEGIN
     * IMMEDIATE): a read inside one sees every commit, and nobody else
     * writes until it ends, so read -> decide -> write needs no row lock. */
    DB_CAP_SERIAL_WRITES = 1u << 0,
    /* db_function(): SQL functions written in C, callable inside any
     * statement (an upsert's DO UPDATE among them). */
    DB_CAP_C_FUNCTIONS = 1u << 1,
    /* `ORDER BY id` of an INTEGER PRIMARY KEY lists rows in commit order
     * (ids are handed out under the single write lock). */
    DB_CAP_ID_IS_COMMIT_ORDER = 1u << 2,
    /* db_data_version() says whether anyone committed since a cache was
     * filled. */
    DB_CAP_DATA_VERSION = 1u << 3,
    /* The database is a file of this machine (a WAL to checkpoint, a copy
     * made by the file's own means). */
    DB_CAP_EMBEDDED = 1u << 4,
    /* db_last_insert_id() knows the id of a row just inserted. SQLite runs
     * RETURNING through a temporary table built per statement (a pager, a
     * zeroed page: ~20k instructions), so a hot insert's SQLite override
     * drops its RETURNING and the caller, seeing DB_DONE with one row
     * changed, asks db_last_insert_id() instead. */
    DB_CAP_INSERT_ID = 1u << 5,
    /* db_bind_text_array() and db_bind_int64_array(): a whole column of
     * values as one parameter (PostgreSQL's text[] / bigint[]), so a batch
     * reads its rows with `= ANY(?1)` and writes them with one multi-row
     * statement (unnest) instead of one statement per row. */
    DB_CAP_ARRAYS = 1u << 6,
};

/* One statement's text. `name` is unique ("module.what") and is how a
 * backend finds its override; `sql` uses ?1..?N. Rows live in static
 * tables: a connection caches the prepared statement by the row's
 * address. */
struct db_query {
    const char *name;
    const char *sql;
};

/* How to open a connection. `target` is the backend's address (SQLite: a
 * file path; PostgreSQL: a libpq URI or conninfo, where a password has no
 * place: PGPASSWORD or ~/.pgpass). On PostgreSQL, `sync` is the server's
 * business (synchronous_commit), the busy timeout is lock_timeout, and a
 * statement_timeout goes in the conninfo (options=-cstatement_timeout=5s;
 * a cancelled statement is DB_EBUSY). */
enum db_sync { DB_SYNC_NORMAL, DB_SYNC_FULL };
struct db_options {
    enum db_sync sync;
    int busy_timeout_ms; /* how long a write waits for the lock; 0 = 5000 */
    bool read_only;      /* open without write access (and do not create) */
};

/* Open a connection to backend `backend` ("sqlite", "postgresql"). 0, or
 * a DB_E* with "TARGET: why" in err (PostgreSQL names the database, not
 * the conninfo). A connection lost later fails the call that finds it
 * (DB_EUNCERTAIN or DB_EOTHER); the next call outside a transaction
 * reconnects. */
int db_open(struct db **out, const char *backend, const char *target, const struct db_options *opt,
            char *err, size_t errlen) WXS_MUSTCHECK;
/* Finalise every statement of the connection and close it. NULL is a
 * no-op. */
void db_close(struct db *db);

unsigned db_caps(const struct db *db);
const char *db_backend_name(const struct db *db);
/* The backend's address as given to db_open (valid while open). */
const char *db_target(const struct db *db);

/* The last failure's message and class on this connection. */
const char *db_errmsg(const struct db *db);
int db_errclass(const struct db *db);
/* Change how long a writer waits for the write lock. */
void db_set_busy_timeout(struct db *db, int ms);

/* Run a script of one or more statements without results (schema,
 * settings). 0 or a DB_E*. */
int db_exec(struct db *db, const char *sql) WXS_MUSTCHECK;

/* Apply the numbered migrations above the database's schema version, in
 * one write transaction with the version bump (the version of a migration
 * is the number its name starts with). err says which one failed. */
struct db_migration {
    const char *name;
    const char *sql;
};
int db_migrate(struct db *db, const struct db_migration *m, size_t n, char *err,
               size_t errlen) WXS_MUSTCHECK;
/* The database's schema version (0 = empty), or a DB_E*. */
int db_schema_version(struct db *db, int *out) WXS_MUSTCHECK;

/* ---- statements ---- */

/* The connection's prepared statement for q, prepared on first use; NULL
 * on error (db_errmsg says why). Every function below accepts NULL and
 * then fails (db_step returns DB_EOTHER), so a caller may chain
 * prepare -> bind -> step and check once. */
struct db_stmt *db_stmt(struct db *db, const struct db_query *q);
/* A statement from SQL text used once (migrations, ad-hoc reports):
 * caller frees it with db_finalize(). NULL on error. */
struct db_stmt *db_prepare(struct db *db, const char *sql);
void db_finalize(struct db_stmt *s);

/* Bind parameter i (1-based). Text and blobs are NOT copied: they must
 * stay valid until db_reset(). db_bind_text(s, i, NULL) binds NULL. */
void db_bind_text(struct db_stmt *s, int i, const char *v);
void db_bind_textn(struct db_stmt *s, int i, const char *v, size_t len);
void db_bind_int64(struct db_stmt *s, int i, int64_t v);
void db_bind_null(struct db_stmt *s, int i);
void db_bind_blob(struct db_stmt *s, int i, const void *p, size_t n);
/* Text, or NULL for NULL or "" (the columns where empty means none). */
void db_bind_text_opt(struct db_stmt *s, int i, const char *v);

/* DB_CAP_ARRAYS: parameter i as an array of n values (copied; a NULL
 * element of v is SQL NULL). The SQL casts it (?1::text[], ?2::bigint[]).
 * Elsewhere the parameter is bound NULL. */
void db_bind_text_array(struct db_stmt *s, int i, const char *const *v, size_t n);
void db_bind_int64_array(struct db_stmt *s, int i, const int64_t *v, size_t n);

/* DB_ROW, DB_DONE or a DB_E*. */
int db_step(struct db_stmt *s);
/* Back to the start with every binding cleared (always call it once the
 * rows are read or the statement failed: it ends the statement's read). */
void db_reset(struct db_stmt *s);
/* Step to the end and reset: DB_DONE (0) or a DB_E*. */
int db_run(struct db_stmt *s) WXS_MUSTCHECK;
/* The first column of the first row of query q (no parameters) into
 * *out: 0, or -1 (no row, or the failure in db_errmsg()). */
int db_one_int64(struct db *db, const struct db_query *q, int64_t *out) WXS_MUSTCHECK;
/* A write inside a transaction whose rows and changes nobody reads: run
 * now (SQLite: db_run()), or sent at once without waiting for its answer,
 * which the next call on the connection that waits for one reads with its
 * own (PostgreSQL's pipeline mode: the statements of a push in one round
 * trip). Its failure is then that later call's (or db_commit()'s, before
 * COMMIT is sent: never DB_EUNCERTAIN), its message naming the statement,
 * and the transaction fails either way. The statement is reset. */
int db_run_later(struct db_stmt *s) WXS_MUSTCHECK;

/* A read inside a transaction sent now, its rows read later with db_step()
 * (PostgreSQL's pipeline mode: several reads and the writes before them
 * in one round trip). Between db_send() and db_step() only other sends,
 * db_run_later() and the db_step() that reads them all may be called on
 * the statement's connection's pipeline; db_reset() forgets the answer.
 * Where nothing can be sent ahead (SQLite, no transaction), this does
 * nothing and db_step() runs the statement. 0 or a DB_E*. */
int db_send(struct db_stmt *s) WXS_MUSTCHECK;

/* Column getters of the current row (0-based). Text is valid until the
 * next step or reset; NULL for SQL NULL. */
bool db_col_null(struct db_stmt *s, int i);
int64_t db_col_int64(struct db_stmt *s, int i);
int db_col_int(struct db_stmt *s, int i);
const char *db_col_text(struct db_stmt *s, int i);
const void *db_col_blob(struct db_stmt *s, int i, size_t *len);
/* A text column as a malloc'd copy; NULL for NULL (or out of memory). */
char *db_col_strdup(struct db_stmt *s, int i);

/* Rows changed by the last INSERT/UPDATE/DELETE on the connection. */
int64_t db_changes(struct db *db);
/* DB_CAP_INSERT_ID: the id (INTEGER PRIMARY KEY) of the row the last
 * INSERT on the connection added; -1 on a backend without it. */
int64_t db_last_insert_id(struct db *db);

/* ---- transactions ---- */

/* On PostgreSQL, DB_TX_READ is REPEATABLE READ and DB_TX_WRITE is READ
 * COMMITTED without any lock (no DB_CAP_SERIAL_WRITES: a statement that
 * must see the latest commit before deciding takes its row lock, SELECT
 * ... FOR UPDATE or an upsert). A failed statement aborts a PostgreSQL
 * transaction: only db_rollback() follows (db_commit() then fails). */
enum db_tx {
    DB_TX_READ,  /* a consistent snapshot for several statements */
    DB_TX_WRITE, /* takes the write lock at once (SQLite BEGIN IMMEDIATE) */
};
int db_begin(struct db *db, enum db_tx kind) WXS_MUSTCHECK;
/* 0 only once the commit is durable. On failure call db_rollback() (SQLite
 * may leave the transaction open). DB_EUNCERTAIN: the connection was lost
 * during COMMIT. */
int db_commit(struct db *db) WXS_MUSTCHECK;
/* db_commit() with COMMIT sent in the round trip of the statements run
 * later (PostgreSQL's pipeline; elsewhere db_commit()). The price: a
 * connection lost before the answers came is DB_EUNCERTAIN even where no
 * statement had failed (COMMIT may have run). A statement run later that
 * failed leaves the transaction open for db_rollback(), as db_commit(). */
int db_commit_pipelined(struct db *db) WXS_MUSTCHECK;
/* Always ends the transaction (errors are ignored: there is nothing a
 * caller can do) and leaves db_errmsg() and db_errclass() as they were:
 * they still say why the transaction failed. */
void db_rollback(struct db *db);

/* ---- capabilities (see enum db_cap) ---- */

/* DB_CAP_DATA_VERSION: a number that changes when another connection
 * commits. DB_EOTHER where the backend has none. */
int db_data_version(struct db *db, uint64_t *out) WXS_MUSTCHECK;

/* DB_CAP_C_FUNCTIONS: a scalar SQL function written in C. Arguments and
 * the result are plain values; a text or blob result is copied from
 * `out` (which fn fills; it lives until the call returns). */
enum db_type { DB_NULL, DB_INT, DB_TEXT, DB_BLOB };
struct db_value {
    enum db_type type;
    int64_t i;
    const void *p; /* text (NUL-terminated) or blob */
    size_t n;
};
/* 0, or < 0 to fail the statement (the message in *errmsg, static). */
typedef int (*db_fn)(void *ctx, int argc, const struct db_value *argv, struct db_value *out,
                     struct buf *scratch, const char **errmsg);
/* deterministic: the same arguments always give the same result. */
int db_function(struct db *db, const char *name, int nargs, bool deterministic, db_fn fn,
                void *ctx) WXS_MUSTCHECK;
#endif
