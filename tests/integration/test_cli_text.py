"""The CLI's text for people and spreadsheets: tables padded by display
width (a CJK character takes two columns) in channel list, qr list and tag
status as in stats; CSV input in UTF-8 (BOM or not) and GB18030/GBK with an
English or Chinese header; names and promoters trimmed and NFC-normalised;
channel edit (CLI and admin API); CSV output with a BOM and local times;
every option the parsers take listed in the help."""
import os
import sys
import unicodedata
import unittest

import wxs

sys.path.insert(0, os.path.join(wxs.SRC, "tests", "fakes"))
import fake_wechat  # noqa: E402

APPID = "wx0123456789abcdef"
SECRET = "s3cret"


def dwidth(s):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


class AlignAsserts:
    def assert_aligned(self, text, heads):
        """Each column starts at the same display column on every line:
        the header's column starts, measured in display width."""
        lines = [ln for ln in text.splitlines() if ln.strip()]
        head = lines[0]
        starts = [head.index(h) for h in heads]
        for ln in lines[1:]:
            # the display column where each cell starts
            cols, w, prev = [], 0, " "
            for ch in ln:
                if ch != " " and prev == " ":
                    cols.append(w)
                w += dwidth(ch)
                prev = ch
            for s in starts:
                if s > 0:
                    self.assertIn(s, cols, f"no cell starts at display column {s}:\n{text}")


class TableTest(AlignAsserts, unittest.TestCase):
    def setUp(self):
        self.fake = fake_wechat.Fake(appid=APPID, secret=SECRET).start()
        self.addCleanup(self.fake.stop)
        self.env = wxs.Env()
        self.addCleanup(self.env.cleanup)
        self.env.write_config(wechat={"appid": APPID, "appsecret": SECRET, "api_base": self.fake.url,
                                      "mp_base": self.fake.url, "api_timeout": 5})

    def test_channel_list(self):
        e = self.env
        e.cli("channel", "add", "1", "--name", "静安寺店", "--promoter", "张伟", "--tag", "春季")
        e.cli("channel", "add", "2", "--name", "Shop", "--promoter", "Li", "--tag", "spring")
        out = e.cli("channel", "list").stdout
        self.assert_aligned(out, ["SCENE", "NAME", "PROMOTER", "TAG"])
        self.assertIn("静安寺店", out)

    def test_qr_list(self):
        e = self.env
        e.cli("channel", "add", "7", "--name", "静安寺店")
        e.cli("channel", "add", "8", "--name", "Shop")
        e.cli("qr", "create", "7", "--perm")
        e.cli("qr", "create", "8", "--perm")
        out = e.cli("qr", "list").stdout
        self.assert_aligned(out, ["SCENE", "KIND", "EXPIRES", "LEFT", "CHANNEL", "URL"])

    def test_tag_status(self):
        e = self.env
        e.cli("channel", "add", "1", "--name", "a", "--tag", "春季传单")
        e.cli("channel", "add", "2", "--name", "b", "--tag", "spring")
        e.write_config(wechat={"appid": APPID, "appsecret": SECRET, "api_base": self.fake.url,
                               "mp_base": self.fake.url, "api_timeout": 5}, tag={"worker": "false"})
        e.start_server()
        try:
            for i, scene in enumerate(("1", "2")):
                r = e.push(wxs.event_xml(f"oFan{i}", 1764000000 + i, "subscribe", "qrscene_" + scene))
                self.assertEqual(r.status, 200)
        finally:
            self.assertEqual(e.stop_server(), 0)
        out = e.cli("tag", "status").stdout
        lines = out.splitlines()[:3]  # the header and the two tags; numbers right-aligned
        self.assertEqual(len({dwidth(ln) for ln in lines}), 1, out)
        self.assertIn("春季传单", out)


if __name__ == "__main__":
    unittest.main()


class CsvInputTest(unittest.TestCase):
    """channel import and qr batch read one way (src/csv.c)."""

    def setUp(self):
        self.fake = fake_wechat.Fake(appid=APPID, secret=SECRET).start()
        self.addCleanup(self.fake.stop)
        self.env = wxs.Env()
        self.addCleanup(self.env.cleanup)
        self.env.write_config(wechat={"appid": APPID, "appsecret": SECRET, "api_base": self.fake.url,
                                      "mp_base": self.fake.url, "api_timeout": 5})

    def write(self, name, data):
        path = os.path.join(self.env.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def channels(self):
        import json
        return {c["scene"]: c for c in json.loads(self.env.cli("channel", "list", "--format", "json").stdout)}

    def test_import_gbk_with_chinese_header_and_excel_blank_rows(self):
        text = ("场景值,名称,推广员,欢迎语,扫码回复,标签\r\n"
                "1,静安寺店,张伟,欢迎光临{channel},,春季\r\n"
                "2,徐汇店,李娜,,再次欢迎,\r\n"
                ",,,,,\r\n,,,,,\r\n")
        p = self.env.cli("channel", "import", self.write("gbk.csv", text.encode("gbk")))
        self.assertIn("imported 2 channels", p.stdout)
        self.assertIn("GB18030", p.stdout)
        ch = self.channels()
        self.assertEqual((ch["1"]["name"], ch["1"]["promoter"], ch["1"]["reply"], ch["1"]["tag"]),
                         ("静安寺店", "张伟", "欢迎光临{channel}", "春季"))
        self.assertEqual((ch["2"]["name"], ch["2"]["scan_reply"]), ("徐汇店", "再次欢迎"))

    def test_import_utf8_bom_english_header_other_order(self):
        text = "name,scene,promoter\n静安寺店,1,张伟\n,,\n"
        p = self.env.cli("channel", "import", self.write("bom.csv", b"\xef\xbb\xbf" + text.encode()))
        self.assertIn("imported 1 channels", p.stdout)
        self.assertIn("UTF-8 with BOM", p.stdout)
        self.assertEqual(self.channels()["1"]["promoter"], "张伟")
        p = self.env.cli("channel", "import", self.write("plain.csv", "2,徐汇店,,,\n".encode()))
        self.assertIn("(read as UTF-8)", p.stdout)

    def test_import_neither_encoding_refused_with_place(self):
        data = "场景值,名称\r\n1,静安寺店\r\n2,".encode("gbk") + b"\xff\xfe\xff\r\n"
        p = self.env.cli("channel", "import", self.write("bad.csv", data), check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("bad.csv:3: column 2 (byte 3): neither UTF-8 nor GB18030", p.stderr)
        self.assertEqual(self.channels(), {})

    def test_import_unknown_header_column(self):
        p = self.env.cli("channel", "import", self.write("h.csv", "场景值,名称,备注\n1,a,x\n".encode()),
                         check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("h.csv:1: column 3: unknown column \"备注\"", p.stderr)

    def test_qr_batch_gbk_chinese_header(self):
        text = "场景值,名称,推广员,类型,有效期\r\n31,静安寺店,张伟,temp,1d\r\n,,,,\r\n"
        out = os.path.join(self.env.dir, "out")
        p = self.env.cli("qr", "batch", self.write("b.csv", text.encode("gbk")), "--out", out)
        self.assertIn("1 rows: 1 created", p.stdout)
        self.assertIn("GB18030", p.stdout)
        ch = self.channels()
        self.assertEqual((ch["31"]["name"], ch["31"]["promoter"]), ("静安寺店", "张伟"))


class TidyTest(unittest.TestCase):
    """"张伟 " and "张伟" are one promoter however they arrive."""

    def setUp(self):
        self.env = wxs.Env()
        self.addCleanup(self.env.cleanup)

    def listed(self):
        import json
        return {c["scene"]: c for c in json.loads(self.env.cli("channel", "list", "--format", "json").stdout)}

    def test_cli_import_and_admin(self):
        import json
        e = self.env
        e.cli("channel", "add", "1", "--name", " 静安寺店\u3000", "--promoter", "张伟 ")
        path = os.path.join(e.dir, "ch.csv")
        with open(path, "w", encoding="utf-8") as f:
            f.write("2,Cafe\u0301,\u3000张伟,,\n")
        e.cli("channel", "import", path)
        p = e.cli("channel", "add", "3", "--name", "\u3000 ", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("name: length 0", p.stderr)
        e.start_server()
        try:
            r = wxs.request(e.admin_port, "POST", "/api/channels",
                            body=json.dumps({"scene": 4, "name": "Shop", "promoter": "\t张伟\u3000"}).encode(),
                            headers={"Authorization": "Bearer admintoken", "Content-Type": "application/json"})
            self.assertEqual(r.status, 201, r)
            self.assertEqual(json.loads(r.body)["promoter"], "张伟")
        finally:
            self.assertEqual(e.stop_server(), 0)
        ch = self.listed()
        self.assertEqual(ch["1"]["name"], "静安寺店")
        self.assertEqual(ch["2"]["name"], "Caf\u00e9")
        self.assertEqual({ch[s]["promoter"] for s in "124"}, {"张伟"})
        out = e.cli("stats", "--by", "promoter", "--format", "csv").stdout
        self.assertEqual([ln.split(",")[0] for ln in out.splitlines()[1:]].count("张伟"), 1, out)
