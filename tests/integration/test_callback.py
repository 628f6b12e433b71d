"""The callback server end to end: the real wxscened on 127.0.0.1 with a
temp config and SQLite file, signed pushes from Python's stdlib, replies,
status codes and database rows checked."""
import concurrent.futures
import http.client
import os
import re
import signal
import socket
import time
import unittest
import xml.etree.ElementTree as ET

import wxs


def reply_content(resp):
    root = ET.fromstring(resp.body)
    return {c.tag: (c.text or "") for c in root}


class CallbackTest(wxs.ServerCase):
    @classmethod
    def prepare(cls, e):
        e.cli("channel", "add", "42", "--name", "Store 42", "--promoter", "Li",
              "--reply", "Hi from {channel} (scene {scene})", "--scan-reply", "Welcome back to {channel}")
        e.cli("channel", "add", "flyer", "--name", "Spring flyer", "--reply", "tricky ]]> text ]]]]> end")
        e.cli("channel", "add", "007", "--str", "--name", "Agent")

    def events(self, where="true", *args):
        return self.env.sql(f"SELECT openid, kind, scene, is_new_fan, reply FROM events WHERE {where}", *args)

    # ---- URL verification ----
    def test_get_echostr_returned_byte_for_byte(self):
        q = wxs.signed_query(self.env.token, echostr="4375120948345356249")
        r = wxs.request(self.env.port, "GET", "/wx?" + q)
        self.assertEqual((r.status, r.body), (200, b"4375120948345356249"))

    def test_get_official_vector_v1a(self):
        # V1a: token AAAAA is not ours, so the same query must be rejected.
        q = ("signature=f464b24fc39322e44b38aa78f5edd27bd1441696&timestamp=1714036504"
             "&nonce=1514711492&echostr=4375120948345356249")
        self.assertEqual(wxs.request(self.env.port, "GET", "/wx?" + q).status, 401)

    def test_get_bad_signature_and_missing_params(self):
        q = wxs.signed_query(self.env.token, echostr="x").replace("signature=", "signature=0")
        with self.env.records_nothing(self):
            self.assertEqual(wxs.request(self.env.port, "GET", "/wx?" + q).status, 401)
            self.assertEqual(wxs.request(self.env.port, "GET", "/wx?echostr=x").status, 401)
            self.assertEqual(wxs.request(self.env.port, "GET", "/wx").status, 401)

    def test_stale_timestamp_rejected(self):
        old = int(time.time()) - 3600
        with self.env.records_nothing(self):
            r = self.env.push(wxs.event_xml("oStale", 1700000001, "subscribe", "qrscene_42"), timestamp=old)
            self.assertEqual(r.status, 401)
        self.assertEqual(self.events("openid = 'oStale'"), [])

    # ---- pushes ----
    def test_subscribe_with_scene_gets_channel_reply(self):
        r = self.env.push(wxs.event_xml("oSub1", 1700000100, "subscribe", "qrscene_42"))
        self.assertEqual(r.status, 200, r)
        c = reply_content(r)
        self.assertEqual(c["Content"], "Hi from Store 42 (scene 42)")
        self.assertEqual(c["ToUserName"], "oSub1")
        self.assertEqual(c["FromUserName"], "gh_test")
        self.assertEqual(c["MsgType"], "text")
        self.assertEqual(self.events("openid = 'oSub1'"), [("oSub1", 0, "42", 1, "Hi from Store 42 (scene 42)")])
        self.assertEqual(self.env.sql("SELECT first_scene, last_scene, subscribed FROM fans WHERE openid='oSub1'"),
                         [("42", "42", 1)])

    def test_reply_with_cdata_terminator_stays_valid_xml(self):
        r = self.env.push(wxs.event_xml("oFly", 1700000200, "subscribe", "qrscene_flyer"))
        self.assertEqual(r.status, 200)
        self.assertEqual(reply_content(r)["Content"], "tricky ]]> text ]]]]> end")

    def test_scan_uses_scan_reply(self):
        r = self.env.push(wxs.event_xml("oScan", 1700000300, "SCAN", "42"))
        self.assertEqual(reply_content(r)["Content"], "Welcome back to Store 42")
        self.assertEqual(self.events("openid = 'oScan'"), [("oScan", 1, "42", 0, "Welcome back to Store 42")])

    def test_string_scene_with_leading_zero(self):
        r = self.env.push(wxs.event_xml("oAgent", 1700000350, "subscribe", "qrscene_007"))
        self.assertEqual(reply_content(r)["Content"], "Welcome!")  # channel without reply -> [reply] subscribe
        self.assertEqual(self.events("openid = 'oAgent'")[0][2], "007")

    def test_organic_and_unknown_scene(self):
        r = self.env.push(wxs.event_xml("oOrg", 1700000400, "subscribe"))
        self.assertEqual(reply_content(r)["Content"], "Welcome!")
        r = self.env.push(wxs.event_xml("oOrg2", 1700000400, "subscribe", ""))
        self.assertEqual(reply_content(r)["Content"], "Welcome!")
        r = self.env.push(wxs.event_xml("oUnk", 1700000401, "subscribe", "qrscene_999"))
        self.assertEqual(reply_content(r)["Content"], "Welcome from channel 999")
        self.assertEqual(self.events("openid IN ('oOrg','oUnk') ORDER BY openid")[0][2], None)
        self.assertEqual(self.events("openid = 'oUnk'")[0][2], "999")

    def test_last_trade_no_is_not_a_scene(self):
        r = self.env.push(wxs.event_xml("oPay", 1700000450, "subscribe",
                                        "last_trade_no_4008072001201701105817415015"))
        self.assertEqual(reply_content(r)["Content"], "Welcome!")
        self.assertIsNone(self.events("openid = 'oPay'")[0][2])

    def test_unsubscribe_and_resubscribe_attribution(self):
        e = self.env
        self.assertEqual(e.push(wxs.event_xml("oRe", 1700000500, "subscribe", "qrscene_42")).status, 200)
        r = e.push(wxs.event_xml("oRe", 1700000600, "unsubscribe"))
        self.assertEqual((r.status, r.body), (200, b"success"))
        r = e.push(wxs.event_xml("oRe", 1700000700, "subscribe", "qrscene_flyer"))
        self.assertEqual(r.status, 200)
        rows = self.events("openid = 'oRe' ORDER BY id")
        self.assertEqual([(k, s, n) for _, k, s, n, _ in rows], [(0, "42", 1), (2, "42", 0), (0, "flyer", 0)])
        self.assertEqual(e.sql("SELECT first_scene, last_scene, subscribed, subscribe_count FROM fans "
                               "WHERE openid='oRe'"), [("42", "flyer", 1, 2)])

    def test_text_message_success_and_dedup_by_msgid(self):
        x = wxs.text_xml("oText", 1348831860, "this is a test", "1234567890123456")
        for _ in range(3):
            r = self.env.push(x)
            self.assertEqual((r.status, r.body), (200, b"success"))
        self.assertEqual(self.env.sql("SELECT count(*), min(dedup_key) FROM events WHERE openid='oText'"),
                         [(1, "m|1234567890123456")])

    def test_retry_answered_the_same_and_counted_once(self):
        x = wxs.event_xml("oRetry", 1700000800, "subscribe", "qrscene_42")
        first = self.env.push(x)
        for _ in range(3):
            again = self.env.push(x)
            self.assertEqual(again.status, 200)
            self.assertEqual(reply_content(again)["Content"], reply_content(first)["Content"])
        self.assertEqual(len(self.events("openid = 'oRetry'")), 1)

    def test_concurrent_retries_stored_once(self):
        xs = [wxs.event_xml(f"oConc{i}", 1700000900 + i, "subscribe", "qrscene_42") for i in range(20)]
        jobs = [x for x in xs for _ in range(4)]
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            res = list(ex.map(self.env.push, jobs))
        self.assertTrue(all(r.status == 200 for r in res))
        self.assertEqual({reply_content(r)["Content"] for r in res}, {"Hi from Store 42 (scene 42)"})
        self.assertEqual(self.env.sql("SELECT count(*), sum(is_new_fan) FROM events WHERE openid LIKE 'oConc%'"),
                         [(20, 20)])

    def test_recased_retries_stored_once(self):
        """MsgType and Event compare ASCII case-insensitively and the dedup
        key holds one spelling (WeChat's): a retry re-cased on the way is
        the same push, answered the same and stored once."""
        e = self.env

        def said(r):
            return reply_content(r)["Content"] if r.body.startswith(b"<xml>") else r.text

        sub = wxs.event_xml("oCase", 1700003000, "subscribe", "qrscene_42")
        for body in (sub, sub.replace("[subscribe]", "[Subscribe]"), sub.replace("[subscribe]", "[SUBSCRIBE]"),
                     sub.replace("[event]", "[Event]")):
            r = e.push(body)
            self.assertEqual((r.status, said(r)), (200, "Hi from Store 42 (scene 42)"), body)
        scan = wxs.event_xml("oCase", 1700003100, "scan", "42").replace("[event]", "[EVENT]")
        for body in (scan, wxs.event_xml("oCase", 1700003100, "SCAN", "42")):
            r = e.push(body)
            self.assertEqual((r.status, said(r)), (200, "Welcome back to Store 42"), body)
        self.assertEqual(e.sql("SELECT kind, scene, dedup_key FROM events WHERE openid = 'oCase' ORDER BY id"),
                         [(0, "42", "e|1700003000|oCase|subscribe|qrscene_42"),
                          (1, "42", "e|1700003100|oCase|SCAN|42")])

    def test_same_second_different_events_both_kept(self):
        e = self.env
        e.push(wxs.event_xml("oSame", 1700001000, "subscribe", "qrscene_42"))
        e.push(wxs.event_xml("oSame", 1700001000, "SCAN", "flyer"))
        self.assertEqual(len(self.events("openid = 'oSame'")), 2)

    # ---- hostile and bad input: rejected, nothing recorded ----
    def assert_rejected(self, body, status=400):
        with self.env.records_nothing(self, repr(body[:60])):
            r = self.env.push(body)
            self.assertEqual(r.status, status, r)
        return r

    def test_doctype_rejected(self):
        self.assert_rejected('<?xml version="1.0"?><!DOCTYPE xml [<!ELEMENT xml ANY>]>'
                             + wxs.event_xml("oEvil", 1, "subscribe", "qrscene_42"))

    def test_billion_laughs_rejected(self):
        lol = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
               + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10))
               + ']><xml><ToUserName>&lol9;</ToUserName></xml>')
        self.assert_rejected(lol)

    def test_xxe_file_and_network_rejected(self):
        for sysid in ("file:///etc/passwd", "http://127.0.0.1:1/evil.dtd"):
            x = (f'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "{sysid}">]>'
                 '<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName>&xxe;</FromUserName>'
                 '<CreateTime>1</CreateTime><MsgType>event</MsgType><Event>subscribe</Event></xml>')
            r = self.assert_rejected(x)
            self.assertNotIn(b"root:", r.body)

    def test_garbage_and_broken_xml_rejected(self):
        self.assert_rejected(os.urandom(1024))
        self.assert_rejected(b"<xml><ToUserName>unterminated")
        self.assert_rejected(b"<notxml/>")
        self.assert_rejected(b"")

    def test_one_megabyte_garbage_is_413(self):
        body = b"A" * (1 << 20)
        head = (f"POST /wx?{wxs.signed_query(self.env.token)} HTTP/1.1\r\nHost: x\r\n"
                f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        with self.env.records_nothing(self, "1 MiB"):
            self.assertEqual(wxs.status_of(wxs.raw_request(self.env.port, head + body)), 413)
        # just over the limit, body fully sent: a well-formed push around it
        pad = "A" * (65536 - len(wxs.event_xml("oBig", 1700000050, "subscribe", "qrscene_42")) + 1)
        small = wxs.event_xml("oBig", 1700000050, "subscribe", "qrscene_42").replace(
            "TICKET", "TICKET" + pad).encode()
        self.assertEqual(len(small), 65536 + 1)
        head = (f"POST /wx?{wxs.signed_query(self.env.token)} HTTP/1.1\r\nHost: x\r\n"
                f"Content-Length: {len(small)}\r\n\r\n").encode()
        with self.env.records_nothing(self, "just over the limit"):
            self.assertEqual(wxs.status_of(wxs.raw_request(self.env.port, head + small)), 413)
        self.assertEqual(self.events("openid = 'oBig'"), [])
        self.assertEqual(wxs.request(self.env.port, "GET", "/healthz").status, 200)

    def test_missing_required_fields_rejected(self):
        self.assert_rejected("<xml><ToUserName>gh</ToUserName><CreateTime>1</CreateTime>"
                             "<MsgType>event</MsgType><Event>subscribe</Event></xml>")
        self.assert_rejected("<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName>"
                             "<CreateTime>x</CreateTime><MsgType>event</MsgType><Event>subscribe</Event></xml>")

    def test_invalid_utf8_and_huge_eventkey_rejected(self):
        self.assert_rejected(wxs.event_xml("oEvil", 1, "subscribe", "qrscene_42").encode().replace(b"42", b"\xff\xfe"))
        self.assert_rejected(wxs.event_xml("oEvil", 1, "subscribe", "qrscene_" + "9" * 5000))

    def test_bad_signature_post_records_nothing(self):
        q = wxs.signed_query(self.env.token).replace("signature=", "signature=0")
        with self.env.records_nothing(self):
            r = self.env.push(wxs.event_xml("oBadSig", 2, "subscribe", "qrscene_42"), query=q)
            self.assertEqual(r.status, 401)

    def test_encrypted_push_rejected_in_plain_mode(self):
        q = wxs.signed_query(self.env.token, encrypt_type="aes", msg_signature="0" * 40)
        with self.env.records_nothing(self):
            r = self.env.push("<xml><ToUserName>gh</ToUserName><Encrypt>AAAA</Encrypt></xml>", query=q)
            self.assertEqual(r.status, 400)

    # ---- other answers ----
    def test_paths_and_methods(self):
        push = wxs.event_xml("oPath", 1700000060, "subscribe", "qrscene_42")
        q = wxs.signed_query(self.env.token)
        with self.env.records_nothing(self):
            self.assertEqual(wxs.request(self.env.port, "GET", "/other").status, 404)
            self.assertEqual(wxs.request(self.env.port, "POST", "/other?" + q, body=push).status, 404)
            self.assertEqual(wxs.request(self.env.port, "PUT", "/wx?" + q, body=push).status, 405)
            self.assertEqual(wxs.request(self.env.port, "DELETE", "/wx").status, 405)
        r = wxs.request(self.env.port, "GET", "/healthz")
        self.assertEqual((r.status, r.body), (200, b"ok\n"))

    def test_one_log_line_per_request(self):
        """Each answered request writes exactly one access line, with its
        method, path and status, in the order answered."""
        e = self.env
        line = re.compile(r" INFO (GET|POST|OTHER) (\S+) (\d{3}) \d+\.\d{3}ms ")

        def lines():
            return [m.groups() for m in map(line.search, e.server_log().splitlines()) if m]

        before = len(lines())
        x = wxs.event_xml("oLogLine", 1700002100, "subscribe", "qrscene_42")
        q = wxs.signed_query(e.token)
        answers = [
            ("POST", "/wx", e.push(x).status),                   # stored, text reply
            ("POST", "/wx", e.push(x).status),                   # retry
            ("POST", "/wx", e.push(wxs.event_xml("oLogLine", 1700002101, "unsubscribe")).status),
            ("POST", "/wx", e.push(x, query=q.replace("signature=", "signature=0")).status),
            ("POST", "/wx", e.push("<xml><broken").status),
            ("GET", "/wx", wxs.request(e.port, "GET", "/wx?" + wxs.signed_query(e.token, echostr="e")).status),
            ("GET", "/healthz", wxs.request(e.port, "GET", "/healthz").status),
            ("GET", "/nowhere", wxs.request(e.port, "GET", "/nowhere").status),
            ("OTHER", "/wx", wxs.request(e.port, "PUT", "/wx").status),
        ]
        self.assertEqual([a[2] for a in answers], [200, 200, 200, 401, 400, 200, 200, 404, 405])
        want = [(m, p, str(st)) for m, p, st in answers]
        deadline = time.monotonic() + 5
        while len(lines()) < before + len(want) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # a second line for any of them would be out by now
        self.assertEqual(lines()[before:], want)

    def test_token_never_logged(self):
        self.env.push(wxs.event_xml("oLog", 1700002000, "subscribe", "qrscene_42"))
        self.assertNotIn(self.env.token, self.env.server_log())
        self.assertIn("POST /wx 200", self.env.server_log())


class DurabilityTest(unittest.TestCase):
    def setUp(self):
        self.env = wxs.Env()

    def tearDown(self):
        self.env.cleanup()

    def test_kill9_after_200_loses_nothing(self):
        e = self.env
        for round_ in range(3):
            e.start_server()
            acked = []
            for i in range(50):
                oid = f"oK{round_}_{i}"
                if e.push(wxs.event_xml(oid, 1700000000 + i, "subscribe", "qrscene_1")).status == 200:
                    acked.append(oid)
            e.stop_server(signal.SIGKILL)
            stored = {r[0] for r in e.sql(f"SELECT openid FROM events WHERE openid LIKE 'oK{round_}_%'")}
            self.assertEqual(len(acked), 50)
            self.assertTrue(set(acked) <= stored, set(acked) - stored)

    def test_sigterm_answers_and_stores_the_pushes_in_flight(self):
        """Pushes the server has read when SIGTERM arrives are answered 200
        with their reply and stored; the listener stops accepting at once;
        exit 0. A writer holding the database keeps the pushes in flight
        (the commit waits for it, [store] busy timeout 1 s) until the drain
        has begun."""
        e = self.env
        e.write_config(tag={"worker": "false"})  # no other writer waiting on our lock
        e.start_server()
        n = 8
        lock = None
        conns = [http.client.HTTPConnection("127.0.0.1", e.port, timeout=30) for _ in range(n)]
        try:
            lock = wxs.WriteLock(e)
            for i, c in enumerate(conns):
                c.request("POST", f"/wx?{wxs.signed_query(e.token)}", headers={"Content-Type": "text/xml"},
                          body=wxs.event_xml(f"oT{i}", 1700000000 + i, "subscribe", "qrscene_5").encode())
            mine = {c.sock.getsockname()[1] for c in conns}
            deadline = time.monotonic() + 10
            while True:  # every request read by the server: each is in flight now
                q = wxs.server_rx_queues(e.port)
                if mine <= q.keys() and not any(q[p] for p in mine):
                    break
                self.assertLess(time.monotonic(), deadline, f"requests not read: {q}")
                time.sleep(0.002)
            e.proc.send_signal(signal.SIGTERM)
            while True:  # the drain has begun: no new connection
                try:
                    socket.create_connection(("127.0.0.1", e.port), timeout=1).close()
                except (ConnectionRefusedError, ConnectionResetError):
                    break
                except TimeoutError:
                    # our probes filled the accept queue before the loop got
                    # to the signal (a loaded machine): SYNs are dropped, not
                    # refused; ask again until the listener is closed
                    pass
                self.assertLess(time.monotonic(), deadline, "still accepting after SIGTERM")
                time.sleep(0.02)
            self.assertIsNone(e.proc.poll(), "exited with requests in flight")
            self.assertEqual(e.sql("SELECT count(*) FROM events"), [(0,)])
            lock.release()
            answers = []
            for c in conns:
                try:
                    r = c.getresponse()
                    answers.append((r.status, reply_content(wxs.Response(r.status, r.read(), {}))["Content"]))
                except (OSError, http.client.HTTPException) as err:  # compared below
                    answers.append((None, repr(err)))
        finally:
            if lock:
                lock.release()
            for c in conns:
                c.close()
        self.assertEqual(answers, [(200, "Welcome from channel 5")] * n)
        self.assertEqual(e.proc.wait(timeout=15), 0)  # on its own: no second signal
        e.stop_server()
        self.assertEqual(e.sql("SELECT openid FROM events ORDER BY openid"), [(f"oT{i}",) for i in range(n)])
        self.assertIn("signal 15: draining", e.server_log())

    def test_synchronous_full_works(self):
        e = self.env
        e.write_config(store={"synchronous": "full"})
        e.start_server()
        self.assertEqual(e.push(wxs.event_xml("oFull", 1700000000, "subscribe", "qrscene_1")).status, 200)
        self.assertEqual(e.sql("SELECT count(*) FROM events"), [(1,)])


if __name__ == "__main__":
    unittest.main()
