-- 016_reply_kinds: richer welcomes (issue 20). A channel's subscribe reply
-- may be a news card or an image instead of its text (channels.reply stays
-- the text, used again when the channel switches back); images are
-- uploaded once as permanent material and remembered by their bytes; up to
-- three follow-up messages per channel go out after the passive reply
-- through the customer-service API, from an outbox written in the event's
-- transaction (one row per subscribe: the push path writes one row, not
-- one per message).

-- A channel's non-text subscribe reply; no row = text (channels.reply).
CREATE TABLE channel_replies (
    scene       TEXT PRIMARY KEY,            -- channels.scene
    kind        TEXT NOT NULL CHECK (kind IN ('news', 'image')),
    title       TEXT,                        -- news
    description TEXT,
    picurl      TEXT,
    url         TEXT,
    media_id    TEXT,                        -- image: the permanent material
    media_file  TEXT,                        -- image: the file's name, for the operator
    updated_at  INTEGER NOT NULL
);

-- Permanent images uploaded through material/add_material, by content:
-- the same file for ten channels is uploaded once.
CREATE TABLE media (
    sha256     TEXT PRIMARY KEY,             -- hex of the file's bytes
    media_id   TEXT NOT NULL,
    url        TEXT,
    file_name  TEXT NOT NULL,
    bytes      INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

-- Follow-up messages. A row is never changed once written: removing a
-- follow-up sets removed_at (the outbox may still hold its id), so what a
-- fan was queued for is what the fan gets. body is the message in the
-- stored reply form (src/reply.h): the text, or a tagged news/image.
CREATE TABLE followup_msgs (
    id         INTEGER PRIMARY KEY,
    scene      TEXT NOT NULL,
    pos        INTEGER NOT NULL CHECK (pos BETWEEN 1 AND 3),
    kind       TEXT NOT NULL CHECK (kind IN ('text', 'news', 'image')),
    body       TEXT NOT NULL,
    media_file TEXT,
    created_at INTEGER NOT NULL,
    removed_at INTEGER
);
CREATE UNIQUE INDEX followup_msgs_live ON followup_msgs(scene, pos) WHERE removed_at IS NULL;

-- The follow-up outbox: one row per first-delivered subscribe through a
-- channel with follow-ups, written in the event's transaction: the ids of
-- the channel's messages then ("12,13,14"), sent in that order.
--
--   pending -> sending (claimed, with an owner and a lease) -> pending
--              (the next message, or a failure that proves nothing was
--              delivered: -1, a token error, a refused connection;
--              attempts, next_try) | sent (all of them) | parked (WeChat
--              refused one for good: the rest are not sent)
--
-- done counts the messages dealt with; a message whose call got no answer,
-- or whose sender died during the call (kill -9), may have arrived: it is
-- counted in uncertain and never sent again (customer-service messages are
-- not idempotent: a fan must never get the same coupon twice), and the
-- next one follows.
CREATE TABLE followup_outbox (
    id          INTEGER PRIMARY KEY,
    event_id    INTEGER,
    openid      TEXT NOT NULL,
    scene       TEXT NOT NULL,
    msgs        TEXT NOT NULL,
    total       INTEGER NOT NULL,
    done        INTEGER NOT NULL DEFAULT 0,
    uncertain   INTEGER NOT NULL DEFAULT 0,
    -- (= and OR, not IN: SQLite builds a temporary b-tree for an IN list
    -- on every insert, 20k instructions of the push that writes the row)
    state       TEXT NOT NULL CHECK (state = 'pending' OR state = 'sending' OR state = 'sent'
                                   OR state = 'parked'),
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_try    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    reason      TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    owner_host  TEXT,
    owner_pid   INTEGER,
    claim_until INTEGER
);
-- The queue in id order (the claim takes the oldest due row: pending rows
-- are few, sent ones are not in it).
CREATE INDEX followup_outbox_pending ON followup_outbox(id) WHERE state = 'pending';
-- A fan's rows that a later row of the fan must wait for: in flight, or
-- back in the queue after a failure (a fresh row is never in it: an index
-- of every row by openid cost the push path a random b-tree insert, half
-- of the outbox's price; a fresh earlier row is claimed first anyway, the
-- claim going by id).
CREATE INDEX followup_outbox_busy ON followup_outbox(openid, id)
    WHERE state = 'sending' OR (state = 'pending' AND attempts > 0);
CREATE INDEX followup_outbox_sending ON followup_outbox(owner_pid) WHERE state = 'sending';
