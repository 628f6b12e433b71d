-- 016_reply_kinds: richer welcomes (issue 20). A channel's subscribe reply
-- may be a news card or an image instead of its text (channels.reply stays
-- the text, used again when the channel switches back); images are
-- uploaded once as permanent material and remembered by their bytes; up to
-- three follow-up messages per channel go out after the passive reply
-- through the customer-service API, from an outbox written in the event's
-- transaction.

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

-- A channel's follow-ups, sent in pos order. body is the message in the
-- stored reply form (src/reply.h): the text, or a tagged news/image.
CREATE TABLE channel_followups (
    scene      TEXT NOT NULL,
    pos        INTEGER NOT NULL CHECK (pos BETWEEN 1 AND 3),
    kind       TEXT NOT NULL CHECK (kind IN ('text', 'news', 'image')),
    body       TEXT NOT NULL,
    media_file TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (scene, pos)
);

-- The follow-up outbox: one row per follow-up per first-delivered
-- subscribe through the channel, a copy of the message as it was then.
--
--   pending -> sending (claimed, with an owner and a lease) -> sent | parked
--   sending -> pending (a failure that proves nothing was delivered: -1,
--              a token error, a refused connection; attempts, next_try)
--
-- A claim whose owner died while sending is parked ('interrupted'), never
-- sent again: customer-service messages are not idempotent, and a fan must
-- never get the same coupon twice. The previous row of the same fan and
-- channel must be sent before the next is claimed (in order per fan).
CREATE TABLE followup_outbox (
    id          INTEGER PRIMARY KEY,
    event_id    INTEGER,
    openid      TEXT NOT NULL,
    scene       TEXT NOT NULL,
    pos         INTEGER NOT NULL,
    body        TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'parked')),
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
CREATE INDEX followup_outbox_pending ON followup_outbox(next_try, id) WHERE state = 'pending';
CREATE INDEX followup_outbox_fan ON followup_outbox(openid, id) WHERE state IN ('pending', 'sending');
CREATE INDEX followup_outbox_sending ON followup_outbox(owner_pid) WHERE state = 'sending';
