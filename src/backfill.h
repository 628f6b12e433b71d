/* backfill: attribution for followers who subscribed before wxscene saw
 * them. Walks the account's followers (user/get, paged by next_openid),
 * asks user/info/batchget (at most 100 per call) only about openids the
 * store does not know, and records for each current follower a fans row
 * (source 'backfill'; first and last scene = qr_scene_str, else qr_scene,
 * when subscribe_scene is ADD_SCENE_QR_CODE, else NULL = organic; time =
 * subscribe_time) plus WeChat's own words in fan_backfill.
 *
 *  - never overwrites attribution recorded from events: a known openid is
 *    skipped before any call, and the insert does nothing on conflict;
 *  - keeps nothing personal beyond openid, scenes and time (no nickname,
 *    remark, unionid, avatar, language or tags); followers who left before
 *    user/info answered are not stored at all;
 *  - resumable: the next_openid cursor is committed after each page (the
 *    fans of a page are committed per batchget call), so a killed run
 *    continues where it stopped; idempotent: a rerun adds nothing;
 *  - rate-limited to [backfill] rate calls per second (default 10). */
#ifndef WXS_BACKFILL_H
#define WXS_BACKFILL_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"
#include "store.h"
#include "util.h"

#define BACKFILL_INFO_MAX 100 /* user/info/batchget user_list limit */

struct backfill_progress {
    int64_t total;   /* followers WeChat reports */
    int64_t seen;    /* openids walked in this walk (whole pages) */
    int64_t added;   /* fans recorded by this walk */
    int64_t known;   /* already known (events or an earlier walk) */
    int64_t gone;    /* unsubscribed before user/info answered */
    int64_t calls;   /* API calls made by this run */
    int64_t in_page; /* openids of the current page handled so far */
    bool resumed;    /* this run continued an interrupted walk */
    bool finished;   /* the walk reached the end */
};

struct backfill_opts {
    bool restart; /* forget an interrupted walk and start from the first follower */
    /* called after each page and each batchget call; may be NULL */
    void (*on_progress)(void *arg, const struct backfill_progress *p);
    void *arg;
    const atomic_bool *stop; /* checked between calls; may be NULL */
};

/* Run (or resume) the walk to its end. 0 = finished (or stopped), -1 with
 * err set (the walk stays resumable). p holds the figures either way. */
int backfill_run(const struct cfg *cfg, struct store *st, const struct backfill_opts *o,
                 struct backfill_progress *p, char *err, size_t errlen) WXS_MUSTCHECK;

/* The scene a user/info entry attributes the fan to, as the EventKey text
 * would carry it: 1 with out set for a parametric QR code, 0 for organic
 * (any other subscribe_scene, a QR code without scene, or a scene_str that
 * is not 1..64 bytes of printable UTF-8). */
int backfill_scene(const char *subscribe_scene, int64_t qr_scene, const char *qr_scene_str,
                   char *out, size_t outlen);
#endif
