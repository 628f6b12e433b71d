"""The fake's permanent material and customer-service message endpoints
(issue 20; wechat-protocol.md section 7b), added to fake_wechat.ENDPOINTS:

* cgi-bin/material/add_material?type=image: multipart/form-data with one
  file field "media" whose filename has an image extension (bmp png jpeg
  jpg gif) and whose bytes are an image of that kind, at most 10 MB;
  answers {"media_id", "url"}. Anything else is refused as WeChat refuses
  it (40004 invalid media type, 40005 invalid file type, 40006 file too
  large, 41005 media data missing, 40007-like 47001 data format error).
* cgi-bin/message/custom/send: JSON {"touser", "msgtype": text|image|news,
  ...}; image media_ids must be ones this fake issued (40007), news carries
  exactly one article with a title and an http(s) url. Sent messages are
  recorded in order. Per openid the control endpoint can make WeChat say
  45015 (the 48 h window closed), 40003 (invalid openid) or 45047 (more
  than `limit` messages for one interaction).

Control: POST /_fake/messages/config {"closed": [openid...], "bad":
[openid...], "limit": N}; GET /_fake/messages/state {"sent": [...],
"materials": {media_id: {"filename", "bytes", "sha256"}}}.
"""
import hashlib
import os
import time
from email.parser import BytesParser
from email.policy import HTTP

IMAGE_MAX = 10 * 1024 * 1024
MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpg": b"\xff\xd8\xff", "jpeg": b"\xff\xd8\xff",
         "gif": b"GIF8", "bmp": b"BM"}

_ERR = {}
_STATE = {}


def reset():
    _STATE.clear()
    _STATE.update(sent=[], materials={}, closed=set(), bad=set(), limit=None)


reset()


def err(code, msg):
    return _ERR["cls"](code, _ERR["msg"](msg))


def parse_multipart(ctype, raw):
    """[(name, filename, content_type, bytes)] of a multipart/form-data body."""
    if not ctype or not ctype.startswith("multipart/form-data") or "boundary=" not in ctype:
        raise err(41005, "media data missing (not multipart/form-data)")
    msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw)
    if not msg.is_multipart():
        raise err(41005, "media data missing")
    parts = []
    for p in msg.iter_parts():
        disp = p.get("Content-Disposition", "")
        if not disp.startswith("form-data"):
            raise err(47001, "data format error: a part is not form-data")
        parts.append((p.get_param("name", header="content-disposition"),
                      p.get_param("filename", header="content-disposition"),
                      p.get_content_type(), p.get_payload(decode=True) or b""))
    return parts


def h_add_material(st, query, body):
    if query.get("type") != "image":
        raise err(40004, "invalid media type (only image here)")
    parts = parse_multipart(body["content_type"], body["raw"])
    media = [p for p in parts if p[0] == "media"]
    if len(media) != 1 or not media[0][1]:
        raise err(41005, "media data missing: one file field \"media\" with a filename")
    _, filename, _, data = media[0]
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext not in MAGIC or not data.startswith(MAGIC[ext]):
        raise err(40005, "invalid file type")
    if len(data) > IMAGE_MAX:
        raise err(40006, "invalid meida size")
    media_id = "MEDIA_" + os.urandom(12).hex()
    _STATE["materials"][media_id] = {"filename": filename, "bytes": len(data),
                                     "sha256": hashlib.sha256(data).hexdigest()}
    return {"media_id": media_id, "url": "http://mmbiz.qpic.cn/fake/%s/0" % media_id}


def check_url(u):
    return isinstance(u, str) and (u.startswith("http://") or u.startswith("https://"))


def h_custom_send(st, query, body):
    to, kind = body.get("touser"), body.get("msgtype")
    if not isinstance(to, str) or not to or to in _STATE["bad"]:
        raise err(40003, "invalid openid")
    if to in _STATE["closed"]:
        raise err(45015, "response out of time limit or subscription is canceled")
    if kind == "text":
        if not isinstance(body.get("text"), dict) or not body["text"].get("content"):
            raise err(44003, "empty news data")
    elif kind == "image":
        mid = (body.get("image") or {}).get("media_id")
        if mid not in _STATE["materials"]:
            raise err(40007, "invalid media_id")
    elif kind == "news":
        arts = (body.get("news") or {}).get("articles")
        if not isinstance(arts, list) or len(arts) != 1:
            raise err(45008, "article size out of limit")
        a = arts[0]
        if not a.get("title") or not check_url(a.get("url")) or \
                (a.get("picurl") and not check_url(a["picurl"])):
            raise err(47001, "data format error")
    else:
        raise err(40008, "invalid message type")
    n = sum(1 for s in _STATE["sent"] if s["touser"] == to)
    if _STATE["limit"] is not None and n >= _STATE["limit"]:
        raise err(45047, "out of response count limit")
    _STATE["sent"].append(dict(body, t=time.time()))
    return {"errcode": 0, "errmsg": "ok"}


def h_config(st, query, body):
    for k in ("closed", "bad"):
        if k in body:
            _STATE[k] = set(body[k])
    if "limit" in body:
        _STATE["limit"] = body["limit"]
    if body.get("reset"):
        reset()
    return {"ok": True}


def h_state(st, query, body):
    return {"sent": list(_STATE["sent"]), "materials": dict(_STATE["materials"])}


def endpoints(Endpoint, api_error, errmsg_with_rid):
    """The rows fake_wechat.py adds to its ENDPOINTS table."""
    _ERR.update(cls=api_error, msg=errmsg_with_rid)
    return {
        "cgi-bin/material/add_material": Endpoint("POST", h_add_material, raw=True),
        "cgi-bin/message/custom/send": Endpoint("POST", h_custom_send),
        "_fake/messages/config": Endpoint("POST", h_config, needs_token=False),
        "_fake/messages/state": Endpoint("GET", h_state, needs_token=False),
    }
