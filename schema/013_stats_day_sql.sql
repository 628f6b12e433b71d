-- 013_stats_day_sql: nothing changes in SQLite.
--
-- PostgreSQL's 013 creates wxs_stats_day(t), the account zone's day number
-- of a UTC time computed in SQL from stats_tz, which the statistics rebuild
-- uses there; SQLite registers the same function in C for the rebuild
-- (stats_rebuild.c, DB_CAP_C_FUNCTIONS). The number is kept in step so a
-- store has the same schema version on either backend.
SELECT 1;
