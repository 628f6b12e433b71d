"""User tags and followers for fake_wechat.py (wechat-protocol.md sections 6-8).

Endpoints, behaving like the platform where wxscene depends on it:

* cgi-bin/tags/create   {"tag": {"name": N}} -> {"tag": {"id", "name"}};
  45157 empty or duplicate name, 45158 name over 30 bytes, 45056 when the
  account already has 100 tags;
* cgi-bin/tags/get      {"tags": [{"id", "name", "count"}]} (system tag 2
  "星标组" included, as in the documentation);
* cgi-bin/tags/members/batchtagging {"openid_list": [...], "tagid": T}:
  40032 for an empty list or more than 50 openids, 45159 for an unknown tag
  id (and, with "fresh_tag_glitch": S, for S seconds after the tag was
  created, as the community reports), 40003 when any openid is invalid and
  45059 when any fan would exceed 20 tags: either refusal rejects the whole
  call, nothing is applied. Every application is counted per (tag, openid),
  so a test sees a fan tagged twice;
* cgi-bin/user/get?next_openid=X  pages of `page_size` openids (10000 on the
  real platform), {"total", "count", "data": {"openid": [...]},
  "next_openid"}; after the last page count 0 and next_openid "";
* cgi-bin/user/info/batchget {"user_list": [{"openid", "lang"}]} at most 100
  (40032 above): subscribe, openid, subscribe_time, subscribe_scene,
  qr_scene, qr_scene_str, plus personal fields (nickname, remark, unionid,
  headimgurl, language, tagid_list) a client must not keep; subscribe 0
  (and nothing else) for followers who left.

Test control (not WeChat), through the same ENDPOINTS table:

    POST /_fake/users/config {"followers": 1000, "page_size": 300, "seed": "s",
                              "bad_openids": [...], "full_openids": [...],
                              "preload_tags": 98, "fresh_tag_glitch": 0,
                              "reset": true}
    GET  /_fake/users/state  {"tags": {name: id}, "applied": {tagid: {openid: n}},
                              "user_tags": {openid: [tagid...]}, "followers": N}

Followers are generated from the seed: index i gets a QR scene id
(100 + i % 5) when i % 10 < 4, a QR scene_str ("flyer-<i % 3>") when
i % 10 in (4, 5), a QR code without scene (qr_scene 0, "") when i % 10 == 6,
an organic scene otherwise; every 50th follower (i % 50 == 49) has left by
the time user/info is asked.
"""

import hashlib
import time

MAX_TAGS = 100
MAX_TAGS_PER_USER = 20
BATCH_MAX = 50
INFO_MAX = 100
TAG_NAME_MAX = 30
ORGANIC = ["ADD_SCENE_SEARCH", "ADD_SCENE_PROFILE_CARD", "ADD_SCENE_ACCOUNT_MIGRATION"]


# Set by endpoints(): fake_wechat's own error class and errmsg helper, so its
# dispatcher turns our refusals into {"errcode", "errmsg"} answers.
_ERR = {"cls": None, "msg": None}


class Users:
    def __init__(self):
        self.configure({"reset": True})

    def configure(self, cfg):
        if cfg.get("reset"):
            self.tags = {2: {"name": "星标组", "created": 0.0}}
            self.next_tag_id = 100
            self.user_tags = {}
            self.applied = {}
            self.bad = set()
            self.glitch = 0.0
            self.openids = []
            self.info = {}
            self.page_size = 10000
        if "page_size" in cfg:
            self.page_size = int(cfg["page_size"])
        if "followers" in cfg:
            self.make_followers(int(cfg["followers"]), str(cfg.get("seed", "seed")))
        self.bad |= set(cfg.get("bad_openids", []))
        for o in cfg.get("full_openids", []):
            self.user_tags[o] = set(range(1000, 1000 + MAX_TAGS_PER_USER))
        for i in range(int(cfg.get("preload_tags", 0))):
            self.create("preloaded-%d" % i)
        if "fresh_tag_glitch" in cfg:
            self.glitch = float(cfg["fresh_tag_glitch"])

    def make_followers(self, n, seed):
        self.openids, self.info = [], {}
        for i in range(n):
            h = hashlib.sha1(("%s:%d" % (seed, i)).encode()).hexdigest()
            oid = "oF" + h[:26]
            self.openids.append(oid)
            self.info[oid] = follower_info(i, oid)

    def create(self, name):
        tid = self.next_tag_id
        self.next_tag_id += 1
        self.tags[tid] = {"name": name, "created": time.time()}
        return tid


def follower_info(i, oid):
    if i % 50 == 49:
        return {"subscribe": 0, "openid": oid}
    kind = i % 10
    scene, qr, qrs = ORGANIC[i % len(ORGANIC)], 0, ""
    if kind < 4:
        scene, qr = "ADD_SCENE_QR_CODE", 100 + i % 5
    elif kind < 6:
        scene, qrs = "ADD_SCENE_QR_CODE", "flyer-%d" % (i % 3)
    elif kind == 6:
        scene = "ADD_SCENE_QR_CODE"
    return {"subscribe": 1, "openid": oid, "language": "zh_CN",
            "subscribe_time": 1600000000 + i * 60, "unionid": "uPII" + oid[2:],
            "nickname": "PII-NICK-%d" % i, "headimgurl": "http://pii.example/%d.png" % i,
            "remark": "PII-REMARK-%d" % i, "groupid": 0, "tagid_list": [2],
            "subscribe_scene": scene, "qr_scene": qr, "qr_scene_str": qrs}


def users_of(st):
    u = getattr(st, "fake_users", None)
    if u is None:
        u = st.fake_users = Users()
    return u


def fail(code, msg):
    raise _ERR["cls"](code, _ERR["msg"](msg))


# ---- WeChat endpoints ----


def h_tags_create(st, query, body):
    u = users_of(st)
    name = ((body.get("tag") or {}).get("name"))
    if not isinstance(name, str) or not name:
        fail(45157, "invalid tag name")
    if len(name.encode()) > TAG_NAME_MAX:
        fail(45158, "tag name too long")
    if any(t["name"] == name for t in u.tags.values()):
        fail(45157, "invalid tag name")
    if len(u.tags) >= MAX_TAGS:
        fail(45056, "too many tags now, no need to add new")
    tid = u.create(name)
    return {"tag": {"id": tid, "name": name}}


def h_tags_get(st, query, body):
    u = users_of(st)
    count = {}
    for tags in u.user_tags.values():
        for t in tags:
            count[t] = count.get(t, 0) + 1
    return {"tags": [{"id": tid, "name": t["name"], "count": count.get(tid, 0)}
                     for tid, t in sorted(u.tags.items())]}


def h_batchtagging(st, query, body):
    u = users_of(st)
    lst, tid = body.get("openid_list"), body.get("tagid")
    if not isinstance(lst, list) or not 1 <= len(lst) <= BATCH_MAX:
        fail(40032, "invalid openid list size, please check document")
    tag = u.tags.get(tid) if isinstance(tid, int) else None
    if tag is None or time.time() - tag["created"] < u.glitch:
        fail(45159, "invalid tag id")
    for o in lst:
        if not isinstance(o, str) or not o.startswith("o") or o in u.bad:
            fail(40003, "invalid openid")
    for o in lst:
        have = u.user_tags.get(o, set())
        if tid not in have and len(have) >= MAX_TAGS_PER_USER:
            fail(45059, "has too many tags")
    applied = u.applied.setdefault(tid, {})
    for o in lst:
        u.user_tags.setdefault(o, set()).add(tid)
        applied[o] = applied.get(o, 0) + 1
    return {"errcode": 0, "errmsg": "ok"}


def h_user_get(st, query, body):
    u = users_of(st)
    start = 0
    nxt = query.get("next_openid", "")
    if nxt:
        try:
            start = u.openids.index(nxt) + 1
        except ValueError:
            fail(40003, "invalid next_openid")
    page = u.openids[start:start + u.page_size]
    out = {"total": len(u.openids), "count": len(page)}
    if page:
        out["data"] = {"openid": page}
    out["next_openid"] = page[-1] if page else ""
    return out


def h_user_batchget(st, query, body):
    u = users_of(st)
    lst = body.get("user_list")
    if not isinstance(lst, list) or not 1 <= len(lst) <= INFO_MAX:
        fail(40032, "invalid openid list size")
    out = []
    for item in lst:
        oid = (item or {}).get("openid") if isinstance(item, dict) else None
        if oid not in u.info:
            fail(40003, "invalid openid")
        out.append(dict(u.info[oid]))
    return {"user_info_list": out}


# ---- test control ----


def h_config(st, query, body):
    users_of(st).configure(body)
    u = users_of(st)
    return {"ok": True, "followers": len(u.openids), "tags": len(u.tags)}


def h_state(st, query, body):
    u = users_of(st)
    return {"tags": {t["name"]: tid for tid, t in u.tags.items()},
            "applied": {str(tid): dict(m) for tid, m in u.applied.items()},
            "user_tags": {o: sorted(t) for o, t in u.user_tags.items()},
            "followers": len(u.openids)}


def endpoints(Endpoint, api_error, errmsg_with_rid):
    """The rows fake_wechat.py adds to its ENDPOINTS table."""
    _ERR.update(cls=api_error, msg=errmsg_with_rid)
    return {
        "cgi-bin/tags/create": Endpoint("POST", h_tags_create),
        "cgi-bin/tags/get": Endpoint("GET", h_tags_get),
        "cgi-bin/tags/members/batchtagging": Endpoint("POST", h_batchtagging),
        "cgi-bin/user/get": Endpoint("GET", h_user_get),
        "cgi-bin/user/info/batchget": Endpoint("POST", h_user_batchget),
        "_fake/users/config": Endpoint("POST", h_config, needs_token=False),
        "_fake/users/state": Endpoint("GET", h_state, needs_token=False),
    }
