"""Follow-up messages (issue 20, part 3): up to 3 customer-service messages
per channel, sent after the passive reply from an outbox written in the
event's transaction. The real wxscene and wxscened (its follow-up worker
thread), the fake WeChat API on loopback (message/custom/send,
material/add_material), a real store (SQLite, or PostgreSQL under
pg.integration.*, where two instances share it).

What a marketer relies on: every fan who subscribes through the channel
gets its follow-ups, in order, exactly once, however often WeChat retries
the push, whatever the API does (busy, hanging, token expired) and across a
kill -9 of the server; a reply never waits for them; what cannot be sent
(the 48 h window, the per-interaction limit, a bad openid) is parked with
the reason for the operator."""
import json
import os
import signal
import sys
import time
import unittest

import wxs

sys.path.insert(0, os.path.join(wxs.SRC, "tests", "fakes"))
import fake_wechat  # noqa: E402

APPID = "wx0123456789abcdef"
SECRET = "0123456789abcdef0123456789abcdef"
SEND = "cgi-bin/message/custom/send"
URL = "https://shop.example.com/coupon?id=7&from=qr"
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(48)


def wait_for(cond, timeout=60, step=0.1, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out waiting for " + what)


class FollowupCase(unittest.TestCase):
    def setUp(self):
        self.fake = fake_wechat.Fake(appid=APPID, secret=SECRET).start()
        self.addCleanup(self.fake.stop)
        self.env = wxs.Env()
        self.addCleanup(self.env.cleanup)
        self.t0 = int(time.time())
        self.seq = 0
        self.configure()
        self.png = os.path.join(self.env.dir, "coupon.png")
        with open(self.png, "wb") as f:
            f.write(PNG)

    def tearDown(self):
        if self.env.proc:
            self.env.stop_server()

    def configure(self, env=None, api_timeout=5, **followup):
        kv = {"worker": "true", "interval": 1, "retry_base": 1, "retry_max": 2}
        kv.update(followup)
        (env or self.env).write_config(
            wechat={"appid": APPID, "appsecret": SECRET, "api_base": self.fake.url,
                    "mp_base": self.fake.url, "api_timeout": api_timeout},
            tag={"worker": "false"}, followup=kv)

    def three(self, scene="42"):
        """A channel with a text, a news and an image follow-up."""
        self.env.cli("channel", "add", scene, "--name", "地铁站 " + scene, "--reply", "欢迎")
        self.env.cli("channel", "followup", "add", scene, "--text", "领券: 回复 1")
        self.env.cli("channel", "followup", "add", scene, "--news", "本周特惠 ]]>",
                     "--news-url", URL, "--news-description", "满100减20")
        self.env.cli("channel", "followup", "add", scene, "--image", self.png)

    def push(self, openid, event="subscribe", key="qrscene_42", create_time=None, env=None):
        if create_time is None:
            self.seq += 1
            create_time = self.t0 + self.seq
        r = (env or self.env).push(wxs.event_xml(openid, create_time, event, key))
        self.assertEqual(r.status, 200, r)
        return create_time

    def sent(self):
        return self.fake.control("/_fake/messages/state")["sent"]

    def sent_to(self, openid):
        return [s for s in self.sent() if s["touser"] == openid]

    def outbox(self, state=None):
        """One row per subscribe: (openid, state, done, uncertain, reason)."""
        q = "SELECT openid, state, done, uncertain, reason FROM followup_outbox"
        return self.env.sql(q + (" WHERE state = ?" if state else "") + " ORDER BY id",
                            *((state,) if state else ()))

    def kinds(self, msgs):
        return [m["msgtype"] for m in msgs]

    def assert_three(self, openid):
        got = self.sent_to(openid)
        self.assertEqual(self.kinds(got), ["text", "news", "image"], got)
        self.assertEqual(got[0]["text"]["content"], "领券: 回复 1")
        art = got[1]["news"]["articles"]
        self.assertEqual(len(art), 1)
        self.assertEqual((art[0]["title"], art[0]["url"], art[0]["description"]),
                         ("本周特惠 ]]>", URL, "满100减20"))
        mats = self.fake.control("/_fake/messages/state")["materials"]
        self.assertIn(got[2]["image"]["media_id"], mats)

    def no_duplicates(self):
        keys = [json.dumps({k: v for k, v in s.items() if k != "t"}, sort_keys=True)
                for s in self.sent()]
        self.assertEqual(len(keys), len(set(keys)), "a message was sent twice")

    # ---- definitions ----

    def test_add_list_remove(self):
        self.three()
        p = self.env.cli("channel", "followup", "list", "42")
        lines = p.stdout.strip().splitlines()
        self.assertEqual(len(lines), 4, p.stdout)
        self.assertIn("text", lines[1])
        self.assertIn("本周特惠", lines[2])
        self.assertIn("coupon.png", lines[3])
        p = self.env.cli("channel", "followup", "add", "42", "--text", "four", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("3 follow-ups already", p.stderr)
        self.env.cli("channel", "followup", "remove", "42", "1")
        live = "SELECT pos, kind FROM followup_msgs WHERE removed_at IS NULL ORDER BY pos"
        self.assertEqual(self.env.sql(live), [(1, "news"), (2, "image")])
        self.env.cli("channel", "followup", "add", "42", "--text", "last")
        self.assertEqual(self.env.sql(live), [(1, "news"), (2, "image"), (3, "text")])
        for args, code, want in [
                (["add", "42"], 2, "one of"),
                (["add", "42", "--text", "a", "--image", self.png], 2, "one of"),
                (["add", "42", "--news", "t", "--news-url", "ftp://x"], 2, "news_url"),
                (["add", "42", "--news-url", URL, "--text", "a"], 2, "--news TITLE"),
                (["add", "42", "--text", "bad\x01"], 2, "control character"),
                (["add", "9", "--text", "a"], 1, "does not exist"),
                (["remove", "42", "4"], 2, "1..3"),
                (["remove", "42", "0"], 2, "1..3"),
                (["list", "9"], 1, "does not exist")]:
            with self.subTest(args=args):
                p = self.env.cli("channel", "followup", *args, check=False)
                self.assertEqual(p.returncode, code, (p.stdout, p.stderr))
                self.assertIn(want, p.stderr)
        self.env.cli("channel", "followup", "remove", "42", "3")
        p = self.env.cli("channel", "followup", "remove", "42", "3", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no follow-up 3", p.stderr)

    # ---- in order, exactly once ----

    def test_in_order_exactly_once_retries_add_nothing(self):
        self.three()
        self.env.cli("channel", "add", "7", "--name", "No follow-ups")
        self.env.start_server()
        fans = ["oFan%d" % i for i in range(5)]
        for f in fans:
            t = self.push(f)
            self.push(f, create_time=t)  # WeChat's retry: a duplicate, no rows
            self.push(f, create_time=t)
            self.push(f, "SCAN", "42")  # a scan is no subscribe
        self.push("oOther", key="qrscene_7")
        self.push("oOrganic", key="")
        wait_for(lambda: len(self.sent()) >= 15, what="15 follow-ups")
        for f in fans:
            self.assert_three(f)
        wait_for(lambda: len(self.outbox("sent")) == 5, what="5 rows sent")
        self.assertEqual([r[1:4] for r in self.outbox()], [("sent", 3, 0)] * 5,
                         (self.outbox(), self.env.server_log()[-2500:]))
        self.assertEqual(self.sent_to("oOther") + self.sent_to("oOrganic"), [])
        p = self.env.cli("followup", "status")
        self.assertIn("sent 5\n", p.stdout)
        self.assertIn("pending 0", p.stdout)
        self.assertIn("messages sent 15", p.stdout)
        m = wxs.request(self.env.admin_port, "GET", "/metrics").body.decode()
        self.assertIn('wxscene_followup_queue{state="sent"} 5', m)
        self.assertIn("wxscene_followup_messages_sent 15", m)
        time.sleep(1.5)  # a further sweep or two sends nothing more
        self.assertEqual(len(self.sent()), 15)
        self.no_duplicates()

    def test_edit_after_subscribe_keeps_the_copy(self):
        self.env.cli("channel", "add", "42", "--name", "S")
        self.env.cli("channel", "followup", "add", "42", "--text", "first version")
        self.configure(worker="false")
        self.env.start_server()
        self.push("oCopy")
        self.env.stop_server()
        self.env.cli("channel", "followup", "remove", "42", "1")
        self.env.cli("channel", "followup", "add", "42", "--text", "second version")
        self.configure()
        self.env.start_server()
        wait_for(lambda: self.sent_to("oCopy"), what="the follow-up")
        self.assertEqual([m["text"]["content"] for m in self.sent_to("oCopy")], ["first version"])

    def test_edits_between_subscribes_on_a_running_server(self):
        """The push path queues the ids the channel row holds in the event's
        transaction (channels.followup_ids, schema/017): every edit by
        another process (the CLI; on PostgreSQL a second instance takes
        every other push) shows in the next subscribe, none in an earlier
        one, and a channel left without follow-ups queues nothing."""
        self.env.cli("channel", "add", "42", "--name", "S")
        self.env.cli("channel", "add", "43", "--name", "T")
        self.env.cli("channel", "followup", "add", "42", "--text", "v1 a")
        self.env.cli("channel", "followup", "add", "42", "--text", "v1 b")
        self.configure(worker="false")
        envs = [self.env]
        if wxs.ON_PG:
            b = wxs.Env(share=self.env)
            self.addCleanup(b.cleanup)
            self.configure(env=b, worker="false")
            envs.append(b)
        for e in envs:
            e.start_server()
        if len(envs) > 1:
            self.addCleanup(envs[1].stop_server)
        ids = "SELECT id FROM followup_msgs WHERE scene = ? AND removed_at IS NULL ORDER BY pos"
        want = {}

        def sub(openid, scene="42"):
            live = [r[0] for r in self.env.sql(ids, scene)]
            self.push(openid, key="qrscene_" + scene, env=envs[len(want) % len(envs)])
            want[openid] = ",".join(map(str, live))

        sub("oV1")
        self.env.cli("channel", "followup", "remove", "42", "1")
        sub("oV2")  # "v1 b" alone
        self.env.cli("channel", "followup", "add", "42", "--text", "v3")
        sub("oV3")
        sub("oOther", "43")  # never had any
        self.env.cli("channel", "followup", "add", "43", "--text", "t1")
        sub("oT1", "43")
        for _ in range(2):
            self.env.cli("channel", "followup", "remove", "42", "1")
        sub("oNone")  # all removed: no row
        got = dict(self.env.sql("SELECT openid, msgs FROM followup_outbox ORDER BY id"))
        self.assertEqual(got, {k: v for k, v in want.items() if v}, got)
        self.assertEqual(len(set(got.values())), len(got), "an edit did not show")
        self.assertEqual(self.env.sql("SELECT total FROM followup_outbox WHERE openid = 'oV3'"),
                         [(2,)])
        self.assertEqual(self.env.sql("SELECT followup_ids FROM channels ORDER BY scene"),
                         [(None,), (want["oT1"],)])

    def test_upgrade_fills_the_channel_rows_ids(self):
        """schema/017 on a store that had follow-ups before it: the copy on
        each channel row is filled in order (removed ones left out), and
        the next subscribe queues exactly those."""
        self.env.cli("channel", "add", "42", "--name", "S")
        self.env.cli("channel", "add", "43", "--name", "T")
        for t in ("a", "b", "c"):
            self.env.cli("channel", "followup", "add", "42", "--text", t)
        self.env.cli("channel", "followup", "remove", "42", "1")
        self.env.cli("channel", "followup", "add", "42", "--text", "d")
        live = self.env.sql("SELECT id FROM followup_msgs WHERE removed_at IS NULL ORDER BY pos")
        want = ",".join(str(r[0]) for r in live)
        self.env.sql("ALTER TABLE channels DROP COLUMN followup_ids")
        if wxs.ON_PG:
            self.env.sql("UPDATE schema_version SET version = 16")
        else:
            self.env.sql("PRAGMA user_version = 16")
        self.env.cli("store", "migrate")
        self.assertEqual(self.env.sql("SELECT scene, followup_ids FROM channels ORDER BY scene"),
                         [("42", want), ("43", None)])
        self.configure(worker="false")
        self.env.start_server()
        self.push("oUp")
        self.assertEqual(self.env.sql("SELECT msgs, total FROM followup_outbox"), [(want, 3)])

    # ---- the API misbehaving ----

    def test_a_hanging_api_never_delays_a_reply(self):
        self.three()
        self.fake.fault(SEND, slow=30, times=1)  # the first call hangs until released
        self.env.start_server()
        self.push("oHang")
        wait_for(lambda: self.fake.count(SEND) >= 1, what="the first call")
        worst = 0
        for i in range(10):  # the worker is stuck in a call: replies still go out at once
            t = time.time()
            self.push("oFast%d" % i, key="qrscene_none")
            worst = max(worst, time.time() - t)
        self.assertLess(worst, 2.0)
        self.fake.release()
        wait_for(lambda: len(self.sent_to("oHang")) == 3, what="oHang's follow-ups")
        self.assert_three("oHang")
        self.no_duplicates()

    def test_a_call_that_times_out_is_parked_not_resent(self):
        self.three()
        self.configure(api_timeout=1)
        self.fake.fault(SEND, slow=3, times=1)
        self.env.start_server()
        self.push("oSlow")
        wait_for(lambda: self.outbox("sent"), what="the row done")
        openid, state, done, uncertain, _ = self.outbox()[0]
        self.assertEqual((state, done, uncertain), ("sent", 3, 1))
        last_error = self.env.sql("SELECT last_error FROM followup_outbox")[0][0]
        time.sleep(3)  # the fake answers the hung call late: it got it once, and only once
        self.assertEqual(self.kinds(self.sent_to("oSlow")), ["news", "image", "text"])
        self.no_duplicates()
        p = self.env.cli("followup", "status")
        self.assertIn("messages uncertain 1", p.stdout)
        self.assertIn("messages sent 2", p.stdout)
        self.assertIn("uncertain", self.env.server_log())
        del last_error

    def test_busy_and_token_errors_are_retried_in_order(self):
        self.three()
        self.fake.fault(SEND, errcode=-1, times=4)  # beyond wxapi's own 3 attempts
        self.env.start_server()
        self.push("oBusy")
        wait_for(lambda: len(self.sent_to("oBusy")) == 3, what="oBusy's follow-ups")
        self.assert_three("oBusy")
        self.fake.expire()  # the token dies: wxapi refreshes it and sends
        self.push("oToken")
        wait_for(lambda: len(self.sent_to("oToken")) == 3, what="oToken's follow-ups")
        self.assert_three("oToken")
        self.fake.fault(SEND, errcode=40001, times=3)  # still refused after the refresh
        self.push("oToken2")
        wait_for(lambda: len(self.sent_to("oToken2")) == 3, timeout=90, what="oToken2's")
        self.assert_three("oToken2")
        # the fake counts a message before the worker records it: wait for the rows
        wait_for(lambda: {r[1] for r in self.outbox()} == {"sent"}, what="every row recorded")
        self.assertEqual({r[1] for r in self.outbox()}, {"sent"},
                         (self.outbox(), self.env.server_log()[-3000:]))
        self.no_duplicates()

    def test_window_limit_and_bad_openid_are_parked(self):
        self.three()
        self.fake.control("/_fake/messages/config",
                          {"closed": ["oClosed"], "bad": ["oBad"], "limit": 2})
        self.env.start_server()
        for f in ("oClosed", "oBad", "oLimit"):
            self.push(f)
        wait_for(lambda: not self.outbox("pending") and not self.outbox("sending"),
                 what="an empty queue")
        by = {r[0]: (r[1], r[2], (r[4] or "")[:5]) for r in self.outbox()}
        self.assertEqual(by["oClosed"], ("parked", 0, "45015"))
        self.assertEqual(by["oBad"], ("parked", 0, "40003"))
        self.assertEqual(by["oLimit"], ("parked", 2, "45047"))
        self.assertEqual(self.kinds(self.sent_to("oLimit")), ["text", "news"])
        self.assertEqual(self.sent_to("oClosed") + self.sent_to("oBad"), [])
        p = self.env.cli("followup", "status")
        self.assertIn("parked 3", p.stdout)
        self.assertIn("45015: outside the 48 h window", p.stdout)
        self.assertIn("(message 3 of 3)", p.stdout)

    def test_unsubscribe_parks_what_is_pending(self):
        self.three()
        self.configure(worker="false")  # queued while the worker is off
        self.env.start_server()
        self.push("oGone")
        self.push("oGone", "unsubscribe", "")
        self.push("oStays")
        self.env.stop_server()
        self.configure()
        self.env.start_server()
        wait_for(lambda: len(self.outbox("sent")) == 1 and len(self.outbox("parked")) == 1,
                 what="one row sent, one parked")
        by = {r[0]: (r[1], r[4]) for r in self.outbox()}
        self.assertEqual(by["oGone"][0], "parked")
        self.assertIn("unsubscribed", by["oGone"][1])
        self.assertEqual(self.sent_to("oGone"), [])  # not one call for a fan who left
        self.assert_three("oStays")

    # ---- kill -9 ----

    def test_kill_9_after_the_ack_sends_after_restart_none_twice(self):
        self.three()
        self.configure(worker="false")  # acknowledged, nothing sent yet
        self.env.start_server()
        for i in range(4):
            self.push("oKill%d" % i)
        self.env.stop_server(signal.SIGKILL)
        self.configure()
        self.env.start_server()
        wait_for(lambda: len(self.sent()) >= 12, what="12 follow-ups after the restart")
        for i in range(4):
            self.assert_three("oKill%d" % i)
        self.no_duplicates()

    def test_kill_9_during_a_call_parks_that_row(self):
        self.three()
        self.fake.fault(SEND, slow=30, times=1)
        self.env.start_server()
        self.push("oMid")
        wait_for(lambda: self.fake.count(SEND) >= 1, what="the call in flight")
        self.env.stop_server(signal.SIGKILL)
        self.fake.release()  # WeChat got that one after all
        self.env.start_server()
        wait_for(lambda: self.outbox("sent"), what="the rest after the restart")
        openid, state, done, uncertain, reason = self.outbox()[0]
        self.assertEqual((state, done, uncertain), ("sent", 3, 1))
        self.assertIn("interrupted", reason)
        wait_for(lambda: len(self.sent_to("oMid")) == 3, what="the released call's message")
        self.assertEqual(self.kinds(self.sent_to("oMid")), ["text", "news", "image"])
        self.no_duplicates()

    # ---- two instances (PostgreSQL) ----

    @unittest.skipUnless(wxs.ON_PG, "several instances share a PostgreSQL store")
    def test_two_instances_never_send_a_row_twice(self):
        self.three()
        b = wxs.Env(share=self.env)
        self.addCleanup(b.cleanup)
        self.configure(env=b)
        self.env.start_server()
        b.start_server()
        self.addCleanup(b.stop_server)
        fans = ["oTwo%d" % i for i in range(12)]
        for i, f in enumerate(fans):
            self.push(f, env=b if i % 2 else self.env)
        wait_for(lambda: len(self.sent()) >= 36, what="36 follow-ups")
        for f in fans:
            self.assert_three(f)
        time.sleep(2)
        self.assertEqual(len(self.sent()), 36)
        self.no_duplicates()


if __name__ == "__main__":
    unittest.main()
