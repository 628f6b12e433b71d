-- 003_stats: channel statistics rollups (stats.c). They are written by the
-- store's same-transaction event hook, so they can never drift from the
-- event log, and a query reads O(channels x days) rows, never the events.
-- Days are local calendar days of the account time zone ([stats] timezone),
-- numbered from 1970-01-01 (day 0). Every table is rebuilt from events and
-- fans by stats_rebuild() (when the zone changes, or after this migration
-- on a database that already holds events).

-- 'timezone': the zone the day numbers below are in ('' = not built yet).
CREATE TABLE stats_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO stats_meta(key, value) VALUES ('timezone', '');

-- The account zone's UTC offsets: utc_offset (seconds east of UTC) is in
-- force from from_utc on. Empty = rollups not maintained (not built yet, or
-- switched off for a bulk load): the hook then does nothing and the next
-- stats_open() rebuilds everything.
CREATE TABLE stats_tz (
    from_utc   INTEGER PRIMARY KEY,
    utc_offset INTEGER NOT NULL
);

-- Per local day and scene ('' = organic: subscribes without a scene).
--   scans          subscribe-with-scene + SCAN events on that day
--   new_fans       subscribes by an openid never seen subscribing before
--   returning_fans subscribes by an openid seen subscribing before
--   unsubscribes   unsubscribes on that day by fans (subscribed at the time)
--                  whose latest subscribe came through the scene
--   quick_unsubs   subscribes made on that day through the scene that were
--                  undone within 10 minutes (keyed by the subscribe's day)
--   retained       fans whose latest subscribe came through the scene on
--                  that day and who are subscribed now (moves on every
--                  subscribe/unsubscribe; mirrors the fans table)
CREATE TABLE stats_daily (
    day            INTEGER NOT NULL,
    scene          TEXT NOT NULL,
    scans          INTEGER NOT NULL DEFAULT 0,
    new_fans       INTEGER NOT NULL DEFAULT 0,
    returning_fans INTEGER NOT NULL DEFAULT 0,
    unsubscribes   INTEGER NOT NULL DEFAULT 0,
    quick_unsubs   INTEGER NOT NULL DEFAULT 0,
    retained       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, scene)
) WITHOUT ROWID;

-- Subscribes made on sub_day through scene that ended with an unsubscribe
-- on unsub_day (retention after N days: unsub_day - sub_day < N = lost).
-- Keyed by unsub_day first: the writes of a commit land on today's pages.
CREATE TABLE stats_churn (
    unsub_day INTEGER NOT NULL,
    scene     TEXT NOT NULL,
    sub_day   INTEGER NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (unsub_day, scene, sub_day)
) WITHOUT ROWID;

-- Exact distinct scanners over any range without reading the events.
-- stats_scan_days: the days on which an openid scanned a scene ('' = any
-- scene), one row per (openid, scene, day); keyed by openid first so that
-- both rows a scan writes (its scene and '') share a page. stats_scan_first counts, per
-- (day, scene), the scanners whose previous scan day of that scene was
-- prev_day (-2147483648 = none). The distinct scanners of a range
-- [s, u] are then SUM(n) over day in [s, u] with prev_day < s: each scanner
-- is counted on its first scan day inside the range, once.
CREATE TABLE stats_scan_days (
    openid TEXT NOT NULL,
    scene  TEXT NOT NULL,
    day    INTEGER NOT NULL,
    PRIMARY KEY (openid, scene, day)
) WITHOUT ROWID;

CREATE TABLE stats_scan_first (
    day      INTEGER NOT NULL,
    scene    TEXT NOT NULL,
    prev_day INTEGER NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (day, scene, prev_day)
) WITHOUT ROWID;

-- A new scan day's bookkeeping, inside the insert itself (one statement per
-- scan event for both scopes): it is the first scan after its predecessor;
-- and when it arrived out of order (a later day is already there), its
-- successor now follows it instead of the predecessor.
CREATE TRIGGER stats_scan_days_first AFTER INSERT ON stats_scan_days BEGIN
    INSERT INTO stats_scan_first(day, scene, prev_day, n)
    SELECT NEW.day, NEW.scene, coalesce(max(day), -2147483648), 1 FROM stats_scan_days
    WHERE openid = NEW.openid AND scene = NEW.scene AND day < NEW.day
    ON CONFLICT(day, scene, prev_day) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER stats_scan_days_reorder AFTER INSERT ON stats_scan_days
WHEN EXISTS (SELECT 1 FROM stats_scan_days
             WHERE openid = NEW.openid AND scene = NEW.scene AND day > NEW.day) BEGIN
    INSERT INTO stats_scan_first(day, scene, prev_day, n)
    SELECT succ, NEW.scene, prev, -1 FROM (SELECT
        (SELECT min(day) FROM stats_scan_days
         WHERE openid = NEW.openid AND scene = NEW.scene AND day > NEW.day) AS succ,
        (SELECT coalesce(max(day), -2147483648) FROM stats_scan_days
         WHERE openid = NEW.openid AND scene = NEW.scene AND day < NEW.day) AS prev)
    WHERE 1
    ON CONFLICT(day, scene, prev_day) DO UPDATE SET n = n - 1;
    INSERT INTO stats_scan_first(day, scene, prev_day, n)
    SELECT min(day), NEW.scene, NEW.day, 1 FROM stats_scan_days
    WHERE openid = NEW.openid AND scene = NEW.scene AND day > NEW.day
    ON CONFLICT(day, scene, prev_day) DO UPDATE SET n = n + 1;
END;
