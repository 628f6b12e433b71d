-- 007_dedup_time_first: cheaper writes per event.
-- An event's dedup key now starts with its CreateTime ("e|CreateTime|From|
-- Event|EventKey", the same fields as before in another order), so the
-- UNIQUE index on events.dedup_key grows at its right edge like the rowid:
-- the events of one commit share its last pages instead of dirtying one
-- random page each (a WAL frame per event per commit, and again in the
-- checkpoint). Message keys ("m|MsgId") are unchanged. The stored event
-- keys are rewritten so that a WeChat retry of an event stored before the
-- upgrade still finds it. (OR IGNORE: a pathological pair, an Event value
-- containing '|', could map to one new key; such a row keeps its old key
-- rather than stop the upgrade.)
UPDATE OR IGNORE events SET dedup_key = 'e|' || create_time || '|' || openid || '|' || event || '|' || event_key
WHERE dedup_key LIKE 'e|%';

-- fans_last_scene served no query (the statistics read their rollups, the
-- rebuild scans fans whole) and cost a random index write per subscribe
-- and unsubscribe.
DROP INDEX fans_last_scene;
