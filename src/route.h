/* route: what a push is and what to answer. A table of {MsgType, Event,
 * handler} rows (OpenSMTPD commands[]) decides the event kind, the scene
 * and the reply text; the first matching row wins. */
#ifndef WXS_ROUTE_H
#define WXS_ROUTE_H
#include <stdbool.h>
#include "cfg.h"
#include "channel.h"
#include "store.h"
#include "wx_xml.h"

#define ROUTE_DEDUP_MAX (WX_XML_ID_MAX + WX_XML_EVENT_MAX + WX_XML_KEY_MAX + 48)

struct route_out {
    enum ev_kind kind;
    int scene_off;    /* offset of the scene in the message's EventKey, -1 = none */
    bool has_reply;   /* false: answer "success" */
    bool untagged;    /* the scene's channel was looked up: none, or no tag */
    struct buf reply; /* the reply text when has_reply; caller buf_free()s */
    char dedup_key[ROUTE_DEDUP_MAX];
    /* the scene's channel was looked up: followups holds its follow-up
     * ids ("12,13,14"; "" = none) */
    bool followups_read;
    char followups[CHANNEL_FOLLOWUP_IDS_MAX];
};

/* Classify m, look up its channel and build the reply text. -1 only on a
 * store or memory failure (the caller answers 503). */
int route_message(const struct cfg *cfg, struct store *st, const struct wx_msg *m,
                  struct route_out *out) WXS_MUSTCHECK;

/* The scene of a routed message, or NULL (offset form, so both structs may
 * be copied or moved). */
static inline const char *route_scene(const struct route_out *r, const struct wx_msg *m)
{
    return r->scene_off < 0 ? NULL : m->event_key + r->scene_off;
}

/* The CONTRACT's dedup key of m into out (ROUTE_DEDUP_MAX bytes), the
 * event's name in its one spelling (route.c says which). */
void route_dedup_key(const struct wx_msg *m, char *out, size_t outlen);
#endif
