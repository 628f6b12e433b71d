"""Operations: paths relative to the config file, file permissions and the
store's owner, placeholder secrets, SIGHUP reloads, the startup and request
log, the operational metrics."""
import os
import subprocess
import unittest

import wxs


class RelativePathTest(unittest.TestCase):
    def setUp(self):
        self.env = wxs.Env()

    def tearDown(self):
        self.env.cleanup()

    @wxs.sqlite_only("[store] path is a SQLite file")
    def test_relative_store_path_is_relative_to_the_config_directory(self):
        """`wxscene --config /srv/x/wxscene.ini` run from elsewhere opens
        /srv/x/var/wxscene.db, not ./var/wxscene.db of the cwd."""
        e = self.env
        e.write_config(store={"path": "var/wxscene.db"})
        os.mkdir(os.path.join(e.dir, "var"))
        cwd = os.path.join(e.dir, "elsewhere")
        os.mkdir(cwd)
        p = subprocess.run([wxs.WXSCENE, "--config", e.config, "channel", "add", "42", "--name", "S"],
                           cwd=cwd, capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.exists(os.path.join(e.dir, "var", "wxscene.db")))
        self.assertFalse(os.path.exists(os.path.join(cwd, "var")))
        # a relative --config too: its directory, not the cwd
        p = subprocess.run([wxs.WXSCENE, "--config", os.path.join("..", "wxscene.ini"), "channel", "list"],
                           cwd=cwd, capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("42", p.stdout)
        self.assertFalse(os.path.exists(os.path.join(cwd, "var")))
        # and the server from yet another directory
        e.proc = None
        e.logf = open(e.log, "ab")
        e.proc = subprocess.Popen([wxs.WXSCENED, "--config", e.config], cwd="/",
                                  stdout=e.logf, stderr=subprocess.STDOUT)
        e.wait_ready()
        r = e.push(wxs.event_xml("oREL", 1700000000, "subscribe", "qrscene_42"))
        self.assertEqual(r.status, 200)
        e.db = os.path.join(e.dir, "var", "wxscene.db")
        self.assertEqual(e.sql("SELECT count(*) FROM events"), [(1,)])


if __name__ == "__main__":
    unittest.main()
