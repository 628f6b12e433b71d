-- 005_health: one row rewritten by /healthz, so "writable" means a real
-- commit reached the database file (a full disk or a read-only file fails it).
CREATE TABLE health (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at INTEGER NOT NULL
);
