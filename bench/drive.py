#!/usr/bin/env python3
"""A fixed amount of callback load, for profiles that must repeat exactly
(bench/profile.sh): N distinct signed plaintext events over C keep-alive
connections, shaped like wrk/push.lua (70 % subscribe qrscene_S, 30 % SCAN S,
scenes 1..100). Every answer must be 200 and contain "Welcome".

usage: drive.py PORT N [CONNS] [PREFIX]
"""
import hashlib
import http.client
import sys
import threading
import time

TOKEN = "benchtoken"


def query():
    ts, nonce = str(int(time.time())), "271828"
    sig = hashlib.sha1("".join(sorted([TOKEN, ts, nonce])).encode()).hexdigest()
    return f"/wx?signature={sig}&timestamp={ts}&nonce={nonce}&openid=oDRIVE"


def body(prefix, n):
    scene = n % 100 + 1
    event, key = ("subscribe", f"qrscene_{scene}") if (n + n // 100) % 10 < 7 else ("SCAN", str(scene))
    return (f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName>"
            f"<FromUserName><![CDATA[{prefix}{n}]]></FromUserName>"
            f"<CreateTime>{1700000000 + n}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{key}]]></EventKey>"
            f"<Ticket><![CDATA[TICKET]]></Ticket></xml>").encode()


def main():
    port, total = int(sys.argv[1]), int(sys.argv[2])
    conns = int(sys.argv[3]) if len(sys.argv) > 3 else 16
    prefix = sys.argv[4] if len(sys.argv) > 4 else f"oD{int(time.time())}_"
    path, bad = query(), []

    def worker(k):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for n in range(k, total, conns):
            c.request("POST", path, body=body(prefix, n), headers={"Content-Type": "text/xml"})
            r = c.getresponse()
            data = r.read()
            if r.status != 200 or b"Welcome" not in data:
                bad.append((n, r.status, data[:80]))
        c.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(conns)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.monotonic() - t0
    print(f"drive: {total} requests on {conns} connections in {dt:.2f}s, {len(bad)} bad")
    if bad:
        print(f"drive: first bad answer: {bad[0]}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
