"""Several wxscened instances on one PostgreSQL database, as behind nginx
(CONTRACT: "any number of wxscened instances ... share one database, and
every behaviour on this page holds across them"). Each push may land on
either instance, a WeChat retry on the other one; one instance may die.
PostgreSQL only (SQLite is one machine's file): skipped on SQLite."""
import concurrent.futures
import os
import random
import signal
import threading
import time
import unittest

import wxs


def content_of(r):
    body = r.body.decode()
    if body == "success":
        return "success"
    start = body.index("<Content><![CDATA[") + len("<Content><![CDATA[")
    return body[start:body.index("]]></Content>")]


def welcome(scene):
    return f"Welcome from channel {scene}"


@unittest.skipUnless(wxs.ON_PG, "several instances share a PostgreSQL store")
class InstancesTest(unittest.TestCase):
    def setUp(self):
        self.a = wxs.Env()
        self.b = wxs.Env(share=self.a)
        self.addCleanup(self.a.cleanup)  # last: drops the database
        self.addCleanup(self.b.cleanup)
        for e in (self.a, self.b):
            e.write_config(tag={"worker": "false"})
        self.a.start_server()  # migrates; the second starts on a migrated store
        self.b.start_server()

    def test_instances_started_together_migrate_once(self):
        c = wxs.Env()
        d = wxs.Env(share=c)
        self.addCleanup(c.cleanup)
        self.addCleanup(d.cleanup)
        for e in (c, d):
            e.write_config(tag={"worker": "false"})
            e.start_server(wait=False)
        for e in (c, d):
            e.wait_ready()
        newest = max(int(f[:3]) for f in os.listdir(os.path.join(wxs.SRC, "schema")) if f.endswith(".sql"))
        self.assertEqual(c.sql("SELECT version FROM schema_version"), [(newest,)])
        for e in (c, d):
            self.assertEqual(e.push(wxs.event_xml("oTogether", 1700000000, "subscribe", "qrscene_3")).status, 200)
        self.assertEqual(c.sql("SELECT count(*) FROM events"), [(1,)])

    def test_retries_on_either_instance_stored_once_answered_the_same(self):
        rng = random.Random(16)
        events, deliveries = {}, []
        for i in range(120):
            openid, ct, scene = f"oI{i}", 1700200000 + i, i % 7 + 1
            if i % 5 == 4:
                xml, want = wxs.event_xml(openid, ct, "SCAN", str(scene)), welcome(scene)
            else:
                xml, want = wxs.event_xml(openid, ct, "subscribe", f"qrscene_{scene}"), welcome(scene)
            events[openid] = (want, scene, i % 5 != 4)
            deliveries += [(openid, xml, rng.choice((self.a, self.b))) for _ in range(rng.randint(1, 3))]
        rng.shuffle(deliveries)
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            answers = list(ex.map(lambda d: (d[0], d[2].push(d[1])), deliveries))
        bad = [(o, r.status, r.body[:200]) for o, r in answers if r.status != 200]
        warn = [ln for e in (self.a, self.b) for ln in e.server_log().splitlines() if "WARN" in ln]
        self.assertEqual(bad, [], "\n".join(warn[:10]))
        for openid, r in answers:
            self.assertEqual(content_of(r), events[openid][0], openid)
        rows = dict(self.a.sql("SELECT openid, count(*) FROM events GROUP BY openid"))
        self.assertEqual(rows, {o: 1 for o in events})
        # The statistics count each event once, whichever instance stored it.
        subs = sum(1 for _, _, sub in events.values() if sub)
        scans = len(events)
        got = self.a.sql("SELECT sum(new_fans), sum(scans) FROM stats_daily WHERE scene <> ''")
        self.assertEqual([tuple(int(v) for v in got[0])], [(subs, scans)])
        out = self.b.cli("stats", "--since", "2023-11-01", "--until", "2023-12-31", "--format", "json")
        self.assertIn(f'"new_fans": {subs}'.replace(" ", ""), out.stdout.replace(" ", ""))

    def test_one_openid_on_both_instances_is_applied_in_turn(self):
        """subscribe, unsubscribe, subscribe of one fan, each on another
        instance at once: the fan ends as the last event says, counted
        once each (the per-openid lock)."""
        for rnd in range(10):
            openid = f"oTurn{rnd}"
            evs = [(self.a, wxs.event_xml(openid, 1700300000 + 10 * rnd, "subscribe", "qrscene_2")),
                   (self.b, wxs.event_xml(openid, 1700300001 + 10 * rnd, "SCAN", "2")),
                   (self.a, wxs.event_xml(openid, 1700300002 + 10 * rnd, "SCAN", "3")),
                   (self.b, wxs.event_xml(openid, 1700300003 + 10 * rnd, "subscribe", "qrscene_4"))]
            with concurrent.futures.ThreadPoolExecutor(4) as ex:
                rs = list(ex.map(lambda e: e[0].push(e[1]), evs))
            self.assertEqual([r.status for r in rs], [200] * 4, self.a.server_log()[-1500:] + self.b.server_log()[-1500:])
        fans = self.a.sql("SELECT count(*), sum(subscribe_count) FROM fans WHERE openid LIKE 'oTurn%'")
        self.assertEqual([tuple(int(v) for v in fans[0])], [(10, 20)])
        # The rollups equal what a rebuild from the events computes.
        state = self.a.sql("SELECT * FROM stats_daily ORDER BY day, scene")
        scanners = self.a.sql("SELECT * FROM stats_scanners ORDER BY openid")
        self.a.cli("stats", "--rebuild", "--format", "json")
        self.assertEqual(self.a.sql("SELECT * FROM stats_daily ORDER BY day, scene"), state)
        self.assertEqual(self.a.sql("SELECT * FROM stats_scanners ORDER BY openid"), scanners)

    def test_one_instance_killed_under_load_the_other_answers(self):
        acked, lock, stop = {}, threading.Lock(), threading.Event()

        def load(w):
            i = 0
            while not stop.is_set():
                openid, ct = f"oK{w}_{i}", 1700400000 + i
                xml = wxs.event_xml(openid, ct, "subscribe", f"qrscene_{i % 5 + 1}")
                for e in ((self.a, self.b) if i % 2 else (self.b, self.a)):  # nginx: next upstream
                    try:
                        r = e.push(xml)
                    except OSError:
                        continue
                    if r.status == 200:
                        with lock:
                            acked[openid] = content_of(r)
                        break
                i += 1

        threads = [threading.Thread(target=load, args=(w,)) for w in range(6)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        self.a.proc.send_signal(signal.SIGKILL)
        self.a.proc.wait(timeout=10)
        n_at_kill = len(acked)
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(timeout=30)
            self.assertFalse(t.is_alive())
        self.assertGreater(n_at_kill, 0)
        self.assertGreater(len(acked), n_at_kill, "the surviving instance stopped answering")
        rows = dict(self.b.sql("SELECT openid, count(*) FROM events WHERE openid LIKE 'oK%' GROUP BY openid"))
        missing = [o for o in acked if rows.get(o) != 1]
        self.assertEqual(missing, [], "acknowledged but not stored exactly once")
        self.assertEqual(self.b.push(wxs.event_xml("oAfter", 1700500000, "subscribe")).status, 200)


if __name__ == "__main__":
    unittest.main()
