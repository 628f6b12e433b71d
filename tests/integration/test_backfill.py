"""wxscene backfill: attribution of followers who subscribed before wxscene,
from user/get + user/info/batchget on the fake WeChat API (loopback), into a
real SQLite file. Resumable after kill -9, idempotent, rate-limited, never
overriding attribution recorded from events, keeping nothing personal."""
import os
import pty
import signal
import subprocess
import sys
import time
import unittest

import wxs

sys.path.insert(0, os.path.join(wxs.SRC, "tests", "fakes"))
import fake_users  # noqa: E402
import fake_wechat  # noqa: E402

APPID = "wx0123456789abcdef"
SECRET = "0123456789abcdef0123456789abcdef"
N = 1000
PAGE = 100
RATE = 20


def expected_fans():
    """openid -> (scene, subscribe_time) as a user of user/info would read it:
    the QR scene (scene_str first) for ADD_SCENE_QR_CODE, else organic."""
    u = fake_users.Users()
    u.make_followers(N, "seed")
    out = {}
    for oid in u.openids:
        info = u.info[oid]
        if info["subscribe"] != 1:
            continue
        scene = None
        if info["subscribe_scene"] == "ADD_SCENE_QR_CODE":
            scene = info["qr_scene_str"] or (str(info["qr_scene"]) if info["qr_scene"] else None)
        out[oid] = (scene, info["subscribe_time"])
    return u.openids, out


class BackfillTest(unittest.TestCase):
    def setUp(self):
        self.fake = fake_wechat.Fake(appid=APPID, secret=SECRET).start()
        self.addCleanup(self.fake.stop)
        self.fake.control("/_fake/users/config", {"followers": N, "page_size": PAGE, "seed": "seed"})
        self.env = wxs.Env()
        self.addCleanup(self.env.cleanup)
        self.env.write_config(
            wechat={"appid": APPID, "appsecret": SECRET, "api_base": self.fake.url,
                    "mp_base": self.fake.url, "api_timeout": 5},
            backfill={"rate": RATE})
        self.openids, self.expected = expected_fans()

    def fans(self, where="source = 'backfill'"):
        return {o: (s, t) for o, s, t in self.env.sql(
            f"SELECT openid, first_scene, first_sub_at FROM fans WHERE {where}")}

    def api_log(self):
        return [c for c in self.fake.calls()["log"] if c["endpoint"].startswith("cgi-bin/user/")]

    def snapshot(self):
        return (self.env.sql("SELECT * FROM fans ORDER BY openid"),
                self.env.sql("SELECT openid, subscribe_scene, qr_scene, qr_scene_str, subscribe_time "
                             "FROM fan_backfill ORDER BY openid"))

    def test_kill_9_midway_then_resume_then_rerun_adds_nothing(self):
        p = subprocess.Popen([wxs.WXSCENE, "--config", self.env.config, "backfill"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                row = self.env.sql("SELECT seen FROM backfill_state")
            except wxs.db_errors():  # not migrated yet
                row = None
            if row and row[0][0] >= 300:
                break
            time.sleep(0.02)
        p.send_signal(signal.SIGKILL)
        p.wait()
        cursor, seen, finished = self.env.sql("SELECT cursor, seen, finished_at FROM backfill_state")[0]
        partial = self.fans()
        self.assertIsNone(finished)
        self.assertTrue(300 <= seen < N, seen)
        self.assertTrue(0 < len(partial) < len(self.expected), len(partial))
        self.assertEqual(cursor, self.openids[seen - 1])
        calls_before = len(self.api_log())

        r = self.env.cli("backfill")
        self.assertIn("resumed and finished", r.stdout)
        self.assertIn("resuming an interrupted walk after %d followers" % seen, r.stderr)
        rerun = self.api_log()[calls_before:]
        self.assertEqual(rerun[0]["endpoint"], "cgi-bin/user/get")
        self.assertEqual(rerun[0]["query"].get("next_openid"), cursor)  # not from the start
        self.assertEqual(self.fans(), self.expected)
        self.assertEqual(self.env.sql("SELECT count(*) FROM fan_backfill"), [(len(self.expected),)])
        snap = self.snapshot()

        r = self.env.cli("backfill")
        self.assertIn("0 fans added, %d already known" % len(self.expected), r.stdout)
        self.assertEqual(self.snapshot(), snap)

    def test_rate_limit_and_page_walk(self):
        t = time.time()
        r = self.env.cli("backfill")
        self.assertIn("1000 followers walked, 980 fans added", r.stdout)
        log = self.api_log()
        gets = [c for c in log if c["endpoint"] == "cgi-bin/user/get"]
        infos = [c for c in log if c["endpoint"] == "cgi-bin/user/info/batchget"]
        self.assertEqual(len(gets), N // PAGE + 1)  # the last one answers count 0
        self.assertEqual(len(infos), N // 100)
        # Calls leave evenly spaced: call k no earlier than the first's
        # schedule + k/RATE. Arrival times at the fake jitter on a loaded
        # machine: a call that arrives late (woken late from its wait)
        # makes the gap after it short and the one before it long, so one
        # short gap proves nothing (24 ms of 50 once under ctest -j2).
        # A limiter that lets calls out in bursts makes many: at most two
        # short gaps, and at most one pair of gaps shorter than 1.2 calls'
        # worth (the middle call's lateness does not shorten a pair: only
        # a burst or the first call's own lateness does).
        times = [c["t"] for c in log]
        gaps = [b - a for a, b in zip(times, times[1:])]
        short = [g for g in gaps if g < 0.6 / RATE]
        self.assertLessEqual(len(short), 2, f"calls closer than [backfill] rate allows: {gaps}")
        pairs = [c - a for a, c in zip(times, times[2:])]
        self.assertLessEqual(len([p for p in pairs if p < 1.2 / RATE]), 1, f"calls in bursts: {gaps}")
        self.assertGreater(log[-1]["t"] - log[0]["t"], (len(log) - 1) / RATE * 0.95)
        self.assertGreater(time.time() - t, (len(log) - 1) / RATE * 0.95)
        # Plain progress lines when stderr is not a terminal, one per page.
        lines = [l for l in r.stderr.splitlines() if l.startswith("backfill: ")]
        self.assertEqual(len(lines), N // PAGE)
        self.assertEqual(lines[-1], "backfill: 1000/1000 followers walked, 980 added, "
                                    "0 already known, 20 left meanwhile")

    def test_event_attribution_is_never_overridden(self):
        e = self.env
        e.cli("channel", "add", "42", "--name", "Store 42")
        e.start_server()
        a, b, c = self.openids[0], self.openids[4], self.openids[2]  # WeChat says 100, flyer-1, 102
        t = int(time.time())
        self.assertEqual(e.push(wxs.event_xml(a, t, "subscribe", "qrscene_42")).status, 200)
        self.assertEqual(e.push(wxs.event_xml(b, t, "subscribe")).status, 200)  # organic
        self.assertEqual(e.push(wxs.event_xml(c, t, "subscribe", "qrscene_42")).status, 200)
        self.assertEqual(e.push(wxs.event_xml(c, t + 1, "unsubscribe")).status, 200)
        before = e.sql("SELECT * FROM fans ORDER BY openid")
        e.cli("backfill")
        self.assertEqual(e.sql(f"SELECT * FROM fans WHERE openid IN ('{a}', '{b}', '{c}') ORDER BY openid"),
                         before)
        self.assertEqual(e.sql(f"SELECT count(*) FROM fan_backfill WHERE openid IN ('{a}', '{b}', '{c}')"),
                         [(0,)])
        want = {o: v for o, v in self.expected.items() if o not in (a, b, c)}
        self.assertEqual(self.fans(), want)
        # A fan backfilled earlier who subscribes again is a returning fan.
        d = self.openids[1]
        self.assertEqual(e.push(wxs.event_xml(d, t + 2, "subscribe", "qrscene_42")).status, 200)
        self.assertEqual(e.sql(f"SELECT is_new_fan FROM events WHERE openid = '{d}'"), [(0,)])
        self.assertEqual(e.stop_server(), 0)

    def test_keeps_nothing_personal(self):
        self.env.cli("backfill")
        raw = self.env.raw_store()
        dump = "\n".join(r[0] for r in self.env.sql(
            "SELECT openid || coalesce(subscribe_scene, '') FROM fan_backfill"))
        for needle in (b"PII-", b"uPII", b"pii.example", b"zh_CN"):
            self.assertNotIn(needle, raw)
        self.assertNotIn("PII", dump)
        left = [o for o in self.openids if o not in self.expected]
        self.assertEqual(len(left), 20)
        self.assertEqual(self.env.sql(
            "SELECT count(*) FROM fans WHERE openid IN (%s)" % ",".join("?" * len(left)), *left), [(0,)])

    def test_api_failure_stops_resumably(self):
        self.fake.fault("cgi-bin/user/info/batchget", errcode=45009, after=3)
        r = self.env.cli("backfill", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("45009", r.stderr)
        self.assertIn("run it again to continue", r.stderr)
        seen = self.env.sql("SELECT seen FROM backfill_state")[0][0]
        self.assertEqual(seen, 300)
        r = self.env.cli("backfill")
        self.assertIn("resumed and finished", r.stdout)
        self.assertEqual(self.fans(), self.expected)

    def test_progress_bar_on_a_terminal(self):
        master, slave = pty.openpty()
        p = subprocess.Popen([wxs.WXSCENE, "--config", self.env.config, "backfill"],
                             stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        p.wait(timeout=30)
        os.close(master)
        self.assertEqual(p.returncode, 0)
        text = out.decode()
        self.assertIn("\r[", text)
        self.assertIn("] 100% 1000/1000 followers, 980 added", text)
        self.assertNotIn("backfill: ", text)  # no plain lines on a terminal


if __name__ == "__main__":
    unittest.main()
