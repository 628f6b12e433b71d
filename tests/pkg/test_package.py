"""The installed layout, the way an operator gets it.

Always (a few seconds): `cmake --install` of the build under test into a
DESTDIR (the file list, the units' paths), then the installed unit's
ExecStart command line run from that throwaway root, with the installed
example config given a test token and a temp database: /healthz answers
200 and SIGTERM stops it with 0. The Debian sources are checked too
(maintainer scripts parse with `sh -n`; debian/changelog, CHANGELOG.md,
CMake, both binaries' --version and the running server's
wxscene_build_info agree on the version, and scripts/release-check.sh
says so, and fails on a copy of the tree where one of them differs).

Opt-in, WXS_TEST_DEB=1 (a release build of the package from a copy of the
tree, scripts/deb.sh: about a minute on 2 cores; needs `scripts/deps.sh
--deb`), or WXS_TEST_DEB=path/to/wxscene_VER_ARCH.deb to check a built
one: `dpkg-deb -I`/`-c`, the conffile, the maintainer scripts, and the
unpacked package's wxscened.service started the same way.
"""
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import wxs  # noqa: E402

SRC = wxs.SRC
BUILD = os.environ.get("WXS_BUILD", os.path.join(SRC, "build"))
DEB = os.environ.get("WXS_TEST_DEB", "")


def read(path):
    with open(path) as f:
        return f.read()


def project_version():
    return re.search(r"project\(wxscene VERSION ([0-9.]+)", read(os.path.join(SRC, "CMakeLists.txt"))).group(1)


def unit_keys(path):
    """The [Service] keys of a unit file, each a list of its values."""
    keys = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;[":
                continue
            k, _, v = line.partition("=")
            keys.setdefault(k, []).append(v)
    return keys


def configure(example, dest, db, port, admin_port):
    """The example config as an operator edits it: real tokens, the
    listeners on free ports, the database in a temp dir."""
    section, out = None, []
    with open(example) as f:
        for line in f:
            m = re.match(r"\[(\w+)\]", line)
            if m:
                section = m.group(1)
            key = line.split("=", 1)[0].strip()
            if section == "wechat" and key == "token":
                line = f"token = {wxs.TOKEN}\n"
            elif section == "admin" and key == "token":
                line = "token = testadmintoken123\n"
            elif section == "server" and key == "listen":
                line = f"listen = 127.0.0.1:{port}\n"
            elif section == "admin" and key == "listen":
                line = f"listen = 127.0.0.1:{admin_port}\n"
            elif section == "store" and key == "path":
                line = f"path = {db}\n"
            elif section == "tag" and key == "worker":
                line = "worker = false\n"
            out.append(line)
    with open(dest, "w") as f:
        f.writelines(out)
    text = "".join(out)
    assert not re.search(r"^[^;\n]*CHANGE_ME", text, re.M), text  # comments may name it


class Installed:
    """Runs a unit's ExecStart from a throwaway root: the binary and the
    config path re-rooted, the config made real."""

    def __init__(self, test, root, unit, example):
        self.test = test
        keys = unit_keys(unit)
        test.assertEqual(keys.get("User"), ["wxscene"])
        test.assertEqual(keys.get("WorkingDirectory"), ["/var/lib/wxscene"])
        test.assertIn("/var/lib/wxscene", keys.get("ReadWritePaths", []))
        test.assertEqual(keys.get("ProtectSystem"), ["strict"])
        self.argv = shlex.split(keys["ExecStart"][0])
        test.assertEqual(self.argv[1:], ["--config", "/etc/wxscene/wxscene.ini"])
        self.binary = self.argv[0]
        self.dir = tempfile.mkdtemp(prefix="wxs-pkg-run-")
        test.addCleanup(shutil.rmtree, self.dir, True)
        self.port, self.admin_port = wxs.free_port(), wxs.free_port()
        conf = os.path.join(root, "etc/wxscene/wxscene.ini")
        os.makedirs(os.path.dirname(conf), exist_ok=True)
        configure(example, conf, os.path.join(self.dir, "wxscene.db"), self.port, self.admin_port)
        self.cmd = [root + self.argv[0], self.argv[1], root + self.argv[2]]

    def run_healthz(self):
        log = open(os.path.join(self.dir, "server.log"), "w+b")
        self.test.addCleanup(log.close)
        p = subprocess.Popen(self.cmd, cwd=self.dir, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline, status = time.time() + 20, None
            while time.time() < deadline and p.poll() is None:
                try:
                    status = wxs.request(self.port, "GET", "/healthz", timeout=1).status
                except OSError:
                    status = None
                if status == 200:
                    break
                time.sleep(0.1)
            log.seek(0)
            self.test.assertEqual(status, 200, log.read().decode("utf-8", "replace"))
            # the version the running server reports is the project's
            metrics = wxs.request(self.admin_port, "GET", "/metrics", timeout=10).text
            self.test.assertRegex(metrics, r'(?m)^wxscene_build_info\{version="%s",'
                                  % re.escape(project_version()))
            p.send_signal(signal.SIGTERM)
            self.test.assertEqual(p.wait(timeout=30), 0)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()


class TestMakeInstall(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="wxs-destdir-")
        self.addCleanup(shutil.rmtree, self.root, True)
        env = dict(os.environ, DESTDIR=self.root)
        p = subprocess.run(["cmake", "--install", BUILD], env=env, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        cache = read(os.path.join(BUILD, "CMakeCache.txt"))
        self.prefix = re.search(r"^CMAKE_INSTALL_PREFIX:PATH=(.*)$", cache, re.M).group(1)

    def files(self):
        found = set()
        for d, _, names in os.walk(self.root):
            for n in names:
                found.add(os.path.relpath(os.path.join(d, n), self.root))
        return found

    def test_file_list_and_unit(self):
        p = self.prefix.lstrip("/")
        units = f"{p}/lib/systemd/system"
        want = {f"{p}/bin/wxscened", f"{p}/bin/wxscene",
                f"{p}/share/doc/wxscene/wxscene.ini.example",
                f"{p}/share/doc/wxscene/nginx-wxscene.conf",
                f"{p}/share/doc/wxscene/nginx-wxscene-instances.conf",
                f"{units}/wxscened.service", f"{units}/wxscened@.service"}
        self.assertEqual(self.files(), want)
        for b in ("wxscened", "wxscene"):
            self.assertTrue(os.access(os.path.join(self.root, p, "bin", b), os.X_OK))
        # No schema files: the migrations are compiled in.
        self.assertFalse(any("schema" in f or f.endswith(".sql") for f in self.files()))
        tmpl = unit_keys(os.path.join(self.root, units, "wxscened@.service"))
        self.assertEqual(tmpl["ExecStart"], [f"{self.prefix}/bin/wxscened --config /etc/wxscene/%i.ini"])
        run = Installed(self, self.root, os.path.join(self.root, units, "wxscened.service"),
                        os.path.join(self.root, p, "share/doc/wxscene/wxscene.ini.example"))
        self.assertEqual(run.binary, f"{self.prefix}/bin/wxscened")
        run.run_healthz()


class TestDebianSources(unittest.TestCase):
    def test_maintainer_scripts_parse(self):
        for s in ("postinst", "postrm", "prerm"):
            path = os.path.join(SRC, "debian", s)
            p = subprocess.run(["sh", "-n", path], capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)

    def test_postinst_placeholder_check(self):
        """postinst's own grep: it finds the example's placeholder token and
        not a configured one, so the service starts only once configured."""
        m = re.search(r"grep -Eq '([^']+)' \"\$conf\"", read(os.path.join(SRC, "debian", "postinst")))
        self.assertIsNotNone(m)
        tmp = tempfile.mkdtemp(prefix="wxs-pkg-grep-")
        self.addCleanup(shutil.rmtree, tmp, True)
        done = os.path.join(tmp, "done.ini")
        example = os.path.join(SRC, "etc", "wxscene.ini.example")
        configure(example, done, "/var/lib/wxscene/wxscene.db", 8080, 8081)
        self.assertEqual(subprocess.run(["grep", "-Eq", m.group(1), example]).returncode, 0)
        self.assertEqual(subprocess.run(["grep", "-Eq", m.group(1), done]).returncode, 1)

    def test_versions_agree(self):
        """CMake's version is the one every other place states: the
        changelogs (newest entries, same date) and both binaries."""
        v = project_version()
        first = read(os.path.join(SRC, "debian", "changelog")).splitlines()[0]
        self.assertRegex(first, rf"^wxscene \({re.escape(v)}(-\d+)?\) ")
        changelog = read(os.path.join(SRC, "CHANGELOG.md"))
        heads = re.findall(r"^## \[([^\]]*)\](?: - (\S+))?$", changelog, re.M)
        self.assertEqual(heads[0], ("Unreleased", ""))
        self.assertEqual(heads[1][0], v)
        self.assertRegex(heads[1][1], r"^\d{4}-\d{2}-\d{2}$")
        for b in ("wxscene", "wxscened"):
            p = subprocess.run([os.path.join(BUILD, b), "--version"], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual((p.returncode, p.stdout), (0, f"{b} {v}\n"))


class TestReleaseCheck(unittest.TestCase):
    """scripts/release-check.sh (`make release-check`): passes on this tree
    and this build, and fails naming the file on a copy where one place
    states another version."""

    SCRIPT = os.path.join(SRC, "scripts", "release-check.sh")

    def run_check(self, src_script, build):
        return subprocess.run(["sh", src_script, build], capture_output=True, text=True, timeout=60)

    def test_this_tree_agrees(self):
        p = self.run_check(self.SCRIPT, BUILD)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(f"release-check: {project_version()} agrees", p.stdout)

    def copy(self):
        """The files the script reads, in a throwaway tree (no .git)."""
        root = tempfile.mkdtemp(prefix="wxs-relcheck-")
        self.addCleanup(shutil.rmtree, root, True)
        for rel in ("CMakeLists.txt", "CHANGELOG.md", "debian/changelog",
                    "scripts/release-check.sh"):
            os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
            shutil.copy(os.path.join(SRC, rel), os.path.join(root, rel))
        return root

    def edit(self, path, old, new):
        text = read(path)
        self.assertIn(old, text)
        with open(path, "w") as f:
            f.write(text.replace(old, new, 1))

    def test_a_disagreement_fails_naming_the_file(self):
        v = project_version()
        bumped = v.rsplit(".", 1)[0] + "." + str(int(v.rsplit(".", 1)[1]) + 1)
        cases = [
            ("CMakeLists.txt", f"project(wxscene VERSION {v}", f"project(wxscene VERSION {bumped}",
             "debian/changelog: newest entry"),
            ("debian/changelog", f"wxscene ({v})", f"wxscene ({bumped})", "debian/changelog"),
            ("CHANGELOG.md", f"## [{v}] - ", f"## [{bumped}] - ", "CHANGELOG.md: newest release"),
            ("CHANGELOG.md", "## [Unreleased]\n", "", "CHANGELOG.md: the first section"),
            ("CHANGELOG.md", f"## [{v}] - 20", f"## [{v}] - 19", "is dated"),
        ]
        for rel, old, new, needle in cases:
            with self.subTest(file=rel, change=new):
                root = self.copy()
                script = os.path.join(root, "scripts", "release-check.sh")
                self.assertEqual(self.run_check(script, BUILD).returncode, 0)
                self.edit(os.path.join(root, rel), old, new)
                p = self.run_check(script, BUILD)
                self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
                self.assertIn(needle, p.stderr)

    def test_release_tag_must_be_the_version_and_annotated(self):
        root = self.copy()
        script = os.path.join(root, "scripts", "release-check.sh")
        v = project_version()

        def git(*args):
            subprocess.run(["git", "-C", root, "-c", "user.name=t", "-c", "user.email=t@localhost",
                            *args], check=True, capture_output=True)

        git("init", "-q")
        git("add", ".")
        git("commit", "-q", "-m", "release")
        git("tag", "-a", "v0.0.1", "-m", "wrong")
        p = self.run_check(script, BUILD)
        self.assertEqual(p.returncode, 1)
        self.assertIn(f"HEAD is tagged v0.0.1, CMakeLists.txt says {v}", p.stderr)
        git("tag", "-d", "v0.0.1")
        git("tag", f"v{v}")  # lightweight
        p = self.run_check(script, BUILD)
        self.assertEqual(p.returncode, 1)
        self.assertIn("lightweight", p.stderr)
        git("tag", "-d", f"v{v}")
        git("tag", "-a", f"v{v}", "-m", f"wxscene {v}")
        p = self.run_check(script, BUILD)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_binaries_of_another_version_fail(self):
        """A build dir whose binaries say another version (an old build
        left in place): release-check names the binary."""
        build = tempfile.mkdtemp(prefix="wxs-relcheck-build-")
        self.addCleanup(shutil.rmtree, build, True)
        for b in ("wxscene", "wxscened"):
            path = os.path.join(build, b)
            with open(path, "w") as f:
                f.write(f"#!/bin/sh\necho {b} 0.0.9\n")
            os.chmod(path, 0o755)
        p = self.run_check(self.SCRIPT, build)
        self.assertEqual(p.returncode, 1)
        self.assertIn(f"{build}/wxscened --version prints 'wxscened 0.0.9'", p.stderr)


@unittest.skipUnless(DEB, "the .deb build is opt-in: WXS_TEST_DEB=1 (builds it, about a minute) "
                     "or WXS_TEST_DEB=path/to/wxscene_*.deb")
class TestDeb(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="wxs-deb-")
        if DEB == "1":
            if not shutil.which("dpkg-buildpackage"):
                raise unittest.SkipTest("dpkg-buildpackage missing: sh scripts/deps.sh --deb")
            out = os.path.join(cls.tmp, "out")
            p = subprocess.run(["sh", os.path.join(SRC, "scripts", "deb.sh"), out],
                               capture_output=True, text=True)
            if p.returncode != 0:
                raise AssertionError("scripts/deb.sh failed:\n" + p.stdout + p.stderr)
            cls.deb = p.stdout.strip().splitlines()[-1]
        else:
            cls.deb = os.path.abspath(DEB)
        cls.root = os.path.join(cls.tmp, "root")
        cls.control = os.path.join(cls.tmp, "control")
        subprocess.run(["dpkg-deb", "-x", cls.deb, cls.root], check=True)
        subprocess.run(["dpkg-deb", "-e", cls.deb, cls.control], check=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, True)

    def field(self, name):
        return subprocess.run(["dpkg-deb", "-f", self.deb, name], capture_output=True,
                              text=True, check=True).stdout.strip()

    def test_control(self):
        info = subprocess.run(["dpkg-deb", "-I", self.deb], capture_output=True, text=True, check=True).stdout
        self.assertIn("Package: wxscene", info)
        self.assertEqual(self.field("Version"), project_version())
        depends = self.field("Depends")
        for lib in ("adduser", "libevent", "libsqlite3", "libpq5", "libcurl4", "libxml2", "libjansson"):
            self.assertIn(lib, depends)
        with open(os.path.join(self.control, "conffiles")) as f:
            self.assertIn("/etc/wxscene/wxscene.ini", f.read().split())

    def test_maintainer_scripts(self):
        for s in ("postinst", "postrm", "prerm"):
            path = os.path.join(self.control, s)
            self.assertTrue(os.path.exists(path), s)
            p = subprocess.run(["sh", "-n", path], capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)
        post = read(os.path.join(self.control, "postinst"))
        self.assertIn("adduser --system --group", post)
        self.assertIn("deb-systemd-helper", post)      # enabled
        self.assertIn("CHANGE_ME_", post)              # started only once configured
        self.assertIn("rm -rf /var/lib/wxscene", read(os.path.join(self.control, "postrm")))

    def test_contents(self):
        listing = subprocess.run(["dpkg-deb", "-c", self.deb], capture_output=True, text=True,
                                 check=True).stdout
        paths = {line.split()[-1].lstrip(".") for line in listing.splitlines()}
        for want in ("/usr/bin/wxscened", "/usr/bin/wxscene", "/etc/wxscene/wxscene.ini",
                     "/lib/systemd/system/wxscened.service", "/lib/systemd/system/wxscened@.service",
                     "/var/lib/wxscene/", "/usr/share/doc/wxscene/wxscene.ini.example"):
            self.assertIn(want, paths)
        conf = read(os.path.join(self.root, "etc/wxscene/wxscene.ini"))
        self.assertRegex(conf, r"(?m)^path = /var/lib/wxscene/wxscene\.db ")
        self.assertRegex(conf, r"(?m)^token = CHANGE_ME_TOKEN ")

    def test_unit_runs(self):
        root = tempfile.mkdtemp(prefix="wxs-deb-root-")
        self.addCleanup(shutil.rmtree, root, True)
        subprocess.run(["dpkg-deb", "-x", self.deb, root], check=True)
        run = Installed(self, root, os.path.join(root, "lib/systemd/system/wxscened.service"),
                        os.path.join(root, "etc/wxscene/wxscene.ini"))
        self.assertEqual(run.binary, "/usr/bin/wxscened")
        run.run_healthz()


if __name__ == "__main__":
    unittest.main()
