"""A small Chrome DevTools Protocol client over --remote-debugging-pipe,
python3's standard library only: Debian's chromium, headless, reads
commands on fd 3 and writes answers and events on fd 4, each message JSON
ended by a NUL byte.

    with cdp.Browser(lang="zh-CN") as b:
        page = b.new_page()
        page.navigate("http://127.0.0.1:8081/")
        page.wait("document.body.dataset.state === 'login'")
        page.eval("document.title")

Every wait is on a condition with a deadline (never a fixed sleep)."""
import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TIMEOUT = float(os.environ.get("WXS_CDP_TIMEOUT", "60"))


class CDPError(Exception):
    pass


class JSError(CDPError):
    pass


def _high(fd):
    """fd moved above 10, so that placing it at 3 or 4 in the child cannot
    clobber its partner."""
    hi = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return hi


class Browser:
    """One headless chromium; lang sets its UI language and the
    Accept-Language it sends."""

    def __init__(self, lang="en-US", width=1280, height=900):
        self.lang = lang
        self.dir = tempfile.mkdtemp(prefix="wxs-cdp-")
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        to_r, from_w = _high(to_r), _high(from_w)
        accept = f"{lang},{lang.split('-')[0]};q=0.9" + (",en;q=0.5" if not lang.startswith("en") else "")
        self.accept_language = accept

        def child_fds():
            os.dup2(to_r, 3)
            os.dup2(from_w, 4)

        log = open(os.path.join(self.dir, "chromium.log"), "wb")
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--hide-scrollbars", "--remote-debugging-pipe",
             "--disable-extensions", "--mute-audio", f"--lang={lang}", f"--accept-lang={accept}",
             f"--window-size={width},{height}", f"--user-data-dir={self.dir}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=log,
            preexec_fn=child_fds, close_fds=False)
        log.close()
        os.close(to_r)
        os.close(from_w)
        self.wfd, self.rfd = to_w, from_r
        self.next_id = 0
        self.lock = threading.Lock()
        self.cv = threading.Condition()
        self.answers, self.events = {}, []
        self.closed = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.width, self.height = width, height

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self.rfd, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                with self.cv:
                    if "id" in msg:
                        self.answers[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                    self.cv.notify_all()
        with self.cv:
            self.closed = True
            self.cv.notify_all()

    def send(self, method, params=None, session=None, timeout=TIMEOUT):
        with self.lock:
            self.next_id += 1
            mid = self.next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.wfd, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self.cv:
            while mid not in self.answers:
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    raise CDPError(f"{method}: no answer ({'browser gone' if self.closed else 'timeout'})\n" + self.log())
                self.cv.wait(left)
            ans = self.answers.pop(mid)
        if "error" in ans:
            raise CDPError(f"{method}: {ans['error']}")
        return ans.get("result", {})

    def wait_event(self, method, pred=lambda p: True, timeout=TIMEOUT, session=None):
        """The first event METHOD (of SESSION) whose params satisfy pred,
        consumed; raises after timeout."""
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for i, ev in enumerate(self.events):
                    if ev.get("method") == method and (session is None or ev.get("sessionId") == session) \
                            and pred(ev.get("params", {})):
                        return self.events.pop(i)["params"]
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    raise CDPError(f"no {method} event within {timeout}s")
                self.cv.wait(left)

    def new_page(self, lang=None):
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        return Page(self, target, session, lang or self.lang)

    def log(self):
        try:
            with open(os.path.join(self.dir, "chromium.log"), "rb") as f:
                return f.read()[-3000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def close(self):
        if self.proc.poll() is None:
            try:
                self.send("Browser.close", timeout=10)
            except CDPError:
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for fd in (self.wfd, self.rfd):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Page:
    def __init__(self, browser, target, session, lang):
        self.b, self.target, self.session = browser, target, session
        self.downloads = tempfile.mkdtemp(prefix="wxs-dl-", dir=browser.dir)
        for domain in ("Page", "Runtime", "Network"):
            self.send(f"{domain}.enable")
        self.send("Network.setUserAgentOverride", {
            "userAgent": self.eval("navigator.userAgent").replace("HeadlessChrome", "Chrome"),
            "acceptLanguage": browser.accept_language, "platform": "Linux"})
        try:
            self.send("Emulation.setLocaleOverride", {"locale": lang})
        except CDPError:
            pass  # an older chromium: --lang alone
        self.send("Emulation.setDeviceMetricsOverride", {"width": browser.width, "height": browser.height,
                                                         "deviceScaleFactor": 1, "mobile": False})
        self.send("Browser.setDownloadBehavior", {"behavior": "allowAndName", "downloadPath": self.downloads,
                                                  "eventsEnabled": True}, session=False)

    def send(self, method, params=None, session=True, timeout=TIMEOUT):
        return self.b.send(method, params, self.session if session else None, timeout=timeout)

    def navigate(self, url):
        self.b.events.clear()
        self.send("Page.navigate", {"url": url})
        self.b.wait_event("Page.loadEventFired", session=self.session)

    def eval(self, expr, await_promise=True):
        """The value of a JS expression (awaited when a promise); a thrown
        error raises JSError with its text."""
        r = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": await_promise, "userGesture": True})
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise JSError(d.get("exception", {}).get("description") or d.get("text"))
        return r["result"].get("value")

    def wait(self, expr, timeout=TIMEOUT, what=None):
        """Polls EXPR until truthy (in JS terms). On timeout raises with
        what the page shows, so a failure says why."""
        deadline = time.monotonic() + timeout
        while True:
            v = self.eval(f"!!({expr})")
            if v:
                return v
            if time.monotonic() > deadline:
                state = self.eval("JSON.stringify({state: document.body && document.body.dataset.state, "
                                  "error: (document.querySelector('.error:not([hidden])') || {}).textContent, "
                                  "url: location.href})")
                raise AssertionError(f"timed out waiting for {what or expr}: {state}")
            time.sleep(0.05)  # polling interval, not synchronisation

    def click(self, selector):
        self.eval(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
                  f"if (!e) throw new Error('no element ' + {json.dumps(selector)}); e.click(); }})()")

    def fill(self, selector, value):
        """Sets an input's value as typing would (input and change events)."""
        self.eval(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
                  f"if (!e) throw new Error('no element ' + {json.dumps(selector)}); e.value = {json.dumps(value)}; "
                  "e.dispatchEvent(new Event('input', {bubbles: true})); "
                  "e.dispatchEvent(new Event('change', {bubbles: true})); })()")

    def set_files(self, selector, paths):
        root = self.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        node = self.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        if not node:
            raise AssertionError(f"no element {selector}")
        self.send("DOM.setFileInputFiles", {"nodeId": node, "files": [os.path.abspath(p) for p in paths]})

    def screenshot(self, path):
        self.send("Page.bringToFront")
        png = base64.b64decode(self.send("Page.captureScreenshot", {"format": "png",
                                                                     "captureBeyondViewport": True})["data"])
        with open(path, "wb") as f:
            f.write(png)
        return png

    def text(self, selector):
        return self.eval(f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent")

    def download(self, start, timeout=TIMEOUT):
        """Runs START (a callable clicking something) and returns the bytes
        and suggested name of the file the page downloads."""
        begun = {}

        def will(p):
            begun.update(p)
            return True
        start()
        self.b.wait_event("Browser.downloadWillBegin", will, timeout=timeout)
        guid = begun["guid"]
        self.b.wait_event("Browser.downloadProgress",
                          lambda p: p.get("guid") == guid and p.get("state") in ("completed", "canceled"),
                          timeout=timeout)
        path = os.path.join(self.downloads, guid)
        with open(path, "rb") as f:
            return f.read(), begun.get("suggestedFilename")
