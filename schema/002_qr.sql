-- 002_qr: the WeChat API sidecar (token.c, qr.c). The access_token cache
-- shared by every process on this database, the QR codes asked of WeChat,
-- the permanent scene id ledger and the batch runs.

-- One row per AppID. The row is also the refresh lock: a process that finds
-- the token due takes lock_owner for a lease, fetches, writes and releases,
-- while everyone else keeps using the still-valid token or waits. A caller
-- whose call was rejected expires the token only if it is still the one it
-- used (compare-and-expire), so it never discards a newer token.
CREATE TABLE wx_token (
    appid      TEXT PRIMARY KEY,
    token      TEXT,                      -- NULL until the first fetch
    source     TEXT,                      -- 'token' or 'stable_token'
    fetched_at INTEGER,
    refresh_at INTEGER NOT NULL DEFAULT 0, -- refresh ahead of expiry from here on
    expires_at INTEGER NOT NULL DEFAULT 0, -- 0 once rejected by WeChat
    lock_owner TEXT,                      -- refresher holding the lock, NULL = free
    lock_until INTEGER NOT NULL DEFAULT 0, -- lease: a killed refresher's lock lapses
    fail_seq   INTEGER NOT NULL DEFAULT 0, -- bumped on each failed refresh (for waiters)
    fail_msg   TEXT                       -- the last failure, reported to waiters
) WITHOUT ROWID;

-- Every code asked of qrcode/create. A row is written as 'pending' before
-- the API call (the intent) and completed with the answer after it, so an
-- interrupted batch knows what is done. scene is the channel's scene text.
CREATE TABLE qr_codes (
    id             INTEGER PRIMARY KEY,
    scene          TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('temp_id', 'temp_str', 'perm_id', 'perm_str')),
    expire_seconds INTEGER,               -- requested lifetime; NULL for permanent codes
    state          TEXT NOT NULL CHECK (state IN ('pending', 'done')),
    ticket         TEXT UNIQUE,
    url            TEXT,
    requested_at   INTEGER NOT NULL,
    created_at     INTEGER,               -- when WeChat answered
    expires_at     INTEGER,               -- NULL for permanent codes
    batch          TEXT,                  -- the batch run that asked for it, NULL = single
    attempts       INTEGER NOT NULL DEFAULT 1,
    CHECK ((kind IN ('temp_id', 'temp_str')) = (expire_seconds IS NOT NULL)),
    CHECK (state = 'pending' OR (ticket IS NOT NULL AND url IS NOT NULL))
);
CREATE INDEX qr_codes_scene ON qr_codes(scene);
CREATE INDEX qr_codes_expires ON qr_codes(expires_at) WHERE expires_at IS NOT NULL;
CREATE UNIQUE INDEX qr_codes_batch_scene ON qr_codes(batch, scene) WHERE batch IS NOT NULL;

-- Permanent scene ids 1..100000 are scarce (per account, for ever). An id
-- with no row is free. 'used': a permanent code carries it. 'retired': its
-- channel was archived, but printed codes may still be out there, so the id
-- is only freed (row deleted) when the operator confirms.
CREATE TABLE qr_perm_ids (
    scene_id   INTEGER PRIMARY KEY CHECK (scene_id BETWEEN 1 AND 100000),
    state      TEXT NOT NULL CHECK (state IN ('used', 'retired')),
    since      INTEGER NOT NULL,
    retired_at INTEGER
);

-- One row per `qr batch` output directory (its identity: re-running with the
-- same --out resumes it).
CREATE TABLE qr_batches (
    id          TEXT PRIMARY KEY,         -- absolute path of the output directory
    source      TEXT NOT NULL,            -- the CSV as given on the last run
    started_at  INTEGER NOT NULL,
    finished_at INTEGER
) WITHOUT ROWID;
