-- 012_qr_ticket: qr_codes.ticket is no longer UNIQUE.
--
-- The ticket is WeChat's value, not ours, and a row of qr_codes is one
-- request to qrcode/create (its intent, then its answer), not one code.
-- The protocol (wechat-protocol.md section 4) neither promises a fresh
-- ticket per request nor rules out the same one, and the same code asked
-- again may well come back with the ticket already stored: a permanent
-- scene is one code for ever (one url), asked again when a batch re-sends
-- an interrupted call for a permanent scene created meanwhile on its own,
-- or when two processes create it at once. With the UNIQUE, that answer
-- (quota spent, the code existing at WeChat) failed after the fact, and
-- the constraint's message was lost behind the ROLLBACK ("database: not
-- an error").
--
-- The rule instead (qr.c, ticket_check, in the transaction that records
-- the answer): rows may share a ticket only when they share scene and
-- kind (the same code asked again); a ticket stored for another scene or
-- kind is refused by name and not recorded, since one of the two rows
-- would credit scans to the wrong scene.
--
-- SQLite cannot drop a column constraint, so the table is rebuilt (same
-- columns, checks and ids); the ticket keeps a plain index for that check.
CREATE TABLE qr_codes_new (
    id             INTEGER PRIMARY KEY,
    scene          TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('temp_id', 'temp_str', 'perm_id', 'perm_str')),
    expire_seconds INTEGER,               -- requested lifetime; NULL for permanent codes
    state          TEXT NOT NULL CHECK (state IN ('pending', 'done')),
    ticket         TEXT,                  -- WeChat's; shared only by the same scene and kind
    url            TEXT,
    requested_at   INTEGER NOT NULL,
    created_at     INTEGER,               -- when WeChat answered
    expires_at     INTEGER,               -- NULL for permanent codes
    batch          TEXT,                  -- the batch run that asked for it, NULL = single
    attempts       INTEGER NOT NULL DEFAULT 1,
    CHECK ((kind IN ('temp_id', 'temp_str')) = (expire_seconds IS NOT NULL)),
    CHECK (state = 'pending' OR (ticket IS NOT NULL AND url IS NOT NULL))
);
INSERT INTO qr_codes_new(id, scene, kind, expire_seconds, state, ticket, url, requested_at,
                         created_at, expires_at, batch, attempts)
    SELECT id, scene, kind, expire_seconds, state, ticket, url, requested_at, created_at,
           expires_at, batch, attempts FROM qr_codes;
DROP TABLE qr_codes;
ALTER TABLE qr_codes_new RENAME TO qr_codes;
CREATE INDEX qr_codes_scene ON qr_codes(scene);
CREATE INDEX qr_codes_expires ON qr_codes(expires_at) WHERE expires_at IS NOT NULL;
CREATE UNIQUE INDEX qr_codes_batch_scene ON qr_codes(batch, scene) WHERE batch IS NOT NULL;
CREATE INDEX qr_codes_ticket ON qr_codes(ticket) WHERE ticket IS NOT NULL;
