/* cfg: the INI configuration, validated in full at load time and read-only
 * afterwards. Every key is one row of the table in cfg.c (section, name,
 * type, offset, default, range); unknown keys, missing required keys and bad
 * values are load errors naming the file, line and key. */
#ifndef WXS_CFG_H
#define WXS_CFG_H
#include <stdbool.h>
#include <stdint.h>
#include "util.h"

enum wx_mode { WX_MODE_PLAIN, WX_MODE_COMPAT, WX_MODE_SAFE };
enum store_sync { STORE_SYNC_NORMAL, STORE_SYNC_FULL };
enum store_backend { STORE_SQLITE, STORE_POSTGRESQL };

struct cfg {
    char *path; /* the file it was loaded from */

    /* [server] */
    char *listen;        /* host:port */
    char *callback_path; /* begins with '/' */
    int64_t max_body_bytes;
    int64_t timestamp_window; /* seconds, 0 = off */
    int64_t request_timeout;  /* seconds; idle/slow connections are closed */
    char *log_level;          /* debug | info | warn | error */
    char *log_file;           /* "" = stderr; relative = to the config's directory */
    char *trusted_proxies;    /* addresses/CIDRs whose X-Real-IP/X-Forwarded-For is logged */

    /* [wechat] */
    char *appid;
    char *appsecret;
    char *token;
    char *encoding_aes_key;
    char *encoding_aes_key_prev; /* previous key, accepted for decrypt during rotation */
    enum wx_mode mode;
    char *api_base;
    char *mp_base;
    bool stable_token;   /* use cgi-bin/stable_token instead of cgi-bin/token */
    int64_t api_timeout; /* seconds per WeChat API call */

    /* [store] */
    enum store_backend backend;
    /* backend = sqlite; a relative value is taken from the config's directory */
    char *store_path;
    enum store_sync synchronous; /* backend = sqlite */
    char *store_url;             /* backend = postgresql: libpq URI or conninfo */

    /* [reply] */
    char *reply_subscribe;
    char *reply_unknown_scene;

    /* [admin] */
    char *admin_listen;     /* empty = no admin listener */
    char *admin_token;      /* empty = the /api/ endpoints are disabled */
    char *admin_public_url; /* base of promoter links, "" = relative /p/TOKEN */

    /* [stats] */
    char *timezone;         /* account time zone, e.g. Asia/Shanghai */
    int64_t retention_days; /* retained-after-N-days window for promoters */

    /* [tag] */
    bool tag_worker;             /* wxscened runs the tagging outbox worker */
    int64_t tag_interval;        /* seconds between outbox sweeps */
    int64_t tag_batch_size;      /* openids per batchtagging call, 1..50 */
    int64_t tag_retry_base;      /* seconds before the first retry; doubled per attempt */
    int64_t tag_retry_max;       /* cap of the retry delay, seconds */
    bool followup_worker;        /* wxscened runs the follow-up outbox worker */
    int64_t followup_interval;   /* seconds between follow-up outbox sweeps */
    int64_t followup_retry_base; /* seconds before the first retry; doubled per attempt */
    int64_t followup_retry_max;  /* cap of the retry delay, seconds */

    /* [backfill] */
    int64_t backfill_rate; /* WeChat API calls per second */
};

/* Load and validate path (NULL: $WXSCENE_CONFIG, then ./wxscene.ini).
 * On failure returns -1 and writes "FILE:LINE: [section] key: reason" into
 * err. Environment secrets (WXSCENE_APPSECRET, WXSCENE_TOKEN,
 * WXSCENE_ENCODING_AES_KEY, WXSCENE_ADMIN_TOKEN) override the file.
 * The caller frees *out with cfg_free(). */
int cfg_load(struct cfg **out, const char *path, char *err, size_t errlen) WXS_MUSTCHECK;
void cfg_free(struct cfg *c);

/* The keys whose values differ between a and b, "[s] k, [s] k" ("" when
 * none): those a SIGHUP applies (reloadable) or those that need a restart.
 * Names only, never a value (some are secrets). */
void cfg_diff(const struct cfg *a, const struct cfg *b, bool reloadable, char *out, size_t outlen);

/* The path cfg_load would use for NULL. */
const char *cfg_default_path(void);

/* Split "host:port" (IPv4, [IPv6] or name) into host and port; -1 if bad. */
int cfg_split_hostport(const char *s, char *host, size_t hostlen, uint16_t *port) WXS_MUSTCHECK;
#endif
