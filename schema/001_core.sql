-- 001_core: channels, the event log and the fan attribution table.
-- A scene is the EventKey text (numeric scene_id or scene_str); NULL scene
-- means organic (subscribe without a qrscene_ key).

CREATE TABLE channels (
    scene       TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    promoter    TEXT,
    reply       TEXT,            -- subscribe reply template; NULL = [reply] subscribe default
    scan_reply  TEXT,            -- SCAN reply template; NULL = reply
    tag         TEXT,            -- WeChat tag name for fans of this channel
    created_at  INTEGER NOT NULL,
    archived_at INTEGER          -- archived channels keep their history
) WITHOUT ROWID;

-- Every push, once. dedup_key follows the CONTRACT: events
-- From|CreateTime|Event|EventKey, messages MsgId (or From|CreateTime).
-- scene: the scanned scene for subscribe/SCAN, the fan's latest subscribe
-- scene for unsubscribe. is_new_fan: a subscribe by an openid never seen
-- subscribing before (first touch).
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    dedup_key   TEXT NOT NULL UNIQUE,
    kind        INTEGER NOT NULL,  -- enum ev_kind: 0 subscribe 1 SCAN 2 unsubscribe 3 message 4 other
    openid      TEXT NOT NULL,
    create_time INTEGER NOT NULL,  -- WeChat's CreateTime (seconds)
    received_at INTEGER NOT NULL,
    msg_type    TEXT NOT NULL,
    event       TEXT NOT NULL,
    event_key   TEXT NOT NULL,
    scene       TEXT,
    is_new_fan  INTEGER NOT NULL DEFAULT 0,
    reply       TEXT                -- reply content given; NULL = "success"
);
CREATE INDEX events_time ON events(create_time);

-- One row per openid ever seen subscribing (or backfilled).
CREATE TABLE fans (
    openid          TEXT PRIMARY KEY,
    first_scene     TEXT,           -- first-touch attribution (NULL = organic)
    first_sub_at    INTEGER,
    last_scene      TEXT,           -- latest subscribe's scene
    last_sub_at     INTEGER,
    subscribed      INTEGER NOT NULL DEFAULT 1,
    unsub_at        INTEGER,
    subscribe_count INTEGER NOT NULL DEFAULT 0,
    source          TEXT NOT NULL DEFAULT 'event'  -- 'event' or 'backfill'
) WITHOUT ROWID;
CREATE INDEX fans_last_scene ON fans(last_scene, subscribed);
