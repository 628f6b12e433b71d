/* qr_perm: the permanent scene id ledger (table qr_perm_ids). An account
 * gets 100000 permanent codes for ever, so ids are handed out lowest-free
 * first, kept while a code carries them, and only come back after the
 * channel is archived AND the operator confirms its printed codes are
 * gone: a recycled id on a forgotten poster would credit the new channel
 * with old scans.
 *
 * The ledger sits below qr.c: it knows the database (db.h) and nothing of
 * the QR API, so qr_create reserves through it and `wxscene qr perm-ids`
 * reads it without either including the other. Every function returns 0,
 * or a negative QR_PERM_E* with a one-line reason in err. */
#ifndef WXS_QR_PERM_H
#define WXS_QR_PERM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "db.h"
#include "util.h"

#define QR_PERM_ID_MAX 100000u

enum qr_perm_rc {
    QR_PERM_EDB = -1,       /* the database failed; err carries its message */
    QR_PERM_EINVALID = -2,  /* nothing to do: the id is already free */
    QR_PERM_ECONFLICT = -3, /* the ledger refuses: retired, in use, none left */
};

enum qr_perm_state { QR_PERM_FREE, QR_PERM_USED, QR_PERM_RETIRED };

int qr_perm_state(struct db *db, uint64_t id, enum qr_perm_state *out, char *err,
                  size_t errlen) WXS_MUSTCHECK;

/* ---- inside the caller's write transaction (qr_create, channel archive) ---- */

/* Mark id used. *inserted: this call added the row (false: a code, or an
 * interrupted run, held it already). QR_PERM_ECONFLICT when it is retired. */
int qr_perm_reserve(struct db *db, uint64_t id, bool *inserted, char *err,
                    size_t errlen) WXS_MUSTCHECK;
/* Undo a reservation whose code was never created: the row goes unless a
 * perm_id code of that scene is recorded. */
int qr_perm_unreserve(struct db *db, uint64_t id, char *err, size_t errlen) WXS_MUSTCHECK;
/* The lowest id that no ledger row, live channel or scannable code holds
 * (the next allocation); QR_PERM_ECONFLICT with *out = 0 when none is left. */
int qr_perm_next_free(struct db *db, uint64_t *out, char *err, size_t errlen) WXS_MUSTCHECK;
/* The channel of scene is being archived: if scene is a permanent id in
 * use, retire it (*retired = the id, else 0). */
int qr_perm_retire(struct db *db, const char *scene, uint64_t *retired, char *err,
                   size_t errlen) WXS_MUSTCHECK;

/* ---- their own transaction or a single read ---- */

/* The operator confirms a retired id's codes are gone: free it.
 * QR_PERM_EINVALID when it is free already, QR_PERM_ECONFLICT when used. */
int qr_perm_release(struct db *db, uint64_t id, char *err, size_t errlen) WXS_MUSTCHECK;

struct qr_perm_usage {
    int64_t ids_used;    /* scene ids carried by permanent codes */
    int64_t ids_retired; /* channels archived, awaiting the operator's confirmation */
    int64_t str_codes;   /* permanent scene_str codes (they count against the limit too) */
    int64_t ids_free;    /* QR_PERM_ID_MAX - used - retired */
    int64_t codes_left;  /* QR_PERM_ID_MAX - used - retired - str_codes */
};
int qr_perm_usage(struct db *db, struct qr_perm_usage *out, char *err, size_t errlen) WXS_MUSTCHECK;

/* Retired ids, oldest first. fn returning < 0 stops the walk and is
 * returned as is (err untouched: fn reports its own failure). */
int qr_perm_foreach_retired(struct db *db, int (*fn)(uint64_t id, int64_t retired_at, void *arg),
                            void *arg, char *err, size_t errlen) WXS_MUSTCHECK;
#endif
