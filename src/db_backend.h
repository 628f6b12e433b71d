/* db_backend: what a database backend implements (db.c dispatches to it).
 * Included only by db.c and the backend files (db_sqlite.c, ...): callers
 * see db.h alone. A backend's connection and statement structs begin with
 * struct db and struct db_stmt (the generic parts below). */
#ifndef WXS_DB_BACKEND_H
#define WXS_DB_BACKEND_H
#include "db.h"

struct db_ops;

struct db_stmt {
    struct db *db;
    const struct db_ops *ops;
    const char *name; /* its struct db_query's name (db_stmt), NULL for db_prepare's */
};

/* The connection's cache of prepared statements, keyed by the address of
 * their struct db_query (open addressing, power-of-two capacity). */
struct db_cache_ent {
    const struct db_query *q;
    struct db_stmt *s;
};

struct db {
    const struct db_ops *ops;
    char *target;
    struct db_cache_ent *cache;
    size_t cache_cap, cache_n;
};

/* A statement text a backend uses instead of the common one. */
struct db_override {
    const char *name;
    const char *sql;
};

struct db_ops {
    const char *name;
    unsigned caps;
    const struct db_override *overrides; /* NULL-terminated by name, or NULL */
    /* Allocate and open; *out's generic part is filled by db.c. */
    int (*open)(struct db **out, const char *target, const struct db_options *opt, char *err,
                size_t errlen);
    void (*close)(struct db *db);
    const char *(*errmsg)(const struct db *db);
    int (*errclass)(const struct db *db);
    void (*set_busy_timeout)(struct db *db, int ms);
    int (*exec)(struct db *db, const char *sql);
    int (*migrate)(struct db *db, const struct db_migration *m, size_t n, char *err, size_t errlen);
    int (*schema_version)(struct db *db, int *out);
    /* persistent = kept for the connection's life (a hint). */
    struct db_stmt *(*prepare)(struct db *db, const char *sql, bool persistent);
    void (*finalize)(struct db_stmt *s);
    void (*bind_text)(struct db_stmt *s, int i, const char *v, size_t len);
    void (*bind_int64)(struct db_stmt *s, int i, int64_t v);
    void (*bind_null)(struct db_stmt *s, int i);
    void (*bind_blob)(struct db_stmt *s, int i, const void *p, size_t n);
    /* DB_CAP_ARRAYS only */
    void (*bind_text_array)(struct db_stmt *s, int i, const char *const *v, size_t n);
    void (*bind_int64_array)(struct db_stmt *s, int i, const int64_t *v, size_t n);
    int (*step)(struct db_stmt *s);
    /* db_run_later(); NULL = db_run() */
    int (*run_later)(struct db_stmt *s);
    /* db_send(); NULL = nothing sent (db_step() runs the statement) */
    int (*send)(struct db_stmt *s);
    void (*reset)(struct db_stmt *s);
    bool (*col_null)(struct db_stmt *s, int i);
    int64_t (*col_int64)(struct db_stmt *s, int i);
    const char *(*col_text)(struct db_stmt *s, int i);
    const void *(*col_blob)(struct db_stmt *s, int i, size_t *len);
    int64_t (*changes)(struct db *db);
    int64_t (*last_insert_id)(struct db *db); /* DB_CAP_INSERT_ID only */
    int (*begin)(struct db *db, enum db_tx kind);
    int (*commit)(struct db *db);
    int (*commit_pipelined)(struct db *db); /* NULL = commit */
    void (*rollback)(struct db *db);
    int (*data_version)(struct db *db, uint64_t *out);
    int (*function)(struct db *db, const char *name, int nargs, bool deterministic, db_fn fn,
                    void *ctx);
};

extern const struct db_ops db_sqlite_ops;
extern const struct db_ops db_pgsql_ops;

/* The version of a migration: the number its name starts with. */
int db_migration_version(const struct db_migration *m);
#endif
