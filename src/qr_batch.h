/* qr_batch: many codes at once from a CSV (scene,name,promoter,kind,expire),
 * one image each plus an index CSV in the output directory (index.csv, for
 * a spreadsheet: a UTF-8 BOM, local expiry times).
 *
 * Every row is validated before anything is created; errors name the file,
 * line, column and reason. The batch is resumable: its identity is the
 * output directory, each row's intent is committed before its API call
 * (qr_codes, keyed by batch and scene) and its answer after, so re-running
 * the same command after a kill or a failure skips what is done and only
 * re-sends a call that was in flight (WeChat has no idempotency key; the
 * unanswered ticket is never recorded or printed). */
#ifndef WXS_QR_BATCH_H
#define WXS_QR_BATCH_H
#include <stdbool.h>
#include <stdio.h>
#include "qr.h"
#include "tz.h"

#define QR_BATCH_MAX_ROWS   100000
#define QR_BATCH_MAX_ERRORS 50 /* validation errors printed before giving up */

struct qr_batch_opts {
    const char *csv_path;
    const char *out_dir;         /* created if absent */
    enum qr_image_format format; /* QR_IMG_PNG or QR_IMG_SVG (local rendering) */
    int scale;                   /* pixels per module */
    const struct qr_logo *logo;  /* NULL, or in the centre of every image */
    FILE *report;                /* one line per row */
    FILE *errors;                /* one line per validation error */
    /* index.csv: for Excel (a UTF-8 BOM first when bom), expiries as local
     * YYYY-MM-DD HH:MM:SS in zone tz, named zone in a time_zone column */
    bool bom;
    const struct tz *tz;
    const char *zone;
};

struct qr_batch_result {
    size_t rows;
    size_t created;       /* asked of WeChat in this run */
    size_t skipped;       /* done before (this batch, or an existing permanent code) */
    size_t resent;        /* intents of an interrupted run sent again */
    size_t invalid;       /* validation errors (nothing was created) */
    const char *encoding; /* the CSV's, as csv_encoding() names it; static */
};

/* Run (or resume) a batch. QR_EINVALID: the CSV has errors (listed on
 * report, nothing created); QR_EAPI: WeChat failed on a row (the rows
 * before it are done; re-run to resume). */
int qr_batch_run(struct store *st, struct wxapi *api, const struct qr_batch_opts *o,
                 struct qr_batch_result *res, struct qr_error *err) WXS_MUSTCHECK;

/* The image file name for a scene: the scene when it is made of
 * [A-Za-z0-9._-] (not starting with '.'), else a sanitised form with a hash
 * suffix so that distinct scenes never share a file. */
int qr_batch_image_name(const char *scene, const char *ext, char *out, size_t outlen) WXS_MUSTCHECK;
#endif
