"""Safe (AES) and compatible mode end to end: the real wxscened on 127.0.0.1
with a temp config and SQLite file. Every encrypted push is built by
wxcrypto.py, an independent Python implementation of the protocol notes
(python3-cryptography), and every encrypted reply is decrypted and its
MsgSignature checked by it, so the C code is never checked against itself."""
import base64
import os
import re
import struct
import time
import unittest
import urllib.parse
import xml.etree.ElementTree as ET

import wxcrypto
import wxs

KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"      # the current key
OLD_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # the key before a rotation
APPID = "wx0123456789abcdef"
R16 = b"0123456789abcdef"


def now():
    return int(time.time())


def server_now():
    """The second wxscened's time(NULL) reads: glibc's time() is the kernel's
    coarse clock (CLOCK_REALTIME_COARSE, 5 on Linux), which can still show the
    previous second a few ms after time.time() has moved on."""
    return int(time.clock_gettime(getattr(time, "CLOCK_REALTIME_COARSE", 5)))


def enc_query(token, encrypt, msg_signature=None, timestamp=None, nonce=None, **extra):
    """The safe-mode query: the URL signature plus encrypt_type and msg_signature."""
    ts = str(now() if timestamp is None else timestamp)
    nonce = nonce or str(int.from_bytes(os.urandom(4), "big"))
    if msg_signature is None:
        msg_signature = wxcrypto.signature(token, ts, nonce, encrypt)
    q = {"signature": wxcrypto.signature(token, ts, nonce), "timestamp": ts, "nonce": nonce,
         "openid": "oQUERY", "encrypt_type": "aes", "msg_signature": msg_signature}
    q.update(extra)
    return urllib.parse.urlencode(q)


def raw_encrypt(key43, plaintext):
    """AES-256-CBC of an already padded plaintext (to build bad paddings)."""
    assert len(plaintext) % 32 == 0
    enc = wxcrypto._cipher(wxcrypto.aes_key(key43)).encryptor()
    return base64.b64encode(enc.update(plaintext) + enc.finalize()).decode()


def envelope(encrypt, to="gh_test"):
    return wxcrypto.ENCRYPTED_PUSH_TEMPLATE.format(to=to, encrypt=encrypt)


def fields(xml_bytes):
    root = ET.fromstring(xml_bytes)
    return {c.tag: (c.text or "") for c in root}


class SafeServer(wxs.ServerCase):
    """One wxscened per class in MODE (wxs.ServerCase); helpers for
    encrypted pushes."""
    MODE = "safe"
    EXTRA = {}
    ENV = None

    @classmethod
    def setUpClass(cls):
        cls.config = {"wechat": {"mode": cls.MODE, "encoding_aes_key": KEY, "appid": APPID, **cls.EXTRA}}
        cls.server_env = cls.ENV
        super().setUpClass()

    @classmethod
    def prepare(cls, env):
        env.cli("channel", "add", "42", "--name", "Store 42", "--reply",
                "Hi from {channel} (scene {scene})", "--scan-reply", "Back at {channel}")

    def push_enc(self, inner, key=KEY, appid=APPID, random16=None, body=None, **q):
        """Encrypt inner (a plaintext push) and send it; body(encrypt) may
        build a different envelope around the Encrypt value."""
        inner = inner.encode() if isinstance(inner, str) else inner
        enc = wxcrypto.encrypt(key, appid, inner, random16)
        return self.send_encrypt(enc, body=body, **q), enc

    def send_encrypt(self, enc, body=None, **q):
        xml = body(enc) if body else envelope(enc)
        return self.env.push(xml, query=enc_query(self.env.token, enc, **q))

    def rows(self, openid):
        return self.env.sql("SELECT kind, openid, scene, msg_type, reply FROM events WHERE openid = ?",
                            openid)

    def open_reply(self, resp, key=KEY):
        """Check the envelope, its MsgSignature, TimeStamp and Nonce; return
        (envelope fields, decrypted reply fields)."""
        self.assertEqual(resp.status, 200, resp)
        self.assertIn("xml", resp.headers.get("Content-Type", ""))
        outer = fields(resp.body)
        self.assertEqual(sorted(outer), ["Encrypt", "MsgSignature", "Nonce", "TimeStamp"])
        self.assertRegex(outer["MsgSignature"], r"^[0-9a-f]{40}$")
        self.assertLessEqual(abs(int(outer["TimeStamp"]) - now()), 60)
        self.assertRegex(outer["Nonce"], r"^[A-Za-z0-9]{6,32}$")
        plain = wxcrypto.decrypt_reply(self.env.token, key, APPID, resp.body)
        return outer, fields(plain)


class SafeModeTest(SafeServer):
    def test_subscribe_with_scene_encrypted_reply(self):
        before = server_now()
        r, _ = self.push_enc(wxs.event_xml("oSafe1", 1700000100, "subscribe", "qrscene_42"))
        outer, inner = self.open_reply(r)
        self.assertEqual(inner["Content"], "Hi from Store 42 (scene 42)")
        self.assertEqual((inner["ToUserName"], inner["FromUserName"], inner["MsgType"]),
                         ("oSafe1", "gh_test", "text"))
        self.assertGreaterEqual(int(outer["TimeStamp"]), before)
        self.assertEqual(self.rows("oSafe1"), [(0, "oSafe1", "42", "event", "Hi from Store 42 (scene 42)")])
        # The reply's MsgSignature is over its own TimeStamp/Nonce/Encrypt.
        self.assertEqual(outer["MsgSignature"], wxcrypto.signature(
            self.env.token, outer["TimeStamp"], outer["Nonce"], outer["Encrypt"]))

    def test_reply_to_and_from_come_from_the_decrypted_message(self):
        r, _ = self.push_enc(wxs.event_xml("oSafeTo", 1700000150, "SCAN", "42", to="gh_inner"),
                             body=lambda enc: envelope(enc, to="gh_outer"))
        _, inner = self.open_reply(r)
        self.assertEqual((inner["ToUserName"], inner["FromUserName"], inner["Content"]),
                         ("oSafeTo", "gh_inner", "Back at Store 42"))

    def test_nothing_to_reply_is_plain_success(self):
        r, _ = self.push_enc(wxs.event_xml("oSafeUn", 1700000160, "unsubscribe"))
        self.assertEqual((r.status, r.body), (200, b"success"))
        self.assertEqual(len(self.rows("oSafeUn")), 1)

    def test_retry_with_new_ciphertext_same_reply_recorded_once(self):
        x = wxs.event_xml("oSafeRetry", 1700000200, "subscribe", "qrscene_42")
        replies = []
        encs = set()
        for _ in range(3):  # WeChat re-encrypts: a fresh random prefix each time
            r, enc = self.push_enc(x)
            encs.add(enc)
            replies.append(self.open_reply(r))
        self.assertEqual(len(encs), 3)
        self.assertEqual({inner["Content"] for _, inner in replies}, {"Hi from Store 42 (scene 42)"})
        # Each reply is encrypted afresh: new random prefix, new nonce.
        self.assertEqual(len({outer["Encrypt"] for outer, _ in replies}), 3)
        self.assertEqual(len({outer["Nonce"] for outer, _ in replies}), 3)
        self.assertEqual(self.env.sql("SELECT count(*) FROM events WHERE openid='oSafeRetry'"), [(1,)])

    def test_same_plaintext_same_random_fresh_reply(self):
        # Even a byte-identical retry gets a reply with a fresh random prefix.
        x = wxs.event_xml("oSafeSame", 1700000250, "subscribe", "qrscene_42")
        a, _ = self.push_enc(x, random16=R16)
        b, _ = self.push_enc(x, random16=R16)
        oa, ia = self.open_reply(a)
        ob, ib = self.open_reply(b)
        self.assertEqual(ia["Content"], ib["Content"])
        ka, kb = (base64.b64decode(o["Encrypt"]) for o in (oa, ob))
        self.assertNotEqual(ka[:16], kb[:16])  # CBC: a new first block means a new prefix

    def test_plaintext_push_rejected(self):
        with self.env.records_nothing(self):
            r = self.env.push(wxs.event_xml("oSafePlain", 1700000300, "subscribe", "qrscene_42"))
            self.assertEqual(r.status, 400, r)
            r = self.env.push(wxs.event_xml("oSafePlain", 1700000300, "subscribe", "qrscene_42"),
                              encrypt_type="raw")
            self.assertEqual(r.status, 400, r)

    def test_wrong_or_missing_msg_signature_is_401(self):
        with self.env.records_nothing(self):
            self.wrong_or_missing_msg_signature()

    def wrong_or_missing_msg_signature(self):
        inner = wxs.event_xml("oSafeSig", 1700000400, "subscribe", "qrscene_42")
        enc = wxcrypto.encrypt(KEY, APPID, inner)
        ts, nonce = str(now()), "12345"
        good = wxcrypto.signature(self.env.token, ts, nonce, enc)
        bad = [good[:-1] + ("0" if good[-1] != "0" else "1"),   # one digit off
               wxcrypto.signature("othertoken", ts, nonce, enc),  # another token
               wxcrypto.signature(self.env.token, ts, nonce, enc + "x"),
               good + "0", "", "zz"]
        for sig in bad:
            r = self.env.push(envelope(enc), query=enc_query(self.env.token, enc, msg_signature=sig,
                                                             timestamp=ts, nonce=nonce))
            self.assertEqual(r.status, 401, (sig, r))
        q = enc_query(self.env.token, enc).replace("&msg_signature=", "&x=")
        self.assertEqual(self.env.push(envelope(enc), query=q).status, 401)
        # The plain URL signature is checked too, even with a right msg_signature.
        q = enc_query(self.env.token, enc, timestamp=ts, nonce=nonce)
        q = q.replace("signature=" + wxcrypto.signature(self.env.token, ts, nonce),
                      "signature=" + "0" * 40, 1)
        self.assertEqual(self.env.push(envelope(enc), query=q).status, 401)

    def cipher_failures(self):
        """Encrypt values that pass msg_signature but must not decrypt."""
        inner = wxs.event_xml("oSafeBad", 1700000500, "subscribe", "qrscene_42").encode()
        packed = R16 + struct.pack(">I", len(inner)) + inner + APPID.encode()
        n = 32 - len(packed) % 32
        good_pad = packed + bytes([n]) * n
        body = packed + bytes([n]) * (n - 1)

        def pad_to(data, last):
            fill = 32 - (len(data) + 1) % 32
            return data + b"\x07" * (fill % 32) + bytes([last])
        base = packed if n >= 2 else packed + b"\x00"  # a pad of at least 2 bytes
        m = 32 - len(base) % 32
        mixed = bytearray(base + bytes([m]) * m)
        mixed[-m] ^= 1  # the first pad byte: only a check of every byte sees it
        good_enc = raw_encrypt(KEY, good_pad)
        ct = base64.b64decode(good_enc)
        return {
            "wrong AppID": wxcrypto.encrypt(KEY, "wx_other_appid_00", inner, R16),
            "AppID with a suffix": wxcrypto.encrypt(KEY, APPID + "x", inner, R16),
            "empty AppID": raw_encrypt(KEY, wxcrypto.pad(R16 + struct.pack(">I", len(inner)) + inner)),
            "pad byte 0": raw_encrypt(KEY, pad_to(packed, 0)),
            "pad byte 33": raw_encrypt(KEY, pad_to(packed, 33)),
            "pad bytes differ": raw_encrypt(KEY, bytes(mixed)),
            "pad " + str(n) + " with a wrong last byte": raw_encrypt(KEY, body + bytes([n ^ 0x10])),
            "length past the end": raw_encrypt(KEY, wxcrypto.pad(
                R16 + struct.pack(">I", len(inner) + len(APPID)) + inner + APPID.encode())),
            "length huge": raw_encrypt(KEY, wxcrypto.pad(
                R16 + struct.pack(">I", 0xFFFFFFF0) + inner + APPID.encode())),
            "too short": raw_encrypt(KEY, wxcrypto.pad(R16 + b"\x00\x00")),
            "truncated by 16 bytes": base64.b64encode(ct[:-16]).decode(),
            "truncated to 31 bytes": base64.b64encode(ct[:31]).decode(),
            "extra 5 bytes": base64.b64encode(ct + b"12345").decode(),
            "wrong key": wxcrypto.encrypt(OLD_KEY, APPID, inner, R16),
            "bad base64 char": good_enc[:10] + "*" + good_enc[11:],
            "bad base64 length": good_enc[:-1],
            "base64 with a space": good_enc[:20] + " " + good_enc[20:],
            "base64 padding inside": good_enc[:8] + "=" + good_enc[9:],
            "base64url alphabet": good_enc.replace("+", "-").replace("/", "_") + "-_",
        }

    def test_cipher_failures_are_400_and_indistinguishable(self):
        seen = {}
        for what, enc in self.cipher_failures().items():
            with self.subTest(what=what), self.env.records_nothing(self, what):
                r = self.send_encrypt(enc)
                self.assertEqual(r.status, 400, (what, r))
                seen[what] = (r.status, r.body, r.headers.get("Content-Type"))
        # No padding oracle: AppID and padding failures answer byte for byte alike.
        self.assertEqual(len(set(seen.values())), 1, seen)
        log = self.env.server_log()
        for code in ("-40005", "-40007", "-40008", "-40010"):
            self.assertRegex(log, re.escape(code) + r"\b", code)
        for secret in (KEY, OLD_KEY, self.env.token):
            self.assertNotIn(secret, log)

    def test_good_ciphertext_for_the_failure_inputs_is_accepted(self):
        # The control for the test above: the same inner message, correctly
        # padded and packed, is accepted, so the failures come from the flaw.
        inner = wxs.event_xml("oSafeCtl", 1700000550, "subscribe", "qrscene_42").encode()
        packed = R16 + struct.pack(">I", len(inner)) + inner + APPID.encode()
        r = self.send_encrypt(raw_encrypt(KEY, wxcrypto.pad(packed)))
        self.assertEqual(self.open_reply(r)[1]["Content"], "Hi from Store 42 (scene 42)")

    def test_pad_32_and_pad_1(self):
        # Messages sized so the padding is a full block (32) and a single byte.
        for want_pad, oid in ((32, "oPad32"), (1, "oPad1")):
            base = wxs.event_xml(oid, 1700000600, "subscribe", "qrscene_42")
            filler = 0
            while True:
                inner = base.replace("TICKET", "T" * (6 + filler)).encode()
                if 32 - (20 + len(inner) + len(APPID)) % 32 == want_pad:
                    break
                filler += 1
            r, enc = self.push_enc(inner)
            dec = wxcrypto._cipher(wxcrypto.aes_key(KEY)).decryptor()
            self.assertEqual((dec.update(base64.b64decode(enc)) + dec.finalize())[-1], want_pad)
            self.assertEqual(self.open_reply(r)[1]["Content"], "Hi from Store 42 (scene 42)", oid)

    def test_previous_key_rejected_without_rotation(self):
        with self.env.records_nothing(self):
            r, _ = self.push_enc(wxs.event_xml("oSafeOld", 1700000700, "subscribe", "qrscene_42"), key=OLD_KEY)
            self.assertEqual(r.status, 400, r)

    def test_envelope_without_encrypt_rejected(self):
        with self.env.records_nothing(self):
            r = self.env.push("<xml><ToUserName><![CDATA[gh_test]]></ToUserName></xml>",
                              query=enc_query(self.env.token, ""))
            self.assertEqual(r.status, 400, r)

    def test_decrypted_message_must_be_a_valid_push(self):
        with self.env.records_nothing(self):
            appid_failure, _ = self.push_enc(wxs.event_xml("oSafeApp", 1700000750, "subscribe", "qrscene_42"),
                                             appid="wx_other_appid_00")
            self.assertEqual(appid_failure.status, 400)
            for inner in (b"not xml", b"<xml><MsgType>event</MsgType></xml>",
                          b'<!DOCTYPE x [<!ENTITY a "b">]><xml/>'):
                r, _ = self.push_enc(inner)
                self.assertEqual((r.status, r.body), (400, appid_failure.body), inner)
        self.assertIn("-40002", self.env.server_log())

    def test_get_echostr_unchanged(self):
        with self.env.records_nothing(self):
            self.get_echostr()

    def get_echostr(self):
        q = wxs.signed_query(self.env.token, echostr="4375120948345356249")
        r = wxs.request(self.env.port, "GET", "/wx?" + q)
        self.assertEqual((r.status, r.body), (200, b"4375120948345356249"))
        # Official-account GET: only `signature` counts, echostr is plaintext.
        q = wxs.signed_query(self.env.token, echostr="abc", encrypt_type="aes", msg_signature="0" * 40)
        r = wxs.request(self.env.port, "GET", "/wx?" + q)
        self.assertEqual((r.status, r.body), (200, b"abc"))
        q = wxs.signed_query(self.env.token, echostr="abc").replace("signature=", "signature=0")
        self.assertEqual(wxs.request(self.env.port, "GET", "/wx?" + q).status, 401)


class RotationTest(SafeServer):
    EXTRA = {"encoding_aes_key_prev": OLD_KEY}

    def test_previous_key_accepted_reply_uses_new_key(self):
        r, _ = self.push_enc(wxs.event_xml("oRotOld", 1700001000, "subscribe", "qrscene_42"), key=OLD_KEY)
        _, inner = self.open_reply(r, key=KEY)
        self.assertEqual(inner["Content"], "Hi from Store 42 (scene 42)")
        with self.assertRaises(wxcrypto.WxCryptoError):
            wxcrypto.decrypt_reply(self.env.token, OLD_KEY, APPID, r.body)
        self.assertEqual(len(self.rows("oRotOld")), 1)

    def test_current_key_accepted(self):
        r, _ = self.push_enc(wxs.event_xml("oRotNew", 1700001100, "subscribe", "qrscene_42"))
        self.assertEqual(self.open_reply(r)[1]["Content"], "Hi from Store 42 (scene 42)")

    def test_retry_across_the_rotation_recorded_once(self):
        x = wxs.event_xml("oRotRetry", 1700001200, "subscribe", "qrscene_42")
        a, _ = self.push_enc(x, key=OLD_KEY)
        b, _ = self.push_enc(x, key=KEY)
        self.assertEqual(self.open_reply(a)[1]["Content"], self.open_reply(b)[1]["Content"])
        self.assertEqual(len(self.rows("oRotRetry")), 1)

    def test_third_key_and_wrong_appid_rejected(self):
        other = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
        with self.env.records_nothing(self):
            r, _ = self.push_enc(wxs.event_xml("oRotX", 1700001300, "subscribe", "qrscene_42"), key=other)
            self.assertEqual(r.status, 400)
            r, _ = self.push_enc(wxs.event_xml("oRotX", 1700001300, "subscribe", "qrscene_42"),
                                 key=OLD_KEY, appid="wx_other_appid_00")
            self.assertEqual(r.status, 400)
        self.assertEqual(self.rows("oRotX"), [])


class RotationEnvTest(SafeServer):
    """The previous key from WXSCENE_ENCODING_AES_KEY_PREV, not the file."""
    ENV = {"WXSCENE_ENCODING_AES_KEY_PREV": OLD_KEY}

    def test_previous_key_from_environment(self):
        r, _ = self.push_enc(wxs.event_xml("oRotEnv", 1700001400, "subscribe", "qrscene_42"), key=OLD_KEY)
        self.assertEqual(self.open_reply(r)[1]["Content"], "Hi from Store 42 (scene 42)")
        self.assertNotIn(OLD_KEY, self.env.server_log())


class CompatModeTest(SafeServer):
    MODE = "compat"

    def test_plain_push_plain_reply(self):
        r = self.env.push(wxs.event_xml("oCompatPlain", 1700002000, "subscribe", "qrscene_42"))
        self.assertEqual(r.status, 200, r)
        f = fields(r.body)
        self.assertNotIn("Encrypt", f)
        self.assertEqual((f["Content"], f["ToUserName"]), ("Hi from Store 42 (scene 42)", "oCompatPlain"))
        self.assertEqual(len(self.rows("oCompatPlain")), 1)

    def test_encrypted_push_with_plaintext_fields_encrypted_reply(self):
        # OFF-PY Sample.py style: the plaintext fields and Encrypt together.
        inner = wxs.event_xml("oCompatEnc", 1700002100, "subscribe", "qrscene_42")
        r, _ = self.push_enc(inner, body=lambda enc: inner.replace("</xml>", f"<Encrypt><![CDATA[{enc}]]></Encrypt></xml>"))
        _, f = self.open_reply(r)
        self.assertEqual((f["Content"], f["ToUserName"]), ("Hi from Store 42 (scene 42)", "oCompatEnc"))
        self.assertEqual(len(self.rows("oCompatEnc")), 1)

    def test_only_the_encrypted_fields_are_trusted(self):
        inner = wxs.event_xml("oCompatInner", 1700002200, "subscribe", "qrscene_42")
        outer = wxs.event_xml("oCompatOuter", 1700002200, "SCAN", "999")
        r, _ = self.push_enc(inner, body=lambda enc: outer.replace("</xml>", f"<Encrypt><![CDATA[{enc}]]></Encrypt></xml>"))
        _, f = self.open_reply(r)
        self.assertEqual((f["Content"], f["ToUserName"]), ("Hi from Store 42 (scene 42)", "oCompatInner"))
        self.assertEqual(len(self.rows("oCompatInner")), 1)
        self.assertEqual(self.rows("oCompatOuter"), [])

    def test_encrypted_push_checked_like_safe_mode(self):
        inner = wxs.event_xml("oCompatBad", 1700002300, "subscribe", "qrscene_42")
        enc = wxcrypto.encrypt(KEY, APPID, inner)
        with self.env.records_nothing(self):
            r = self.env.push(envelope(enc), query=enc_query(self.env.token, enc, msg_signature="0" * 40))
            self.assertEqual(r.status, 401)
            r, _ = self.push_enc(inner, appid="wx_other_appid_00")
            self.assertEqual(r.status, 400)
            # the plaintext fields around a bad Encrypt are not taken instead
            r, _ = self.push_enc(inner, appid="wx_other_appid_00",
                                 body=lambda e: inner.replace("</xml>", f"<Encrypt><![CDATA[{e}]]></Encrypt></xml>"))
            self.assertEqual(r.status, 400)
        self.assertEqual(self.rows("oCompatBad"), [])


class PlainModeTest(SafeServer):
    MODE = "plain"  # a key is configured, but the mode says plain

    def test_encrypted_push_rejected(self):
        with self.env.records_nothing(self):
            r, _ = self.push_enc(wxs.event_xml("oPlainEnc", 1700003000, "subscribe", "qrscene_42"))
            self.assertEqual(r.status, 400, r)

    def test_plain_push_accepted(self):
        r = self.env.push(wxs.event_xml("oPlainOk", 1700003100, "subscribe", "qrscene_42"))
        self.assertEqual(fields(r.body)["Content"], "Hi from Store 42 (scene 42)")


class OfficialVectorTest(wxs.ServerCase):
    """V3: the official Python sample's push, verbatim, accepted by the server."""
    TOKEN, KEY, APPID = "spamtest", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx2c2769f8efd9abc2"
    TS, NONCE, MSG_SIG = "1409735669", "1320562132", "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
    BODY = ("<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA["
            "oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1409735668</CreateTime>"
            "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]></Content><MsgId>"
            "6054768590064713728</MsgId><Encrypt><![CDATA[" + wxcrypto.V3_ENCRYPT + "]]></Encrypt></xml>")

    @classmethod
    def setUpClass(cls):
        cls.config = {"server": {"timestamp_window": 0},
                      "wechat": {"mode": "safe", "token": cls.TOKEN, "encoding_aes_key": cls.KEY,
                                 "appid": cls.APPID}}
        super().setUpClass()

    def query(self, msg_signature):
        return urllib.parse.urlencode({
            "signature": wxcrypto.signature(self.TOKEN, self.TS, self.NONCE), "timestamp": self.TS,
            "nonce": self.NONCE, "encrypt_type": "aes", "msg_signature": msg_signature})

    def test_v3_accepted_and_recorded(self):
        self.assertEqual(wxcrypto.signature(self.TOKEN, self.TS, self.NONCE, wxcrypto.V3_ENCRYPT), self.MSG_SIG)
        for _ in range(2):  # and its retry is recorded once
            r = self.env.push(self.BODY, query=self.query(self.MSG_SIG))
            self.assertEqual((r.status, r.body), (200, b"success"))
        self.assertEqual(self.env.sql("SELECT kind, openid, create_time, msg_type, dedup_key FROM events"),
                         [(3, "oyORnuP8q7ou2gfYjqLzSIWZf0rs", 1409735668, "text", "m|6054768590064713728")])

    def test_v3_altered_msg_signature_is_401(self):
        with self.env.records_nothing(self):
            r = self.env.push(self.BODY, query=self.query(self.MSG_SIG[:-1] + "0"))
            self.assertEqual(r.status, 401)


if __name__ == "__main__":
    unittest.main()
