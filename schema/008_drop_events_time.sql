-- 008_drop_events_time: no query reads events by CreateTime alone (the
-- statistics read their rollups; the rebuild scans events whole), so the
-- index only cost an insert per event. Time-ordered reads of events can use
-- the dedup keys of events, which start with the CreateTime (007).
DROP INDEX events_time;
