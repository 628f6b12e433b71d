/* store_vfs: the default SQLite VFS with the WAL frames of a commit written
 * in one go. SQLite writes each WAL frame as two pwrite(2) calls, its
 * 24-byte header and its page, so a group commit of ~25 pages costs ~50
 * system calls while the clients of the batch wait. This VFS passes every
 * call through except writes to a WAL file, which it gathers while they
 * are contiguous and writes out:
 *   - when a commit frame's header (one with a database size) has been
 *     gathered, and again after its page: those writes return the write(2)
 *     result, so a failed write (a full disk) fails the COMMIT exactly as
 *     before, and the frames are in the file before the COMMIT publishes
 *     them in the wal-index (other connections read only published
 *     frames); a header rewritten alone (new checksums after a cache
 *     spill) goes out at once too;
 *   - before any other call on the same file (read, sync, truncate, size,
 *     file control, close), a write elsewhere, or when the buffer is full;
 *   - before any wal-index lock change of its database (the write lock's
 *     release after a commit or a rollback among them), so frames a
 *     rolled-back transaction spilled never land after another
 *     connection's commit.
 * Durability is unchanged: SQLite syncs when it did before and the data is
 * in the file by then; nothing is acknowledged before its COMMIT returns. */
#ifndef WXS_STORE_VFS_H
#define WXS_STORE_VFS_H

#define STORE_VFS_NAME "wxscene"

/* Register the VFS (once per process; thread-safe). Returns an SQLite
 * result code. */
int store_vfs_register(void);

#endif
