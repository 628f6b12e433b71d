/* channel: the channel rules, in one place. A channel is one marketing
 * source (CONTRACT "Scenes and channels"): a scene, a name, an optional
 * promoter, replies and tag, active or archived. This module owns
 *  - what a scene is: a scene_id 1..4294967295 (1..100000 for permanent
 *    codes) or a scene_str of 1..64 bytes, read from an operator's text
 *    (CLI argument, CSV cell; --str forces a scene_str), from an admin
 *    JSON value (a number or a string) or from a push's EventKey;
 *  - the one validation of a channel's fields (lengths, UTF-8, control
 *    characters), whose messages the CLI, the admin API and the QR batch
 *    show as they are;
 *  - the channels table, through db.h on the store's connection.
 * Every other module asks here; none reads or writes channels itself. */
#ifndef WXS_CHANNEL_H
#define WXS_CHANNEL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "store.h"
#include "util.h"

struct json_t; /* jansson's json_t */

#define CHANNEL_SCENE_MAX    64          /* bytes of a scene_str */
#define CHANNEL_SCENE_ID_MAX 4294967295u /* a scene_id (temporary codes) */
#define CHANNEL_PERM_ID_MAX  100000u     /* a permanent code's scene_id */

/* Why a channel or its scene was refused, for an API that shows the
 * refusal in the reader's language: msg is the English text the CLI
 * prints, field the field it names (static, or NULL), code a stable key
 * "FIELD_KIND" (e.g. "name_required", "name_length", "tag_control",
 * "scene_range", "unknown_field"; docs/admin-api.md lists them) and, for a
 * length, the bounds and the length found. */
struct channel_why {
    const char *field;
    char code[48];
    int64_t min, max, len;
    char msg[512];
};

/* ---- scenes ---- */

enum channel_scene_kind {
    CHANNEL_SCENE_ID,  /* ASCII digits, no leading zero, 1..4294967295 */
    CHANNEL_SCENE_STR, /* anything else (or forced) */
};

/* A scene as codes carry it: its kind and its text as EventKey spells it
 * (the channels.scene key). */
struct channel_scene {
    enum channel_scene_kind kind;
    uint32_t id; /* CHANNEL_SCENE_ID: the number; 0 for a scene_str */
    char text[CHANNEL_SCENE_MAX + 1];
};

/* True when text spells a scene_id: ASCII digits, no leading zero, within
 * 1..4294967295. "007", "0" and "4294967296" are scene_strs. */
bool channel_scene_is_id(const char *text);

/* An operator's scene (CLI argument, CSV cell, admin JSON string): the text
 * rules of a scene_str (1..64 bytes of UTF-8, no blank or control
 * character), and a text of digits without a leading zero is a scene_id
 * that must fit 1..4294967295 unless force_str (--str, "str": true) makes
 * it a scene_str. 0, or -1 with "scene: why" in err. */
int channel_scene_from_text(struct channel_scene *out, const char *text, bool force_str, char *err,
                            size_t errlen) WXS_MUSTCHECK;

/* channel_scene_from_text() with the refusal in *w. */
int channel_scene_parse(struct channel_scene *out, const char *text, bool force_str,
                        struct channel_why *w) WXS_MUSTCHECK;

/* The admin API's "scene": a JSON integer 1..4294967295 (a scene_id, or a
 * scene_str of its digits with force_str) or a JSON string read as
 * channel_scene_from_text() reads the CLI's. Anything else (0, -1, 1.5,
 * 4294967296, true, null, a string with a NUL) is refused: -1 with
 * "scene: why" in err. */
int channel_scene_from_json(struct channel_scene *out, const struct json_t *v, bool force_str,
                            char *err, size_t errlen) WXS_MUSTCHECK;

/* Where a push's scene starts in its EventKey: subscribe "qrscene_X" and
 * SCAN "X" carry X (WeChat's spelling, taken as it is: a push is never
 * refused for its scene). -1 when the push carries none: a subscribe
 * without the prefix (organic), an empty key, or an X longer than
 * CHANNEL_SCENE_MAX bytes. Such a key (wx_xml takes up to 512 bytes) came
 * from no code, ours or anyone's (the QR API refuses longer scenes with
 * 40053); its push is still genuine as far as its signature goes, and
 * refusing it would lose it while no CONTRACT answer fits, so it is stored
 * and answered, only not attributed: a subscribe is organic, a SCAN
 * another event. */
int channel_scene_in_event_key(const char *event_key, bool subscribe);

/* A scene for a permanent code: a scene_id must be 1..100000 (a scene_str
 * has no range). 0, or -1 with "scene: why" in err. */
int channel_scene_check_perm(const struct channel_scene *s, char *err, size_t errlen) WXS_MUSTCHECK;

/* ---- channels ---- */

struct channel {
    char *scene; /* EventKey text; numeric scene_id or scene_str */
    char *name;
    char *promoter;   /* NULL = none */
    char *reply;      /* subscribe reply template, NULL = [reply] default, "" = none */
    char *scan_reply; /* SCAN reply template, NULL = same as reply */
    char *tag;        /* WeChat tag name, NULL = none */
    int64_t created_at;
    int64_t archived_at; /* 0 = active */
    char *followup_ids;  /* the live follow-ups' ids in order, "12,13,14"; NULL = none
                            (followup.c keeps it; schema/017) */
};
/* Bytes of channel.followup_ids at most, with its NUL (3 ids of 19 digits). */
#define CHANNEL_FOLLOWUP_IDS_MAX 64
/* Free the strings of a channel this module filled (channel_get, the rows
 * the CLI's import builds) and zero it. */
void channel_clear(struct channel *c);

/* A name or promoter as it is stored and compared: without the blanks
 * around it (ASCII and Unicode White_Space, U+3000 the ideographic space
 * included) and in Unicode NFC, so "张伟 " and "张伟", or an "é" typed as
 * e + U+0301 and one typed precomposed, are one promoter. Text that is not
 * UTF-8 comes back as it is (channel_validate refuses it). Caller frees;
 * NULL when s is NULL or out of memory. */
char *channel_text_tidy(const char *s);

/* Whether a and b (NULL = "") are the same name once tidied. */
bool channel_text_same(const char *a, const char *b);

/* Check every field of c: scene as a scene_str's text (1..64 bytes),
 * name 1..128, promoter 0..128, reply and scan_reply 0..2048, tag 0..30
 * bytes, all valid UTF-8 without control characters (tab and newline are
 * allowed outside the scene). The scene's kind is channel_scene_from_*'s
 * business. 0, or -1 with "FIELD: why" in err and, when field is not
 * NULL, *field = FIELD (static: "scene", "name", "promoter", "reply",
 * "scan_reply", "tag", the JSON keys and CSV columns). Name and promoter
 * are checked as channel_text_tidy() makes them (a name of blanks only is
 * empty), the form channel_add() stores. */
int channel_validate(const struct channel *c, const char **field, char *err,
                     size_t errlen) WXS_MUSTCHECK;

/* channel_validate() with the refusal in *w. */
int channel_check(const struct channel *c, struct channel_why *w) WXS_MUSTCHECK;

/* A new channel from the admin API's JSON object {"scene": 42 | "text",
 * "name", "promoter", "reply", "scan_reply", "tag", "str": bool}: every key
 * known, scene and name required, the others strings or null, then the
 * scene's kind and channel_validate(). c's strings point into obj and into
 * *scene (keep both alive; do not channel_clear() c). 0, or -1 with
 * "FIELD: why" in err and *field = FIELD (NULL for an unknown key). */
int channel_from_json(const struct json_t *obj, struct channel *c, struct channel_scene *scene,
                      const char **field, char *err, size_t errlen) WXS_MUSTCHECK;

/* channel_from_json() with the refusal in *w. */
int channel_from_json_why(const struct json_t *obj, struct channel *c, struct channel_scene *scene,
                          struct channel_why *w) WXS_MUSTCHECK;

/* A CSV header cell's column (channel import, qr batch): the English name
 * (scene, name, promoter, reply, scan_reply, tag; case ignored) or the
 * Chinese one a marketer writes (场景值, 名称, 推广员, 欢迎语, 扫码回复,
 * 标签), blanks around it ignored. The English name (static), or NULL. */
const char *channel_column(const char *cell);

/* {"scene", "name", "promoter", "reply", "scan_reply", "tag",
 * "created_at"} (absent optionals as null): the form the CLI's `channel
 * list --format json` and the admin API print. Caller json_decref()s;
 * NULL when out of memory. */
struct json_t *channel_to_json(const struct channel *c);

/* ---- the channels table (the store's connection, through db.h) ---- */

enum channel_state {
    CHANNEL_ACTIVE = 0,
    CHANNEL_ARCHIVED = 1,
    CHANNEL_ABSENT = 2,
};

/* Whatever its state: 0 found (*out filled, caller channel_clear()s it),
 * 1 not found, -1 error (store_errmsg() says why). */
int channel_get(struct store *st, const char *scene, struct channel *out) WXS_MUSTCHECK;

/* A batch's channel rows in one statement (a store with
 * store_batch_whole()): channel_cache_collect() makes channel_get() on st
 * note each scene asked for and answer "not found"; channel_cache_load()
 * reads the rows of every scene noted (one statement, inside the caller's
 * transaction) and channel_get() answers from them until
 * channel_cache_end(). 0 or -1 (out of memory, or store_errmsg()). */
int channel_cache_collect(struct store *st) WXS_MUSTCHECK;
int channel_cache_load(struct store *st) WXS_MUSTCHECK;
void channel_cache_end(struct store *st);

/* A channel_state, or -1 on error (store_errmsg()). */
int channel_state(struct store *st, const char *scene) WXS_MUSTCHECK;

#define CHANNEL_EEXISTS (-2)
/* Insert c (validate it first), its name and promoter tidied
 * (channel_text_tidy; a promoter of blanks only is stored as none);
 * created_at 0 = now. 0;
 * CHANNEL_EEXISTS with "channel SCENE exists" ("channel SCENE exists,
 * archived" when an archived channel holds the scene) without failing the
 * caller's transaction; -1 with the database's message in err. */
int channel_add(struct store *st, const struct channel *c, char *err, size_t errlen) WXS_MUSTCHECK;

/* channel_add() of n channels (validated, their scenes distinct, names
 * and promoters already as channel_text_tidy() makes them: the caller
 * tidies before its transaction, so the write lock is held for the
 * inserts only), inside the caller's transaction: on a database server in
 * a few multi-row statements (an import of 20,000 rows: ~80 round trips
 * to PostgreSQL rather than 20,000), on an embedded one (DB_CAP_EMBEDDED)
 * row by row through one cached statement, which is faster there.
 * A row whose scene is taken is not added: exists(i, "channel SCENE
 * exists[, archived]", arg) is called for it and the others go on. 0, or
 * -1 with the database's message in err. */
typedef void (*channel_exists_fn)(size_t i, const char *msg, void *arg);
int channel_add_many(struct store *st, const struct channel *const *cs, size_t n,
                     channel_exists_fn exists, void *arg, char *err, size_t errlen) WXS_MUSTCHECK;

/* A change to a channel: the fields whose bit is in `set` take c's value,
 * the others keep theirs. Scene and created_at never change. An empty (or
 * NULL) promoter, scan_reply or tag clears it (no promoter; scans get the
 * subscribe reply; no tag); an empty reply answers nothing and a NULL one
 * is [reply] subscribe, as channel_add stores them; a name cannot be
 * empty. */
enum {
    CHANNEL_SET_NAME = 1 << 0,
    CHANNEL_SET_PROMOTER = 1 << 1,
    CHANNEL_SET_REPLY = 1 << 2,
    CHANNEL_SET_SCAN_REPLY = 1 << 3,
    CHANNEL_SET_TAG = 1 << 4,
    CHANNEL_SET_ALL = (1 << 5) - 1,
};

#define CHANNEL_ENOTFOUND (-3)
#define CHANNEL_EARCHIVED (-4)
#define CHANNEL_EINVALID  (-5)
/* Edit the active channel `scene`: the result is checked as a whole by
 * channel_validate() (the rules and messages of channel add) and only the
 * fields in `set` are written, in one UPDATE, so a refused edit changes
 * nothing. The statistics follow the row: a report by promoter reads the
 * channel's promoter when it runs, so a new promoter gets the channel's
 * whole history; tags are armed from the channel's tag when a fan comes,
 * so fans already tagged (or queued) keep the old tag (README "Editing a
 * channel"). 0 (*out, when not NULL, filled with the channel as it now
 * is; caller channel_clear()s it); CHANNEL_ENOTFOUND "channel SCENE does
 * not exist"; CHANNEL_EARCHIVED "channel SCENE is archived: ...";
 * CHANNEL_EINVALID "FIELD: why" with *field = FIELD (as channel_validate;
 * NULL for an empty set); -1 with the database's message. The messages are
 * the CLI's and the admin API's. */
int channel_edit(struct store *st, const char *scene, const struct channel *c, unsigned set,
                 struct channel *out, const char **field, char *err, size_t errlen) WXS_MUSTCHECK;

/* channel_edit() with the refusal in *w (codes "not_found", "archived",
 * "nothing_to_change", "internal" or a field's). */
int channel_edit_why(struct store *st, const char *scene, const struct channel *c, unsigned set,
                     struct channel *out, struct channel_why *w) WXS_MUSTCHECK;

/* A change from the admin API's JSON object (PATCH): any of "name",
 * "promoter", "reply", "scan_reply", "tag" (a string, or null to clear an
 * optional one: reply null = [reply] subscribe); "scene" only when it is
 * the same scene (it cannot change). c's strings point into obj. 0 with
 * *set filled, or -1 with "FIELD: why" and *field = FIELD (a key no
 * channel has: that key, pointing into obj; NULL for an empty object). */
int channel_change_from_json(const struct json_t *obj, const char *scene, struct channel *c,
                             unsigned *set, const char **field, char *err,
                             size_t errlen) WXS_MUSTCHECK;

/* channel_change_from_json() with the refusal in *w. */
int channel_change_from_json_why(const struct json_t *obj, const char *scene, struct channel *c,
                                 unsigned *set, struct channel_why *w) WXS_MUSTCHECK;

/* Mark the channel archived at `at` (it keeps its history and its row). 0,
 * or -1 (store_errmsg()). */
int channel_archive(struct store *st, const char *scene, int64_t at) WXS_MUSTCHECK;

/* Free an archived channel's scene for reuse: the archived row's scene
 * becomes "SCENE~archived-AT". 0 (also when there is none) or -1. */
int channel_rename_archived(struct store *st, const char *scene) WXS_MUSTCHECK;

/* The active channels ordered by created_at, scene; fn gets a borrowed
 * channel and returns < 0 to stop. 0, or -1 when fn stopped or the
 * database failed (store_errmsg()). */
int channel_foreach(struct store *st, int (*fn)(const struct channel *c, void *arg),
                    void *arg) WXS_MUSTCHECK;
/* The same over every channel, archived ones too (archived_at set). */
int channel_foreach_all(struct store *st, int (*fn)(const struct channel *c, void *arg),
                        void *arg) WXS_MUSTCHECK;
#endif
