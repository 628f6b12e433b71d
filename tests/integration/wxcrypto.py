"""Reference WeChat safe-mode crypto for integration tests.

Written from the protocol notes (../shared/wechat-protocol.md sections 1,
2 and 9), independently of src/wx_crypt.c, so tests can build encrypted
pushes and decrypt the server's replies. Needs python3-cryptography.

Run ``python3 wxcrypto.py`` for a self-check against vectors V1, V3, V5, V6.
This file is not collected by ctest (only test_*.py are).
"""

import base64
import hashlib
import hmac
import os
import struct
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # the protocol's PKCS#7 block size (not AES's 16)

ENCRYPTED_PUSH_TEMPLATE = (
    "<xml><ToUserName><![CDATA[{to}]]></ToUserName>"
    "<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
)


class WxCryptoError(ValueError):
    """A decrypt failure; ``code`` is the official error code."""

    def __init__(self, code, what):
        super().__init__("%d %s" % (code, what))
        self.code = code


def _text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def signature(*parts):
    """hex(sha1(byte-wise sorted parts concatenated)), lowercase."""
    raw = sorted(_text(p).encode() for p in parts)
    return hashlib.sha1(b"".join(raw)).hexdigest()


def aes_key(key43):
    """EncodingAESKey (43 chars) -> 32-byte AES key, decoded leniently."""
    if len(key43) != 43:
        raise WxCryptoError(-40004, "EncodingAESKey must be 43 characters")
    # validate=True checks the alphabet; the discarded low bits of the last
    # character are ignored, as the non-canonical sample keys require.
    key = base64.b64decode(key43 + "=", validate=True)
    if len(key) != 32:
        raise WxCryptoError(-40004, "EncodingAESKey does not decode to 32 bytes")
    return key


def _cipher(key):
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def pad(data):
    n = BLOCK - len(data) % BLOCK
    return data + bytes([n]) * n


def unpad(data):
    if not data or len(data) % BLOCK:
        raise WxCryptoError(-40007, "ciphertext length not a multiple of 32")
    n = data[-1]
    if not 1 <= n <= BLOCK or data[-n:] != bytes([n]) * n:
        raise WxCryptoError(-40007, "bad padding")
    return data[:-n]


def pack(appid, msg, random16):
    return random16 + struct.pack(">I", len(msg)) + msg + _text(appid).encode()


def encrypt(key43, appid, msg, random16=None):
    """Encrypt msg (bytes or str) -> the base64 Encrypt value."""
    if isinstance(msg, str):
        msg = msg.encode()
    if random16 is None:
        random16 = os.urandom(16)
    if isinstance(random16, str):
        random16 = random16.encode()
    if len(random16) != 16:
        raise ValueError("random16 must be 16 bytes")
    key = aes_key(key43)
    enc = _cipher(key).encryptor()
    ct = enc.update(pad(pack(appid, msg, random16))) + enc.finalize()
    return base64.b64encode(ct).decode()


def decrypt(key43, appid, b64):
    """Decrypt an Encrypt value and check the AppID -> message bytes."""
    key = aes_key(key43)
    try:
        ct = base64.b64decode(_text(b64), validate=True)
    except ValueError as e:
        raise WxCryptoError(-40010, "bad base64") from e
    if not ct or len(ct) % BLOCK:
        raise WxCryptoError(-40007, "ciphertext length not a multiple of 32")
    dec = _cipher(key).decryptor()
    plain = unpad(dec.update(ct) + dec.finalize())
    if len(plain) <= 20:
        raise WxCryptoError(-40008, "plaintext too short")
    (n,) = struct.unpack(">I", plain[16:20])
    if len(plain) <= 20 + n:
        raise WxCryptoError(-40008, "bad message length")
    if not hmac.compare_digest(plain[20 + n:], _text(appid).encode()):
        raise WxCryptoError(-40005, "AppID mismatch")
    return plain[20:20 + n]


def encrypted_push(token, key43, appid, xml_bytes, timestamp, nonce,
                   to_user="gh_test", random16=None):
    """A safe-mode push body and its msg_signature.

    Returns (body_xml_str, msg_signature); the caller puts msg_signature,
    timestamp, nonce, encrypt_type=aes and the URL signature (see
    signature(token, timestamp, nonce)) in the query string.
    """
    enc = encrypt(key43, appid, xml_bytes, random16)
    body = ENCRYPTED_PUSH_TEMPLATE.format(to=to_user, encrypt=enc)
    return body, signature(token, timestamp, nonce, enc)


def _field(xml, name):
    """Text of <name> in a reply, with or without CDATA (tests only)."""
    start = xml.index("<%s>" % name) + len(name) + 2
    end = xml.index("</%s>" % name, start)
    v = xml[start:end]
    if v.startswith("<![CDATA[") and v.endswith("]]>"):
        v = v[9:-3]
    return v


def decrypt_reply(token, key43, appid, reply_xml):
    """Check an encrypted passive reply's MsgSignature and decrypt it."""
    if isinstance(reply_xml, bytes):
        reply_xml = reply_xml.decode()
    enc = _field(reply_xml, "Encrypt")
    sig = signature(token, _field(reply_xml, "TimeStamp"),
                    _field(reply_xml, "Nonce"), enc)
    if not hmac.compare_digest(sig, _field(reply_xml, "MsgSignature")):
        raise WxCryptoError(-40001, "MsgSignature mismatch")
    return decrypt(key43, appid, enc)


V3_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
V3_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87w"
    "zQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328"
    "HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3y"
    "t+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpA"
    "e+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl"
    "9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)
V3_PLAIN = (
    b"<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n"
    b"<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n"
    b"<CreateTime>1409735668</CreateTime>\n"
    b"<MsgType><![CDATA[text]]></MsgType>\n"
    b"<Content><![CDATA[abcdteT]]></Content>\n"
    b"<MsgId>6054768590064713728</MsgId>\n</xml>"
)
V5_ENCRYPT = ("jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd"
              "832WzZGMhkP72vVOfg==")
V6_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
V6_MSG = (
    b"<xml>\n<MsgType><![CDATA[text]]></MsgType>\n"
    b"<Content><![CDATA[test]]></Content>\n"
    b"<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n"
    b"<ToUserName><![CDATA[messense]]></ToUserName>\n"
    b"<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>"
)
V6_ENCRYPT = (
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4H"
    "MOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2F"
    "qllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8"
    "NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQy"
    "PR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3"
    "WeK2XeFYFMNMpatF9XiKzHo3"
)
V6_IN_ENCRYPT = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnX"
    "Bu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wA"
    "SFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIi"
    "OAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2S"
    "jHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dS"
    "hyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)
V6_IN_PLAIN = (
    b"<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n"
    b"<FromUserName><![CDATA[messense]]></FromUserName>\n"
    b"<CreateTime>1411525903</CreateTime>\n"
    b"<MsgType><![CDATA[text]]></MsgType>\n"
    b"<Content><![CDATA[test]]></Content>\n"
    b"<MsgId>4363689963896700987</MsgId>\n"
    b"<AgentID>1</AgentID>\n</xml>"
)


def _expect(what, got, want):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def self_check():
    """Known answers from protocol notes section 9, plus negatives."""
    _expect("V1a", signature("AAAAA", "1714036504", "1514711492"),
            "f464b24fc39322e44b38aa78f5edd27bd1441696")
    _expect("V1e", signature("a", "b", "c"),
            "a9993e364706816aba3e25717850c26c9cd0d89d")
    _expect("V2", signature("RMNlACHlV5ThzfRlVS4D4", "timestamp", "nonce", "encrypt"),
            "8edac0945683c119ee71c9f6256d76c48aa08a96")
    _expect("V3 key", aes_key(V3_KEY).hex(),
            "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051")
    _expect("V3 sig", signature("spamtest", "1409735669", "1320562132", V3_ENCRYPT),
            "5d197aaffba7e9b25a30732f161a50dee96bd5fa")
    _expect("V3", decrypt(V3_KEY, "wx2c2769f8efd9abc2", V3_ENCRYPT), V3_PLAIN)
    try:
        decrypt(V3_KEY, "wx_other_appid", V3_ENCRYPT)
        raise AssertionError("V3 wrong AppID accepted")
    except WxCryptoError as e:
        _expect("V3 wrong AppID", e.code, -40005)
    enc = encrypt(V3_KEY, "wxb11529c136998cb6", "我是中文abcd123", b"aaaabbbbccccdddd")
    _expect("V5", enc, V5_ENCRYPT)
    _expect("V5 sig", signature("pamtest", "1409304348", "xxxxxx", enc),
            "82c962d39941aa48552f90ef55aa323dc620cc10")
    enc = encrypt(V6_KEY, "wx49f0ab532d5d035a", V6_MSG, b"1234567890123456")
    _expect("V6", enc, V6_ENCRYPT)
    _expect("V6 sig", signature("123456", "1411525903", "461056294", enc),
            "407518b7649e86ef23978113f92d27afa9296533")
    _expect("V6 in sig", signature("123456", "1411525903", "461056294", V6_IN_ENCRYPT),
            "74d92dfeb87ba7c714f89d98870ae5eb62dff26d")
    _expect("V6 in", decrypt(V6_KEY, "wx49f0ab532d5d035a", V6_IN_ENCRYPT), V6_IN_PLAIN)
    body, sig = encrypted_push("tok", V3_KEY, "wxapp", b"<xml/>", "1", "2")
    reply = ("<xml>\n<Encrypt><![CDATA[%s]]></Encrypt>\n<MsgSignature><![CDATA[%s]]>"
             "</MsgSignature>\n<TimeStamp>1</TimeStamp>\n<Nonce><![CDATA[2]]></Nonce>\n"
             "</xml>" % (_field(body, "Encrypt"), sig))
    _expect("round trip", decrypt_reply("tok", V3_KEY, "wxapp", reply), b"<xml/>")


if __name__ == "__main__":
    self_check()
    print("wxcrypto self-check ok")
    sys.exit(0)
