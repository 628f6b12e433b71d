/* qr: parametric QR codes. The four kinds (temporary/permanent x scene_id/
 * scene_str) are validated in full before any API call; every code asked of
 * WeChat is recorded (intent before the call, ticket/url/expiry after) in
 * qr_codes; images come from showqrcode or are rendered locally from the
 * url (libqrencode -> PNG via libpng, or SVG) so printing needs no second
 * network call. Permanent scene ids (1..100000 per account, for ever) are
 * reserved in the ledger of qr_perm.h; archiving a channel retires its id,
 * and only the operator's confirmation frees it for reuse.
 *
 * Callers: the CLI (cli_qr.c), qr batch (qr_batch.c) and the admin listener
 * (POST /api/qrcodes: qr_request_from_json + qr_create + qr_code_to_json). */
#ifndef WXS_QR_H
#define WXS_QR_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "store.h"
#include "util.h"
#include "wxapi.h"

#define QR_TEMP_ID_MAX   4294967295u
#define QR_SCENE_STR_MAX 64
#define QR_EXPIRE_MAX    2592000 /* 30 days */

enum qr_kind { QR_TEMP_ID, QR_TEMP_STR, QR_PERM_ID, QR_PERM_STR };

/* "temp_id", "temp_str", "perm_id", "perm_str" (the qr_codes.kind values). */
const char *qr_kind_name(enum qr_kind k);
int qr_kind_parse(const char *s, enum qr_kind *out) WXS_MUSTCHECK;
bool qr_kind_is_temp(enum qr_kind k);

/* What a caller asks for. Strings are borrowed for the call. */
struct qr_request {
    const char *scene;      /* NULL or "" with allocate */
    bool temporary;         /* else permanent */
    int64_t expire_seconds; /* temporary: 1..2592000; permanent: must be 0 */
    bool force_str;         /* scene_str even when the scene is all digits */
    bool allocate;          /* permanent scene_id: take the lowest free id */
    const char *name;       /* create the channel with this name if it is absent */
    const char *promoter;   /* with name */
    char scene_buf[24];     /* qr_request_from_json: the text of a numeric JSON scene */
};

/* Errors. rc: QR_EINVALID and QR_ECONFLICT happen before any API call. */
enum qr_rc {
    QR_EINTERNAL = -1, /* database, memory, file system */
    QR_EINVALID = -2,  /* bad input; field names it */
    QR_ECONFLICT = -3, /* against the stored state (id retired, channel differs...) */
    QR_EAPI = -4,      /* WeChat failed or refused: see api */
};
struct qr_error {
    int rc;
    const char *field; /* QR_EINVALID: "scene", "expire_seconds", "kind", "name", ... */
    struct wxapi_error api;
    char msg[512];
};

/* The validated form of a request: what goes into the API body. */
struct qr_spec {
    enum qr_kind kind;
    char scene[QR_SCENE_STR_MAX + 1]; /* the scene text (EventKey) */
    uint64_t scene_id;                /* *_ID kinds; 0 = to be allocated */
    int64_t expire_seconds;           /* temporary kinds */
};

/* Check rq against the platform's rules without touching the store or the
 * network; on error fills err (rc QR_EINVALID, field, one-line msg). */
int qr_validate(const struct qr_request *rq, struct qr_spec *out,
                struct qr_error *err) WXS_MUSTCHECK;

/* A stored code. Strings are owned; qr_code_clear() frees them. */
struct qr_code {
    int64_t id;
    char *scene;
    enum qr_kind kind;
    int64_t expire_seconds; /* 0 for permanent codes */
    char *ticket;
    char *url;
    int64_t created_at;
    int64_t expires_at; /* 0 for permanent codes */
    char *batch;        /* NULL when created alone */
    bool reused;        /* qr_create returned an existing code: no API call */
    int attempts;       /* API calls made for this row (> 1: an interrupted call re-sent) */
};
void qr_code_clear(struct qr_code *c);

/* Validate, create the channel if asked, reserve a permanent id, record the
 * intent, call qrcode/create and store the answer. A permanent code that
 * already exists for the scene is returned as is (reused = true) with no API
 * call. batch: NULL, or the batch run the code belongs to (qr_batch.c).
 * The ticket is WeChat's: the same code asked again (a permanent scene)
 * may come back with a ticket already stored, and is recorded again; a
 * ticket stored for another scene or kind is refused (QR_EAPI, naming
 * that scene; schema/013_qr_ticket.sql). On success *out is filled (caller
 * qr_code_clear()s it). */
int qr_create(struct store *st, struct wxapi *api, const struct qr_request *rq, const char *batch,
              struct qr_code *out, struct qr_error *err) WXS_MUSTCHECK;

/* Admin API: {"scene": "42" | 42, "kind": "temp|perm", "expire_seconds": N,
 * "str": bool, "name": "...", "promoter": "..."} into rq, whose strings point
 * into obj (keep obj alive). QR_EINVALID names the JSON key. */
int qr_request_from_json(json_t *obj, struct qr_request *rq, struct qr_error *err) WXS_MUSTCHECK;
/* The stored row as JSON (caller json_decref()s); NULL on out of memory. */
json_t *qr_code_to_json(const struct qr_code *c);

/* A lifetime as given by operators: seconds, or N followed by s, m, h or d
 * ("3600", "7d"). 0 with *out in 1..QR_EXPIRE_MAX, -1 otherwise. */
int qr_parse_expire(const char *s, int64_t *out) WXS_MUSTCHECK;

/* ---- reading ---- */

/* The newest done code of a scene: 0 found, 1 none, < 0 error (err). */
int qr_code_latest(struct store *st, const char *scene, struct qr_code *out,
                   struct qr_error *err) WXS_MUSTCHECK;

struct qr_filter {
    int64_t expiring_within; /* > 0: only temporary codes expiring in [now, now+N] */
    bool include_expired;    /* also temporary codes already expired */
    const char *batch;       /* only this batch, NULL = all */
};
/* Done codes, soonest expiry first for expiring lists, else by id. fn gets
 * a borrowed code; returning < 0 stops with that value (err untouched: fn
 * reports its own failure). A database failure fills err. */
int qr_foreach(struct store *st, const struct qr_filter *f,
               int (*fn)(const struct qr_code *c, void *arg), void *arg,
               struct qr_error *err) WXS_MUSTCHECK;

/* ---- images ---- */

enum qr_image_format { QR_IMG_PNG, QR_IMG_SVG, QR_IMG_JPG };
/* By the file name's extension (.png, .svg, .jpg/.jpeg); -1 if none fits. */
int qr_image_format_of(const char *path, enum qr_image_format *out) WXS_MUSTCHECK;

/* A brand logo for the centre of rendered codes (qr_logo.c): a PNG of at
 * most QR_LOGO_FILE_MAX bytes and QR_LOGO_DIM_MAX pixels a side. With a
 * logo a code is encoded at level H, version >= QR_LOGO_MIN_VERSION, and
 * the logo with its white pad covers at most QR_LOGO_SHARE of the side. */
#define QR_LOGO_FILE_MAX    (1024u * 1024u)
#define QR_LOGO_DIM_MAX     2048
#define QR_LOGO_MIN_VERSION 5
#define QR_LOGO_SHARE       0.24
#define QR_LOGO_MIN_SCALE   2 /* pixels per module: below, the logo is a smudge */
struct qr_logo;
/* Read and decode path; errors name the file ("--logo: FILE: ..."). Caller
 * qr_logo_free()s *out. */
int qr_logo_load(const char *path, struct qr_logo **out, char *err, size_t errlen) WXS_MUSTCHECK;
void qr_logo_free(struct qr_logo *l);
/* Where the logo goes in a symbol of width modules (no quiet zone) drawn
 * at scale px per module: the white box in modules (mod_x = mod_y, the box
 * is centred and square), the logo's square in pixels inside it (px_x from
 * the symbol's edge, quiet zone excluded). -1 when the symbol is too small. */
struct qr_logo_box {
    int mod_x, mod_side;
    int px_x, px_side;
};
int qr_logo_box(int width, int scale, struct qr_logo_box *b) WXS_MUSTCHECK;
/* The logo fitted into side x side pixels (aspect kept, box filter,
 * composited over white): side * side * 3 bytes of RGB, caller frees;
 * NULL on out of memory. */
unsigned char *qr_logo_scaled(const struct qr_logo *l, int side);
/* The SVG elements (white box, logo as a base64 PNG <image>) in module
 * units, offset by the quiet zone, appended to out. */
int qr_logo_svg(const struct qr_logo *l, const struct qr_logo_box *b, int quiet,
                struct buf *out) WXS_MUSTCHECK;

/* Render text as a QR code (level M, 4-module quiet zone, scale px per
 * module; with a logo: level H, see above) into path, atomically (temp
 * file + rename). logo may be NULL. */
/* The same images in memory (the admin API can send them as they are);
 * appended to out. */
int qr_png_encode(const char *text, int scale, const struct qr_logo *logo, struct buf *out,
                  char *err, size_t errlen) WXS_MUSTCHECK;
int qr_svg_encode(const char *text, int scale, const struct qr_logo *logo, struct buf *out,
                  char *err, size_t errlen) WXS_MUSTCHECK;

/* Write c's image to path: PNG/SVG rendered locally from c->url (with
 * logo when not NULL), JPG downloaded from showqrcode (api may be NULL for
 * PNG/SVG; a logo is refused for JPG: WeChat renders it). */
int qr_write_image(struct wxapi *api, const struct qr_code *c, const char *path, int scale,
                   const struct qr_logo *logo, struct qr_error *err) WXS_MUSTCHECK;

/* ---- channels ---- */

/* Archive a channel (it keeps its history and gets no new codes). A
 * permanent scene id it carries is retired in the ledger (qr_perm.h), not
 * freed: printed codes may still be out there. *retired_id = that id or 0. */
int qr_channel_archive(struct store *st, const char *scene, uint64_t *retired_id,
                       struct qr_error *err) WXS_MUSTCHECK;
#endif
