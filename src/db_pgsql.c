/* The PostgreSQL backend: one libpq connection per struct db.
 *
 * Statements: the ?N of db.h's SQL become $N (db_pgsql_translate()); a
 * cached statement (db_stmt) is PQprepare'd once per server session under
 * its own name, an ad-hoc one (db_prepare) goes through PQexecParams (the
 * unnamed statement, one round trip). Parameters are sent as text (an
 * int64 in decimal), blobs in binary; the server infers each parameter's
 * type from the SQL. A result is fetched whole and db_step walks its rows.
 *
 * Transactions: DB_TX_WRITE is READ COMMITTED, DB_TX_READ REPEATABLE READ
 * (one snapshot for the whole transaction). No backend-wide write lock
 * (no DB_CAP_SERIAL_WRITES): a read -> decide -> write sequence takes its
 * row locks itself (SELECT ... FOR UPDATE, or an upsert). A statement that
 * fails inside a transaction aborts it; db_rollback() ends it.
 *
 * Reconnection: a lost connection fails the call that found it; the next
 * call resets it (PQreset: with a multi-host conninfo and
 * target_session_attrs=read-write libpq walks the hosts and finds the new
 * primary) and bumps the connection's generation; a cached statement
 * re-prepares itself when it was prepared under an older generation.
 * Within a transaction nothing reconnects until db_rollback(): statements
 * meant for the lost transaction must not run in autocommit on a new
 * session.
 *
 * Statements run later (db_run_later) go out in libpq's pipeline mode,
 * inside a transaction only; their answers are read with the next
 * statement that waits for one, at the latest before COMMIT is sent. Any
 * failure on the way leaves pipeline mode (pipeline_abandon()) so that
 * db_rollback() can end the transaction; a session that cannot leave it
 * is ended by db_rollback() (PQreset: its transaction and advisory locks
 * go with it).
 *
 * Errors are classed by SQLSTATE (sqlstate_classes[]); a lost connection
 * is DB_EUNCERTAIN when a write may have committed (during COMMIT, or a
 * writing statement outside a transaction) and DB_EOTHER otherwise (a
 * transaction that never reached COMMIT rolls back with its session). */
#include "db_pgsql.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db_backend.h"
#include "log.h"

/* Type OIDs of the result columns read specially (catalog/pg_type.h,
 * stable since PostgreSQL's first releases). */
#define PG_BOOLOID  16
#define PG_BYTEAOID 17

/* pg_advisory_xact_lock key of db_migrate: "wxscene" in ASCII. Every
 * wxscene process migrating one database takes the same lock. */
#define MIGRATE_LOCK_KEY "33617430467636837"

struct pg_db {
    struct db base;
    PGconn *conn;
    uint64_t gen;      /* bumped on every (re)connection: a new server session */
    uint64_t stmt_seq; /* statement names wxs_<seq>, unique for the connection */
    bool tx_open;      /* between db_begin and commit/rollback, even if the link died */
    bool tx_write;
    bool read_only;
    bool timeout_pending; /* set_busy_timeout during a transaction: apply at the next begin */
    int busy_ms;          /* lock_timeout */
    int64_t changes;
    int errclass;
    int later;                /* statements sent by db_run_later() whose answers are not read yet */
    int syncs;                /* pipeline syncs sent whose PGRES_PIPELINE_SYNC is not read yet */
    bool broken;              /* the session could not leave pipeline mode: reset it when allowed */
    const char **later_names; /* the db_query names of the `later` statements, in order */
    struct pg_stmt **later_stmts; /* ... and the db_send() ones whose rows are kept (else NULL) */
    int later_cap;
    char errbuf[1024]; /* the last failure's message, kept across later calls */
};

struct pg_stmt {
    struct db_stmt base;
    char *sql; /* translated ($N) */
    char name[32];
    uint64_t gen; /* the connection generation it was prepared in; 0 = not */
    bool persistent;
    bool writes; /* not a plain read (lost connection outside a tx = uncertain) */
    int nparams;
    const char **values;
    int *lengths, *formats;
    char **own;      /* text parameters, copied (libpq wants them NUL-terminated) */
    char (*num)[24]; /* int64 parameters in decimal */
    PGresult *res;   /* the executed statement's rows, NULL before the first step */
    int row, nrows;  /* row = the current one */
    bool sent;       /* db_send(): its answer is due, read with the pipeline's */
    bool fresh;      /* res is db_send()'s answer, not stepped yet */
    struct pg_blob {
        unsigned char *p; /* PQunescapeBytea's, PQfreemem'd */
        size_t n;
    } * blobs; /* bytea columns of the current row, decoded on demand */
    int nblobs;
};

static struct pg_db *PG(const struct db *db)
{
    return (struct pg_db *)db;
}

static struct pg_stmt *PGS(struct db_stmt *s)
{
    return (struct pg_stmt *)s;
}

/* ---- ?N -> $N ---- */

static bool ident_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$' || c >= 0x80;
}

static bool ident_start(unsigned char c)
{
    return ident_char(c) && c != '$' && !(c >= '0' && c <= '9');
}

/* The end of the literal or identifier quoted by q that starts at i (a
 * doubled q is one character; backslash escapes in E'' strings). */
static size_t skip_quoted(const char *s, size_t n, size_t i, char q, bool backslash)
{
    for (i++; i < n; i++) {
        if (backslash && s[i] == '\\')
            i++;
        else if (s[i] == q && i + 1 < n && s[i + 1] == q)
            i++;
        else if (s[i] == q)
            return i + 1;
    }
    return n;
}

/* Block comments nest in PostgreSQL. */
static size_t skip_block_comment(const char *s, size_t n, size_t i)
{
    int depth = 0;
    while (i < n) {
        if (s[i] == '/' && i + 1 < n && s[i + 1] == '*')
            depth++, i += 2;
        else if (s[i] == '*' && i + 1 < n && s[i + 1] == '/') {
            i += 2;
            if (--depth == 0)
                return i;
        } else
            i++;
    }
    return n;
}

/* A dollar-quoted string $tag$...$tag$ starting at i, or i when the $
 * starts none. */
static size_t skip_dollar(const char *s, size_t n, size_t i)
{
    size_t t = i + 1;
    if (t < n && s[t] != '$') {
        if (!ident_start((unsigned char)s[t]))
            return i;
        while (t < n && ident_char((unsigned char)s[t]) && s[t] != '$')
            t++;
        if (t >= n || s[t] != '$')
            return i;
    }
    size_t taglen = t + 1 - i;
    const char *end = NULL;
    for (size_t j = t + 1; j + taglen <= n; j++)
        if (s[j] == '$' && memcmp(s + j, s + i, taglen) == 0) {
            end = s + j;
            break;
        }
    return end ? (size_t)(end - s) + taglen : n;
}

/* A ?N at i: its number (written $N in out), or 0 when it is not one. */
static int param_at(char *out, size_t n, size_t *i)
{
    size_t j = *i + 1;
    long v = 0;
    while (j < n && out[j] >= '0' && out[j] <= '9' && v <= DB_PGSQL_MAX_PARAMS)
        v = v * 10 + (out[j++] - '0');
    if (j == *i + 1 || v < 1 || v > DB_PGSQL_MAX_PARAMS || (j < n && ident_char(out[j])))
        return 0;
    out[*i] = '$';
    *i = j;
    return (int)v;
}

char *db_pgsql_translate(const char *sql, int *nparams)
{
    size_t n = strlen(sql);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    memcpy(out, sql, n + 1);
    int maxn = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)out[i];
        bool estr = (c == 'e' || c == 'E') && i + 1 < n && out[i + 1] == '\'' &&
                    (i == 0 || !ident_char((unsigned char)out[i - 1]));
        if (estr)
            i = skip_quoted(out, n, i + 1, '\'', true);
        else if (c == '\'' || c == '"')
            i = skip_quoted(out, n, i, (char)c, false);
        else if (c == '-' && i + 1 < n && out[i + 1] == '-')
            for (; i < n && out[i] != '\n'; i++)
                ;
        else if (c == '/' && i + 1 < n && out[i + 1] == '*')
            i = skip_block_comment(out, n, i);
        else if (c == '$' && skip_dollar(out, n, i) != i)
            i = skip_dollar(out, n, i);
        else if (ident_char(c)) /* a word (identifiers may hold '$' and digits) */
            for (; i < n && ident_char((unsigned char)out[i]); i++)
                ;
        else if (c == '?') {
            int v = param_at(out, n, &i);
            if (v > maxn)
                maxn = v;
            if (!v)
                i++;
        } else
            i++;
    }
    *nparams = maxn;
    return out;
}

/* ---- errors ---- */

/* SQLSTATE (prefix) -> class; the first matching row wins. */
static const struct {
    const char *state;
    int cls;
} sqlstate_classes[] = {
    {"23505", DB_ECONFLICT}, /* unique_violation */
    {"23", DB_ECONSTRAINT},  /* other integrity constraints */
    {"40001", DB_EBUSY},     /* serialization_failure */
    {"40P01", DB_EBUSY},     /* deadlock_detected */
    {"55P03", DB_EBUSY},     /* lock_not_available (lock_timeout) */
    {"57014", DB_EBUSY},     /* query_canceled (statement_timeout) */
    {"53200", DB_ENOMEM},    /* out_of_memory */
};

static bool conn_lost(const struct pg_db *d, const PGresult *res)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return !res || PQstatus(d->conn) != CONNECTION_OK || (st && strncmp(st, "08", 2) == 0);
}

/* Copy a message into errbuf, lines joined (libpq's connection messages
 * span several). */
static void set_msg(struct pg_db *d, const char *a, const char *b)
{
    /* a message longer than errbuf is cut: the return value is taken so
     * that -Wformat-truncation knows it is meant */
    int cut = b && *b ? snprintf(d->errbuf, sizeof(d->errbuf), "%s (%s)", a, b)
                      : snprintf(d->errbuf, sizeof(d->errbuf), "%s", a && *a ? a : "unknown error");
    (void)cut;
    size_t n = strlen(d->errbuf);
    while (n && (d->errbuf[n - 1] == '\n' || d->errbuf[n - 1] == ' '))
        d->errbuf[--n] = '\0';
    for (char *p = d->errbuf; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
}

static int fail_text(struct pg_db *d, int cls, const char *msg)
{
    set_msg(d, msg, NULL);
    return d->errclass = cls;
}

/* errbuf = prefix + errbuf (the message says where it came from). */
static void prefix_msg(struct pg_db *d, const char *prefix)
{
    char msg[sizeof(d->errbuf)];
    memcpy(msg, d->errbuf, sizeof(msg));
    size_t n = strlen(prefix);
    if (n >= sizeof(d->errbuf))
        n = sizeof(d->errbuf) - 1;
    memcpy(d->errbuf, prefix, n);
    /* the tail of a long message is cut, as snprintf would */
    size_t room = sizeof(d->errbuf) - 1 - n, len = strnlen(msg, sizeof(msg) - 1);
    if (len > room)
        len = room;
    memcpy(d->errbuf + n, msg, len);
    d->errbuf[n + len] = '\0';
}

/* A libpq call that failed without a result (a send, a sync, leaving
 * pipeline mode): what was being done, then libpq's reason. Only inside a
 * transaction, before COMMIT is sent: nothing can have committed, so never
 * DB_EUNCERTAIN. */
static int fail_call(struct pg_db *d, const char *what)
{
    const char *m = PQerrorMessage(d->conn);
    set_msg(d, m && *m ? m : "no reason given", NULL);
    prefix_msg(d, what);
    return d->errclass = DB_EOTHER;
}

/* Record res's failure: its class and PostgreSQL's message (primary and
 * detail). writes: a lost connection may have lost a committed write. */
static int fail_res(struct pg_db *d, const PGresult *res, bool writes)
{
    if (conn_lost(d, res)) {
        const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        set_msg(d, m ? m : PQerrorMessage(d->conn), NULL);
        return d->errclass = writes ? DB_EUNCERTAIN : DB_EOTHER;
    }
    const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    set_msg(d, m ? m : PQresultErrorMessage(res), PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL));
    d->errclass = DB_EOTHER;
    for (size_t i = 0; st && i < WXS_ARRAY_LEN(sqlstate_classes); i++)
        if (strncmp(st, sqlstate_classes[i].state, strlen(sqlstate_classes[i].state)) == 0) {
            d->errclass = sqlstate_classes[i].cls;
            break;
        }
    return d->errclass;
}

/* 0 when res succeeded, else its class (recorded). */
static int check(struct pg_db *d, const PGresult *res, bool writes)
{
    switch (res ? PQresultStatus(res) : PGRES_FATAL_ERROR) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
        return 0;
    default:
        return fail_res(d, res, writes);
    }
}

/* db_changes() follows the last INSERT/UPDATE/DELETE/MERGE, as SQLite's. */
static void note_changes(struct pg_db *d, PGresult *res)
{
    static const char *const cmds[] = {"INSERT ", "UPDATE ", "DELETE ", "MERGE "};
    const char *status = PQcmdStatus(res);
    for (size_t i = 0; status && i < WXS_ARRAY_LEN(cmds); i++)
        if (strncmp(status, cmds[i], strlen(cmds[i])) == 0) {
            d->changes = strtoll(PQcmdTuples(res), NULL, 10);
            return;
        }
}

static const char *pg_errmsg(const struct db *db)
{
    const struct pg_db *d = PG(db);
    return d->errbuf[0] ? d->errbuf : "no error";
}

static int pg_errclass(const struct db *db)
{
    return PG(db)->errclass;
}

/* ---- statements run later (libpq's pipeline mode) ---- */

/* Leave pipeline mode after a failure, whatever state the failure left:
 * a sync is sent (a transaction block is not committed by one), every
 * answer up to the syncs is read and dropped, and pipeline mode is left.
 * A live session that still cannot leave it (answers that never came, a
 * sync that could not be sent) is marked broken: no statement can follow
 * on it, so the next call allowed to reconnect ends it (db_rollback() at
 * once). Records no error: the caller reports the first failure. */
static void pipeline_abandon(struct pg_db *d)
{
    d->later = 0;
    if (PQpipelineStatus(d->conn) == PQ_PIPELINE_OFF) {
        d->syncs = 0;
        return;
    }
    if (PQstatus(d->conn) == CONNECTION_OK && PQpipelineSync(d->conn) == 1)
        d->syncs++;
    /* two NULLs in a row: nothing more is coming (each statement's answer
     * ends with one NULL, a sync with none) */
    for (int nulls = 0; d->syncs > 0 && nulls < 2 && PQstatus(d->conn) == CONNECTION_OK;) {
        PGresult *res = PQgetResult(d->conn);
        if (!res) {
            nulls++;
            continue;
        }
        nulls = 0;
        if (PQresultStatus(res) == PGRES_PIPELINE_SYNC)
            d->syncs--;
        PQclear(res);
    }
    d->syncs = 0;
    /* (a lost connection is reset anyway, pipeline state and all) */
    if (PQexitPipelineMode(d->conn) != 1 && PQstatus(d->conn) == CONNECTION_OK)
        d->broken = true;
}

/* Record the failure of statement i of those run later (its answer res):
 * its message says it came from that statement, not from the call that
 * read its answer. */
static int fail_later(struct pg_db *d, const PGresult *res, int i)
{
    int cls = fail_res(d, res, false);
    const char *name = i < d->later_cap ? d->later_names[i] : NULL;
    char prefix[160];
    snprintf(prefix, sizeof(prefix),
             "a statement queued earlier by db_run_later (%s) failed: ", name ? name : "unnamed");
    prefix_msg(d, prefix);
    return cls;
}

/* The class of an answer that is missing (NULL) or came on a lost
 * connection (res then says why, if it can). */
static int fail_missing(struct pg_db *d, const PGresult *res)
{
    if (PQstatus(d->conn) != CONNECTION_OK)
        return fail_res(d, res, false); /* inside a transaction: never uncertain */
    return fail_text(d, DB_EOTHER, "an answer of the pipeline (db_run_later) is missing");
}

/* After PQpipelineSync: the answers of the d->later statements sent by
 * db_run_later(), then, with own, the answer of the statement sent last
 * (kept in *own for the caller), then the sync. 0, or the class of the
 * first failure (its message recorded; the statements after it were not
 * run: PGRES_PIPELINE_ABORTED). Leaves pipeline mode, by
 * pipeline_abandon() when anything is amiss. */
static int collect(struct pg_db *d, PGresult **own)
{
    int rc = 0, n = d->later + (own ? 1 : 0);
    for (int i = 0; i < n; i++) {
        PGresult *res = PQgetResult(d->conn);
        if (!res || PQstatus(d->conn) != CONNECTION_OK) {
            if (rc == 0)
                rc = fail_missing(d, res);
            PQclear(res);
            pipeline_abandon(d);
            return rc;
        }
        bool mine = own && i == n - 1;
        struct pg_stmt *keep = !mine && i < d->later ? d->later_stmts[i] : NULL;
        if (keep && rc == 0 && PQresultStatus(res) == PGRES_TUPLES_OK) {
            note_changes(d, res);
            keep->res = res; /* db_step() walks it */
            keep->nrows = PQntuples(res);
            keep->row = 0;
            keep->sent = false;
            keep->fresh = true;
        } else if (PQresultStatus(res) == PGRES_PIPELINE_ABORTED) {
            if (rc == 0)
                rc = fail_text(d, DB_EOTHER, "a statement of the pipeline was not run");
            PQclear(res);
        } else if (mine && rc == 0) {
            *own = res; /* checked by the caller */
        } else {
            int c = rc == 0 ? check(d, res, false) : 0;
            if (c < 0 && !mine)
                c = fail_later(d, res, i);
            if (c == 0 && rc == 0)
                note_changes(d, res);
            rc = rc ? rc : c;
            PQclear(res);
        }
        PQclear(PQgetResult(d->conn)); /* each answer ends with a NULL */
    }
    PGresult *sync = PQgetResult(d->conn);
    if (!sync || PQresultStatus(sync) != PGRES_PIPELINE_SYNC) {
        if (rc == 0)
            rc = fail_missing(d, sync);
        PQclear(sync);
        pipeline_abandon(d);
        return rc;
    }
    PQclear(sync);
    d->syncs--;
    d->later = 0;
    if (PQexitPipelineMode(d->conn) != 1) {
        if (rc == 0)
            rc = fail_call(d, "cannot leave pipeline mode: ");
        pipeline_abandon(d);
    }
    return rc;
}

/* Read the answers of the statements run later, before anything else
 * talks to the server. 0, or the first failure's class (the transaction
 * then fails: only db_rollback() follows). */
static int flush_later(struct pg_db *d)
{
    if (d->broken)
        return fail_text(d, DB_EOTHER,
                         "the connection was left in pipeline mode by an earlier failure; "
                         "roll the transaction back");
    if (d->later == 0)
        return 0;
    if (PQpipelineSync(d->conn) != 1) {
        int rc = fail_call(d, "cannot send the statements queued by db_run_later: ");
        pipeline_abandon(d);
        return rc;
    }
    d->syncs++;
    return collect(d, NULL);
}

/* ---- the connection ---- */

/* One statement run for its effect (settings, BEGIN...); 0 or the class. */
static int run(struct pg_db *d, const char *sql, bool writes)
{
    int rc0 = flush_later(d);
    if (rc0 < 0)
        return rc0;
    PGresult *res = PQexec(d->conn, sql);
    int rc = check(d, res, writes);
    if (rc == 0)
        note_changes(d, res);
    PQclear(res);
    return rc;
}

/* What a new server session needs: the lock wait (db.h's busy timeout)
 * and read-only mode. */
static int session_setup(struct pg_db *d)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SET lock_timeout = %d%s", d->busy_ms,
             d->read_only ? "; SET default_transaction_read_only = on" : "");
    int rc = run(d, sql, false);
    d->timeout_pending = rc < 0;
    return rc;
}

/* A usable connection: a lost or broken one (left in pipeline mode) is
 * reset (the new session's statements are prepared again on their next
 * use), unless a transaction was open on it: then only db_rollback() lets
 * the connection be used again. */
static int conn_ready(struct pg_db *d)
{
    if (PQstatus(d->conn) == CONNECTION_OK && !d->broken)
        return 0;
    if (d->tx_open)
        return fail_text(d, DB_EOTHER,
                         d->broken ? "the connection was left in pipeline mode during the "
                                     "transaction; roll it back"
                                   : "the connection was lost during the transaction; "
                                     "roll it back");
    PQreset(d->conn); /* a broken session ends here, with what it held */
    d->broken = false;
    d->later = d->syncs = 0;
    if (PQstatus(d->conn) != CONNECTION_OK)
        return fail_res(d, NULL, false);
    d->gen++;
    return session_setup(d);
}

/* The server's notices (NOTICE: relation exists, skipping) go to the log,
 * not to libpq's default of stderr. */
static void on_notice(void *arg, const PGresult *res)
{
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    log_msg(sev && strcmp(sev, "WARNING") == 0 ? LOG_WARN : LOG_DEBUG, "postgresql: %s: %s",
            sev ? sev : "NOTICE", msg ? msg : "");
}

static void pg_close(struct db *db)
{
    struct pg_db *d = PG(db);
    PQfinish(d->conn);
    free(d->later_names);
    free(d->later_stmts);
    free(d);
}

/* Every occurrence of the password in msg written as ***, in place (a
 * server's message could quote what it was sent). */
static void redact(char *msg, const char *pass)
{
    size_t n = pass ? strlen(pass) : 0, k = n < 3 ? n : 3; /* never longer */
    char *p = msg;
    if (n == 0)
        return;
    while ((p = strstr(p, pass)) != NULL) {
        memmove(p + k, p + n, strlen(p + n) + 1);
        memset(p, '*', k);
        p += k;
    }
}

static int pg_open(struct db **out, const char *target, const struct db_options *opt, char *err,
                   size_t errlen)
{
    /* libpq quotes a string it cannot parse in its message, password and
     * all: such a string is refused here without a word of it. */
    char *perr = NULL;
    PQconninfoOption *parsed = PQconninfoParse(target, &perr);
    if (!parsed) {
        PQfreemem(perr);
        return snprintf(err, errlen,
                        "postgresql: the connection string is malformed (not a valid "
                        "postgresql:// URI or key=value conninfo)"),
               DB_EOTHER;
    }
    PQconninfoFree(parsed);
    struct pg_db *d = calloc(1, sizeof(*d));
    if (!d)
        return snprintf(err, errlen, "out of memory"), DB_ENOMEM;
    /* dbname carries the whole conninfo or URI (expand_dbname); the keys
     * after it override what it says, and survive PQreset. */
    static const char *const keys[] = {"dbname", "client_encoding", "fallback_application_name",
                                       NULL};
    const char *const vals[] = {target, "UTF8", "wxscene", NULL};
    d->conn = PQconnectdbParams(keys, vals, 1);
    d->busy_ms = opt->busy_timeout_ms > 0 ? opt->busy_timeout_ms : 5000;
    d->read_only = opt->read_only;
    d->gen = 1;
    int rc = DB_ENOMEM;
    if (!d->conn) {
        snprintf(err, errlen, "postgresql: out of memory");
        goto fail;
    }
    PQsetNoticeReceiver(d->conn, on_notice, NULL); /* kept across PQreset */
    /* the target may hold a password: name the database, not the URL */
    if (PQstatus(d->conn) != CONNECTION_OK || (rc = session_setup(d)) < 0) {
        if (PQstatus(d->conn) != CONNECTION_OK)
            fail_res(d, NULL, false);
        snprintf(err, errlen, "postgresql database '%s': %s", PQdb(d->conn) ? PQdb(d->conn) : "?",
                 d->errbuf);
        redact(err, PQpass(d->conn));
        rc = DB_EOTHER;
        goto fail;
    }
    *out = &d->base;
    return 0;
fail:
    pg_close(&d->base);
    return rc;
}

static void pg_set_busy_timeout(struct db *db, int ms)
{
    struct pg_db *d = PG(db);
    d->busy_ms = ms > 0 ? ms : 1; /* lock_timeout 0 would wait for ever */
    /* a SET inside a transaction would be undone by its rollback */
    if (d->tx_open || PQstatus(d->conn) != CONNECTION_OK || session_setup(d) < 0)
        d->timeout_pending = true;
}

static int pg_exec(struct db *db, const char *sql)
{
    struct pg_db *d = PG(db);
    int rc = conn_ready(d);
    return rc < 0 ? rc : run(d, sql, !d->tx_open);
}

/* ---- transactions ---- */

static bool later_reserve(struct pg_db *d);

/* A statement without parameters sent in pipeline mode, its answer read
 * with the next call that waits for one (as db_run_later's). 0, or the
 * class of the failure to send (pipeline mode then left). */
static int send_later(struct pg_db *d, const char *sql, const char *name)
{
    if (!later_reserve(d) || (d->later == 0 && PQpipelineStatus(d->conn) == PQ_PIPELINE_OFF &&
                              PQenterPipelineMode(d->conn) != 1))
        return fail_text(d, DB_ENOMEM, "cannot enter pipeline mode");
    if (PQsendQueryParams(d->conn, sql, 0, NULL, NULL, NULL, NULL, 0) != 1) {
        int rc = fail_call(d, "cannot send a statement to run later: ");
        pipeline_abandon(d);
        return rc;
    }
    d->later_stmts[d->later] = NULL;
    d->later_names[d->later++] = name;
    return 0;
}

/* A write transaction's BEGIN goes out with its first statement (one round
 * trip less per transaction): it is sent in pipeline mode and its answer
 * read with that statement's. A failure of BEGIN is then the failure of
 * the first statement, inside the transaction: db_rollback() follows, as
 * for any failed statement. */
static int pg_begin(struct db *db, enum db_tx kind)
{
    struct pg_db *d = PG(db);
    int rc;
    if (d->tx_open)
        return fail_text(d, DB_EOTHER, "a transaction is already open");
    if ((rc = conn_ready(d)) < 0 || (d->timeout_pending && (rc = session_setup(d)) < 0))
        return rc;
    if (kind == DB_TX_WRITE && !d->broken && d->later == 0)
        rc = send_later(d, "BEGIN ISOLATION LEVEL READ COMMITTED", "BEGIN");
    else
        rc = run(d,
                 kind == DB_TX_WRITE ? "BEGIN ISOLATION LEVEL READ COMMITTED"
                                     : "BEGIN ISOLATION LEVEL REPEATABLE READ",
                 false);
    if (rc == 0) {
        d->tx_open = true;
        d->tx_write = kind == DB_TX_WRITE;
    }
    return rc;
}

static int pg_commit(struct db *db);

/* db_commit_pipelined(): COMMIT sent behind the statements run later, in
 * their round trip. A failure of one of them (COMMIT then not run: the
 * pipeline skips it) leaves the transaction open for db_rollback(), as
 * pg_commit() does; a connection lost on the way is DB_EUNCERTAIN (COMMIT
 * may have run). Without statements run later: pg_commit(). */
static int pg_commit_pipelined(struct db *db)
{
    struct pg_db *d = PG(db);
    PGresult *res = NULL;
    int rc;
    if (!d->tx_open || d->later == 0 || d->broken || PQstatus(d->conn) != CONNECTION_OK)
        return pg_commit(db);
    if (PQsendQueryParams(d->conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) != 1 ||
        PQpipelineSync(d->conn) != 1) {
        rc = fail_call(d, "cannot send COMMIT with the statements queued by db_run_later: ");
        pipeline_abandon(d);
        return rc; /* COMMIT never went out whole: still open, db_rollback() ends it */
    }
    d->syncs++;
    rc = collect(d, &res);
    if (rc < 0 && PQstatus(d->conn) != CONNECTION_OK) {
        PQclear(res);
        d->tx_open = false;
        return d->errclass = DB_EUNCERTAIN;
    }
    if (rc < 0) {
        PQclear(res);
        return rc; /* a statement before COMMIT failed: still open */
    }
    d->tx_open = false;
    rc = check(d, res, d->tx_write);
    if (rc == 0 && strcmp(PQcmdStatus(res), "COMMIT") != 0)
        rc = fail_text(d, DB_EOTHER, "the transaction was rolled back");
    PQclear(res);
    return rc;
}

/* COMMIT is sent only once every statement run later has answered. A
 * failure before that point (one of them failed, or the pipeline did, or
 * the connection is broken) is returned with the transaction still open:
 * db_rollback() ends it, and nothing was committed (never DB_EUNCERTAIN).
 * From that point on db_commit ends the transaction whatever its outcome:
 * a connection lost before COMMIT committed nothing; COMMIT of an aborted
 * transaction answers ROLLBACK, not an error, which must not pass for a
 * commit, so it is refused here with the error that aborted it; only a
 * connection lost during COMMIT itself is DB_EUNCERTAIN. */
static int pg_commit(struct db *db)
{
    struct pg_db *d = PG(db);
    int rc;
    if (!d->tx_open)
        return fail_text(d, DB_EOTHER, "no transaction is open");
    if ((rc = flush_later(d)) < 0)
        return rc; /* still open: db_rollback() ends it */
    d->tx_open = false;
    if (PQstatus(d->conn) != CONNECTION_OK) /* lost before COMMIT: nothing committed */
        return fail_text(d, DB_EOTHER, "the connection was lost during the transaction");
    if (PQtransactionStatus(d->conn) == PQTRANS_INERROR) {
        char msg[sizeof(d->errbuf) + 64];
        snprintf(msg, sizeof(msg), "the transaction was aborted by an earlier error: %s",
                 d->errbuf);
        PQclear(PQexec(d->conn, "ROLLBACK"));
        return fail_text(d, d->errclass < 0 ? d->errclass : DB_EOTHER, msg);
    }
    PGresult *res = PQexec(d->conn, "COMMIT");
    if (!res) /* not sent at all (libpq's own failure): nothing committed */
        return fail_call(d, "cannot send COMMIT: ");
    rc = check(d, res, d->tx_write);
    if (rc == 0 && strcmp(PQcmdStatus(res), "COMMIT") != 0)
        rc = fail_text(d, DB_EOTHER, "the transaction was rolled back");
    PQclear(res);
    return rc;
}

/* The answers of statements run later are dropped, unread: the caller
 * reads why the transaction failed (db_errmsg) after the rollback, so
 * nothing here replaces the message or class. A live session that
 * cannot end its transaction (stuck in pipeline mode, or ROLLBACK did
 * not take) is ended now, by a reset: its transaction and advisory locks
 * must not outlive the rollback. */
static void pg_rollback(struct db *db)
{
    struct pg_db *d = PG(db);
    char msg[sizeof(d->errbuf)];
    int cls = d->errclass;
    memcpy(msg, d->errbuf, sizeof(msg));
    pipeline_abandon(d);
    d->tx_open = false;
    if (PQstatus(d->conn) == CONNECTION_OK && !d->broken &&
        PQtransactionStatus(d->conn) != PQTRANS_IDLE) {
        PQclear(PQexec(d->conn, "ROLLBACK"));
        if (PQstatus(d->conn) == CONNECTION_OK && PQtransactionStatus(d->conn) != PQTRANS_IDLE)
            d->broken = true;
    }
    /* (a lost session is over already: the next call reconnects) */
    if (PQstatus(d->conn) == CONNECTION_OK && d->broken)
        (void)conn_ready(d);
    memcpy(d->errbuf, msg, sizeof(msg));
    d->errclass = cls;
}

/* ---- migrations ---- */

/* An integer from the first row of a one-column query. */
static int query_int(struct pg_db *d, const char *sql, int *out)
{
    int rc0 = flush_later(d);
    if (rc0 < 0)
        return rc0;
    PGresult *res = PQexec(d->conn, sql);
    int rc = check(d, res, false);
    if (rc == 0 && (PQntuples(res) != 1 || PQnfields(res) != 1))
        rc = fail_text(d, DB_EOTHER, "unexpected result");
    if (rc == 0)
        *out = PQgetisnull(res, 0, 0) ? 0 : atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

static int pg_schema_version(struct db *db, int *out)
{
    struct pg_db *d = PG(db);
    int exists = 0, rc = conn_ready(d);
    if (rc == 0)
        rc = query_int(d, "SELECT (to_regclass('schema_version') IS NOT NULL)::int", &exists);
    if (rc == 0 && !exists)
        *out = 0;
    else if (rc == 0)
        rc = query_int(d, "SELECT max(version) FROM schema_version", out);
    return rc;
}

/* The version lives in schema_version(version), written in the
 * transaction that applies the migrations, which first takes an advisory
 * lock: instances started together wait for each other (however long the
 * first one's migration takes) and the later ones find the work done. */
static int pg_migrate(struct db *db, const struct db_migration *m, size_t n, char *err,
                      size_t errlen)
{
    struct pg_db *d = PG(db);
    int version = 0, newest = 0, rc;
    char sql[96];
    if ((rc = pg_begin(db, DB_TX_WRITE)) < 0)
        return snprintf(err, errlen, "migrations: %s", d->errbuf), rc;
    snprintf(sql, sizeof(sql), "SET LOCAL lock_timeout = %d", d->busy_ms);
    if ((rc = run(d, "SET LOCAL lock_timeout = 0", false)) < 0 ||
        (rc = run(d, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")", false)) < 0 ||
        (rc = run(d, sql, false)) < 0 ||
        (rc = run(d, "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)",
                  false)) < 0 ||
        (rc = query_int(d, "SELECT max(version) FROM schema_version", &version)) < 0) {
        snprintf(err, errlen, "migrations: %s", d->errbuf);
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
        snprintf(sql, sizeof(sql),
                 "DELETE FROM schema_version; INSERT INTO schema_version VALUES (%d)", v);
        if ((rc = run(d, m[i].sql, false)) < 0 || (rc = run(d, sql, false)) < 0) {
            snprintf(err, errlen, "migration %s: %s", m[i].name, d->errbuf);
            goto fail;
        }
        version = v;
    }
    if ((rc = pg_commit(db)) < 0) {
        snprintf(err, errlen, "migrations: %s", d->errbuf);
        goto fail;
    }
    return 0;
fail:
    pg_rollback(db);
    return rc;
}

/* ---- statements ---- */

/* Whether a statement may write: anything but a plain read. */
static bool sql_writes(const char *sql)
{
    static const char *const reads[] = {"SELECT", "VALUES", "SHOW", "TABLE", "EXPLAIN"};
    while (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == '\r' || *sql == '(')
        sql++;
    for (size_t i = 0; i < WXS_ARRAY_LEN(reads); i++) {
        size_t k = strlen(reads[i]);
        if (strncasecmp(sql, reads[i], k) == 0 && !ident_char((unsigned char)sql[k]))
            return false;
    }
    return true;
}

static void clear_blobs(struct pg_stmt *st)
{
    for (int i = 0; i < st->nblobs; i++) {
        PQfreemem(st->blobs[i].p);
        st->blobs[i].p = NULL;
    }
}

static void clear_param(struct pg_stmt *st, int k)
{
    free(st->own[k]);
    st->own[k] = NULL;
    st->values[k] = NULL;
    st->lengths[k] = 0;
    st->formats[k] = 0;
}

static void pg_reset(struct db_stmt *s)
{
    struct pg_stmt *st = PGS(s);
    struct pg_db *d = PG(s->db);
    for (int i = 0; st->sent && i < d->later; i++) /* its answer will be dropped */
        if (d->later_stmts[i] == st)
            d->later_stmts[i] = NULL;
    st->sent = st->fresh = false;
    clear_blobs(st);
    PQclear(st->res);
    st->res = NULL;
    st->row = st->nrows = 0;
    for (int k = 0; k < st->nparams; k++)
        clear_param(st, k);
}

static void pg_finalize(struct db_stmt *s)
{
    struct pg_stmt *st = PGS(s);
    if (!st)
        return;
    pg_reset(s);
    free(st->blobs);
    free(st->sql);
    free(st->values);
    free(st->lengths);
    free(st->formats);
    free(st->own);
    free(st->num);
    free(st);
}

static int stmt_prepare(struct pg_db *d, struct pg_stmt *st)
{
    int rc0 = flush_later(d);
    if (rc0 < 0)
        return rc0;
    PGresult *res = PQprepare(d->conn, st->name, st->sql, 0, NULL);
    int rc = check(d, res, false);
    PQclear(res);
    if (rc == 0)
        st->gen = d->gen;
    return rc;
}

static struct db_stmt *pg_prepare(struct db *db, const char *sql, bool persistent)
{
    struct pg_db *d = PG(db);
    struct pg_stmt *st = calloc(1, sizeof(*st));
    if (!st || !(st->sql = db_pgsql_translate(sql, &st->nparams)))
        goto nomem;
    size_t np = st->nparams ? (size_t)st->nparams : 1;
    st->values = calloc(np, sizeof(*st->values));
    st->lengths = calloc(np, sizeof(*st->lengths));
    st->formats = calloc(np, sizeof(*st->formats));
    st->own = calloc(np, sizeof(*st->own));
    st->num = calloc(np, sizeof(*st->num));
    if (!st->values || !st->lengths || !st->formats || !st->own || !st->num)
        goto nomem;
    st->base.db = db;
    st->base.ops = &db_pgsql_ops;
    st->persistent = persistent;
    st->writes = sql_writes(st->sql);
    snprintf(st->name, sizeof(st->name), "wxs_%llu", (unsigned long long)++d->stmt_seq);
    /* a cached statement is checked and prepared now; an ad-hoc one is
     * parsed with its first execution (its errors surface at db_step) */
    if (persistent && (conn_ready(d) < 0 || stmt_prepare(d, st) < 0)) {
        pg_finalize(&st->base);
        return NULL;
    }
    return &st->base;
nomem:
    if (st)
        st->nparams = 0; /* its arrays may be missing */
    pg_finalize(st ? &st->base : NULL);
    fail_text(d, DB_ENOMEM, "out of memory");
    return NULL;
}

static void pg_bind_text(struct db_stmt *s, int i, const char *v, size_t len)
{
    struct pg_stmt *st = PGS(s);
    if (i < 1 || i > st->nparams)
        return;
    clear_param(st, i - 1);
    if (!v)
        return; /* NULL, as SQLite binds it */
    char *copy = malloc(len + 1);
    if (!copy)
        return; /* binds NULL; the statement's constraints or result tell */
    memcpy(copy, v, len);
    copy[len] = '\0';
    st->own[i - 1] = copy;
    st->values[i - 1] = copy;
}

static void pg_bind_int64(struct db_stmt *s, int i, int64_t v)
{
    struct pg_stmt *st = PGS(s);
    if (i < 1 || i > st->nparams)
        return;
    clear_param(st, i - 1);
    snprintf(st->num[i - 1], sizeof(st->num[i - 1]), "%lld", (long long)v);
    st->values[i - 1] = st->num[i - 1];
}

static void pg_bind_null(struct db_stmt *s, int i)
{
    struct pg_stmt *st = PGS(s);
    if (i >= 1 && i <= st->nparams)
        clear_param(st, i - 1);
}

/* Binary format: the bytes as they are, no escaping. */
static void pg_bind_blob(struct db_stmt *s, int i, const void *p, size_t n)
{
    struct pg_stmt *st = PGS(s);
    if (i < 1 || i > st->nparams)
        return;
    clear_param(st, i - 1);
    if (!p)
        return;                     /* NULL, as SQLite binds it */
    st->values[i - 1] = n ? p : ""; /* an empty blob is not NULL */
    st->lengths[i - 1] = (int)n;
    st->formats[i - 1] = 1;
}

/* An array literal ({"a","b",NULL}, {1,2}) built by put(v, k, out) per
 * element, owned by the parameter. */
static void bind_array(struct pg_stmt *st, int i, size_t n, bool text, const void *v,
                       int (*put)(struct buf *b, const void *v, size_t k))
{
    struct buf b = {0};
    if (i < 1 || i > st->nparams)
        return;
    clear_param(st, i - 1);
    int rc = buf_append(&b, "{", 1);
    for (size_t k = 0; rc == 0 && k < n; k++) {
        if (k && (rc = buf_append(&b, ",", 1)) < 0)
            break;
        if (text && !((const char *const *)v)[k])
            rc = buf_puts(&b, "NULL");
        else
            rc = put(&b, v, k);
    }
    if (rc < 0 || buf_append(&b, "}", 1) < 0) {
        buf_free(&b);
        return; /* binds NULL; the statement's result tells */
    }
    st->own[i - 1] = b.data;
    st->values[i - 1] = b.data;
}

/* Every element quoted: a quote or a backslash escaped with a backslash. */
static int put_text_elem(struct buf *b, const void *v, size_t k)
{
    const char *t = ((const char *const *)v)[k], *p = t;
    if (buf_append(b, "\"", 1) < 0)
        return -1;
    for (;;) {
        size_t run = strcspn(p, "\"\\");
        if (buf_append(b, p, run) < 0)
            return -1;
        p += run;
        if (!*p)
            break;
        char esc[2] = {'\\', *p++};
        if (buf_append(b, esc, 2) < 0)
            return -1;
    }
    return buf_append(b, "\"", 1);
}

static int put_int64_elem(struct buf *b, const void *v, size_t k)
{
    char num[24]; /* no printf: a batch's arrays hold hundreds of numbers */
    char *end = util_put_i64(num, num + sizeof(num) - 1, ((const int64_t *)v)[k]);
    return buf_append(b, num, (size_t)(end - num));
}

static void pg_bind_text_array(struct db_stmt *s, int i, const char *const *v, size_t n)
{
    bind_array(PGS(s), i, n, true, v, put_text_elem);
}

static void pg_bind_int64_array(struct db_stmt *s, int i, const int64_t *v, size_t n)
{
    bind_array(PGS(s), i, n, false, v, put_int64_elem);
}

static PGresult *stmt_exec(struct pg_db *d, struct pg_stmt *st)
{
    if (!st->persistent)
        return PQexecParams(d->conn, st->sql, st->nparams, NULL, st->values, st->lengths,
                            st->formats, 0);
    return PQexecPrepared(d->conn, st->name, st->nparams, st->values, st->lengths, st->formats, 0);
}

/* Room for one more name in d->later_names. */
static bool later_reserve(struct pg_db *d)
{
    if (d->later < d->later_cap)
        return true;
    int cap = d->later_cap ? d->later_cap * 2 : 32;
    const char **p = realloc(d->later_names, (size_t)cap * sizeof(*p));
    if (!p)
        return false;
    d->later_names = p;
    struct pg_stmt **q = realloc(d->later_stmts, (size_t)cap * sizeof(*q));
    if (!q)
        return false;
    d->later_stmts = q;
    d->later_cap = cap;
    return true;
}

/* Inside a transaction: send now, read the answer with the next call
 * that waits for one (pipeline mode); elsewhere, or for an ad-hoc or
 * not yet prepared statement, db_run(). */
static int pg_run_later(struct db_stmt *s)
{
    struct pg_stmt *st = PGS(s);
    struct pg_db *d = PG(s->db);
    if (!d->tx_open || d->broken || !st->persistent || st->gen != d->gen ||
        PQstatus(d->conn) != CONNECTION_OK || !later_reserve(d) ||
        (d->later == 0 && PQenterPipelineMode(d->conn) != 1))
        return db_run(s);
    int ok = PQsendQueryPrepared(d->conn, st->name, st->nparams, st->values, st->lengths,
                                 st->formats, 0);
    pg_reset(s); /* libpq copied the parameters */
    if (!ok) {
        int rc = fail_call(d, "cannot send a statement to run later: ");
        pipeline_abandon(d); /* the transaction fails: db_rollback() ends it */
        return rc;
    }
    d->later_stmts[d->later] = NULL;
    d->later_names[d->later++] = s->name;
    return 0;
}

/* db_send(): as db_run_later(), the rows kept for db_step(). Where the
 * statement cannot go into the pipeline (no transaction, not prepared in
 * this session...), nothing is sent: db_step() runs it. */
static int pg_send(struct db_stmt *s)
{
    struct pg_stmt *st = PGS(s);
    struct pg_db *d = PG(s->db);
    /* an answer still held (a failed batch's, or rows not read to the
     * end) is dropped; the parameters just bound stay */
    for (int i = 0; st->sent && i < d->later; i++)
        if (d->later_stmts[i] == st)
            d->later_stmts[i] = NULL;
    st->sent = st->fresh = false;
    clear_blobs(st);
    PQclear(st->res);
    st->res = NULL;
    st->row = st->nrows = 0;
    if (!d->tx_open || d->broken || !st->persistent || st->gen != d->gen ||
        PQstatus(d->conn) != CONNECTION_OK || !later_reserve(d) ||
        (d->later == 0 && PQenterPipelineMode(d->conn) != 1))
        return 0;
    int ok = PQsendQueryPrepared(d->conn, st->name, st->nparams, st->values, st->lengths,
                                 st->formats, 0);
    for (int k = 0; k < st->nparams; k++) /* libpq copied them */
        clear_param(st, k);
    if (!ok) {
        int rc = fail_call(d, "cannot send a statement ahead: ");
        pipeline_abandon(d);
        return rc;
    }
    st->sent = true;
    d->later_stmts[d->later] = st;
    d->later_names[d->later++] = s->name;
    return 0;
}

/* Room for the current row's decoded blobs. */
static int blobs_reserve(struct pg_db *d, struct pg_stmt *st)
{
    int ncols = PQnfields(st->res);
    if (ncols > st->nblobs) {
        struct pg_blob *b = realloc(st->blobs, (size_t)ncols * sizeof(*b));
        if (!b)
            return fail_text(d, DB_ENOMEM, "out of memory");
        memset(b + st->nblobs, 0, (size_t)(ncols - st->nblobs) * sizeof(*b));
        st->blobs = b;
        st->nblobs = ncols;
    }
    return 0;
}

static int pg_step(struct db_stmt *s)
{
    struct pg_stmt *st = PGS(s);
    struct pg_db *d = PG(s->db);
    int rc;
    if (st->sent) { /* sent by db_send(): its answer comes with the pipeline's */
        if ((rc = flush_later(d)) < 0)
            return rc;
        if (st->sent)
            return fail_text(d, DB_EOTHER, "the answer of a statement sent ahead is missing");
    }
    if (st->fresh) {
        st->fresh = false;
        if ((rc = blobs_reserve(d, st)) < 0)
            return rc;
        return st->nrows > 0 ? DB_ROW : DB_DONE;
    }
    if (st->res) { /* the next row of the fetched result */
        clear_blobs(st);
        if (st->row + 1 >= st->nrows) {
            st->row = st->nrows;
            return DB_DONE;
        }
        st->row++;
        return DB_ROW;
    }
    if (d->later > 0 && (!st->persistent || st->gen != d->gen) && (rc = flush_later(d)) < 0)
        return rc;
    if ((rc = conn_ready(d)) < 0)
        return rc;
    if (st->persistent && st->gen != d->gen && (rc = stmt_prepare(d, st)) < 0)
        return rc; /* a new session since it was prepared */
    PGresult *res = NULL;
    if (d->later > 0) { /* the statements run later and this one: one round trip */
        if (!PQsendQueryPrepared(d->conn, st->name, st->nparams, st->values, st->lengths,
                                 st->formats, 0) ||
            PQpipelineSync(d->conn) != 1) {
            rc = fail_call(d, "cannot send a statement with those queued by db_run_later: ");
            pipeline_abandon(d);
            return rc;
        }
        d->syncs++;
        if ((rc = collect(d, &res)) < 0) {
            PQclear(res);
            return rc;
        }
    } else {
        res = stmt_exec(d, st);
    }
    if ((rc = check(d, res, st->writes && !d->tx_open)) < 0) {
        PQclear(res);
        return rc;
    }
    note_changes(d, res);
    st->res = res;
    st->nrows = PQntuples(res);
    st->row = 0;
    if ((rc = blobs_reserve(d, st)) < 0)
        return rc;
    return st->nrows > 0 ? DB_ROW : DB_DONE;
}

/* The current row's column i, or NULL (out of range, no row). */
static const char *cell(struct pg_stmt *st, int i)
{
    if (!st->res || st->row >= st->nrows || i < 0 || i >= PQnfields(st->res) ||
        PQgetisnull(st->res, st->row, i))
        return NULL;
    return PQgetvalue(st->res, st->row, i);
}

static bool pg_col_null(struct db_stmt *s, int i)
{
    return cell(PGS(s), i) == NULL;
}

/* Integers as SQLite gives them: a boolean is 1 or 0, a numeric or float
 * result (sum(), avg()) is truncated. */
static int64_t pg_col_int64(struct db_stmt *s, int i)
{
    struct pg_stmt *st = PGS(s);
    const char *v = cell(st, i);
    if (!v)
        return 0;
    if (PQftype(st->res, i) == PG_BOOLOID)
        return v[0] == 't';
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*end == '.' || *end == 'e' || *end == 'E')
        return (int64_t)strtod(v, NULL);
    return n;
}

static const char *pg_col_text(struct db_stmt *s, int i)
{
    struct pg_stmt *st = PGS(s);
    const char *v = cell(st, i);
    if (v && PQftype(st->res, i) == PG_BOOLOID)
        return v[0] == 't' ? "1" : "0";
    return v;
}

/* bytea arrives in text form (\x hex) and is decoded on first read. */
static const void *pg_col_blob(struct db_stmt *s, int i, size_t *len)
{
    struct pg_stmt *st = PGS(s);
    const char *v = cell(st, i);
    *len = 0;
    if (!v)
        return NULL;
    if (PQftype(st->res, i) != PG_BYTEAOID) {
        *len = (size_t)PQgetlength(st->res, st->row, i);
        return v;
    }
    struct pg_blob *b = &st->blobs[i];
    if (!b->p && !(b->p = PQunescapeBytea((const unsigned char *)v, &b->n)))
        return NULL;
    *len = b->n;
    return b->p;
}

static int64_t pg_changes(struct db *db)
{
    return PG(db)->changes;
}

extern const struct db_override db_pgsql_overrides[]; /* db_pgsql_sql.c */

const struct db_ops db_pgsql_ops = {
    .name = "postgresql",
    .caps = DB_CAP_ARRAYS,
    .overrides = db_pgsql_overrides,
    .open = pg_open,
    .close = pg_close,
    .errmsg = pg_errmsg,
    .errclass = pg_errclass,
    .set_busy_timeout = pg_set_busy_timeout,
    .exec = pg_exec,
    .migrate = pg_migrate,
    .schema_version = pg_schema_version,
    .prepare = pg_prepare,
    .finalize = pg_finalize,
    .bind_text = pg_bind_text,
    .bind_int64 = pg_bind_int64,
    .bind_null = pg_bind_null,
    .bind_blob = pg_bind_blob,
    .bind_text_array = pg_bind_text_array,
    .bind_int64_array = pg_bind_int64_array,
    .step = pg_step,
    .run_later = pg_run_later,
    .send = pg_send,
    .reset = pg_reset,
    .col_null = pg_col_null,
    .col_int64 = pg_col_int64,
    .col_text = pg_col_text,
    .col_blob = pg_col_blob,
    .changes = pg_changes,
    .begin = pg_begin,
    .commit = pg_commit,
    .commit_pipelined = pg_commit_pipelined,
    .rollback = pg_rollback,
    .data_version = NULL,
    .function = NULL,
};
