"""PostgreSQL faults (PostgreSQL only; skipped on SQLite): the database
stopped and started again, a commit that waits past its lock timeout, a
connection killed in the middle of a batch. A push is answered 200 only
once it is stored; otherwise 503 (WeChat retries), nothing half-stored, no
crash, no busy loop, and pushes are answered again within seconds of the
database coming back."""
import concurrent.futures
import os
import subprocess
import time
import unittest

import wxs


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@unittest.skipUnless(wxs.ON_PG and os.environ.get("WXS_TEST_PG_CTL"),
                     "PostgreSQL faults (tests/pg/cluster.sh)")
class PgFaultTest(unittest.TestCase):
    def setUp(self):
        self.env = wxs.Env()
        self.addCleanup(self.env.cleanup)
        self.env.write_config(tag={"worker": "false"}, server={"request_timeout": "5"})

    def pg(self, *args):
        subprocess.run([os.environ["WXS_TEST_PG_CTL"], *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=90)

    def push(self, i):
        return self.env.push(wxs.event_xml(f"oF{i}", 1700600000 + i, "subscribe", "qrscene_8"))

    def test_database_stopped_then_back(self):
        e = self.env
        e.start_server()
        self.assertEqual(self.push(0).status, 200)
        self.pg("stop", "-m", "fast")
        try:
            statuses = [self.push(i).status for i in range(1, 6)]
            self.assertEqual(statuses, [503] * 5)  # never 200 while nothing can be stored
            self.assertEqual(wxs.request(e.port, "GET", "/healthz").status, 503)
            # Waiting, not spinning: little CPU, a bounded log.
            cpu0, lines0 = cpu_seconds(e.proc.pid), len(e.server_log().splitlines())
            time.sleep(2)
            self.assertLess(cpu_seconds(e.proc.pid) - cpu0, 0.5)
            self.assertLess(len(e.server_log().splitlines()) - lines0, 20)
            self.assertIsNone(e.proc.poll())
        finally:
            self.pg("start")
        deadline, ok = time.monotonic() + 15, None
        while time.monotonic() < deadline:
            if wxs.request(e.port, "GET", "/healthz").status == 200:
                ok = self.push(100)
                if ok.status == 200:
                    break
            time.sleep(0.2)
        self.assertIsNotNone(ok, "healthz never came back")
        self.assertEqual(ok.status, 200, "pushes not answered again after the database came back")
        # The refused pushes stored nothing; a retry of one is stored now.
        self.assertEqual(e.sql("SELECT openid FROM events ORDER BY openid"), [("oF0",), ("oF100",)])
        self.assertEqual(self.push(3).status, 200)
        self.assertEqual(e.sql("SELECT count(*) FROM events WHERE openid = 'oF3'"), [(1,)])
        self.assertEqual(e.stop_server(), 0)

    def test_commit_waiting_past_its_lock_timeout_stores_nothing(self):
        e = self.env
        e.start_server()
        self.assertEqual(self.push(0).status, 200)
        lock = wxs.WriteLock(e)
        try:
            with e.records_nothing(self, "a batch past its lock timeout"):
                with concurrent.futures.ThreadPoolExecutor(8) as ex:
                    rs = list(ex.map(self.push, range(1, 9)))
                self.assertEqual([r.status for r in rs], [503] * 8)
        finally:
            lock.release()
        self.assertIn("lock timeout", e.server_log())
        self.assertEqual(self.push(1).status, 200)
        self.assertEqual(e.sql("SELECT count(*) FROM events"), [(2,)])

    def test_connection_killed_mid_batch_stores_nothing_and_reconnects(self):
        e = self.env
        e.start_server()
        self.assertEqual(self.push(0).status, 200)
        lock = wxs.WriteLock(e)
        try:
            with e.records_nothing(self, "a batch whose connection was killed"):
                with concurrent.futures.ThreadPoolExecutor(4) as ex:
                    futs = [ex.submit(self.push, i) for i in range(1, 5)]
                    # the commit connection, waiting for our lock: kill it
                    deadline = time.monotonic() + 5
                    while True:
                        killed = e.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                       "WHERE datname = current_database() AND wait_event_type = 'Lock'")
                        if killed:
                            break
                        self.assertLess(time.monotonic(), deadline, "no commit waited for the lock")
                        time.sleep(0.02)
                    rs = [f.result() for f in futs]
                self.assertEqual([r.status for r in rs], [503] * 4)
        finally:
            lock.release()
        self.assertEqual([self.push(i).status for i in range(1, 5)], [200] * 4)
        self.assertEqual(e.sql("SELECT count(*) FROM events"), [(5,)])
        self.assertIsNone(e.proc.poll())


if __name__ == "__main__":
    unittest.main()
