"""Shared helpers for the integration tests: a temp config and database,
the real binaries started the way users start them, signed requests.

Env is one temp config, store and pair of ports; ServerCase is the
fixture most test classes want (one wxscened per class, started and
stopped as users do, with cli/push/admin helpers).

Only the Python standard library (plus Debian python3-* packages where a
test needs them). Binaries come from $WXSCENED / $WXSCENE (set by ctest),
else from build/.
"""
import contextlib
import fcntl
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import unittest
import urllib.parse

SRC = os.environ.get("WXS_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
WXSCENED = os.environ.get("WXSCENED", os.path.join(SRC, "build", "wxscened"))
WXSCENE = os.environ.get("WXSCENE", os.path.join(SRC, "build", "wxscene"))
TOKEN = "testtoken123"

# The store the tests run on: sqlite (a file per Env) or, with
# WXS_TEST_BACKEND=postgresql, a fresh database per Env on the cluster
# tests/pg/cluster.sh started (WXS_TEST_PG_URL, a libpq conninfo).
BACKEND = os.environ.get("WXS_TEST_BACKEND", "sqlite")
PG_URL = os.environ.get("WXS_TEST_PG_URL", "")
ON_PG = BACKEND == "postgresql"


def sqlite_only(why):
    """Skip a test that is about SQLite itself (its file, WAL, locks)."""
    import unittest
    return unittest.skipIf(ON_PG, f"SQLite only: {why}")


def pg_connect(dbname=None):
    import psycopg2  # python3-psycopg2 (scripts/deps.sh)
    con = psycopg2.connect(PG_URL + (f" dbname={dbname}" if dbname else ""))
    con.autocommit = True
    return con


def db_errors():
    """The exceptions Env.sql() raises for a database error (a table not
    created yet, a lock), on the backend the tests run on."""
    if ON_PG:
        import psycopg2
        return (psycopg2.Error,)
    return (sqlite3.Error,)


def pg_sql(query):
    """SQLite-style `?` parameters as psycopg2's %s (a literal % doubled)."""
    return query.replace("%", "%%").replace("?", "%s")


_PORT_DIR = os.path.join(tempfile.gettempdir(), "wxs-test-ports")
_port_locks = []


def free_port():
    """A port for a server under test to listen on. Not one the kernel hands
    out for port 0: those come from the ephemeral range, where any client
    connection of the parallel suite (HTTP, PostgreSQL) may take it as its
    source port between this check and the server's bind ("Address already
    in use"). Instead a port below that range, held by a file lock for this
    process's life, so two test processes never pick the same one."""
    os.makedirs(_PORT_DIR, exist_ok=True)
    for _ in range(500):
        port = random.randint(20000, 32000)
        fd = os.open(os.path.join(_PORT_DIR, str(port)), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with socket.socket() as s:
                s.bind(("127.0.0.1", port))
        except OSError:
            os.close(fd)
            continue
        _port_locks.append(fd)
        return port
    raise RuntimeError(f"no free port in 20000-32000 (locks in {_PORT_DIR})")


def signature(*parts):
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def signed_query(token=TOKEN, timestamp=None, nonce=None, **extra):
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or str(random.randint(1, 2**31))
    q = {"signature": signature(token, ts, nonce), "timestamp": ts, "nonce": nonce, "openid": "oQUERY"}
    q.update(extra)
    return urllib.parse.urlencode(q)


def event_xml(openid, create_time, event, event_key=None, to="gh_test", ticket="TICKET"):
    key = "" if event_key is None else f"<EventKey><![CDATA[{event_key}]]></EventKey>"
    tk = f"<Ticket><![CDATA[{ticket}]]></Ticket>" if event_key else ""
    return (f"<xml><ToUserName><![CDATA[{to}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event>{key}{tk}</xml>")


def text_xml(openid, create_time, content, msg_id, to="gh_test"):
    return (f"<xml><ToUserName><![CDATA[{to}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


class Response:
    def __init__(self, status, body, headers):
        self.status, self.body, self.headers = status, body, headers

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        """The body as JSON (None when empty)."""
        return json.loads(self.body) if self.body else None

    def __repr__(self):
        return f"<Response {self.status} {self.body[:200]!r}>"


def request(port, method, path, body=None, headers=None, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return Response(r.status, r.read(), dict(r.getheaders()))
    finally:
        conn.close()


def raw_request(port, data, timeout=10, shut=False):
    """Send raw bytes, return what the server answers before closing. A
    server may answer (413) and close before reading everything we send."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
            if shut:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        return out


def server_rx_queues(port):
    """{client port: bytes not yet read by the server} of the established
    connections accepted on 127.0.0.1:port (Linux /proc/net/tcp). A request
    whose bytes are all read has reached wxscened's handler (evhttp parses
    what it reads in the same callback)."""
    out = {}
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            local, remote, state, queues = parts[1], parts[2], parts[3], parts[4]
            if state == "01" and int(local.split(":")[1], 16) == port:
                out[int(remote.split(":")[1], 16)] = int(queues.split(":")[1], 16)
    return out


def status_of(raw):
    try:
        return int(raw.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


DEFAULT_CONFIG = {
    "server": {"listen": None, "callback_path": "/wx", "max_body_bytes": "65536",
               "timestamp_window": "300"},
    "wechat": {"appid": "wx0123456789abcdef", "appsecret": "secret", "token": TOKEN, "mode": "plain"},
    "store": {"path": None, "synchronous": "normal"},
    "reply": {"subscribe": "Welcome!", "unknown_scene": "Welcome from channel {scene}"},
    "admin": {"listen": None, "token": "admintoken"},
}


class WriteLock:
    """Holds what another writer of the store would hold, so the server's
    commits wait (SQLite: the write lock; PostgreSQL: a lock on events that
    blocks inserts but not reads) until release()."""

    def __init__(self, env):
        self.pg = bool(env.pg_db)
        if self.pg:
            self.con = pg_connect(env.pg_db)
            self.con.autocommit = False
            self.con.cursor().execute("LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE")
        else:
            self.con = sqlite3.connect(env.db, timeout=10, isolation_level=None)
            self.con.execute("BEGIN IMMEDIATE")

    def release(self):
        if self.con:
            if self.pg:
                self.con.commit()
            else:
                self.con.execute("COMMIT")
            self.con.close()
            self.con = None


class Env:
    """A temp directory with a config, a database path and free ports."""

    def __init__(self, share=None, backend=None):
        """share: another Env whose PostgreSQL database this one uses too
        (a second instance), with its own directory, ports and config.
        backend: "sqlite" for a SQLite store even when the tests run on
        PostgreSQL."""
        self.dir = tempfile.mkdtemp(prefix="wxs-test-")
        self.port = free_port()
        self.admin_port = free_port()
        self.db = os.path.join(self.dir, "wxscene.db")
        self.pg_db = share.pg_db if share else None
        self.owns_db = share is None
        if ON_PG and not share and backend != "sqlite":
            if not PG_URL:
                raise RuntimeError("WXS_TEST_BACKEND=postgresql needs WXS_TEST_PG_URL (tests/pg/cluster.sh)")
            self.pg_db = "wxs_" + os.urandom(6).hex()
            con = pg_connect()
            con.cursor().execute(f"CREATE DATABASE {self.pg_db}")
            con.close()
        self.config = os.path.join(self.dir, "wxscene.ini")
        self.proc = None
        self.log = os.path.join(self.dir, "server.log")
        self.write_config()

    def write_config(self, **sections):
        cfg = {s: dict(v) for s, v in DEFAULT_CONFIG.items()}
        cfg["server"]["listen"] = f"127.0.0.1:{self.port}"
        cfg["store"]["path"] = self.db
        if self.pg_db:
            cfg["store"]["backend"] = "postgresql"
            cfg["store"]["url"] = f"{PG_URL} dbname={self.pg_db}"
        cfg["admin"]["listen"] = f"127.0.0.1:{self.admin_port}"
        for sec, kv in sections.items():
            cfg.setdefault(sec, {})
            for k, v in kv.items():
                if v is None:
                    cfg[sec].pop(k, None)
                else:
                    cfg[sec][k] = str(v)
        with open(self.config, "w") as f:
            for sec, kv in cfg.items():
                f.write(f"[{sec}]\n")
                for k, v in kv.items():
                    f.write(f"{k} = {v}\n")
        os.chmod(self.config, 0o640)  # holds secrets: no "readable by every user" warning
        self.token = cfg["wechat"].get("token", TOKEN)
        self.callback_path = cfg["server"].get("callback_path", "/wx")
        return self.config

    def cli(self, *args, check=True, input=None, env=None, timeout=60):
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.run([WXSCENE, "--config", self.config, *args], input=input,
                           capture_output=True, text=True, env=e, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"wxscene {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def start_server(self, env=None, wait=True, extra_args=(), preexec_fn=None):
        e = dict(os.environ)
        e.update(env or {})
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([WXSCENED, "--config", self.config, *extra_args],
                                     stdout=self.logf, stderr=subprocess.STDOUT, env=e,
                                     preexec_fn=preexec_fn)
        if wait:
            self.wait_ready()
        return self.proc

    def wait_ready(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"wxscened exited {self.proc.returncode}:\n{self.server_log()}")
            try:
                if request(self.port, "GET", "/healthz", timeout=1).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("wxscened did not become ready:\n" + self.server_log())

    def stop_server(self, sig=signal.SIGTERM, timeout=15):
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        self.logf.close()
        return rc

    def server_log(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def push(self, xml, query=None, **qextra):
        q = query if query is not None else signed_query(self.token, **qextra)
        body = xml.encode() if isinstance(xml, str) else xml
        return request(self.port, "POST", f"{self.callback_path}?{q}", body=body,
                       headers={"Content-Type": "text/xml"})

    def sql(self, query, *args):
        if self.pg_db:
            con = pg_connect(self.pg_db)
            try:
                cur = con.cursor()
                cur.execute(pg_sql(query), args)
                return [tuple(r) for r in cur.fetchall()] if cur.description else []
            finally:
                con.close()
        con = sqlite3.connect(self.db, timeout=10)
        try:
            rows = con.execute(query, args).fetchall()
            con.commit()
            return rows
        finally:
            con.close()

    def raw_store(self):
        """Every byte the store keeps: SQLite's files, or on PostgreSQL
        every row of every table as text."""
        if self.pg_db:
            out = []
            for (t,) in self.sql("SELECT table_name FROM information_schema.tables "
                                 "WHERE table_schema = 'public'"):
                out += [r[0] for r in self.sql(f"SELECT t::text FROM {t} t")]
            return "\n".join(out).encode()
        raw = b""
        for path in (self.db, self.db + "-wal"):
            if os.path.exists(path):
                with open(path, "rb") as f:
                    raw += f.read()
        return raw

    # What a push can record: its event, the fan, the statistics rollups and
    # the tagging outbox. A rejected request must leave all of it unchanged.
    STORE_STATE = (
        "SELECT count(*), coalesce(max(id), 0) FROM events",
        "SELECT * FROM fans ORDER BY openid",
        "SELECT * FROM stats_daily ORDER BY day, scene",
        "SELECT * FROM stats_churn ORDER BY 1, 2, 3",
        "SELECT * FROM stats_scan_first ORDER BY 1, 2, 3",
        "SELECT * FROM stats_scanners ORDER BY openid",
        "SELECT count(*), coalesce(max(id), 0) FROM tag_outbox",
    )

    def store_state(self):
        return [self.sql(q) for q in self.STORE_STATE]

    @contextlib.contextmanager
    def records_nothing(self, test, what=""):
        """The block's requests leave the store as it was: no event, no fan,
        no rollup, no outbox row (test: the unittest.TestCase to fail)."""
        before = self.store_state()
        yield
        after = self.store_state()
        for q, b, a in zip(self.STORE_STATE, before, after):
            test.assertEqual(a, b, f"{what}: recorded by a rejected request ({q})")

    def cleanup(self):
        self.stop_server(signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.pg_db and self.owns_db:
            con = pg_connect()
            con.cursor().execute(f"DROP DATABASE IF EXISTS {self.pg_db} WITH (FORCE)")
            con.close()


ADMIN_TOKEN = DEFAULT_CONFIG["admin"]["token"]


class ServerCase(unittest.TestCase):
    """One wxscened per test class, started as users start it: an Env (temp
    config, a SQLite file or a PostgreSQL database of its own, free ports),
    `prepare(env)` for what must be in the store first (channels, ...), the
    server started and waited for (/healthz 200), `started(env)` for what
    the class's tests share through the server (pushes), and at the end stopped
    with SIGTERM: a non-zero exit (a sanitizer report, a crash) fails the
    class with the end of its log.

    Subclasses set:
      config      sections for Env.write_config, e.g. {"tag": {"worker": "false"}}
      server_env  extra environment variables for wxscened
      with_server False: the Env and its store only (CLI tests)
    and use self.env, self.cli(), self.push(), self.admin()."""

    config = {}
    server_env = None
    with_server = True
    admin_token = ADMIN_TOKEN

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = Env()
        try:
            if cls.config:
                cls.env.write_config(**cls.config)
            cls.prepare(cls.env)
            if cls.with_server:
                cls.env.start_server(env=cls.server_env)
                cls.started(cls.env)
        except BaseException:
            cls.env.cleanup()
            raise

    @classmethod
    def prepare(cls, env):
        """Before the server starts: what the class's tests expect in the
        store (channels added with env.cli, ...)."""

    @classmethod
    def started(cls, env):
        """After the server is up: pushes and calls every test of the class
        relies on."""

    @classmethod
    def tearDownClass(cls):
        rc = cls.env.stop_server()
        log = cls.env.server_log()
        cls.env.cleanup()
        super().tearDownClass()
        if rc not in (None, 0):
            raise AssertionError(f"wxscened exited {rc}:\n{log[-4000:]}")

    def cli(self, *args, **kw):
        """wxscene --config <this class's config> ARGS (Env.cli)."""
        return self.env.cli(*args, **kw)

    def push(self, xml, query=None, **qextra):
        """A signed push to the callback (Env.push)."""
        return self.env.push(xml, query, **qextra)

    def admin(self, method, path, body=None, headers=None, auth=True, timeout=10):
        """A request to the admin listener. auth: send the bearer token
        (unless headers carry an Authorization of their own); body: bytes
        as they are, str as UTF-8, anything else as JSON, with
        Content-Type: application/json unless headers say otherwise."""
        h = {"Authorization": f"Bearer {self.admin_token}"} if auth else {}
        h.update(headers or {})
        if body is not None:
            if isinstance(body, str):
                body = body.encode("utf-8")
            elif not isinstance(body, bytes):
                body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        return request(self.env.admin_port, method, path, body=body, headers=h, timeout=timeout)
