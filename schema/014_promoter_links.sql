-- 014_promoter_links: a promoter's private link (/p/TOKEN, issue 18).
-- The token (32 random bytes, base64url) is given once and never stored:
-- only its SHA-256 (hex), looked up on each visit. One link per
-- promoter; making a new one replaces the old; revoking deletes the row.
-- IF NOT EXISTS: the upgrade tests re-run migrations over a store
-- downgraded by hand that keeps its newer tables.
CREATE TABLE IF NOT EXISTS promoter_links (
    promoter     TEXT PRIMARY KEY,        -- as channels.promoter stores it (tidied)
    token_sha256 TEXT NOT NULL UNIQUE,    -- lowercase hex of SHA-256(token)
    created_at   INTEGER NOT NULL
);
