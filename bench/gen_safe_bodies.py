#!/usr/bin/env python3
"""Pre-generate safe-mode (AES) pushes for bench/safe_push.lua, or check one.

    gen_safe_bodies.py --token T --key K43 --appid A --count N --out FILE [--path /wx]
    gen_safe_bodies.py --token T --key K43 --appid A --check http://127.0.0.1:PORT/wx

FILE gets one request per line: "PATH?QUERY<TAB>BODY". Every line is a
distinct event with the mix of the shared bench/wrk/push.lua (70 % subscribe
qrscene_N, 30 % SCAN N, N = 1..100, a new openid per line), encrypted by
tests/integration/wxcrypto.py (independent of src/wx_crypt.c) with a fresh
random prefix, under its own nonce and msg_signature. All lines share one
timestamp (now), so use the file within [server] timestamp_window seconds.

--check sends one encrypted subscribe and verifies the encrypted reply
(MsgSignature, AppID, a Content containing "Welcome"); exit 0 when it holds.
"""
import argparse
import http.client
import os
import sys
import time
import urllib.parse
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import wxcrypto  # noqa: E402


def event_xml(openid, create_time, event, key):
    return ("<xml><ToUserName><![CDATA[gh_test]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime>"
            "<MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event>"
            f"<EventKey><![CDATA[{key}]]></EventKey>"
            "<Ticket><![CDATA[TICKET]]></Ticket></xml>")


def push_event(counter, prefix):
    """The event push.lua sends as request number `counter`."""
    n = counter % 100 + 1
    if (counter + counter // 100) % 10 < 7:
        event, key = "subscribe", f"qrscene_{n}"
    else:
        event, key = "SCAN", str(n)
    return event_xml(f"{prefix}{counter}", 1700000000 + counter, event, key)


def signed(args, inner, ts):
    """(query string, envelope body) of one encrypted push."""
    nonce = str(int.from_bytes(os.urandom(4), "big"))
    body, msg_sig = wxcrypto.encrypted_push(args.token, args.key, args.appid, inner.encode(),
                                            ts, nonce, to_user="gh_test")
    q = urllib.parse.urlencode({
        "signature": wxcrypto.signature(args.token, ts, nonce), "timestamp": ts, "nonce": nonce,
        "openid": "oBENCH", "encrypt_type": "aes", "msg_signature": msg_sig})
    return q, body


def generate(args):
    ts = str(int(time.time()))
    prefix = f"oS{ts}_"
    with open(args.out, "w") as f:
        for c in range(1, args.count + 1):
            q, body = signed(args, push_event(c, prefix), ts)
            f.write(f"{args.path}?{q}\t{body}\n")
    return 0


def check(args):
    url = urllib.parse.urlsplit(args.check)
    ts = str(int(time.time()))
    q, body = signed(args, event_xml(f"oCHECK{ts}", int(ts), "subscribe", "qrscene_42"), ts)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.request("POST", f"{url.path}?{q}", body=body, headers={"Content-Type": "text/xml"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        print(f"check: HTTP {r.status}: {data[:200]!r}", file=sys.stderr)
        return 1
    plain = wxcrypto.decrypt_reply(args.token, args.key, args.appid, data)
    content = ET.fromstring(plain).findtext("Content") or ""
    print(f"check POST -> 200, decrypted reply Content: {content}")
    return 0 if "Welcome" in content else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--token", required=True)
    p.add_argument("--key", required=True, help="EncodingAESKey, 43 characters")
    p.add_argument("--appid", required=True)
    p.add_argument("--path", default="/wx")
    p.add_argument("--count", type=int, default=200000)
    p.add_argument("--out")
    p.add_argument("--check", metavar="URL")
    args = p.parse_args()
    if args.check:
        return check(args)
    if not args.out:
        p.error("--out FILE or --check URL")
    return generate(args)


if __name__ == "__main__":
    sys.exit(main())
