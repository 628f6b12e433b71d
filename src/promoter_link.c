#include "promoter_link.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <openssl/sha.h>

#include "db.h"

static const struct db_query q_known = {
    "plink.known", "SELECT 1 FROM channels WHERE promoter = ?1 AND archived_at IS NULL LIMIT 1"};
static const struct db_query q_set = {
    "plink.set",
    "INSERT INTO promoter_links(promoter, token_sha256, created_at) VALUES(?1, ?2, ?3) "
    "ON CONFLICT(promoter) DO UPDATE SET token_sha256 = excluded.token_sha256, "
    "created_at = excluded.created_at"};
static const struct db_query q_delete = {"plink.delete",
                                         "DELETE FROM promoter_links WHERE promoter = ?1"};
static const struct db_query q_find = {
    "plink.find", "SELECT promoter, created_at FROM promoter_links WHERE token_sha256 = ?1"};
static const struct db_query q_all = {
    "plink.all", "SELECT promoter, created_at FROM promoter_links ORDER BY promoter"};

static void hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

void promoter_link_hash(const char *token, char hash[PROMOTER_LINK_HASH_LEN + 1])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, strlen(token), md);
    hex(md, sizeof(md), hash);
}

/* base64url (RFC 4648 section 5) without padding: 32 bytes -> 43 chars. */
int promoter_link_token(char token[PROMOTER_LINK_TOKEN_LEN + 1],
                        char hash[PROMOTER_LINK_HASH_LEN + 1])
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[33] = {0};
    size_t o = 0;
    if (RAND_bytes(raw, 32) != 1)
        return -1;
    for (size_t i = 0; i < 33; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        for (int k = 18; k >= 0 && o < PROMOTER_LINK_TOKEN_LEN; k -= 6)
            token[o++] = b64[(v >> k) & 63];
    }
    token[o] = '\0';
    promoter_link_hash(token, hash);
    return 0;
}

int promoter_link_known(struct store *st, const char *promoter)
{
    struct db_stmt *s = db_stmt(store_db(st), &q_known);
    db_bind_text(s, 1, promoter);
    int rc = db_step(s);
    db_reset(s);
    return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

int promoter_link_set(struct store *st, const char *promoter, const char *hash, int64_t created_at)
{
    struct db_stmt *s = db_stmt(store_db(st), &q_set);
    db_bind_text(s, 1, promoter);
    db_bind_text(s, 2, hash);
    db_bind_int64(s, 3, created_at);
    return db_run(s) < 0 ? -1 : 0;
}

int promoter_link_delete(struct store *st, const char *promoter)
{
    struct db *db = store_db(st);
    struct db_stmt *s = db_stmt(db, &q_delete);
    db_bind_text(s, 1, promoter);
    if (db_run(s) < 0)
        return -1;
    return db_changes(db) > 0 ? 0 : 1;
}

int promoter_link_find(struct store *st, const char *hash, char **promoter, int64_t *created_at)
{
    struct db_stmt *s = db_stmt(store_db(st), &q_find);
    db_bind_text(s, 1, hash);
    int rc = db_step(s), ret = rc == DB_DONE ? 1 : -1;
    if (rc == DB_ROW) {
        *promoter = db_col_strdup(s, 0);
        *created_at = db_col_int64(s, 1);
        ret = *promoter ? 0 : -1;
    }
    db_reset(s);
    return ret;
}

int promoter_link_foreach(struct store *st,
                          int (*fn)(const char *promoter, int64_t created_at, void *arg), void *arg)
{
    struct db_stmt *s = db_stmt(store_db(st), &q_all);
    int rc, ret = 0;
    while (ret == 0 && (rc = db_step(s)) == DB_ROW)
        ret = fn(db_col_text(s, 0) ? db_col_text(s, 0) : "", db_col_int64(s, 1), arg) < 0 ? -1 : 0;
    if (ret == 0 && rc != DB_DONE)
        ret = -1;
    db_reset(s);
    return ret;
}
