#include "store_vfs.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

/* Gathered WAL bytes are written out at this size: a commit of ~25 pages
 * (4 KiB each plus a 24-byte header) fits, and the buffer stays under
 * glibc's mmap threshold so it is allocated once, from the heap. */
#define WAL_BUF_CAP (128 * 1024 - 64)

/* The WAL frame header (wal.c): page number, then the database size in
 * pages after a commit, 0 in any other frame. */
#define WAL_FRAME_HDRSIZE 24

struct vfs_file {
    sqlite3_file base;  /* our methods */
    sqlite3_file *real; /* the default VFS's file, right after this struct */
    bool wal;
    struct vfs_file *db; /* WAL: its database file; database: its open WAL */
    bool commit_next;    /* the last write was a commit frame's header */
    unsigned char *buf;  /* WAL: gathered bytes for [off, off + len) */
    size_t len;
    sqlite3_int64 off;
};

static sqlite3_vfs vfs;
static sqlite3_vfs *root; /* the default VFS we pass through to */

/* Write the gathered bytes out; the buffer is empty afterwards either way
 * (SQLite treats a failed write as failing the transaction). */
static int wal_flush(struct vfs_file *f)
{
    if (f->len == 0)
        return SQLITE_OK;
    int rc = f->real->pMethods->xWrite(f->real, f->buf, (int)f->len, f->off);
    f->len = 0;
    return rc;
}

static int x_close(sqlite3_file *file)
{
    struct vfs_file *f = (struct vfs_file *)file;
    int rc = wal_flush(f);
    if (f->db) /* unlink the pair (either may close first) */
        f->db->db = NULL;
    int rc2 = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
    free(f->buf);
    f->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int x_read(sqlite3_file *file, void *p, int amt, sqlite3_int64 off)
{
    struct vfs_file *f = (struct vfs_file *)file;
    int rc = wal_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, p, amt, off);
}

static int x_write(sqlite3_file *file, const void *p, int amt, sqlite3_int64 off)
{
    struct vfs_file *f = (struct vfs_file *)file;
    if (!f->wal)
        return f->real->pMethods->xWrite(f->real, p, amt, off);
    bool commit = f->commit_next;
    f->commit_next = false;
    int rc = SQLITE_OK;
    if (f->len > 0 && (off != f->off + (sqlite3_int64)f->len || f->len + (size_t)amt > WAL_BUF_CAP))
        rc = wal_flush(f);
    if (rc != SQLITE_OK)
        return rc;
    if ((size_t)amt > WAL_BUF_CAP || (!f->buf && !(f->buf = malloc(WAL_BUF_CAP))))
        return f->real->pMethods->xWrite(f->real, p, amt, off); /* unbuffered, as before */
    if (f->len == 0)
        f->off = off;
    memcpy(f->buf + f->len, p, (size_t)amt);
    f->len += (size_t)amt;
    if (amt == WAL_FRAME_HDRSIZE) {
        const unsigned char *h = p;
        f->commit_next = (h[4] | h[5] | h[6] | h[7]) != 0;
        /* A commit header goes out at once too: after a cache spill SQLite
         * rewrites the headers of the transaction's frames (new checksums),
         * the commit frame's last, with no page written after it. */
        commit = commit || f->commit_next;
    }
    return commit ? wal_flush(f) : SQLITE_OK;
}

static int x_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    struct vfs_file *f = (struct vfs_file *)file;
    int rc = wal_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int x_sync(sqlite3_file *file, int flags)
{
    struct vfs_file *f = (struct vfs_file *)file;
    int rc = wal_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int x_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    struct vfs_file *f = (struct vfs_file *)file;
    int rc = wal_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int x_lock(sqlite3_file *file, int lock)
{
    struct vfs_file *f = (struct vfs_file *)file;
    return f->real->pMethods->xLock(f->real, lock);
}

static int x_unlock(sqlite3_file *file, int lock)
{
    struct vfs_file *f = (struct vfs_file *)file;
    return f->real->pMethods->xUnlock(f->real, lock);
}

static int x_check_reserved(sqlite3_file *file, int *out)
{
    struct vfs_file *f = (struct vfs_file *)file;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int x_file_control(sqlite3_file *file, int op, void *arg)
{
    struct vfs_file *f = (struct vfs_file *)file;
    int rc = wal_flush(f);
    if (rc != SQLITE_OK)
        return rc;
    rc = f->real->pMethods->xFileControl(f->real, op, arg);
    if (op == SQLITE_FCNTL_VFSNAME && rc == SQLITE_OK && *(char **)arg) {
        char *inner = *(char **)arg;
        char *name = sqlite3_mprintf("%s/%s", STORE_VFS_NAME, inner);
        if (name) { /* else the inner name stays */
            sqlite3_free(inner);
            *(char **)arg = name;
        }
    }
    return rc;
}

static int x_sector_size(sqlite3_file *file)
{
    struct vfs_file *f = (struct vfs_file *)file;
    return f->real->pMethods->xSectorSize(f->real);
}

static int x_device_chars(sqlite3_file *file)
{
    struct vfs_file *f = (struct vfs_file *)file;
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static int x_shm_map(sqlite3_file *file, int pg, int pgsz, int extend, void volatile **pp)
{
    struct vfs_file *f = (struct vfs_file *)file;
    return f->real->pMethods->xShmMap(f->real, pg, pgsz, extend, pp);
}

/* Any change of a wal-index lock (the write lock released after a commit
 * or a rollback among them) first writes out what the database's WAL
 * holds: frames a transaction spilled and then rolled back reach the file
 * while this connection still holds the write lock, never later over
 * frames another connection has committed at the same place. */
static int x_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    struct vfs_file *f = (struct vfs_file *)file;
    int rc = f->db ? wal_flush(f->db) : SQLITE_OK;
    int rc2 = f->real->pMethods->xShmLock(f->real, offset, n, flags);
    return rc != SQLITE_OK && !(flags & SQLITE_SHM_UNLOCK) ? rc : rc2;
}

static void x_shm_barrier(sqlite3_file *file)
{
    struct vfs_file *f = (struct vfs_file *)file;
    f->real->pMethods->xShmBarrier(f->real);
}

static int x_shm_unmap(sqlite3_file *file, int del)
{
    struct vfs_file *f = (struct vfs_file *)file;
    return f->real->pMethods->xShmUnmap(f->real, del);
}

static int x_fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **pp)
{
    struct vfs_file *f = (struct vfs_file *)file;
    int rc = wal_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFetch(f->real, off, amt, pp);
}

static int x_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
    struct vfs_file *f = (struct vfs_file *)file;
    return f->real->pMethods->xUnfetch(f->real, off, p);
}

/* One method table per version the default VFS may hand out: a file must
 * not claim shared memory (WAL support) or mmap its real file lacks. */
#define IO_METHODS(v)                                                                              \
    {                                                                                              \
        v, x_close, x_read, x_write, x_truncate, x_sync, x_file_size, x_lock, x_unlock,            \
            x_check_reserved, x_file_control, x_sector_size, x_device_chars,                       \
            v >= 2 ? x_shm_map : NULL, v >= 2 ? x_shm_lock : NULL, v >= 2 ? x_shm_barrier : NULL,  \
            v >= 2 ? x_shm_unmap : NULL, v >= 3 ? x_fetch : NULL, v >= 3 ? x_unfetch : NULL        \
    }
static const sqlite3_io_methods io_methods[3] = {IO_METHODS(1), IO_METHODS(2), IO_METHODS(3)};

static int x_open(sqlite3_vfs *v, sqlite3_filename name, sqlite3_file *file, int flags,
                  int *out_flags)
{
    struct vfs_file *f = (struct vfs_file *)file;
    memset(f, 0, sizeof(*f));
    f->real = (sqlite3_file *)(f + 1);
    f->wal = (flags & SQLITE_OPEN_WAL) != 0;
    int rc = root->xOpen(root, name, f->real, flags, out_flags);
    const sqlite3_io_methods *m = f->real->pMethods;
    if (!m) {
        f->base.pMethods = NULL; /* nothing to close */
        return rc;
    }
    if (f->wal) {
        /* Without powersafe overwrite SQLite pads a commit to a sector and
         * splits a write at the sync point: such files pass through. */
        if (!(m->xDeviceCharacteristics(f->real) & SQLITE_IOCAP_POWERSAFE_OVERWRITE))
            f->wal = false;
        struct vfs_file *db = (struct vfs_file *)sqlite3_database_file_object(name);
        if (f->wal && db && db->base.pMethods && db->base.pMethods->xClose == x_close) {
            f->db = db;
            db->db = f;
        }
    }
    int ver = m->iVersion < 1 ? 1 : m->iVersion > 3 ? 3 : m->iVersion;
    /* A table entry the real file lacks stays NULL in ours too. */
    if ((ver >= 2 && !m->xShmMap) || (ver >= 3 && !m->xFetch))
        ver = m->xShmMap ? 2 : 1;
    f->base.pMethods = &io_methods[ver - 1];
    return rc;
}

static int x_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
    return root->xDelete(root, name, sync_dir);
}

static int x_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    return root->xAccess(root, name, flags, out);
}

static int x_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
    return root->xFullPathname(root, name, n, out);
}

static void *x_dl_open(sqlite3_vfs *v, const char *name)
{
    return root->xDlOpen(root, name);
}

static void x_dl_error(sqlite3_vfs *v, int n, char *msg)
{
    root->xDlError(root, n, msg);
}

static void (*x_dl_sym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    return root->xDlSym(root, h, sym);
}

static void x_dl_close(sqlite3_vfs *v, void *h)
{
    root->xDlClose(root, h);
}

static int x_randomness(sqlite3_vfs *v, int n, char *out)
{
    return root->xRandomness(root, n, out);
}

static int x_sleep(sqlite3_vfs *v, int us)
{
    return root->xSleep(root, us);
}

static int x_current_time(sqlite3_vfs *v, double *out)
{
    return root->xCurrentTime(root, out);
}

static int x_last_error(sqlite3_vfs *v, int n, char *out)
{
    return root->xGetLastError ? root->xGetLastError(root, n, out) : 0;
}

static int x_current_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    if (root->iVersion >= 2 && root->xCurrentTimeInt64)
        return root->xCurrentTimeInt64(root, out);
    double d;
    int rc = root->xCurrentTime(root, &d);
    *out = (sqlite3_int64)(d * 86400000.0);
    return rc;
}

static int register_rc = SQLITE_ERROR;
static pthread_once_t register_once = PTHREAD_ONCE_INIT;

static void do_register(void)
{
    if (sqlite3_initialize() != SQLITE_OK || !(root = sqlite3_vfs_find(NULL)))
        return;
    vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct vfs_file) + root->szOsFile,
        .mxPathname = root->mxPathname,
        .zName = STORE_VFS_NAME,
        .xOpen = x_open,
        .xDelete = x_delete,
        .xAccess = x_access,
        .xFullPathname = x_full_pathname,
        .xDlOpen = x_dl_open,
        .xDlError = x_dl_error,
        .xDlSym = x_dl_sym,
        .xDlClose = x_dl_close,
        .xRandomness = x_randomness,
        .xSleep = x_sleep,
        .xCurrentTime = x_current_time,
        .xGetLastError = x_last_error,
        .xCurrentTimeInt64 = x_current_time64,
    };
    register_rc = sqlite3_vfs_register(&vfs, 0);
}

int store_vfs_register(void)
{
    pthread_once(&register_once, do_register);
    return register_rc;
}
