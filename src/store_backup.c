#include "store_backup.h"

#include "db_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_MAXLEN 4096

/* The copy's own connection: the default VFS, no WAL (a backup is one
 * self-contained file), deleted content zeroed (the scrub must not leave
 * the token in a free page). */
static int copy_open(const char *tmp, sqlite3 **out, char *err, size_t errlen)
{
    sqlite3 *h = NULL;
    int rc = sqlite3_open_v2(tmp, &h, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(h,
                          "PRAGMA journal_mode = DELETE; PRAGMA secure_delete = ON; "
                          "PRAGMA synchronous = FULL",
                          NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: opening the copy: %s", tmp, h ? sqlite3_errmsg(h) : "no memory");
        sqlite3_close(h);
        return -1;
    }
    *out = h;
    return 0;
}

/* The first column of sql's first row as an integer (or text into txt). */
static int copy_value(sqlite3 *h, const char *sql, int64_t *v, char *txt, size_t txtlen)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(h, sql, -1, &s, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (v)
            *v = sqlite3_column_int64(s, 0);
        if (txt) {
            const unsigned char *t = sqlite3_column_text(s, 0);
            snprintf(txt, txtlen, "%s", t ? (const char *)t : "(null)");
        }
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_OK ? 0 : -1;
}

static int copy_scrub(sqlite3 *h, const char *const *scrub, const char *tmp, char *err,
                      size_t errlen)
{
    if (!scrub || !scrub[0])
        return 0;
    int rc = sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    for (size_t i = 0; rc == SQLITE_OK && scrub[i]; i++)
        rc = sqlite3_exec(h, scrub[i], NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        return 0;
    snprintf(err, errlen, "%s: removing from the copy: %s", tmp, sqlite3_errmsg(h));
    sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* What makes the copy a backup one can restore: SQLite finds nothing wrong
 * in it, and it says which schema it is. */
static int copy_check(sqlite3 *h, const char *tmp, struct store_backup_report *rep, char *err,
                      size_t errlen)
{
    char verdict[512];
    int64_t v = 0;
    if (copy_value(h, "PRAGMA integrity_check(1)", NULL, verdict, sizeof(verdict)) < 0)
        return snprintf(err, errlen, "%s: integrity check: %s", tmp, sqlite3_errmsg(h)), -1;
    if (strcmp(verdict, "ok") != 0)
        return snprintf(err, errlen, "%s: integrity check failed: %s", tmp, verdict), -1;
    if (copy_value(h, "PRAGMA user_version", &v, NULL, 0) < 0 || v <= 0)
        return snprintf(err, errlen, "%s: no schema version in the copy", tmp), -1;
    rep->schema_version = (int)v;
    if (copy_value(h, "SELECT count(*) FROM channels", &rep->channels, NULL, 0) < 0 ||
        copy_value(h, "SELECT count(*) FROM events", &rep->events, NULL, 0) < 0 ||
        copy_value(h, "SELECT count(*) FROM fans", &rep->fans, NULL, 0) < 0)
        return snprintf(err, errlen, "%s: counting rows: %s", tmp, sqlite3_errmsg(h)), -1;
    return 0;
}

static int fsync_path(const char *path, int flags, char *err, size_t errlen)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        snprintf(err, errlen, "%s: fsync: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* The directory part of file ("." for a bare name) into dir. */
static void dir_of(const char *file, char *dir, size_t dirlen)
{
    const char *slash = strrchr(file, '/');
    if (!slash)
        snprintf(dir, dirlen, ".");
    else
        snprintf(dir, dirlen, "%.*s", slash == file ? 1 : (int)(slash - file), file);
}

/* tmp into file's place: never over an existing file without force, even
 * one created since the first check (RENAME_NOREPLACE, or link() where the
 * file system lacks it). */
static int put_in_place(const char *tmp, const char *file, bool force, char *err, size_t errlen)
{
    int rc = force ? rename(tmp, file) : renameat2(AT_FDCWD, tmp, AT_FDCWD, file, RENAME_NOREPLACE);
    if (rc < 0 && !force && errno == EINVAL && (rc = link(tmp, file)) == 0)
        unlink(tmp);
    if (rc < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", file,
                 e == EEXIST ? "exists (--force replaces it)" : strerror(e));
        return -1;
    }
    char dir[PATH_MAXLEN];
    dir_of(file, dir, sizeof(dir));
    return fsync_path(dir, O_RDONLY | O_DIRECTORY, err, errlen);
}

/* The copy in tmp made into a checked, durable file. */
static int finish_copy(const char *tmp, const struct store_backup_opts *o,
                       struct store_backup_report *rep, char *err, size_t errlen)
{
    sqlite3 *h = NULL;
    if (copy_open(tmp, &h, err, errlen) < 0)
        return -1;
    int rc =
        copy_scrub(h, o->scrub, tmp, err, errlen) < 0 || copy_check(h, tmp, rep, err, errlen) < 0
            ? -1
            : 0;
    if (sqlite3_close(h) != SQLITE_OK && rc == 0) {
        snprintf(err, errlen, "%s: closing the copy failed", tmp);
        rc = -1;
    }
    struct stat st;
    if (rc == 0 && (rc = fsync_path(tmp, O_RDONLY, err, errlen)) == 0 && stat(tmp, &st) == 0)
        rep->bytes = (int64_t)st.st_size;
    return rc;
}

/* --force must never rename the copy over the live store, whatever path
 * names it (a symlink, ./x, a bind mount). */
static bool same_file(const struct stat *a, const char *path)
{
    struct stat b;
    return stat(path, &b) == 0 && a->st_dev == b.st_dev && a->st_ino == b.st_ino;
}

static void remove_tmp(const char *tmp)
{
    char side[PATH_MAXLEN + 16];
    unlink(tmp);
    snprintf(side, sizeof(side), "%s-journal", tmp);
    unlink(side);
}

int store_backup(struct db *db, const char *file, const struct store_backup_opts *o,
                 struct store_backup_report *rep, char *err, size_t errlen)
{
    sqlite3 *live = db_sqlite_handle(db);
    char tmp[PATH_MAXLEN];
    struct stat st;
    memset(rep, 0, sizeof(*rep));
    if (!live)
        return snprintf(err, errlen, "%s store: not a SQLite file", db_backend_name(db)), -1;
    if (stat(file, &st) == 0 && same_file(&st, db_target(db)))
        return snprintf(err, errlen, "%s: is the store itself", file), -1;
    if (!o->force && lstat(file, &st) == 0)
        return snprintf(err, errlen, "%s: exists (--force replaces it)", file), -1;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", file) >= (int)sizeof(tmp))
        return snprintf(err, errlen, "%.200s...: path too long", file), -1;
    int fd = mkstemp(tmp); /* 0600, whatever the umask */
    if (fd < 0) {
        char dir[PATH_MAXLEN];
        dir_of(file, dir, sizeof(dir));
        snprintf(err, errlen, "%s: cannot create the copy in %s: %s", file, dir, strerror(errno));
        return -1;
    }
    close(fd);
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(live, "VACUUM INTO ?1", -1, &s, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(s, 1, tmp, -1, SQLITE_STATIC);
        rc = sqlite3_step(s);
    }
    if (rc != SQLITE_DONE)
        snprintf(err, errlen, "%s: copying %s: %s", tmp, db_target(db), sqlite3_errmsg(live));
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE || finish_copy(tmp, o, rep, err, errlen) < 0 ||
        put_in_place(tmp, file, o->force, err, errlen) < 0) {
        remove_tmp(tmp);
        return -1;
    }
    return 0;
}
