"""qr create / batch / list / perm-ids / archive: the real wxscene binary
against the fake WeChat API (tests/fakes/fake_wechat.py) on loopback, with a
real SQLite database. Images are decoded with zbarimg (Debian zbar-tools)."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
import unittest

import wxs

sys.path.insert(0, os.path.join(wxs.SRC, "tests", "fakes"))
import fake_wechat  # noqa: E402

APPID = "wx0123456789abcdef"
SECRET = "0123456789abcdef0123456789abcdef"


def zbar(path):
    p = subprocess.run(["zbarimg", "-q", "--raw", path], capture_output=True, text=True,
                       timeout=30)
    return p.stdout.strip()


class QrTestCase(unittest.TestCase):
    """A fresh config, database and fake per test."""

    extra_wechat = {}

    def setUp(self):
        self.fake = fake_wechat.Fake(appid=APPID, secret=SECRET).start()
        self.addCleanup(self.fake.stop)
        self.env = wxs.Env()
        self.addCleanup(self.env.cleanup)
        self.configure()

    def configure(self, **wechat):
        kv = {"appid": APPID, "appsecret": SECRET, "api_base": self.fake.url,
              "mp_base": self.fake.url, "api_timeout": 5}
        kv.update(self.extra_wechat)
        kv.update(wechat)
        self.env.write_config(wechat=kv)

    def qr(self, *args, check=True, **kw):
        p = self.env.cli("qr", *args, check=False, **kw)
        if p.returncode == 2 and "unknown verb 'qr'" in p.stderr:
            self.fail("wxscene has no qr verb: main_wxscene.c verbs[] needs {\"qr\", cli_qr, ...}")
        if check and p.returncode != 0:
            self.fail(f"wxscene qr {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def path(self, name):
        return os.path.join(self.env.dir, name)

    def codes(self, where="true", *args):
        return self.env.sql("SELECT scene, kind, expire_seconds, state, ticket, url, expires_at, "
                            f"batch FROM qr_codes WHERE {where} ORDER BY id", *args)

    def creates(self):
        """qrcode/create request bodies, in order."""
        return [json.loads(e["body"]) for e in self.fake.calls()["log"]
                if e["endpoint"] == "cgi-bin/qrcode/create"]


class TestCreate(QrTestCase):
    def test_temp_png_decodes_to_the_url(self):
        out = self.path("shop.png")
        p = self.qr("create", "42", "--temp", "600", "--out", out, "--name", "Shop 42")
        [(scene, kind, exp, state, ticket, url, expires_at, _)] = self.codes()
        self.assertEqual((scene, kind, exp, state), ("42", "temp_id", 600, "done"))
        self.assertTrue(url.startswith("http://weixin.qq.com/q/"), url)  # "\/" unescaped
        self.assertAlmostEqual(expires_at, time.time() + 600, delta=30)
        self.assertIn(url, p.stdout)
        self.assertEqual(zbar(out), url)
        self.assertEqual(self.env.sql("SELECT name FROM channels WHERE scene = '42'"),
                         [("Shop 42",)])
        self.assertIn("channel  Shop 42", p.stdout)
        p = self.qr("create", "43", "--temp", "60")
        self.assertIn("wxscene channel add 43 --name NAME", p.stdout)

    def test_four_kinds_send_explicit_bodies(self):
        self.qr("create", "4294967295", "--temp", "7d")
        self.qr("create", "promo-a", "--temp", "60")
        self.qr("create", "100000", "--perm")
        self.qr("create", "007", "--perm")  # leading zero: a scene_str by the CONTRACT
        self.qr("create", "55", "--perm", "--str")
        want = [
            {"action_name": "QR_SCENE", "expire_seconds": 604800,
             "action_info": {"scene": {"scene_id": 4294967295}}},
            {"action_name": "QR_STR_SCENE", "expire_seconds": 60,
             "action_info": {"scene": {"scene_str": "promo-a"}}},
            {"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 100000}}},
            {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "007"}}},
            {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "55"}}},
        ]
        self.assertEqual(self.creates(), want)
        kinds = [r[1] for r in self.codes()]
        self.assertEqual(kinds, ["temp_id", "temp_str", "perm_id", "perm_str", "perm_str"])

    def test_validation_table_no_api_call(self):
        cases = [
            (["4294967296", "--temp", "60"], "out of range"),
            (["100001", "--perm"], "1..100000"),
            (["x" * 65, "--perm"], "65 bytes"),
            (["a b", "--temp", "60"], "blank"),
            (["42", "--temp", "0"], "--temp"),
            (["42", "--temp", "2592001"], "--temp"),
            (["42", "--temp", "31d"], "--temp"),
            (["42", "--temp", "-5"], "--temp"),
            (["42", "--temp", "abc"], "--temp"),
            (["42", "--temp", "60", "--perm"], "exclude"),
            (["42"], "usage"),
            (["42", "--perm", "--out", self.path("x.gif")], ".png, .svg or .jpg"),
            (["--alloc", "--temp", "60"], "only permanent"),
            (["9", "--perm", "--alloc"], "usage"),
            (["--perm", "--alloc", "--str"], "scene_str"),
            (["42", "--temp", "60", "--promoter", "Li"], "--promoter needs --name"),
        ]
        for args, needle in cases:
            with self.subTest(args=args):
                p = self.qr("create", *args, check=False)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn(needle, p.stderr)
        p = self.qr("create", os.fsdecode(b"\xff\xfe"), "--temp", "60", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("UTF-8", p.stderr)
        self.assertEqual(self.fake.calls()["counts"], {})  # not even a token
        self.assertEqual(self.codes(), [])

    def test_missing_credentials_is_a_config_error(self):
        self.configure(appsecret="")
        p = self.qr("create", "42", "--temp", "60", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("[wechat] appsecret is empty", p.stderr)
        self.assertEqual(self.fake.calls()["counts"], {})

    def test_ticket_is_percent_encoded_for_showqrcode(self):
        out = self.path("code.jpg")
        self.qr("create", "7", "--temp", "60", "--out", out)
        [(_, _, _, _, ticket, url, _, _)] = self.codes()
        self.assertTrue(any(c in ticket for c in "+/="), ticket)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), fake_wechat.jpeg_for(url))
        [show] = [e for e in self.fake.calls()["log"] if e["endpoint"] == "cgi-bin/showqrcode"]
        self.assertEqual(show["query"]["ticket"], ticket)

    def test_svg_and_image_of_existing_code(self):
        self.qr("create", "8", "--temp", "60")
        svg = self.path("c.svg")
        png = self.path("c.png")
        self.qr("image", "8", "--out", svg)
        self.qr("image", "8", "--out", png, "--scale", "4")
        with open(svg) as f:
            self.assertIn("<svg", f.read())
        [(_, _, _, _, _, url, _, _)] = self.codes()
        self.assertEqual(zbar(png), url)
        self.assertEqual(self.fake.count("cgi-bin/qrcode/create"), 1)
        p = self.qr("image", "nope", "--out", png, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no code", p.stderr)

    def test_permanent_code_is_not_asked_twice(self):
        self.qr("create", "9", "--perm")
        p = self.qr("create", "9", "--perm")
        self.assertIn("existed already", p.stdout)
        self.assertEqual(self.fake.count("cgi-bin/qrcode/create"), 1)
        self.assertIn("99999 permanent codes", p.stdout)

    def test_json_output(self):
        p = self.qr("create", "10", "--temp", "1h", "--json")
        o = json.loads(p.stdout)
        self.assertEqual((o["scene"], o["kind"], o["expire_seconds"]), ("10", "temp_id", 3600))
        self.assertTrue(o["url"].startswith("http://"))


class TestErrors(QrTestCase):
    def test_busy_is_retried(self):
        self.fake.fault("cgi-bin/qrcode/create", errcode=-1, times=2)
        self.qr("create", "42", "--temp", "60")
        self.assertEqual(self.fake.count("cgi-bin/qrcode/create"), 3)

    def test_busy_retries_are_bounded(self):
        self.fake.fault("cgi-bin/qrcode/create", errcode=-1, times=10)
        p = self.qr("create", "42", "--temp", "60", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("WeChat error -1", p.stderr)
        self.assertEqual(self.fake.count("cgi-bin/qrcode/create"), 3)
        self.assertEqual(self.codes(), [])  # a failed single create leaves nothing

    def test_40053_reported_by_code(self):
        self.fake.fault("cgi-bin/qrcode/create", errcode=40053,
                        errmsg="invalid action info, please check document")
        p = self.qr("create", "42", "--temp", "60", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("40053", p.stderr)
        self.assertIn("rid:", p.stderr)
        self.assertEqual(self.fake.count("cgi-bin/qrcode/create"), 1)

    def test_45009_on_token_reported_clearly(self):
        self.fake.fault("cgi-bin/token", errcode=45009, errmsg="reach max api daily quota limit")
        p = self.qr("create", "42", "--temp", "60", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("45009", p.stderr)
        self.assertIn("quota", p.stderr)
        self.assertEqual(self.fake.count("cgi-bin/token"), 1)
        self.assertEqual(self.fake.count("cgi-bin/qrcode/create"), 0)
        self.qr("create", "42", "--temp", "60")  # the next run fetches again and works

    def test_invalid_json(self):
        self.fake.fault("cgi-bin/qrcode/create", invalid_json=True)
        p = self.qr("create", "42", "--temp", "60", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not a JSON object", p.stderr)

    def test_slow_answer_times_out(self):
        self.configure(api_timeout=1)
        self.qr("create", "1", "--temp", "60")  # token cached
        self.fake.fault("cgi-bin/qrcode/create", slow=4)
        t0 = time.time()
        p = self.qr("create", "42", "--temp", "60", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("imeout", p.stderr)
        self.assertLess(time.time() - t0, 3.5)
        self.fake.release()

    def test_expired_token_42001_refreshed_once(self):
        self.qr("create", "1", "--temp", "60")
        self.fake.expire()
        self.qr("create", "2", "--temp", "60")
        self.assertEqual(self.fake.count("cgi-bin/token"), 2)
        self.assertEqual(self.fake.count("cgi-bin/qrcode/create"), 3)

    def test_token_error_after_refresh_is_not_a_loop(self):
        self.qr("create", "1", "--temp", "60")
        self.fake.fault("cgi-bin/qrcode/create", errcode=40001, times=5)
        p = self.qr("create", "2", "--temp", "60", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("40001", p.stderr)
        self.assertEqual(self.fake.count("cgi-bin/token"), 2)  # one refresh, then give up
        self.assertEqual(self.fake.count("cgi-bin/qrcode/create"), 3)


class TestTicket(QrTestCase):
    """The ticket is WeChat's value: the same code asked again legitimately
    comes back with the same ticket; a ticket of another scene is refused by
    name, never as a bare database error."""

    def test_same_permanent_code_asked_again_is_stored(self):
        # a batch stops with its call for 700 unanswered (the intent stays) ...
        path = self.path("b.csv")
        with open(path, "w") as f:
            f.write("scene,name,promoter,kind,expire\n700,Shop 700,,perm,\n")
        out = self.path("out")
        self.fake.fault("cgi-bin/qrcode/create", errcode=-1, times=3)
        self.assertEqual(self.qr("batch", path, "--out", out, check=False).returncode, 1)
        # ... 700 is created on its own meanwhile, then the batch resumes and
        # re-sends its call: WeChat answers the same code, same ticket
        alone = self.qr("create", "700", "--perm", "--json")
        ticket = json.loads(alone.stdout)["ticket"]
        p = self.qr("batch", path, "--out", out)
        self.assertIn("1 created (1 re-sent", p.stdout)
        rows = self.codes("scene = '700'")
        self.assertEqual([(r[3], r[4]) for r in rows], [("done", ticket), ("done", ticket)])
        with open(os.path.join(out, "index.csv"), newline="", encoding="utf-8-sig") as f:
            [row] = list(csv.DictReader(f))
        # a ticket is base64: one starting with '+' is formula-guarded like
        # any other cell a spreadsheet would evaluate (csv_field)
        self.assertEqual(row["ticket"], "'" + ticket if ticket[0] in "=+-@" else ticket)

    def test_ticket_of_another_scene_is_a_named_conflict(self):
        self.qr("create", "1", "--temp", "60")
        [(_, _, _, _, t1, _, _, _)] = self.codes()
        self.fake.fault("cgi-bin/qrcode/create", ticket=t1)
        p = self.qr("create", "2", "--temp", "60", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertNotIn("not an error", p.stderr)
        self.assertIn("ticket", p.stderr)
        self.assertIn("scene 1", p.stderr)
        self.assertEqual(self.codes("scene = '2'"), [])  # nothing recorded for 2
        self.qr("create", "2", "--temp", "60")  # the next answer is stored
        # a refused permanent code gives its reserved scene id back
        self.fake.fault("cgi-bin/qrcode/create", ticket=t1)
        p = self.qr("create", "3", "--perm", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("holds for scene 1 (temp_id", p.stderr)
        self.assertEqual(self.env.sql("SELECT scene_id FROM qr_perm_ids"), [])


class TestToken(QrTestCase):
    def run_parallel(self, n, first_scene):
        # the database exists first: concurrent first opens are the store's business
        self.qr("list")
        procs = [subprocess.Popen([wxs.WXSCENE, "--config", self.env.config, "qr", "create",
                                   str(first_scene + i), "--temp", "60"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(n)]
        outs = [p.communicate(timeout=60) for p in procs]
        for p, (out, err) in zip(procs, outs):
            self.assertEqual(p.returncode, 0, err)

    def test_concurrent_processes_fetch_one_token(self):
        self.fake.fault("cgi-bin/token", slow=1.0, times=10)
        self.run_parallel(6, 100)
        self.assertEqual(self.fake.count("cgi-bin/token"), 1)
        self.assertEqual(self.fake.count("cgi-bin/qrcode/create"), 6)
        self.assertEqual(len(self.codes("state = 'done'")), 6)

    def test_parallel_rejections_one_refresh(self):
        """Every process holds the replaced token and is refused at once; one
        refresh serves them all."""
        self.qr("create", "1", "--temp", "60")
        self.fake.rotate()  # someone else fetched: our cached token is now refused
        self.fake.fault("cgi-bin/qrcode/create", slow=0.7, times=5)
        self.run_parallel(5, 200)
        self.assertEqual(self.fake.count("cgi-bin/token"), 2)  # the first one + one refresh
        self.assertEqual(len(self.codes("state = 'done'")), 6)

    def test_compare_and_expire(self):
        """B is refused with T1 only after A already replaced T1 by T2: B must
        take T2, not expire it (which would fetch T3 and, on the real
        platform, cut T2 off under A)."""
        self.qr("create", "1", "--temp", "60")
        self.fake.rotate()
        self.fake.fault("cgi-bin/qrcode/create", slow=2.0, times=1)
        b = subprocess.Popen([wxs.WXSCENE, "--config", self.env.config, "qr", "create", "2",
                              "--temp", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        deadline = time.time() + 10
        while self.fake.count("cgi-bin/qrcode/create") < 2 and time.time() < deadline:
            time.sleep(0.02)
        self.qr("create", "3", "--temp", "60")  # A: refused, refreshes to T2, succeeds
        self.assertEqual(self.fake.count("cgi-bin/token"), 2)
        out, err = b.communicate(timeout=30)
        self.assertEqual(b.returncode, 0, err)
        self.assertEqual(self.fake.count("cgi-bin/token"), 2)
        [(tok,)] = self.env.sql("SELECT token FROM wx_token")
        self.assertEqual(tok, self.fake.calls()["current"]["token"])

    def test_token_shared_across_runs(self):
        for i in range(3):
            self.qr("create", str(300 + i), "--temp", "60")
        self.assertEqual(self.fake.count("cgi-bin/token"), 1)
        [(tok,)] = self.env.sql("SELECT token FROM wx_token")
        self.assertEqual(tok, self.fake.calls()["current"]["token"])


class TestStableToken(QrTestCase):
    extra_wechat = {"stable_token": "true"}

    def test_stable_token_used_and_forced_only_when_needed(self):
        self.qr("create", "1", "--temp", "60")
        self.assertEqual(self.fake.count("cgi-bin/token"), 0)
        self.assertEqual(self.fake.count("cgi-bin/stable_token"), 1)
        self.fake.rotate("stable")  # a force_refresh elsewhere replaced it
        self.qr("create", "2", "--temp", "60")
        bodies = [json.loads(e["body"]) for e in self.fake.calls()["log"]
                  if e["endpoint"] == "cgi-bin/stable_token"]
        self.assertEqual([b["force_refresh"] for b in bodies], [False, False])
        self.assertEqual(bodies[0]["appid"], APPID)

    def test_stable_token_45009(self):
        self.fake.fault("cgi-bin/stable_token", errcode=45009, errmsg="api freq out of limit")
        p = self.qr("create", "1", "--temp", "60", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("45009", p.stderr)
        self.assertIn("quota", p.stderr)


class TestBatch(QrTestCase):
    def write_csv(self, rows, header=True):
        path = self.path("batch.csv")
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            if header:
                w.writerow(["scene", "name", "promoter", "kind", "expire"])
            w.writerows(rows)
        return path

    def read_index(self, out):
        with open(os.path.join(out, "index.csv"), newline="", encoding="utf-8-sig") as f:
            return list(csv.DictReader(f))

    def test_validates_every_row_first(self):
        path = self.write_csv([
            ["1", "A", "", "temp", "7d"],
            ["2", "B", "", "weekly", "7d"],
            ["3", "C", "", "temp", ""],
            ["4", "D", "", "perm", "60"],
            ["x" * 65, "E", "", "perm", ""],
            ["1", "F", "", "temp", "60"],
            ["6", "", "", "temp", "60"],
            ["200000", "G", "", "perm", ""],
            ["abc", "H", "", "perm_id", ""],
        ])
        out = self.path("out")
        p = self.qr("batch", path, "--out", out, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        for needle in ["batch.csv:3: column kind", "batch.csv:4: column expire",
                       "batch.csv:5: column expire", "batch.csv:6: column scene: scene is 65",
                       "batch.csv:8: column name", "batch.csv:9: column scene: scene_id 200000",
                       "batch.csv:10: column kind"]:
            self.assertIn(needle, p.stderr)
        self.assertIn("nothing was created", p.stderr)
        self.assertEqual(self.fake.calls()["counts"], {})
        self.assertFalse(os.path.exists(out))

    def test_duplicate_scene_named(self):
        path = self.write_csv([["1", "A", "", "temp", "7d"], ["1", "B", "", "temp", "7d"]])
        p = self.qr("batch", path, "--out", self.path("o"), check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("batch.csv:3: column scene: \"1\" repeats line 2", p.stderr)

    def test_existing_channel_must_match(self):
        self.env.cli("channel", "add", "5", "--name", "Old name")
        path = self.write_csv([["5", "New name", "", "temp", "7d"]])
        p = self.qr("batch", path, "--out", self.path("o"), check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("channel 5 exists as \"Old name\"", p.stderr)
        self.assertEqual(self.fake.calls()["counts"], {})

    def test_batch_images_index_and_rerun(self):
        rows = [["11", "Shop 11", "Li", "temp", "30d"], ["flyer-a", "Flyer A", "", "temp", "3600"],
                ["12", "Shop 12", "Wang", "perm", ""], ["vip", "VIP desk", "", "perm", ""],
                ["门店/3", "Store 3", "", "temp_str", "1d"]]
        path = self.write_csv(rows)
        out = self.path("out")
        p = self.qr("batch", path, "--out", out)
        self.assertIn("5 rows: 5 created", p.stdout)
        index = self.read_index(out)
        self.assertEqual([r["scene"] for r in index], [r[0] for r in rows])
        self.assertEqual([r["kind"] for r in index],
                         ["temp_id", "temp_str", "perm_id", "perm_str", "temp_str"])
        self.assertEqual(index[0]["expire_seconds"], "2592000")
        for r in index:
            img = os.path.join(out, r["image"])
            self.assertTrue(os.path.isfile(img), img)
        self.assertNotIn("/", index[4]["image"])
        self.assertEqual(zbar(os.path.join(out, index[0]["image"])), index[0]["url"])
        self.assertEqual(zbar(os.path.join(out, index[4]["image"])), index[4]["url"])
        chans = dict(self.env.sql("SELECT scene, promoter FROM channels"))
        self.assertEqual(chans["11"], "Li")
        self.assertEqual(len(chans), 5)
        p = self.qr("batch", path, "--out", out)
        self.assertIn("0 created", p.stdout)
        self.assertIn("5 done before", p.stdout)
        self.assertEqual(self.fake.count("cgi-bin/qrcode/create"), 5)
        self.assertEqual(self.read_index(out), index)

    def test_rerun_with_changed_expiry_is_refused(self):
        out = self.path("out")
        self.qr("batch", self.write_csv([["31", "A", "", "temp", "7d"]]), "--out", out)
        p = self.qr("batch", self.write_csv([["31", "A", "", "temp", "1d"]]), "--out", out,
                    check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("use a new --out DIR", p.stderr)
        self.qr("batch", self.write_csv([["31", "A", "", "temp", "1d"]]), "--out",
                self.path("out2"))  # a renewal goes to a new directory
        self.assertEqual(self.fake.count("cgi-bin/qrcode/create"), 2)

    def test_svg_format_and_positional_columns(self):
        path = self.write_csv([["21", "A", "", "temp", "1h"]], header=False)
        out = self.path("svg")
        self.qr("batch", path, "--out", out, "--format", "svg")
        self.assertTrue(os.path.isfile(os.path.join(out, "21.svg")))

    def test_killed_batch_resumes_without_duplicates(self):
        n = 8
        rows = [[str(500 + i), f"Shop {i}", "", "temp", "7d"] for i in range(n)]
        path = self.write_csv(rows)
        out = self.path("out")
        # the 4th qrcode/create hangs until released; the batch is killed meanwhile
        self.fake.fault("cgi-bin/qrcode/create", slow=30, after=3)
        proc = subprocess.Popen([wxs.WXSCENE, "--config", self.env.config, "qr", "batch", path,
                                 "--out", out], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 30
        while self.fake.count("cgi-bin/qrcode/create") < 4 and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.fake.count("cgi-bin/qrcode/create"), 4)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        self.fake.release()
        self.assertEqual(len(self.codes("state = 'done'")), 3)
        self.assertEqual(len(self.codes("state = 'pending'")), 1)  # the in-flight intent

        p = self.qr("batch", path, "--out", out)
        self.assertIn("3 done before", p.stdout)
        self.assertIn("1 re-sent", p.stdout)
        per_scene = {}
        for body in self.creates():
            sid = str(body["action_info"]["scene"]["scene_id"])
            per_scene[sid] = per_scene.get(sid, 0) + 1
        want = {str(500 + i): 1 for i in range(n)}
        want["503"] = 2  # only the call in flight at the kill is sent again
        self.assertEqual(per_scene, want)
        done = self.codes("batch IS NOT NULL")
        self.assertEqual(sorted(r[0] for r in done), sorted(want))
        self.assertTrue(all(r[3] == "done" for r in done))
        index = self.read_index(out)
        self.assertEqual([r["scene"] for r in index], [r[0] for r in rows])
        self.assertEqual(len({r["ticket"] for r in index}), n)
        for r in index:
            self.assertTrue(os.path.isfile(os.path.join(out, r["image"])))
        before = self.fake.count("cgi-bin/qrcode/create")
        self.qr("batch", path, "--out", out)
        self.assertEqual(self.fake.count("cgi-bin/qrcode/create"), before)

    def test_api_failure_stops_and_resumes(self):
        rows = [[str(600 + i), f"S{i}", "", "perm", ""] for i in range(4)]
        path = self.write_csv(rows)
        out = self.path("out")
        self.fake.fault("cgi-bin/qrcode/create", errcode=45009, after=2, times=1)
        p = self.qr("batch", path, "--out", out, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("batch.csv:4: scene 602", p.stderr)
        self.assertIn("45009", p.stderr)
        self.assertIn("re-run the same command to resume", p.stderr)
        self.assertEqual(len(self.read_index(out)), 2)
        p = self.qr("batch", path, "--out", out)
        self.assertIn("2 done before", p.stdout)
        self.assertEqual(self.fake.count("cgi-bin/qrcode/create"), 5)
        self.assertEqual(len(self.read_index(out)), 4)


class TestPermIds(QrTestCase):
    def perm_ids(self):
        out = self.qr("perm-ids").stdout
        return {k.strip(): v.strip() for k, v in
                (line.rsplit(" ", 1) for line in out.splitlines()[1:6])}

    def test_allocation_archive_confirm_reuse(self):
        self.env.cli("channel", "add", "1", "--name", "Manual one")
        p = self.qr("create", "--perm", "--alloc", "--name", "Shop A")
        self.assertIn("scene    2", p.stdout)  # 1 belongs to a live channel
        self.qr("create", "3", "--perm", "--name", "Shop B")
        self.assertEqual(self.perm_ids()["scene ids used"], "2")
        self.assertEqual(self.perm_ids()["next free id"], "4")

        p = self.qr("archive", "2")
        self.assertIn("retired", p.stdout)
        self.assertEqual(self.perm_ids()["scene ids retired"], "1")
        self.assertEqual(self.perm_ids()["left"], "99998")  # retired ids are not free
        p = self.qr("create", "2", "--perm", "--name", "Shop C", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("retired", p.stderr)

        p = self.qr("perm-ids", "--release", "2", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--yes", p.stderr)
        self.assertEqual(self.perm_ids()["scene ids retired"], "1")
        self.qr("perm-ids", "--release", "2", "--yes")
        self.assertEqual(self.perm_ids()["left"], "99999")

        p = self.qr("create", "--perm", "--alloc", "--name", "Shop D")
        self.assertIn("scene    2", p.stdout)
        self.assertEqual(self.env.sql("SELECT name, archived_at FROM channels WHERE scene = '2'"),
                         [("Shop D", None)])
        old = self.env.sql("SELECT name FROM channels WHERE scene LIKE '2~archived-%'")
        self.assertEqual(old, [("Shop A",)])  # the old channel keeps its record

    def test_release_needs_an_archived_channel(self):
        self.qr("create", "7", "--perm", "--name", "Live")
        p = self.qr("perm-ids", "--release", "7", "--yes", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("archive its channel first", p.stderr)
        p = self.qr("perm-ids", "--release", "8", "--yes", check=False)
        self.assertIn("already free", p.stderr)

    def test_archived_channel_gets_no_new_temp_code(self):
        self.qr("create", "70", "--temp", "60", "--name", "Gone")
        self.qr("archive", "70")
        p = self.qr("create", "70", "--temp", "60", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("archived", p.stderr)


class TestList(QrTestCase):
    def test_expiring_lists_soonest_first(self):
        self.qr("create", "1", "--temp", "20d", "--name", "Late")
        self.qr("create", "2", "--temp", "1h", "--name", "Soon")
        self.qr("create", "3", "--temp", "2d")
        self.qr("create", "4", "--perm")
        p = self.qr("list", "--expiring", "3", "--format", "json")
        rows = json.loads(p.stdout)
        self.assertEqual([r["scene"] for r in rows], ["2", "3"])
        self.assertEqual(rows[0]["channel"], "Soon")
        self.assertIsNone(rows[1]["channel"])
        p = self.qr("list", "--expiring", "1", "--format", "csv")
        lines = p.stdout.strip().splitlines()
        self.assertEqual(lines[0], "scene,kind,expires_at,time_zone,channel,ticket,url")
        self.assertEqual([ln.split(",")[0] for ln in lines[1:]], ["2"])
        p = self.qr("list")
        self.assertEqual(len(p.stdout.strip().splitlines()), 5)


if __name__ == "__main__":
    unittest.main()
