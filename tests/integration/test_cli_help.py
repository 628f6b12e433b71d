"""Issue 19: "the help lists every option", from one source. Each verb's
commands and their usage are one table (`struct cli_cmd cmds[]` in
src/cli_<verb>.c, registered in main_wxscene.c's verbs[]); `wxscene
--help`, `wxscene VERB --help`, `wxscene VERB SUB --help` and every usage
error print from it. Checked against the parser: for every command, the
long options its getopt tables accept (read from src/cli_*.c: the `struct
option` tables of the function the command table names and of the functions
it calls) are exactly the options each of those helps shows, and a usage
error prints the command's own help. Both sides are derived, nothing is
written down here, so a new option or command without help (or help for an
option that is gone) fails this test."""
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
CMD_TABLE = re.compile(r"struct cli_cmd (\w+)\[\]\s*=\s*\{(.*?)\n\};", re.S)
CMD_ENTRY = re.compile(r'\{\s*(NULL|"[a-z][a-z-]*")\s*,\s*(\w+)\s*,')
VERB_DEF = re.compile(r'struct cli_verb (\w+)\s*=\s*\{\s*"([a-z][a-z-]*)"\s*,\s*(\w+)\s*,')


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


class Source:
    """Functions of the CLI's C files: options each one's getopt tables
    accept, whom it calls, and which file holds it."""

    def __init__(self):
        self.funcs = {}  # name -> (file, params, body)
        for f in sorted(os.listdir(SRC)):
            if f.endswith(".c") and (f.startswith("cli_") or f == "main_wxscene.c"):
                text = read(os.path.join(SRC, f))
                for m in FUNC.finditer(text):
                    self.funcs[m.group(1)] = (f, m.group(2), m.group(3))
        self.texts = {f: read(os.path.join(SRC, f))
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

    def commands(self, file):
        """{table name: {sub-verb or None: function}} of a file's command tables."""
        return {name: {(None if n == "NULL" else n.strip('"')): fn for n, fn in CMD_ENTRY.findall(body)}
                for name, body in CMD_TABLE.findall(self.texts[file])}

    def verbs(self):
        """{(verb, sub or None): options} as the parser has them, for every
        verb main_wxscene.c registers."""
        main = self.texts["main_wxscene.c"]
        registered = re.findall(r"&(cli_verb_\w+)", main[main.index("verbs[] = {"):].split("};")[0])
        assert registered, "main_wxscene.c: no verbs[] table of &cli_verb_*"
        out = {}
        for file, text in self.texts.items():
            for struct, verb, table in VERB_DEF.findall(text):
                if struct not in registered:
                    continue
                registered.remove(struct)
                for sub, fn in self.commands(file)[table].items():
                    out[(verb, sub)] = self.options(fn)
        assert not registered, f"registered verbs without a definition: {registered}"
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


def usage_options(text):
    """{options} of a command's usage text: its "usage: wxscene ..." lines
    and their "       wxscene ..." continuations (the synopsis, not the notes)."""
    lines = [l for l in text.splitlines() if re.match(r"(usage: |\s+)wxscene ", l)]
    assert lines, f"no usage line in {text!r}"
    return set(re.findall(r"--([a-z][a-z0-9-]*)", "\n".join(lines)))


def run(*args, config=None):
    pre = ["--config", config] if config else []
    return subprocess.run([wxs.WXSCENE, *pre, *args], capture_output=True, text=True, timeout=30)


class HelpListsEveryOptionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.src = Source()
        p = run("--help")
        assert p.returncode == 0, p
        cls.help = p.stdout

    def test_source_is_read(self):
        """The derivation itself must find something: issue 19's examples."""
        verbs = self.src.verbs()
        self.assertIn("str", verbs[("channel", "add")])
        self.assertTrue({"name", "promoter"} <= verbs[("qr", "create")])
        self.assertTrue({"name", "promoter", "reply", "scan-reply", "tag", "campaign", "reply-news",
                         "news-url", "news-description", "news-picurl", "reply-image"}
                        <= verbs[("channel", "edit")])
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
        text = read(os.path.join(SRC, "cli_args.c"))
        accepted = {o for t in OPTION_TABLE.findall(text) for o in OPTION.findall(t)}
        self.assertEqual(shown, accepted)
        self.assertEqual(shown, {"config", "help", "version"})

    def test_a_stale_help_is_caught(self):
        """The comparison fails on the help issue 19 was about (qr create
        without --name/--promoter, channel add without --str)."""
        lines = [l for l in self.help.splitlines(keepends=True) if not l.startswith("  qr create ")]
        stale = "".join(lines).replace(" [--str]", "", 1).replace(
            "  qr batch ", "  qr create SCENE (--temp SECONDS | --perm) [--str] [--out FILE]\n  qr batch ", 1)
        verbs = self.src.verbs()
        shown, _ = help_lists(stale, verbs)
        self.assertNotEqual(shown[("channel", "add")], verbs[("channel", "add")])
        self.assertNotEqual(shown[("qr", "create")], verbs[("qr", "create")])


class CommandHelpTest(unittest.TestCase):
    """Each command's own help (VERB SUB --help, VERB --help) and its usage
    errors come from the same table entry as wxscene --help's line."""

    @classmethod
    def setUpClass(cls):
        cls.verbs = Source().verbs()

    def test_each_command_s_help_shows_exactly_its_options(self):
        for (verb, sub), accepted in sorted(self.verbs.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
            words = [verb] + ([sub] if sub else [])
            with self.subTest(command=" ".join(words)):
                p = run(*words, "--help")  # no config, no store: help needs neither
                self.assertEqual((p.returncode, p.stderr), (0, ""), p)
                self.assertTrue(p.stdout.startswith("usage: wxscene " + " ".join(words)), p.stdout)
                self.assertEqual(usage_options(p.stdout), accepted, p.stdout)

    def test_verb_help_lists_each_of_its_commands(self):
        for verb in sorted({v for v, _ in self.verbs}):
            with self.subTest(verb=verb):
                p = run(verb, "--help")
                self.assertEqual(p.returncode, 0, p)
                for (v, sub) in self.verbs:
                    if v == verb:
                        one = run(*[w for w in (verb, sub) if w], "--help").stdout
                        self.assertIn(one, p.stdout)

    def test_a_usage_error_prints_the_command_s_help(self):
        """An unknown option (or stray operands) is a usage error that prints
        exactly what VERB SUB --help prints, on stderr, exit 2."""
        env = wxs.Env()
        self.addCleanup(env.cleanup)
        for (verb, sub) in sorted(self.verbs, key=lambda k: (k[0], k[1] or "")):
            words = [w for w in (verb, sub) if w]
            with self.subTest(command=" ".join(words)):
                want = run(*words, "--help").stdout
                p = run(*words, "--no-such-option", "x", "y", config=env.config)
                self.assertEqual((p.returncode, p.stdout), (2, ""), p)
                self.assertTrue(p.stderr.endswith(want), p.stderr)

    def test_no_usage_text_outside_the_tables(self):
        """The commands' usage is written once: no "usage: wxscene VERB"
        text left in the CLI's sources besides the tables' printer."""
        for f in sorted(os.listdir(SRC)):
            if f.endswith(".c") and (f.startswith("cli_") or f == "main_wxscene.c"):
                text = read(os.path.join(SRC, f))
                self.assertNotRegex(text, r'"\s*usage: wxscene [a-z]', f)


if __name__ == "__main__":
    unittest.main()
