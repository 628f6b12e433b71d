-- 004_tags: fan tagging by channel (tag.c) and the attribution backfill
-- (backfill.c). Only openids, scenes, tag names and times are kept: nothing
-- else WeChat returns about a person (nickname, remark, avatar, unionid,
-- language, tagid_list) is ever stored.

-- WeChat's id for each tag name we use, learnt from tags/get or tags/create.
-- A tag that cannot be created (45056: the account has 100 tags) keeps its
-- error and a retry time, so the worker does not ask again on every sweep.
CREATE TABLE tag_ids (
    name       TEXT PRIMARY KEY,          -- channels.tag
    tag_id     INTEGER,                   -- NULL until known
    checked_at INTEGER NOT NULL,
    error      TEXT,                      -- why it could not be resolved, NULL = fine
    failures   INTEGER NOT NULL DEFAULT 0,
    next_try   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- The outbox: one row per (openid, tag), written in the same transaction as
-- the subscribe/SCAN event that asked for it, and driven to done or parked
-- by the worker (wxscened) or `wxscene tag sync`.
--
--   pending  -> sending (claimed for one batchtagging call, with a lease)
--   sending  -> done | parked | pending (transient failure: attempts, next_try)
--   pending  -> cancelled (the fan unsubscribed before being tagged)
--
-- A claim whose owner died (kill -9) is taken back when the lease lapses or
-- as soon as the owner's pid is gone: such a batch may be sent twice, which
-- is harmless because batchtagging is idempotent. Rows recorded done are
-- never sent again (a later subscribe through the channel re-arms the row).
CREATE TABLE tag_outbox (
    id          INTEGER PRIMARY KEY,
    openid      TEXT NOT NULL,
    tag         TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'done', 'parked', 'cancelled')),
    attempts    INTEGER NOT NULL DEFAULT 0,   -- batchtagging calls that carried the row
    next_try    INTEGER NOT NULL DEFAULT 0,   -- not before (epoch seconds); backoff
    last_error  TEXT,                         -- the last failure, for the operator
    reason      TEXT,                         -- parked/cancelled: why, for good
    event_id    INTEGER,                      -- the event that asked for it
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    owner_host  TEXT,                         -- sending: who holds the claim
    owner_pid   INTEGER,
    claim_until INTEGER,                      -- sending: lease end
    UNIQUE (openid, tag)
);
CREATE INDEX tag_outbox_pending ON tag_outbox(tag, id) WHERE state = 'pending';
CREATE INDEX tag_outbox_sending ON tag_outbox(owner_pid) WHERE state = 'sending';
CREATE INDEX tag_outbox_parked ON tag_outbox(tag) WHERE state = 'parked';

-- Attribution of followers who subscribed before wxscene saw them, as
-- user/info reported it. The fans row (source 'backfill') carries the scene;
-- this keeps WeChat's own words (subscribe_scene, qr_scene, qr_scene_str).
CREATE TABLE fan_backfill (
    openid          TEXT PRIMARY KEY,
    subscribe_scene TEXT NOT NULL,           -- ADD_SCENE_*
    qr_scene        INTEGER,                 -- NULL when 0 / absent
    qr_scene_str    TEXT,                    -- NULL when "" / absent
    subscribe_time  INTEGER NOT NULL,
    recorded_at     INTEGER NOT NULL,
    walk            INTEGER NOT NULL          -- backfill_state.walk that recorded it
) WITHOUT ROWID;
CREATE INDEX fan_backfill_walk ON fan_backfill(walk);

-- One row: the follower walk. cursor is the next_openid to ask user/get for
-- (NULL = from the start), committed after each page, so a killed run
-- resumes where it stopped.
CREATE TABLE backfill_state (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    walk        INTEGER NOT NULL DEFAULT 1, -- bumped by each new walk
    cursor      TEXT,
    total       INTEGER NOT NULL DEFAULT 0, -- followers WeChat reported
    seen        INTEGER NOT NULL DEFAULT 0, -- openids walked so far (this walk)
    added       INTEGER NOT NULL DEFAULT 0, -- fans rows written (this walk; as of the cursor)
    known       INTEGER NOT NULL DEFAULT 0, -- already known from events or earlier runs
    gone        INTEGER NOT NULL DEFAULT 0, -- unsubscribed between user/get and user/info
    started_at  INTEGER,
    updated_at  INTEGER,
    finished_at INTEGER                     -- NULL while a walk is under way
);
