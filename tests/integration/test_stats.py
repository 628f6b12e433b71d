"""Channel statistics end to end: a crafted event log pushed through the
real wxscened (with WeChat-style retries), then `wxscene stats` in every
view and format, checked against numbers worked out by hand below; and a
random log whose rollups are compared with a recomputation from the raw
events table, before and after `stats --rebuild`."""
import csv
import datetime
import io
import json
import os
import random
import unittest
import zoneinfo

import wxs

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def t(day, hms="12:00:00", tz=SHANGHAI):
    """Epoch seconds of a local wall time in the account zone."""
    d = datetime.datetime.fromisoformat(f"{day}T{hms}").replace(tzinfo=tz)
    return int(d.timestamp())


SUB, SCAN, UNSUB = "subscribe", "SCAN", "unsubscribe"

# The crafted log. Times are Asia/Shanghai wall clock (UTC+8).
LOG = [
    # u1: new fan through 42, the push retried twice; scans 42 again the same
    # day, 43 the next day and 42 two days later.
    ("u1", "2026-10-10", "09:00:00", SUB, "qrscene_42", 3),
    ("u1", "2026-10-10", "10:00:00", SCAN, "42", 1),
    ("u1", "2026-10-11", "09:30:00", SCAN, "43", 1),
    ("u1", "2026-10-12", "08:00:00", SCAN, "42", 1),
    # u2: new through 42 late on the 10th, leaves 40 minutes later (the 11th,
    # unsubscribe retried), comes back through 43: a returning fan of 43.
    ("u2", "2026-10-10", "23:30:00", SUB, "qrscene_42", 1),
    ("u2", "2026-10-11", "00:10:00", UNSUB, None, 2),
    ("u2", "2026-10-11", "12:00:00", SUB, "qrscene_43", 1),
    # u3: organic fan, scans 77 as a fan, then leaves: an organic unsubscribe.
    ("u3", "2026-10-10", "12:00:00", SUB, None, 1),
    ("u3", "2026-10-11", "09:00:00", SCAN, "77", 1),
    ("u3", "2026-10-11", "20:00:00", UNSUB, None, 1),
    # u4: an unknown scene at 07:59 local on the 11th = 23:59 UTC on the
    # 10th: the day boundary of the account zone, not UTC's.
    ("u4", "2026-10-11", "07:59:00", SUB, "qrscene_999", 1),
    # u5: through 77 one second before midnight, gone 4 minutes later.
    ("u5", "2026-10-10", "23:59:59", SUB, "qrscene_77", 1),
    ("u5", "2026-10-11", "00:03:59", UNSUB, None, 1),
    # u6: an unsubscribe from someone we never saw subscribe: counts nowhere.
    ("u6", "2026-10-11", "10:00:00", UNSUB, None, 1),
    # u7: a CLICK event and nothing else.
    ("u7", "2026-10-11", "10:00:00", "CLICK", "menu_1", 1),
]

ZERO = dict(scans=0, unique_scanners=0, new_fans=0, returning_fans=0, unsubscribes=0,
            net_fans=0, retained_fans=0)


def counts(scans, unique, new, ret, unsub, retained):
    return dict(scans=scans, unique_scanners=unique, new_fans=new, returning_fans=ret,
                unsubscribes=unsub, net_fans=new + ret - unsub, retained_fans=retained)


# 10-10..10-11, worked out from LOG by hand:
#  42: scans u1 sub, u1 scan, u2 sub = 3 (u1's 10-12 scan is outside);
#      unique u1 u2; new u1 u2; u2 left (latest subscribe was 42) = 1;
#      retained: u1 (u2's latest subscribe is now 43).
#  43: scans u2 sub, u1 scan; u2 returning; retained u2.
#  77: scans u3 scan, u5 sub; new u5; u5 left (u3's unsubscribe is organic).
#  999: u4 new and stays; no channel row.
#  organic: u3 new, u3 left.
BY_CHANNEL_2DAYS = {
    "42": counts(3, 2, 2, 0, 1, 1),
    "43": counts(2, 2, 0, 1, 0, 1),
    "77": counts(2, 2, 1, 0, 1, 0),
    "999": counts(1, 1, 1, 0, 0, 1),
    None: counts(0, 0, 1, 0, 1, 0),
    "88": ZERO,
}
# distinct scanners over all scenes: u1 u2 u3 u4 u5
TOTALS_2DAYS = counts(8, 5, 5, 1, 3, 3)

# 10-10 alone: u4 (07:59 local on the 11th) is not in it, so scene 999 has
# no row at all (it is not a channel); u2's and u5's unsubscribes are on
# the 11th.
BY_CHANNEL_10TH = {
    "42": counts(3, 2, 2, 0, 0, 1),
    "43": ZERO,
    "77": counts(1, 1, 1, 0, 0, 0),
    None: counts(0, 0, 1, 0, 0, 0),
    "88": ZERO,
}
TOTALS_10TH = counts(4, 3, 4, 0, 0, 1)

BY_DAY = {
    "2026-10-10": counts(4, 3, 4, 0, 0, 1),
    "2026-10-11": counts(4, 4, 1, 1, 3, 2),
    "2026-10-12": counts(1, 1, 0, 0, 0, 0),
}


class StatsTest(wxs.ServerCase):
    @classmethod
    def prepare(cls, e):
        e.cli("channel", "add", "42", "--name", "Store 42", "--promoter", "Li")
        e.cli("channel", "add", "43", "--name", "门店 43", "--promoter", "Li")
        e.cli("channel", "add", "77", "--name", "Kiosk 77", "--promoter", "Wang")
        e.cli("channel", "add", "88", "--name", "Street team", "--promoter", "Zhao")

    @classmethod
    def started(cls, e):
        for openid, day, hms, event, key, deliveries in LOG:
            xml = wxs.event_xml(openid, t(day, hms), event, key)
            for _ in range(deliveries):
                r = e.push(xml)
                assert r.status == 200, r
        # Zhao's street team on 10-20: 6 subscribe-unsubscribe pairs within
        # 2 minutes and one fan who stays.
        for i in range(7):
            r = e.push(wxs.event_xml(f"z{i}", t("2026-10-20", f"10:{i:02d}:00"), SUB, "qrscene_88"))
            assert r.status == 200, r
            if i < 6:
                r = e.push(wxs.event_xml(f"z{i}", t("2026-10-20", f"10:{i:02d}:50"), UNSUB))
                assert r.status == 200, r

    def stats(self, *args, check=True):
        return self.env.cli("stats", *args, check=check)

    def json_stats(self, *args):
        return json.loads(self.stats("--format", "json", *args).stdout)

    def test_by_channel_json_matches_the_hand_count(self):
        out = self.json_stats("--since", "2026-10-10", "--until", "2026-10-11")
        self.assertEqual(list(out), ["since", "until", "channels", "totals"])
        self.assertEqual((out["since"], out["until"]), ("2026-10-10", "2026-10-11"))
        rows = {c["scene"]: c for c in out["channels"]}
        self.assertEqual(set(rows), set(BY_CHANNEL_2DAYS))
        for scene, want in BY_CHANNEL_2DAYS.items():
            got = {k: rows[scene][k] for k in want}
            self.assertEqual(got, want, f"scene {scene}")
        self.assertEqual(out["totals"], TOTALS_2DAYS)
        self.assertEqual((rows["42"]["name"], rows["42"]["promoter"]), ("Store 42", "Li"))
        self.assertEqual((rows["43"]["name"], rows["43"]["promoter"]), ("门店 43", "Li"))
        self.assertEqual((rows["999"]["name"], rows["999"]["promoter"]), (None, None))
        self.assertEqual((rows[None]["name"], rows[None]["promoter"]), (None, None))
        for c in out["channels"]:
            self.assertEqual(list(c), ["scene", "name", "promoter", "scans", "unique_scanners",
                                       "new_fans", "returning_fans", "unsubscribes", "net_fans",
                                       "retained_fans"])
        nets = [c["net_fans"] for c in out["channels"]]
        self.assertEqual(nets, sorted(nets, reverse=True), "ranked by net fans")

    def test_day_boundary_is_the_account_zone(self):
        out = self.json_stats("--since", "2026-10-10", "--until", "2026-10-10")
        rows = {c["scene"]: c for c in out["channels"]}
        self.assertEqual(set(rows), set(BY_CHANNEL_10TH))
        for scene, want in BY_CHANNEL_10TH.items():
            self.assertEqual({k: rows[scene][k] for k in want}, want, f"scene {scene}")
        self.assertEqual(out["totals"], TOTALS_10TH)

    def test_other_zone_moves_the_boundary(self):
        """In UTC u4 (23:59Z on the 10th) falls on the 10th; a zone with
        DST (America/New_York) is accepted; a bad zone is a config error."""
        e = self.env
        cfg = e.config
        try:
            e.write_config(stats={"timezone": "UTC"})
            out = self.json_stats("--since", "2026-10-10", "--until", "2026-10-10")
            rows = {c["scene"]: c for c in out["channels"]}
            self.assertEqual(rows["999"]["new_fans"], 1)
            e.write_config(stats={"timezone": "Mars/Olympus"})
            p = self.stats(check=False)
            self.assertEqual(p.returncode, 2)
            self.assertIn("[stats] timezone", p.stderr)
            self.assertIn("Mars/Olympus", p.stderr)
        finally:
            e.write_config()
            self.assertEqual(e.config, cfg)
        out = self.json_stats("--since", "2026-10-10", "--until", "2026-10-11")
        self.assertEqual(out["totals"], TOTALS_2DAYS, "back to Asia/Shanghai")

    def test_by_day(self):
        out = self.json_stats("--by", "day", "--since", "2026-10-10", "--until", "2026-10-12")
        self.assertEqual([d["date"] for d in out["days"]], list(BY_DAY))
        for d in out["days"]:
            self.assertEqual({k: d[k] for k in ZERO}, BY_DAY[d["date"]], d["date"])
        self.assertEqual(out["totals"], counts(9, 5, 5, 1, 3, 3))

    def test_by_promoter_with_retention_and_flag(self):
        out = self.json_stats("--by", "promoter", "--since", "2026-10-10", "--until", "2026-10-20")
        self.assertEqual(out["retention_days"], 7)
        rows = {p["promoter"]: p for p in out["promoters"]}
        self.assertEqual(set(rows), {"Li", "Wang", "Zhao"})
        li, wang, zhao = rows["Li"], rows["Wang"], rows["Zhao"]
        # Li = 42 + 43 (u1's second 42 scan on the 12th is in this range)
        self.assertEqual((li["channels"], li["scans"], li["new_fans"], li["returning_fans"],
                          li["fans_brought"], li["unsubscribes"], li["net_fans"],
                          li["retained_fans"]), (2, 6, 2, 1, 3, 1, 2, 2))
        # u2's 42 subscribe was lost on day 1 (< 7): 2 of 3 retained.
        self.assertEqual(li["retention"]["eligible"], 3)
        self.assertEqual(li["retention"]["retained"], 2)
        self.assertAlmostEqual(li["retention"]["rate"], 2 / 3)
        self.assertFalse(li["suspicious"])
        self.assertEqual((wang["quick_unsubscribes"], wang["net_fans"], wang["suspicious"]),
                         (1, 0, False))
        self.assertEqual((zhao["new_fans"], zhao["unsubscribes"], zhao["net_fans"],
                          zhao["quick_unsubscribes"], zhao["retained_fans"]), (7, 6, 1, 6, 1))
        self.assertTrue(zhao["suspicious"])
        self.assertIn("quick_unsubscribes", zhao["flags"])
        self.assertIn("6 of 7 subscribes were undone within 10 minutes", zhao["flag_reasons"])
        table = self.stats("--by", "promoter", "--since", "2026-10-10", "--until", "2026-10-20")
        self.assertIn("SUSPICIOUS", table.stdout)
        self.assertIn("Zhao: 6 of 7", table.stdout)

    def test_csv_with_bom_reads_back(self):
        raw = self.stats("--format", "csv", "--bom", "--since", "2026-10-10",
                         "--until", "2026-10-11").stdout
        self.assertTrue(raw.startswith("\ufeff"))
        rows = list(csv.DictReader(io.StringIO(raw[1:])))
        self.assertEqual(list(rows[0]), ["scene", "name", "promoter", "scans", "unique_scanners",
                                         "new_fans", "returning_fans", "unsubscribes", "net_fans",
                                         "retained_fans"])
        by_scene = {r["scene"]: r for r in rows}
        self.assertEqual(by_scene["43"]["name"], "门店 43")
        self.assertEqual(by_scene[""]["name"], "(organic)")
        self.assertEqual(int(by_scene["42"]["net_fans"]), 1)
        plain = self.stats("--format", "csv", "--since", "2026-10-10", "--until", "2026-10-11")
        self.assertTrue(plain.stdout.startswith("scene,"))

    def test_table_is_aligned_and_has_totals(self):
        out = self.stats("--since", "2026-10-10", "--until", "2026-10-11").stdout
        lines = out.splitlines()
        self.assertIn("2026-10-10 .. 2026-10-11 (Asia/Shanghai)", lines[0])
        self.assertTrue(lines[1].startswith("SCENE"))
        total = [l for l in lines if l.startswith("TOTAL")][0]
        self.assertEqual(total.split()[1:], ["8", "5", "5", "1", "3", "3", "3"])

    def test_bad_arguments_are_clear_usage_errors(self):
        cases = [
            (["--since", "2026-02-30"], "--since: '2026-02-30' is not a date"),
            (["--until", "yesterday"], "--until: 'yesterday' is not a date"),
            (["--since", "2026-11-05", "--until", "2026-11-01"], "is after --until"),
            (["--by", "week"], "--by: 'week'"),
            (["--format", "xml"], "--format: 'xml'"),
            (["--bom"], "--bom only applies to --format csv"),
            (["extra"], "unexpected argument"),
        ]
        for args, msg in cases:
            p = self.stats(*args, check=False)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(msg, p.stderr, args)
            self.assertEqual(p.stdout, "", args)

    def test_a_range_of_any_length(self):
        """"Everything" as users and scripts ask for it: the numbers of a
        range that just covers the data, with "since" and "until" as asked,
        in every view and format, from the CLI and from /api/stats."""
        wide = ["--since", "2000-01-01", "--until", "2100-01-01"]
        cover = ["--since", "2026-10-01", "--until", "2026-10-31"]
        for by in ("channel", "promoter"):
            got, want = self.json_stats("--by", by, *wide), self.json_stats("--by", by, *cover)
            self.assertEqual((got.pop("since"), got.pop("until")), ("2000-01-01", "2100-01-01"))
            del want["since"], want["until"]
            self.assertEqual(got, want, by)
        got, want = self.json_stats("--by", "day", *wide), self.json_stats("--by", "day", *cover)
        self.assertEqual(got["totals"], want["totals"])
        # by day: the days that can hold data, the first one with data .. today
        today = datetime.datetime.now(SHANGHAI).date()
        dates = [d["date"] for d in got["days"]]
        self.assertEqual(dates[0], "2026-10-10")
        self.assertEqual(dates[-1], today.isoformat())
        self.assertEqual(len(dates), (today - datetime.date(2026, 10, 10)).days + 1)
        narrow = {d["date"]: d for d in want["days"]}
        for d in got["days"]:
            self.assertEqual(d, narrow.get(d["date"], dict(ZERO, date=d["date"])), d["date"])
        self.assertEqual(self.stats("--format", "csv", *wide).stdout,
                         self.stats("--format", "csv", *cover).stdout)
        table = self.stats(*wide).stdout.splitlines()
        self.assertIn("2000-01-01 .. 2100-01-01 (Asia/Shanghai), by channel", table[0])
        self.assertEqual(table[1:], self.stats(*cover).stdout.splitlines()[1:])
        for by in ("channel", "promoter", "day"):
            r = wxs.request(self.env.admin_port, "GET",
                            f"/api/stats?since=2000-01-01&until=2100-01-01&by={by}",
                            headers={"Authorization": "Bearer admintoken"})
            self.assertEqual(r.status, 200, (by, r))
            self.assertEqual(json.loads(r.body), self.json_stats("--by", by, *wide), by)

    def test_default_range_is_the_last_30_days(self):
        out = self.json_stats()
        today = datetime.datetime.now(SHANGHAI).date()
        self.assertEqual(out["until"], today.isoformat())
        self.assertEqual(out["since"], (today - datetime.timedelta(days=29)).isoformat())


def recompute(db_rows, fans, since, until, tz=SHANGHAI):
    """The CONTRACT's numbers straight from the events and fans tables."""
    def day(ts):
        return datetime.datetime.fromtimestamp(ts, tz).date().isoformat()

    inr = lambda ts: since <= day(ts) <= until
    out, scanners, all_scanners, last = {}, {}, set(), {}
    row = lambda s: out.setdefault(s, dict(ZERO))
    for _id, kind, openid, ct, scene, is_new in db_rows:
        prev = last.get(openid)
        if kind in (0, 2):
            last[openid] = (kind, ct)
        if not inr(ct):
            continue
        if kind in (0, 1) and scene:
            row(scene)["scans"] += 1
            scanners.setdefault(scene, set()).add(openid)
            all_scanners.add(openid)
        if kind == 0:
            row(scene)["new_fans" if is_new else "returning_fans"] += 1
        if kind == 2 and prev and prev[0] == 0:
            row(scene)["unsubscribes"] += 1
    for openid, last_scene, last_sub_at, subscribed in fans:
        if subscribed and last_sub_at and inr(last_sub_at):
            row(last_scene)["retained_fans"] += 1
    totals = dict(ZERO)
    for s, r in out.items():
        r["unique_scanners"] = len(scanners.get(s, ()))
        r["net_fans"] = r["new_fans"] + r["returning_fans"] - r["unsubscribes"]
        for k in totals:
            totals[k] += r[k]
    totals["unique_scanners"] = len(all_scanners)
    return out, totals


class RollupsMatchRecomputationTest(unittest.TestCase):
    """A random log (retries, out-of-order scans, channel hopping) pushed
    through the server: the rollups equal a recomputation from the raw
    events, and `stats --rebuild` reproduces them exactly."""

    def test_random_log(self):
        rnd = random.Random(6)
        e = wxs.Env()
        try:
            for s in ("1", "2", "3"):
                e.cli("channel", "add", s, "--name", f"Channel {s}")
            e.start_server()
            base = t("2026-09-01", "00:00:00")
            state = {}
            for i in range(400):
                openid = f"o{rnd.randrange(40)}"
                ts = base + rnd.randrange(5 * 86400)  # 5 days, in any order
                scene = rnd.choice(["1", "2", "3", "4", None])
                sub = state.get(openid, False)
                if not sub:
                    ev, key = SUB, (f"qrscene_{scene}" if scene else None)
                    state[openid] = True
                elif rnd.random() < 0.4:
                    ev, key = UNSUB, None
                    state[openid] = False
                else:
                    ev, key = SCAN, scene or "1"
                xml = wxs.event_xml(openid, ts, ev, key)
                for _ in range(1 + (rnd.random() < 0.2)):
                    self.assertEqual(e.push(xml).status, 200)
            events = e.sql("SELECT id, kind, openid, create_time, scene, is_new_fan FROM events "
                           "ORDER BY id")
            fans = e.sql("SELECT openid, last_scene, last_sub_at, subscribed FROM fans")
            for since, until in [("2026-09-01", "2026-09-06"), ("2026-09-02", "2026-09-03"),
                                 ("2026-09-04", "2026-09-04")]:
                want_rows, want_totals = recompute(events, fans, since, until)
                args = ["stats", "--format", "json", "--since", since, "--until", until]
                before = json.loads(e.cli(*args).stdout)
                rebuilt = json.loads(e.cli(*args, "--rebuild").stdout)
                self.assertEqual(before, rebuilt, f"{since}..{until}: hook vs rebuild")
                got = {c["scene"]: {k: c[k] for k in ZERO} for c in before["channels"]}
                for scene, want in want_rows.items():
                    self.assertEqual(got.get(scene), want, f"{since}..{until} scene {scene}")
                for scene, g in got.items():
                    if scene not in want_rows:
                        self.assertEqual(g, ZERO, f"{since}..{until} scene {scene}")
                self.assertEqual(before["totals"], want_totals, f"{since}..{until}")
        finally:
            e.stop_server()
            e.cleanup()


if __name__ == "__main__":
    unittest.main()
