/* store_vfs against real SQLite files: a commit's WAL frames go out in a
 * few writes instead of two per page, other connections (default VFS) see
 * exactly what was committed, a transaction bigger than the page cache
 * (frames written before the commit, read back) commits or rolls back
 * whole, and a failed write fails the COMMIT instead of being lost in a
 * buffer. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store_vfs.h"

struct fixture {
    char dir[64];
    char path[96];
    sqlite3 *w; /* through store_vfs */
    sqlite3 *r; /* the default VFS, as the CLI or another process */
};

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : sqlite3_errstr(rc));
}

static int64_t one(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static const char *text(sqlite3 *db, const char *sql, char *out, size_t n)
{
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    snprintf(out, n, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return out;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/wxs-unit-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
    assert_int_equal(store_vfs_register(), SQLITE_OK);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    assert_int_equal(sqlite3_open_v2(f->path, &f->w, flags, STORE_VFS_NAME), SQLITE_OK);
    exec(f->w, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
               "CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)");
    assert_int_equal(sqlite3_open_v2(f->path, &f->r, flags, NULL), SQLITE_OK);
    /* only the test checkpoints, so the WAL holds what the writer wrote */
    sqlite3_wal_autocheckpoint(f->w, 0);
    sqlite3_wal_autocheckpoint(f->r, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char p[128];
    sqlite3_close(f->w);
    sqlite3_close(f->r);
    unlink(f->path);
    snprintf(p, sizeof(p), "%s-wal", f->path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", f->path);
    unlink(p);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Rows [from, from + n) of ~1 KB each in one transaction. */
static int insert(sqlite3 *db, int from, int n, bool commit)
{
    char sql[160];
    snprintf(sql, sizeof(sql),
             "WITH RECURSIVE c(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM c WHERE i < %d) "
             "INSERT INTO t SELECT i, randomblob(1000) FROM c",
             from, from + n - 1);
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, commit ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    if (rc != SQLITE_OK && sqlite3_get_autocommit(db) == 0)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Write system calls of this process so far (/proc/self/io), -1 if the
 * kernel does not count them. */
static long long write_calls(void)
{
    FILE *fp = fopen("/proc/self/io", "r");
    char line[128];
    long long n = -1;
    while (fp && fgets(line, sizeof(line), fp))
        if (sscanf(line, "syscw: %lld", &n) == 1)
            break;
    if (fp)
        fclose(fp);
    return n;
}

static void test_commit_writes_frames_together(void **state)
{
    struct fixture *f = *state;
    char buf[64];
    char *name = NULL;
    assert_int_equal(sqlite3_file_control(f->w, "main", SQLITE_FCNTL_VFSNAME, &name), SQLITE_OK);
    assert_non_null(name);
    assert_string_equal(name, "wxscene/unix");
    sqlite3_free(name);
    assert_int_equal(insert(f->w, 1, 10, true), SQLITE_OK); /* the WAL exists */
    long long before = write_calls();
    assert_int_equal(insert(f->w, 100, 40, true), SQLITE_OK); /* ~12 pages */
    long long ours = write_calls() - before;
    before = write_calls();
    assert_int_equal(insert(f->r, 200, 40, true), SQLITE_OK); /* the same, default VFS */
    long long theirs = write_calls() - before;
    if (before < 0) {
        print_message("no /proc/self/io: write counts not checked\n");
    } else {
        /* two writes per frame without the VFS; one or two with it */
        assert_true(theirs >= 20);
        assert_true(ours <= 3);
    }
    assert_int_equal(one(f->r, "SELECT count(*) FROM t"), 90);
    assert_int_equal(one(f->w, "SELECT count(*) FROM t"), 90);
    assert_string_equal(text(f->r, "PRAGMA integrity_check", buf, sizeof(buf)), "ok");
    exec(f->r, "PRAGMA wal_checkpoint(TRUNCATE)");
    assert_int_equal(one(f->w, "SELECT count(*) FROM t WHERE length(v) = 1000"), 90);
}

/* 2,000 rows through a 10-page cache: SQLite writes frames before the
 * commit (spills) and reads them back; all of it commits, or none. */
static void test_spilled_transaction(void **state)
{
    struct fixture *f = *state;
    char buf[64];
    exec(f->w, "PRAGMA cache_size = 10");
    assert_int_equal(insert(f->w, 1, 2000, false), SQLITE_OK); /* rolled back */
    assert_int_equal(one(f->r, "SELECT count(*) FROM t"), 0);
    assert_int_equal(insert(f->w, 1, 2000, true), SQLITE_OK);
    assert_int_equal(insert(f->w, 5001, 10, true), SQLITE_OK);
    assert_int_equal(one(f->r, "SELECT count(*) FROM t"), 2010);
    assert_int_equal(one(f->r, "SELECT sum(k) FROM t"), 2000 * 2001 / 2 + 10 * 5001 + 45);
    assert_string_equal(text(f->r, "PRAGMA integrity_check", buf, sizeof(buf)), "ok");
    exec(f->r, "PRAGMA wal_checkpoint(TRUNCATE)");
    assert_string_equal(text(f->w, "PRAGMA integrity_check", buf, sizeof(buf)), "ok");
    assert_int_equal(one(f->w, "SELECT count(*) FROM t"), 2010);
}

/* A spilled transaction that rewrites a page it spilled: SQLite writes the
 * commit frame, then rewrites the headers of the transaction's frames with
 * new checksums, the commit frame's last. A copy of the files taken right
 * after COMMIT (what a process killed then leaves) must hold all of it. */
static void test_rewritten_checksums_reach_the_file(void **state)
{
    struct fixture *f = *state;
    char cmd[512], copy[128], buf[64];
    exec(f->w, "PRAGMA cache_size = 10; BEGIN");
    exec(f->w, "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 200) "
               "INSERT INTO t SELECT i, randomblob(1000) FROM c");
    exec(f->w, "UPDATE t SET v = randomblob(1000) WHERE k < 5; COMMIT");
    snprintf(cmd, sizeof(cmd), "mkdir %s/c && cp %s %s-wal %s/c/", f->dir, f->path, f->path,
             f->dir);
    assert_int_equal(system(cmd), 0);
    snprintf(copy, sizeof(copy), "%s/c/t.db", f->dir);
    sqlite3 *c;
    assert_int_equal(sqlite3_open_v2(copy, &c, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(one(c, "SELECT count(*) FROM t"), 200);
    assert_string_equal(text(c, "PRAGMA integrity_check", buf, sizeof(buf)), "ok");
    sqlite3_close(c);
    snprintf(cmd, sizeof(cmd), "rm -rf %s/c", f->dir);
    assert_int_equal(system(cmd), 0);
}

/* A spilled transaction rolled back, then another connection commits at
 * the same WAL offsets: the first connection's spilled frames must not
 * land over them later (when it next writes, reads or closes). */
static void test_rolled_back_spill_stays_behind(void **state)
{
    struct fixture *f = *state;
    char buf[64];
    sqlite3 *w2;
    exec(f->w, "PRAGMA cache_size = 10; PRAGMA wal_checkpoint(TRUNCATE)");
    assert_int_equal(sqlite3_open_v2(f->path, &w2, SQLITE_OPEN_READWRITE, STORE_VFS_NAME),
                     SQLITE_OK);
    assert_int_equal(insert(f->w, 1, 60, false), SQLITE_OK);
    assert_int_equal(insert(w2, 1, 60, true), SQLITE_OK);
    sqlite3_close(f->w);
    f->w = NULL;
    assert_int_equal(one(w2, "SELECT count(*) FROM t WHERE length(v) = 1000"), 60);
    assert_string_equal(text(w2, "PRAGMA integrity_check", buf, sizeof(buf)), "ok");
    sqlite3_close(w2);
    exec(f->r, "PRAGMA wal_checkpoint(TRUNCATE)");
    assert_int_equal(one(f->r, "SELECT count(*) FROM t"), 60);
    assert_string_equal(text(f->r, "PRAGMA integrity_check", buf, sizeof(buf)), "ok");
}

/* The file size limit makes the WAL write fail (EFBIG): the COMMIT must
 * say so, keep nothing of the transaction, and the next one must work. */
static void test_failed_write_fails_the_commit(void **state)
{
    struct fixture *f = *state;
    char wal[128], buf[64];
    struct stat sb;
    struct rlimit old, lim;
    assert_int_equal(insert(f->w, 1, 5, true), SQLITE_OK);
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    assert_int_equal(stat(wal, &sb), 0);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = (rlim_t)sb.st_size + 8192; /* room for two frames, not 60 */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = insert(f->w, 100, 200, true);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_not_equal(rc, SQLITE_OK);
    assert_int_equal(one(f->r, "SELECT count(*) FROM t"), 5);
    assert_int_equal(one(f->w, "SELECT count(*) FROM t"), 5);
    assert_int_equal(insert(f->w, 100, 200, true), SQLITE_OK);
    assert_int_equal(one(f->r, "SELECT count(*) FROM t"), 205);
    assert_string_equal(text(f->r, "PRAGMA integrity_check", buf, sizeof(buf)), "ok");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commit_writes_frames_together, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spilled_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_fails_the_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewritten_checksums_reach_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rolled_back_spill_stays_behind, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
