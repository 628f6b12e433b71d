"""POST /api/qrcodes on the admin listener: the real wxscened against the
fake WeChat API on loopback. The API call runs on a worker thread, so the
callback listener keeps answering while WeChat is slow."""
import concurrent.futures
import http.client
import json
import os
import sys
import time
import unittest

import wxs

sys.path.insert(0, os.path.join(wxs.SRC, "tests", "fakes"))
import fake_wechat  # noqa: E402

APPID = "wx0123456789abcdef"
SECRET = "0123456789abcdef0123456789abcdef"
ADMIN = "admintoken"


class AdminQrTest(unittest.TestCase):
    def setUp(self):
        self.fake = fake_wechat.Fake(appid=APPID, secret=SECRET).start()
        self.addCleanup(self.fake.stop)
        self.env = wxs.Env()
        self.addCleanup(self.env.cleanup)
        self.env.write_config(wechat={"appid": APPID, "appsecret": SECRET, "api_base": self.fake.url,
                                      "mp_base": self.fake.url, "api_timeout": 5},
                              admin={"token": ADMIN})
        self.env.start_server()

    def post(self, obj, token=ADMIN, raw=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        r = wxs.request(self.env.admin_port, "POST", "/api/qrcodes", body=body, headers=headers,
                        timeout=30)
        return r.status, (json.loads(r.body) if r.body else None)

    def creates(self):
        return self.fake.count("cgi-bin/qrcode/create")

    def test_temporary_code_created_and_stored(self):
        status, code = self.post({"scene": 42, "kind": "temp", "expire_seconds": 600, "name": "Shop 42"})
        self.assertEqual(status, 201, code)
        self.assertEqual(code["scene"], "42")
        self.assertTrue(code["url"].startswith("http://weixin.qq.com/q/"), code)
        self.assertTrue(code["ticket"])
        self.assertEqual(self.creates(), 1)
        self.assertEqual(self.env.sql("SELECT scene, kind, state FROM qr_codes"), [("42", "temp_id", "done")])
        self.assertEqual(self.env.sql("SELECT name FROM channels WHERE scene='42'"), [("Shop 42",)])

    def test_permanent_code_reused_without_second_call(self):
        s1, c1 = self.post({"scene": "flyer", "kind": "perm", "name": "Flyer"})
        s2, c2 = self.post({"scene": "flyer", "kind": "perm"})
        self.assertEqual((s1, s2), (201, 200), (c1, c2))
        self.assertEqual(c1["ticket"], c2["ticket"])
        self.assertEqual(self.creates(), 1)

    def test_bad_input_is_400_naming_the_field_and_calls_nothing(self):
        cases = [
            ({"scene": 0, "kind": "temp", "expire_seconds": 60}, "scene"),
            ({"scene": 100001, "kind": "perm"}, "scene"),
            ({"scene": "x" * 65, "kind": "perm"}, "scene"),
            ({"scene": 5, "kind": "temp", "expire_seconds": 2592001}, "expire_seconds"),
            ({"scene": 5, "kind": "sometimes"}, "kind"),
        ]
        for obj, field in cases:
            with self.subTest(obj=obj):
                status, body = self.post(obj)
                self.assertEqual(status, 400, body)
                self.assertEqual(body.get("field"), field, body)
        status, body = self.post(None, raw=b"{not json")
        self.assertEqual(status, 400)
        self.assertIn("JSON", body["error"])
        self.assertEqual(self.creates(), 0)
        self.assertEqual(self.fake.count("cgi-bin/token"), 0)
        self.assert_nothing_stored()

    def assert_nothing_stored(self):
        self.assertEqual(self.env.sql("SELECT count(*) FROM qr_codes"), [(0,)])
        self.assertEqual(self.env.sql("SELECT count(*) FROM channels"), [(0,)])

    def test_token_required(self):
        self.assertEqual(self.post({"scene": 1, "kind": "perm"}, token=None)[0], 401)
        self.assertEqual(self.post({"scene": 1, "kind": "perm"}, token="wrong")[0], 401)
        self.assertEqual(self.creates(), 0)
        self.assert_nothing_stored()

    def test_wechat_error_is_502_with_errcode(self):
        self.fake.fault("cgi-bin/qrcode/create", errcode=45029, times=1)
        status, body = self.post({"scene": 7, "kind": "perm"})
        self.assertEqual(status, 502, body)
        self.assertEqual(body["errcode"], 45029)

    def test_callbacks_stay_fast_while_wechat_is_slow(self):
        self.fake.fault("cgi-bin/qrcode/create", slow=3)
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            fut = ex.submit(self.post, {"scene": 9, "kind": "temp", "expire_seconds": 60})
            time.sleep(0.3)
            t0 = time.monotonic()
            for i in range(20):
                r = self.env.push(wxs.event_xml(f"oFast{i}", 1700000000 + i, "subscribe", "qrscene_9"))
                self.assertEqual(r.status, 200)
            elapsed = time.monotonic() - t0
            self.assertFalse(fut.done(), "the create should still be waiting on the slow fake")
            self.fake.release()
            status, code = fut.result(timeout=30)
        self.assertEqual(status, 201, code)
        self.assertLess(elapsed, 2.5, "callbacks waited on the QR worker")

    def test_sigterm_with_a_create_in_flight_answers_it(self):
        """A create in flight at SIGTERM is finished and answered (the
        CONTRACT: SIGTERM finishes in-flight requests), then exit 0."""
        self.fake.fault("cgi-bin/qrcode/create", slow=2)
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            fut = ex.submit(self.post, {"scene": 11, "kind": "temp", "expire_seconds": 60})
            deadline = time.monotonic() + 10
            while self.creates() == 0:  # the worker is inside the WeChat call
                self.assertLess(time.monotonic(), deadline, "the create never reached WeChat")
                time.sleep(0.01)
            rc = self.env.stop_server()
            self.assertEqual(rc, 0)
            self.assertEqual(self.env.sql("SELECT scene, state FROM qr_codes"), [("11", "done")])
            try:
                status, code = fut.result(timeout=30)
            except (OSError, http.client.HTTPException) as err:
                status, code = None, repr(err)
        self.assertEqual(status, 201, code)
        self.assertEqual(code["scene"], "11")
        self.assertEqual(self.env.sql("SELECT ticket FROM qr_codes"), [(code["ticket"],)])


if __name__ == "__main__":
    unittest.main()
