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

static QRcode *encode(const char *text, char *err, size_t errlen)
{
    QRcode *q = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);
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

/* One 1-bit row: module colour per pixel, 0 = black. */
static void png_row(const QRcode *q, int scale, int y, png_bytep row, size_t rowbytes)
{
    int size = (q->width + 2 * QR_QUIET) * scale;
    memset(row, 0xff, rowbytes);
    for (int x = 0; x < size; x++)
        if (dark(q, x / scale - QR_QUIET, y / scale - QR_QUIET))
            row[x / 8] &= (png_byte) ~(0x80 >> (x % 8));
}

/* libpng reports errors by longjmp: nothing allocated after setjmp may be
 * lost, so the row buffer is allocated by the caller. */
static int png_encode(const QRcode *q, int scale, png_bytep row, struct buf *out)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    int size = (q->width + 2 * QR_QUIET) * scale;
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_set_write_fn(png, out, png_to_buf, png_flush_noop);
    png_set_IHDR(png, info, (png_uint_32)size, (png_uint_32)size, 1, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < size; y++) {
        png_row(q, scale, y, row, (size_t)(size + 7) / 8);
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int qr_png_encode(const char *text, int scale, struct buf *out, char *err, size_t errlen)
{
    QRcode *q = encode(text, err, errlen);
    png_bytep row = NULL;
    int rc = -1;
    if (!q)
        goto done;
    if (scale < 1 || scale > 64) {
        snprintf(err, errlen, "scale %d out of range 1..64", scale);
        goto done;
    }
    row = malloc((size_t)((q->width + 2 * QR_QUIET) * scale + 7) / 8);
    if (!row || png_encode(q, scale, row, out) < 0) {
        snprintf(err, errlen, "cannot write the PNG image");
        goto done;
    }
    rc = 0;
done:
    free(row);
    QRcode_free(q);
    return rc;
}

/* One path of unit squares, scaled by the viewBox: small and crisp. */
int qr_svg_encode(const char *text, int scale, struct buf *out, char *err, size_t errlen)
{
    QRcode *q = encode(text, err, errlen);
    if (!q)
        return -1;
    int n = q->width + 2 * QR_QUIET;
    int rc =
        buf_printf(out,
                   "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                   "viewBox=\"0 0 %d %d\" shape-rendering=\"crispEdges\">\n"
                   "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n<path fill=\"#000\" d=\"",
                   n * scale, n * scale, n, n, n, n);
    for (int y = 0; rc == 0 && y < q->width; y++)
        for (int x = 0; rc == 0 && x < q->width; x++)
            if (dark(q, x, y))
                rc = buf_printf(out, "M%d %dh1v1h-1z", x + QR_QUIET, y + QR_QUIET);
    if (rc == 0)
        rc = buf_puts(out, "\"/>\n</svg>\n");
    if (rc < 0)
        snprintf(err, errlen, "out of memory");
    QRcode_free(q);
    return rc;
}

static int render(int (*enc)(const char *, int, struct buf *, char *, size_t), const char *text,
                  int scale, const char *path, char *err, size_t errlen)
{
    struct buf b = {0};
    int rc = enc(text, scale, &b, err, errlen);
    if (rc == 0)
        rc = qr_write_file(path, b.data, b.len, err, errlen);
    buf_free(&b);
    return rc;
}

int qr_render_png(const char *text, int scale, const char *path, char *err, size_t errlen)
{
    return render(qr_png_encode, text, scale, path, err, errlen);
}

int qr_render_svg(const char *text, int scale, const char *path, char *err, size_t errlen)
{
    return render(qr_svg_encode, text, scale, path, err, errlen);
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
                   struct qr_error *err)
{
    enum qr_image_format fmt;
    char why[512];
    memset(err, 0, sizeof(*err));
    if (qr_image_format_of(path, &fmt) < 0)
        return qr_fail(err, QR_EINVALID, "out", "%s: the image name must end in .png, .svg or .jpg",
                       path);
    if (fmt == QR_IMG_JPG)
        return download(api, c, path, err);
    int rc = fmt == QR_IMG_PNG ? qr_render_png(c->url, scale, path, why, sizeof(why))
                               : qr_render_svg(c->url, scale, path, why, sizeof(why));
    return rc < 0 ? qr_fail(err, QR_EINTERNAL, NULL, "%s", why) : 0;
}
