-- 014_promoter_links: see schema/014_promoter_links.sql.
CREATE TABLE IF NOT EXISTS promoter_links (
    promoter     text PRIMARY KEY,
    token_sha256 text NOT NULL UNIQUE,
    created_at   bigint NOT NULL
);
