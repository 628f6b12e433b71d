/* store: the wxscene database over the db.h layer (SQLite today).
 * Applies the embedded schema/NNN_*.sql migrations in order. Owns events
 * (deduplicated), fans (first-touch and latest attribution) and the group
 * commit of callback events. Sibling modules (channels, stats, the token
 * cache, tagging, QR codes) use store_db() for their own tables; what
 * they must do inside the commit's transaction they do as an event hook
 * the owner of the store registers (store_hook_add), so the store knows
 * none of them. One struct store per thread. */
#ifndef WXS_STORE_H
#define WXS_STORE_H
#include <stdbool.h>
#include <stdint.h>
#include "cfg.h"
#include "db.h"
#include "util.h"

struct store;

/* The store the configuration names: [store] backend = sqlite opens
 * [store] path, postgresql connects to [store] url. Applies the pending
 * migrations (PostgreSQL: under an advisory lock, so instances started
 * together never race). An error never quotes the url (it may hold a
 * password). */
int store_open_cfg(struct store **out, const struct cfg *cfg, char *err,
                   size_t errlen) WXS_MUSTCHECK;
/* A store by its address: "sqlite:PATH", a PostgreSQL URI
 * (postgresql://, postgres://) or conninfo (beginning with one of libpq's
 * keywords and '=': host=..., dbname=...), else a SQLite file PATH. For
 * `wxscene store copy --to URL`. */
int store_open_url(struct store **out, const char *url, enum store_sync sync, char *err,
                   size_t errlen) WXS_MUSTCHECK;
/* A SQLite file (tests and tools that name a file). */
int store_open(struct store **out, const char *path, enum store_sync sync, char *err,
               size_t errlen) WXS_MUSTCHECK;
/* An embedded database (SQLite): one writer, a WAL to checkpoint. */
bool store_embedded(struct store *st);
void store_close(struct store *st);
struct db *store_db(struct store *st);
/* The last database error message of this handle (for the edge's log line). */
const char *store_errmsg(struct store *st);
/* True when the database accepts a write (healthz). */
bool store_writable(struct store *st);

/* Inside a write transaction, before reading or writing anything of
 * openid's (its fans row, its scan days): where writers do not serialise
 * (several instances on PostgreSQL), wait for and hold to the commit the
 * openid's lock, which every push of that openid takes first too. Take
 * several in sorted order. 0, or -1 (db_errmsg() says why). */
int store_fan_lock(struct db *db, const char *openid) WXS_MUSTCHECK;

/* Whether openid is subscribed now, as its events said: 1, 0 (unsubscribed,
 * or never seen), -1 on error. For the follow-up worker (followup.c). */
int store_fan_subscribed(struct store *st, const char *openid) WXS_MUSTCHECK;

/* Run fn inside BEGIN IMMEDIATE .. COMMIT (ROLLBACK when fn returns < 0). */
/* The store's size in bytes for /metrics: SQLite's database file (its
 * pages, WAL not included), PostgreSQL's pg_database_size(). A query:
 * call it off the event loop. */
int store_size_bytes(struct store *st, int64_t *out) WXS_MUSTCHECK;

int store_tx(struct store *st, int (*fn)(struct store *st, void *arg), void *arg) WXS_MUSTCHECK;

/* ---- events ---- */
enum ev_kind {
    EV_SUBSCRIBE,   /* subscribe; scene set when EventKey was qrscene_X */
    EV_SCAN,        /* SCAN X by an existing fan */
    EV_UNSUBSCRIBE, /* scene = the fan's latest subscribe scene (filled by the store) */
    EV_MESSAGE,     /* any MsgType other than event */
    EV_OTHER,       /* other events (CLICK, VIEW, LOCATION, ...) */
};
const char *ev_kind_name(enum ev_kind k);

/* One callback push as it is committed. Strings are borrowed from the caller
 * for the duration of store_commit_events(). */
struct event_rec {
    /* in */
    const char *dedup_key; /* CONTRACT: events From+CreateTime+Event+EventKey; messages MsgId */
    enum ev_kind kind;
    const char *openid;
    int64_t create_time;
    const char *msg_type;
    const char *event;     /* "" for messages */
    const char *event_key; /* raw EventKey, "" if none */
    const char *scene;     /* NULL = none (organic subscribe, messages) */
    const char *reply;     /* reply text stored with the event, NULL = "success" */
    int64_t received_at;
    bool untagged; /* the caller saw, in this transaction, that the scene's
                      channel has no tag (or does not exist): no outbox row.
                      false = unknown, the tag hook looks itself */
    /* the scene's channel's follow-up ids as the caller read them in this
     * transaction (channels.followup_ids: "12,13,14"; "" = none, no outbox
     * row); NULL = unknown, the follow-up hook looks itself */
    const char *followups;
    /* out */
    bool duplicate;    /* already stored by an earlier delivery */
    char *prior_reply; /* duplicate: the reply stored the first time (malloc'd, may be NULL) */
    int64_t event_id;  /* rowid of the stored event (first delivery) */
};

/* Per-handle state a hook may keep across events (e.g. its prepared
 * statements, which must not be re-parsed per event): NULL until the hook
 * sets it; store_close() calls free_state(state) before closing the db.
 * end_batch, when set, runs once per batch with a state: before COMMIT with
 * commit = true (the hook writes what it held back; < 0 fails the batch),
 * or with commit = false when the batch is rolled back (drop it). */
struct store_hook_slot {
    void *state;
    void (*free_state)(void *state);
    int (*end_batch)(void *state, bool commit);
    /* A batch applied whole (store_batch_whole()) starts: its sorted,
     * distinct openids, the first event's time; the hook may send its own
     * reads ahead (db_send) with the batch's. Optional. */
    int (*begin_batch)(void *state, const char *const *openids, size_t n, int64_t t);
};

/* What the commit decided for one first-delivered event, handed to the
 * same-transaction hooks (rollups, tag outbox) registered with
 * store_hook_add(). Valid only during the call. */
struct event_applied {
    const struct event_rec *rec;
    const char *scene;       /* attributed scene (unsubscribe: the fan's latest), NULL = organic */
    bool is_new_fan;         /* subscribe by an openid never seen subscribing */
    bool fan_known;          /* the fan had a row before this event */
    bool fan_was_subscribed; /* ... and was subscribed */
    const char *prev_last_scene;  /* the fan's latest scene before this event */
    int64_t prev_last_sub_at;     /* ... and when (0 = never) */
    struct store_hook_slot *slot; /* the running hook's per-handle state */
    /* Per-batch application (DB_CAP_ARRAYS, store_batch.c): every openid of
     * the batch, sorted and distinct, each locked; a hook may read the rows
     * of all of them at its first event. NULL on the per-event path. */
    const char *const *batch_openids;
    size_t batch_nopenids;
};

/* A hook runs inside the commit's transaction; < 0 rolls the whole batch
 * back (and the batch is answered 503). */
typedef int (*store_event_hook)(struct db *db, const struct event_applied *ev);

/* The channel rows read for a batch in one statement (channel.c's
 * channel_cache_*), kept on the handle that applies the batch; NULL when
 * none. The handle frees it on close with free_fn. */
struct channel_cache;
struct channel_cache *store_channel_cache(struct store *st);
void store_set_channel_cache(struct store *st, struct channel_cache *c,
                             void (*free_fn)(struct channel_cache *c));
/* A store_batch_whole() store: send the reads of the events added so far
 * ahead (db_send), so that the caller's next statement that waits reads
 * them with its own answer; the commit applies them. 0 or -1 (the batch
 * must then be aborted). */
int store_batch_prefetch(struct store *st) WXS_MUSTCHECK;
/* Whether a batch is applied at its commit, whole (store_batch.c), rather
 * than event by event as store_batch_add() is called. */
bool store_batch_whole(struct store *st);

#define STORE_MAX_HOOKS 8
/* Register a hook on this handle; hooks run in the order added, for every
 * first-delivered event of store_commit_events() and store_batch_add().
 * -1 when STORE_MAX_HOOKS are there already. */
int store_hook_add(struct store *st, store_event_hook hook) WXS_MUSTCHECK;

/* Commit n events in one transaction (group commit), in order: dedup,
 * insert, update the fan's attribution and every same-transaction side
 * effect (rollups, tag outbox). On failure nothing is stored and -1 is
 * returned (the caller answers 503 to all of them). */
int store_commit_events(struct store *st, struct event_rec *recs, size_t n) WXS_MUSTCHECK;

/* The same transaction built one event at a time (the callback server's
 * commit thread stores each push as the loop hands it over): begin, add
 * each event (its outputs as above), then commit. After any -1 but
 * begin's, the batch must be aborted (store_errmsg() still says why
 * until then); nothing of it is stored and the caller frees every
 * prior_reply it was given. */
int store_batch_begin(struct store *st) WXS_MUSTCHECK;
int store_batch_add(struct store *st, struct event_rec *r) WXS_MUSTCHECK;
int store_batch_commit(struct store *st) WXS_MUSTCHECK;
/* Write what the hooks held back for the events added so far (rollup
 * deltas summed over them), so the commit has less to write; any number
 * of times before store_batch_commit(). A no-op on a backend without
 * serial writes: there the write-out waits for the commit (store.c). */
int store_batch_flush(struct store *st) WXS_MUSTCHECK;
void store_batch_abort(struct store *st);
#endif
