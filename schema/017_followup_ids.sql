-- 017_followup_ids: the push path's cost of follow-ups (issue 20). A
-- channel row carries the ids of its live follow-ups ("12,13,14", in
-- order; NULL = none), kept by followup.c in the transaction of every
-- follow-up change. The callback reads the channel row for its reply
-- anyway, so a subscribe's outbox row becomes a plain INSERT of these
-- values in the event's transaction: no look-up of followup_msgs per push,
-- and no in-memory cache that another process's edit would have to
-- invalidate (what is queued is what the row said in that transaction).
ALTER TABLE channels ADD COLUMN followup_ids TEXT;
UPDATE channels SET followup_ids = (
    SELECT group_concat(id, ',') FROM (
        SELECT id FROM followup_msgs m
        WHERE m.scene = channels.scene AND m.removed_at IS NULL ORDER BY m.pos));
