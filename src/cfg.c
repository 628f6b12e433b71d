#include "cfg.h"

#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <ini.h>

#include "log.h"
#include "netmask.h"

enum cfg_type { T_STR, T_INT, T_BOOL, T_MODE, T_SYNC, T_BACKEND };

#define F_REQUIRED 0x1 /* must be set (file or environment) */
#define F_SECRET   0x4 /* a secret: no example placeholder, not in a world-readable file */
#define F_RELOAD   0x8 /* a SIGHUP applies it without a restart */
#define F_PATH     0x2 /* a file path: a relative one is relative to the config's directory */

/* One row per key (redis static_configs[], pgbouncer CfKey[]): the whole
 * surface in one place, so a key is documented, defaulted and validated
 * exactly once. */
struct cfg_key {
    const char *section;
    const char *name;
    enum cfg_type type;
    size_t offset;
    const char *def;  /* default as text, parsed like a file value; NULL = none */
    int64_t min, max; /* T_INT range; T_STR byte length range */
    int flags;
    const char *env; /* environment variable that overrides the file */
};

#define OFF(f) offsetof(struct cfg, f)
static const struct cfg_key cfg_keys[] = {
    {"server", "listen", T_STR, OFF(listen), "127.0.0.1:8080", 3, 262, 0, NULL},
    {"server", "callback_path", T_STR, OFF(callback_path), "/wx", 1, 256, 0, NULL},
    {"server", "max_body_bytes", T_INT, OFF(max_body_bytes), "65536", 1024, 16777216, 0, NULL},
    {"server", "timestamp_window", T_INT, OFF(timestamp_window), "300", 0, 86400 * 365, 0, NULL},
    {"server", "request_timeout", T_INT, OFF(request_timeout), "10", 1, 3600, 0, NULL},
    {"server", "log_level", T_STR, OFF(log_level), "info", 4, 5, F_RELOAD, NULL},
    {"server", "log_file", T_STR, OFF(log_file), "", 0, 4096, F_PATH | F_RELOAD, NULL},
    {"server", "trusted_proxies", T_STR, OFF(trusted_proxies), "127.0.0.1 ::1", 0, 1024, 0, NULL},
    {"wechat", "appid", T_STR, OFF(appid), "", 0, 64, 0, NULL},
    {"wechat", "appsecret", T_STR, OFF(appsecret), "", 0, 128, F_SECRET, "WXSCENE_APPSECRET"},
    {"wechat", "token", T_STR, OFF(token), NULL, 3, 32, F_REQUIRED | F_SECRET, "WXSCENE_TOKEN"},
    {"wechat", "encoding_aes_key", T_STR, OFF(encoding_aes_key), "", 0, 43, F_SECRET,
     "WXSCENE_ENCODING_AES_KEY"},
    {"wechat", "encoding_aes_key_prev", T_STR, OFF(encoding_aes_key_prev), "", 0, 43, F_SECRET,
     "WXSCENE_ENCODING_AES_KEY_PREV"},
    {"wechat", "mode", T_MODE, OFF(mode), "plain", 0, 0, 0, NULL},
    {"wechat", "api_base", T_STR, OFF(api_base), "https://api.weixin.qq.com", 8, 512, 0, NULL},
    {"wechat", "mp_base", T_STR, OFF(mp_base), "https://mp.weixin.qq.com", 8, 512, 0, NULL},
    {"wechat", "stable_token", T_BOOL, OFF(stable_token), "false", 0, 0, 0, NULL},
    {"wechat", "api_timeout", T_INT, OFF(api_timeout), "10", 1, 300, 0, NULL},
    {"store", "backend", T_BACKEND, OFF(backend), "sqlite", 0, 0, 0, NULL},
    {"store", "path", T_STR, OFF(store_path), "var/wxscene.db", 1, 4096, F_PATH, NULL},
    {"store", "synchronous", T_SYNC, OFF(synchronous), "normal", 0, 0, 0, NULL},
    {"store", "url", T_STR, OFF(store_url), "", 0, 4096, F_SECRET, "WXSCENE_STORE_URL"},
    {"reply", "subscribe", T_STR, OFF(reply_subscribe), "Welcome!", 0, 2048, F_RELOAD, NULL},
    {"reply", "unknown_scene", T_STR, OFF(reply_unknown_scene), "Welcome from channel {scene}", 0,
     2048, F_RELOAD, NULL},
    {"admin", "listen", T_STR, OFF(admin_listen), "127.0.0.1:8081", 0, 262, 0, NULL},
    {"admin", "token", T_STR, OFF(admin_token), "", 0, 256, F_SECRET, "WXSCENE_ADMIN_TOKEN"},
    {"admin", "public_url", T_STR, OFF(admin_public_url), "", 0, 512, 0, NULL},
    {"stats", "timezone", T_STR, OFF(timezone), "Asia/Shanghai", 1, 64, 0, NULL},
    {"stats", "retention_days", T_INT, OFF(retention_days), "7", 1, 3650, 0, NULL},
    {"tag", "worker", T_BOOL, OFF(tag_worker), "true", 0, 0, 0, NULL},
    {"tag", "interval", T_INT, OFF(tag_interval), "5", 1, 3600, 0, NULL},
    {"tag", "batch_size", T_INT, OFF(tag_batch_size), "50", 1, 50, 0, NULL},
    {"tag", "retry_base", T_INT, OFF(tag_retry_base), "30", 1, 86400, 0, NULL},
    {"tag", "retry_max", T_INT, OFF(tag_retry_max), "3600", 1, 604800, 0, NULL},
    {"followup", "worker", T_BOOL, OFF(followup_worker), "true", 0, 0, 0, NULL},
    {"followup", "interval", T_INT, OFF(followup_interval), "2", 1, 3600, 0, NULL},
    {"followup", "retry_base", T_INT, OFF(followup_retry_base), "30", 1, 86400, 0, NULL},
    {"followup", "retry_max", T_INT, OFF(followup_retry_max), "3600", 1, 604800, 0, NULL},
    {"backfill", "rate", T_INT, OFF(backfill_rate), "10", 1, 1000, 0, NULL},
};

/* The field of a T_STR key in c. */
static char **cfg_str(const struct cfg *c, const struct cfg_key *k)
{
    return (char **)((char *)c + k->offset);
}
#undef OFF

/* Where each key's value came from, for the error that names it. */
#define FROM_DEFAULT 0    /* not set: the table's default */
#define FROM_ENV     (-1) /* the key's environment variable */
/* any other value: the file line that set it */

struct cfg_load_state {
    struct cfg *cfg;
    FILE *f;
    int line;         /* the file line being parsed, counted by cfg_read_line */
    char section[64]; /* its section, for a line too long for inih */
    int from[WXS_ARRAY_LEN(cfg_keys)];
    char *err; /* first error message, without the line */
    size_t errlen;
    int err_line; /* the line of that error */
    bool failed;
};

static const struct cfg_key *cfg_find(const char *section, const char *name, size_t *idx)
{
    for (size_t i = 0; i < WXS_ARRAY_LEN(cfg_keys); i++) {
        if (strcmp(cfg_keys[i].section, section) == 0 && strcmp(cfg_keys[i].name, name) == 0) {
            *idx = i;
            return &cfg_keys[i];
        }
    }
    return NULL;
}

static int parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < WXS_ARRAY_LEN(yes); i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return *out = true, 0;
        if (strcasecmp(v, no[i]) == 0)
            return *out = false, 0;
    }
    return -1;
}

/* Parse one value into its field; on error write the reason to why. */
static int cfg_set(struct cfg *c, const struct cfg_key *k, const char *v, char *why, size_t wl)
{
    char *field = (char *)c + k->offset;
    size_t len = strlen(v);
    switch (k->type) {
    case T_STR: {
        if ((int64_t)len < k->min || (int64_t)len > k->max) {
            snprintf(why, wl, "length %zu is outside %lld..%lld", len, (long long)k->min,
                     (long long)k->max);
            return -1;
        }
        char *dup = strdup(v);
        if (!dup)
            return snprintf(why, wl, "out of memory"), -1;
        free(*(char **)field);
        *(char **)field = dup;
        return 0;
    }
    case T_INT:
        if (util_parse_i64(v, k->min, k->max, (int64_t *)field) < 0) {
            snprintf(why, wl, "'%s' is not an integer in %lld..%lld", v, (long long)k->min,
                     (long long)k->max);
            return -1;
        }
        return 0;
    case T_BOOL:
        if (parse_bool(v, (bool *)field) < 0)
            return snprintf(why, wl, "'%s' is not true or false", v), -1;
        return 0;
    case T_MODE:
        if (strcmp(v, "plain") == 0)
            *(enum wx_mode *)field = WX_MODE_PLAIN;
        else if (strcmp(v, "compat") == 0)
            *(enum wx_mode *)field = WX_MODE_COMPAT;
        else if (strcmp(v, "safe") == 0)
            *(enum wx_mode *)field = WX_MODE_SAFE;
        else
            return snprintf(why, wl, "'%s' is not plain, compat or safe", v), -1;
        return 0;
    case T_SYNC:
        if (strcmp(v, "normal") == 0)
            *(enum store_sync *)field = STORE_SYNC_NORMAL;
        else if (strcmp(v, "full") == 0)
            *(enum store_sync *)field = STORE_SYNC_FULL;
        else
            return snprintf(why, wl, "'%s' is not normal or full", v), -1;
        return 0;
    case T_BACKEND:
        if (strcmp(v, "sqlite") == 0)
            *(enum store_backend *)field = STORE_SQLITE;
        else if (strcmp(v, "postgresql") == 0)
            *(enum store_backend *)field = STORE_POSTGRESQL;
        else
            return snprintf(why, wl, "'%s' is not sqlite or postgresql", v), -1;
        return 0;
    }
    return -1;
}

/* The first error of the file, at the line being parsed. */
static void cfg_fail_at(struct cfg_load_state *s, const char *section, const char *name,
                        const char *why)
{
    if (!s->failed) {
        snprintf(s->err, s->errlen, "[%s] %s: %s", section, name, why);
        s->err_line = s->line;
    }
    s->failed = true;
}

/* inih handler: records the line of each key; returning 0 marks an error. */
static int cfg_ini_handler(void *user, const char *section, const char *name, const char *value)
{
    struct cfg_load_state *s = user;
    size_t idx;
    char why[256];
    const struct cfg_key *k = cfg_find(section, name, &idx);
    if (!k) {
        snprintf(why, sizeof(why), "unknown key");
    } else if (s->from[idx] != FROM_DEFAULT) {
        snprintf(why, sizeof(why), "set twice (first on line %d)", s->from[idx]);
    } else if (cfg_set(s->cfg, k, value, why, sizeof(why)) == 0) {
        s->from[idx] = s->line;
        return 1;
    }
    cfg_fail_at(s, section, name, why);
    return 0;
}

/* The key of a line too long for inih ("name = ..."), for its error. */
static void cfg_line_key(const char *line, char *name, size_t namelen)
{
    size_t n = strcspn(line, "=:");
    while (n > 0 && isspace((unsigned char)line[n - 1]))
        n--;
    while (n > 0 && isspace((unsigned char)*line))
        line++, n--;
    snprintf(name, namelen, "%.*s", (int)n, line);
}

/* inih's reader: fgets that counts the file's lines (inih numbers its
 * reads, so the rest of a line longer than its buffer would be parsed as a
 * line of its own, "syntax error" one line further on). Such a line is an
 * error naming it and its key, and ends the parse. */
static char *cfg_read_line(char *str, int num, void *arg)
{
    struct cfg_load_state *s = arg;
    if (!fgets(str, num, s->f))
        return NULL;
    s->line++;
    size_t n = strlen(str);
    int next = n + 1 == (size_t)num && str[n - 1] != '\n' ? getc(s->f) : EOF;
    if (next != EOF && next != '\n') { /* a newline just after it is read with it */
        char name[64], why[96];
        cfg_line_key(str, name, sizeof(name));
        snprintf(why, sizeof(why), "line longer than %d bytes", num - 1);
        cfg_fail_at(s, s->section, name, why);
        return NULL;
    }
    const char *p = str + strspn(str, " \t");
    if (*p == '[')
        snprintf(s->section, sizeof(s->section), "%.*s", (int)strcspn(p + 1, "]\r\n"), p + 1);
    return str;
}

static bool str_is_alnum(const char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s))
            return false;
    return true;
}

static bool str_is_base64ish(const char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '+' && *s != '/')
            return false;
    return true;
}

/* Every placeholder of etc/wxscene.ini.example begins with this: a file
 * copied without filling one in must not start with a secret anyone can
 * read in the repository (CHANGE_ME_ADMIN would open the admin API). */
#define CFG_PLACEHOLDER "CHANGE_ME"

/* The row of a key the rules below name. */
static size_t cfg_index(const char *section, const char *name)
{
    size_t idx = 0;
    const struct cfg_key *k = cfg_find(section, name, &idx);
    assert(k); /* the rules name rows of the table */
    (void)k;
    return idx;
}

/* A broken rule: the key it is about, the key whose line to show (the
 * same, or the one that made it required), and why. */
struct cfg_rule_error {
    size_t key, at;
    char why[256];
};

static int cfg_rule(struct cfg_rule_error *e, const char *section, const char *name,
                    const char *at_name, const char *fmt, ...) WXS_PRINTF(5, 6);
static int cfg_rule(struct cfg_rule_error *e, const char *section, const char *name,
                    const char *at_name, const char *fmt, ...)
{
    va_list ap;
    e->key = cfg_index(section, name);
    e->at = at_name ? cfg_index(section, at_name) : e->key;
    va_start(ap, fmt);
    vsnprintf(e->why, sizeof(e->why), fmt, ap);
    va_end(ap);
    return -1;
}

/* [admin] public_url: where the promoter links are published (nginx in
 * front), e.g. https://wx.example.com or https://example.com/wx: http(s),
 * a host, no query, fragment, blank or control character. A trailing '/'
 * is allowed (links never get two). */
static int cfg_public_url_check(const char *u)
{
    size_t skip = strncmp(u, "https://", 8) == 0 ? 8 : strncmp(u, "http://", 7) == 0 ? 7 : 0;
    if (!skip || !u[skip] || u[skip] == '/' || strpbrk(u, "?#") != NULL)
        return -1;
    for (const unsigned char *p = (const unsigned char *)u; *p; p++)
        if (*p <= ' ' || *p == 0x7f || *p == '"' || *p == '<' || *p == '>' || *p == '\\')
            return -1;
    return 0;
}

/* Rules that span keys or need more than a range. */
static int cfg_check(const struct cfg *c, struct cfg_rule_error *e)
{
    char host[256];
    uint16_t port;
    enum log_level lvl;
    for (size_t i = 0; i < WXS_ARRAY_LEN(cfg_keys); i++) {
        const struct cfg_key *k = &cfg_keys[i];
        const char *v = *cfg_str(c, k);
        if ((k->flags & F_SECRET) && v &&
            strncasecmp(v, CFG_PLACEHOLDER, strlen(CFG_PLACEHOLDER)) == 0)
            return cfg_rule(e, k->section, k->name, NULL,
                            "'%s' is the example's placeholder: set your own secret", v);
    }
    if (!str_is_alnum(c->token))
        return cfg_rule(e, "wechat", "token", NULL, "must be 3..32 characters [A-Za-z0-9]");
    if (cfg_split_hostport(c->listen, host, sizeof(host), &port) < 0)
        return cfg_rule(e, "server", "listen", NULL, "'%s' is not host:port", c->listen);
    if (c->admin_listen[0] && cfg_split_hostport(c->admin_listen, host, sizeof(host), &port) < 0)
        return cfg_rule(e, "admin", "listen", NULL, "'%s' is not host:port", c->admin_listen);
    if (c->admin_public_url[0] && cfg_public_url_check(c->admin_public_url) < 0)
        return cfg_rule(e, "admin", "public_url", NULL,
                        "'%s' is not an http:// or https:// URL with a host and no query or "
                        "fragment",
                        c->admin_public_url);
    if (c->callback_path[0] != '/' || strpbrk(c->callback_path, "?# \t") != NULL)
        return cfg_rule(e, "server", "callback_path", NULL,
                        "must start with / and contain no ?, #, blanks");
    if (log_parse_level(c->log_level, &lvl) < 0)
        return cfg_rule(e, "server", "log_level", NULL, "'%s' is not debug, info, warn or error",
                        c->log_level);
    struct netmask_list *proxies = NULL;
    char why[128];
    if (netmask_list_parse(c->trusted_proxies, &proxies, why, sizeof(why)) < 0)
        return cfg_rule(e, "server", "trusted_proxies", NULL, "%s", why);
    netmask_list_free(proxies);
    if (c->encoding_aes_key[0] &&
        (strlen(c->encoding_aes_key) != 43 || !str_is_base64ish(c->encoding_aes_key)))
        return cfg_rule(e, "wechat", "encoding_aes_key", NULL,
                        "must be 43 characters [A-Za-z0-9+/]");
    if (c->mode != WX_MODE_PLAIN && !c->encoding_aes_key[0])
        return cfg_rule(e, "wechat", "encoding_aes_key", "mode",
                        "required when mode is compat or safe");
    if (c->encoding_aes_key_prev[0] &&
        (strlen(c->encoding_aes_key_prev) != 43 || !str_is_base64ish(c->encoding_aes_key_prev)))
        return cfg_rule(e, "wechat", "encoding_aes_key_prev", NULL,
                        "must be 43 characters [A-Za-z0-9+/]");
    if (c->mode != WX_MODE_PLAIN && !c->appid[0])
        return cfg_rule(e, "wechat", "appid", "mode", "required when mode is compat or safe");
    if (c->backend == STORE_POSTGRESQL && !c->store_url[0])
        return cfg_rule(e, "store", "url", "backend",
                        "required when backend is postgresql (or set WXSCENE_STORE_URL)");
    return 0;
}

/* A rule's error where its value came from: "FILE:LINE: [s] key: why",
 * "environment VAR ([s] key): why", or "FILE: [s] key: why" for a default
 * (or a key made required by one that is not in the file either). */
static void cfg_rule_message(const struct cfg_load_state *s, const struct cfg_rule_error *e,
                             char *err, size_t errlen)
{
    const struct cfg_key *k = &cfg_keys[e->key];
    int from = s->from[e->at];
    if (from == FROM_ENV)
        snprintf(err, errlen, "environment %s ([%s] %s): %s", cfg_keys[e->at].env, k->section,
                 k->name, e->why);
    else if (from > 0)
        snprintf(err, errlen, "%s:%d: [%s] %s: %s", s->cfg->path, from, k->section, k->name,
                 e->why);
    else
        snprintf(err, errlen, "%s: [%s] %s: %s", s->cfg->path, k->section, k->name, e->why);
}

/* Defaults first, so a file only states what differs. */
static int cfg_defaults(struct cfg *c, char *err, size_t errlen)
{
    char why[256];
    for (size_t i = 0; i < WXS_ARRAY_LEN(cfg_keys); i++) {
        const struct cfg_key *k = &cfg_keys[i];
        if (k->def && cfg_set(c, k, k->def, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "default of [%s] %s: %s", k->section, k->name, why);
            return -1;
        }
    }
    return 0;
}

/* Environment secrets win over the file, so they need not sit in it. */
static int cfg_env(struct cfg_load_state *s, char *err, size_t errlen)
{
    char why[256];
    for (size_t i = 0; i < WXS_ARRAY_LEN(cfg_keys); i++) {
        const struct cfg_key *k = &cfg_keys[i];
        const char *v = k->env ? getenv(k->env) : NULL;
        if (!v || !*v)
            continue;
        if (cfg_set(s->cfg, k, v, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "environment %s ([%s] %s): %s", k->env, k->section, k->name, why);
            return -1;
        }
        s->from[i] = FROM_ENV;
    }
    return 0;
}

static int cfg_required(const struct cfg_load_state *s, char *err, size_t errlen)
{
    for (size_t i = 0; i < WXS_ARRAY_LEN(cfg_keys); i++) {
        const struct cfg_key *k = &cfg_keys[i];
        if ((k->flags & F_REQUIRED) && s->from[i] == FROM_DEFAULT) {
            snprintf(err, errlen, "%s: [%s] %s: missing (required%s%s)", s->cfg->path, k->section,
                     k->name, k->env ? "; or set " : "", k->env ? k->env : "");
            return -1;
        }
    }
    return 0;
}

/* A relative path in the file means the same file whatever directory the
 * program runs from: it is taken from the config file's directory (where an
 * operator wrote it), as nginx and PostgreSQL read theirs. */
static int cfg_resolve_paths(struct cfg *c, char *err, size_t errlen)
{
    const char *slash = strrchr(c->path, '/');
    int dirlen = slash ? (int)(slash - c->path) : 0;
    for (size_t i = 0; i < WXS_ARRAY_LEN(cfg_keys); i++) {
        const struct cfg_key *k = &cfg_keys[i];
        char **field = cfg_str(c, k);
        if (!(k->flags & F_PATH) || !*field || !**field || **field == '/' || !slash)
            continue;
        char *abs = NULL;
        if (asprintf(&abs, "%.*s/%s", dirlen, c->path, *field) < 0)
            return snprintf(err, errlen, "out of memory"), -1;
        free(*field);
        *field = abs;
    }
    return 0;
}

/* A secret in a file anyone on the machine may read is one they have: said
 * once per load, naming the first such key, since the file still works. */
static void cfg_warn_readable(const struct cfg_load_state *s, mode_t mode)
{
    if (!(mode & S_IROTH))
        return;
    for (size_t i = 0; i < WXS_ARRAY_LEN(cfg_keys); i++) {
        const struct cfg_key *k = &cfg_keys[i];
        const char *v = *cfg_str(s->cfg, k);
        if (!(k->flags & F_SECRET) || s->from[i] <= 0 || !v || !*v)
            continue;
        log_warn("%s is readable by every user (mode %04o) and holds a secret, [%s] %s on line "
                 "%d: chmod o-r it (0640, group of the service), or set %s instead",
                 s->cfg->path, (unsigned)(mode & 07777), k->section, k->name, s->from[i], k->env);
        return;
    }
}

const char *cfg_default_path(void)
{
    const char *p = getenv("WXSCENE_CONFIG");
    return (p && *p) ? p : "./wxscene.ini";
}

int cfg_load(struct cfg **out, const char *path, char *err, size_t errlen)
{
    char msg[512] = "";
    struct cfg_rule_error rule;
    struct cfg_load_state s = {.err = msg, .errlen = sizeof(msg)};
    struct cfg *c = calloc(1, sizeof(*c));
    if (!c)
        return snprintf(err, errlen, "out of memory"), -1;
    s.cfg = c;
    if (!path)
        path = cfg_default_path();
    if (!(c->path = strdup(path)) || cfg_defaults(c, err, errlen) < 0)
        goto fail;
    if (!(s.f = fopen(path, "r"))) {
        snprintf(err, errlen, "%s: cannot open: %m", path);
        goto fail;
    }
    struct stat st;
    mode_t mode = fstat(fileno(s.f), &st) == 0 ? st.st_mode : 0;
    int line = ini_parse_stream(cfg_read_line, &s, cfg_ini_handler, &s);
    fclose(s.f);
    if (line != 0 && (!s.failed || line < s.err_line)) {
        snprintf(err, errlen, "%s:%d: syntax error", path, line);
        goto fail;
    }
    if (s.failed) {
        snprintf(err, errlen, "%s:%d: %s", path, s.err_line, msg);
        goto fail;
    }
    if (cfg_env(&s, err, errlen) < 0 || cfg_required(&s, err, errlen) < 0 ||
        cfg_resolve_paths(c, err, errlen) < 0)
        goto fail;
    if (cfg_check(c, &rule) < 0) {
        cfg_rule_message(&s, &rule, err, errlen);
        goto fail;
    }
    cfg_warn_readable(&s, mode);
    *out = c;
    return 0;
fail:
    cfg_free(c);
    return -1;
}

static bool cfg_key_differs(const struct cfg *a, const struct cfg *b, const struct cfg_key *k)
{
    const char *fa = (const char *)a + k->offset, *fb = (const char *)b + k->offset;
    switch (k->type) {
    case T_STR:
        return strcmp(*(char *const *)fa, *(char *const *)fb) != 0;
    case T_INT:
        return *(const int64_t *)fa != *(const int64_t *)fb;
    case T_BOOL:
        return *(const bool *)fa != *(const bool *)fb;
    case T_MODE:
        return *(const enum wx_mode *)fa != *(const enum wx_mode *)fb;
    case T_SYNC:
        return *(const enum store_sync *)fa != *(const enum store_sync *)fb;
    case T_BACKEND:
        return *(const enum store_backend *)fa != *(const enum store_backend *)fb;
    }
    return false;
}

void cfg_diff(const struct cfg *a, const struct cfg *b, bool reloadable, char *out, size_t outlen)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < WXS_ARRAY_LEN(cfg_keys) && n < outlen; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        if (((k->flags & F_RELOAD) != 0) == reloadable && cfg_key_differs(a, b, k)) {
            int w = snprintf(out + n, outlen - n, "%s[%s] %s", n ? ", " : "", k->section, k->name);
            n += w > 0 ? (size_t)w : 0;
        }
    }
}

void cfg_free(struct cfg *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < WXS_ARRAY_LEN(cfg_keys); i++)
        if (cfg_keys[i].type == T_STR)
            free(*cfg_str(c, &cfg_keys[i]));
    free(c->path);
    free(c);
}

int cfg_split_hostport(const char *s, char *host, size_t hostlen, uint16_t *port)
{
    const char *colon;
    const char *h = s;
    size_t hl;
    uint64_t p;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            return -1;
        h = s + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= hostlen || util_parse_u64(colon + 1, 1, 65535, &p) < 0)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (uint16_t)p;
    return 0;
}
