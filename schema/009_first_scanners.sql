-- 009_first_scanners: a scene's scanners with no earlier scan day of that
-- scene (stats_scan_first rows with prev_day = -2147483648) are counted in
-- the scene's stats_daily row instead: the statistics hook writes that row
-- for the same event anyway, so a new scanner costs no row of its own.
-- The any-scene scope ('') keeps all its rows in stats_scan_first ('' in
-- stats_daily is the organic row). Distinct scanners of a scene over
-- [s, u] = sum(first_scanners) over the days + sum(n) of its
-- stats_scan_first rows with prev_day < s, as before.
ALTER TABLE stats_daily ADD COLUMN first_scanners INTEGER NOT NULL DEFAULT 0;
INSERT INTO stats_daily(day, scene, first_scanners)
SELECT day, scene, n FROM stats_scan_first WHERE prev_day = -2147483648 AND scene <> ''
ON CONFLICT(day, scene) DO UPDATE SET first_scanners = first_scanners + excluded.first_scanners;
DELETE FROM stats_scan_first WHERE prev_day = -2147483648 AND scene <> '';
