-- 013_stats_day_sql (PostgreSQL): wxs_stats_day(t), the account zone's day
-- number (days since 1970-01-01, local) of UTC time t, from stats_tz: the
-- offset of the last transition at or before t, t clamped to +-2^40 as
-- tz_day() does (src/tz.c), floor division. The statistics rebuild's
-- queries call it (stats_rebuild.c's PostgreSQL overrides); SQLite has the
-- same function in C. NULL stays NULL (STRICT).
CREATE FUNCTION wxs_stats_day(t bigint) RETURNS bigint
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $$
  SELECT (x - ((x % 86400) + 86400) % 86400) / 86400
  FROM (SELECT c + coalesce((SELECT utc_offset FROM stats_tz WHERE from_utc <= c
                             ORDER BY from_utc DESC LIMIT 1), 0) AS x
        FROM (SELECT least(greatest(t, -1099511627776), 1099511627776) AS c) k) l
$$;
