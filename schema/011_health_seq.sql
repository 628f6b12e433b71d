-- 011_health_seq: /healthz bumps a counter, so each probe really writes a
-- page. Rewriting checked_at with the value it already holds (two probes in
-- one second) changes no byte, and SQLite then skips the page write: the
-- probe would say "writable" on a full disk.
ALTER TABLE health ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
