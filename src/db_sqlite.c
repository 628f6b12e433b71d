/* The SQLite backend: one sqlite3 handle per connection, opened in WAL mode
 * through the store_vfs (a commit's WAL frames in one write), statements
 * prepared persistent, errors classified from the extended result codes. */
#include "db_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "db_backend.h"
#include "store_vfs.h"
#include "util.h"

struct turn;

struct sq_db {
    struct db base;
    sqlite3 *h;
    sqlite3_stmt *begin_read, *begin_write, *commit, *rollback;
    struct turn *turn;         /* the writers' turns of this file (below) */
    struct timespec wait_from; /* the current busy wait's start */
    bool in_begin;             /* in BEGIN IMMEDIATE: a waiter others let go first */
    bool counted;              /* counted in turn->waiting */
    bool writing;              /* a write transaction is open */
    int errclass;
    int busy_ms;      /* the write-lock wait set last (db_sqlite_busy_timeout) */
    char errbuf[512]; /* the last failure's message, kept across later calls */
};

struct sq_stmt {
    struct db_stmt base;
    sqlite3_stmt *s;
};

static struct sq_db *SQ(const struct db *db)
{
    return (struct sq_db *)db;
}

static struct sq_stmt *SQS(struct db_stmt *s)
{
    return (struct sq_stmt *)s;
}

sqlite3 *db_sqlite_handle(struct db *db)
{
    return db && db->ops == &db_sqlite_ops ? SQ(db)->h : NULL;
}

/* The class of an SQLite result code (extended codes are on). */
static int classify(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_CONSTRAINT:
        return rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE
                   ? DB_ECONFLICT
                   : DB_ECONSTRAINT;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return DB_EBUSY;
    case SQLITE_NOMEM:
        return DB_ENOMEM;
    default:
        return DB_EOTHER;
    }
}

/* Record a failure of the connection; returns its class. The message is
 * copied now: a later call (the ROLLBACK after a failed statement) would
 * replace SQLite's with "not an error". */
static int fail(struct sq_db *d, int rc)
{
    snprintf(d->errbuf, sizeof(d->errbuf), "%s", d->h ? sqlite3_errmsg(d->h) : "cannot open");
    d->errclass = classify(rc);
    if (d->errclass == 0)
        d->errclass = DB_EOTHER; /* misuse reported as OK */
    return d->errclass;
}

static const char *sq_errmsg(const struct db *db)
{
    const struct sq_db *d = SQ(db);
    return d->errbuf[0] ? d->errbuf : "no error";
}

static int sq_errclass(const struct db *db)
{
    return SQ(db)->errclass;
}

static void sq_set_busy_timeout(struct db *db, int ms)
{
    SQ(db)->busy_ms = ms; /* read by sq_busy */
}

int db_sqlite_busy_timeout(struct db *db)
{
    return strcmp(db_backend_name(db), "sqlite") == 0 ? SQ(db)->busy_ms : 0;
}

static int sq_exec(struct db *db, const char *sql)
{
    struct sq_db *d = SQ(db);
    char *msg = NULL;
    int rc = sqlite3_exec(d->h, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        return 0;
    int cls = fail(d, sqlite3_extended_errcode(d->h));
    if (msg)
        snprintf(d->errbuf, sizeof(d->errbuf), "%s", msg);
    sqlite3_free(msg);
    return cls;
}

/* ---- Writers of one process take turns ----
 *
 * SQLite's own busy handler sleeps and retries blindly (1, 2, 5 ... 100 ms).
 * Under load the group commit ends a write transaction and begins the next
 * one at once, so a second writer of the same process (the admin worker,
 * the health probe thread) rarely finds the lock free when it looks: an
 * admin write waited 2.7 s behind 4 push clients. Here a waiting connection
 * sleeps on a condition broadcast when any write transaction of this
 * process on the file ends, and a connection about to BEGIN IMMEDIATE lets
 * one already waiting in BEGIN IMMEDIATE go first (bounded: TURN_YIELD_MS).
 * A writer of another process (the CLI) is found by polling every
 * TURN_POLL_MS, as before. Files are spread over TURNS slots by name; two
 * files sharing a slot only wake each other's waiters for nothing. */
#define TURNS         16
#define TURN_POLL_MS  10
#define TURN_YIELD_MS 50

struct turn {
    pthread_mutex_t mu;
    pthread_cond_t cond;      /* CLOCK_MONOTONIC */
    atomic_uint waiting;      /* connections in their BEGIN IMMEDIATE's busy wait */
    unsigned long long ended; /* write transactions ended (under mu) */
};

static struct turn turns[TURNS];

static void turns_init(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    for (int i = 0; i < TURNS; i++) {
        pthread_mutex_init(&turns[i].mu, NULL);
        pthread_cond_init(&turns[i].cond, &ca);
        atomic_init(&turns[i].waiting, 0);
    }
    pthread_condattr_destroy(&ca);
}

static struct turn *turn_for(const char *file)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)(file ? file : ""); *p; p++)
        h = (h ^ *p) * 16777619u;
    return &turns[h % TURNS];
}

static long ms_since(const struct timespec *from, const struct timespec *now)
{
    return (now->tv_sec - from->tv_sec) * 1000L + (now->tv_nsec - from->tv_nsec) / 1000000L;
}

static struct timespec ms_after(struct timespec t, long ms)
{
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* sqlite3_busy_handler: wait for a write transaction here to end (or
 * TURN_POLL_MS for one of another process), up to busy_ms in all. */
static int sq_busy(void *arg, int n)
{
    struct sq_db *d = arg;
    struct turn *t = d->turn;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (n == 0)
        d->wait_from = now;
    long left = d->busy_ms - ms_since(&d->wait_from, &now);
    if (left <= 0)
        return 0;
    struct timespec until = ms_after(now, left < TURN_POLL_MS ? left : TURN_POLL_MS);
    pthread_mutex_lock(&t->mu);
    if (d->in_begin && !d->counted) {
        d->counted = true;
        atomic_fetch_add(&t->waiting, 1);
    }
    unsigned long long seen = t->ended;
    while (t->ended == seen && pthread_cond_timedwait(&t->cond, &t->mu, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&t->mu);
    return 1;
}

/* Before BEGIN IMMEDIATE: a connection already waiting goes first. */
static void turn_yield(struct sq_db *d)
{
    struct turn *t = d->turn;
    if (atomic_load_explicit(&t->waiting, memory_order_relaxed) == 0)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct timespec until = ms_after(now, TURN_YIELD_MS);
    pthread_mutex_lock(&t->mu);
    while (atomic_load(&t->waiting) > 0 &&
           pthread_cond_timedwait(&t->cond, &t->mu, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&t->mu);
}

/* After BEGIN IMMEDIATE, whatever its outcome. */
static void turn_begun(struct sq_db *d)
{
    d->in_begin = false;
    if (!d->counted)
        return;
    struct turn *t = d->turn;
    pthread_mutex_lock(&t->mu);
    d->counted = false;
    atomic_fetch_sub(&t->waiting, 1);
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->mu);
}

/* A write transaction of this connection ended: wake the waiters. */
static void turn_ended(struct sq_db *d)
{
    if (!d->writing)
        return;
    d->writing = false;
    struct turn *t = d->turn;
    pthread_mutex_lock(&t->mu);
    t->ended++;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->mu);
}

/* Before SQLite's first use: no global memory statistics (they take a
 * process-wide mutex around every allocation SQLite makes, on every
 * thread; nothing here reads them). Refused once SQLite is initialised. */
static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

static void sqlite_configure(void)
{
    turns_init();
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int prep(struct sq_db *d, const char *sql, sqlite3_stmt **out)
{
    int rc = sqlite3_prepare_v3(d->h, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    return rc == SQLITE_OK ? 0 : fail(d, rc);
}

static void sq_close(struct db *db)
{
    struct sq_db *d = SQ(db);
    sqlite3_finalize(d->begin_read);
    sqlite3_finalize(d->begin_write);
    sqlite3_finalize(d->commit);
    sqlite3_finalize(d->rollback);
    sqlite3_close(d->h);
    free(d);
}

/* Why file (or its directory) cannot be written: its owner and mode and
 * who we run as, since that is what an operator fixes (chown, the unit's
 * User=). */
static void sq_explain_unwritable(const char *file, int errnum, char *err, size_t errlen)
{
    struct stat st;
    char owner[96] = "?", me[96];
    unsigned mode = 0;
    if (stat(file, &st) == 0) {
        util_user_name((unsigned)st.st_uid, owner, sizeof(owner));
        mode = (unsigned)(st.st_mode & 07777);
    }
    util_user_name((unsigned)geteuid(), me, sizeof(me));
    snprintf(err, errlen, "%s: cannot write: %s (owner %s, mode %04o; running as %s)", file,
             strerror(errnum), owner, mode, me);
}

/* Whether this process (its effective ids) may read and write file: an
 * existing file is never opened here, since closing a descriptor drops
 * every POSIX lock the process holds on the file, the other connections'
 * SQLite locks included. */
static bool sq_writable(const char *file, int *errnum)
{
    if (faccessat(AT_FDCWD, file, R_OK | W_OK, AT_EACCESS) == 0 || errno == ENOENT)
        return true;
    *errnum = errno;
    return !(errno == EACCES || errno == EPERM || errno == EROFS);
}

/* The database, its WAL and shared memory must be writable: SQLite would
 * open a file it cannot write read-only and fail only at the first write
 * (the rollups' rebuild: "not an error"), and a WAL left by another user
 * would be unusable. A new database is created here 0600 (events hold
 * openids); SQLite gives the WAL and SHM the database's mode. */
static int sq_check_writable(const char *path, char *err, size_t errlen)
{
    static const char *const sides[] = {"", "-wal", "-shm"};
    char file[4096 + 8];
    int errnum = 0;
    if (!path[0] || strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0)
        return 0;
    /* only a file that did not exist: no connection of ours has locks on it */
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0)
        close(fd);
    for (size_t i = 0; i < sizeof(sides) / sizeof(sides[0]); i++) {
        snprintf(file, sizeof(file), "%s%s", path, sides[i]);
        if (!sq_writable(file, &errnum))
            return sq_explain_unwritable(file, errnum, err, errlen), -1;
    }
    snprintf(file, sizeof(file), "%s-wal", path);
    if (access(file, F_OK) == 0) /* the directory is written only to create the WAL */
        return 0;
    const char *slash = strrchr(path, '/');
    snprintf(file, sizeof(file), "%.*s", slash ? (int)(slash - path) + (slash == path) : 1,
             slash ? path : ".");
    if (faccessat(AT_FDCWD, file, W_OK | X_OK, AT_EACCESS) < 0 &&
        (errno == EACCES || errno == EROFS))
        return sq_explain_unwritable(file, errno, err, errlen), -1;
    return 0;
}

static int sq_open(struct db **out, const char *path, const struct db_options *opt, char *err,
                   size_t errlen)
{
    pthread_once(&sqlite_once, sqlite_configure);
    struct sq_db *d = calloc(1, sizeof(*d));
    if (!d)
        return snprintf(err, errlen, "out of memory"), DB_ENOMEM;
    int flags = SQLITE_OPEN_NOMUTEX | (opt->read_only ? SQLITE_OPEN_READONLY
                                                      : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    const char *vfs = store_vfs_register() == SQLITE_OK ? STORE_VFS_NAME : NULL;
    if (!opt->read_only && sq_check_writable(path, err, errlen) < 0) {
        free(d);
        return DB_EOTHER;
    }
    int rc = sqlite3_open_v2(path, &d->h, flags, vfs);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, d->h ? sqlite3_errmsg(d->h) : "cannot open");
        goto fail;
    }
    d->busy_ms = opt->busy_timeout_ms > 0 ? opt->busy_timeout_ms : 5000;
    d->turn = turn_for(sqlite3_db_filename(d->h, "main"));
    sqlite3_busy_handler(d->h, sq_busy, d);
    sqlite3_extended_result_codes(d->h, 1);
    const char *sync =
        opt->sync == DB_SYNC_FULL ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL";
    if ((!opt->read_only && (rc = sq_exec(&d->base, "PRAGMA journal_mode = WAL")) < 0) ||
        (rc = sq_exec(&d->base, sync)) < 0 ||
        (rc = sq_exec(&d->base, "PRAGMA foreign_keys = ON")) < 0 ||
        (rc = prep(d, "BEGIN", &d->begin_read)) < 0 ||
        (rc = prep(d, "BEGIN IMMEDIATE", &d->begin_write)) < 0 ||
        (rc = prep(d, "COMMIT", &d->commit)) < 0 || (rc = prep(d, "ROLLBACK", &d->rollback)) < 0) {
        snprintf(err, errlen, "%s: %s", path, sq_errmsg(&d->base));
        goto fail;
    }
    *out = &d->base;
    return 0;
fail:
    rc = d->h ? classify(sqlite3_extended_errcode(d->h)) : DB_EOTHER;
    sq_close(&d->base);
    return rc < 0 ? rc : DB_EOTHER;
}

static int sq_schema_version(struct db *db, int *out)
{
    struct sq_db *d = SQ(db);
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(d->h, "PRAGMA user_version", -1, &s, NULL);
    if (rc != SQLITE_OK)
        return fail(d, rc);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : fail(d, rc);
}

/* The version lives in PRAGMA user_version, bumped in the transaction that
 * applies the migration: a crash never leaves a half-applied migration
 * recorded as done, and processes opening a fresh database at once
 * serialise on the write lock instead of racing. */
static int sq_migrate(struct db *db, const struct db_migration *m, size_t n, char *err,
                      size_t errlen)
{
    int version = 0, newest = 0, rc;
    char sql[64];
    if ((rc = sq_exec(db, "BEGIN IMMEDIATE")) < 0)
        return snprintf(err, errlen, "migrations: %s", sq_errmsg(db)), rc;
    SQ(db)->writing = true;
    if ((rc = sq_schema_version(db, &version)) < 0) {
        snprintf(err, errlen, "migrations: %s", sq_errmsg(db));
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        if (db_migration_version(&m[i]) > newest)
            newest = db_migration_version(&m[i]);
    if (version > newest) {
        snprintf(err, errlen, "database schema version %d is newer than this build (%d)", version,
                 newest);
        rc = DB_EOTHER;
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        int v = db_migration_version(&m[i]);
        if (v <= version)
            continue;
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v);
        if ((rc = sq_exec(db, m[i].sql)) < 0 || (rc = sq_exec(db, sql)) < 0) {
            snprintf(err, errlen, "migration %s: %s", m[i].name, sq_errmsg(db));
            goto fail;
        }
        version = v;
    }
    if ((rc = sq_exec(db, "COMMIT")) < 0) {
        snprintf(err, errlen, "migrations: %s", sq_errmsg(db));
        goto fail;
    }
    turn_ended(SQ(db));
    return 0;
fail:
    sqlite3_exec(SQ(db)->h, "ROLLBACK", NULL, NULL, NULL);
    turn_ended(SQ(db));
    return rc;
}

static struct db_stmt *sq_prepare(struct db *db, const char *sql, bool persistent)
{
    struct sq_db *d = SQ(db);
    struct sq_stmt *st = calloc(1, sizeof(*st));
    if (!st) {
        fail(d, SQLITE_NOMEM);
        return NULL;
    }
    int rc =
        sqlite3_prepare_v3(d->h, sql, -1, persistent ? SQLITE_PREPARE_PERSISTENT : 0, &st->s, NULL);
    if (rc != SQLITE_OK || !st->s) {
        if (rc == SQLITE_OK) { /* an empty statement */
            d->errclass = DB_EOTHER;
            snprintf(d->errbuf, sizeof(d->errbuf), "empty statement");
        } else {
            fail(d, rc);
        }
        sqlite3_finalize(st->s);
        free(st);
        return NULL;
    }
    st->base.db = db;
    st->base.ops = &db_sqlite_ops;
    return &st->base;
}

static void sq_finalize(struct db_stmt *s)
{
    sqlite3_finalize(SQS(s)->s);
    free(s);
}

static void sq_bind_text(struct db_stmt *s, int i, const char *v, size_t len)
{
    sqlite3_bind_text(SQS(s)->s, i, v, (int)len, SQLITE_STATIC);
}

static void sq_bind_int64(struct db_stmt *s, int i, int64_t v)
{
    sqlite3_bind_int64(SQS(s)->s, i, v);
}

static void sq_bind_null(struct db_stmt *s, int i)
{
    sqlite3_bind_null(SQS(s)->s, i);
}

static void sq_bind_blob(struct db_stmt *s, int i, const void *p, size_t n)
{
    sqlite3_bind_blob(SQS(s)->s, i, p, (int)n, SQLITE_STATIC);
}

static int sq_step(struct db_stmt *s)
{
    int rc = sqlite3_step(SQS(s)->s);
    if (rc == SQLITE_ROW)
        return DB_ROW;
    if (rc == SQLITE_DONE)
        return DB_DONE;
    return fail(SQ(s->db), rc);
}

static void sq_reset(struct db_stmt *s)
{
    sqlite3_reset(SQS(s)->s);
    sqlite3_clear_bindings(SQS(s)->s);
}

static bool sq_col_null(struct db_stmt *s, int i)
{
    return sqlite3_column_type(SQS(s)->s, i) == SQLITE_NULL;
}

static int64_t sq_col_int64(struct db_stmt *s, int i)
{
    return sqlite3_column_int64(SQS(s)->s, i);
}

static const char *sq_col_text(struct db_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(SQS(s)->s, i);
}

static const void *sq_col_blob(struct db_stmt *s, int i, size_t *len)
{
    const void *p = sqlite3_column_blob(SQS(s)->s, i);
    *len = (size_t)sqlite3_column_bytes(SQS(s)->s, i);
    return p;
}

static int64_t sq_changes(struct db *db)
{
    return sqlite3_changes64(SQ(db)->h);
}

static int64_t sq_last_insert_id(struct db *db)
{
    return sqlite3_last_insert_rowid(SQ(db)->h);
}

/* Statements whose common text SQLite runs another way (see struct
 * db_override). The push path's event insert without its RETURNING: with
 * it, SQLite builds and drops a temporary table for every push (+18 % of
 * a push's instructions, bench/profile.sh); store.c reads the id through
 * db_last_insert_id() (DB_CAP_INSERT_ID). */
static const struct db_override sq_overrides[] = {
    {"store.event_add",
     "INSERT INTO events(dedup_key, kind, openid, create_time, received_at, msg_type, event, "
     "event_key, scene, is_new_fan, reply) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
     "ON CONFLICT(dedup_key) DO NOTHING"},
    {NULL, NULL},
};

/* BEGIN/COMMIT/ROLLBACK through statements prepared at open: the group
 * commit runs them per batch. */
static int tx_run(struct sq_db *d, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : fail(d, rc);
}

static int sq_begin(struct db *db, enum db_tx kind)
{
    struct sq_db *d = SQ(db);
    if (kind != DB_TX_WRITE)
        return tx_run(d, d->begin_read);
    turn_yield(d);
    d->in_begin = true;
    int rc = tx_run(d, d->begin_write);
    turn_begun(d);
    d->writing = rc == 0;
    return rc;
}

static int sq_commit(struct db *db)
{
    struct sq_db *d = SQ(db);
    int rc = tx_run(d, d->commit);
    if (sqlite3_get_autocommit(d->h))
        turn_ended(d);
    return rc;
}

static void sq_rollback(struct db *db)
{
    struct sq_db *d = SQ(db);
    if (!sqlite3_get_autocommit(d->h)) {
        int rc = sqlite3_step(d->rollback);
        sqlite3_reset(d->rollback);
        (void)rc;
    }
    turn_ended(d);
}

static int sq_data_version(struct db *db, uint64_t *out)
{
    unsigned v = 0;
    int rc = sqlite3_file_control(SQ(db)->h, "main", SQLITE_FCNTL_DATA_VERSION, &v);
    if (rc != SQLITE_OK)
        return fail(SQ(db), rc);
    *out = v;
    return 0;
}

/* ---- C functions: sqlite3_value <-> struct db_value ---- */

struct sq_fn {
    db_fn fn;
    void *ctx;
    struct buf scratch;
};

static void sq_fn_free(void *p)
{
    struct sq_fn *f = p;
    buf_free(&f->scratch);
    free(f);
}

#define SQ_FN_MAX_ARGS 8

static void sq_fn_call(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    struct sq_fn *f = sqlite3_user_data(cx);
    struct db_value in[SQ_FN_MAX_ARGS], out = {.type = DB_NULL};
    const char *msg = NULL;
    for (int i = 0; i < argc && i < SQ_FN_MAX_ARGS; i++) {
        sqlite3_value *v = argv[i];
        switch (sqlite3_value_type(v)) {
        case SQLITE_INTEGER:
        case SQLITE_FLOAT:
            in[i] = (struct db_value){.type = DB_INT, .i = sqlite3_value_int64(v)};
            break;
        case SQLITE_TEXT:
            in[i] = (struct db_value){.type = DB_TEXT, .p = sqlite3_value_text(v)};
            in[i].n = (size_t)sqlite3_value_bytes(v);
            break;
        case SQLITE_BLOB:
            in[i] = (struct db_value){.type = DB_BLOB, .p = sqlite3_value_blob(v)};
            in[i].n = (size_t)sqlite3_value_bytes(v);
            break;
        default:
            in[i] = (struct db_value){.type = DB_NULL};
        }
    }
    buf_reset(&f->scratch);
    if (f->fn(f->ctx, argc, in, &out, &f->scratch, &msg) < 0) {
        if (msg)
            sqlite3_result_error(cx, msg, -1);
        else
            sqlite3_result_error_nomem(cx);
        return;
    }
    switch (out.type) {
    case DB_INT:
        sqlite3_result_int64(cx, out.i);
        break;
    case DB_TEXT:
        sqlite3_result_text(cx, out.p, (int)out.n, SQLITE_TRANSIENT);
        break;
    case DB_BLOB:
        sqlite3_result_blob(cx, out.p, (int)out.n, SQLITE_TRANSIENT);
        break;
    default:
        sqlite3_result_null(cx);
    }
}

static int sq_function(struct db *db, const char *name, int nargs, bool deterministic, db_fn fn,
                       void *ctx)
{
    if (nargs > SQ_FN_MAX_ARGS)
        return DB_EOTHER;
    struct sq_fn *f = calloc(1, sizeof(*f));
    if (!f)
        return DB_ENOMEM;
    f->fn = fn;
    f->ctx = ctx;
    int flags = SQLITE_UTF8 | SQLITE_DIRECTONLY | (deterministic ? SQLITE_DETERMINISTIC : 0);
    int rc = sqlite3_create_function_v2(SQ(db)->h, name, nargs, flags, f, sq_fn_call, NULL, NULL,
                                        sq_fn_free);
    return rc == SQLITE_OK ? 0 : fail(SQ(db), rc); /* on error SQLite freed f */
}

const struct db_ops db_sqlite_ops = {
    .name = "sqlite",
    .caps = DB_CAP_SERIAL_WRITES | DB_CAP_C_FUNCTIONS | DB_CAP_ID_IS_COMMIT_ORDER |
            DB_CAP_DATA_VERSION | DB_CAP_EMBEDDED | DB_CAP_INSERT_ID,
    .overrides = sq_overrides,
    .open = sq_open,
    .close = sq_close,
    .errmsg = sq_errmsg,
    .errclass = sq_errclass,
    .set_busy_timeout = sq_set_busy_timeout,
    .exec = sq_exec,
    .migrate = sq_migrate,
    .schema_version = sq_schema_version,
    .prepare = sq_prepare,
    .finalize = sq_finalize,
    .bind_text = sq_bind_text,
    .bind_int64 = sq_bind_int64,
    .bind_null = sq_bind_null,
    .bind_blob = sq_bind_blob,
    .step = sq_step,
    .reset = sq_reset,
    .col_null = sq_col_null,
    .col_int64 = sq_col_int64,
    .col_text = sq_col_text,
    .col_blob = sq_col_blob,
    .changes = sq_changes,
    .last_insert_id = sq_last_insert_id,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .data_version = sq_data_version,
    .function = sq_function,
};
