#include "route.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "channel.h"
#include "chreply.h"
#include "reply.h"

typedef int (*route_fn)(const struct cfg *cfg, struct store *st, const struct wx_msg *m,
                        struct route_out *out);

static int on_subscribe(const struct cfg *, struct store *, const struct wx_msg *,
                        struct route_out *);
static int on_scan(const struct cfg *, struct store *, const struct wx_msg *, struct route_out *);
static int on_unsubscribe(const struct cfg *, struct store *, const struct wx_msg *,
                          struct route_out *);
static int on_other(const struct cfg *, struct store *, const struct wx_msg *, struct route_out *);
static int on_message(const struct cfg *, struct store *, const struct wx_msg *,
                      struct route_out *);

/* One case rule for MsgType and Event, here and in wx_xml's required-field
 * check: ASCII case-insensitive (strcasecmp(); wxscened stays in the C
 * locale). WeChat sends exactly "event" and "subscribe", "SCAN",
 * "unsubscribe", but relays re-case them (some lower-case SCAN), and a
 * re-cased retry is the same push: its dedup key must be the same too. So
 * the key holds the event's one spelling: the matching row's (WeChat's
 * own, so a real push's key is what it always was, and what schema/007
 * rewrote old keys to), else the name in lower case. NULL matches
 * anything; the first matching row wins. */
static const struct route_row {
    const char *msg_type;
    const char *event;
    route_fn fn;
} routes[] = {
    {"event", "subscribe", on_subscribe},
    {"event", "SCAN", on_scan},
    {"event", "unsubscribe", on_unsubscribe},
    {"event", NULL, on_other},
    {NULL, NULL, on_message},
};

static const struct route_row *route_match(const struct wx_msg *m)
{
    for (size_t i = 0; i < WXS_ARRAY_LEN(routes) - 1; i++) {
        const struct route_row *r = &routes[i];
        if ((!r->msg_type || strcasecmp(r->msg_type, m->msg_type) == 0) &&
            (!r->event || strcasecmp(r->event, m->event) == 0))
            return r;
    }
    return &routes[WXS_ARRAY_LEN(routes) - 1]; /* matches anything */
}

/* s with ASCII capitals lowered, as util_puts() would put it. */
static char *put_lower(char *p, char *end, const char *s)
{
    for (; *s && p < end; s++)
        *p++ = (char)(*s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s);
    return p;
}

/* The CONTRACT's key of m, routed through row r (an event row when it
 * names a MsgType). */
static void dedup_key(const struct wx_msg *m, const struct route_row *r, char *out, size_t outlen)
{
    /* as snprintf would write them (cut at outlen - 1), without its cost */
    char *p = out, *end = out + outlen - 1;
    if (r->msg_type) {
        p = util_put_i64(util_puts(p, end, "e|"), end, m->create_time);
        p = util_puts(util_puts(p, end, "|"), end, m->from);
        p = util_puts(p, end, "|");
        p = r->event ? util_puts(p, end, r->event) : put_lower(p, end, m->event);
        p = util_puts(util_puts(p, end, "|"), end, m->event_key);
    } else if (m->msg_id[0]) {
        p = util_puts(util_puts(p, end, "m|"), end, m->msg_id);
    } else {
        p = util_puts(util_puts(p, end, "m|"), end, m->from);
        p = util_put_i64(util_puts(p, end, "|"), end, m->create_time);
    }
    *p = '\0';
}

void route_dedup_key(const struct wx_msg *m, char *out, size_t outlen)
{
    dedup_key(m, route_match(m), out, outlen);
}

/* Expand tmpl into the reply; an empty template means "say nothing". */
static int set_reply(struct route_out *out, const char *tmpl, const char *scene, const char *name)
{
    if (!tmpl || !*tmpl)
        return 0;
    buf_reset(&out->reply);
    if (reply_expand(&out->reply, tmpl, scene, name) < 0)
        return -1;
    out->has_reply = out->reply.len > 0;
    return 0;
}

/* The channel's news or image reply (chreply.h) in its stored form, when
 * it has one: 0 set, 1 none (its text answers), -1 error. */
static int kind_reply(struct store *st, const char *scene, const struct channel *ch,
                      struct route_out *out)
{
    struct chreply r;
    int rc = chreply_get(st, scene, &r);
    if (rc != 0)
        return rc;
    buf_reset(&out->reply);
    rc = chreply_encode(&r, scene, ch->name, &out->reply);
    chreply_clear(&r);
    out->has_reply = rc == 0;
    return rc;
}

/* The reply for a scanned scene: the channel's own text (scan_reply for
 * SCAN when set) or its news or image reply, else the [reply] defaults. */
static int scene_reply(const struct cfg *cfg, struct store *st, const struct wx_msg *m,
                       struct route_out *out, bool scan)
{
    const char *scene = route_scene(out, m);
    struct channel ch;
    int rc = channel_get(st, scene, &ch);
    if (rc < 0)
        return -1;
    out->untagged = rc == 1 || !ch.tag || !*ch.tag;
    /* an id list longer than the buffer (never written by followup.c) is
     * left to the hook's own look-up */
    const char *ids = rc == 1 || !ch.followup_ids ? "" : ch.followup_ids;
    out->followups_read = strlen(ids) < sizeof(out->followups);
    if (out->followups_read)
        memcpy(out->followups, ids, strlen(ids) + 1);
    if (rc == 1) /* a scene with no channel row */
        return set_reply(out, cfg->reply_unknown_scene, scene, NULL);
    const char *tmpl = (scan && ch.scan_reply) ? ch.scan_reply : ch.reply;
    if (!tmpl)
        tmpl = cfg->reply_subscribe;
    int ret = scan && ch.scan_reply ? 1 : kind_reply(st, scene, &ch, out);
    if (ret == 1)
        ret = set_reply(out, tmpl, scene, ch.name);
    channel_clear(&ch);
    return ret;
}

static int on_subscribe(const struct cfg *cfg, struct store *st, const struct wx_msg *m,
                        struct route_out *out)
{
    out->kind = EV_SUBSCRIBE;
    out->scene_off = channel_scene_in_event_key(m->event_key, true);
    if (out->scene_off >= 0)
        return scene_reply(cfg, st, m, out, false);
    return set_reply(out, cfg->reply_subscribe, NULL, NULL);
}

static int on_scan(const struct cfg *cfg, struct store *st, const struct wx_msg *m,
                   struct route_out *out)
{
    int off = channel_scene_in_event_key(m->event_key, false);
    if (off < 0)
        return on_other(cfg, st, m, out);
    out->kind = EV_SCAN;
    out->scene_off = off;
    return scene_reply(cfg, st, m, out, true);
}

static int on_unsubscribe(const struct cfg *cfg, struct store *st, const struct wx_msg *m,
                          struct route_out *out)
{
    out->kind = EV_UNSUBSCRIBE;
    return 0;
}

static int on_other(const struct cfg *cfg, struct store *st, const struct wx_msg *m,
                    struct route_out *out)
{
    out->kind = EV_OTHER;
    return 0;
}

static int on_message(const struct cfg *cfg, struct store *st, const struct wx_msg *m,
                      struct route_out *out)
{
    out->kind = EV_MESSAGE;
    return 0;
}

int route_message(const struct cfg *cfg, struct store *st, const struct wx_msg *m,
                  struct route_out *out)
{
    const struct route_row *r = route_match(m);
    memset(out, 0, sizeof(*out));
    out->scene_off = -1;
    dedup_key(m, r, out->dedup_key, sizeof(out->dedup_key));
    return r->fn(cfg, st, m, out);
}
