"""The dashboard (the console's first page) in a real browser, the way a
script would fetch it: Debian's headless chromium loads GET / from the
admin listener with --dump-dom, signs in with the token handed over in the
URL fragment (#token=...), and the DOM it renders is checked: the channel
table shows the right numbers, a wrong token shows a clear error. A
screenshot is taken too (WXS_DASHBOARD_PNG=path keeps it, e.g.
docs/dashboard.png). Skipped when /usr/bin/chromium is absent
(scripts/deps.sh --browser installs it)."""
import html.parser
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import wxs

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ADMIN_TOKEN = "admintoken"
DAY = 86400

# (scene, name, promoter)
CHANNELS = [
    ("42", "Store 42 · Nanjing Rd", "Li"),
    ("43", "门店 43 · 徐家汇", "Li"),
    ("77", "Metro poster 77", "Wang"),
    ("spring-flyer", "Spring flyer", "Wang"),
    ("88", "Street team", "Zhao"),
    ("wechat-article", "Article footer", None),
]


def chromium_args(user_dir, *extra):
    return [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
            f"--user-data-dir={user_dir}", "--virtual-time-budget=15000", *extra]


class Rows(html.parser.HTMLParser):
    """Channel rows (tr[data-scene]) as {scene: {metric: text}}, plus the
    body's data-state and the login error text."""

    def __init__(self):
        super().__init__()
        self.rows, self.state, self.error = {}, None, None
        self._row = self._metric = None
        self._in_error = False
        self._error_hidden = True

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.state = a.get("data-state")
        if tag == "tr" and "data-scene" in a:
            self._row = self.rows.setdefault(a["data-scene"], {})
        if tag == "td" and self._row is not None and "data-metric" in a:
            self._metric = a["data-metric"]
            self._row[self._metric] = ""
        if a.get("id") == "login-error":
            self._in_error, self._error_hidden = True, "hidden" in a
            self.error = ""

    def handle_endtag(self, tag):
        if tag == "td":
            self._metric = None
        if tag == "tr":
            self._row = None
        if tag == "p" and self._in_error:
            self._in_error = False

    def handle_data(self, data):
        if self._row is not None and self._metric:
            self._row[self._metric] += data
        if self._in_error:
            self.error += data

    @property
    def visible_error(self):
        return None if self._error_hidden else self.error


@unittest.skipUnless(os.access(CHROMIUM, os.X_OK),
                     f"{CHROMIUM} not found: run scripts/deps.sh --browser to install Debian's chromium")
class DashboardTest(wxs.ServerCase):
    @classmethod
    def prepare(cls, e):
        for scene, name, promoter in CHANNELS:
            args = ["channel", "add", scene, "--name", name] + (["--promoter", promoter] if promoter else [])
            e.cli(*args)

    @classmethod
    def started(cls, e):
        now = int(time.time())
        pushes = []
        # 42: 5 new fans on 5 days, one of them leaves a day later; 2 scans by a fan.
        for i in range(5):
            pushes.append(wxs.event_xml(f"a{i}", now - (i + 1) * DAY, "subscribe", "qrscene_42"))
        pushes.append(wxs.event_xml("a0", now - DAY + 3600, "unsubscribe"))
        pushes += [wxs.event_xml("a1", now - 3600 * k, "SCAN", "42") for k in (1, 2)]
        # a spread of traffic over two weeks for the other channels
        for d in range(14):
            for j, scene in enumerate(["43", "77", "spring-flyer", "wechat-article"]):
                for k in range((d * (j + 2)) % 4 + 1):
                    pushes.append(wxs.event_xml(f"b{d}-{j}-{k}", now - d * DAY - 600 * k - 60 * j,
                                                "subscribe", f"qrscene_{scene}"))
            if d % 3 == 0:
                pushes.append(wxs.event_xml(f"b{d}-1-0", now - d * DAY + 7200, "unsubscribe"))
        # 88: subscribe-unsubscribe pairs within two minutes: flagged
        for i in range(6):
            t = now - 2 * DAY + i * 300
            pushes.append(wxs.event_xml(f"z{i}", t, "subscribe", "qrscene_88"))
            pushes.append(wxs.event_xml(f"z{i}", t + 90, "unsubscribe"))
        for i in range(4):
            pushes.append(wxs.event_xml(f"org{i}", now - i * DAY - 100, "subscribe"))
        for x in pushes:
            r = e.push(x)
            assert r.status == 200, r
        cls.user_dir = tempfile.mkdtemp(prefix="wxs-chromium-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.user_dir, ignore_errors=True)
        super().tearDownClass()

    def browse(self, fragment):
        url = f"http://127.0.0.1:{self.env.admin_port}/{fragment}"
        p = subprocess.run(chromium_args(self.user_dir, "--dump-dom", url),
                           capture_output=True, text=True, timeout=90)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        rows = Rows()
        rows.feed(p.stdout)
        return rows

    def test_token_login_shows_the_right_numbers(self):
        page = self.browse(f"#token={ADMIN_TOKEN}")
        self.assertEqual(page.state, "ready")
        # by hand: 42 has 5 new fans, 1 left, 7 scans (5 subscribes + 2 SCANs) by 5 people
        row = page.rows["42"]
        self.assertEqual((row["new_fans"], row["unsubscribes"], row["net_fans"], row["scans"],
                          row["unique_scanners"], row["retained_fans"]),
                         ("5", "1", "4", "7", "5", "4"))
        self.assertEqual(page.rows["88"]["net_fans"], "0")
        self.assertEqual(page.rows[""]["new_fans"], "4")  # organic
        # every channel row equals the CLI's JSON for the same default range
        cli = json.loads(self.env.cli("stats", "--format", "json").stdout)
        want = {("" if c["scene"] is None else c["scene"]): c for c in cli["channels"]}
        self.assertEqual(set(page.rows), set(want))
        for scene, cells in page.rows.items():
            for metric, text in cells.items():
                self.assertEqual(int(text.replace(",", "")), want[scene][metric], (scene, metric))
        # ranked by net fans, as rendered
        order = list(page.rows)
        self.assertEqual(order, [("" if c["scene"] is None else c["scene"]) for c in cli["channels"]])

    def test_wrong_token_shows_an_error(self):
        page = self.browse("#token=not-the-token")
        self.assertEqual(page.state, "error")
        self.assertIn("token was not accepted", page.visible_error or "")
        self.assertEqual(page.rows, {})

    def test_no_token_asks_for_one(self):
        page = self.browse("")
        self.assertEqual(page.state, "login")
        self.assertIsNone(page.visible_error)
        self.assertEqual(page.rows, {})

    def test_screenshot(self):
        out = os.environ.get("WXS_DASHBOARD_PNG") or os.path.join(self.env.dir, "dashboard.png")
        url = f"http://127.0.0.1:{self.env.admin_port}/#token={ADMIN_TOKEN}"
        p = subprocess.run(chromium_args(self.user_dir, f"--screenshot={os.path.abspath(out)}",
                                         "--window-size=1280,900", url),
                           capture_output=True, text=True, timeout=90)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        with open(out, "rb") as f:
            png = f.read()
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        self.assertGreater(len(png), 20000)  # a rendered page, not a blank one


if __name__ == "__main__":
    unittest.main()
