"""Campaigns (issue 20): `campaign add|list`, `channel add|edit
--campaign`, and `stats --by campaign` (and `--campaign NAME` by day and by
channel) against a Python model over a random event log pushed through the
real wxscened with WeChat-style retries, on SQLite or PostgreSQL
(WXS_TEST_BACKEND). The model folds the events table per campaign and
counts unique_scanners as the set of openids across the campaign's
channels, never a sum. Moving a channel to another campaign moves its whole
history: a report reads each channel's campaign when it runs (the model
does the same with the mapping of that moment)."""
import csv
import datetime
import io
import json
import random
import unittest
import urllib.parse
import zoneinfo

import wxs

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
FIELDS = ("scans", "unique_scanners", "new_fans", "returning_fans", "unsubscribes", "net_fans",
          "retained_fans")
SUB, SCAN, UNSUB = "subscribe", "SCAN", "unsubscribe"


def t(day, hms="00:00:00"):
    d = datetime.datetime.fromisoformat(f"{day}T{hms}").replace(tzinfo=SHANGHAI)
    return int(d.timestamp())


def day_of(ts):
    return datetime.datetime.fromtimestamp(ts, SHANGHAI).date().isoformat()


def model(events, fans, group_of, since, until):
    """{campaign or None: {field: n}}, per-day rows of each campaign and
    the totals, from the raw events and fans (the CONTRACT's definitions),
    channels grouped by group_of(scene) as it is now."""
    rows, per_day, last = {}, {}, {}
    scanners, day_scanners, all_scanners = {}, {}, set()

    def row(g):
        return rows.setdefault(g, dict.fromkeys(FIELDS, 0))

    def drow(g, d):
        return per_day.setdefault(g, {}).setdefault(d, dict.fromkeys(FIELDS, 0))

    for _id, kind, openid, ct, scene, is_new in events:
        prev = last.get(openid)
        if kind in (0, 2):
            last[openid] = (kind, ct)
        d = day_of(ct)
        if not since <= d <= until:
            continue
        g = group_of(scene) if scene else None
        if kind in (0, 1) and scene:
            for r in (row(g), drow(g, d)):
                r["scans"] += 1
            scanners.setdefault(g, set()).add(openid)
            day_scanners.setdefault((g, d), set()).add(openid)
            all_scanners.add(openid)
        if kind == 0:
            for r in (row(g), drow(g, d)):
                r["new_fans" if is_new else "returning_fans"] += 1
        if kind == 2 and prev and prev[0] == 0:  # the store puts the fan's latest scene on it
            for r in (row(g), drow(g, d)):
                r["unsubscribes"] += 1
    for _openid, last_scene, last_sub_at, subscribed in fans:
        if subscribed and last_sub_at and since <= day_of(last_sub_at) <= until:
            g = group_of(last_scene) if last_scene else None
            for r in (row(g), drow(g, day_of(last_sub_at))):
                r["retained_fans"] += 1
    for g, r in rows.items():
        r["unique_scanners"] = len(scanners.get(g, ()))
    for (g, d), s in day_scanners.items():
        drow(g, d)["unique_scanners"] = len(s)
    for r in [*rows.values(), *(x for days in per_day.values() for x in days.values())]:
        r["net_fans"] = r["new_fans"] + r["returning_fans"] - r["unsubscribes"]
    totals = {k: sum(r[k] for r in rows.values()) for k in FIELDS}
    totals["unique_scanners"] = len(all_scanners)
    return rows, per_day, totals


class CampaignCliTest(unittest.TestCase):
    def setUp(self):
        self.env = wxs.Env()  # a store of its own per test
        self.addCleanup(self.env.cleanup)

    def cli(self, *args, check=True):
        return self.env.cli(*args, check=check)

    def test_add_list_and_assign(self):
        e = self.env
        p = self.cli("campaign", "add", " 地铁 2 号线\u3000", "--note", "50 个站点")
        self.assertIn("campaign 地铁 2 号线 added", p.stdout)
        p = self.cli("campaign", "add", "地铁 2 号线", check=False)  # the same once tidied
        self.assertEqual((p.returncode, p.stderr.strip()),
                         (1, "wxscene: campaign add: campaign 地铁 2 号线 exists"))
        self.cli("campaign", "add", "Trade fair")
        for bad, why in [("", "name: length 0"), ("a\x01b", "name: control character"),
                         ("x" * 129, "name: length 129")]:
            p = self.cli("campaign", "add", bad, check=False)
            self.assertEqual(p.returncode, 2, bad)
            self.assertIn(why, p.stderr)
        self.cli("channel", "add", "42", "--name", "Store 42", "--campaign", "地铁 2 号线 ")
        self.cli("channel", "add", "43", "--name", "Store 43")
        # an unknown campaign: a clear error, and nothing is added or changed
        p = self.cli("channel", "add", "44", "--name", "x", "--campaign", "Nope", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("campaign Nope does not exist (create it first: wxscene campaign add NAME)",
                      p.stderr)
        p = self.cli("channel", "edit", "43", "--name", "Renamed", "--campaign", "Nope",
                     check=False)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(e.sql("SELECT scene, name FROM channels ORDER BY scene"),
                         [("42", "Store 42"), ("43", "Store 43")])
        p = self.cli("channel", "edit", "43", "--campaign", "Trade fair")
        self.assertIn("channel 43 edited (Store 43), campaign Trade fair", p.stdout)
        p = self.cli("channel", "edit", "99", "--campaign", "Trade fair", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("channel 99 does not exist", p.stderr)
        listed = json.loads(self.cli("channel", "list", "--format", "json").stdout)
        self.assertEqual({c["scene"]: c["campaign"] for c in listed},
                         {"42": "地铁 2 号线", "43": "Trade fair"})
        table = self.cli("channel", "list").stdout
        self.assertIn("CAMPAIGN", table.splitlines()[0])
        self.assertIn("地铁 2 号线", table)
        p = self.cli("channel", "edit", "42", "--campaign", "")
        self.assertIn("in no campaign", p.stdout)
        got = json.loads(self.cli("campaign", "list", "--format", "json").stdout)
        self.assertEqual([(c["name"], c["note"], c["channels"]) for c in got],
                         [("Trade fair", None, 1), ("地铁 2 号线", "50 个站点", 0)])
        rows = list(csv.reader(io.StringIO(
            self.cli("campaign", "list", "--format", "csv", "--bom").stdout)))
        self.assertEqual(rows[0], ["\ufeffcampaign", "channels", "created_at", "note"])
        self.assertEqual([r[:2] for r in rows[1:]], [["Trade fair", "1"], ["地铁 2 号线", "0"]])
        self.cli("channel", "archive", "43")
        p = self.cli("channel", "edit", "43", "--campaign", "", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("archived", p.stderr)

    def test_stats_arguments(self):
        self.cli("campaign", "add", "A")
        for args, why in [(["--by", "promoter", "--campaign", "A"], "--campaign applies to"),
                          (["--by", "campaign", "--campaign", "A"], "--campaign applies to"),
                          (["--by", "nope"], "channel, promoter, day or campaign")]:
            p = self.cli("stats", *args, check=False)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(why, p.stderr)
        p = self.cli("stats", "--by", "day", "--campaign", "B", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("--campaign: campaign B does not exist", p.stderr)
        out = json.loads(self.cli("stats", "--by", "campaign", "--format", "json").stdout)
        self.assertEqual([c["campaign"] for c in out["campaigns"]], ["A", None])
        self.assertEqual(out["campaigns"][0], {"campaign": "A", "channels": 0,
                                               **dict.fromkeys(FIELDS, 0)})


class CampaignStatsModelTest(wxs.ServerCase):
    """A random log, retries included, through the server; every view of
    `stats` by campaign equals the model, before and after channels move
    between campaigns, and after `stats --rebuild`."""

    RANGES = [("2026-09-01", "2026-09-08"), ("2026-09-02", "2026-09-03"),
              ("2026-09-05", "2026-09-05"), ("2026-08-01", "2026-08-02")]

    mapping = {"1": "Metro", "2": "Metro", "3": "Metro", "4": "Fair", "5": "门店活动"}

    @classmethod
    def prepare(cls, e):
        for s in "123456":
            e.cli("channel", "add", s, "--name", f"Channel {s}")
        for g in ("Metro", "Fair", "Empty", "门店活动"):
            e.cli("campaign", "add", g)
        for s, g in cls.mapping.items():
            e.cli("channel", "edit", s, "--campaign", g)

    @classmethod
    def started(cls, e):
        rnd = random.Random(20)
        base, state = t("2026-09-01"), {}
        for _ in range(500):
            openid = f"o{rnd.randrange(45)}"
            ts = base + rnd.randrange(8 * 86400)  # 8 days, pushed in any order
            scene = rnd.choice(["1", "2", "3", "4", "5", "6", "9", None])
            if not state.get(openid):
                ev, key = SUB, (f"qrscene_{scene}" if scene else None)
                state[openid] = True
            elif rnd.random() < 0.35:
                ev, key = UNSUB, None
                state[openid] = False
            else:
                ev, key = SCAN, scene or "1"
            xml = wxs.event_xml(openid, ts, ev, key)
            for _ in range(1 + (rnd.random() < 0.25)):  # WeChat's retries
                r = e.push(xml)
                assert r.status == 200, r

    def stats(self, *args):
        return json.loads(self.env.cli("stats", "--format", "json", *args).stdout)

    def raw(self):
        events = self.env.sql("SELECT id, kind, openid, create_time, scene, is_new_fan "
                              "FROM events ORDER BY id")
        fans = self.env.sql("SELECT openid, last_scene, last_sub_at, subscribed FROM fans")
        return events, fans

    def check_all(self, mapping, rebuild=False):
        events, fans = self.raw()
        self.assertTrue(any(k == 1 for _, k, *_ in events))  # scans are in the log
        group_of = mapping.get
        for since, until in self.RANGES:
            rng = ["--since", since, "--until", until]
            want, per_day, totals = model(events, fans, group_of, since, until)
            got = self.stats("--by", "campaign", *rng, *(["--rebuild"] if rebuild else []))
            names = [c["campaign"] for c in got["campaigns"]]
            self.assertEqual(names[-1], None, "the none row comes last")
            self.assertEqual(sorted(names[:-1]), sorted(["Metro", "Fair", "Empty", "门店活动"]))
            by_channel = self.stats("--by", "channel", *rng)["channels"]
            for c in got["campaigns"]:
                g = c["campaign"]
                with self.subTest(since=since, campaign=g):
                    self.assertEqual({k: c[k] for k in FIELDS},
                                     want.get(g, dict.fromkeys(FIELDS, 0)))
                    self.assertEqual(c["channels"], sum(
                        1 for r in by_channel if r["scene"] and group_of(r["scene"]) == g))
            self.assertEqual(got["totals"], totals, f"{since}..{until}")
            for g in ("Metro", "门店活动"):
                self.check_filtered(g, rng, want, per_day, since, until)

    def check_filtered(self, g, rng, want, per_day, since, until):
        days = self.stats("--by", "day", "--campaign", g, *rng)
        empty = dict.fromkeys(FIELDS, 0)
        for d in days["days"]:
            with self.subTest(campaign=g, day=d["date"]):
                self.assertEqual({k: d[k] for k in FIELDS},
                                 per_day.get(g, {}).get(d["date"], empty))
        self.assertEqual(days["totals"], want.get(g, empty), f"{g} {since}..{until} by day")
        chans = self.stats("--by", "channel", "--campaign", g, *rng)
        self.assertEqual(chans["totals"]["unique_scanners"], want.get(g, empty)["unique_scanners"])
        self.assertEqual({c["scene"] for c in chans["channels"]},
                         {s for s, m in self.current.items() if m == g})

    def test_1_model(self):
        self.current = dict(self.mapping)
        self.check_all(self.current)
        # exact, not a sum: Metro's unique is below the sum of its channels'
        rng = ["--since", "2026-09-01", "--until", "2026-09-08"]
        metro = [c for c in self.stats("--by", "campaign", *rng)["campaigns"]
                 if c["campaign"] == "Metro"][0]
        per_channel = sum(c["unique_scanners"] for c in self.stats("--by", "channel", *rng)
                          ["channels"] if c["scene"] in ("1", "2", "3"))
        self.assertLess(metro["unique_scanners"], per_channel)

    def test_2_moving_channels_moves_their_history(self):
        e = self.env
        e.cli("channel", "edit", "3", "--campaign", "Fair")
        e.cli("channel", "edit", "6", "--campaign", "Metro")
        e.cli("channel", "edit", "5", "--campaign", "")
        self.current = {"1": "Metro", "2": "Metro", "3": "Fair", "4": "Fair", "6": "Metro"}
        try:
            self.check_all(self.current)
            self.check_all(self.current, rebuild=True)
        finally:
            for s in "123456":
                e.cli("channel", "edit", s, "--campaign", self.mapping.get(s, ""))

    def api(self, method, path, body=None):
        r = self.admin(method, path, body)
        return r.status, (json.loads(r.body) if r.body else None)

    def test_4_admin_api(self):
        rng = "since=2026-09-01&until=2026-09-08"
        cli = self.stats("--by", "campaign", "--since", "2026-09-01", "--until", "2026-09-08")
        status, got = self.api("GET", f"/api/stats?by=campaign&{rng}")
        self.assertEqual((status, got), (200, cli))
        q = urllib.parse.quote("门店活动")
        status, got = self.api("GET", f"/api/stats?by=day&campaign={q}&{rng}")
        self.assertEqual(status, 200)
        self.assertEqual(got, self.stats("--by", "day", "--campaign", "门店活动", "--since",
                                         "2026-09-01", "--until", "2026-09-08"))
        status, got = self.api("GET", f"/api/stats?by=day&campaign=Nope&{rng}")
        self.assertEqual((status, got), (404, {"error": "campaign Nope does not exist",
                                               "field": "campaign", "code": "campaign_unknown"}))
        status, got = self.api("GET", "/api/stats?by=promoter&campaign=Metro")
        self.assertEqual((status, got["field"], got["code"]), (400, "campaign", "campaign_scope"))
        self.assertEqual(self.admin("GET", "/api/campaigns", auth=False).status, 401)
        status, got = self.api("GET", "/api/campaigns")
        self.assertEqual(status, 200)
        self.assertEqual({c["name"]: c["channels"] for c in got},
                         {"Metro": 3, "Fair": 1, "Empty": 0, "门店活动": 1})
        status, got = self.api("POST", "/api/campaigns", {"name": " 展会　", "note": "12 个展位"})
        self.assertEqual((status, got["name"], got["note"], got["channels"]),
                         (201, "展会", "12 个展位", 0))
        status, got = self.api("POST", "/api/campaigns", {"name": "展会"})
        self.assertEqual((status, got), (409, {"error": "campaign 展会 exists", "field": "name",
                                               "code": "campaign_exists"}))
        for body, field in [({"note": "x"}, "name"), ({"name": 5}, "name"),
                            ({"name": "x", "color": "red"}, "color"), ({"name": ""}, "name")]:
            status, got = self.api("POST", "/api/campaigns", body)
            self.assertEqual((status, got["field"], got["code"]), (400, field, "campaign_invalid"),
                             body)
        # a channel's campaign through PATCH, alone or with other fields
        status, got = self.api("PATCH", "/api/channels/6", {"campaign": "展会"})
        self.assertEqual((status, got["campaign"]), (200, "展会"))
        status, got = self.api("PATCH", "/api/channels/6", {"campaign": "Nope", "name": "X"})
        self.assertEqual((status, got["field"], got["code"]), (400, "campaign", "campaign_unknown"))
        self.assertIn("campaign Nope does not exist", got["error"])
        status, got = self.api("GET", "/api/channels/6")
        self.assertEqual((got["name"], got["campaign"]), ("Channel 6", "展会"))  # unchanged
        status, got = self.api("PATCH", "/api/channels/6", {"campaign": None, "name": "Six"})
        self.assertEqual((status, got["name"], got["campaign"]), (200, "Six", None))
        status, got = self.api("PATCH", "/api/channels/nope", {"campaign": "展会"})
        self.assertEqual(status, 404)
        status, got = self.api("PATCH", "/api/channels/6", {"campaign": 3})
        self.assertEqual((status, got["field"], got["code"]), (400, "campaign", "campaign_type"))
        status, got = self.api("PATCH", "/api/channels/6", {"campaign": "展会", "name": ""})
        self.assertEqual((status, got["field"], got["code"]), (400, "name", "name_required"))
        status, got = self.api("GET", "/api/channels/6")
        self.assertEqual((got["name"], got["campaign"]), ("Six", None))  # nothing written
        status, got = self.api("POST", "/api/channels", {"scene": "70", "name": "Booth 70",
                                                         "campaign": "展会"})
        self.assertEqual((status, got["campaign"]), (201, "展会"))
        status, got = self.api("GET", "/api/channels")
        self.assertEqual({c["scene"]: c["campaign"] for c in got}["70"], "展会")
        self.env.cli("channel", "edit", "6", "--name", "Channel 6")

    def test_3_csv_and_table(self):
        rng = ["--since", "2026-09-01", "--until", "2026-09-08"]
        got = self.stats("--by", "campaign", *rng)
        text = self.env.cli("stats", "--by", "campaign", "--format", "csv", *rng).stdout
        rows = list(csv.DictReader(io.StringIO(text)))
        self.assertEqual(list(rows[0]), ["campaign", "channels", *FIELDS])
        self.assertEqual([(r["campaign"] or None, int(r["channels"]), int(r["unique_scanners"]))
                          for r in rows],
                         [(c["campaign"], c["channels"], c["unique_scanners"])
                          for c in got["campaigns"]])
        table = self.env.cli("stats", "--by", "campaign", *rng).stdout
        self.assertIn("CAMPAIGN", table)
        self.assertIn("(no campaign)", table)
        self.assertIn("门店活动", table)


if __name__ == "__main__":
    unittest.main()
