/* store_vfs: the default SQLite VFS with the WAL frames of a commit written
 * in one go. SQLite writes each WAL frame as two pwrite(2) calls, its
 * 24-byte header and its page, so a group commit of ~25 pages costs ~50
 * system calls while the clients of the batch wait. This VFS passes every
 * call through except writes to a WAL file, which it gathers while they
 * are contiguous and writes out:
 *   - when the page of a commit frame (a header with a database size) has
 *     been gathered: that write returns the write(2) result, so a failed
 *     write (a full disk) fails the COMMIT exactly as before, and the frames
 *     are in the file before the COMMIT publishes them in the wal-index
 *     (other connections read only published frames);
 *   - before any other call on the same file (read, sync, truncate, size,
 *     file control, close), a write elsewhere, or when the buffer is full.
 * Durability is unchanged: SQLite syncs when it did before and the data is
 * in the file by then; nothing is acknowledged before its COMMIT returns. */
#ifndef WXS_STORE_VFS_H
#define WXS_STORE_VFS_H

#define STORE_VFS_NAME "wxscene"

/* Register the VFS (once per process; thread-safe). Returns an SQLite
 * result code. */
int store_vfs_register(void);

#endif
