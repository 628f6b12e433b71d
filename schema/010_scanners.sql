-- 010: a scanner's scan days in one row per openid (stats_scanners) instead
-- of one row per (openid, scene, day) (stats_scan_days). The statistics hook
-- reads and writes it with one upsert per scan event (wxs_scan_add(), in C)
-- instead of two lookups and a two-row insert: the rollups' cost per scan
-- event in the callback server drops by about half (docs/benchmarks.md).
-- days: per scope (a scene, or '' for any scene), in scope order,
-- "<bytes>:<scope>", then ",<day>" per day, ascending, then ";" (src/stats.c).
CREATE TABLE stats_scanners (
    openid TEXT PRIMARY KEY,
    days   TEXT NOT NULL
) WITHOUT ROWID;

INSERT INTO stats_scanners(openid, days)
SELECT openid, group_concat(scope, '') FROM (
    SELECT openid, scene, length(CAST(scene AS BLOB)) || ':' || scene ||
           group_concat(',' || day, '') || ';' AS scope
    FROM (SELECT openid, scene, day FROM stats_scan_days ORDER BY openid, scene, day)
    GROUP BY openid, scene ORDER BY openid, scene)
GROUP BY openid;

DROP TABLE stats_scan_days;
