#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_backend.h"

/* Backends by name: a new one is a row here and a file beside db_sqlite.c. */
static const struct db_ops *const backends[] = {
    &db_sqlite_ops,
    &db_pgsql_ops,
};

int db_open(struct db **out, const char *backend, const char *target, const struct db_options *opt,
            char *err, size_t errlen)
{
    static const struct db_options defaults = {0};
    const struct db_ops *ops = NULL;
    for (size_t i = 0; i < WXS_ARRAY_LEN(backends); i++)
        if (strcmp(backends[i]->name, backend) == 0)
            ops = backends[i];
    if (!ops) {
        snprintf(err, errlen, "unknown database backend '%s'", backend);
        return DB_EOTHER;
    }
    struct db *db = NULL;
    int rc = ops->open(&db, target, opt ? opt : &defaults, err, errlen);
    if (rc < 0)
        return rc;
    db->ops = ops;
    db->target = strdup(target);
    if (!db->target) {
        ops->close(db);
        snprintf(err, errlen, "out of memory");
        return DB_ENOMEM;
    }
    *out = db;
    return 0;
}

void db_close(struct db *db)
{
    if (!db)
        return;
    for (size_t i = 0; i < db->cache_cap; i++)
        if (db->cache[i].s)
            db->ops->finalize(db->cache[i].s);
    free(db->cache);
    free(db->target);
    db->ops->close(db);
}

unsigned db_caps(const struct db *db)
{
    return db->ops->caps;
}

const char *db_backend_name(const struct db *db)
{
    return db->ops->name;
}

const char *db_target(const struct db *db)
{
    return db->target;
}

const char *db_errmsg(const struct db *db)
{
    return db->ops->errmsg(db);
}

int db_errclass(const struct db *db)
{
    return db->ops->errclass(db);
}

void db_set_busy_timeout(struct db *db, int ms)
{
    db->ops->set_busy_timeout(db, ms);
}

int db_exec(struct db *db, const char *sql)
{
    return db->ops->exec(db, sql);
}

int db_migration_version(const struct db_migration *m)
{
    int v = 0;
    for (const char *p = m->name; *p >= '0' && *p <= '9' && v < 100000; p++)
        v = v * 10 + (*p - '0');
    return v;
}

int db_migrate(struct db *db, const struct db_migration *m, size_t n, char *err, size_t errlen)
{
    return db->ops->migrate(db, m, n, err, errlen);
}

int db_schema_version(struct db *db, int *out)
{
    return db->ops->schema_version(db, out);
}

/* ---- statements ---- */

static size_t cache_slot(const struct db *db, const struct db_query *q)
{
    uintptr_t h = (uintptr_t)q;
    h ^= h >> 17;
    h *= 0x9e3779b97f4a7c15ull;
    size_t mask = db->cache_cap - 1;
    size_t i = (size_t)(h >> 32) & mask;
    while (db->cache[i].q && db->cache[i].q != q)
        i = (i + 1) & mask;
    return i;
}

static int cache_grow(struct db *db)
{
    size_t cap = db->cache_cap ? db->cache_cap * 2 : 64;
    struct db_cache_ent *old = db->cache;
    size_t old_cap = db->cache_cap;
    struct db_cache_ent *e = calloc(cap, sizeof(*e));
    if (!e)
        return -1;
    db->cache = e;
    db->cache_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].q)
            db->cache[cache_slot(db, old[i].q)] = old[i];
    free(old);
    return 0;
}

/* The backend's text for q: its override by name, else the common one. */
static const char *query_sql(const struct db *db, const struct db_query *q)
{
    const struct db_override *o = db->ops->overrides;
    for (; o && o->name; o++)
        if (strcmp(o->name, q->name) == 0)
            return o->sql;
    return q->sql;
}

struct db_stmt *db_stmt(struct db *db, const struct db_query *q)
{
    if (db->cache_cap) {
        struct db_cache_ent *e = &db->cache[cache_slot(db, q)];
        if (e->q == q)
            return e->s;
    }
    if ((db->cache_n + 1) * 2 > db->cache_cap && cache_grow(db) < 0)
        return NULL;
    struct db_stmt *s = db->ops->prepare(db, query_sql(db, q), true);
    if (!s)
        return NULL;
    s->name = q->name;
    struct db_cache_ent *e = &db->cache[cache_slot(db, q)];
    e->q = q;
    e->s = s;
    db->cache_n++;
    return s;
}

struct db_stmt *db_prepare(struct db *db, const char *sql)
{
    struct db_stmt *s = db->ops->prepare(db, sql, false);
    if (s)
        s->name = NULL;
    return s;
}

void db_finalize(struct db_stmt *s)
{
    if (s)
        s->ops->finalize(s);
}

void db_bind_text(struct db_stmt *s, int i, const char *v)
{
    if (!s)
        return;
    if (v)
        s->ops->bind_text(s, i, v, strlen(v));
    else
        s->ops->bind_null(s, i);
}

void db_bind_textn(struct db_stmt *s, int i, const char *v, size_t len)
{
    if (s)
        s->ops->bind_text(s, i, v, len);
}

void db_bind_text_opt(struct db_stmt *s, int i, const char *v)
{
    db_bind_text(s, i, v && *v ? v : NULL);
}

void db_bind_int64(struct db_stmt *s, int i, int64_t v)
{
    if (s)
        s->ops->bind_int64(s, i, v);
}

void db_bind_null(struct db_stmt *s, int i)
{
    if (s)
        s->ops->bind_null(s, i);
}

void db_bind_blob(struct db_stmt *s, int i, const void *p, size_t n)
{
    if (s)
        s->ops->bind_blob(s, i, p, n);
}

void db_bind_text_array(struct db_stmt *s, int i, const char *const *v, size_t n)
{
    if (s && s->ops->bind_text_array)
        s->ops->bind_text_array(s, i, v, n);
    else if (s)
        s->ops->bind_null(s, i);
}

void db_bind_int64_array(struct db_stmt *s, int i, const int64_t *v, size_t n)
{
    if (s && s->ops->bind_int64_array)
        s->ops->bind_int64_array(s, i, v, n);
    else if (s)
        s->ops->bind_null(s, i);
}

int db_step(struct db_stmt *s)
{
    return s ? s->ops->step(s) : DB_EOTHER;
}

void db_reset(struct db_stmt *s)
{
    if (s)
        s->ops->reset(s);
}

int db_run_later(struct db_stmt *s)
{
    if (!s)
        return DB_EOTHER;
    return s->db->ops->run_later ? s->db->ops->run_later(s) : db_run(s);
}

int db_send(struct db_stmt *s)
{
    if (!s)
        return DB_EOTHER;
    return s->db->ops->send ? s->db->ops->send(s) : 0;
}

int db_run(struct db_stmt *s)
{
    int rc;
    while ((rc = db_step(s)) == DB_ROW)
        ;
    db_reset(s);
    return rc;
}

int db_one_int64(struct db *db, const struct db_query *q, int64_t *out)
{
    struct db_stmt *s = db_stmt(db, q);
    int rc = db_step(s);
    if (rc == DB_ROW)
        *out = db_col_int64(s, 0);
    db_reset(s);
    return rc == DB_ROW ? 0 : -1;
}

bool db_col_null(struct db_stmt *s, int i)
{
    return s->ops->col_null(s, i);
}

int64_t db_col_int64(struct db_stmt *s, int i)
{
    return s->ops->col_int64(s, i);
}

int db_col_int(struct db_stmt *s, int i)
{
    return (int)s->ops->col_int64(s, i);
}

const char *db_col_text(struct db_stmt *s, int i)
{
    return s->ops->col_text(s, i);
}

const void *db_col_blob(struct db_stmt *s, int i, size_t *len)
{
    return s->ops->col_blob(s, i, len);
}

char *db_col_strdup(struct db_stmt *s, int i)
{
    const char *t = s->ops->col_text(s, i);
    return t ? strdup(t) : NULL;
}

int64_t db_changes(struct db *db)
{
    return db->ops->changes(db);
}

int64_t db_last_insert_id(struct db *db)
{
    return db->ops->last_insert_id ? db->ops->last_insert_id(db) : -1;
}

/* ---- transactions and capabilities ---- */

int db_begin(struct db *db, enum db_tx kind)
{
    return db->ops->begin(db, kind);
}

int db_commit(struct db *db)
{
    return db->ops->commit(db);
}

int db_commit_pipelined(struct db *db)
{
    return db->ops->commit_pipelined ? db->ops->commit_pipelined(db) : db_commit(db);
}

void db_rollback(struct db *db)
{
    db->ops->rollback(db);
}

int db_data_version(struct db *db, uint64_t *out)
{
    return db->ops->data_version ? db->ops->data_version(db, out) : DB_EOTHER;
}

int db_function(struct db *db, const char *name, int nargs, bool deterministic, db_fn fn, void *ctx)
{
    return db->ops->function ? db->ops->function(db, name, nargs, deterministic, fn, ctx)
                             : DB_EOTHER;
}
