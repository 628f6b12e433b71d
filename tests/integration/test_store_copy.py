"""wxscene store migrate and store copy --to URL: a whole SQLite store into
an empty PostgreSQL database (the move to several instances) and back,
verified, all or nothing. Needs a PostgreSQL cluster (pg.integration.*);
skipped without one."""
import json
import os
import sqlite3
import unittest

import wxs


def stats_json(env, by):
    out = env.cli("stats", "--since", "2023-01-01", "--until", "2024-12-31", "--by", by,
                  "--format", "json").stdout
    return json.loads(out)


@unittest.skipUnless(wxs.PG_URL, "needs a PostgreSQL cluster (tests/pg/cluster.sh)")
class StoreCopyTest(unittest.TestCase):
    def setUp(self):
        self.src = wxs.Env(backend="sqlite")
        self.addCleanup(self.src.cleanup)
        self.src.write_config(tag={"worker": "false"})
        self.target = "wxs_copy_" + os.urandom(4).hex()
        con = wxs.pg_connect()
        con.cursor().execute(f"CREATE DATABASE {self.target}")
        con.close()
        self.addCleanup(self.drop_target)
        self.url = f"{wxs.PG_URL} dbname={self.target}"
        # A store with some of everything: channels (one in Chinese), fans
        # who came, scanned, left and came back, a tag outbox.
        s = self.src
        s.cli("campaign", "add", "春季活动", "--note", "两个门店")
        s.cli("channel", "add", "42", "--name", "门店 42", "--promoter", "李", "--tag", "spring",
              "--campaign", "春季活动")
        s.cli("channel", "add", "7", "--name", "Flyer", "--reply", "Hi {channel}")
        s.start_server()
        t = 1700000000
        for i in range(30):
            scene = "42" if i % 3 else "7"
            s.push(wxs.event_xml(f"oC{i}", t + 100 * i, "subscribe", f"qrscene_{scene}"))
            s.push(wxs.event_xml(f"oC{i}", t + 100 * i + 5, "SCAN", scene))
            if i % 4 == 0:
                s.push(wxs.event_xml(f"oC{i}", t + 100 * i + 50, "unsubscribe"))
        self.assertEqual(s.stop_server(), 0)

    def drop_target(self):
        con = wxs.pg_connect()
        con.cursor().execute(f"DROP DATABASE IF EXISTS {self.target} WITH (FORCE)")
        con.close()

    def pg(self, query):
        con = wxs.pg_connect(self.target)
        try:
            cur = con.cursor()
            cur.execute(query)
            return [tuple(r) for r in cur.fetchall()]
        finally:
            con.close()

    def test_sqlite_to_postgresql_and_the_server_goes_on_there(self):
        self.src.sql("INSERT INTO promoter_links VALUES ('李', ?, 1700000000)", "ab" * 32)
        p = self.src.cli("store", "copy", "--to", self.url)
        self.assertIn("3 statistics reports", p.stdout)
        self.assertRegex(p.stdout, r"events\s+68 rows")
        for table in ("campaigns", "channels", "events", "fans", "tag_outbox", "stats_daily",
                      "stats_scanners", "promoter_links"):
            self.assertEqual(self.pg(f"SELECT count(*) FROM {table}"),
                             self.src.sql(f"SELECT count(*) FROM {table}"), table)
        self.assertEqual(self.pg("SELECT name, promoter FROM channels WHERE scene = '42'"),
                         [("门店 42", "李")])
        self.assertEqual(self.pg("SELECT promoter, token_sha256 FROM promoter_links"), [("李", "ab" * 32)])
        # The same config pointed at the copy: same reports, a retry is
        # still a retry, new events get new ids.
        before = {by: stats_json(self.src, by) for by in ("channel", "promoter", "day", "campaign")}
        pg = wxs.Env(backend="sqlite")
        self.addCleanup(pg.cleanup)
        pg.write_config(tag={"worker": "false"}, store={"backend": "postgresql", "url": self.url})
        for by, want in before.items():
            self.assertEqual(stats_json(pg, by), want, by)
        pg.start_server()
        r = pg.push(wxs.event_xml("oC1", 1700000100, "subscribe", "qrscene_42"))
        self.assertEqual(r.status, 200)
        self.assertEqual(self.pg("SELECT count(*) FROM events WHERE openid = 'oC1'"), [(2,)])
        self.assertEqual(pg.push(wxs.event_xml("oNew", 1700900000, "subscribe", "qrscene_7")).status, 200)
        new_id = self.pg("SELECT id FROM events WHERE openid = 'oNew'")[0][0]
        self.assertGreater(new_id, self.src.sql("SELECT max(id) FROM events")[0][0])
        self.assertEqual(pg.stop_server(), 0)
        # the campaigns' ids go on past the copied ones
        pg.cli("campaign", "add", "秋季活动")
        pg.cli("channel", "edit", "7", "--campaign", "秋季活动")
        self.assertEqual(self.pg("SELECT c.scene, g.name FROM channels c JOIN campaigns g "
                                 "ON g.id = c.campaign_id ORDER BY c.scene"),
                         [("42", "春季活动"), ("7", "秋季活动")])

    def test_non_empty_target_refused_and_left_alone(self):
        self.src.cli("store", "copy", "--to", self.url)
        n = self.pg("SELECT count(*) FROM events")
        p = self.src.cli("store", "copy", "--to", self.url, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("the target is not empty (table campaigns has 1 rows)", p.stderr)
        self.assertEqual(self.pg("SELECT count(*) FROM events"), n)

    def test_postgresql_back_to_a_sqlite_file(self):
        self.src.cli("store", "copy", "--to", self.url)
        pg = wxs.Env(backend="sqlite")
        self.addCleanup(pg.cleanup)
        pg.write_config(store={"backend": "postgresql", "url": self.url})
        back = os.path.join(pg.dir, "host=back.db")  # a file name, said so by sqlite:
        p = pg.cli("store", "copy", "--to", "sqlite:" + back)
        self.assertIn("3 statistics reports", p.stdout)
        for table in ("events", "fans", "stats_daily", "stats_scanners", "stats_churn"):
            con = sqlite3.connect(back)
            try:
                copied = con.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            finally:
                con.close()
            self.assertEqual(copied, self.src.sql(f"SELECT * FROM {table} ORDER BY 1, 2"), table)

    def test_migrate_and_bad_targets(self):
        p = self.src.cli("store", "migrate")
        self.assertRegex(p.stdout, r"schema version \d+, up to date")
        p = self.src.cli("store", "copy", "--to",
                         f"host={self.src.dir} port=1 user=wxs password=sekret-pw dbname=nowhere", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("the target", p.stderr)
        self.assertNotIn("sekret-pw", p.stderr)
        # libpq quotes a string it cannot parse: such strings are refused
        # without a word of them.
        for bad in ("postgresql://u:S3cret-pw@[::1/db", "postgresql://u:S3cret-pw%zz@h/db",
                    "host=x password=S3cret-pw ret"):
            p = self.src.cli("store", "copy", "--to", bad, check=False)
            self.assertEqual(p.returncode, 1, bad)
            self.assertIn("malformed", p.stderr)
            self.assertNotIn("S3cret", p.stderr)
        p = self.src.cli("store", "copy", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage: wxscene store", p.stderr)
        p = self.src.cli("store", "copy", "--to", self.src.db, check=False)
        self.assertEqual(p.returncode, 2)


if __name__ == "__main__":
    unittest.main()
