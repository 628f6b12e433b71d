"""The admin listener of the real wxscened: /healthz, /metrics (Prometheus
text, counters moving with real pushes), the dashboard page, and the
token-protected /api/stats and /api/channels."""
import json
import re
import socket
import time
import unittest

import wxs

TOKEN = "admintoken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def parse_metrics(text):
    """{(name, labels): value} from the Prometheus text format."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-z_]+)(\{[^}]*\})? (\S+)', line)
        assert m, f"bad metrics line {line!r}"
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


class AdminTest(wxs.ServerCase):
    @classmethod
    def prepare(cls, env):
        env.cli("channel", "add", "42", "--name", "Store 42", "--promoter", "Li")

    def get(self, path, headers=None):
        """GET as given: no token unless headers carry one."""
        return self.admin("GET", path, headers=headers, auth=False)

    def post(self, path, body, headers=None):
        """POST JSON with the token, or with exactly these headers."""
        return self.admin("POST", path, body, headers=headers, auth=headers is None)

    def test_healthz_without_token(self):
        r = self.get("/healthz")
        self.assertEqual((r.status, r.body), (200, b"ok\n"))

    def test_metrics_count_real_traffic(self):
        before = parse_metrics(self.get("/metrics").text)
        now = int(time.time())
        xml = wxs.event_xml("oMetrics", now, "subscribe", "qrscene_42")
        self.assertEqual(self.env.push(xml).status, 200)
        self.assertEqual(self.env.push(xml).status, 200)  # a WeChat retry
        with self.env.records_nothing(self):
            self.assertEqual(wxs.request(self.env.port, "POST", "/wx?signature=x", body=xml).status, 401)
        r = self.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        after = parse_metrics(r.text)
        d = lambda k: after[k] - before.get(k, 0)
        self.assertEqual(d(("wxscene_events_total", '{kind="subscribe"}')), 1)
        self.assertEqual(d(("wxscene_dedup_hits_total", "")), 1)
        self.assertEqual(d(("wxscene_replies_total", '{type="text"}')), 2)
        self.assertEqual(d(("wxscene_http_requests_total", '{code="2xx"}')), 2)
        self.assertEqual(d(("wxscene_http_requests_total", '{code="4xx"}')), 1)
        # one group commit per push (each was answered before the next was sent)
        self.assertEqual(d(("wxscene_store_commit_duration_seconds_count", "")), 2)
        self.assertEqual(d(("wxscene_store_committed_events_total", "")), 2)
        self.assertEqual(d(("wxscene_store_commit_failures_total", "")), 0)
        self.assertEqual(d(("wxscene_signature_failures_total", "")), 1)
        # the histogram is cumulative and ends in +Inf = count
        buckets = [(k[1], v) for k, v in after.items()
                   if k[0] == "wxscene_store_commit_duration_seconds_bucket"]
        values = [v for _, v in buckets]
        self.assertEqual(values, sorted(values))
        self.assertEqual(buckets[-1][0], '{le="+Inf"}')
        self.assertEqual(buckets[-1][1], after[("wxscene_store_commit_duration_seconds_count", "")])
        self.assertIn(("wxscene_admin_http_requests_total", '{code="2xx"}'), after)
        self.assertIn("# TYPE wxscene_store_commit_duration_seconds histogram", r.text)

    def test_dashboard_page_has_no_secrets_and_no_remote_resources(self):
        r = self.get("/")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["Content-Type"].startswith("text/html"))
        self.assertIn("default-src 'none'", r.headers["Content-Security-Policy"])
        self.assertNotIn(TOKEN, r.text)
        self.assertNotIn(wxs.TOKEN, r.text)
        self.assertIsNone(re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', r.text))

    def test_api_needs_the_token(self):
        for path in ("/api/stats", "/api/channels", "/api/nothing-here"):
            for h in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic YWRtaW4="},
                      {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": "Bearer "}):
                r = self.get(path, h)
                self.assertEqual(r.status, 401, (path, h))
                self.assertIn("Bearer", r.headers.get("WWW-Authenticate", ""))
                self.assertEqual(json.loads(r.body)["error"], "missing or wrong bearer token")
        self.assertEqual(self.post("/api/channels", b"{}", headers={}).status, 401)
        self.assertEqual(self.get("/api/nothing-here", AUTH).status, 404)
        self.assertEqual(self.admin("DELETE", "/api/channels").status, 405)

    def new_fans_42(self):
        got = json.loads(self.get("/api/stats?since=&until=", AUTH).body)
        return [c for c in got["channels"] if c["scene"] == "42"][0]["new_fans"]

    def test_api_stats_is_the_cli_json(self):
        now = int(time.time())
        before = self.new_fans_42()
        self.assertEqual(self.env.push(wxs.event_xml("oApi", now, "subscribe", "qrscene_42")).status, 200)
        for by, key in (("channel", "channels"), ("promoter", "promoters"), ("day", "days")):
            r = self.get(f"/api/stats?by={by}", AUTH)
            self.assertEqual(r.status, 200, r)
            got = json.loads(r.body)
            cli = json.loads(self.env.cli("stats", "--by", by, "--format", "json").stdout)
            self.assertEqual(got, cli, by)
            self.assertIn(key, got)
        self.assertEqual(self.new_fans_42(), before + 1)
        r = self.get("/api/stats?since=2026-10-01&until=2026-10-31&format=csv&bom=1", AUTH)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["Content-Type"].startswith("text/csv"))
        self.assertIn('filename="wxscene-channel-2026-10-01-2026-10-31.csv"',
                      r.headers["Content-Disposition"])
        self.assertTrue(r.body.startswith(b"\xef\xbb\xbfscene,name,promoter,scans"))

    def test_api_stats_bad_parameters(self):
        cases = [("since=2026-13-01", "since: '2026-13-01' is not a date"),
                 ("until=tomorrow", "until: 'tomorrow' is not a date"),
                 ("since=2026-11-02&until=2026-11-01", "is after until"),
                 ("by=week", "by: 'week'"),
                 ("format=xml", "format: 'xml'")]
        for q, msg in cases:
            r = self.get("/api/stats?" + q, AUTH)
            self.assertEqual(r.status, 400, q)
            self.assertIn(msg, json.loads(r.body)["error"], q)

    def test_channels_create_and_list(self):
        r = self.post("/api/channels", json.dumps(
            {"scene": "spring-flyer", "name": "春季传单", "promoter": "Wang", "reply": "Hi {channel}",
             "tag": "flyer"}).encode())
        self.assertEqual(r.status, 201, r)
        made = json.loads(r.body)
        self.assertEqual((made["scene"], made["name"], made["promoter"], made["tag"]),
                         ("spring-flyer", "春季传单", "Wang", "flyer"))
        r = self.post("/api/channels", json.dumps({"scene": 9001, "name": "Numeric"}).encode())
        self.assertEqual((r.status, json.loads(r.body)["scene"]), (201, "9001"))
        listed = json.loads(self.get("/api/channels", AUTH).body)
        self.assertEqual({"42", "spring-flyer", "9001"} - {c["scene"] for c in listed}, set())
        cli = json.loads(self.env.cli("channel", "list", "--format", "json").stdout)
        self.assertEqual(listed, cli)
        # a push through the new channel gets its reply
        r = self.env.push(wxs.event_xml("oFlyer", int(time.time()), "subscribe",
                                        "qrscene_spring-flyer"))
        self.assertIn("Hi 春季传单", r.text)

    def test_channels_create_errors(self):
        cases = [
            (b"", 400, "empty body"),
            (b"{not json", 400, "body is not valid JSON"),
            (b"[1, 2]", 400, "body must be a JSON object"),
            (b'{"scene": "a", "scene": "b", "name": "x"}', 400, "body is not valid JSON"),
            (b'{"name": "No scene"}', 400, "scene: required"),
            (b'{"scene": "x1"}', 400, "name: required"),
            (b'{"scene": "x2", "name": 5}', 400, "name: must be a string"),
            (b'{"scene": "x3", "name": "n", "colour": "red"}', 400, "unknown field 'colour'"),
            (b'{"scene": "has space", "name": "n"}', 400, "scene: blanks"),
            (b'{"scene": "99999999999", "name": "n"}', 400, "the largest scene_id"),
            (b'{"scene": "' + b"x" * 65 + b'", "name": "n"}', 400, "scene: length 65"),
            (b'{"scene": "42", "name": "Again"}', 409, "channel 42 exists"),
        ]
        for body, status, msg in cases:
            r = self.post("/api/channels", body)
            self.assertEqual(r.status, status, body)
            self.assertIn(msg, json.loads(r.body)["error"], body)
        r = self.post("/api/channels", b'{"scene": "99999999999", "name": "n", "str": true}')
        self.assertEqual(r.status, 201)

    def test_channels_scene_is_one_a_code_can_carry(self):
        """Issue 17: the scene follows the CLI's rules. A JSON number is a
        scene_id 1..4294967295 (0 and -1 used to be stored as scene_strs),
        a JSON string is read as the command line reads SCENE; a refusal is
        a 400 naming the field, and nothing is stored."""
        bad = [0, -1, 1.5, 4294967296, "", "s" * 65, "a\u0001b"]
        for scene in bad:
            body = json.dumps({"scene": scene, "name": "Issue17"}).encode()
            r = self.post("/api/channels", body)
            self.assertEqual(r.status, 400, body)
            got = json.loads(r.body)
            self.assertEqual(got.get("field"), "scene", got)
            self.assertTrue(got["error"].startswith("scene: "), got)
        self.assertEqual(self.env.sql("SELECT count(*) FROM channels WHERE name = 'Issue17'"),
                         [(0,)])
        for scene, stored in ((1, "1"), (4294967295, "4294967295"), ("abc", "abc")):
            body = json.dumps({"scene": scene, "name": "Issue17 ok"}).encode()
            r = self.post("/api/channels", body)
            self.assertEqual(r.status, 201, body)
            self.assertEqual(json.loads(r.body)["scene"], stored)
        self.assertEqual(self.env.sql("SELECT scene FROM channels WHERE name = 'Issue17 ok' "
                                      "ORDER BY scene"), [("1",), ("4294967295",), ("abc",)])
        # one validation: the CLI refuses the same texts with the same words
        for scene in ("4294967296", "a b", "s" * 65, "a\tb"):
            r = self.post("/api/channels", json.dumps({"scene": scene, "name": "n"}).encode())
            self.assertEqual(r.status, 400, scene)
            p = self.env.cli("channel", "add", scene, "--name", "n", check=False)
            self.assertEqual((p.returncode, p.stderr),
                             (2, f"wxscene: channel add: {json.loads(r.body)['error']}\n"))

    def test_body_is_bounded(self):
        big = b'{"scene": "big", "name": "' + b"x" * 70000 + b'"}'
        raw = wxs.raw_request(self.env.admin_port,
                              b"POST /api/channels HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                              + TOKEN.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(big) + big)
        self.assertEqual(wxs.status_of(raw), 413)
        self.assertEqual(self.env.sql("SELECT count(*) FROM channels WHERE scene = 'big'"), [(0,)])

    def test_one_log_line_per_request(self):
        """Exactly one access line per admin request, in the order answered."""
        line = re.compile(r" INFO admin: (\S+) (\S+) (\d{3}) \d+\.\d{3}ms$")

        def lines():
            return [m.groups() for m in map(line.search, self.env.server_log().splitlines()) if m]

        before = len(lines())
        want = []
        for path, headers, status in (("/healthz?probe=log-line", None, 200), ("/metrics", None, 200),
                                      ("/api/channels", AUTH, 200), ("/api/channels", None, 401),
                                      ("/api/nothing-here", AUTH, 404), ("/healthz", None, 200)):
            self.assertEqual(self.get(path, headers).status, status, path)
            want.append(("GET", path.split("?")[0], str(status)))
        deadline = time.monotonic() + 5
        while len(lines()) < before + len(want) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # a second line for any of them would be out by now
        self.assertEqual(lines()[before:], want)
        self.assertNotIn(TOKEN, self.env.server_log())


class EmptyTokenTest(wxs.ServerCase):
    config = {"admin": {"token": ""}}

    def test_empty_token_disables_the_api_with_403(self):
        for h in ({}, {"Authorization": "Bearer "}, AUTH):
            r = self.admin("GET", "/api/stats", headers=h, auth=False)
            self.assertEqual(r.status, 403)
            self.assertIn("disabled", r.json()["error"])
        self.assertEqual(self.admin("GET", "/healthz", auth=False).status, 200)
        self.assertEqual(self.admin("GET", "/metrics", auth=False).status, 200)


class NoAdminListenerTest(wxs.ServerCase):
    config = {"admin": {"listen": ""}}

    def test_empty_listen_means_no_admin_listener(self):
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", self.env.admin_port), timeout=1).close()


class TokenFromEnvironmentTest(wxs.ServerCase):
    config = {"admin": {"token": ""}}
    server_env = {"WXSCENE_ADMIN_TOKEN": "fromenv123"}
    admin_token = "fromenv123"

    def test_token_from_the_environment(self):
        self.assertEqual(self.admin("GET", "/api/channels").status, 200)


class AdminConfigTest(unittest.TestCase):
    def test_admin_port_taken_is_a_startup_error(self):
        e = wxs.Env()
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", e.admin_port))
            s.listen(1)
            e.start_server(wait=False)
            rc = e.proc.wait(timeout=15)
            self.assertEqual(rc, 1)
            self.assertIn("[admin] listen: cannot bind", e.server_log())
        finally:
            s.close()
            e.stop_server()
            e.cleanup()


if __name__ == "__main__":
    unittest.main()
