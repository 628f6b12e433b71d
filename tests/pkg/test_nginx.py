"""The nginx files in etc/, as an operator uses them.

The console site (etc/nginx-wxscene-console.conf) is run for real too, over
TLS in front of wxscened's admin listener: from an allowed address the
console, its files and the API answer, a state-changing API request from a
foreign Origin is refused; from any other address only /p/ is reachable.

`nginx -t` on each (the location snippet inside a server block, the whole
TLS site with its snippet, the upstream of several instances) with a
self-signed certificate in place of the example paths; then the location
snippet for real: nginx on a loopback port in front of a running wxscened,
a signed push through it answered 200 and stored, a wrong signature 401.
Skipped (77) only when nginx is not installed (scripts/deps.sh installs
nginx-light)."""
import http.client
import json
import os
import re
import ssl
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

ETC = os.path.join(wxs.SRC, "etc")
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def read(path):
    with open(path) as f:
        return f.read()


@unittest.skipUnless(NGINX, "nginx is not installed (scripts/deps.sh installs nginx-light)")
class NginxFilesTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="wxs-nginx.")
        os.makedirs(os.path.join(self.dir, "snippets"))
        os.makedirs(os.path.join(self.dir, "logs"))
        self.cert = os.path.join(self.dir, "cert.pem")
        self.key = os.path.join(self.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=example.com", "-keyout", self.key, "-out", self.cert],
                       check=True, capture_output=True)
        shutil.copy(os.path.join(ETC, "nginx-wxscene-location.conf"),
                    os.path.join(self.dir, "snippets", "wxscene.conf"))

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def main_conf(self, http_body):
        path = os.path.join(self.dir, "nginx.conf")
        with open(path, "w") as f:
            f.write(f"""pid {self.dir}/nginx.pid;
error_log stderr;
daemon off;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {self.dir}/body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
{http_body}
}}
""")
        return path

    def nginx_t(self, conf):
        r = subprocess.run([NGINX, "-t", "-p", self.dir + "/", "-c", conf], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("test is successful", r.stderr)

    def site(self, name):
        """etc/NAME with this test's certificate for the example's."""
        text = read(os.path.join(ETC, name))
        text = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {self.cert};", text)
        text = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {self.key};", text)
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_location_snippet_inside_a_server(self):
        self.nginx_t(self.main_conf("server { listen 127.0.0.1:8443; "
                                    "include snippets/wxscene.conf; }"))

    def test_whole_tls_site(self):
        text = read(os.path.join(ETC, "nginx-wxscene.conf"))
        self.assertIn("include snippets/wxscene.conf;", text)
        self.assertRegex(text, r"listen 443 ssl")
        self.nginx_t(self.main_conf(f"include {self.site('nginx-wxscene.conf')};"))

    def test_instances_upstream(self):
        path = self.site("nginx-wxscene-instances.conf")
        self.nginx_t(self.main_conf(f"include {path};"))

    def test_snippet_proxies_a_push_to_wxscened(self):
        env = wxs.Env()
        try:
            env.write_config()
            env.start_server()
            snippet = read(os.path.join(ETC, "nginx-wxscene-location.conf"))
            self.assertIn("proxy_pass http://127.0.0.1:8080;", snippet)
            with open(os.path.join(self.dir, "snippets", "wxscene.conf"), "w") as f:
                f.write(snippet.replace("127.0.0.1:8080", f"127.0.0.1:{env.port}"))
            port = wxs.free_port()
            conf = self.main_conf(f"server {{ listen 127.0.0.1:{port}; include snippets/wxscene.conf; }}")
            ng = subprocess.Popen([NGINX, "-p", self.dir + "/", "-c", conf],
                                  stderr=subprocess.PIPE, text=True)
            try:
                deadline = time.monotonic() + 10
                while True:
                    try:
                        wxs.request(port, "GET", "/nothing", timeout=1)
                        break
                    except OSError:
                        self.assertLess(time.monotonic(), deadline, "nginx did not listen")
                        time.sleep(0.05)
                xml = wxs.event_xml("oViaNginx", 1780000001, "subscribe", "qrscene_7").encode()
                r = wxs.request(port, "POST", f"/wx?{wxs.signed_query(env.token)}", body=xml,
                                headers={"Content-Type": "text/xml"})
                self.assertEqual(r.status, 200, r.body)
                bad = wxs.signed_query(env.token).replace("signature=", "signature=0")
                r2 = wxs.request(port, "POST", f"/wx?{bad}", body=xml,
                                 headers={"Content-Type": "text/xml"})
                self.assertEqual(r2.status, 401)
                # only /wx is published: nginx itself answers the rest
                r3 = wxs.request(port, "GET", "/healthz")
                self.assertNotEqual((r3.status, r3.body), (200, b"ok\n"))
            finally:
                ng.send_signal(signal.SIGQUIT)
                ng.communicate(timeout=10)
            self.assertEqual(env.sql("SELECT count(*) FROM events WHERE openid = 'oViaNginx'"),
                             [(1,)])
        finally:
            env.stop_server()
            env.cleanup()

    def test_console_site(self):
        text = read(os.path.join(ETC, "nginx-wxscene-console.conf"))
        self.assertRegex(text, r"listen 443 ssl")
        self.nginx_t(self.main_conf(f"include {self.site('nginx-wxscene-console.conf')};"))

    def console_nginx(self, env, office):
        """The console site on a loopback TLS port in front of ENV's admin
        listener; office: this machine is one of the allowed addresses."""
        port = wxs.free_port()
        text = read(self.site("nginx-wxscene-console.conf"))
        text = re.sub(r"server \{\s*listen 80;.*?\n\}\n", "", text, flags=re.S)
        text = re.sub(r"\s*listen \[::\]:443 ssl http2;", "", text)
        text = text.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl;")
        text = text.replace("127.0.0.1:8081", f"127.0.0.1:{env.admin_port}")
        if office:
            text = text.replace("allow 10.0.0.0/8;", "allow 127.0.0.1;")
        path = os.path.join(self.dir, "console.conf")
        with open(path, "w") as f:
            f.write(text)
        conf = self.main_conf(f"include {path};")
        ng = subprocess.Popen([NGINX, "-p", self.dir + "/", "-c", conf], stderr=subprocess.PIPE, text=True)
        ctx = ssl._create_unverified_context()

        def req(method, path, body=None, headers=None):
            c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
            try:
                c.request(method, path, body=body, headers=headers or {})
                r = c.getresponse()
                return r.status, r.read()
            finally:
                c.close()
        deadline = time.monotonic() + 10
        while True:
            try:
                req("GET", "/nothing")
                break
            except OSError:
                self.assertLess(time.monotonic(), deadline, "nginx did not listen")
                time.sleep(0.05)
        return ng, req

    def test_console_site_publishes_the_console_and_links_only(self):
        env = wxs.Env()
        try:
            env.start_server()
            auth = {"Authorization": "Bearer admintoken", "Content-Type": "application/json"}
            link = "/p/" + "x" * 43  # an unknown link: wxscened's page, 404
            for office in (True, False):
                ng, req = self.console_nginx(env, office)
                try:
                    st, body = req("GET", link)
                    self.assertEqual(st, 404)
                    self.assertIn(b"promoter.js", body, "the promoter page comes from wxscened")
                    self.assertEqual(req("POST", link)[0], 403)
                    self.assertEqual(req("GET", "/healthz")[0], 404)
                    self.assertEqual(req("GET", "/metrics")[0], 404)
                    st, body = req("GET", "/")
                    if not office:
                        self.assertEqual(st, 403)
                        self.assertEqual(req("GET", "/assets/console.js")[0], 403)
                        self.assertEqual(req("GET", "/api/channels", headers=auth)[0], 403)
                        continue
                    self.assertEqual(st, 200)
                    self.assertIn(b"/assets/console.js", body)
                    self.assertEqual(req("GET", "/assets/console.js")[0], 200)
                    self.assertEqual(req("GET", "/api/channels", headers=auth), (200, b"[]"))
                    new = json.dumps({"scene": 9, "name": "via nginx"})
                    st, _ = req("POST", "/api/channels", new, dict(auth, Origin="https://evil.example"))
                    self.assertEqual(st, 403, "a foreign Origin is refused")
                    st, body = req("POST", "/api/channels", new, dict(auth, Origin="https://console.example.com"))
                    self.assertEqual(st, 201, body)
                finally:
                    ng.send_signal(signal.SIGQUIT)
                    ng.communicate(timeout=10)
            self.assertEqual(env.sql("SELECT name FROM channels WHERE scene = '9'"), [("via nginx",)])
        finally:
            env.stop_server()
            env.cleanup()


if __name__ == "__main__":
    unittest.main()
