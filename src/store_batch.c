#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Every openid's lock (store.fan_lock's, in one statement), taken in the
 * order of the array: the caller sorts it (byte order, as backfill's
 * chunks are), so two instances take common locks in one order. */
static const struct db_query q_lock_all = {
    "store.batch_lock", "SELECT count(pg_advisory_xact_lock(7126, hashtext(o))) FROM "
                        "(SELECT o FROM unnest(?1::text[]) WITH ORDINALITY AS u(o, i) "
                        "ORDER BY i) s"};
/* The batch statements read by key (= ANY of an array): prepared while a
 * table is small, their generic plans would scan it whole for ever (every
 * fan and every event read per batch: measured, 1,700 pushes/s and
 * falling). The transaction's plans use the indexes. */
static const struct db_query q_no_seqscan = {"store.batch_no_seqscan",
                                             "SET LOCAL enable_seqscan = off"};
/* The batch's fans (t = 0) and the dedup keys already stored (t = 1), read
 * after the locks: nobody else changes those fans or adds those keys
 * until the commit; and an event id for each event of the batch (t = 2:
 * the insert then needs no answer, and the hooks have the ids; the
 * sequence is looked up once per statement, an initplan, not per id). */
static const struct db_query q_read = {
    "store.batch_read",
    "SELECT 0, openid, first_scene, first_sub_at, last_scene, last_sub_at, subscribed, "
    "unsub_at, subscribe_count FROM fans WHERE openid = ANY(?1::text[]) "
    "UNION ALL SELECT 1, dedup_key, reply, NULL, NULL, NULL, NULL, NULL, NULL "
    "FROM events WHERE dedup_key = ANY(?2::text[]) "
    "UNION ALL SELECT 2, nextval((SELECT pg_get_serial_sequence('events', 'id')::regclass))::text, "
    "NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM generate_series(1, ?3)"};
/* No ON CONFLICT: a key the read did not see means the locks did not
 * hold it (a bug); the unique violation fails the batch (503) rather than
 * count an event twice. */
static const struct db_query q_insert = {
    "store.batch_insert",
    "INSERT INTO events(id, dedup_key, kind, openid, create_time, received_at, msg_type, event, "
    "event_key, scene, is_new_fan, reply) SELECT * FROM unnest(?12::bigint[], ?1::text[], "
    "?2::int[], ?3::text[], ?4::bigint[], ?5::bigint[], ?6::text[], ?7::text[], ?8::text[], "
    "?9::text[], ?10::int[], ?11::text[])"};
/* Each changed fan's row as the batch left it. */
static const struct db_query q_fans = {
    "store.batch_fans",
    "INSERT INTO fans(openid, first_scene, first_sub_at, last_scene, last_sub_at, subscribed, "
    "unsub_at, subscribe_count) SELECT * FROM unnest(?1::text[], ?2::text[], ?3::bigint[], "
    "?4::text[], ?5::bigint[], ?6::int[], ?7::bigint[], ?8::bigint[]) "
    "ON CONFLICT(openid) DO UPDATE SET first_scene = excluded.first_scene, "
    "first_sub_at = excluded.first_sub_at, last_scene = excluded.last_scene, "
    "last_sub_at = excluded.last_sub_at, subscribed = excluded.subscribed, "
    "unsub_at = excluded.unsub_at, subscribe_count = excluded.subscribe_count"};

/* A fan's row as the events so far left it (fans' columns; has_* = not
 * NULL). */
struct fan_row {
    const char *openid; /* the batch's sorted, distinct openids */
    bool exists, dirty;
    char *first_scene, *last_scene;
    bool has_first_sub, has_last_sub, has_unsub;
    int64_t first_sub_at, last_sub_at, unsub_at, subscribe_count;
    bool subscribed;
};

/* A dedup key stored before this batch, and the reply stored with it. */
struct stored_key {
    char *key, *reply;
};

/* What the C pass decided for one event (index into the queue). */
struct decided {
    size_t i;
    const char *scene;
    bool is_new, fan_known, fan_was_subscribed;
    char *prev_last_scene; /* a copy: the fan's row moves on */
    int64_t prev_last_sub_at;
};

struct store_batch {
    struct event_rec **recs;
    size_t n, cap;
    bool sent;    /* store_batch_send() sent the reads of these events */
    int64_t *ids; /* t = 2 rows: ids for the new events, in order */
    size_t nids;
    /* per apply */
    const char **openids; /* sorted, distinct */
    size_t nopenids;
    struct fan_row *fans; /* parallel to openids */
    struct stored_key *stored;
    size_t nstored, stored_cap;
    struct decided *dec;
    size_t ndec;
};

int store_batch_queue(struct store_batch **bp, struct event_rec *r)
{
    struct store_batch *b = *bp;
    if (!b && !(b = *bp = calloc(1, sizeof(*b))))
        return -1;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        struct event_rec **p = realloc(b->recs, cap * sizeof(*p));
        if (!p)
            return -1;
        b->recs = p;
        b->cap = cap;
    }
    b->recs[b->n++] = r;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_stored(const void *a, const void *b)
{
    return strcmp(((const struct stored_key *)a)->key, ((const struct stored_key *)b)->key);
}

/* The per-apply state released; the queue kept unless drop. */
static void apply_clear(struct store_batch *b)
{
    for (size_t i = 0; i < b->nopenids; i++) {
        free(b->fans[i].first_scene);
        free(b->fans[i].last_scene);
    }
    for (size_t i = 0; i < b->nstored; i++) {
        free(b->stored[i].key);
        free(b->stored[i].reply);
    }
    for (size_t i = 0; i < b->ndec; i++)
        free(b->dec[i].prev_last_scene);
    free(b->openids);
    free(b->ids);
    b->ids = NULL;
    b->nids = 0;
    b->sent = false;
    free(b->fans);
    free(b->stored);
    free(b->dec);
    b->openids = NULL;
    b->fans = NULL;
    b->stored = NULL;
    b->dec = NULL;
    b->nopenids = b->nstored = b->stored_cap = b->ndec = 0;
}

void store_batch_drop(struct store_batch *b)
{
    if (!b)
        return;
    apply_clear(b);
    b->n = 0;
}

void store_batch_free(struct store_batch *b)
{
    if (!b)
        return;
    store_batch_drop(b);
    free(b->recs);
    free(b);
}

static struct fan_row *fan_find(struct store_batch *b, const char *openid)
{
    const char **p = bsearch(&openid, b->openids, b->nopenids, sizeof(*p), cmp_str);
    return p ? &b->fans[p - b->openids] : NULL;
}

/* The batch's distinct openids in byte order, and an empty row for each. */
static int collect_openids(struct store_batch *b)
{
    b->openids = malloc(b->n * sizeof(*b->openids));
    b->fans = calloc(b->n, sizeof(*b->fans));
    b->dec = calloc(b->n, sizeof(*b->dec));
    if (!b->openids || !b->fans || !b->dec)
        return -1;
    for (size_t i = 0; i < b->n; i++)
        b->openids[i] = b->recs[i]->openid;
    qsort(b->openids, b->n, sizeof(*b->openids), cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++)
        if (k == 0 || strcmp(b->openids[k - 1], b->openids[i]) != 0)
            b->openids[k++] = b->openids[i];
    b->nopenids = k;
    for (size_t i = 0; i < k; i++)
        b->fans[i].openid = b->openids[i];
    return 0;
}

static int64_t col_opt(struct db_stmt *s, int i, bool *has)
{
    *has = !db_col_null(s, i);
    return *has ? db_col_int64(s, i) : 0;
}

static int read_fan(struct store_batch *b, struct db_stmt *s)
{
    struct fan_row *f = fan_find(b, db_col_text(s, 1));
    if (!f)
        return 0; /* not asked for: cannot happen */
    f->exists = true;
    f->first_scene = db_col_strdup(s, 2);
    f->first_sub_at = col_opt(s, 3, &f->has_first_sub);
    f->last_scene = db_col_strdup(s, 4);
    f->last_sub_at = col_opt(s, 5, &f->has_last_sub);
    f->subscribed = db_col_int(s, 6) != 0;
    f->unsub_at = col_opt(s, 7, &f->has_unsub);
    f->subscribe_count = db_col_int64(s, 8);
    if ((!db_col_null(s, 2) && !f->first_scene) || (!db_col_null(s, 4) && !f->last_scene))
        return -1;
    return 0;
}

static int read_stored(struct store_batch *b, struct db_stmt *s)
{
    if (b->nstored == b->stored_cap) {
        size_t cap = b->stored_cap ? b->stored_cap * 2 : 16;
        struct stored_key *p = realloc(b->stored, cap * sizeof(*p));
        if (!p)
            return -1;
        b->stored = p;
        b->stored_cap = cap;
    }
    struct stored_key *k = &b->stored[b->nstored++];
    k->key = db_col_strdup(s, 1);
    k->reply = db_col_strdup(s, 2);
    return k->key && (k->reply || db_col_null(s, 2)) ? 0 : -1;
}

/* The locks and the read sent, their answers read with the next
 * statement that waits (each hook with begin_batch sends its own reads
 * along). */
static int send_reads(struct db *db, struct store_batch *b, struct store_hook_slot *slots,
                      size_t nhooks)
{
    const char **keys = malloc(b->n * sizeof(*keys));
    int ret = -1;
    if (!keys || collect_openids(b) < 0)
        goto done;
    for (size_t i = 0; i < b->n; i++)
        keys[i] = b->recs[i]->dedup_key;
    if (db_run_later(db_stmt(db, &q_no_seqscan)) < 0)
        goto done;
    struct db_stmt *l = db_stmt(db, &q_lock_all);
    db_bind_text_array(l, 1, b->openids, b->nopenids);
    if (db_run_later(l) < 0)
        goto done;
    struct db_stmt *s = db_stmt(db, &q_read);
    db_bind_text_array(s, 1, b->openids, b->nopenids);
    db_bind_text_array(s, 2, keys, b->n);
    db_bind_int64(s, 3, (int64_t)b->n);
    if (db_send(s) < 0)
        goto done;
    for (size_t h = 0; h < nhooks; h++)
        if (slots[h].begin_batch && slots[h].state &&
            slots[h].begin_batch(slots[h].state, b->openids, b->nopenids, b->recs[0]->create_time) <
                0)
            goto done;
    b->sent = true;
    ret = 0;
done:
    free(keys);
    return ret;
}

static int read_id(struct store_batch *b, struct db_stmt *s)
{
    if (!b->ids && !(b->ids = malloc(b->n * sizeof(*b->ids))))
        return -1;
    if (b->nids < b->n)
        b->ids[b->nids++] = db_col_int64(s, 1);
    return 0;
}

/* The answers of send_reads(): the fans, the stored keys, the ids. */
static int read_results(struct db *db, struct store_batch *b)
{
    static int (*const readers[])(struct store_batch * b,
                                  struct db_stmt * s) = {read_fan, read_stored, read_id};
    struct db_stmt *s = db_stmt(db, &q_read);
    int rc;
    while ((rc = db_step(s)) == DB_ROW) {
        unsigned t = (unsigned)db_col_int(s, 0);
        if (t >= WXS_ARRAY_LEN(readers) || readers[t](b, s) < 0)
            break;
    }
    db_reset(s);
    if (rc != DB_DONE || b->nids != b->n)
        return -1;
    if (b->nstored)
        qsort(b->stored, b->nstored, sizeof(*b->stored), cmp_stored);
    return 0;
}

/* A duplicate: stored before the batch, or earlier in it. 1 (prior_reply
 * set), 0 (new), -1 (out of memory). */
static int find_duplicate(struct store_batch *b, size_t upto, struct event_rec *r)
{
    struct stored_key key = {.key = (char *)r->dedup_key};
    struct stored_key *k =
        b->nstored ? bsearch(&key, b->stored, b->nstored, sizeof(*k), cmp_stored) : NULL;
    const char *reply = NULL;
    bool dup = k != NULL;
    if (k)
        reply = k->reply;
    for (size_t d = 0; !dup && d < upto; d++) {
        const struct event_rec *o = b->recs[b->dec[d].i];
        if (strcmp(o->dedup_key, r->dedup_key) == 0)
            dup = true, reply = o->reply;
    }
    if (!dup)
        return 0;
    r->duplicate = true;
    if (reply && !(r->prior_reply = strdup(reply)))
        return -1;
    return 1;
}

static int set_text(char **dst, const char *v)
{
    char *c = v ? strdup(v) : NULL;
    if (v && !c)
        return -1;
    free(*dst);
    *dst = c;
    return 0;
}

/* store.c's fan_subscribe / fan_unsubscribe on the row in memory. */
static int fan_apply(struct fan_row *f, const struct event_rec *r)
{
    if (r->kind == EV_SUBSCRIBE) {
        if (!f->exists || !f->has_first_sub) {
            if (set_text(&f->first_scene, r->scene) < 0)
                return -1;
            f->first_sub_at = r->create_time;
            f->has_first_sub = true;
        }
        if (set_text(&f->last_scene, r->scene) < 0)
            return -1;
        f->last_sub_at = r->create_time;
        f->has_last_sub = true;
        f->subscribed = true;
        f->has_unsub = false;
        f->subscribe_count = f->exists ? f->subscribe_count + 1 : 1;
        f->exists = f->dirty = true;
    } else if (r->kind == EV_UNSUBSCRIBE && f->exists) {
        f->subscribed = false;
        f->unsub_at = r->create_time;
        f->has_unsub = true;
        f->dirty = true;
    }
    return 0;
}

/* commit_one()'s decisions, event after event, on the rows in memory. */
static int decide(struct store_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        struct event_rec *r = b->recs[i];
        int dup = find_duplicate(b, b->ndec, r);
        if (dup < 0)
            return -1;
        if (dup)
            continue;
        struct fan_row *f = fan_find(b, r->openid);
        if (!f)
            return -1;
        bool fan_read = r->kind == EV_SUBSCRIBE || r->kind == EV_UNSUBSCRIBE;
        bool known = fan_read && f->exists;
        struct decided *d = &b->dec[b->ndec++];
        d->i = i;
        d->fan_known = known;
        d->fan_was_subscribed = known && f->subscribed;
        d->prev_last_sub_at = known ? f->last_sub_at : 0;
        if (known && f->last_scene && !(d->prev_last_scene = strdup(f->last_scene)))
            return -1;
        d->is_new = r->kind == EV_SUBSCRIBE && !(known && f->has_first_sub);
        d->scene = r->kind == EV_UNSUBSCRIBE ? d->prev_last_scene : r->scene;
        if (fan_apply(f, r) < 0)
            return -1;
    }
    return 0;
}

/* Column arrays of the new events (and of the changed fans) for the
 * multi-row statements; each text array holds pointers into the events. */
struct cols {
    const char **t[8];
    int64_t *v[4];
    char (*num)[24]; /* nullable integers written as text */
};

static void cols_free(struct cols *c)
{
    for (size_t k = 0; k < WXS_ARRAY_LEN(c->t); k++)
        free(c->t[k]);
    for (size_t k = 0; k < WXS_ARRAY_LEN(c->v); k++)
        free(c->v[k]);
    free(c->num);
}

static int cols_alloc(struct cols *c, size_t n, size_t nt, size_t nv, size_t nnum)
{
    *c = (struct cols){0};
    size_t m = n ? n : 1;
    for (size_t k = 0; k < nt; k++)
        if (!(c->t[k] = calloc(m, sizeof(*c->t[k]))))
            return -1;
    for (size_t k = 0; k < nv; k++)
        if (!(c->v[k] = calloc(m, sizeof(*c->v[k]))))
            return -1;
    if (nnum && !(c->num = calloc(m * nnum, sizeof(*c->num))))
        return -1;
    return 0;
}

/* One multi-row insert with the ids read ahead, its answer read later. */
static int insert_events(struct db *db, struct store_batch *b)
{
    struct cols c;
    int ret = -1;
    size_t n = b->ndec;
    if (cols_alloc(&c, n, 7, 4, 0) < 0)
        goto done;
    for (size_t k = 0; k < n; k++) {
        const struct decided *d = &b->dec[k];
        struct event_rec *r = b->recs[d->i];
        r->event_id = b->ids[k];
        c.t[0][k] = r->dedup_key;
        c.v[0][k] = (int)r->kind;
        c.t[1][k] = r->openid;
        c.v[1][k] = r->create_time;
        c.v[2][k] = r->received_at;
        c.t[2][k] = r->msg_type;
        c.t[3][k] = r->event ? r->event : "";
        c.t[4][k] = r->event_key ? r->event_key : "";
        c.t[5][k] = d->scene;
        c.v[3][k] = d->is_new;
        c.t[6][k] = r->reply;
    }
    struct db_stmt *s = db_stmt(db, &q_insert);
    db_bind_text_array(s, 1, c.t[0], n);
    db_bind_int64_array(s, 2, c.v[0], n);
    db_bind_text_array(s, 3, c.t[1], n);
    db_bind_int64_array(s, 4, c.v[1], n);
    db_bind_int64_array(s, 5, c.v[2], n);
    db_bind_text_array(s, 6, c.t[2], n);
    db_bind_text_array(s, 7, c.t[3], n);
    db_bind_text_array(s, 8, c.t[4], n);
    db_bind_text_array(s, 9, c.t[5], n);
    db_bind_int64_array(s, 10, c.v[3], n);
    db_bind_text_array(s, 11, c.t[6], n);
    db_bind_int64_array(s, 12, b->ids, n);
    ret = db_run_later(s) < 0 ? -1 : 0;
done:
    cols_free(&c);
    return ret;
}

static const char *opt_num(char *out, bool has, int64_t v)
{
    if (!has)
        return NULL;
    *util_put_i64(out, out + 23, v) = '\0';
    return out;
}

/* One multi-row upsert of the changed fans, its answer read later. */
static int write_fans(struct db *db, struct store_batch *b)
{
    struct cols c;
    size_t n = 0;
    int ret = -1;
    if (cols_alloc(&c, b->nopenids, 7, 2, 3) < 0)
        goto done;
    for (size_t i = 0; i < b->nopenids; i++) {
        const struct fan_row *f = &b->fans[i];
        if (!f->dirty)
            continue;
        c.t[0][n] = f->openid;
        c.t[1][n] = f->first_scene;
        c.t[2][n] = opt_num(c.num[3 * n], f->has_first_sub, f->first_sub_at);
        c.t[3][n] = f->last_scene;
        c.t[4][n] = opt_num(c.num[3 * n + 1], f->has_last_sub, f->last_sub_at);
        c.v[0][n] = f->subscribed;
        c.t[5][n] = opt_num(c.num[3 * n + 2], f->has_unsub, f->unsub_at);
        c.v[1][n] = f->subscribe_count;
        n++;
    }
    if (n == 0) {
        ret = 0;
        goto done;
    }
    struct db_stmt *s = db_stmt(db, &q_fans);
    db_bind_text_array(s, 1, c.t[0], n);
    db_bind_text_array(s, 2, c.t[1], n);
    db_bind_text_array(s, 3, c.t[2], n);
    db_bind_text_array(s, 4, c.t[3], n);
    db_bind_text_array(s, 5, c.t[4], n);
    db_bind_int64_array(s, 6, c.v[0], n);
    db_bind_text_array(s, 7, c.t[5], n);
    db_bind_int64_array(s, 8, c.v[1], n);
    ret = db_run_later(s) < 0 ? -1 : 0;
done:
    cols_free(&c);
    return ret;
}

static int run_hooks(struct db *db, struct store_batch *b, const store_event_hook *hooks,
                     struct store_hook_slot *slots, size_t nhooks)
{
    for (size_t k = 0; k < b->ndec; k++) {
        const struct decided *d = &b->dec[k];
        struct event_applied ev = {.rec = b->recs[d->i],
                                   .scene = d->scene,
                                   .is_new_fan = d->is_new,
                                   .fan_known = d->fan_known,
                                   .fan_was_subscribed = d->fan_was_subscribed,
                                   .prev_last_scene = d->prev_last_scene,
                                   .prev_last_sub_at = d->prev_last_sub_at,
                                   .batch_openids = b->openids,
                                   .batch_nopenids = b->nopenids};
        for (size_t h = 0; h < nhooks; h++) {
            ev.slot = &slots[h];
            if (hooks[h](db, &ev) < 0)
                return -1;
        }
    }
    return 0;
}

int store_batch_send(struct db *db, struct store_batch *b, struct store_hook_slot *slots,
                     size_t nhooks)
{
    if (!b || b->n == 0 || b->sent)
        return 0;
    apply_clear(b);
    return send_reads(db, b, slots, nhooks);
}

int store_batch_apply(struct db *db, struct store_batch *b, const store_event_hook *hooks,
                      struct store_hook_slot *slots, size_t nhooks)
{
    int ret = -1;
    if (!b || b->n == 0)
        return 0;
    if (!b->sent && store_batch_send(db, b, slots, nhooks) < 0)
        goto done;
    if (read_results(db, b) < 0 || decide(b) < 0)
        goto done;
    if (b->ndec && (insert_events(db, b) < 0 || write_fans(db, b) < 0 ||
                    run_hooks(db, b, hooks, slots, nhooks) < 0))
        goto done;
    ret = 0;
done:
    if (ret < 0)
        log_debug("store: batch of %zu: %s", b->n, db_errmsg(db));
    b->n = 0; /* the openids stay until the next batch: the hooks' end of
                 batch (after this) still reads them */
    b->sent = false;
    return ret;
}
