/* campaign: groups of channels read as one (a metro campaign of 50 station
 * codes, a trade fair of 12 booth codes). A campaign has a name, unique
 * once tidied as promoters are (channel_text_tidy: blanks around it
 * dropped, NFC), an optional note and its creation time; a channel is in
 * at most one campaign (channels.campaign_id, schema/015_campaigns.sql).
 * This module owns the campaigns table and that column: channel.c knows
 * nothing of campaigns, so the CLI and the admin API set a channel's
 * campaign here, in the same transaction as the channel's other fields.
 * Statistics by campaign (stats_query.c) read the channel's campaign when
 * the report runs: moving a channel moves its whole history. */
#ifndef WXS_CAMPAIGN_H
#define WXS_CAMPAIGN_H
#include <stdint.h>
#include "store.h"
#include "util.h"

struct json_t; /* jansson's json_t */

#define CAMPAIGN_NAME_MAX 128  /* bytes, tidied */
#define CAMPAIGN_NOTE_MAX 1024 /* bytes */

struct campaign {
    int64_t id;
    char *name;
    char *note; /* NULL = none */
    int64_t created_at;
    int64_t channels; /* active channels in it (campaign_foreach, campaign_get) */
};
/* Free the strings this module filled and zero c. */
void campaign_clear(struct campaign *c);

#define CAMPAIGN_EINVALID   (-12) /* "name: why" / "note: why" */
#define CAMPAIGN_EEXISTS    (-13) /* "campaign NAME exists" */
#define CAMPAIGN_ENOTFOUND  (-14) /* "campaign NAME does not exist (wxscene campaign add NAME)" */
#define CAMPAIGN_ENOCHANNEL (-15) /* "channel SCENE does not exist" / "... is archived ..." */

/* Check a name (1..CAMPAIGN_NAME_MAX bytes once tidied, UTF-8, no control
 * character) and a note (NULL, or 0..CAMPAIGN_NOTE_MAX bytes, tab and
 * newline allowed). 0, or CAMPAIGN_EINVALID with "name: why" or "note:
 * why" in err and *field = "name" / "note" when field is not NULL. */
int campaign_validate(const char *name, const char *note, const char **field, char *err,
                      size_t errlen) WXS_MUSTCHECK;

/* Create a campaign (validated, name tidied; a note of "" is none). 0 with
 * *out filled when out is not NULL (caller campaign_clear()s it);
 * CAMPAIGN_EINVALID, CAMPAIGN_EEXISTS (without failing the caller's
 * transaction), or -1 with the database's message in err. */
int campaign_add(struct store *st, const char *name, const char *note, struct campaign *out,
                 char *err, size_t errlen) WXS_MUSTCHECK;

/* The campaign named name (tidied before the lookup): 0 found (*out
 * filled; caller campaign_clear()s it), 1 none, -1 error (store_errmsg()). */
int campaign_get(struct store *st, const char *name, struct campaign *out) WXS_MUSTCHECK;

/* Every campaign by name, with its active channels counted; fn gets a
 * borrowed campaign and returns < 0 to stop. 0, or -1 when fn stopped or
 * the database failed (store_errmsg()). */
int campaign_foreach(struct store *st, int (*fn)(const struct campaign *c, void *arg),
                     void *arg) WXS_MUSTCHECK;

/* Put the active channel scene into the campaign named name, or into none
 * when name is NULL or "" (no implicit create: an unknown name is an
 * error). 0; CAMPAIGN_ENOTFOUND, CAMPAIGN_ENOCHANNEL with the message in
 * err; -1 with the database's message. */
int campaign_set_channel(struct store *st, const char *scene, const char *name, char *err,
                         size_t errlen) WXS_MUSTCHECK;

/* channel add / channel edit with a campaign, in one transaction (an
 * unknown campaign adds or changes nothing): channel_add(c) or, when set,
 * channel_edit(scene, c, set), then campaign_set_channel(scene, campaign)
 * unless campaign is NULL (not asked). The return codes and messages of
 * those functions (CHANNEL_* and CAMPAIGN_*); *field as channel_edit's;
 * out (edit, when not NULL) is the channel as it now is (caller
 * channel_clear()s it). */
struct channel;
int campaign_channel_add(struct store *st, const struct channel *c, const char *campaign, char *err,
                         size_t errlen) WXS_MUSTCHECK;
int campaign_channel_edit(struct store *st, const char *scene, const struct channel *c,
                          unsigned set, const char *campaign, struct channel *out,
                          const char **field, char *err, size_t errlen) WXS_MUSTCHECK;

/* The campaign of channel scene: 0 with *name (malloc'd, caller frees;
 * NULL = in none, or no such channel), -1 on error (store_errmsg()). */
int campaign_of_channel(struct store *st, const char *scene, char **name) WXS_MUSTCHECK;

/* {"name", "note", "channels", "created_at"} (note null when none). Caller
 * json_decref()s; NULL when out of memory. */
struct json_t *campaign_to_json(const struct campaign *c);

/* The admin API's {"name": "...", "note": "..." | null}: every key known,
 * name required. *name and *note point into obj. 0, or CAMPAIGN_EINVALID
 * with "FIELD: why" and *field = FIELD (the key, pointing into obj, for an
 * unknown one). */
int campaign_from_json(const struct json_t *obj, const char **name, const char **note,
                       const char **field, char *err, size_t errlen) WXS_MUSTCHECK;
#endif
