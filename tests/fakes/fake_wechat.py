#!/usr/bin/python3
"""A fake of the WeChat official-account HTTP APIs, for tests only.

Python stdlib, bound on 127.0.0.1. It behaves like the real platform where
wxscene depends on it (wechat-protocol.md sections 4, 5, 8):

* cgi-bin/token issues a token and (strictly, unlike the 5 minute overlap of
  the real platform) invalidates the previous one, so a client that keeps
  using a replaced token gets 40001;
* cgi-bin/stable_token returns the same token while it is valid and a new one
  on force_refresh (tokens isolated from cgi-bin/token);
* cgi-bin/qrcode/create validates the body like WeChat (40052/40053) and
  returns tickets that contain '+', '/' and '=', with the url escaped as
  "http:\\/\\/..." as in the documentation copies; a permanent scene asked
  again gets the same ticket and url (a permanent code is one code per scene,
  and nothing in the documentation promises a fresh ticket per call), so a
  client must not expect one ticket per request;
* cgi-bin/showqrcode (on the mp base, same server) serves a JPEG-looking
  image for a known ticket, 404 otherwise; the ticket must arrive
  URL-encoded, so an unencoded '+' turns into a space and is not found.

Every endpoint is one row of ENDPOINTS; add rows (and a handler) to extend it
(tags, user/info, ...). Calls are counted per endpoint and logged.

Faults are injected through the control endpoints (or --fault at startup):

    POST /_fake/fault   {"endpoint": "cgi-bin/qrcode/create", "errcode": -1, "times": 2}
                        {"endpoint": "...", "slow": 2.5}            sleep before answering
                        {"endpoint": "...", "invalid_json": true}
                        {"endpoint": "...", "http_status": 502}
                        {"endpoint": "cgi-bin/qrcode/create", "ticket": "T"}
                                     answer normally, but with this ticket (and its url)
                        optional "after": N  skip the first N matching calls
    POST /_fake/rotate  another party fetched a token: the current one is replaced (40001)
    POST /_fake/expire  the current token expires (42001)
    POST /_fake/reset   forget faults, counts, tokens and tickets
    POST /_fake/release wake every request sleeping in a "slow" fault
    GET  /_fake/calls   {"counts": {"cgi-bin/token": 1, ...}, "log": [...]}

Run: fake_wechat.py [--port 0] [--fault JSON]...; it prints "READY <port>"
on stdout once it accepts connections.
"""

import argparse
import base64
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import fake_messages  # permanent material, customer-service messages (issue 20)
import fake_users  # tags, followers, user info (issue 7)

TOKEN_TTL = 7200
QR_KINDS = {
    "QR_SCENE": ("scene_id", True),
    "QR_STR_SCENE": ("scene_str", True),
    "QR_LIMIT_SCENE": ("scene_id", False),
    "QR_LIMIT_STR_SCENE": ("scene_str", False),
}


class ApiError(Exception):
    def __init__(self, errcode, errmsg):
        super().__init__(errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


def errmsg_with_rid(msg):
    # Real errmsg strings carry a request id suffix; clients must match errcode.
    return "%s rid: %s" % (msg, os.urandom(6).hex())


class State:
    """Everything the fake remembers; one lock guards it all."""

    def __init__(self):
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.reset()

    def reset(self):
        self.counts = {}
        self.log = []
        self.faults = []
        self.seq = 0
        self.tokens = {}  # token -> {"source", "expires_at", "state"}
        self.current = {"token": None, "stable": None}
        self.tickets = {}  # ticket -> {"url", "body"}
        self.permanent = {}  # (action_name, scene value) -> ticket: one code per scene
        self.release.set()
        self.release = threading.Event()

    def next_seq(self):
        self.seq += 1
        return self.seq

    def issue(self, source, ttl=TOKEN_TTL):
        old = self.current[source]
        if old is not None:
            self.tokens[old]["state"] = "replaced"
        tok = "%s-%d-%s" % (source, self.next_seq(), base64.urlsafe_b64encode(os.urandom(24)).decode())
        self.tokens[tok] = {"source": source, "expires_at": time.time() + ttl, "state": "valid"}
        self.current[source] = tok
        return tok

    def check_token(self, tok):
        """Raise the error WeChat gives for this access_token, if any."""
        if not tok:
            raise ApiError(41001, errmsg_with_rid("access_token missing"))
        info = self.tokens.get(tok)
        if info is None or info["state"] == "replaced":
            raise ApiError(40001, errmsg_with_rid(
                "invalid credential, access_token is invalid or not latest"))
        if info["state"] == "expired" or info["expires_at"] < time.time():
            raise ApiError(42001, errmsg_with_rid("access_token expired"))

    def take_fault(self, endpoint):
        """The first matching fault, consumed by one call, or None."""
        for f in self.faults:
            if f["endpoint"] not in (endpoint, "*"):
                continue
            if f.get("after", 0) > 0:
                f["after"] -= 1
                continue
            f["times"] -= 1
            if f["times"] <= 0:
                self.faults.remove(f)
            return dict(f)
        return None


# ---- endpoint handlers: (state, query, body) -> JSON-able dict, or raise ApiError ----


def check_app(appid, secret):
    if appid != APP["appid"]:
        raise ApiError(40013, errmsg_with_rid("invalid appid"))
    if secret != APP["secret"]:
        raise ApiError(40125, errmsg_with_rid("invalid appsecret"))


def h_token(st, query, body):
    if query.get("grant_type") != "client_credential":
        raise ApiError(40002, errmsg_with_rid("invalid grant_type"))
    check_app(query.get("appid"), query.get("secret"))
    return {"access_token": st.issue("token"), "expires_in": TOKEN_TTL}


def h_stable_token(st, query, body):
    if body.get("grant_type") != "client_credential":
        raise ApiError(40002, errmsg_with_rid("invalid grant_type"))
    check_app(body.get("appid"), body.get("secret"))
    cur = st.current["stable"]
    info = st.tokens.get(cur) if cur else None
    if body.get("force_refresh") or info is None or info["state"] != "valid" \
            or info["expires_at"] < time.time():
        cur = st.issue("stable")
    left = int(st.tokens[cur]["expires_at"] - time.time())
    return {"access_token": cur, "expires_in": max(left, 1)}


def make_ticket(st):
    # 0xfb 0xff encode to "+/" and 32 bytes end in one "=": every ticket needs encoding.
    raw = b"\xfb\xff" + st.next_seq().to_bytes(4, "big") + os.urandom(26)
    return base64.b64encode(raw).decode()


def validate_qr(body):
    kind = QR_KINDS.get(body.get("action_name"))
    if kind is None:
        raise ApiError(40052, errmsg_with_rid("invalid action name"))
    field, temporary = kind
    scene = (body.get("action_info") or {}).get("scene")
    if not isinstance(scene, dict) or field not in scene:
        raise ApiError(40053, errmsg_with_rid("invalid action info, please check document"))
    value = scene[field]
    if field == "scene_id":
        limit = 4294967295 if temporary else 100000
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
            raise ApiError(40053, errmsg_with_rid("invalid action info, please check document"))
    elif not isinstance(value, str) or not 1 <= len(value.encode()) <= 64:
        raise ApiError(40053, errmsg_with_rid("invalid action info, please check document"))
    if temporary:
        exp = body.get("expire_seconds", 60)  # the platform's default when omitted
        if not isinstance(exp, int) or not 1 <= exp <= 2592000:
            raise ApiError(40053, errmsg_with_rid("invalid expire_seconds"))
        return exp
    return None


def h_qr_create(st, query, body):
    expire = validate_qr(body)
    scene = body["action_info"]["scene"]
    key = (body["action_name"], scene.get("scene_id", scene.get("scene_str")))
    ticket = st.permanent.get(key) if expire is None else None
    if ticket is None:
        ticket = make_ticket(st)
        url = "http://weixin.qq.com/q/%s" % base64.urlsafe_b64encode(os.urandom(15)).decode()
        st.tickets[ticket] = {"url": url, "body": body}
        if expire is None:
            st.permanent[key] = ticket
    out = {"ticket": ticket, "url": st.tickets[ticket]["url"]}
    if expire is not None:
        out["expire_seconds"] = expire
    return out


def jpeg_for(url):
    """What showqrcode serves: JPEG markers around the url, so tests can check."""
    return b"\xff\xd8\xff\xe0FAKEJPEG\n" + url.encode() + b"\n\xff\xd9"


def h_showqrcode(st, query, body):
    t = st.tickets.get(query.get("ticket", ""))
    if t is None:
        return Raw(404, "text/html", b"<html>ticket invalid</html>")
    return Raw(200, "image/jpg", jpeg_for(t["url"]))


class Raw:
    def __init__(self, status, ctype, data):
        self.status, self.ctype, self.data = status, ctype, data


class Endpoint:
    def __init__(self, method, handler, needs_token=True, raw=False):
        # raw: the handler gets {"content_type", "raw"} instead of a JSON body (uploads)
        self.method, self.handler, self.needs_token = method, handler, needs_token
        self.raw = raw


ENDPOINTS = {
    "cgi-bin/token": Endpoint("GET", h_token, needs_token=False),
    "cgi-bin/stable_token": Endpoint("POST", h_stable_token, needs_token=False),
    "cgi-bin/qrcode/create": Endpoint("POST", h_qr_create),
    "cgi-bin/showqrcode": Endpoint("GET", h_showqrcode, needs_token=False),
}
ENDPOINTS.update(fake_users.endpoints(Endpoint, ApiError, errmsg_with_rid))
ENDPOINTS.update(fake_messages.endpoints(Endpoint, ApiError, errmsg_with_rid))

APP = {"appid": "wx0123456789abcdef", "secret": "0123456789abcdef0123456789abcdef"}


# ---- control endpoints ----


def c_fault(st, body):
    if body.get("endpoint") not in ENDPOINTS and body.get("endpoint") != "*":
        raise ValueError("unknown endpoint %r" % body.get("endpoint"))
    f = dict(body)
    f.setdefault("times", 1)
    st.faults.append(f)
    return {"ok": True, "faults": len(st.faults)}


def c_rotate(st, body):
    source = body.get("source", "token")
    st.issue(source)
    return {"ok": True}


def c_expire(st, body):
    cur = st.current[body.get("source", "token")]
    if cur:
        st.tokens[cur]["state"] = "expired"
    return {"ok": True}


def c_reset(st, body):
    st.reset()
    fake_messages.reset()
    return {"ok": True}


def c_release(st, body):
    st.release.set()
    return {"ok": True}


def c_calls(st, body):
    return {"counts": dict(st.counts), "log": list(st.log),
            "current": dict(st.current), "tickets": {k: v["url"] for k, v in st.tickets.items()}}


CONTROL = {
    ("POST", "/_fake/fault"): c_fault,
    ("POST", "/_fake/rotate"): c_rotate,
    ("POST", "/_fake/expire"): c_expire,
    ("POST", "/_fake/reset"): c_reset,
    ("POST", "/_fake/release"): c_release,
    ("GET", "/_fake/calls"): c_calls,
}


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a client killed mid-request (the resumable batch test) is expected
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-wechat/1"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("fake_wechat: " + (fmt % args) + "\n")

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, status, ctype, data):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, obj, status=200):
        # Escape "/" as the documentation copies do, so clients must unescape "\/".
        self.send(status, "application/json; charset=utf-8",
                  json.dumps(obj, ensure_ascii=False).replace("/", "\\/").encode())

    def dispatch(self, method):
        parts = urlsplit(self.path)
        raw = self.read_body()
        st = self.server.state
        ctl = CONTROL.get((method, parts.path))
        if ctl is not None:
            return self.control(ctl, raw)
        name = parts.path.lstrip("/")
        ep = ENDPOINTS.get(name)
        if ep is None:
            return self.send(404, "text/plain", b"no such endpoint\n")
        if ep.method != method:
            return self.send(405, "text/plain", b"method not allowed\n")
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        with st.lock:
            st.counts[name] = st.counts.get(name, 0) + 1
            st.log.append({"endpoint": name, "query": query,
                           "content_type": self.headers.get("Content-Type", ""),
                           "body": raw.decode("utf-8", "replace"), "t": time.time()})
            fault = st.take_fault(name)
            release = st.release
        if ep.raw:
            raw = {"content_type": self.headers.get("Content-Type", ""), "raw": raw}
        self.answer(st, ep, name, query, raw, fault, release)

    def control(self, fn, raw):
        st = self.server.state
        try:
            body = json.loads(raw or b"{}")
            with st.lock:
                out = fn(st, body)
        except (ValueError, KeyError) as e:
            return self.send(400, "text/plain", ("%s\n" % e).encode())
        self.send(200, "application/json", json.dumps(out).encode())

    def answer(self, st, ep, name, query, raw, fault, release):
        if fault and fault.get("slow"):
            release.wait(float(fault["slow"]))
        if fault and fault.get("http_status"):
            return self.send(int(fault["http_status"]), "text/html", b"<html>bad gateway</html>")
        if fault and fault.get("invalid_json"):
            return self.send(200, "application/json", b'{"errcode":0,"ticket":"tru')
        if fault and "errcode" in fault:
            return self.send_json({"errcode": fault["errcode"],
                                   "errmsg": errmsg_with_rid(fault.get("errmsg", "injected"))})
        try:
            body = raw if ep.raw else json.loads(raw) if ep.method == "POST" else {}
            if not isinstance(body, dict):
                raise ValueError("body is not an object")
        except ValueError:
            return self.send_json({"errcode": 47001, "errmsg": errmsg_with_rid("data format error")})
        try:
            with st.lock:
                if ep.needs_token:
                    st.check_token(query.get("access_token"))
                out = ep.handler(st, query, body)
                if fault and "ticket" in fault and isinstance(out, dict):
                    t = st.tickets.setdefault(fault["ticket"], {"url": out["url"], "body": body})
                    out.update(ticket=fault["ticket"], url=t["url"])
        except ApiError as e:
            return self.send_json({"errcode": e.errcode, "errmsg": e.errmsg})
        if isinstance(out, Raw):
            return self.send(out.status, out.ctype, out.data)
        self.send_json(out)


class Fake:
    """The fake as a subprocess, for tests: Fake().start(), then fake.url,
    fake.calls(), fake.fault(...), fake.stop(). A real process on loopback,
    so the binaries under test talk real HTTP to it."""

    def __init__(self, appid=APP["appid"], secret=APP["secret"], faults=()):
        self.args = ["--appid", appid, "--secret", secret]
        for f in faults:
            self.args += ["--fault", json.dumps(f)]
        self.proc = None
        self.port = None

    def start(self):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), *self.args],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError("fake_wechat did not start: %r" % line)
        self.port = int(line.split()[1])
        self.url = "http://127.0.0.1:%d" % self.port
        return self

    def control(self, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data,
                                     method="GET" if body is None else "POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def calls(self):
        """{"counts": {endpoint: n}, "log": [...], "current": {...}, "tickets": {...}}"""
        return self.control("/_fake/calls")

    def count(self, endpoint):
        return self.calls()["counts"].get(endpoint, 0)

    def fault(self, endpoint, **spec):
        return self.control("/_fake/fault", dict(spec, endpoint=endpoint))

    def rotate(self, source="token"):
        return self.control("/_fake/rotate", {"source": source})

    def expire(self, source="token"):
        return self.control("/_fake/expire", {"source": source})

    def reset(self):
        return self.control("/_fake/reset", {})

    def release(self):
        return self.control("/_fake/release", {})

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--fault", action="append", default=[], help="a JSON fault, as POST /_fake/fault")
    ap.add_argument("--appid", default=APP["appid"])
    ap.add_argument("--secret", default=APP["secret"])
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    APP.update(appid=args.appid, secret=args.secret)
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.state = State()
    srv.verbose = args.verbose
    for f in args.fault:
        c_fault(srv.state, json.loads(f))
    print("READY %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
