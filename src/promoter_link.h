/* promoter_link: a promoter's private read-only link (/p/TOKEN). The
 * token is 32 bytes of OpenSSL RAND_bytes in base64url (43 characters),
 * handed out once; the table promoter_links keeps only its SHA-256, so a
 * copy of the database opens no promoter page. One link per promoter: a
 * new one replaces the old. Everything through db.h on the caller's
 * connection. */
#ifndef WXS_PROMOTER_LINK_H
#define WXS_PROMOTER_LINK_H
#include <stddef.h>
#include <stdint.h>
#include "store.h"
#include "util.h"

#define PROMOTER_LINK_TOKEN_LEN 43 /* base64url of 32 bytes, no padding */
#define PROMOTER_LINK_HASH_LEN  64 /* hex SHA-256 */

/* A fresh token (NUL-terminated) and its hash. 0, or -1 when the random
 * generator fails. */
int promoter_link_token(char token[PROMOTER_LINK_TOKEN_LEN + 1],
                        char hash[PROMOTER_LINK_HASH_LEN + 1]) WXS_MUSTCHECK;
/* The hash of any text (a visitor's token, checked or not): lowercase hex
 * SHA-256 of its bytes. */
void promoter_link_hash(const char *token, char hash[PROMOTER_LINK_HASH_LEN + 1]);

/* Whether promoter (tidied) has an active channel: 1 yes, 0 no, -1 error. */
int promoter_link_known(struct store *st, const char *promoter) WXS_MUSTCHECK;
/* Store the link of promoter (replacing its older one). 0 or -1. */
int promoter_link_set(struct store *st, const char *promoter, const char *hash,
                      int64_t created_at) WXS_MUSTCHECK;
/* Revoke: 0 revoked, 1 there was none, -1 error. */
int promoter_link_delete(struct store *st, const char *promoter) WXS_MUSTCHECK;
/* The promoter of a hash: 0 (*promoter malloc'd, caller frees), 1 none,
 * -1 error. */
int promoter_link_find(struct store *st, const char *hash, char **promoter,
                       int64_t *created_at) WXS_MUSTCHECK;
/* Every link: fn(promoter, created_at, arg) < 0 stops. 0 or -1. */
int promoter_link_foreach(struct store *st,
                          int (*fn)(const char *promoter, int64_t created_at, void *arg),
                          void *arg) WXS_MUSTCHECK;
#endif
