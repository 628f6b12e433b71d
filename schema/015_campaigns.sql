-- 015_campaigns: campaigns, a grouping of channels marketers read as one
-- (a metro campaign of 50 station codes, a trade fair of 12 booth codes).
--
-- A campaign has a name (unique once tidied as promoters are: blanks
-- around it dropped, Unicode NFC; campaign.c does that before it is
-- stored, so the UNIQUE compares tidied names), an optional note and its
-- creation time. A channel is in at most one campaign: one nullable column
-- on channels, NULL = in none. Statistics by campaign read the channel's
-- campaign when the report runs (like its promoter): moving a channel
-- moves its whole history (docs/statistics.md). Migration 014 is the
-- console's (promoter links), 016 the reply kinds and follow-ups.
CREATE TABLE campaigns (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    note       TEXT,
    created_at INTEGER NOT NULL
);

-- campaigns.id; no FOREIGN KEY clause in SQLite (PostgreSQL's 015 has
-- one): SQLite cannot DROP a column a foreign key names, which the upgrade
-- tests do to fake an older file, and nothing deletes a campaign; the only
-- writer (campaign_set_channel) sets an id it read in the same transaction.
ALTER TABLE channels ADD COLUMN campaign_id INTEGER;
CREATE INDEX channels_campaign ON channels(campaign_id);
