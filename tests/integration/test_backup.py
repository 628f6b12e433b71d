"""wxscene store backup FILE: an online, checked copy of a SQLite store
while wxscened runs and writes, and a restore from it.

- a backup taken during a stream of signed pushes is a sound SQLite file
  (integrity_check), mode 0600, whose report matches its rows; restored
  (copied in place, the server started on it) it serves the statistics a
  store that received exactly the events it holds serves;
- --without-token: no cached access_token in the copy, not even in its
  free pages; without it, the token is there (the check can fail). (Debian
  builds SQLite with secure_delete on by default, so here the raw-bytes
  check passes even without store_backup's own PRAGMA secure_delete; it
  guards other builds.)
- an existing FILE is refused unless --force; a directory that does not
  exist is a clear error naming the path; nothing is left behind;
- PostgreSQL: the exact pg_dump command, without the password, exit 1."""
import json
import os
import shutil
import sqlite3
import stat
import threading
import unittest

import wxs

T0 = 1764547200  # 2025-12-01 00:00 UTC
RANGE = ("--since", "2025-11-30", "--until", "2025-12-31")


def push_stream(n):
    """n pushes over a few days and scenes: new fans, scans, unsubscribes
    and returns. Each push's (openid, create_time) is its own."""
    out = []
    for i in range(n):
        who, t = f"oB{i % 37}", T0 + i * 1800
        scene = str(1 + i % 4)
        kind = i % 5
        if kind == 3:
            out.append(wxs.event_xml(who, t, "SCAN", scene))
        elif kind == 4:
            out.append(wxs.event_xml(who, t, "unsubscribe"))
        else:
            out.append(wxs.event_xml(who, t, "subscribe", f"qrscene_{scene}"))
    return out


def stats(env, by="channel"):
    return json.loads(env.cli("stats", *RANGE, "--by", by, "--format", "json").stdout)


def api_stats(env, by="channel"):
    r = wxs.request(env.admin_port, "GET", f"/api/stats?since=2025-11-30&until=2025-12-31&by={by}",
                    headers={"Authorization": "Bearer admintoken"})
    assert r.status == 200, r
    return json.loads(r.text)


def sqlite_of(path, query):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


@wxs.sqlite_only("a backup of the SQLite file (PostgreSQL: pg_dump)")
class BackupTest(unittest.TestCase):
    def setUp(self):
        self.env = wxs.Env()
        self.addCleanup(self.env.cleanup)
        self.env.write_config(tag={"worker": "false"})
        for scene in ("1", "2", "3"):
            self.env.cli("channel", "add", scene, "--name", f"门店 {scene}", "--promoter", "李")
        self.out = os.path.join(self.env.dir, "backups")
        os.mkdir(self.out)

    def backup(self, name, *args, check=True):
        return self.env.cli("store", "backup", os.path.join(self.out, name), *args, check=check)

    def test_backup_while_pushes_flow_then_restore(self):
        env = self.env
        env.start_server()
        xmls = push_stream(1000)
        errors, sent = [], []

        def pusher():
            for x in xmls:
                r = env.push(x)
                if r.status != 200:
                    errors.append(r)
                sent.append(x)

        th = threading.Thread(target=pusher)
        th.start()
        while len(sent) < 150:
            th.join(0.01)
        p = self.backup("mid.db")
        at_backup = len(sent)
        th.join()
        self.assertEqual(errors, [])
        self.assertEqual(env.stop_server(), 0)
        path = os.path.join(self.out, "mid.db")

        # a sound, private, self-contained file whose report says what it holds
        self.assertEqual(sqlite_of(path, "PRAGMA integrity_check"), [("ok",)])
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertFalse(os.path.exists(path + "-wal"))
        self.assertEqual(sorted(os.listdir(self.out)), ["mid.db"])  # no temp file left
        held = sqlite_of(path, "SELECT openid, create_time FROM events ORDER BY id")
        version = sqlite_of(path, "PRAGMA user_version")[0][0]
        self.assertGreater(version, 0)
        self.assertIn(f"backup: {path}\n", p.stdout)
        self.assertRegex(p.stdout, rf"size\s+{os.path.getsize(path)} bytes")
        self.assertRegex(p.stdout, rf"schema version\s+{version}\n")
        self.assertRegex(p.stdout, rf"events\s+{len(held)}\n")
        self.assertRegex(p.stdout, r"channels\s+3\n")
        fans = sqlite_of(path, "SELECT count(*) FROM fans")[0][0]
        self.assertRegex(p.stdout, rf"fans\s+{fans}\n")
        # taken while the stream flowed: a prefix of it, neither empty nor all
        self.assertGreaterEqual(len(held), 150)
        self.assertLess(len(held), len(xmls))
        self.assertLessEqual(len(held), at_backup + 1)  # + the push answered as it began
        keys = [(f"oB{i % 37}", T0 + i * 1800) for i in range(len(held))]
        self.assertEqual(held, keys)

        # the reference: a fresh store given exactly the events the copy holds
        ref = wxs.Env()
        self.addCleanup(ref.cleanup)
        ref.write_config(tag={"worker": "false"})
        for scene in ("1", "2", "3"):
            ref.cli("channel", "add", scene, "--name", f"门店 {scene}", "--promoter", "李")
        ref.start_server()
        for x in xmls[:len(held)]:
            self.assertEqual(ref.push(x).status, 200)
        want = {by: api_stats(ref, by) for by in ("channel", "promoter", "day")}
        self.assertGreater(want["channel"]["totals"]["scans"], 0)
        self.assertGreater(want["channel"]["totals"]["unsubscribes"], 0)

        # restore as the README says: stopped server, the file in place, start
        shutil.copyfile(path, env.db)
        for side in ("-wal", "-shm"):
            if os.path.exists(env.db + side):
                os.unlink(env.db + side)
        env.start_server()
        for by, w in want.items():
            self.assertEqual(api_stats(env, by), w, by)
        # and it goes on: a WeChat retry of a held event is not counted again
        self.assertEqual(env.push(xmls[0]).status, 200)
        self.assertEqual(env.sql("SELECT count(*) FROM events")[0][0], len(held))

    def put_token(self, secret):
        self.env.sql("INSERT INTO wx_token(appid, token, source, fetched_at, refresh_at, expires_at) "
                     "VALUES('wx0123456789abcdef', ?, 'token', 1, 9999999999, 9999999999)", secret)

    def test_without_token_removes_the_cached_token(self):
        secret = "ACCESS_TOKEN_" + os.urandom(12).hex()
        self.put_token(secret)
        p = self.backup("with.db")
        self.assertRegex(p.stdout, r"access_token\s+kept")
        with_path = os.path.join(self.out, "with.db")
        self.assertEqual(sqlite_of(with_path, "SELECT token FROM wx_token"), [(secret,)])
        p = self.backup("without.db", "--without-token")
        self.assertRegex(p.stdout, r"access_token\s+removed")
        path = os.path.join(self.out, "without.db")
        self.assertEqual(sqlite_of(path, "SELECT count(*) FROM wx_token"), [(0,)])
        with open(path, "rb") as f:
            self.assertNotIn(secret.encode(), f.read())
        self.assertEqual(sqlite_of(path, "PRAGMA integrity_check"), [("ok",)])
        # the live store keeps its token
        self.assertEqual(self.env.sql("SELECT token FROM wx_token"), [(secret,)])

    def test_an_existing_file_is_refused_unless_force(self):
        path = os.path.join(self.out, "old.db")
        with open(path, "wb") as f:
            f.write(b"yesterday's backup")
        p = self.backup("old.db", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(f"wxscene: store backup: {path}: exists (--force replaces it)", p.stderr)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"yesterday's backup")
        self.assertEqual(os.listdir(self.out), ["old.db"])
        self.backup("old.db", "--force")
        self.assertEqual(sqlite_of(path, "SELECT count(*) FROM channels"), [(3,)])
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertEqual(sorted(os.listdir(self.out)), ["old.db"])

    def test_a_bad_target_directory_is_a_clear_error(self):
        path = os.path.join(self.env.dir, "no-such-dir", "b.db")
        p = self.env.cli("store", "backup", path, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(f"wxscene: store backup: {path}: cannot create the copy in "
                      f"{os.path.dirname(path)}: No such file or directory", p.stderr)
        self.assertFalse(os.path.exists(os.path.dirname(path)))
        os.chmod(self.out, 0o500)
        self.addCleanup(os.chmod, self.out, 0o700)
        if os.access(self.out, os.W_OK):
            return  # root writes anyway
        p = self.backup("b.db", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("Permission denied", p.stderr)
        self.assertIn(self.out, p.stderr)

    def test_the_store_itself_and_usage(self):
        p = self.env.cli("store", "backup", self.env.db, "--force", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("is the store itself", p.stderr)
        self.assertEqual(self.env.cli("store", "backup", check=False).returncode, 2)
        # the same file by another name, even with --force
        link = os.path.join(self.out, "live.db")
        os.symlink(self.env.db, link)
        with open(self.env.db, "rb") as f:
            before = f.read()
        for path in (link, os.path.join(self.env.dir, ".", "wxscene.db")):
            p = self.env.cli("store", "backup", path, "--force", check=False)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn(f"{path}: is the store itself", p.stderr)
        with open(self.env.db, "rb") as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(sorted(os.listdir(self.out)), ["live.db"])
        self.assertEqual(sorted(n for n in os.listdir(self.env.dir) if ".tmp-" in n), [])


@unittest.skipUnless(wxs.ON_PG, "the PostgreSQL answer (pg.integration.test_backup)")
class BackupOnPostgresqlTest(unittest.TestCase):
    def setUp(self):
        self.env = wxs.Env()
        self.addCleanup(self.env.cleanup)

    def check(self, url, want_url):
        self.env.write_config(store={"url": url})
        path = os.path.join(self.env.dir, "b.dump")
        p = self.env.cli("store", "backup", path, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("PostgreSQL; back it up with pg_dump", p.stderr)
        self.assertIn(f"pg_dump --format=custom --file='{path}' '{want_url}'\n", p.stdout)
        self.assertNotIn("sekrit", p.stdout + p.stderr)
        self.assertFalse(os.path.exists(path))

    def test_conninfo_and_uri_without_password(self):
        base = f"{wxs.PG_URL} dbname={self.env.pg_db}"
        self.check(f"{base} password=sekrit", f"{base}")
        self.check(f"{base} password='se kr\\'it' connect_timeout=5", f"{base} connect_timeout=5")
        kv = dict(part.split("=", 1) for part in wxs.PG_URL.split())
        uri = (f"postgresql://{kv['user']}:sekrit@/{self.env.pg_db}?host={kv['host']}"
               f"&port={kv['port']}")
        self.check(uri, f"postgresql://{kv['user']}@/{self.env.pg_db}?host={kv['host']}"
                        f"&port={kv['port']}")
        self.check(uri + "&password=sekrit", f"postgresql://{kv['user']}@/{self.env.pg_db}"
                                             f"?host={kv['host']}&port={kv['port']}")


if __name__ == "__main__":
    unittest.main()
