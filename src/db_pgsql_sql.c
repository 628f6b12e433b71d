/* db_pgsql_sql: the statements PostgreSQL runs in its own words, by query
 * name (struct db_override; db.c swaps the text on first use). Only what
 * SQLite-only SQL forces: everything else is written once, in SQL both
 * accept, beside the code that runs it.
 *
 * The statistics rebuild (stats_rebuild.c): sums of comparisons become
 * sums of casts, group_concat string_agg with its order inside (scopes in
 * byte order: COLLATE "C", as stats_scandays.c compares them), length of a
 * blob octet_length, derived tables get names, and the temporary tables
 * live in pg_temp. wxs_stats_day() is SQL there (schema/pg/013). The lock
 * keeps the rollups still while they are recomputed: pushes committing on
 * other instances wait for it (they would otherwise add to rows the
 * rebuild is replacing), readers do not. */
#include "db_backend.h"

#include <stddef.h>

#define UNSUB "pg_temp.stats_rebuild_unsub"
#define SCAN  "pg_temp.stats_rebuild_scan"

const struct db_override db_pgsql_overrides[] = {
    /* followup.c: two instances never claim the same row (nor wait on each
     * other's claim) */
    {"followup.arm",
     "INSERT INTO followup_outbox(event_id, openid, scene, msgs, total, state, created_at, "
     "updated_at) SELECT ?1, ?2, ?4, string_agg(id::text, ',' ORDER BY pos), count(*), "
     "'pending', ?3, ?3 FROM followup_msgs WHERE scene = ?4 AND removed_at IS NULL "
     "HAVING count(*) > 0"},
    {"followup.claim",
     "UPDATE followup_outbox SET state = 'sending', attempts = attempts + 1, owner_host = ?1, "
     "owner_pid = ?2, claim_until = ?3, updated_at = ?4 WHERE state = 'pending' AND id = "
     "(SELECT o.id FROM followup_outbox o WHERE o.state = 'pending' AND o.next_try <= ?4 AND "
     "NOT EXISTS (SELECT 1 FROM followup_outbox p WHERE p.openid = o.openid AND p.id < o.id AND "
     "(p.state = 'sending' OR (p.state = 'pending' AND p.attempts > 0))) ORDER BY o.id LIMIT 1 "
     "FOR UPDATE SKIP LOCKED) "
     "RETURNING id, openid, msgs, total, done, attempts"},
    /* store.c: /metrics' store size */
    {"store.size", "SELECT pg_database_size(current_database())"},
    /* store.c: the events of one openid one transaction at a time, across
     * instances (two 32-bit keys: their own space, apart from the
     * migrations' 64-bit key) */
    {"store.fan_lock", "SELECT pg_advisory_xact_lock(7126, hashtext(?1))"},
    {"stats.rebuild_lock",
     "LOCK TABLE events, fans, stats_daily, stats_churn, stats_scanners, stats_scan_first, "
     "stats_tz, stats_meta IN SHARE ROW EXCLUSIVE MODE"},
    {"stats.rebuild_daily",
     "INSERT INTO stats_daily(day, scene, scans, new_fans, returning_fans) "
     "SELECT wxs_stats_day(create_time), coalesce(scene, ''), "
     "sum((coalesce(scene, '') <> '')::int), sum((kind = 0 AND is_new_fan <> 0)::int), "
     "sum((kind = 0 AND is_new_fan = 0)::int) FROM events "
     "WHERE kind = 0 OR (kind = 1 AND coalesce(scene, '') <> '') GROUP BY 1, 2"},
    {"stats.rebuild_unsub_table",
     "CREATE TEMP TABLE stats_rebuild_unsub AS "
     "SELECT coalesce(scene, '') AS scene, wxs_stats_day(create_time) AS day, "
     "wxs_stats_day(ptime) AS sub_day, (create_time - ptime BETWEEN 0 AND 599) AS quick "
     "FROM (SELECT kind, scene, create_time, lag(kind) OVER w AS pkind, "
     "lag(create_time) OVER w AS ptime FROM events WHERE kind IN (0, 2) "
     "WINDOW w AS (PARTITION BY openid ORDER BY id)) e "
     "WHERE kind = 2 AND pkind = 0 AND ptime <> 0"},
    {"stats.rebuild_unsubscribes",
     "INSERT INTO stats_daily(day, scene, unsubscribes) SELECT day, scene, count(*) "
     "FROM " UNSUB " GROUP BY 1, 2 ON CONFLICT(day, scene) "
     "DO UPDATE SET unsubscribes = stats_daily.unsubscribes + excluded.unsubscribes"},
    {"stats.rebuild_quick_unsubs",
     "INSERT INTO stats_daily(day, scene, quick_unsubs) SELECT sub_day, scene, count(*) "
     "FROM " UNSUB " WHERE quick GROUP BY 1, 2 ON CONFLICT(day, scene) "
     "DO UPDATE SET quick_unsubs = stats_daily.quick_unsubs + excluded.quick_unsubs"},
    {"stats.rebuild_churn",
     "INSERT INTO stats_churn(sub_day, scene, unsub_day, n) SELECT sub_day, scene, day, count(*) "
     "FROM " UNSUB " GROUP BY 1, 2, 3"},
    {"stats.rebuild_unsub_drop", "DROP TABLE " UNSUB},
    {"stats.rebuild_scan_table",
     "CREATE TEMP TABLE stats_rebuild_scan(openid text, scene text, day bigint, "
     "PRIMARY KEY (openid, scene, day))"},
    {"stats.rebuild_scan_scene",
     "INSERT INTO " SCAN "(scene, openid, day) "
     "SELECT scene, openid, wxs_stats_day(create_time) FROM events "
     "WHERE kind IN (0, 1) AND coalesce(scene, '') <> '' ON CONFLICT DO NOTHING"},
    {"stats.rebuild_scan_any",
     "INSERT INTO " SCAN "(scene, openid, day) "
     "SELECT '', openid, wxs_stats_day(create_time) FROM events "
     "WHERE kind IN (0, 1) AND coalesce(scene, '') <> '' ON CONFLICT DO NOTHING"},
    {"stats.rebuild_scanners",
     "INSERT INTO stats_scanners(openid, days) "
     "SELECT openid, string_agg(scope, '' ORDER BY scene COLLATE \"C\") FROM (SELECT openid, "
     "scene, octet_length(scene) || ':' || scene || string_agg(',' || day, '' ORDER BY day) || "
     "';' AS scope FROM " SCAN " GROUP BY openid, scene) s GROUP BY openid"},
    {"stats.rebuild_scan_first",
     "INSERT INTO stats_scan_first(day, scene, prev_day, n) "
     "SELECT day, scene, prev, count(*) FROM (SELECT day, scene, coalesce(lag(day) OVER "
     "(PARTITION BY openid, scene ORDER BY day), -2147483648) AS prev FROM " SCAN ") s "
     "WHERE scene = '' OR prev <> -2147483648 GROUP BY 1, 2, 3"},
    {"stats.rebuild_first_scanners",
     "INSERT INTO stats_daily(day, scene, first_scanners) "
     "SELECT day, scene, count(*) FROM (SELECT min(day) AS day, scene FROM " SCAN " "
     "WHERE scene <> '' GROUP BY openid, scene) s GROUP BY 1, 2 ON CONFLICT(day, scene) "
     "DO UPDATE SET first_scanners = stats_daily.first_scanners + excluded.first_scanners"},
    {"stats.rebuild_scan_drop", "DROP TABLE " SCAN},
    {"stats.rebuild_unsub_cleanup", "DROP TABLE IF EXISTS " UNSUB},
    {"stats.rebuild_scan_cleanup", "DROP TABLE IF EXISTS " SCAN},
    /* store_copy.c: the identity sequences past the ids copied */
    {"copy.seq_events",
     "SELECT setval(pg_get_serial_sequence('events', 'id'), coalesce(max(id), 0) + 1, false) "
     "FROM events"},
    {"copy.seq_qr_codes",
     "SELECT setval(pg_get_serial_sequence('qr_codes', 'id'), coalesce(max(id), 0) + 1, false) "
     "FROM qr_codes"},
    {"copy.seq_tag_outbox",
     "SELECT setval(pg_get_serial_sequence('tag_outbox', 'id'), coalesce(max(id), 0) + 1, "
     "false) FROM tag_outbox"},
    {"copy.seq_campaigns",
     "SELECT setval(pg_get_serial_sequence('campaigns', 'id'), coalesce(max(id), 0) + 1, false) "
     "FROM campaigns"},
    {"copy.seq_followup_msgs",
     "SELECT setval(pg_get_serial_sequence('followup_msgs', 'id'), coalesce(max(id), 0) + 1, "
     "false) FROM followup_msgs"},
    {"copy.seq_followup_outbox",
     "SELECT setval(pg_get_serial_sequence('followup_outbox', 'id'), coalesce(max(id), 0) + 1, "
     "false) FROM followup_outbox"},
    {NULL, NULL},
};
