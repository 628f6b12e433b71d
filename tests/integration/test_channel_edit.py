"""Issue 19 item 5: `wxscene channel edit` and GET/PATCH/DELETE
/api/channels/{scene} on the real binaries, one code path (channel_edit),
the same rules and messages as `channel add`. Runs on SQLite
(integration.test_channel_edit) and PostgreSQL
(pg.integration.test_channel_edit)."""
import json
import time
import unittest
import urllib.parse

import wxs


def listed(env):
    return {c["scene"]: c for c in json.loads(env.cli("channel", "list", "--format", "json").stdout)}


def add_error(env, *args):
    """The message `channel add` prints for these options, without its prefix."""
    p = env.cli("channel", "add", "probe-" + str(time.monotonic_ns()), *args, check=False)
    assert p.returncode == 2, p
    return p.stderr.removeprefix("wxscene: channel add: ")


class CliEditTest(wxs.ServerCase):
    with_server = False  # the CLI on the store alone

    @classmethod
    def prepare(cls, e):
        e.cli("channel", "add", "42", "--name", "Store 42", "--promoter", "Li", "--reply", "Hi",
              "--scan-reply", "Again", "--tag", "store")

    def edit(self, *args, check=True):
        return self.env.cli("channel", "edit", *args, check=check)

    def test_edit_fields_in_chinese_tidied_like_add(self):
        p = self.edit("42", "--name", " 春季门店 ", "--promoter", "王芳\u3000", "--reply",
                      "欢迎来到{channel}", "--tag", "春季")
        self.assertEqual(p.stdout, "channel 42 edited (春季门店)\n")
        c = listed(self.env)["42"]
        self.assertEqual((c["name"], c["promoter"], c["reply"], c["scan_reply"], c["tag"]),
                         ("春季门店", "王芳", "欢迎来到{channel}", "Again", "春季"))
        # the option may come before SCENE too, and only that field changes
        self.edit("--promoter", "Li", "42")
        c = listed(self.env)["42"]
        self.assertEqual((c["name"], c["promoter"]), ("春季门店", "Li"))

    def test_empty_optional_fields_clear_them(self):
        self.env.cli("channel", "add", "50", "--name", "Fifty", "--promoter", "Zhao",
                     "--scan-reply", "Scan", "--tag", "t50", "--reply", "R")
        self.edit("50", "--promoter", "", "--scan-reply", "", "--tag", "")
        c = listed(self.env)["50"]
        self.assertEqual((c["promoter"], c["scan_reply"], c["tag"], c["reply"]),
                         (None, None, None, "R"))
        self.assertEqual(self.env.sql("SELECT promoter, scan_reply, tag FROM channels "
                                      "WHERE scene = '50'"), [(None, None, None)])
        self.edit("50", "--reply", "")  # answers nothing, as with add
        self.assertEqual(listed(self.env)["50"]["reply"], "")

    def test_refused_values_have_add_s_words_and_change_nothing(self):
        self.env.cli("channel", "add", "60", "--name", "Sixty")
        before = self.env.sql("SELECT name, promoter, reply, tag FROM channels WHERE scene = '60'")
        for args in (["--name", ""], ["--name", " \u3000 "], ["--name", "n" * 129],
                     ["--reply", "r" * 2049], ["--tag", "t" * 31], ["--promoter", "a\x01b"]):
            p = self.edit("60", *args, check=False)
            expect = add_error(self.env, *(args if args[0] == "--name" else ["--name", "x", *args]))
            self.assertEqual((p.returncode, p.stderr), (2, "wxscene: channel edit: " + expect), args)
            # a good field beside a bad one is not written either
            p = self.edit("60", "--promoter", "Never", *args, check=False)
            self.assertEqual(p.returncode, 2, args)
        self.assertEqual(self.env.sql("SELECT name, promoter, reply, tag FROM channels "
                                      "WHERE scene = '60'"), before)

    def test_missing_archived_and_usage(self):
        p = self.edit("nope", "--name", "x", check=False)
        self.assertEqual((p.returncode, p.stdout, p.stderr),
                         (1, "", "wxscene: channel edit: channel nope does not exist\n"))
        self.env.cli("channel", "add", "70", "--name", "Seventy")
        self.env.cli("channel", "archive", "70")
        p = self.edit("70", "--name", "x", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("channel 70 is archived: it cannot be edited", p.stderr)
        for args in ([], ["70"], ["--name", "x"], ["70", "71", "--name", "x"]):
            p = self.edit(*args, check=False)
            self.assertEqual(p.returncode, 2, args)
            for opt in ("--name", "--promoter", "--reply", "--scan-reply", "--tag"):
                self.assertIn(opt, p.stderr, args)
        p = self.edit("70", "--scene", "71", check=False)
        self.assertEqual(p.returncode, 2)


class ApiEditTest(wxs.ServerCase):
    config = {"tag": {"worker": "false"}}  # the outbox stays as the edits leave it

    @classmethod
    def prepare(cls, e):
        e.cli("channel", "add", "42", "--name", "Store 42", "--promoter", "Li", "--tag", "old")
        e.cli("channel", "add", "春季/传单", "--name", "春季传单", "--promoter", "王芳")

    def call(self, method, scene, body=None, headers=None, raw_path=None):
        """/api/channels/{scene} (percent-encoded) with the token, or with
        exactly these headers; (response, its JSON)."""
        path = raw_path or "/api/channels/" + urllib.parse.quote(scene, safe="")
        r = self.admin(method, path, body, headers=headers, auth=headers is None)
        return r, r.json()

    def test_get_one_channel(self):
        r, c = self.call("GET", "42")
        self.assertEqual(r.status, 200, r)
        self.assertEqual((c["scene"], c["name"], c["promoter"], c["reply"], c["scan_reply"],
                          c["tag"], c["archived_at"]), ("42", "Store 42", "Li", None, None, "old",
                                                        None))
        # a Chinese scene_str with a '/' in it, percent-encoded UTF-8
        r, c = self.call("GET", "春季/传单")
        self.assertEqual((r.status, c["scene"], c["name"]), (200, "春季/传单", "春季传单"))
        r, c = self.call("GET", "absent")
        self.assertEqual((r.status, c["error"], c["field"]),
                         (404, "channel absent does not exist", "scene"))

    def test_token_required_for_every_verb(self):
        for method, body in (("GET", None), ("PATCH", {"name": "x"}), ("DELETE", None)):
            for h in ({}, {"Authorization": "Bearer wrong"}):
                r, _ = self.call(method, "42", body, headers=h)
                self.assertEqual(r.status, 401, (method, h))
        r, c = self.call("GET", "42")
        self.assertEqual(c["name"], "Store 42")

    def test_patch_chinese_scene_and_the_push_gets_the_new_reply(self):
        r, c = self.call("PATCH", "春季/传单", {"name": "秋季传单 ", "reply": "欢迎，{channel}",
                                                "scan_reply": "又见面了"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((c["scene"], c["name"], c["promoter"], c["reply"], c["scan_reply"]),
                         ("春季/传单", "秋季传单", "王芳", "欢迎，{channel}", "又见面了"))
        self.assertEqual(listed(self.env)["春季/传单"]["name"], "秋季传单")
        now = int(time.time())
        r = self.env.push(wxs.event_xml("oAutumn", now, "subscribe", "qrscene_春季/传单"))
        self.assertIn("欢迎，秋季传单", r.text)
        r = self.env.push(wxs.event_xml("oAutumn", now + 1, "SCAN", "春季/传单"))
        self.assertIn("又见面了", r.text)
        # null / "" clear the optional ones
        r, c = self.call("PATCH", "春季/传单", {"scan_reply": None, "promoter": ""})
        self.assertEqual((r.status, c["scan_reply"], c["promoter"]), (200, None, None))

    def test_patch_errors_name_the_field(self):
        self.env.cli("channel", "add", "80", "--name", "Eighty", "--promoter", "Li")
        cases = [
            ({"colour": "red"}, "colour", "unknown field 'colour'"),
            ({"name": 5}, "name", "name: must be a string"),
            ({"promoter": ["x"]}, "promoter", "promoter: must be a string or null"),
            ({"name": None}, "name", "name: must be a string"),
            ({"name": ""}, "name", add_error(self.env, "--name", "").rstrip("\n")),
            ({"tag": "t" * 31}, "tag", add_error(self.env, "--name", "x", "--tag", "t" * 31)
             .rstrip("\n")),
            ({"reply": "r" * 2049}, "reply", "reply: length 2049 is outside 0..2048 bytes"),
            ({"scene": "81"}, "scene", "scene: cannot be changed"),
            ({}, None, "nothing to change"),
        ]
        for body, field, msg in cases:
            r, got = self.call("PATCH", "80", body)
            self.assertEqual(r.status, 400, body)
            self.assertEqual(got.get("field"), field, body)
            self.assertIn(msg, got["error"], body)
        for raw in (b"", b"{nope", b"[1]", b'"x"'):
            r, got = self.call("PATCH", "80", raw)
            self.assertEqual(r.status, 400, raw)
        # the same scene is no change of scene; nothing else was written
        r, c = self.call("PATCH", "80", {"scene": 80, "promoter": "Zhao"})
        self.assertEqual((r.status, c["promoter"], c["name"]), (200, "Zhao", "Eighty"))
        r, got = self.call("PATCH", "absent", {"name": "x"})
        self.assertEqual((r.status, got["error"]), (404, "channel absent does not exist"))

    def test_scene_in_the_path_is_decoded_strictly(self):
        for raw in ("%zz", "a%4", "a%", "%00x", "%E6%98", "%FF", "x" * 65,
                    "%78" * 65):
            r, got = self.call("GET", None, raw_path="/api/channels/" + raw)
            self.assertEqual((r.status, got["field"]), (400, "scene"), raw)
            self.assertTrue(got["error"].startswith("scene: "), (raw, got))
            r, _ = self.call("PATCH", None, {"name": "x"}, raw_path="/api/channels/" + raw)
            self.assertEqual(r.status, 400, raw)
        r, c = self.call("GET", None, raw_path="/api/channels/%34%32")  # "42"
        self.assertEqual((r.status, c["scene"]), (200, "42"))
        r, _ = self.call("GET", None, raw_path="/api/channels/42/more")
        self.assertEqual(r.status, 404)
        r, _ = self.call("PUT", "42", {"name": "x"})
        self.assertEqual(r.status, 405)

    def test_delete_archives_like_the_cli(self):
        self.env.cli("channel", "add", "90", "--name", "Ninety")
        r, c = self.call("DELETE", "90")
        self.assertEqual(r.status, 200, r)
        self.assertEqual((c["scene"], c["name"]), ("90", "Ninety"))
        self.assertIsInstance(c["archived_at"], int)
        self.assertNotIn("90", listed(self.env))
        r, c = self.call("GET", "90")
        self.assertEqual((r.status, c["name"]), (200, "Ninety"))
        self.assertIsNotNone(c["archived_at"])
        r, got = self.call("DELETE", "90")
        self.assertEqual((r.status, got["error"]), (409, "channel 90 is already archived"))
        p = self.env.cli("channel", "archive", "90", check=False)
        self.assertIn("channel 90 is already archived", p.stderr)
        r, got = self.call("PATCH", "90", {"name": "x"})
        self.assertEqual(r.status, 409)
        self.assertIn("channel 90 is archived: it cannot be edited", got["error"])
        r, _ = self.call("DELETE", "absent")
        self.assertEqual(r.status, 404)

    def test_cli_and_api_share_one_validation(self):
        self.env.cli("channel", "add", "95", "--name", "NinetyFive")
        for opt, key, value in (("--name", "name", " "), ("--promoter", "promoter", "p" * 129),
                                ("--scan-reply", "scan_reply", "s\x02")):
            p = self.env.cli("channel", "edit", "95", opt, value, check=False)
            r, got = self.call("PATCH", "95", {key: value})
            self.assertEqual((r.status, p.returncode), (400, 2))
            self.assertEqual(p.stderr, f"wxscene: channel edit: {got['error']}\n")

    def test_promoter_change_moves_the_channel_s_history(self):
        """README "Editing a channel": the promoter report reads the
        channel's promoter when it runs; fans already brought follow it."""
        self.env.cli("channel", "add", "100", "--name", "Hundred", "--promoter", "Sun")
        now = int(time.time())
        for i in range(3):
            self.assertEqual(self.env.push(wxs.event_xml(f"oP{i}", now + i, "subscribe",
                                                         "qrscene_100")).status, 200)

        def by_promoter():
            out = json.loads(self.env.cli("stats", "--by", "promoter", "--format", "json").stdout)
            return {p["promoter"]: p["new_fans"] for p in out["promoters"]}

        self.assertEqual(by_promoter().get("Sun"), 3)
        r, _ = self.call("PATCH", "100", {"promoter": "Moon"})
        self.assertEqual(r.status, 200)
        got = by_promoter()
        self.assertEqual((got.get("Sun"), got.get("Moon")), (None, 3))

    def test_tag_change_applies_to_fans_who_come_after(self):
        """Fans already queued or tagged keep the tag they came with; fans
        who come after the edit are queued with the new one."""
        self.env.cli("channel", "add", "110", "--name", "Tagged", "--tag", "before")
        now = int(time.time())
        self.assertEqual(self.env.push(wxs.event_xml("oT1", now, "subscribe",
                                                     "qrscene_110")).status, 200)
        r, _ = self.call("PATCH", "110", {"tag": "after"})
        self.assertEqual(r.status, 200)
        self.assertEqual(self.env.push(wxs.event_xml("oT2", now + 1, "subscribe",
                                                     "qrscene_110")).status, 200)
        rows = self.env.sql("SELECT openid, tag, state FROM tag_outbox "
                            "WHERE openid IN ('oT1', 'oT2') ORDER BY openid")
        self.assertEqual(rows, [("oT1", "before", "pending"), ("oT2", "after", "pending")])
        # clearing the tag queues nobody new
        r, _ = self.call("PATCH", "110", {"tag": None})
        self.assertEqual(self.env.push(wxs.event_xml("oT3", now + 2, "subscribe",
                                                     "qrscene_110")).status, 200)
        self.assertEqual(self.env.sql("SELECT count(*) FROM tag_outbox WHERE openid = 'oT3'"),
                         [(0,)])


if __name__ == "__main__":
    unittest.main()
