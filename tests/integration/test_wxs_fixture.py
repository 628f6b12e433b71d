"""wxs.ServerCase, the fixture most integration tests stand on: it must
fail a class whose wxscened did not exit cleanly (a crash, a sanitizer
report), leave nothing behind when the set-up fails, and run prepare()
before and started() after the start."""
import os
import signal
import unittest

import wxs


def run_case(cls):
    """Runs one ServerCase class in-process; its unittest result."""
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(cls)
    result = unittest.TestResult()
    suite.run(result)
    return result


class ServerCaseTest(unittest.TestCase):
    def test_hooks_run_in_order_around_the_start(self):
        seen = []

        class Case(wxs.ServerCase):
            config = {"reply": {"unknown_scene": "Hello {scene}"}}

            @classmethod
            def prepare(cls, env):
                seen.append(("prepare", env.proc))
                env.cli("channel", "add", "42", "--name", "Store 42")

            @classmethod
            def started(cls, env):
                seen.append(("started", env.proc.poll()))

            def test_serves(self):
                r = self.push(wxs.event_xml("oFix", 1700000000, "subscribe", "qrscene_7"))
                self.assertEqual(r.status, 200)
                self.assertIn(b"Hello 7", r.body)
                self.assertEqual(self.admin("GET", "/api/channels").json()[0]["scene"], "42")
                seen.append(("dir", self.env.dir))

        result = run_case(Case)
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertEqual([s[0] for s in seen], ["prepare", "started", "dir"])
        self.assertEqual(seen[0][1], None)  # no server yet while preparing
        self.assertEqual(seen[1][1], None)  # running once started
        self.assertFalse(os.path.exists(seen[2][1]))  # cleaned up

    def test_an_unclean_exit_fails_the_class(self):
        class Case(wxs.ServerCase):
            def test_kill(self):
                self.env.proc.send_signal(signal.SIGKILL)
                self.env.proc.wait(timeout=15)

        result = run_case(Case)
        self.assertFalse(result.wasSuccessful())
        (where, trace), = result.errors
        self.assertIn("tearDownClass", str(where))
        self.assertIn(f"wxscened exited {-signal.SIGKILL}", trace)

    def test_a_failed_set_up_leaves_nothing(self):
        dirs = []

        class Case(wxs.ServerCase):
            @classmethod
            def prepare(cls, env):
                dirs.append(env.dir)
                env.write_config(server={"listen": "not-an-address"})

            def test_never_runs(self):
                raise AssertionError("ran without a server")

        result = run_case(Case)
        (where, trace), = result.errors
        self.assertIn("setUpClass", str(where))
        self.assertIn("wxscened exited", trace)
        self.assertFalse(os.path.exists(dirs[0]))


if __name__ == "__main__":
    unittest.main()
