"""An upgrade from a real version-5 database: tests/fixtures/upgrade-v5/v5.db
was made by ff06614's own binaries (make_fixture.py there: channels added
with the CLI, pushes through wxscened, WeChat-style retries, late deliveries)
and expected.json holds the statistics that version printed. The current
binaries open a copy as a user's upgrade would: migrations 006-010 rewrite
the event dedup keys and move the rollups to today's layout, and

- every report is the one version 5 printed, and `--rebuild` agrees;
- a WeChat retry of an event stored before the upgrade is answered with its
  stored reply and not stored again;
- new events after the upgrade move the rollups as a rebuild would."""
import json
import os
import shutil
import sqlite3
import sys
import unittest

import wxs

FIXTURE = os.path.join(wxs.SRC, "tests", "fixtures", "upgrade-v5")
sys.path.insert(0, FIXTURE)
from events import DAY, BASE, EVENTS, RANGES  # noqa: E402


@wxs.sqlite_only("a version-5 SQLite file")
class UpgradeFromV5(unittest.TestCase):
    def setUp(self):
        self.env = wxs.Env()
        shutil.copyfile(os.path.join(FIXTURE, "v5.db"), self.env.db)
        with open(os.path.join(FIXTURE, "expected.json")) as f:
            self.expected = json.load(f)

    def tearDown(self):
        self.env.cleanup()

    def stats(self, name, *extra):
        p = self.env.cli("stats", *RANGES[name], "--format", "json", *extra)
        return json.loads(p.stdout)

    def test_reports_survive_the_upgrade(self):
        self.assertEqual(sqlite3.connect(self.env.db).execute("PRAGMA user_version").fetchone()[0], 5)
        for name in RANGES:
            with self.subTest(report=name):
                self.assertEqual(self.stats(name), self.expected[name])
        db = sqlite3.connect(self.env.db)
        newest = max(int(n[:3]) for n in os.listdir(os.path.join(wxs.SRC, "schema")) if n.endswith(".sql"))
        self.assertGreaterEqual(newest, 11)
        self.assertEqual(db.execute("PRAGMA user_version").fetchone()[0], newest)
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
        self.assertIn("stats_scanners", tables)
        self.assertNotIn("stats_scan_days", tables)
        self.assertEqual(db.execute("SELECT count(*) FROM events WHERE dedup_key LIKE 'e|o%'")
                         .fetchone()[0], 0)  # every event key is time-first now
        db.close()
        for name in RANGES:
            with self.subTest(rebuilt=name):
                self.assertEqual(self.stats(name, "--rebuild"), self.expected[name])

    def test_retry_and_new_events_after_the_upgrade(self):
        env = self.env
        events_before = env.sql("SELECT count(*) FROM events")[0][0]
        env.start_server()
        # the first push of the log, retried by WeChat after the upgrade
        first = EVENTS[0]
        stored = env.sql("SELECT reply FROM events ORDER BY id LIMIT 1")[0][0]
        r = env.push(first)
        self.assertEqual(r.status, 200)
        if stored:
            self.assertIn(stored, r.text)
        else:
            self.assertEqual(r.text, "success")
        self.assertEqual(env.sql("SELECT count(*) FROM events")[0][0], events_before)
        # new events: a scan by a known scanner on a new day, a new fan, a
        # late scan of an old day by someone who never scanned that scene
        late = [wxs.event_xml("oFan03", BASE + 24 * DAY, "SCAN", "1"),
                wxs.event_xml("oNew01", BASE + 24 * DAY + 60, "subscribe", "qrscene_2"),
                wxs.event_xml("oFan11", BASE + 3 * DAY + 30, "SCAN", "promo_x")]
        for xml in late:
            self.assertEqual(env.push(xml).status, 200)
        env.stop_server()
        self.assertEqual(env.sql("SELECT count(*) FROM events")[0][0], events_before + 3)
        hooked = {name: self.stats(name) for name in RANGES}
        self.assertNotEqual(hooked["all"], self.expected["all"])
        for name in RANGES:
            with self.subTest(rebuilt=name):
                self.assertEqual(self.stats(name, "--rebuild"), hooked[name])


@wxs.sqlite_only("PRAGMA user_version of a SQLite file")
class NewerSchemaTest(unittest.TestCase):
    """A downgrade without restoring the backup: an older binary meets a
    schema newer than its own. Both binaries refuse it, say so, and leave
    the file as it was."""

    def test_an_older_binary_refuses_a_newer_schema(self):
        env = wxs.Env()
        self.addCleanup(env.cleanup)
        env.cli("channel", "add", "1", "--name", "门店")
        newest = max(int(n[:3]) for n in os.listdir(os.path.join(wxs.SRC, "schema")) if n.endswith(".sql"))
        env.sql(f"PRAGMA user_version = {newest + 1}")
        with open(env.db, "rb") as f:
            before = f.read()
        p = env.cli("channel", "list", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(f"wxscene: store: {env.db}: database schema version {newest + 1} is newer "
                      f"than this build ({newest})", p.stderr)
        env.start_server(wait=False)
        self.assertEqual(env.proc.wait(timeout=30), 1)
        self.assertIn(f"database schema version {newest + 1} is newer than this build ({newest})",
                      env.server_log())
        with open(env.db, "rb") as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(sqlite3.connect(env.db).execute("PRAGMA user_version").fetchone()[0],
                         newest + 1)


if __name__ == "__main__":
    unittest.main()
