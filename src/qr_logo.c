/* qr_logo: a brand image in the centre of a rendered code. The code is
 * encoded at error correction H (up to 30 % of the codewords may be lost)
 * and at least version QR_LOGO_MIN_VERSION so the modules stay big enough to
 * print; the logo and the white pad around it cover a module-aligned square
 * of at most QR_LOGO_SHARE of the symbol's side (about 6 % of its area),
 * well inside H's budget even with print blur and a dirty lens. The PNG
 * file is read once (libpng's simplified API: no longjmp), bounded in bytes
 * and pixels, and kept both decoded (for PNG output) and as its bytes (for
 * SVG, where it is embedded as a base64 data URL). */
#include <errno.h>
#include <openssl/evp.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "qr.h"

struct qr_logo {
    int w, h;
    unsigned char *rgba; /* w * h * 4, straight alpha */
    struct buf file;     /* the PNG as read */
};

/* Read all of path (at most QR_LOGO_FILE_MAX bytes) into b. */
static int read_file(const char *path, struct buf *b, char *err, size_t errlen)
{
    struct stat sb;
    char chunk[65536];
    size_t n;
    FILE *f = fopen(path, "rb");
    int rc = -1;
    if (!f) {
        snprintf(err, errlen, "--logo: %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fileno(f), &sb) < 0 || !S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "--logo: %s: not a regular file", path);
        goto done;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b->len + n > QR_LOGO_FILE_MAX) {
            snprintf(err, errlen,
                     "--logo: %s: larger than %u KiB; a logo needs no more (save it "
                     "smaller, e.g. 512x512 pixels)",
                     path, QR_LOGO_FILE_MAX / 1024);
            goto done;
        }
        if (buf_append(b, chunk, n) < 0) {
            snprintf(err, errlen, "--logo: %s: out of memory", path);
            goto done;
        }
    }
    if (ferror(f))
        snprintf(err, errlen, "--logo: %s: %s", path, strerror(errno));
    else
        rc = 0;
done:
    fclose(f);
    return rc;
}

/* Decode the bytes in l->file as RGBA, refusing huge dimensions before any
 * pixel memory is allocated. */
static int decode(struct qr_logo *l, const char *path, char *err, size_t errlen)
{
    png_image im;
    memset(&im, 0, sizeof(im));
    im.version = PNG_IMAGE_VERSION;
    if (l->file.len < 8 || png_sig_cmp((png_const_bytep)l->file.data, 0, 8) != 0 ||
        !png_image_begin_read_from_memory(&im, l->file.data, l->file.len)) {
        snprintf(err, errlen, "--logo: %s: not a readable PNG image%s%s", path,
                 im.message[0] ? ": " : "", im.message);
        png_image_free(&im);
        return -1;
    }
    if (im.width > QR_LOGO_DIM_MAX || im.height > QR_LOGO_DIM_MAX) {
        snprintf(err, errlen, "--logo: %s: %ux%u pixels; at most %dx%d", path, im.width, im.height,
                 QR_LOGO_DIM_MAX, QR_LOGO_DIM_MAX);
        png_image_free(&im);
        return -1;
    }
    im.format = PNG_FORMAT_RGBA;
    l->w = (int)im.width;
    l->h = (int)im.height;
    l->rgba = malloc(PNG_IMAGE_SIZE(im));
    if (!l->rgba || !png_image_finish_read(&im, NULL, l->rgba, 0, NULL)) {
        snprintf(err, errlen, "--logo: %s: not a readable PNG image: %s", path,
                 l->rgba ? im.message : "out of memory");
        png_image_free(&im);
        return -1;
    }
    return 0;
}

int qr_logo_load(const char *path, struct qr_logo **out, char *err, size_t errlen)
{
    struct qr_logo *l = calloc(1, sizeof(*l));
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (read_file(path, &l->file, err, errlen) < 0 || decode(l, path, err, errlen) < 0) {
        qr_logo_free(l);
        return -1;
    }
    *out = l;
    return 0;
}

void qr_logo_free(struct qr_logo *l)
{
    if (!l)
        return;
    free(l->rgba);
    buf_free(&l->file);
    free(l);
}

/* The box is an odd number of modules so that it sits on the module grid
 * exactly in the middle of the (always odd) symbol; never smaller than 3. */
int qr_logo_box(int width, int scale, struct qr_logo_box *b)
{
    int side = (int)(width * QR_LOGO_SHARE);
    if (side % 2 == 0)
        side--;
    if (width < 21 || scale < 1 || side < 3)
        return -1;
    b->mod_x = (width - side) / 2;
    b->mod_side = side;
    /* The pad: half a module (at least one pixel) of white round the logo,
     * so its edge never merges with a dark module next to the box. */
    int pad = scale / 2 > 0 ? scale / 2 : 1;
    b->px_side = side * scale - 2 * pad;
    b->px_x = b->mod_x * scale + pad;
    return b->px_side > 0 ? 0 : -1;
}

/* Fit the logo into side x side pixels, keeping its aspect: the size and
 * offset of the scaled picture inside the square. */
static void fit(const struct qr_logo *l, int side, int *w, int *h, int *dx, int *dy)
{
    if (l->w >= l->h) {
        *w = side;
        *h = (int)((long)l->h * side / l->w);
    } else {
        *h = side;
        *w = (int)((long)l->w * side / l->h);
    }
    if (*w < 1)
        *w = 1;
    if (*h < 1)
        *h = 1;
    *dx = (side - *w) / 2;
    *dy = (side - *h) / 2;
}

/* One output pixel: the mean of the source pixels it covers (a box filter,
 * nearest when enlarging), each composited over white first. */
static void sample(const struct qr_logo *l, int x0, int x1, int y0, int y1, unsigned char *rgb)
{
    unsigned long sum[3] = {0, 0, 0}, n = 0;
    for (int y = y0; y < y1; y++) {
        for (int x = x0; x < x1; x++, n++) {
            const unsigned char *p = l->rgba + ((size_t)y * (size_t)l->w + (size_t)x) * 4;
            for (int c = 0; c < 3; c++)
                sum[c] += (p[c] * p[3] + 255u * (255u - p[3])) / 255u;
        }
    }
    for (int c = 0; c < 3; c++)
        rgb[c] = (unsigned char)(sum[c] / n);
}

unsigned char *qr_logo_scaled(const struct qr_logo *l, int side)
{
    int w, h, dx, dy;
    unsigned char *out = malloc((size_t)side * (size_t)side * 3);
    if (!out)
        return NULL;
    memset(out, 0xff, (size_t)side * (size_t)side * 3);
    fit(l, side, &w, &h, &dx, &dy);
    for (int y = 0; y < h; y++) {
        int y0 = (int)((long)y * l->h / h), y1 = (int)((long)(y + 1) * l->h / h);
        for (int x = 0; x < w; x++) {
            int x0 = (int)((long)x * l->w / w), x1 = (int)((long)(x + 1) * l->w / w);
            sample(l, x0, x1 > x0 ? x1 : x0 + 1, y0, y1 > y0 ? y1 : y0 + 1,
                   out + ((size_t)(y + dy) * (size_t)side + (size_t)(x + dx)) * 3);
        }
    }
    return out;
}

int qr_logo_svg(const struct qr_logo *l, const struct qr_logo_box *b, int quiet, struct buf *out)
{
    size_t n = 4 * ((l->file.len + 2) / 3) + 1;
    unsigned char *b64 = malloc(n);
    int rc = -1;
    if (!b64)
        return -1;
    EVP_EncodeBlock(b64, (const unsigned char *)l->file.data, (int)l->file.len);
    /* In module units: the white box, then the logo half a module in. */
    if (buf_printf(out, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n",
                   b->mod_x + quiet, b->mod_x + quiet, b->mod_side, b->mod_side) == 0 &&
        buf_printf(out,
                   "<image x=\"%d.5\" y=\"%d.5\" width=\"%d\" height=\"%d\" "
                   "preserveAspectRatio=\"xMidYMid meet\" href=\"data:image/png;base64,%s\"/>\n",
                   b->mod_x + quiet, b->mod_x + quiet, b->mod_side - 1, b->mod_side - 1, b64) == 0)
        rc = 0;
    free(b64);
    return rc;
}
