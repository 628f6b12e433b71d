"""The web console in a real browser: Debian's headless chromium, driven
through the DevTools protocol (cdp.py, stdlib only), against the real
wxscened with the fake WeChat API on loopback. Everything runs twice, once
with a zh-CN browser and once with en-US: sign in, add / edit / archive a
channel, import a GBK CSV with a Chinese header and see a bad file's row
errors inline, create a code, download its PNG and decode it with zbarimg
to the URL the fake returned, a signed scan push moving the counts, a
promoter link that shows only that promoter's rows and 404s once revoked,
a channel named like an XSS payload shown as text, every visible string
in the page's language. Campaigns: made in the page (its errors inline),
channels put in one through the dialog, the filter, the dashboard's
by-campaign row and per-campaign chart moving with signed scan pushes
(unique scanners exact), the by-campaign CSV, an XSS-named campaign.

WXS_CONSOLE_SHOTS=DIR writes a screenshot of each page in each language
(docs/console/ keeps them). Skipped only when /usr/bin/chromium is absent
(scripts/deps.sh --browser installs it); a step needing an API route that
this build lacks is skipped with the route named."""
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import zipfile
import zoneinfo
import datetime

import cdp
import wxs

sys.path.insert(0, os.path.join(wxs.SRC, "tests", "fakes"))
import fake_wechat  # noqa: E402

ADMIN = "admintoken"
APPID, SECRET = "wx0123456789abcdef", "secret"
XSS = "<img src=x onerror=alert(1)>"
SHOTS = os.environ.get("WXS_CONSOLE_SHOTS")
ZBARIMG = shutil.which("zbarimg")

# (scene, name, promoter)
CHANNELS = [("42", "Store 42 · Nanjing Rd", "Li"), ("43", "门店 43 · 徐家汇", "Li"),
            ("77", "Metro poster 77", "Wang"), ("88", "Street team", "Zhao")]

# What the pages must say in each language (a few anchors per page).
EXPECT = {
    "zh-CN": {"login": "登录 wxscene", "bad_token": "令牌不正确", "nav": ["数据概览", "渠道", "二维码", "推广员"],
              "archive": "历史记录", "gone": "此链接无效或已被撤销"},
    "en": {"login": "Sign in to wxscene", "bad_token": "The token was not accepted",
           "nav": ["Dashboard", "Channels", "QR codes", "Promoters"], "archive": "history",
           "gone": "This link is not valid or has been revoked"},
}

# A campaign made before the server starts (channels 77 and 88), and the
# one test_09 makes in the page (channels 42 and 43).
PREPARED, CAMPAIGN = "春季地推", "地铁 2 号线"

# Latin words a zh-CN page may show: names of things, not sentences.
ALLOWED_LATIN = {"wxscene", "csv", "png", "svg", "zip", "a4", "id", "utf", "gbk", "gb18030", "excel", "windows",
                 "scene", "name", "promoter", "reply", "scan_reply", "tag", "admin", "token", "wxscene_admin_token",
                 "english", "errcode", "scene_id", "scene_str", "yyyy", "mm", "dd", "channel", "asia", "shanghai"}

VISIBLE_TEXT = r"""(() => {
  const out = [];
  const skip = (e) => !e || e.closest('[translate=no],script,style,svg,datalist,option') || !e.checkVisibility();
  const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (w.nextNode()) {
    const s = w.currentNode.textContent.trim();
    if (s && !skip(w.currentNode.parentElement)) out.push(s);
  }
  document.querySelectorAll('[placeholder],[title],[aria-label]').forEach((e) => {
    if (skip(e)) return;
    for (const a of ['placeholder', 'title', 'aria-label']) { const v = e.getAttribute(a); if (v) out.push(v); }
  });
  document.querySelectorAll('select').forEach((s) => {
    if (!skip(s) && s.selectedOptions[0] && !s.closest('[translate=no]')) out.push(s.selectedOptions[0].textContent);
  });
  return out;
})()"""


def fmt_n(n, ui):
    """N as the page writes it (toLocaleString: 1,234 in both locales)."""
    return f"{n:,}"


def api(env, method, path, body=None, token=ADMIN, ctype="application/json"):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body is not None:
        headers["Content-Type"] = ctype
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
    return wxs.request(env.admin_port, method, path, body=body, headers=headers, timeout=30)


class AssetsTest(wxs.ServerCase):
    """The files behind the pages, over HTTP: types, ETag and 304, the
    Content-Security-Policy, no inline script in any page."""

    def get(self, path, headers=None):
        return wxs.request(self.env.admin_port, "GET", path, headers=headers or {})

    def test_types_etag_and_304(self):
        for name, ctype in [("console.js", "text/javascript; charset=utf-8"), ("i18n.js", "text/javascript; charset=utf-8"),
                            ("console.css", "text/css; charset=utf-8"), ("promoter.js", "text/javascript; charset=utf-8"),
                            ("index.html", "text/html; charset=utf-8"), ("promoter.html", "text/html; charset=utf-8")]:
            r = self.get("/assets/" + name)
            self.assertEqual(r.status, 200, name)
            self.assertEqual(r.headers["Content-Type"], ctype, name)
            self.assertEqual(r.headers["Cache-Control"], "no-cache", name)
            etag = r.headers["ETag"]
            self.assertRegex(etag, r'^"[0-9a-f]{16}"$')
            with open(os.path.join(wxs.SRC, "src", "assets", name), "rb") as f:
                self.assertEqual(r.body, f.read(), name)
            again = self.get("/assets/" + name, {"If-None-Match": etag})
            self.assertEqual(again.status, 304, name)
            self.assertEqual(again.body, b"")
            self.assertEqual(again.headers["ETag"], etag)
            self.assertEqual(self.get("/assets/" + name, {"If-None-Match": '"0000000000000000"'}).status, 200)
        self.assertEqual(self.get("/").body, self.get("/assets/index.html").body)
        self.assertEqual(self.get("/assets/nope.js").status, 404)
        self.assertEqual(self.get("/assets/").status, 404)
        self.assertEqual(self.get("/assets/../admin.c").status, 404)
        self.assertEqual(wxs.request(self.env.admin_port, "POST", "/assets/console.js").status, 405)

    def test_csp_forbids_inline_script(self):
        # an unknown promoter link gets the page too (404), to say so in the reader's language
        for path, status in (("/", 200), ("/assets/index.html", 200), ("/p/" + "x" * 43, 404)):
            r = self.get(path)
            self.assertEqual(r.status, status, path)
            csp = r.headers["Content-Security-Policy"]
            self.assertIn("script-src 'self'", csp)
            self.assertNotIn("unsafe-inline", csp)
            self.assertNotIn("unsafe-eval", csp)

    def test_pages_have_no_inline_script_or_handlers(self):
        class Check(html.parser.HTMLParser):
            bad = []

            def handle_starttag(self, tag, attrs):
                a = dict(attrs)
                if tag == "script" and not a.get("src"):
                    self.bad.append("inline <script>")
                self.bad += [f"{tag} {k}=" for k in a if k.startswith("on") or k == "style"]

        for name in ("index.html", "promoter.html"):
            c = Check()
            c.bad = []
            c.feed(self.get("/assets/" + name).text)
            self.assertEqual(c.bad, [], name)

    def test_promoter_page_has_no_secret(self):
        body = self.get("/p/" + "x" * 43).text
        self.assertNotIn(ADMIN, body)
        for name in ("promoter.js", "i18n.js", "console.js"):
            self.assertNotIn(ADMIN, self.get("/assets/" + name).text)


@unittest.skipUnless(os.access(cdp.CHROMIUM, os.X_OK),
                     f"{cdp.CHROMIUM} not found: run scripts/deps.sh --browser to install Debian's chromium")
class ConsoleBase(wxs.ServerCase):
    """The console in one language (LANG); ConsoleZhTest and ConsoleEnTest
    run it. One server, fake WeChat API and browser per class."""
    LANG = None      # the browser's language
    UI = None        # the console's language key
    browser = None

    @classmethod
    def setUpClass(cls):
        cls.fake = fake_wechat.Fake(appid=APPID, secret=SECRET).start()
        cls.config = {"wechat": {"appid": APPID, "appsecret": SECRET, "api_base": cls.fake.url,
                                 "mp_base": cls.fake.url, "api_timeout": 5}, "admin": {"token": ADMIN}}
        try:
            super().setUpClass()
        except BaseException:  # unittest calls no tearDownClass when setUpClass fails
            if cls.browser:
                cls.browser.close()
            cls.fake.stop()
            raise

    @classmethod
    def prepare(cls, env):
        env.cli("campaign", "add", PREPARED, "--note", "海报 + 地推")
        for scene, name, promoter in CHANNELS:
            extra = ["--campaign", PREPARED] if scene in ("77", "88") else []
            env.cli("channel", "add", scene, "--name", name, "--promoter", promoter, *extra)

    @classmethod
    def started(cls, e):
        now = int(time.time())
        for i in range(3):
            assert e.push(wxs.event_xml(f"li{i}", now - 86400 * (i + 1), "subscribe", "qrscene_43")).status == 200
        assert e.push(wxs.event_xml("wang0", now - 86400, "subscribe", "qrscene_77")).status == 200
        for i in range(6):  # Zhao: subscribe-unsubscribe pairs within minutes, flagged
            t = now - 2 * 86400 + i * 300
            assert e.push(wxs.event_xml(f"z{i}", t, "subscribe", "qrscene_88")).status == 200
            assert e.push(wxs.event_xml(f"z{i}", t + 90, "unsubscribe")).status == 200
        cls.browser = cdp.Browser(lang=cls.LANG)
        cls.missing = cls.probe()

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.browser:
                cls.browser.close()
            super().tearDownClass()
        finally:
            cls.fake.stop()

    @classmethod
    def probe(cls):
        """The API routes of the console issue this build answers."""
        e, missing = cls.env, set()
        if wxs.request(e.admin_port, "GET", "/api/config").status != 200:
            missing.add("GET /api/config")
        for method, path, body in [("POST", "/api/channels/import?dry_run=1", b"scene,name\r\n"),
                                   ("GET", "/api/qrcodes", None), ("GET", "/api/promoters", None),
                                   ("GET", "/api/qrcodes/1/image.png", None)]:
            r = api(e, method, path, body, ctype="text/csv")
            if r.status in (404, 405) and json.loads(r.body).get("error") in ("not found", "method not allowed"):
                missing.add(f"{method} {path.split('?')[0]}")
        return missing

    def need(self, *routes):
        lack = [r for r in routes if r in self.missing]
        if lack:
            self.skipTest("this build has no " + ", ".join(lack) + " (the console API, branch i18-api)")

    # ---- page helpers ----

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.env.admin_port}{path}"

    def open(self, hash_="#/dashboard"):
        """A new tab signed in on HASH's page."""
        p = self.browser.new_page()
        self.addCleanup(lambda: self.browser.send("Target.closeTarget", {"targetId": p.target}))
        p.navigate(self.url("/"))
        p.wait("document.body.dataset.state === 'login'")
        p.eval("window.alert = () => { window.__xss = true; }")
        p.fill("#token", ADMIN)
        p.click("#login-form button[type=submit]")
        p.wait("document.body.dataset.state === 'ready'", what="the dashboard after signing in")
        if hash_ != "#/dashboard":
            self.go(p, hash_)
        return p

    def go(self, p, hash_):
        page = hash_.split("/")[1]
        p.eval(f"location.hash = {json.dumps(hash_)}")
        p.wait(f"document.body.dataset.view === {json.dumps(page)} && document.body.dataset.state === 'ready'",
               what=f"page {page}")

    def tr(self, key):
        return EXPECT[self.UI][key]

    def shot(self, p, name):
        if SHOTS:
            os.makedirs(SHOTS, exist_ok=True)
            p.screenshot(os.path.join(SHOTS, f"{name}-{self.UI}.png"))

    def assert_language(self, p, where):
        """No English left on a zh-CN page (data aside), no Chinese on an
        English one (the 中文 switch aside)."""
        texts = p.eval(VISIBLE_TEXT)
        self.assertTrue(texts, where)
        for s in texts:
            if self.UI == "zh-CN":
                words = [w for w in re.findall(r"[A-Za-z][A-Za-z0-9_]+", s) if w.lower() not in ALLOWED_LATIN]
                self.assertEqual(words, [], f"{where}: English left in {s!r}")
            else:
                if s == "中文":
                    continue
                self.assertIsNone(re.search(r"[\u4e00-\u9fff]", s), f"{where}: Chinese in {s!r}")

    # ---- tests ----

    def test_01_sign_in(self):
        p = self.browser.new_page()
        self.addCleanup(lambda: self.browser.send("Target.closeTarget", {"targetId": p.target}))
        p.navigate(self.url("/"))
        p.wait("document.body.dataset.state === 'login'")
        self.assertEqual(p.text("#login h1"), self.tr("login"))
        self.assertEqual(p.eval("document.documentElement.lang"), self.UI)
        self.assert_language(p, "sign-in page")
        self.shot(p, "signin")
        p.fill("#token", "not-the-token")
        p.click("#login-form button[type=submit]")
        p.wait("!document.querySelector('#login-error').hidden")
        self.assertIn(self.tr("bad_token"), p.text("#login-error"))
        self.assert_language(p, "sign-in error")
        self.assertIsNone(p.eval("sessionStorage.getItem('wxscene.admin.token')"))
        p.fill("#token", ADMIN)
        p.click("#login-form button[type=submit]")
        p.wait("document.body.dataset.state === 'ready'")
        self.assertEqual(p.eval("[...document.querySelectorAll('nav a')].map((a) => a.textContent)"), self.tr("nav"))
        # the token stays in this tab's sessionStorage, never in localStorage or a cookie
        self.assertEqual(p.eval("sessionStorage.getItem('wxscene.admin.token')"), ADMIN)
        self.assertEqual(p.eval("document.cookie"), "")
        self.assertNotIn(ADMIN, json.dumps(p.eval("Object.assign({}, localStorage)")))

    def test_02_fragment_token_and_language_switch(self):
        p = self.browser.new_page()
        self.addCleanup(lambda: self.browser.send("Target.closeTarget", {"targetId": p.target}))
        p.navigate(self.url(f"/#token={ADMIN}"))
        p.wait("document.body.dataset.state === 'ready'")
        self.assertEqual(p.eval("location.hash"), "")
        other = "en" if self.UI == "zh-CN" else "zh-CN"
        try:
            p.click(f"header [data-lang='{other}']")
            p.wait(f"document.documentElement.lang === '{other}' && document.body.dataset.state === 'ready'")
            self.assertEqual(p.eval("[...document.querySelectorAll('nav a')].map((a) => a.textContent)"),
                             EXPECT[other]["nav"])
            # remembered: a fresh load keeps the choice
            p.navigate(self.url("/"))
            p.wait("document.body.dataset.state === 'ready'")
            self.assertEqual(p.eval("document.documentElement.lang"), other)
        finally:
            p.eval("localStorage.removeItem('wxscene.lang')")

    def test_03_dashboard_and_scan_moves_counts(self):
        p = self.open()
        self.assert_language(p, "dashboard")
        self.shot(p, "dashboard")
        # Zhao's flag explained in the page's language
        self.assertIn({"zh-CN": "6 个在 10 分钟内取消", "en": "6 of 6 subscribes undone within 10 minutes"}[self.UI],
                      p.text("#flag-notes"))
        cell = "(document.querySelector('#channels tr[data-scene=\"42\"] td[data-metric=new_fans]') || {}).textContent"
        self.assertEqual(p.eval(cell), "0")
        # the per-channel chart draws the channel picked
        p.eval("document.querySelector('#scene-pick').value = '43'; "
               "document.querySelector('#scene-pick').dispatchEvent(new Event('change'))")
        p.wait("document.querySelector('#scene-chart').dataset.scene === '43' && "
               "document.querySelector('#scene-chart svg polyline')")
        r = self.env.push(wxs.event_xml(f"fresh-{self.UI}", int(time.time()), "subscribe", "qrscene_42"))
        self.assertEqual(r.status, 200)
        p.click("#range-form button[type=submit]")
        p.wait(f"{cell} === '1'", what="channel 42's new fans to reach 1")

    def test_04_channel_add_edit_archive_and_xss(self):
        p = self.open("#/channels")
        self.assert_language(p, "channels page")
        shown = "[...document.querySelectorAll('#ch-table tbody tr')].map((r) => r.dataset.scene).join(' ')"
        p.fill("#ch-search", "metro")
        self.assertEqual(p.eval(shown), "77")
        p.fill("#ch-search", "徐家汇")
        self.assertEqual(p.eval(shown), "43")
        p.fill("#ch-search", "")
        p.fill("#ch-promoter", "Li")
        self.assertEqual(p.eval(shown).split(), ["42", "43"])
        p.fill("#ch-promoter", "")
        scene = "5001"
        p.click("#ch-add")
        p.wait("document.querySelector('#ch-dialog').open")
        self.assert_language(p, "add-channel dialog")
        # a refused value: the error shows in the dialog, nothing is added
        p.fill("#f-scene", scene)
        p.click("#ch-form-save")
        p.wait("!document.querySelector('#ch-form-error').hidden")
        self.assertTrue(p.eval("document.querySelector('#ch-dialog').open"))
        self.assertEqual(api(self.env, "GET", f"/api/channels/{scene}").status, 404)
        p.fill("#f-name", XSS)
        p.fill("#f-promoter", "Li")
        p.fill("#f-tag", "store")
        self.shot(p, "channel-form")
        p.click("#ch-form-save")
        row = f"#ch-table tr[data-scene='{scene}']"
        p.wait(f"document.querySelector(\"{row}\")", what="the new channel's row")
        self.assertEqual(p.text(f"{row} td.name"), XSS)
        self.assertEqual(p.eval("document.querySelectorAll('main img').length"), 0)
        self.assertIsNone(p.eval("window.__xss === undefined ? null : window.__xss"))
        got = json.loads(api(self.env, "GET", f"/api/channels/{scene}").body)
        self.assertEqual((got["name"], got["promoter"], got["tag"]), (XSS, "Li", "store"))
        # its creation time in the account's zone (Asia/Shanghai), not the browser's (UTC)
        tz = json.loads(wxs.request(self.env.admin_port, "GET", "/api/config").body)["timezone"]
        at = datetime.datetime.fromtimestamp(got["created_at"], zoneinfo.ZoneInfo(tz))
        self.assertNotEqual(at.utcoffset(), datetime.timedelta(0), "pick a zone that is not UTC")
        hour = at.hour if self.UI == "zh-CN" else (at.hour % 12 or 12)
        self.assertIn(f"{hour}:{at.minute:02d}", p.text(f"{row} td.created"))
        # the XSS name on the dashboard too
        self.go(p, "#/dashboard")
        p.wait("document.querySelector('#channels tr[data-scene=\"5001\"]')")
        self.assertEqual(p.text("#channels tr[data-scene='5001'] td.name"), XSS)
        self.assertIsNone(p.eval("window.__xss === undefined ? null : window.__xss"))
        self.go(p, "#/channels")
        self.shot(p, "channels")
        # edit: only what changed is sent
        p.click(f"{row} [data-action=edit]")
        p.wait("document.querySelector('#ch-dialog').open")
        self.assertEqual(p.eval("document.querySelector('#f-name').value"), XSS)
        p.fill("#f-name", "门店 5001")
        p.click("#ch-form-save")
        p.wait(f"(document.querySelector(\"{row} td.name\") || {{}}).textContent === '门店 5001'")
        got = json.loads(api(self.env, "GET", f"/api/channels/{scene}").body)
        self.assertEqual((got["name"], got["promoter"], got["tag"]), ("门店 5001", "Li", "store"))
        # archive: a confirmation that says what it does; cancel keeps it
        p.click(f"{row} [data-action=archive]")
        p.wait("document.querySelector('#confirm-dialog').open")
        self.assertIn(self.tr("archive"), p.text("#confirm-text"))
        self.assert_language(p, "archive dialog")
        self.shot(p, "archive")
        p.click("#confirm-no")
        p.wait("!document.querySelector('#confirm-dialog').open")
        self.assertIsNone(json.loads(api(self.env, "GET", f"/api/channels/{scene}").body)["archived_at"])
        p.click(f"{row} [data-action=archive]")
        p.wait("document.querySelector('#confirm-dialog').open")
        p.click("#confirm-yes")
        p.wait(f"!document.querySelector(\"{row}\")", what="the archived row to leave the list")
        self.assertIsNotNone(json.loads(api(self.env, "GET", f"/api/channels/{scene}").body)["archived_at"])
        # "show archived" brings it back, marked, with no edit or archive button
        p.click("#ch-archived")
        p.wait(f"document.querySelector(\"{row}.archived\")", what="the archived row")
        self.assertFalse(p.eval(f"!!document.querySelector(\"{row} button\")"))
        p.click("#ch-archived")
        p.wait(f"!document.querySelector(\"{row}\")")

    def test_05_import_gbk_csv_and_row_errors(self):
        self.need("POST /api/channels/import")
        p = self.open("#/channels")
        d = tempfile.mkdtemp(prefix="wxs-csv-")
        self.addCleanup(shutil.rmtree, d, True)
        good = os.path.join(d, "渠道.csv")
        with open(good, "wb") as f:
            f.write("场景值,名称,推广员\r\n7001,南京路门店,王\r\n7002,\"徐家汇, 二号\",王\r\n".encode("gbk"))
        tpl, tname = p.download(lambda: p.click("#template"))
        self.assertTrue(tname.endswith(".csv"), tname)
        self.assertIn("场景值".encode(), tpl.split(b"\n")[0])  # the Chinese header, UTF-8 with BOM
        p.set_files("#import-file", [good])
        p.click("#import-check")
        p.wait("!document.querySelector('#import-result').hidden")
        self.assertIn("2", p.text("#import-result"))
        self.assertEqual(api(self.env, "GET", "/api/channels/7001").status, 404, "a dry run imports nothing")
        p.click("#import-do")
        p.wait("document.querySelector('#ch-table tr[data-scene=\"7002\"]')", what="the imported rows")
        self.assertEqual(p.text("#ch-table tr[data-scene='7002'] td.name"), "徐家汇, 二号")
        self.assertEqual(json.loads(api(self.env, "GET", "/api/channels/7001").body)["name"], "南京路门店")
        # a bad file: its errors inline with row and column, nothing imported
        bad = os.path.join(d, "bad.csv")
        with open(bad, "wb") as f:
            f.write(b"scene,name\r\n7101,fine\r\n" + b"x" * 70 + b",long scene\r\n7103,\r\n")
        p.set_files("#import-file", [bad])
        p.click("#import-do")
        p.wait("!document.querySelector('#import-errors').hidden")
        rows = p.eval("[...document.querySelectorAll('#import-errors-table tbody tr')].map((r) => "
                      "[r.dataset.row, r.dataset.column, r.cells[2].textContent])")
        self.assertEqual([r[0] for r in rows], ["3", "4"], rows)
        self.assertEqual([r[1] for r in rows], ["scene", "name"], rows)
        self.assertTrue(all(r[2] for r in rows))
        self.assertEqual(api(self.env, "GET", "/api/channels/7101").status, 404)
        self.assert_language(p, "import errors")
        self.shot(p, "import-errors")

    def test_06_qr_code_png_zip_and_sheet(self):
        self.need("GET /api/qrcodes", "GET /api/qrcodes/1/image.png")
        p = self.open("#/qrcodes")
        # WeChat refusing: its errcode shown, in the page's language
        self.fake.fault("cgi-bin/qrcode/create", errcode=45029, times=1)
        p.eval("document.querySelector('#qr-scene').value = '42'")
        p.click("#qr-form button[type=submit]")
        p.wait("!document.querySelector('#app-error').hidden")
        self.assertIn("45029", p.text("#app-error"))
        self.assertIn({"zh-CN": "微信接口返回错误（errcode 45029）。永久二维码数量已用完",
                       "en": "WeChat error 45029"}[self.UI], p.text("#app-error"))
        self.assertTrue(p.eval("document.querySelector('#qr-new').hidden"))
        p.eval("document.querySelector('#qr-scene').value = '42'")
        p.eval("document.querySelector('#qr-kind').value = 'temp'")
        p.fill("#qr-days", "7")
        p.click("#qr-form button[type=submit]")
        p.wait("!document.querySelector('#qr-new').hidden && document.querySelector('#qr-new').dataset.url")
        url = p.eval("document.querySelector('#qr-new').dataset.url")
        self.assertIn(url, self.fake.calls()["tickets"].values())
        png, name = p.download(lambda: p.click("#qr-new [data-action=png]"))
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        self.assertTrue(name.endswith(".png"), name)
        if ZBARIMG:
            f = os.path.join(self.env.dir, "code.png")
            with open(f, "wb") as out:
                out.write(png)
            z = subprocess.run([ZBARIMG, "--raw", "-q", f], capture_output=True, text=True, timeout=30)
            self.assertEqual(z.stdout.strip(), url)
        cid = p.eval("document.querySelector('#qr-new').dataset.id")
        row = f"#qr-table tr[data-id='{cid}']"
        p.wait(f"document.querySelector(\"{row}\")")
        # a permanent code for 77; "expiring within 7 days" shows only the temporary one
        p.eval("document.querySelector('#qr-scene').value = '77'")
        p.eval("document.querySelector('#qr-kind').value = 'perm'")
        p.click("#qr-form button[type=submit]")
        p.wait(f"document.querySelector('#qr-new').dataset.id !== '{cid}' && "
               "document.querySelector('#qr-table tr[data-scene=\"77\"]')", what="the permanent code's row")
        self.assertIn("1", p.text("#qr-perm"))  # one permanent id used
        p.click("#qr-expiring")
        p.wait("!document.querySelector('#qr-table tr[data-scene=\"77\"]')", what="the permanent code to leave")
        self.assertTrue(p.eval(f"!!document.querySelector(\"{row}\")"))
        p.click("#qr-expiring")
        p.wait("document.querySelector('#qr-table tr[data-scene=\"77\"]')")
        self.assert_language(p, "QR page")
        self.shot(p, "qrcodes")
        p.click(f"{row} input[type=checkbox]")
        p.click("#qr-table tr[data-scene='77'] input[type=checkbox]")
        data, zname = p.download(lambda: p.click("#qr-zip"))
        zpath = os.path.join(self.env.dir, "codes.zip")
        with open(zpath, "wb") as out:
            out.write(data)
        with zipfile.ZipFile(zpath) as z:
            self.assertEqual(len([n for n in z.namelist() if n.endswith(".png")]), 2, z.namelist())
        # the printable sheet: the code with its channel and promoter, 50 mm wide when printed
        p.click("#qr-sheet")
        p.wait("!document.querySelector('#sheet').hidden && "
               "[...document.querySelectorAll('#sheet img')].every((i) => i.complete && i.naturalWidth > 0)")
        items = p.eval("[...document.querySelectorAll('#sheet .sheet-item')].map((i) => "
                       "[i.querySelector('.n').textContent, i.querySelector('.p').textContent])")
        self.assertEqual(sorted(items), sorted([[CHANNELS[0][1], "Li"], [CHANNELS[2][1], "Wang"]]))
        p.send("Emulation.setEmulatedMedia", {"media": "print"})
        try:
            width = p.eval("document.querySelector('#sheet img').getBoundingClientRect().width")
            self.assertGreaterEqual(width, 3 / 2.54 * 96)  # CSS px of 3 cm
            self.assertFalse(p.eval("document.querySelector('header').checkVisibility()"))
        finally:
            p.send("Emulation.setEmulatedMedia", {"media": ""})
        self.shot(p, "sheet")

    def test_07_promoter_link(self):
        self.need("GET /api/promoters")
        p = self.open("#/promoters")
        self.assert_language(p, "promoters page")
        for th in p.eval("[...document.querySelectorAll('#pr-table th')].slice(1, 6).map((t) => t.title)"):
            self.assertTrue(th, "each column explained on hover")
        row = "#pr-table tr[data-promoter='Li']"
        p.wait(f"document.querySelector(\"{row}\")")
        p.click(f"{row} [data-action=make-link]")
        p.wait("document.querySelector('#pr-link-url') && document.querySelector('#pr-link-url').value")
        link = p.eval("document.querySelector('#pr-link-url').value")
        path = urllib.parse.urlsplit(link).path
        self.assertEqual(urllib.parse.urlsplit(link).netloc, f"127.0.0.1:{self.env.admin_port}")
        p.click("#pr-link-copy")
        p.wait("document.querySelector('#pr-link .link-box [role=status]').textContent")
        self.assertRegex(path, r"^/p/[A-Za-z0-9_-]{20,}$")
        self.shot(p, "promoters")
        pp = self.browser.new_page()
        self.addCleanup(lambda: self.browser.send("Target.closeTarget", {"targetId": pp.target}))
        pp.navigate(self.url(path))
        pp.wait("document.body.dataset.state === 'ready'", what="the promoter page")
        scenes = set(pp.eval("[...document.querySelectorAll('#pp-channels tbody tr')].map((r) => r.dataset.scene)"))
        li = {s for s, _, pr in CHANNELS if pr == "Li"}
        self.assertTrue(scenes and scenes <= li | {"5001"}, scenes)  # Li's channels only
        self.assertNotIn(ADMIN, pp.eval("document.documentElement.outerHTML"))
        self.assertIsNone(pp.eval("sessionStorage.getItem('wxscene.admin.token')"))
        self.assert_language(pp, "promoter page")
        self.shot(pp, "promoter-page")
        # revoke: the JSON is 404, the page says so
        p.click(f"{row} [data-action=revoke-link]")
        p.wait("document.querySelector('#confirm-dialog').open")
        p.click("#confirm-yes")
        p.wait(f"document.querySelector(\"{row} [data-link]\").dataset.link === 'no'")
        self.assertEqual(wxs.request(self.env.admin_port, "GET", path + ".json").status, 404)
        pp.navigate(self.url(path))
        pp.wait("document.body.dataset.state === 'error'")
        self.assertIn(self.tr("gone"), pp.text("#pp-error"))


    def test_09_campaigns(self):
        self.assertEqual(api(self.env, "POST", "/api/channels", {"scene": "9009", "name": "Loose"}).status, 201)
        p = self.open("#/channels")
        p.eval("window.__bodies = []; const f0 = window.fetch; window.fetch = (u, o) => { "
               "if (o && o.body && o.method === 'PATCH') window.__bodies.push(JSON.parse(o.body)); return f0(u, o); }")
        # a refused name: the error under the form, in the page's language, nothing made
        p.click("#cp-save")
        p.wait("!document.querySelector('#cp-error').hidden")
        self.assertIn({"zh-CN": "名称", "en": "name"}[self.UI], p.text("#cp-error"))
        self.assert_language(p, "campaign form error")
        p.fill("#cp-name", CAMPAIGN)
        p.fill("#cp-note", "50 个站点")
        p.click("#cp-save")
        p.wait(f"document.querySelector('#cp-table tr[data-campaign=\"{CAMPAIGN}\"]')", what="the new campaign's row")
        self.assertTrue(p.eval("document.querySelector('#cp-error').hidden"))
        made = {c["name"]: c for c in json.loads(api(self.env, "GET", "/api/campaigns").body)}
        self.assertEqual(made[CAMPAIGN]["note"], "50 个站点")
        # the same name again: 409 shown inline, translated
        p.fill("#cp-name", CAMPAIGN + " ")
        p.click("#cp-save")
        p.wait("!document.querySelector('#cp-error').hidden")
        self.assertIn({"zh-CN": "已有同名活动", "en": "exists"}[self.UI], p.text("#cp-error"))
        self.assertEqual(p.eval("document.querySelector('#cp-name').value"), CAMPAIGN + " ")
        p.fill("#cp-name", "")  # typing again clears the error
        self.assertTrue(p.eval("document.querySelector('#cp-error').hidden"))
        # put 42 and 43 in it through the dialog; PATCH sends campaign only when it changes
        for scene in ("42", "43"):
            row = f"#ch-table tr[data-scene='{scene}']"
            p.click(f"{row} [data-action=edit]")
            p.wait("document.querySelector('#ch-dialog').open")
            self.assertEqual(p.eval("document.querySelector('#f-campaign').value"), "")
            if scene == "42":  # a campaign gone meanwhile (another tab): campaign_unknown, translated, nothing changed
                p.eval("document.querySelector('#f-campaign').append(new Option('无此活动', '无此活动'))")
                p.fill("#f-campaign", "无此活动")
                p.click("#ch-form-save")
                p.wait("!document.querySelector('#ch-form-error').hidden")
                self.assertIn({"zh-CN": "活动：没有这个活动", "en": "does not exist"}[self.UI], p.text("#ch-form-error"))
                self.assertIsNone(json.loads(api(self.env, "GET", "/api/channels/42").body)["campaign"])
                p.eval("window.__bodies = []")
            p.fill("#f-campaign", CAMPAIGN)
            p.click("#ch-form-save")
            p.wait(f"(document.querySelector(\"{row} td.campaign\") || {{}}).textContent === {json.dumps(CAMPAIGN)}",
                   what=f"channel {scene} in the campaign")
        self.assertEqual(p.eval("window.__bodies"), [{"campaign": CAMPAIGN}, {"campaign": CAMPAIGN}])
        row = "#ch-table tr[data-scene='43']"
        p.click(f"{row} [data-action=edit]")
        p.wait("document.querySelector('#ch-dialog').open")
        self.assertEqual(p.eval("document.querySelector('#f-campaign').value"), CAMPAIGN)
        self.assert_language(p, "edit dialog with a campaign")
        p.fill("#f-tag", "metro")
        p.click("#ch-form-save")
        p.wait("window.__bodies.length === 3 && !document.querySelector('#ch-dialog').open", what="the edit saved")
        self.assertEqual(p.eval("window.__bodies[2]"), {"tag": "metro"})
        got = json.loads(api(self.env, "GET", "/api/channels/43").body)
        self.assertEqual((got["campaign"], got["tag"]), (CAMPAIGN, "metro"))
        # the filter
        shown = "[...document.querySelectorAll('#ch-table tbody tr')].map((r) => r.dataset.scene).sort().join(' ')"
        p.wait("!document.querySelector('#ch-dialog').open")
        p.fill("#ch-campaign", CAMPAIGN)
        self.assertEqual(p.eval(shown), "42 43")
        p.fill("#ch-campaign", PREPARED)
        self.assertEqual(p.eval(shown), "77 88")
        p.fill("#ch-campaign", "\u0000none")
        self.assertIn("9009", p.eval(shown).split())
        self.assertFalse(set(p.eval(shown).split()) & {"42", "43", "77", "88"})
        self.assertEqual(set(p.eval("[...document.querySelectorAll('#ch-table td.campaign')].map((t) => t.textContent)")),
                         {{"zh-CN": "未归入活动", "en": "No campaign"}[self.UI]})
        p.fill("#ch-campaign", "")
        self.assert_language(p, "channels page with campaigns")
        self.shot(p, "channels")
        self.assertEqual(p.eval("document.querySelectorAll('main img').length"), 0)
        self.assertIsNone(p.eval("window.__xss === undefined ? null : window.__xss"))

        # the dashboard: the campaign's row and its daily chart move with scans
        self.go(p, "#/dashboard")
        crow = f"#campaigns tr[data-campaign=\"{CAMPAIGN}\"]"
        p.wait(f"document.querySelector('{crow}')", what="the campaign's row")
        cell = lambda k: f"document.querySelector('{crow} td[data-metric={k}]').textContent"
        base = {k: int(p.eval(cell(k)).replace(",", "")) for k in ("scans", "unique_scanners", "channels")}
        self.assertEqual(base["channels"], 2)
        self.assertEqual(p.text("#campaigns tr[data-campaign=''] td.name"), {"zh-CN": "未归入活动", "en": "No campaign"}[self.UI])
        p.eval(f"document.querySelector('#campaign-pick').value = {json.dumps(CAMPAIGN)}; "
               "document.querySelector('#campaign-pick').dispatchEvent(new Event('change'))")
        p.wait(f"document.querySelector('#campaign-chart').dataset.campaign === {json.dumps(CAMPAIGN)}")
        series = lambda n: f"document.querySelector('#campaign-chart polyline[data-series={n}]').getAttribute('data-values')"
        total = lambda n: sum(int(v) for v in p.eval(series(n)).split(","))
        chart0 = {n: total(n) for n in ("scans", "scanners")}
        self.assert_language(p, "dashboard with campaigns")
        self.shot(p, "dashboard")
        # one fan scans both channels, another scans 42 twice: 4 scans, 2 people
        now = int(time.time())
        fan, other = f"cp-fan-{self.UI}", f"cp-other-{self.UI}"
        for i, (who, scene) in enumerate([(fan, "42"), (fan, "43"), (other, "42"), (other, "42")]):
            self.assertEqual(self.env.push(wxs.event_xml(who, now + i, "SCAN", scene)).status, 200)
        p.click("#range-form button[type=submit]")
        p.wait(f"document.body.dataset.state === 'ready' && {cell('scans')} === {json.dumps(fmt_n(base['scans'] + 4, self.UI))}",
               what="the campaign's scans to grow by 4")
        self.assertEqual(p.eval(cell("unique_scanners")), fmt_n(base["unique_scanners"] + 2, self.UI))
        p.wait(f"document.querySelector('#campaign-chart').dataset.campaign === {json.dumps(CAMPAIGN)} && "
               f"document.querySelector('#campaign-chart polyline')")
        self.assertEqual(total("scans"), chart0["scans"] + 4)
        self.assertEqual(total("scanners"), chart0["scanners"] + 2)
        # the by-campaign CSV: the same figures, the campaign's name as written
        p.fill("#csv-by", "campaign")
        body, name = p.download(lambda: p.click("#csv"))
        self.assertIn("campaign", name)
        lines = body.decode("utf-8-sig").splitlines()
        self.assertTrue(lines[0].startswith("campaign,channels,"), lines[0])
        head = lines[0].split(",")
        row = next(r.split(",") for r in lines[1:] if r.startswith(CAMPAIGN + ","))
        self.assertEqual(int(row[head.index("unique_scanners")]), base["unique_scanners"] + 2)
        p.fill("#csv-by", "channel")
        # an XSS-named campaign is text everywhere (made last: the screenshots above stay plain)
        self.go(p, "#/channels")
        p.fill("#cp-name", XSS)
        p.fill("#cp-note", "")
        p.click("#cp-save")
        p.wait("[...document.querySelectorAll('#cp-table tr')].some((r) => r.dataset.campaign === "
               + json.dumps(XSS) + ")", what="the XSS campaign's row")
        self.assertIn(XSS, p.eval("[...document.querySelectorAll('#cp-table td.name')].map((t) => t.textContent)"))
        self.assertIn(XSS, p.eval("[...document.querySelectorAll('#ch-campaign option')].map((o) => o.textContent)"))
        self.assertIsNone(p.eval("window.__xss === undefined ? null : window.__xss"))
        self.go(p, "#/dashboard")
        p.wait("[...document.querySelectorAll('#campaigns tr')].some((r) => r.dataset.campaign === "
               + json.dumps(XSS) + ")", what="the XSS campaign's dashboard row")
        self.assertIn(XSS, p.eval("[...document.querySelectorAll('#campaigns td.name')].map((t) => t.textContent)"))
        self.assertIn(XSS, p.eval("[...document.querySelectorAll('#campaign-pick option')].map((o) => o.textContent)"))
        self.assertIsNone(p.eval("window.__xss === undefined ? null : window.__xss"))
        self.assertEqual(p.eval("document.querySelectorAll('main img').length"), 0)

    def test_08_every_string_in_both_languages(self):
        p = self.open()
        missing = p.eval("""(() => {
          const S = I18N.STRINGS, out = [];
          for (const [a, b] of [['en', 'zh-CN'], ['zh-CN', 'en']])
            for (const k of Object.keys(S[a])) if (!(k in S[b])) out.push(b + ' lacks ' + k);
          document.querySelectorAll('[data-i18n],[data-i18n-title],[data-i18n-placeholder],[data-i18n-aria]')
            .forEach((e) => { for (const k of [e.dataset.i18n, e.dataset.i18nTitle, e.dataset.i18nPlaceholder,
                                               e.dataset.i18nAria])
              if (k && !(k in S.en)) out.push('no string ' + k); });
          for (const code of Object.keys(I18N.ERRORS['zh-CN'])) if (!code) out.push('empty code');
          return out; })()""")
        self.assertEqual(missing, [])


class ConsoleZhTest(ConsoleBase):
    LANG, UI = "zh-CN", "zh-CN"


class ConsoleEnTest(ConsoleBase):
    LANG, UI = "en-US", "en"


del ConsoleBase  # run by its two subclasses only


if __name__ == "__main__":
    unittest.main()
