"""qr create|image|batch --logo: the brand logo in the centre of a locally
rendered code (error correction H). Every image is decoded with zbarimg
(Debian zbar-tools): PNG at the default scale, at --scale 2 and at the
smallest scale the CLI allows with a logo (the printed-small case: a
90-pixel image for the fake's URLs), for codes of several versions; SVG
rendered by headless chromium (--screenshot) and the screenshot decoded.
Bad logos (not a PNG, too big a file, huge dimensions, missing) are refused
before anything is asked of WeChat, naming the file."""
import csv
import os
import struct
import subprocess
import unittest
import zlib

import wxs
from test_dashboard import CHROMIUM, chromium_args
from test_qr import QrTestCase, zbar

MIN_SCALE = 2  # QR_LOGO_MIN_SCALE


def png_bytes(w, h, pixel, ihdr_only_dims=None):
    """An RGBA PNG written with the stdlib; pixel(x, y) -> (r, g, b, a)."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    raw = b"".join(b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(w)) for y in range(h))
    dw, dh = ihdr_only_dims or (w, h)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", dw, dh, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def brand(x, y, w=240, h=160):
    """A dark two-colour chequered ellipse on a transparent ground: the
    worst case for a scanner (dark like modules, edges everywhere)."""
    if ((x - w / 2) / (w / 2)) ** 2 + ((y - h / 2) / (h / 2)) ** 2 > 1:
        return (0, 0, 0, 0)
    return (10, 20, 80, 255) if (x // 6 + y // 6) % 2 else (200, 10, 30, 220)


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    return struct.unpack(">II", head[16:24])


def centre_pixel(path):
    """The RGB of the middle pixel of an 8-bit RGB PNG (filter bytes undone
    for filter type 0..4 is more than needed: read by chromium-free means)."""
    with open(path, "rb") as f:
        data = f.read()
    w, h = struct.unpack(">II", data[16:24])
    idat, pos = b"", 8
    while pos < len(data):
        n, = struct.unpack(">I", data[pos:pos + 4])
        t = data[pos + 4:pos + 8]
        if t == b"IDAT":
            idat += data[pos + 8:pos + 8 + n]
        pos += 12 + n
    raw, stride, prev, rows = zlib.decompress(idat), w * 3, bytearray(w * 3), []
    for y in range(h):
        ft, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - 3] if i >= 3 else 0
            b, c = prev[i], prev[i - 3] if i >= 3 else 0
            p = a + b - c
            pred = [0, a, b, (a + b) // 2,
                    a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c)
                    else b if abs(p - b) <= abs(p - c) else c][ft]
            line[i] = (line[i] + pred) & 0xff
        rows.append(line)
        prev = line
    return tuple(rows[h // 2][(w // 2) * 3:(w // 2) * 3 + 3])


class TestLogo(QrTestCase):
    def setUp(self):
        super().setUp()
        self.logo = self.path("logo.png")
        with open(self.logo, "wb") as f:
            f.write(png_bytes(240, 160, brand))

    def test_png_decodes_at_default_and_small_scales(self):
        out = self.path("shop.png")
        self.qr("create", "42", "--temp", "600", "--out", out, "--logo", self.logo)
        [(url,)] = self.env.sql("SELECT url FROM qr_codes")
        self.assertEqual(zbar(out), url)
        w, h = png_size(out)
        self.assertEqual(w, h)
        self.assertEqual(w % 8, 0)  # default scale 8
        self.assertEqual(w // 8, 37 + 8)  # version 5 at least (37 modules) + quiet zone
        self.assertNotIn(centre_pixel(out), [(0, 0, 0), (255, 255, 255)])  # the logo is there
        small = self.path("small.png")
        self.qr("image", "42", "--out", small, "--scale", str(MIN_SCALE), "--logo", self.logo)
        self.assertEqual(png_size(small), (45 * MIN_SCALE, 45 * MIN_SCALE))
        self.assertEqual(zbar(small), url)
        p = self.qr("image", "42", "--out", small, "--scale", str(MIN_SCALE - 1), "--logo",
                    self.logo, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--scale: a code with a logo needs at least 2", p.stderr)

    def test_longer_urls_higher_versions_still_decode(self):
        """URLs of 43..173 bytes: versions 5..13 at level H (from version 7
        on, an alignment pattern sits under the logo)."""
        self.qr("create", "42", "--temp", "600")
        versions = set()
        for n in (20, 40, 60, 90, 120, 150):
            url = "http://weixin.qq.com/q/" + ("02aBcD9xYz" * 20)[:n]
            self.env.sql("UPDATE qr_codes SET url = ?", url)
            for scale in (MIN_SCALE, 3, 8):
                with self.subTest(n=n, scale=scale):
                    out = self.path(f"v{n}-{scale}.png")
                    self.qr("image", "42", "--out", out, "--scale", str(scale), "--logo", self.logo)
                    self.assertEqual(zbar(out), url)
                    versions.add((png_size(out)[0] // scale - 8 - 17) // 4)
        self.assertEqual((min(versions), max(versions)), (5, 13))

    def test_without_logo_unchanged(self):
        """No --logo: level M, 1-bit grey as before (smaller symbol)."""
        out = self.path("plain.png")
        self.qr("create", "42", "--temp", "600", "--out", out)
        with open(out, "rb") as f:
            self.assertEqual(f.read(26)[24:26], b"\x01\x00")  # bit depth 1, grey
        self.assertLess(png_size(out)[0], 45 * 8)

    def test_svg_in_chromium(self):
        if not os.path.exists(CHROMIUM):
            self.skipTest(f"{CHROMIUM} not found: run scripts/deps.sh --browser")
        svg, shot = self.path("shop.svg"), self.path("shot.png")
        self.qr("create", "42", "--temp", "600", "--out", svg, "--logo", self.logo)
        [(url,)] = self.env.sql("SELECT url FROM qr_codes")
        with open(svg) as f:
            text = f.read()
        self.assertIn('href="data:image/png;base64,', text)
        user_dir = self.path("chromium")
        p = subprocess.run(chromium_args(user_dir, "--window-size=420,420",
                                         f"--screenshot={shot}", "file://" + svg),
                           capture_output=True, text=True, timeout=120)
        self.assertTrue(os.path.exists(shot), p.stderr[-2000:])
        self.assertEqual(zbar(shot), url)

    def test_batch_logo_for_every_row(self):
        rows = self.path("rows.csv")
        with open(rows, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["scene", "name", "promoter", "kind", "expire"])
            w.writerows([["s1", "Shop 1", "", "temp", "600"], ["s2", "门店 2", "Li", "perm", ""]])
        out = self.path("out")
        self.qr("batch", rows, "--out", out, "--logo", self.logo, "--scale", "4")
        with open(os.path.join(out, "index.csv"), encoding="utf-8-sig") as f:
            index = list(csv.DictReader(f))
        self.assertEqual(len(index), 2)
        for r in index:
            img = os.path.join(out, r["image"])
            self.assertEqual(zbar(img), r["url"])
            self.assertNotIn(centre_pixel(img), [(0, 0, 0), (255, 255, 255)])

    def test_batch_logo_column(self):
        """A logo per row (标志 column) wins over --logo; a bad one is an
        error naming the line and the column, before any API call."""
        red = self.path("red.png")
        with open(red, "wb") as f:
            f.write(png_bytes(64, 64, lambda x, y: (220, 0, 0, 255)))
        rows = self.path("rows.csv")
        with open(rows, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["场景值", "名称", "推广员", "类型", "有效期", "标志"])
            w.writerows([["r1", "Red", "", "temp", "600", red], ["r2", "Brand", "", "temp", "600", ""],
                         ["r3", "Red too", "", "temp", "600", red]])
        out = self.path("out")
        self.qr("batch", rows, "--out", out, "--logo", self.logo, "--scale", "4")
        with open(os.path.join(out, "index.csv"), encoding="utf-8-sig") as f:
            index = {r["scene"]: r for r in csv.DictReader(f)}
        for scene in ("r1", "r2", "r3"):
            self.assertEqual(zbar(os.path.join(out, index[scene]["image"])), index[scene]["url"])
        self.assertEqual(centre_pixel(os.path.join(out, index["r1"]["image"])), (220, 0, 0))
        self.assertNotEqual(centre_pixel(os.path.join(out, index["r2"]["image"])), (220, 0, 0))
        calls = self.fake.calls()["counts"]
        with open(rows, "a", newline="") as f:
            csv.writer(f).writerow(["r4", "Bad", "", "temp", "600", self.path("nope.png")])
        p = self.qr("batch", rows, "--out", self.path("out2"), check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(f"rows.csv:5: column logo: {self.path('nope.png')}: No such file", p.stderr)
        self.assertEqual(self.fake.calls()["counts"], calls)

    def test_bad_logos_refused_before_any_api_call(self):
        notpng = self.path("logo.txt")
        with open(notpng, "w") as f:
            f.write("not an image")
        big = self.path("big.png")
        with open(big, "wb") as f:
            f.write(png_bytes(2, 2, brand) + os.urandom(1024 * 1024))
        huge = self.path("huge.png")
        with open(huge, "wb") as f:  # header says 3000x3000; no pixel is ever decoded
            f.write(png_bytes(2, 2, brand, ihdr_only_dims=(3000, 3000)))
        cut = self.path("cut.png")
        with open(cut, "wb") as f:
            f.write(png_bytes(240, 160, brand)[:200])
        cases = [(notpng, "not a readable PNG image"), (big, "larger than 1024 KiB"),
                 (huge, "3000x3000 pixels; at most 2048x2048"), (cut, "not a readable PNG"),
                 (self.path("missing.png"), "No such file")]
        for path, needle in cases:
            with self.subTest(path=os.path.basename(path)):
                p = self.qr("create", "42", "--temp", "600", "--out", self.path("x.png"),
                            "--logo", path, check=False)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn(f"--logo: {path}: ", p.stderr)
                self.assertIn(needle, p.stderr)
        p = self.qr("create", "42", "--temp", "600", "--logo", self.logo, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--logo needs --out FILE.png or FILE.svg", p.stderr)
        p = self.qr("create", "42", "--temp", "600", "--out", self.path("x.jpg"), "--logo",
                    self.logo, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(self.fake.calls()["counts"], {})
        self.assertEqual(self.codes(), [])


if __name__ == "__main__":
    unittest.main()
