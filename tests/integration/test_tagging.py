"""Fan tagging by channel: the real wxscened (its tag worker thread) and the
real `wxscene tag sync` against the fake WeChat API on loopback
(tests/fakes/fake_wechat.py + fake_users.py), with a real SQLite file.

What a marketer relies on: every fan who subscribes through a tagged channel
ends up tagged exactly once, in batches of at most 50; callbacks never wait
for WeChat's tag API; failures are retried, bad openids are parked with the
reason, and a crash repeats nothing that was recorded done."""
import json
import os
import signal
import sys
import threading
import time
import unittest

import wxs

sys.path.insert(0, os.path.join(wxs.SRC, "tests", "fakes"))
import fake_wechat  # noqa: E402

APPID = "wx0123456789abcdef"
SECRET = "0123456789abcdef0123456789abcdef"
BATCH = "cgi-bin/tags/members/batchtagging"


def wait_for(cond, timeout=30, step=0.1, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out waiting for " + what)


class TagCase(unittest.TestCase):
    """A fresh fake, config and database per test."""

    def setUp(self):
        self.fake = fake_wechat.Fake(appid=APPID, secret=SECRET).start()
        self.addCleanup(self.fake.stop)
        self.env = wxs.Env()
        self.addCleanup(self.env.cleanup)
        self.t0 = int(time.time())
        self.seq = 0

    def configure(self, **tag):
        kv = {"worker": "true", "interval": 1, "retry_base": 1, "retry_max": 4}
        kv.update(tag)
        self.env.write_config(
            wechat={"appid": APPID, "appsecret": SECRET, "api_base": self.fake.url,
                    "mp_base": self.fake.url, "api_timeout": 5},
            tag=kv)
        self.env.cli("channel", "add", "42", "--name", "Spring flyer", "--tag", "spring")
        self.env.cli("channel", "add", "7", "--name", "Untagged store")

    def users(self, **cfg):
        return self.fake.control("/_fake/users/config", cfg)

    def state(self):
        return self.fake.control("/_fake/users/state")

    def applied(self, tag="spring"):
        st = self.state()
        return st["applied"].get(str(st["tags"].get(tag)), {})

    def batches(self):
        return [json.loads(c["body"])["openid_list"] for c in self.fake.calls()["log"]
                if c["endpoint"] == BATCH]

    def push(self, openid, event, key=None):
        self.seq += 1
        t = time.time()
        r = self.env.push(wxs.event_xml(openid, self.t0 + self.seq, event, key))
        dt = time.time() - t
        self.assertEqual(r.status, 200, r)
        return dt

    def subscribe(self, openids, scene="42"):
        return [self.push(o, "subscribe", "qrscene_" + scene) for o in openids]

    def start_and_subscribe(self, fans, hold=3):
        """Start wxscened with every fan's row written before its worker
        claims any: the worker's first tag look-up hangs `hold` seconds in
        the fake while the rest subscribe."""
        self.fake.fault("cgi-bin/tags/get", slow=hold)
        self.env.start_server()
        lat = self.subscribe(fans[:1])
        wait_for(lambda: self.fake.count("cgi-bin/tags/get") == 1, 10, what="worker at tags/get")
        lat += self.subscribe(fans[1:])
        self.assertEqual(self.outbox(), {"pending": len(fans)})
        return lat

    def outbox(self, where="true"):
        return dict(self.env.sql(f"SELECT state, count(*) FROM tag_outbox WHERE {where} GROUP BY state"))

    def wait_done(self, n, timeout=30):
        wait_for(lambda: self.outbox().get("done", 0) >= n, timeout,
                 what=f"{n} done rows; outbox {self.outbox()}\n{self.env.server_log()[-3000:]}")

    def stop_clean(self):
        self.assertEqual(self.env.stop_server(), 0, self.env.server_log()[-3000:])


class WorkerTest(TagCase):
    def test_120_fans_three_batches_and_callbacks_never_wait(self):
        # The worker's first look-up of the tag hangs 4 s in the fake, and each
        # batchtagging call takes 1 s: callbacks must stay fast meanwhile.
        self.fake.fault(BATCH, slow=1, times=3)
        self.configure()
        fans = [f"oFan{i:03d}" for i in range(120)]
        lat = self.start_and_subscribe(fans, hold=4)  # callbacks while the worker hangs
        wait_for(lambda: self.fake.count(BATCH) >= 1, 15, what="first batchtagging call")
        busy = [self.push(f"oScan{i}", "SCAN", "7") for i in range(20)]  # while a call hangs
        self.assertLess(self.fake.count(BATCH), 3, "the scans should overlap the slow calls")
        self.wait_done(120)
        self.assertEqual([len(b) for b in self.batches()], [50, 50, 20])
        self.assertEqual(sorted(sum(self.batches(), [])), fans)
        self.assertEqual(set(self.applied().values()), {1})
        self.assertEqual(len(self.applied()), 120)
        self.assertLess(max(lat + busy), 0.5, "a callback waited (max %.3f s)" % max(lat + busy))
        self.assertEqual(self.fake.count("cgi-bin/tags/create"), 1)
        self.stop_clean()

    def test_failures_then_recovery_tag_everyone_once(self):
        # -1 three times exhausts wxapi's own retries; 42001 twice defeats its
        # single token refresh: the worker must back off and come back.
        self.fake.fault(BATCH, errcode=-1, times=3)
        self.fake.fault(BATCH, errcode=42001, times=2)
        self.configure()
        fans = [f"oRec{i:02d}" for i in range(60)]
        self.start_and_subscribe(fans)
        self.wait_done(60, timeout=40)
        ok = self.batches()[5:]
        self.assertEqual(len(self.batches()), 7, [len(b) for b in self.batches()])
        self.assertEqual(sorted(sum(ok, [])), fans)
        self.assertEqual(self.applied(), {o: 1 for o in fans})
        first = self.env.sql("SELECT attempts FROM tag_outbox WHERE openid = 'oRec00'")[0][0]
        self.assertEqual(first, 3)  # -1, 42001, then success
        self.assertGreaterEqual(self.fake.count("cgi-bin/token"), 2)  # refreshed on 42001
        self.assertIn("retry", self.env.server_log())
        self.stop_clean()

    def test_kill_9_mid_batch_repeats_nothing_done(self):
        self.fake.fault(BATCH, slow=30, after=1)  # the second call hangs
        self.configure()
        fans = [f"oKil{i:03d}" for i in range(150)]
        self.start_and_subscribe(fans)
        wait_for(lambda: self.fake.count(BATCH) >= 2, 20, what="second call in flight")
        self.env.stop_server(signal.SIGKILL)
        before = self.outbox()
        self.assertEqual(before.get("sending"), 50, before)
        done_before = {r[0] for r in self.env.sql("SELECT openid FROM tag_outbox WHERE state = 'done'")}
        self.fake.release()  # the hung call now completes on WeChat's side, unrecorded
        calls_before = len(self.batches())
        self.env.start_server()
        self.wait_done(150)
        after = self.batches()[calls_before:]
        resent = set(sum(after, []))
        self.assertEqual(len(done_before), 50)
        self.assertFalse(resent & done_before, "rows recorded done were sent again")
        self.assertTrue(all(len(b) <= 50 for b in after))
        counts = self.applied()
        self.assertEqual(set(counts), set(fans))
        self.assertTrue(all(counts[o] == 1 for o in done_before))
        self.assertIn("took back 50", self.env.server_log())
        self.stop_clean()

    def test_sigterm_while_a_call_hangs_exits_cleanly(self):
        self.fake.fault(BATCH, slow=3)
        self.configure()
        self.env.start_server()
        self.subscribe(["oTerm1", "oTerm2"])
        wait_for(lambda: self.fake.count(BATCH) >= 1, 15, what="call in flight")
        t = time.time()
        self.stop_clean()
        self.assertLess(time.time() - t, 10)
        self.assertEqual(self.outbox(), {"done": 2})


class SyncTest(TagCase):
    def setUp(self):
        super().setUp()
        self.configure(worker="false")

    def test_bad_openids_parked_with_reason_and_reported(self):
        self.users(bad_openids=["oBadFan"], full_openids=["oFullFan"])
        fans = [f"oGood{i}" for i in range(30)]
        self.env.start_server()
        self.subscribe(fans[:10] + ["oBadFan"] + fans[10:20] + ["oFullFan"] + fans[20:])
        p = self.env.cli("tag", "sync")
        self.assertIn("parked oBadFan (tag 'spring'): invalid openid (40003)", p.stdout)
        self.assertIn("parked oFullFan (tag 'spring'): the fan already has 20 tags", p.stdout)
        self.assertIn("tagged 30 fans", p.stdout)
        self.assertEqual(self.applied(), {o: 1 for o in fans})
        self.assertEqual(
            sorted(self.env.sql("SELECT openid, reason FROM tag_outbox WHERE state = 'parked'")),
            [("oBadFan", "invalid openid (40003)"),
             ("oFullFan", "the fan already has 20 tags, WeChat's limit (45059)")])
        # A second run has nothing to do and says so; status shows the counts.
        n = self.fake.count(BATCH)
        p = self.env.cli("tag", "sync")
        self.assertIn("tagged 0 fans in 0 batchtagging calls", p.stdout)
        self.assertIn("2 fans parked in all", p.stdout)
        self.assertEqual(self.fake.count(BATCH), n)
        st = self.env.cli("tag", "status").stdout.splitlines()
        self.assertEqual(st[1].split(), ["spring", "100", "0", "30", "2", "0"])
        # --retry-parked re-queues them; they fail the same way, nothing lost.
        p = self.env.cli("tag", "sync", "--retry-parked")
        self.assertIn("queued 2 parked fans again", p.stdout)
        self.assertEqual(self.outbox(), {"done": 30, "parked": 2})
        self.stop_clean()

    def test_unsubscribe_cancels_pending_and_resubscribe_rearms(self):
        self.env.start_server()
        self.subscribe(["oStay", "oLeave"])
        self.push("oLeave", "unsubscribe")
        self.assertEqual(self.env.sql("SELECT state, reason FROM tag_outbox WHERE openid = 'oLeave'"),
                         [("cancelled", "unsubscribed")])
        self.env.cli("tag", "sync")
        self.assertEqual(self.batches(), [["oStay"]])
        # Untagged channels and organic subscribes write nothing.
        self.subscribe(["oPlain"], scene="7")
        self.push("oOrganic", "subscribe")
        self.assertEqual(self.env.sql("SELECT count(*) FROM tag_outbox WHERE openid IN ('oPlain', 'oOrganic')"),
                         [(0,)])
        # Coming back through the flyer arms the row again.
        self.subscribe(["oLeave"])
        self.env.cli("tag", "sync")
        self.assertEqual(self.batches(), [["oStay"], ["oLeave"]])
        self.stop_clean()

    def test_scan_by_existing_fan_tags_once(self):
        self.env.start_server()
        self.push("oOld", "subscribe")  # organic follower
        self.push("oOld", "SCAN", "42")  # later scans the flyer
        self.env.cli("tag", "sync")
        self.push("oOld", "SCAN", "42")  # scans again: already tagged
        self.env.cli("tag", "sync")
        self.assertEqual(self.batches(), [["oOld"]])
        self.stop_clean()

    def test_tag_limit_of_the_account_reported_and_nothing_lost(self):
        self.users(preload_tags=99)  # + system tag 2 = 100 tags
        self.env.start_server()
        self.subscribe(["oLim1", "oLim2"])
        p = self.env.cli("tag", "sync", check=False)
        self.assertEqual(p.returncode, 1, p)
        self.assertIn("already has 100 tags", p.stderr)
        self.assertIn("45056", p.stderr)
        self.assertEqual(self.outbox(), {"pending": 2})
        self.assertIn("45056", self.env.cli("tag", "status").stdout)
        self.assertEqual(self.fake.count(BATCH), 0)
        self.stop_clean()


    def test_without_api_credentials_fans_wait_and_it_says_why(self):
        self.env.write_config(wechat={"appsecret": "", "api_base": self.fake.url},
                              tag={"worker": "false"})
        self.env.start_server()
        self.subscribe(["oWait"])
        p = self.env.cli("tag", "sync", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("appid and appsecret are not set", p.stderr)
        self.assertEqual(self.outbox(), {"pending": 1})
        self.assertEqual(self.fake.calls()["counts"], {})
        self.stop_clean()


class FreshTagTest(TagCase):
    def test_45159_right_after_creation_is_retried_not_parked(self):
        self.users(fresh_tag_glitch=2)
        self.configure()
        self.env.start_server()
        self.subscribe([f"oNew{i}" for i in range(5)])
        self.wait_done(5, timeout=30)
        self.assertEqual(self.outbox(), {"done": 5})
        self.assertGreaterEqual(self.fake.count("cgi-bin/tags/get"), 2)  # re-fetched the id
        self.stop_clean()


if __name__ == "__main__":
    unittest.main()
