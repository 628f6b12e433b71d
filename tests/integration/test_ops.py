"""Operations: paths relative to the config file, file permissions and the
store's owner, placeholder secrets, SIGHUP reloads, the startup and request
log, the operational metrics."""
import os
import json
import pwd
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import time
import unittest

import wxs

sys.path.insert(0, os.path.join(wxs.SRC, "tests", "fakes"))
import fake_wechat  # noqa: E402


class RelativePathTest(unittest.TestCase):
    def setUp(self):
        self.env = wxs.Env()

    def tearDown(self):
        self.env.cleanup()

    @wxs.sqlite_only("[store] path is a SQLite file")
    def test_relative_store_path_is_relative_to_the_config_directory(self):
        """`wxscene --config /srv/x/wxscene.ini` run from elsewhere opens
        /srv/x/var/wxscene.db, not ./var/wxscene.db of the cwd."""
        e = self.env
        e.write_config(store={"path": "var/wxscene.db"})
        os.mkdir(os.path.join(e.dir, "var"))
        cwd = os.path.join(e.dir, "elsewhere")
        os.mkdir(cwd)
        p = subprocess.run([wxs.WXSCENE, "--config", e.config, "channel", "add", "42", "--name", "S"],
                           cwd=cwd, capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.exists(os.path.join(e.dir, "var", "wxscene.db")))
        self.assertFalse(os.path.exists(os.path.join(cwd, "var")))
        # a relative --config too: its directory, not the cwd
        p = subprocess.run([wxs.WXSCENE, "--config", os.path.join("..", "wxscene.ini"), "channel", "list"],
                           cwd=cwd, capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("42", p.stdout)
        self.assertFalse(os.path.exists(os.path.join(cwd, "var")))
        # and the server from yet another directory
        e.proc = None
        e.logf = open(e.log, "ab")
        e.proc = subprocess.Popen([wxs.WXSCENED, "--config", e.config], cwd="/",
                                  stdout=e.logf, stderr=subprocess.STDOUT)
        e.wait_ready()
        r = e.push(wxs.event_xml("oREL", 1700000000, "subscribe", "qrscene_42"))
        self.assertEqual(r.status, 200)
        e.db = os.path.join(e.dir, "var", "wxscene.db")
        self.assertEqual(e.sql("SELECT count(*) FROM events"), [(1,)])



def as_nobody():
    """preexec_fn: run the child as nobody (the tests run as root, who
    bypasses file modes)."""
    nobody = pwd.getpwnam("nobody")
    os.setgroups([])
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)


@wxs.sqlite_only("the SQLite file's mode and owner")
class PermissionTest(unittest.TestCase):
    def setUp(self):
        self.env = wxs.Env()
        os.chmod(self.env.dir, 0o755)  # nobody may reach the config
        os.chmod(self.env.config, 0o644)

    def tearDown(self):
        self.env.cleanup()

    def mode(self, path):
        return stat.S_IMODE(os.stat(path).st_mode)

    def test_database_wal_and_shm_are_created_0600(self):
        e = self.env
        os.umask(0o022)
        e.start_server()
        self.assertEqual(e.push(wxs.event_xml("oP", 1700000000, "subscribe", "qrscene_1")).status, 200)
        for f in (e.db, e.db + "-wal", e.db + "-shm"):
            self.assertEqual(self.mode(f), 0o600, f)

    def start_as_nobody(self):
        e = self.env
        e.start_server(wait=False, preexec_fn=as_nobody, env={"ASAN_OPTIONS": "detect_leaks=0"})
        rc = e.proc.wait(timeout=30)
        e.proc = None
        e.logf.close()
        return rc, e.server_log()

    def test_store_it_cannot_write_stops_the_server_naming_file_owner_and_user(self):
        e = self.env
        e.cli("channel", "list")  # creates the database, owned by root
        for mode in (0o644, 0o600):
            with self.subTest(mode=oct(mode)):
                os.chmod(e.db, mode)
                rc, log = self.start_as_nobody()
                self.assertEqual(rc, 1, log)
                self.assertIn(e.db, log)
                self.assertIn("owner root (uid 0)", log)
                self.assertIn("running as nobody", log)
                self.assertNotIn("not an error", log)

    def test_a_wal_it_cannot_write_is_named(self):
        e = self.env
        e.cli("channel", "list")
        nobody = pwd.getpwnam("nobody")
        os.chown(e.db, nobody.pw_uid, nobody.pw_gid)
        os.chown(e.dir, nobody.pw_uid, nobody.pw_gid)
        with open(e.db + "-wal", "wb"):
            pass
        os.chmod(e.db + "-wal", 0o600)  # root's
        rc, log = self.start_as_nobody()
        self.assertEqual(rc, 1, log)
        self.assertIn(e.db + "-wal: cannot write", log)

    def test_cli_warns_once_when_not_the_database_owner(self):
        e = self.env
        p = e.cli("channel", "list")
        self.assertNotIn("warning", p.stderr)
        nobody = pwd.getpwnam("nobody")
        os.chown(e.db, nobody.pw_uid, nobody.pw_gid)
        p = e.cli("channel", "list")
        self.assertEqual(p.stderr.count("warning"), 1, p.stderr)
        self.assertIn(f"{e.db} belongs to nobody", p.stderr)
        self.assertIn("runs as root", p.stderr)



class SecretPlaceholderTest(unittest.TestCase):
    def setUp(self):
        self.env = wxs.Env()

    def tearDown(self):
        self.env.cleanup()

    def write(self, text, mode=0o640):
        with open(self.env.config, "w") as f:
            f.write(text)
        os.chmod(self.env.config, mode)

    def run_both(self, env=None):
        out = []
        for binary, args in ((wxs.WXSCENED, []), (wxs.WXSCENE, ["channel", "list"])):
            out.append(subprocess.run([binary, "--config", self.env.config, *args], capture_output=True,
                                      text=True, env=dict(os.environ, **(env or {})), timeout=30))
        return out

    def base(self):
        return (f"[server]\nlisten = 127.0.0.1:{self.env.port}\n[store]\npath = {self.env.db}\n"
                f"[admin]\nlisten = 127.0.0.1:{self.env.admin_port}\n")

    def test_every_example_placeholder_is_refused_naming_key_and_line(self):
        cases = [
            ("[wechat]\ntoken = CHANGE_ME_TOKEN\n", "[wechat] token"),
            ("[wechat]\ntoken = abc123\n[admin]\ntoken = CHANGE_ME_ADMIN\n", "[admin] token"),
            ("[wechat]\ntoken = abc123\nappsecret = CHANGE_ME_APPSECRET\n", "[wechat] appsecret"),
            ("[wechat]\ntoken = abc123\nencoding_aes_key = CHANGE_ME_AES_KEY\n", "[wechat] encoding_aes_key"),
            ("[wechat]\ntoken = abc123\nencoding_aes_key_prev = change_me\n",
             "[wechat] encoding_aes_key_prev"),
        ]
        for text, key in cases:
            with self.subTest(key=key):
                self.write(self.base() + text)
                line = len((self.base() + text).splitlines())
                for p in self.run_both():
                    self.assertEqual(p.returncode, 2, p.stderr)
                    self.assertIn(f"wxscene.ini:{line}: {key}: ", p.stderr)
                    self.assertIn("placeholder", p.stderr)
        self.write(self.base() + "[wechat]\ntoken = abc123\n")
        p = self.run_both(env={"WXSCENE_ADMIN_TOKEN": "CHANGE_ME_ADMIN"})[1]
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("environment WXSCENE_ADMIN_TOKEN ([admin] token)", p.stderr)

    def test_the_example_file_with_only_the_token_filled_is_refused_for_the_admin_token(self):
        with open(os.path.join(wxs.SRC, "etc", "wxscene.ini.example")) as f:
            text = f.read()
        self.write(text.replace("CHANGE_ME_TOKEN", "abc123").replace("path = var/wxscene.db",
                                                                     f"path = {self.env.db}"))
        p = self.run_both()[1]
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("[admin] token", p.stderr)
        self.assertIn("CHANGE_ME_ADMIN", p.stderr)

    def cli(self, env=None):
        return subprocess.run([wxs.WXSCENE, "--config", self.env.config, "channel", "list"],
                              capture_output=True, text=True, env=dict(os.environ, **(env or {})),
                              timeout=30)

    def test_world_readable_config_with_a_secret_warns_naming_it(self):
        self.write(self.base() + "[wechat]\ntoken = abc123\n", mode=0o644)
        p = self.cli()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr.count("readable by every user"), 1, p.stderr)
        self.assertIn("[wechat] token on line 8", p.stderr)
        self.assertIn("WXSCENE_TOKEN", p.stderr)
        self.env.start_server()
        self.env.stop_server()
        self.assertEqual(self.env.server_log().count("readable by every user"), 1, self.env.server_log())
        self.write(self.base() + "[wechat]\ntoken = abc123\n", mode=0o640)
        self.assertNotIn("readable", self.cli().stderr)
        # no secret in the file (the token from the environment): nothing to say
        self.write(self.base(), mode=0o644)
        p = self.cli(env={"WXSCENE_TOKEN": "abc123"})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("readable", p.stderr)



def content_of(r):
    body = r.body.decode()
    if body == "success":
        return "success"
    start = body.index("<Content><![CDATA[") + len("<Content><![CDATA[")
    return body[start:body.index("]]></Content>")]


class ReloadTest(unittest.TestCase):
    def setUp(self):
        self.env = wxs.Env()
        self.t = 1700000000

    def tearDown(self):
        self.env.cleanup()

    def reply(self, scene="77"):
        self.t += 1
        r = self.env.push(wxs.event_xml("oHUP", self.t, "SCAN", scene))
        self.assertEqual(r.status, 200, r)
        return content_of(r)

    def hup_and_wait(self, needle):
        before = self.env.server_log().count(needle)
        self.env.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while self.env.server_log().count(needle) == before:
            self.assertIsNone(self.env.proc.poll(), self.env.server_log())
            self.assertLess(time.time(), deadline, self.env.server_log())
            time.sleep(0.05)

    def test_sighup_reloads_replies_and_log_level_keeps_running(self):
        e = self.env
        e.start_server()
        self.assertEqual(self.reply(), "Welcome from channel 77")
        e.write_config(reply={"unknown_scene": "Hello again {scene}"}, server={"log_level": "debug"})
        self.hup_and_wait("SIGHUP: reloaded")
        self.assertIsNone(e.proc.poll())
        self.assertIn("[server] log_level, [reply] unknown_scene", e.server_log())
        self.assertEqual(self.reply(), "Hello again 77")
        # a broken config keeps the running one and says why
        with open(e.config, "a") as f:
            f.write("bogus = 1\n")
        self.hup_and_wait("keeping the running configuration")
        self.assertIn("[admin] bogus: unknown key", e.server_log())
        self.assertEqual(self.reply(), "Hello again 77")
        # a key that needs a restart is named, the rest still applies
        e.write_config(reply={"unknown_scene": "Third {scene}"},
                       server={"request_timeout": "7", "log_level": "warn"})
        self.hup_and_wait("a restart applies it")
        self.assertIn("SIGHUP: [server] request_timeout changed", e.server_log())
        self.assertEqual(self.reply(), "Third 77")
        n = e.server_log().count("POST /wx 200")
        self.assertGreater(n, 0, e.server_log())
        self.reply()
        self.assertEqual(e.server_log().count("POST /wx 200"), n, "log_level = warn not applied")
        self.assertEqual(e.stop_server(), 0, e.server_log())

    def test_log_file_relative_to_the_config_and_reopened_on_sighup(self):
        """logrotate: move the file away, SIGHUP, and the server writes a new
        one at the configured path (relative to the config's directory)."""
        e = self.env
        e.write_config(server={"log_file": "wxscened.log"})
        e.logf = open(e.log, "ab")
        e.proc = subprocess.Popen([wxs.WXSCENED, "--config", e.config], cwd="/",
                                  stdout=e.logf, stderr=subprocess.STDOUT)
        e.wait_ready()
        path = os.path.join(e.dir, "wxscened.log")
        self.reply()
        time.sleep(0.2)
        with open(path) as f:
            first = f.read()
        self.assertIn("callback listener on", first)
        self.assertIn("POST /wx 200", first)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode) & 0o007, 0)
        os.rename(path, path + ".1")
        e.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while not os.path.exists(path):
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)
        self.reply()
        time.sleep(0.2)
        with open(path) as f:
            second = f.read()
        self.assertIn("SIGHUP: reloaded", second)
        self.assertIn("POST /wx 200", second)
        with open(path + ".1") as f:
            self.assertNotIn("SIGHUP", f.read())
        self.assertEqual(e.stop_server(), 0)


class ClientAddressLogTest(unittest.TestCase):
    def setUp(self):
        self.env = wxs.Env()
        self.t = 1700000000

    def tearDown(self):
        self.env.cleanup()

    def push_with(self, headers):
        self.t += 1
        q = wxs.signed_query(self.env.token)
        r = wxs.request(self.env.port, "POST", f"/wx?{q}",
                        body=wxs.event_xml(f"oC{self.t}", self.t, "subscribe").encode(),
                        headers=dict({"Content-Type": "text/xml"}, **headers))
        self.assertEqual(r.status, 200)
        return self.last_request_line()

    def last_request_line(self):
        deadline = time.time() + 5
        while time.time() < deadline:
            lines = [l for l in self.env.server_log().splitlines() if "POST /wx 200" in l]
            if len(lines) > getattr(self, "seen", 0):
                self.seen = len(lines)
                return lines[-1]
            time.sleep(0.02)
        self.fail(self.env.server_log())

    def test_startup_log_names_both_listeners(self):
        e = self.env
        e.start_server()
        log = e.server_log()
        self.assertIn(f"callback listener on 127.0.0.1:{e.port}/wx", log)
        self.assertIn(f"admin listener on 127.0.0.1:{e.admin_port}", log)

    def test_client_address_from_a_trusted_proxy_only(self):
        e = self.env
        e.start_server()  # default trusted_proxies: 127.0.0.1 ::1
        self.assertTrue(self.push_with({}).endswith(" client 127.0.0.1"))
        self.assertTrue(self.push_with({"X-Real-IP": "203.0.113.7"}).endswith(" client 203.0.113.7"))
        self.assertTrue(self.push_with({"X-Forwarded-For": "198.51.100.9, 127.0.0.1"})
                        .endswith(" client 198.51.100.9"))
        self.assertTrue(self.push_with({"X-Forwarded-For": "10.9.9.9, 198.51.100.9"})
                        .endswith(" client 198.51.100.9"))
        self.assertTrue(self.push_with({"X-Real-IP": "evil\x1b[31m text"}).endswith(" client 127.0.0.1"))
        self.assertTrue(self.push_with({"X-Real-IP": "2001:db8::1"}).endswith(" client 2001:db8::1"))
        e.stop_server()
        e.write_config(server={"trusted_proxies": "10.0.0.0/8, fd00::/8"})
        e.start_server()
        self.seen = 0
        self.assertTrue(self.push_with({"X-Real-IP": "203.0.113.7"}).endswith(" client 127.0.0.1"))

    def test_bad_trusted_proxies_is_a_config_error(self):
        e = self.env
        e.write_config(server={"trusted_proxies": "127.0.0.1 10.0.0.0/33"})
        p = e.cli("channel", "list", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("[server] trusted_proxies: '10.0.0.0/33'", p.stderr)



class OpsMetricsTest(unittest.TestCase):
    APPID, SECRET = "wx0123456789abcdef", "0123456789abcdef0123456789abcdef"

    def setUp(self):
        self.fake = fake_wechat.Fake(appid=self.APPID, secret=self.SECRET).start()
        self.addCleanup(self.fake.stop)
        self.env = wxs.Env()
        self.addCleanup(self.env.cleanup)

    def metrics(self):
        r = wxs.request(self.env.admin_port, "GET", "/metrics")
        self.assertEqual(r.status, 200)
        out = {}
        for line in r.text.splitlines():
            m = re.match(r"^([a-z_]+(?:\{[^}]*\})?) (\S+)$", line)
            if m:
                out[m.group(1)] = float(m.group(2))
        return out

    def qr(self):
        r = wxs.request(self.env.admin_port, "POST", "/api/qrcodes",
                        body=json.dumps({"scene": 42, "kind": "temp", "expire_seconds": 600}).encode(),
                        headers={"Content-Type": "application/json", "Authorization": "Bearer admintoken"},
                        timeout=30)
        return r.status

    def test_build_info_tag_queue_store_size_and_token_counters(self):
        e = self.env
        e.write_config(wechat={"appid": self.APPID, "appsecret": self.SECRET, "api_base": self.fake.url,
                               "mp_base": self.fake.url, "api_timeout": 5},
                       tag={"worker": "false"})
        e.cli("channel", "add", "7", "--name", "Seven", "--tag", "seven")
        e.start_server()
        for i in range(3):
            self.assertEqual(e.push(wxs.event_xml(f"oM{i}", 1700000000 + i, "subscribe", "qrscene_7")).status, 200)
        e.sql("UPDATE tag_outbox SET state = 'parked' WHERE id = (SELECT min(id) FROM tag_outbox)")
        m = self.metrics()
        self.assertIn('wxscene_build_info{version="0.1.0",backend="%s",mode="plain"}' % wxs.BACKEND, m)
        self.assertEqual(m['wxscene_build_info{version="0.1.0",backend="%s",mode="plain"}' % wxs.BACKEND], 1)
        self.assertEqual(m["wxscene_tag_queue_pending"], 2)
        self.assertEqual(m["wxscene_tag_queue_parked"], 1)
        if not wxs.ON_PG:
            con = sqlite3.connect(e.db)
            pages = con.execute("PRAGMA page_count").fetchone()[0] * con.execute("PRAGMA page_size").fetchone()[0]
            con.close()
            self.assertEqual(m["wxscene_store_size_bytes"], pages)
        self.assertGreater(m["wxscene_store_size_bytes"], 0)
        self.assertEqual(m["wxscene_token_refreshes_total"], 0)
        self.assertEqual(self.qr(), 201)
        m = self.metrics()
        self.assertEqual(m["wxscene_token_refreshes_total"], 1)
        self.assertEqual(m["wxscene_token_refresh_failures_total"], 0)

    def test_token_refresh_failures_are_counted(self):
        e = self.env
        e.write_config(wechat={"appid": self.APPID, "appsecret": "wrongsecret", "api_base": self.fake.url,
                               "mp_base": self.fake.url, "api_timeout": 5})
        e.start_server()
        self.assertNotEqual(self.qr(), 201)
        m = self.metrics()
        self.assertEqual(m["wxscene_token_refresh_failures_total"], 1)
        self.assertEqual(m["wxscene_token_refreshes_total"], 0)


if __name__ == "__main__":
    unittest.main()
