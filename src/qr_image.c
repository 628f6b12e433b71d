/* qr_image: the code's picture. Rendered locally from the url WeChat gave
 * (the url is the QR content), so hundreds of images need no second network
 * call; or downloaded from showqrcode as the JPEG WeChat renders. Files are
 * written to a temporary name and renamed, so an interrupted batch never
 * leaves a truncated image under the final name. */
#include "qr.h"

#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "qr_internal.h"

#define QR_QUIET     4 /* modules of white border the spec asks for */
#define QR_IMAGE_MAX (4u << 20)

int qr_image_format_of(const char *path, enum qr_image_format *out)
{
    static const struct {
        const char *ext;
        enum qr_image_format fmt;
    } exts[] = {
        {".png", QR_IMG_PNG}, {".svg", QR_IMG_SVG}, {".jpg", QR_IMG_JPG}, {".jpeg", QR_IMG_JPG}};
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < WXS_ARRAY_LEN(exts); i++) {
        if (strcasecmp(dot, exts[i].ext) == 0) {
            *out = exts[i].fmt;
            return 0;
        }
    }
    return -1;
}

/* Level M by default; with a logo level H and a version big enough that
 * the modules round the logo stay readable when printed small. */
static QRcode *encode(const char *text, const struct qr_logo *logo, char *err, size_t errlen)
{
    QRcode *q = logo ? QRcode_encodeString8bit(text, QR_LOGO_MIN_VERSION, QR_ECLEVEL_H)
                     : QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);
    if (!q)
        snprintf(err, errlen, "cannot encode a QR code: %s", strerror(errno));
    return q;
}

static bool dark(const QRcode *q, int x, int y)
{
    return x >= 0 && y >= 0 && x < q->width && y < q->width && (q->data[y * q->width + x] & 1);
}

/* Write all of data to fd. */
static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* path.tmp.PID, fsync, rename: a reader sees the old file or the new one. */
int qr_write_file(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp)) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int rc = write_all(fd, data, len) < 0 || fsync(fd) < 0 ? -1 : 0;
    if (close(fd) < 0)
        rc = -1;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -1;
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
    }
    return rc;
}

static void png_to_buf(png_structp png, png_bytep data, png_size_t len)
{
    if (buf_append(png_get_io_ptr(png), data, len) < 0)
        png_error(png, "out of memory");
}

static void png_flush_noop(png_structp png)
{
    (void)png;
}

/* What one image is drawn from: the symbol, the scale, and with a logo
 * its box and the logo scaled into it (RGB rows instead of 1-bit ones). */
struct drawing {
    const QRcode *q;
    int scale, size; /* size: pixels a side, quiet zone included */
    const struct qr_logo *logo;
    struct qr_logo_box box;
    unsigned char *pic; /* box.px_side^2 RGB, with a logo */
};

/* One 1-bit row: module colour per pixel, 0 = black. */
static void png_row(const struct drawing *d, int y, png_bytep row)
{
    memset(row, 0xff, (size_t)(d->size + 7) / 8);
    for (int x = 0; x < d->size; x++)
        if (dark(d->q, x / d->scale - QR_QUIET, y / d->scale - QR_QUIET))
            row[x / 8] &= (png_byte) ~(0x80 >> (x % 8));
}

/* One RGB row with the logo: modules outside the box, white inside it,
 * the scaled logo in its square. */
static void png_row_logo(const struct drawing *d, int y, png_bytep row)
{
    const struct qr_logo_box *b = &d->box;
    int q0 = QR_QUIET * d->scale, my = y / d->scale - QR_QUIET;
    int box0 = b->mod_x, box1 = b->mod_x + b->mod_side, ly = y - q0 - b->px_x;
    for (int x = 0; x < d->size; x++) {
        int mx = x / d->scale - QR_QUIET, lx = x - q0 - b->px_x;
        png_bytep px = row + (size_t)x * 3;
        if (ly >= 0 && ly < b->px_side && lx >= 0 && lx < b->px_side)
            memcpy(px, d->pic + ((size_t)ly * (size_t)b->px_side + (size_t)lx) * 3, 3);
        else if (mx >= box0 && mx < box1 && my >= box0 && my < box1)
            memset(px, 0xff, 3);
        else
            memset(px, dark(d->q, mx, my) ? 0x00 : 0xff, 3);
    }
}

/* libpng reports errors by longjmp: nothing allocated after setjmp may be
 * lost, so the row buffer is allocated by the caller. */
static int png_encode(const struct drawing *d, png_bytep row, struct buf *out)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_set_write_fn(png, out, png_to_buf, png_flush_noop);
    png_set_IHDR(png, info, (png_uint_32)d->size, (png_uint_32)d->size, d->logo ? 8 : 1,
                 d->logo ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < d->size; y++) {
        if (d->logo)
            png_row_logo(d, y, row);
        else
            png_row(d, y, row);
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

/* Check the scale and place the logo: 0, or -1 with err said. */
static int drawing_init(struct drawing *d, const QRcode *q, int scale, const struct qr_logo *logo,
                        bool pixels, char *err, size_t errlen)
{
    int min = logo ? QR_LOGO_MIN_SCALE : 1;
    *d = (struct drawing){.q = q, .scale = scale, .logo = logo};
    if (scale < min || scale > 64) {
        snprintf(err, errlen, "scale %d out of range %d..64%s", scale, min,
                 logo ? " with a logo" : "");
        return -1;
    }
    d->size = (q->width + 2 * QR_QUIET) * scale;
    if (logo && qr_logo_box(q->width, scale, &d->box) < 0) {
        snprintf(err, errlen, "the code is too small for a logo");
        return -1;
    }
    if (logo && pixels && !(d->pic = qr_logo_scaled(logo, d->box.px_side))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int qr_png_encode(const char *text, int scale, const struct qr_logo *logo, struct buf *out,
                  char *err, size_t errlen)
{
    QRcode *q = encode(text, logo, err, errlen);
    struct drawing d = {0};
    png_bytep row = NULL;
    int rc = -1;
    if (!q || drawing_init(&d, q, scale, logo, true, err, errlen) < 0)
        goto done;
    row = malloc(logo ? (size_t)d.size * 3 : (size_t)(d.size + 7) / 8);
    if (!row || png_encode(&d, row, out) < 0) {
        snprintf(err, errlen, "cannot write the PNG image");
        goto done;
    }
    rc = 0;
done:
    free(row);
    free(d.pic);
    QRcode_free(q);
    return rc;
}

/* One path of unit squares, scaled by the viewBox: small and crisp. With a
 * logo the box's modules are left out and the logo drawn over a white box. */
int qr_svg_encode(const char *text, int scale, const struct qr_logo *logo, struct buf *out,
                  char *err, size_t errlen)
{
    QRcode *q = encode(text, logo, err, errlen);
    struct drawing d;
    int rc = -1;
    if (!q || drawing_init(&d, q, scale, logo, false, err, errlen) < 0)
        goto done;
    int n = q->width + 2 * QR_QUIET, b0 = d.box.mod_x, b1 = d.box.mod_x + d.box.mod_side;
    rc = buf_printf(out,
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                    "viewBox=\"0 0 %d %d\" shape-rendering=\"crispEdges\">\n"
                    "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n<path fill=\"#000\" d=\"",
                    n * scale, n * scale, n, n, n, n);
    for (int y = 0; rc == 0 && y < q->width; y++)
        for (int x = 0; rc == 0 && x < q->width; x++)
            if (dark(q, x, y) && !(logo && x >= b0 && x < b1 && y >= b0 && y < b1))
                rc = buf_printf(out, "M%d %dh1v1h-1z", x + QR_QUIET, y + QR_QUIET);
    if (rc == 0)
        rc = buf_puts(out, "\"/>\n");
    if (rc == 0 && logo)
        rc = qr_logo_svg(logo, &d.box, QR_QUIET, out);
    if (rc == 0)
        rc = buf_puts(out, "</svg>\n");
    if (rc < 0)
        snprintf(err, errlen, "out of memory");
done:
    QRcode_free(q);
    return rc;
}

/* Encode with enc and write the result to path atomically. */
static int render(int (*enc)(const char *, int, const struct qr_logo *, struct buf *, char *,
                             size_t),
                  const char *text, int scale, const struct qr_logo *logo, const char *path,
                  char *err, size_t errlen)
{
    struct buf b = {0};
    int rc = enc(text, scale, logo, &b, err, errlen);
    if (rc == 0)
        rc = qr_write_file(path, b.data, b.len, err, errlen);
    buf_free(&b);
    return rc;
}

static int download(struct wxapi *api, const struct qr_code *c, const char *path,
                    struct qr_error *err)
{
    struct buf img = {0};
    char why[512];
    int rc = 0;
    if (!api) {
        rc = qr_fail(err, QR_EINTERNAL, NULL, "no API client to download the image");
    } else if (wxapi_showqrcode(api, c->ticket, &img, QR_IMAGE_MAX) < 0) {
        err->api = *wxapi_last_error(api);
        rc = qr_fail(err, QR_EAPI, NULL, "%s", err->api.msg);
    } else if (qr_write_file(path, img.data, img.len, why, sizeof(why)) < 0) {
        rc = qr_fail(err, QR_EINTERNAL, NULL, "%s", why);
    }
    buf_free(&img);
    return rc;
}

int qr_write_image(struct wxapi *api, const struct qr_code *c, const char *path, int scale,
                   const struct qr_logo *logo, struct qr_error *err)
{
    enum qr_image_format fmt;
    char why[512];
    memset(err, 0, sizeof(*err));
    if (qr_image_format_of(path, &fmt) < 0)
        return qr_fail(err, QR_EINVALID, "out", "%s: the image name must end in .png, .svg or .jpg",
                       path);
    if (fmt == QR_IMG_JPG && logo)
        return qr_fail(err, QR_EINVALID, "out",
                       "%s: a logo needs a .png or .svg image (WeChat renders the .jpg)", path);
    if (fmt == QR_IMG_JPG)
        return download(api, c, path, err);
    int rc = render(fmt == QR_IMG_PNG ? qr_png_encode : qr_svg_encode, c->url, scale, logo, path,
                    why, sizeof(why));
    return rc < 0 ? qr_fail(err, QR_EINTERNAL, NULL, "%s", why) : 0;
}
