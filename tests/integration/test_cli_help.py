"""Issue 19: "the help lists every option". `wxscene --help` against the
parser: for every verb and sub-verb, the long options its getopt tables
accept (read from src/cli_*.c: the `struct option` tables of the function
the dispatch table names and of the functions it calls) are exactly the
options its help line shows, and every sub-verb the dispatch knows has a
help line. Both lists are derived, nothing is written down here, so a new
option or sub-verb without help (or help for an option that is gone) fails
this test."""
import os
import re
import subprocess
import unittest

import wxs

SRC = os.path.join(wxs.SRC, "src")
FUNC = re.compile(r"^(?:static\s+)?(?:int|void|bool)\s+\**(\w+)\(([^)]*)\)\s*\n\{\n(.*?)^\}\n",
                  re.M | re.S)
OPTION_TABLE = re.compile(r"struct option \w+\[\]\s*=\s*\{(.*?)\};", re.S)
OPTION = re.compile(r'\{\s*"([a-z][a-z0-9-]*)"\s*,\s*(?:required|no|optional)_argument')
TABLE_ENTRY = re.compile(r'\{\s*"([a-z][a-z-]*)"\s*,\s*(\w+)\s*[,}]')
STRCMP_ENTRY = re.compile(r'strcmp\(argv\[1\],\s*"([a-z][a-z-]*)"\)\s*==\s*0\)\s*return\s+([^;]*);')


class Source:
    """Functions of the CLI's C files: options each one's getopt tables
    accept, whom it calls, and which file holds it."""

    def __init__(self):
        self.funcs = {}  # name -> (file, params, body)
        for f in sorted(os.listdir(SRC)):
            if f.endswith(".c") and (f.startswith("cli_") or f == "main_wxscene.c"):
                text = open(os.path.join(SRC, f), encoding="utf-8").read()
                for m in FUNC.finditer(text):
                    self.funcs[m.group(1)] = (f, m.group(2), m.group(3))
        self.texts = {f: open(os.path.join(SRC, f), encoding="utf-8").read()
                      for f in {v[0] for v in self.funcs.values()}}

    def own_options(self, fn):
        body = self.funcs[fn][2]
        return {o for t in OPTION_TABLE.findall(body) for o in OPTION.findall(t)}

    def calls(self, fn):
        body = self.funcs[fn][2]
        return [c for c in re.findall(r"\b(\w+)\s*\(", body) if c in self.funcs and c != fn]

    def options(self, fn, seen=None):
        """What fn's command line accepts: its tables and its callees'."""
        seen = set() if seen is None else seen
        if fn in seen:
            return set()
        seen.add(fn)
        out = self.own_options(fn)
        for c in self.calls(fn):
            out |= self.options(c, seen)
        return out

    def is_command(self, fn):
        return fn in self.funcs and "struct cli *" in self.funcs[fn][1]

    def dispatch(self, fn):
        """{sub-verb: function} of the dispatch in the file holding fn:
        tables of {"name", function} and strcmp(argv[1], "name") chains."""
        text = self.texts[self.funcs[fn][0]]
        subs = {n: f for n, f in TABLE_ENTRY.findall(text) if self.is_command(f) and f != fn}
        for name, expr in STRCMP_ENTRY.findall(text):
            called = [c for c in re.findall(r"\b(\w+)\s*\(", expr) if self.is_command(c)]
            if called:
                subs[name] = called[0]
        return subs

    def verbs(self):
        """{(verb, sub or None): options} as the parser has them."""
        main = self.texts["main_wxscene.c"]
        table = main[main.index("verbs[] = {"):]
        out = {}
        for verb, fn in TABLE_ENTRY.findall(table):
            subs = self.dispatch(fn)
            if not subs:
                out[(verb, None)] = self.options(fn)
            for sub, sfn in subs.items():
                out[(verb, sub)] = self.options(sfn)
        return out


def help_lists(text, verbs):
    """({(verb, sub or None): options shown}, global options shown) from the
    help text: a line (or a ' | '-separated part of one) that starts with a
    verb is that verb's, its second word the sub-verb when the verb has
    some."""
    head, _, body = text.partition("\nverbs:\n")
    names = sorted({v for v, _ in verbs}, key=len, reverse=True)
    split = re.compile(r"\s\|\s(?=(?:%s)\s)" % "|".join(map(re.escape, names)))
    subs_of = {}
    for v, s in verbs:
        subs_of.setdefault(v, set()).add(s)
    shown = {}
    for line in body.splitlines():
        for part in split.split(line.strip()):
            words = part.split()
            if not words:
                continue
            verb = words[0]
            assert verb in subs_of, f"help line for an unknown verb: {part!r}"
            sub = None
            if subs_of[verb] != {None}:
                assert len(words) > 1 and words[1] in subs_of[verb], \
                    f"help names a sub-verb the parser does not have: {part!r}"
                sub = words[1]
            shown.setdefault((verb, sub), set()).update(re.findall(r"--([a-z][a-z0-9-]*)", part))
    return shown, set(re.findall(r"--([a-z][a-z0-9-]*)", head))


class HelpListsEveryOptionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.src = Source()
        p = subprocess.run([wxs.WXSCENE, "--help"], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p
        cls.help = p.stdout

    def test_source_is_read(self):
        """The derivation itself must find something: issue 19's examples."""
        verbs = self.src.verbs()
        self.assertIn("str", verbs[("channel", "add")])
        self.assertTrue({"name", "promoter"} <= verbs[("qr", "create")])
        self.assertEqual(verbs[("channel", "edit")],
                         {"name", "promoter", "reply", "scan-reply", "tag", "reply-news",
                          "news-url", "news-description", "news-picurl", "reply-image"})
        self.assertIn(("store", "migrate"), verbs)
        self.assertIn(("channel", "archive"), verbs)
        self.assertIn(("stats", None), verbs)
        self.assertGreaterEqual(len(verbs), 17)

    def test_every_verb_s_options_are_in_the_help_and_only_those(self):
        verbs = self.src.verbs()
        shown, _ = help_lists(self.help, verbs)
        problems = []
        for key in sorted(set(verbs) | set(shown), key=lambda k: (k[0], k[1] or "")):
            name = " ".join(w for w in key if w)
            if key not in shown:
                problems.append(f"{name}: no help line")
                continue
            missing = verbs.get(key, set()) - shown[key]
            extra = shown[key] - verbs.get(key, set())
            if missing:
                problems.append(f"{name}: accepts {sorted(missing)} but the help does not show them")
            if extra:
                problems.append(f"{name}: the help shows {sorted(extra)} but the parser refuses them")
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

    def test_global_options(self):
        _, shown = help_lists(self.help, self.src.verbs())
        # cli_args.c holds one table: the options before the verb
        text = open(os.path.join(SRC, "cli_args.c"), encoding="utf-8").read()
        accepted = {o for t in OPTION_TABLE.findall(text) for o in OPTION.findall(t)}
        self.assertEqual(shown, accepted)
        self.assertEqual(shown, {"config", "help", "version"})

    def test_a_stale_help_is_caught(self):
        """The comparison fails on the help issue 19 was about (qr create
        without --name/--promoter, channel add without --str)."""
        stale = self.help.replace(" [--str]", "", 1).replace(
            " [--name NAME [--promoter NAME]]", "", 1)
        verbs = self.src.verbs()
        shown, _ = help_lists(stale, verbs)
        self.assertNotEqual(shown[("channel", "add")], verbs[("channel", "add")])
        self.assertNotEqual(shown[("qr", "create")], verbs[("qr", "create")])


if __name__ == "__main__":
    unittest.main()
