-- 006_scan_days_in_c: the distinct-scanner bookkeeping of stats_scan_first
-- moves from the triggers of 003 into the statistics hook (stats.c,
-- scan_day()), with the same meaning: each (openid, scene, day) row of
-- stats_scan_days is counted once in stats_scan_first under the scanner's
-- previous scan day of that scene. The hook looks the previous day up before
-- it inserts, so a repeated scan costs one seek and a new one no trigger
-- program (a trigger frame was a third of a push's instructions). The rows
-- already there stay valid.
DROP TRIGGER stats_scan_days_first;
DROP TRIGGER stats_scan_days_reorder;
