"""Configuration errors: exit 2 naming the key and the file line; secrets
from the environment; both binaries' --help and --version."""
import os
import subprocess
import unittest

import wxs


class ConfigTest(unittest.TestCase):
    def setUp(self):
        self.env = wxs.Env()

    def tearDown(self):
        self.env.cleanup()

    def run_both(self, env=None):
        e = dict(os.environ)
        e.update(env or {})
        out = []
        for binary, args in ((wxs.WXSCENED, []), (wxs.WXSCENE, ["channel", "list"])):
            p = subprocess.run([binary, "--config", self.env.config, *args], capture_output=True,
                               text=True, env=e, timeout=20)
            out.append(p)
        return out

    def write(self, text):
        with open(self.env.config, "w") as f:
            f.write(text)

    def base(self):
        return f"[wechat]\ntoken = abc123\n[store]\npath = {self.env.db}\n[server]\nlisten = 127.0.0.1:{self.env.port}\n"

    def assert_config_error(self, text, *needles, env=None):
        self.write(text)
        for p in self.run_both(env):
            self.assertEqual(p.returncode, 2, p.stderr)
            for n in needles:
                self.assertIn(n, p.stderr)

    def test_unknown_key_names_key_and_line(self):
        self.assert_config_error(self.base() + "bogus = 1\n", "wxscene.ini:7:", "[server] bogus", "unknown key")

    def test_unknown_section(self):
        self.assert_config_error(self.base() + "[nope]\nx = 1\n", ":8:", "[nope] x")

    def test_bad_values(self):
        cases = [
            ("max_body_bytes = lots\n", "[server] max_body_bytes"),
            ("max_body_bytes = 10\n", "[server] max_body_bytes"),
            ("timestamp_window = -5\n", "[server] timestamp_window"),
            ("listen2 = x\n", "[server] listen2"),
        ]
        for line, needle in cases:
            with self.subTest(line=line):
                self.assert_config_error(self.base() + line, needle, ":7:")

    def test_token_rules(self):
        self.assert_config_error(f"[wechat]\ntoken = ab\n[store]\npath = {self.env.db}\n", "[wechat] token", ":2:")
        self.assert_config_error(f"[wechat]\ntoken = has-dash\n[store]\npath = {self.env.db}\n",
                                 "[wechat] token", "[A-Za-z0-9]")
        self.assert_config_error(f"[store]\npath = {self.env.db}\n", "[wechat] token", "missing")

    def test_bad_values_checked_after_parsing_name_their_line(self):
        """Rules checked once the whole file is read (token characters, the
        key's alphabet and length, addresses, callback_path, log_level)
        name the file line of the value, like a range error does."""
        db = f"[store]\npath = {self.env.db}\n"
        good_key = "a" * 43
        cases = [
            (f"{db}[wechat]\ntoken = has-dash\n", ":4:", "[wechat] token", "[A-Za-z0-9]"),
            (f"[wechat]\ntoken = abc123\nencoding_aes_key = {'a' * 42}!\n{db}", ":3:",
             "[wechat] encoding_aes_key", "43 characters"),
            (f"[wechat]\ntoken = abc123\nencoding_aes_key = {good_key}\n"
             f"encoding_aes_key_prev = short\n{db}", ":4:", "[wechat] encoding_aes_key_prev"),
            (f"[wechat]\ntoken = abc123\n{db}[server]\n\nlisten = nowhere\n", ":7:", "[server] listen",
             "host:port"),
            (f"[wechat]\ntoken = abc123\n{db}[admin]\nlisten = 1.2.3.4\n", ":6:", "[admin] listen"),
            (f"[wechat]\ntoken = abc123\n{db}[server]\ncallback_path = wx\n", ":6:",
             "[server] callback_path"),
            (f"[wechat]\ntoken = abc123\n{db}[server]\nlog_level = loud\n", ":6:", "[server] log_level"),
            # a key made required by another names the line of that one
            (f"[wechat]\ntoken = abc123\n\nmode = safe\n{db}", ":4:", "[wechat] encoding_aes_key", "required"),
            (f"[wechat]\ntoken = abc123\nmode = compat\nencoding_aes_key = {good_key}\n{db}", ":3:",
             "[wechat] appid", "required"),
        ]
        for text, *needles in cases:
            with self.subTest(needles=needles):
                self.assert_config_error(text, self.env.config + needles[0], *needles[1:])

    def test_bad_values_from_the_environment_name_the_variable(self):
        db = f"[store]\npath = {self.env.db}\n"
        cases = [
            ({"WXSCENE_TOKEN": "bad-token"}, f"[wechat]\ntoken = abc123\n{db}", "environment WXSCENE_TOKEN",
             "[wechat] token"),
            ({"WXSCENE_ENCODING_AES_KEY": "x" * 42 + "!"}, f"[wechat]\ntoken = abc123\n{db}",
             "environment WXSCENE_ENCODING_AES_KEY", "[wechat] encoding_aes_key"),
            ({"WXSCENE_ENCODING_AES_KEY_PREV": "short"}, f"[wechat]\ntoken = abc123\n{db}",
             "environment WXSCENE_ENCODING_AES_KEY_PREV", "[wechat] encoding_aes_key_prev"),
        ]
        for env, text, *needles in cases:
            with self.subTest(env=env):
                self.assert_config_error(text, *needles, env=env)
                for p in self.run_both(env):
                    self.assertNotIn(self.env.config + ":", p.stderr)

    def test_line_too_long_names_its_line_and_key(self):
        """inih reads at most 199 bytes of a line; the rest used to be parsed
        as a line of its own ("syntax error", one line further on)."""
        long_reply = "x" * 300
        self.assert_config_error(self.base() + f"[reply]\nsubscribe = {long_reply}\nunknown_scene = y\n",
                                 "wxscene.ini:8:", "[reply] subscribe", "longer than")

    def test_mode_needs_key(self):
        self.assert_config_error(self.base().replace("token = abc123", "token = abc123\nmode = safe"),
                                 "[wechat] encoding_aes_key", "required")
        self.assert_config_error(self.base().replace("token = abc123", "token = abc123\nmode = fancy"),
                                 "[wechat] mode", ":3:")
        self.assert_config_error(self.base().replace("token = abc123", "token = abc123\nencoding_aes_key = short"),
                                 "[wechat] encoding_aes_key")

    def test_duplicate_key(self):
        self.assert_config_error(self.base() + "listen = 127.0.0.1:1\n", ":7:", "set twice")

    def test_missing_file(self):
        p = subprocess.run([wxs.WXSCENED, "--config", "/nonexistent/x.ini"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("/nonexistent/x.ini", p.stderr)

    def test_token_from_environment(self):
        self.write(f"[store]\npath = {self.env.db}\n[server]\nlisten = 127.0.0.1:{self.env.port}\n")
        p = subprocess.run([wxs.WXSCENE, "--config", self.env.config, "channel", "list"], capture_output=True,
                           text=True, env=dict(os.environ, WXSCENE_TOKEN="fromenv1"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.env.token = "fromenv1"
        self.env.start_server(env={"WXSCENE_TOKEN": "fromenv1"})
        r = self.env.push(wxs.event_xml("oEnv", 1700000000, "subscribe"))
        self.assertEqual(r.status, 200)
        self.assertEqual(self.env.push(wxs.event_xml("oEnv", 1700000001, "subscribe"),
                                       query=wxs.signed_query("abc123")).status, 401)
        self.assertEqual(self.env.stop_server(), 0)

    def test_store_backend_and_url(self):
        """[store] backend picks the store; postgresql needs a url (from
        the file or WXSCENE_STORE_URL), and a failed connection is a clear
        runtime error that never shows the url's password."""
        text = f"[wechat]\ntoken = abc123\n[store]\nbackend = mysql\n"
        self.assert_config_error(text, ":4:", "[store] backend", "'mysql' is not sqlite or postgresql")
        text = f"[wechat]\ntoken = abc123\n[store]\nbackend = postgresql\n"
        self.assert_config_error(text, ":4:", "[store] url", "required when backend is postgresql")
        # From the environment: no server listens on that socket directory.
        url = f"host={self.env.dir} port=1 user=wxs password=sekret-pw dbname=wxscene"
        self.write(text)
        for p in self.run_both(env={"WXSCENE_STORE_URL": url}):
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("postgresql", p.stderr)
            self.assertIn("wxscene", p.stderr)  # the database it could not reach
            self.assertNotIn("sekret-pw", p.stderr)

    def test_env_config_path_and_help_version(self):
        p = subprocess.run([wxs.WXSCENE, "channel", "list"], capture_output=True, text=True,
                           env=dict(os.environ, WXSCENE_CONFIG=self.env.config))
        self.assertEqual(p.returncode, 0, p.stderr)
        for b in (wxs.WXSCENED, wxs.WXSCENE):
            for flag in ("--help", "--version"):
                p = subprocess.run([b, flag], capture_output=True, text=True)
                self.assertEqual(p.returncode, 0)
                self.assertTrue(p.stdout.strip())
            p = subprocess.run([b, "--bogus"], capture_output=True, text=True)
            self.assertEqual(p.returncode, 2)

    def test_example_config_is_valid_and_complete(self):
        """etc/wxscene.ini.example lists every key with its default: it loads once
        the two placeholders are filled, and a placeholder left in is an error."""
        with open(os.path.join(wxs.SRC, "etc", "wxscene.ini.example")) as f:
            text = f.read()
        filled = (text.replace("CHANGE_ME_TOKEN", "abc123").replace("CHANGE_ME_ADMIN", "adm")
                  .replace("path = var/wxscene.db", f"path = {self.env.db}"))
        self.write(filled)
        p = subprocess.run([wxs.WXSCENE, "--config", self.env.config, "channel", "list"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.write(text.replace("path = var/wxscene.db", f"path = {self.env.db}"))
        p = subprocess.run([wxs.WXSCENE, "--config", self.env.config, "channel", "list"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 2)
        self.assertIn("[wechat] token", p.stderr)

    def test_listen_port_in_use_is_runtime_error(self):
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", self.env.port))
            s.listen()
            p = subprocess.run([wxs.WXSCENED, "--config", self.env.config], capture_output=True, text=True,
                               timeout=20)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot bind", p.stderr)


class ChannelCliTest(unittest.TestCase):
    def setUp(self):
        self.env = wxs.Env()

    def tearDown(self):
        self.env.cleanup()

    def csv(self, text):
        path = os.path.join(self.env.dir, "ch.csv")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def test_add_list_formats(self):
        e = self.env
        e.cli("channel", "add", "42", "--name", "Store 42", "--promoter", "Li", "--tag", "store42")
        e.cli("channel", "add", "shop,a", "--name", 'Quote "q"')
        import csv
        import io
        import json
        rows = json.loads(e.cli("channel", "list", "--format", "json").stdout)
        self.assertEqual([(r["scene"], r["name"], r["promoter"]) for r in rows],
                         [("42", "Store 42", "Li"), ("shop,a", 'Quote "q"', None)])
        got = list(csv.reader(io.StringIO(e.cli("channel", "list", "--format", "csv").stdout)))
        self.assertEqual(got[0], ["scene", "name", "promoter", "reply", "scan_reply", "tag"])
        self.assertEqual(got[2][:2], ["shop,a", 'Quote "q"'])
        self.assertIn("Store 42", e.cli("channel", "list").stdout)

    def test_add_errors(self):
        e = self.env
        e.cli("channel", "add", "42", "--name", "A")
        p = e.cli("channel", "add", "42", "--name", "B", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("exists", p.stderr)
        p = e.cli("channel", "add", "4294967296", "--name", "B", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("scene", p.stderr)
        p = e.cli("channel", "add", "x" * 65, "--name", "B", check=False)
        self.assertEqual(p.returncode, 2)
        p = e.cli("channel", "add", "43", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage", p.stderr)

    def test_import_all_or_nothing(self):
        e = self.env
        bad = self.csv("scene,name,promoter,reply,scan_reply,tag\n"
                       "1,One,Li,Hi,,t1\n"
                       "2,,Li,Hi,,\n"
                       '"3","Three, Inc","Wang","multi\nline",,\n'
                       "4,Four,,,,,extra\n"
                       "5,Five,,,,this-tag-name-is-way-longer-than-thirty-bytes\n")
        p = e.cli("channel", "import", bad, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("ch.csv:3: name", p.stderr)
        self.assertIn("ch.csv:6: 7 columns, the header names 6", p.stderr)
        self.assertIn("ch.csv:7: tag", p.stderr)
        self.assertIn("nothing imported", p.stderr)
        self.assertEqual(e.sql("SELECT count(*) FROM channels"), [(0,)])
        good = self.csv("\ufeffscene,name,promoter,reply,scan_reply\n1,One,Li,Hi,\n"
                        '"3","Three, Inc","Wang","multi\nline",\n')
        p = e.cli("channel", "import", good)
        self.assertIn("imported 2", p.stdout)
        self.assertEqual(e.sql("SELECT scene, name, reply FROM channels ORDER BY scene"),
                         [("1", "One", "Hi"), ("3", "Three, Inc", "multi\nline")])
        # a row clashing with the database aborts the whole import
        clash = self.csv("scene,name,promoter,reply,scan_reply\n7,Seven,,,\n1,Again,,,\n")
        p = e.cli("channel", "import", clash, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("exists", p.stderr)
        self.assertEqual(e.sql("SELECT count(*) FROM channels"), [(2,)])

    def test_import_duplicate_scene_in_file(self):
        p = self.env.cli("channel", "import", self.csv("9,A,,,\n9,B,,,\n"), check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn(":2: scene: 9 appears twice", p.stderr)


if __name__ == "__main__":
    unittest.main()
