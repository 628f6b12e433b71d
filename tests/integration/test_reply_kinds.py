"""Reply kinds (issue 20, part 2): a channel's subscribe reply is its text,
a news card or an image. The real wxscene and wxscened, the fake WeChat API
on loopback (material/add_material, multipart), a real store (SQLite, or
PostgreSQL under pg.integration.*). Every reply is parsed back with an XML
parser, and in safe mode decrypted by wxcrypto.py (an independent
implementation), so the C code is never checked against itself.

What a marketer relies on: the fan sees the card or the coupon image the
channel was set to; an image is uploaded once; a retried push gets the
reply of its first delivery even when the channel was edited in between;
a bad title, URL or file is refused with the field named, storing nothing."""
import hashlib
import json
import os
import sys
import time
import unittest
import xml.etree.ElementTree as ET

import wxcrypto
import wxs

sys.path.insert(0, os.path.join(wxs.SRC, "tests", "fakes"))
import fake_wechat  # noqa: E402

APPID = "wx0123456789abcdef"
SECRET = "0123456789abcdef0123456789abcdef"
KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
UPLOAD = "cgi-bin/material/add_material"
AUTH = {"Authorization": "Bearer admintoken", "Content-Type": "application/json"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + os.urandom(64)

TITLE = "春季 <特惠> & ]]> {channel}"
DESC = "扫码即得 ]]]]> 9折\n第二行"
PIC = "https://img.example.com/a.png?x=1&y=2"
URL = "https://shop.example.com/p?id=1&from=qr"


def parse(xml_bytes):
    root = ET.fromstring(xml_bytes)
    return root


def news_of(root):
    item = root.find("Articles/item")
    return {c.tag: (c.text or "") for c in item}


class ReplyKindCase(unittest.TestCase):
    MODE = "plain"

    def setUp(self):
        self.fake = fake_wechat.Fake(appid=APPID, secret=SECRET).start()
        self.addCleanup(self.fake.stop)
        self.env = wxs.Env()
        self.addCleanup(self.env.cleanup)
        wechat = {"appid": APPID, "appsecret": SECRET, "api_base": self.fake.url,
                  "mp_base": self.fake.url, "api_timeout": 5, "mode": self.MODE}
        if self.MODE != "plain":
            wechat["encoding_aes_key"] = KEY
        self.env.write_config(wechat=wechat, tag={"worker": "false"})
        self.t0 = int(time.time())
        self.seq = 0
        self.png = os.path.join(self.env.dir, "coupon.png")
        with open(self.png, "wb") as f:
            f.write(PNG)

    def tearDown(self):
        if self.env.proc:
            self.assertEqual(self.env.stop_server(), 0, self.env.server_log())

    def event(self, openid, event, key, create_time=None):
        if create_time is None:
            self.seq += 1
            create_time = self.t0 + self.seq
        return wxs.event_xml(openid, create_time, event, key)

    def send(self, xml):
        """Push xml (encrypted in safe mode); the reply's root element (decrypted)."""
        if self.MODE == "plain":
            r = self.env.push(xml)
            self.assertEqual(r.status, 200, r)
            return r, parse(r.body)
        ts, nonce = str(int(time.time())), "n%d" % self.seq
        body, msig = wxcrypto.encrypted_push(self.env.token, KEY, APPID, xml.encode(), ts, nonce)
        q = "signature=%s&timestamp=%s&nonce=%s&encrypt_type=aes&msg_signature=%s" % (
            wxcrypto.signature(self.env.token, ts, nonce), ts, nonce, msig)
        r = self.env.push(body, query=q)
        self.assertEqual(r.status, 200, r)
        outer = parse(r.body)
        self.assertEqual(sorted(c.tag for c in outer), ["Encrypt", "MsgSignature", "Nonce", "TimeStamp"])
        plain = wxcrypto.decrypt_reply(self.env.token, KEY, APPID, r.body)
        return r, parse(plain)

    def admin(self, method, path, body=None):
        r = wxs.request(self.env.admin_port, method, path,
                        body=json.dumps(body).encode() if body is not None else None, headers=AUTH)
        return r.status, json.loads(r.body) if r.body else None

    def add_news(self, scene="42", *extra):
        self.env.cli("channel", "add", scene, "--name", "春季海报", "--reply", "text welcome",
                     "--reply-news", TITLE, "--news-url", URL, "--news-description", DESC,
                     "--news-picurl", PIC, *extra)

    def check_news(self, root, openid, title=TITLE.replace("{channel}", "春季海报")):
        self.assertEqual(root.findtext("MsgType"), "news")
        self.assertEqual(root.findtext("ToUserName"), openid)
        self.assertEqual(root.findtext("FromUserName"), "gh_test")
        self.assertEqual(root.findtext("ArticleCount"), "1")
        self.assertEqual(len(root.findall("Articles/item")), 1)
        self.assertEqual(news_of(root), {"Title": title, "Description": DESC, "PicUrl": PIC,
                                         "Url": URL})

    # ---- news ----

    def test_news_reply_parsed_back(self):
        self.add_news()
        self.env.start_server()
        _, root = self.send(self.event("oNews", "subscribe", "qrscene_42"))
        self.check_news(root, "oNews")
        # a SCAN without its own scan reply gets the channel's reply too
        _, root = self.send(self.event("oNews", "SCAN", "42"))
        self.check_news(root, "oNews")

    def test_scan_reply_stays_text(self):
        self.add_news()
        self.env.cli("channel", "edit", "42", "--scan-reply", "welcome back")
        self.env.start_server()
        _, root = self.send(self.event("oScan", "SCAN", "42"))
        self.assertEqual(root.findtext("MsgType"), "text")
        self.assertEqual(root.findtext("Content"), "welcome back")

    def test_reply_text_switches_back(self):
        self.add_news()
        self.env.cli("channel", "edit", "42", "--reply", "back to text {channel}")
        self.env.start_server()
        _, root = self.send(self.event("oBack", "subscribe", "qrscene_42"))
        self.assertEqual(root.findtext("MsgType"), "text")
        self.assertEqual(root.findtext("Content"), "back to text 春季海报")

    # ---- image ----

    def test_image_uploaded_once_and_replied(self):
        self.env.cli("channel", "add", "42", "--name", "Coupon", "--reply-image", self.png)
        self.env.cli("channel", "add", "43", "--name", "Coupon 2", "--reply-image", self.png)
        self.assertEqual(self.fake.count(UPLOAD), 1)  # same bytes: one permanent material
        call = [c for c in self.fake.calls()["log"] if c["endpoint"] == UPLOAD][0]
        self.assertEqual(call["query"].get("type"), "image")
        self.assertTrue(call["content_type"].startswith("multipart/form-data; boundary="))
        mats = self.fake.control("/_fake/messages/state")["materials"]
        self.assertEqual(len(mats), 1)
        media_id, m = next(iter(mats.items()))
        self.assertEqual(m["filename"], "coupon.png")
        self.assertEqual(m["sha256"], hashlib.sha256(PNG).hexdigest())
        self.env.start_server()
        for scene in ("42", "43"):
            _, root = self.send(self.event("oImg" + scene, "subscribe", "qrscene_" + scene))
            self.assertEqual(root.findtext("MsgType"), "image")
            self.assertEqual(root.findtext("Image/MediaId"), media_id)
            self.assertEqual(root.findtext("ToUserName"), "oImg" + scene)

    def test_upload_refused_stores_nothing(self):
        self.fake.fault(UPLOAD, errcode=45009)
        p = self.env.cli("channel", "add", "42", "--name", "X", "--reply-image", self.png,
                         check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("45009", p.stderr)
        self.assertEqual(self.env.sql("SELECT count(*) FROM channels")[0][0], 0)
        self.assertEqual(self.env.sql("SELECT count(*) FROM media")[0][0], 0)

    def test_bad_options_refused_before_anything(self):
        txt = os.path.join(self.env.dir, "coupon.txt")
        fake_png = os.path.join(self.env.dir, "fake.png")
        with open(txt, "w") as f:
            f.write("not an image")
        with open(fake_png, "wb") as f:
            f.write(b"GIF89a not a png")
        cases = [
            (["--reply-news", "t", "--news-url", "ftp://x/y"], "news_url"),
            (["--reply-news", "t", "--news-url", "https://"], "news_url"),
            (["--reply-news", "t", "--news-url", "https://a.b/c d"], "news_url"),
            (["--reply-news", "长" * 65, "--news-url", URL], "news_title"),
            (["--reply-news", "", "--news-url", URL], "news_title"),
            (["--reply-news", "t", "--news-url", URL, "--news-description", "d" * 121],
             "news_description"),
            (["--reply-news", "t", "--news-url", URL, "--news-picurl", "javascript:x"],
             "news_picurl"),
            (["--reply-news", "t"], "news_url"),
            (["--news-url", URL], "--reply-news"),
            (["--reply-news", "t", "--news-url", URL, "--reply-image", self.png], "exclude"),
            (["--reply-image", txt], "not an image"),
            (["--reply-image", fake_png], "not a png"),
            (["--reply-image", os.path.join(self.env.dir, "missing.png")], "missing.png"),
        ]
        for args, want in cases:
            for verb in ("add", "edit"):
                with self.subTest(verb=verb, args=args):
                    base = ["channel", "add", "42", "--name", "N"] if verb == "add" else \
                        ["channel", "edit", "7"]
                    p = self.env.cli(*base, *args, check=False)
                    self.assertEqual(p.returncode, 2, (p.stdout, p.stderr))
                    self.assertIn(want, p.stderr)
            if verb == "add":
                pass
        self.assertEqual(self.env.sql("SELECT count(*) FROM channels")[0][0], 0)
        self.assertEqual(self.fake.count(UPLOAD), 0)

    def test_edit_of_missing_or_archived_channel(self):
        p = self.env.cli("channel", "edit", "9", "--reply-image", self.png, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("does not exist", p.stderr)
        self.assertEqual(self.fake.count(UPLOAD), 0)  # nothing uploaded for nothing

    def test_a_released_scene_does_not_inherit_the_welcome(self):
        """A permanent id released and given to a new channel: the old
        channel's news welcome and follow-ups stay with the old channel."""
        self.env.cli("qr", "create", "2", "--perm", "--name", "Shop A")
        self.env.cli("channel", "edit", "2", "--reply-news", "Old card", "--news-url", URL)
        self.env.cli("channel", "followup", "add", "2", "--text", "old coupon")
        self.env.cli("qr", "archive", "2")
        self.env.cli("qr", "perm-ids", "--release", "2", "--yes")
        self.env.cli("qr", "create", "2", "--perm", "--name", "Shop D")
        self.assertEqual(self.env.sql("SELECT count(*) FROM channel_replies WHERE scene = '2'"),
                         [(0,)])
        self.assertEqual(self.env.cli("channel", "followup", "list", "2").stdout.strip(),
                         "n  kind  message")
        self.env.start_server()
        _, root = self.send(self.event("oReuse", "subscribe", "qrscene_2"))
        self.assertEqual(root.findtext("MsgType"), "text")

    # ---- retries ----

    def test_retry_after_edit_gets_the_first_reply(self):
        self.add_news()
        self.env.start_server()
        first = self.event("oRetry", "subscribe", "qrscene_42")
        _, root = self.send(first)
        self.check_news(root, "oRetry")
        # edited between the first delivery and WeChat's retry: text now
        self.env.cli("channel", "edit", "42", "--reply", "new text")
        _, root = self.send(first)
        self.check_news(root, "oRetry")
        # then an image; the retry still answers as the first time
        self.env.cli("channel", "edit", "42", "--reply-image", self.png)
        _, root = self.send(first)
        self.check_news(root, "oRetry")
        # a new push gets the channel as it is now
        _, root = self.send(self.event("oNew", "subscribe", "qrscene_42"))
        self.assertEqual(root.findtext("MsgType"), "image")
        img_push = self.event("oNew2", "subscribe", "qrscene_42")
        _, root = self.send(img_push)
        media_id = root.findtext("Image/MediaId")
        self.env.cli("channel", "edit", "42", "--reply-news", "Other", "--news-url", URL)
        _, root = self.send(img_push)
        self.assertEqual(root.findtext("MsgType"), "image")
        self.assertEqual(root.findtext("Image/MediaId"), media_id)
        self.assertEqual(self.env.sql(
            "SELECT count(*) FROM events WHERE openid IN ('oRetry', 'oNew2')")[0][0], 2)

    # ---- the admin API ----

    def test_admin_get_and_patch(self):
        self.env.cli("channel", "add", "42", "--name", "Spring", "--reply", "hello")
        self.env.start_server()
        st, j = self.admin("GET", "/api/channels/42")
        self.assertEqual(st, 200)
        self.assertEqual((j["reply_kind"], j["news"], j["image"], j["reply"]),
                         ("text", None, None, "hello"))
        news = {"title": "Card", "url": URL, "description": "d", "picurl": PIC}
        st, j = self.admin("PATCH", "/api/channels/42", {"news": news})
        self.assertEqual(st, 200, j)
        self.assertEqual((j["reply_kind"], j["news"], j["reply"]), ("news", news, "hello"))
        _, root = self.send(self.event("oApi", "subscribe", "qrscene_42"))
        self.assertEqual(news_of(root)["Title"], "Card")
        for body, field in [({"news": {"title": "t", "url": "ftp://x"}}, "news"),
                            ({"news": {"title": "t", "url": URL, "colour": "red"}}, "news"),
                            ({"reply_kind": "news"}, "reply_kind"),
                            ({"reply_kind": "video"}, "reply_kind"),
                            ({"image_media_id": "bad id"}, "image_media_id"),
                            ({"news": news, "image_media_id": "M1"}, "news")]:
            with self.subTest(body=body):
                st, j = self.admin("PATCH", "/api/channels/42", body)
                self.assertEqual(st, 400, j)
                self.assertEqual(j["field"], field, j)
        st, j = self.admin("GET", "/api/channels/42")
        self.assertEqual(j["news"], news)  # refused changes changed nothing
        st, j = self.admin("PATCH", "/api/channels/42", {"image_media_id": "MEDIA_x1"})
        self.assertEqual((st, j["reply_kind"], j["image"]),
                         (200, "image", {"media_id": "MEDIA_x1", "file": None}))
        st, j = self.admin("PATCH", "/api/channels/42", {"reply_kind": "text", "name": "Spring 2"})
        self.assertEqual((st, j["reply_kind"], j["image"], j["name"]), (200, "text", None, "Spring 2"))
        st, j = self.admin("PATCH", "/api/channels/9", {"news": news})
        self.assertEqual(st, 404)


class SafeReplyKindTest(ReplyKindCase):
    MODE = "safe"


if __name__ == "__main__":
    unittest.main()
