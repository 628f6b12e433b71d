#include "media.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "db.h"
#include "reply.h"

static const struct db_query q_find = {"media.find",
                                       "SELECT media_id FROM media WHERE sha256 = ?1"};
static const struct db_query q_put = {
    "media.put", "INSERT INTO media(sha256, media_id, url, file_name, bytes, created_at) "
                 "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(sha256) DO UPDATE SET "
                 "media_id = excluded.media_id, url = excluded.url"};

/* The image kinds WeChat takes, by extension, with the bytes each starts with. */
static const struct image_kind {
    const char *ext;
    const char *type;
    const char *magic;
    size_t magic_len;
} kinds[] = {
    {".png", "image/png", "\x89PNG\r\n\x1a\n", 8},
    {".jpg", "image/jpeg", "\xff\xd8\xff", 3},
    {".jpeg", "image/jpeg", "\xff\xd8\xff", 3},
    {".gif", "image/gif", "GIF8", 4},
    {".bmp", "image/bmp", "BM", 2},
};

static const struct image_kind *kind_of(const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < WXS_ARRAY_LEN(kinds); i++) {
        size_t e = strlen(kinds[i].ext);
        if (n > e && strcasecmp(path + n - e, kinds[i].ext) == 0)
            return &kinds[i];
    }
    return NULL;
}

/* The whole file, at most max bytes. */
static int slurp(const char *path, size_t max, void **data, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    struct stat sb;
    if (!f)
        return snprintf(err, errlen, "%s: %s", path, strerror(errno)), -1;
    if (fstat(fileno(f), &sb) < 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return snprintf(err, errlen, "%s: not a regular file", path), -1;
    }
    if ((uint64_t)sb.st_size > max || sb.st_size == 0) {
        fclose(f);
        return snprintf(err, errlen, "%s: %lld bytes; an image must be 1..%zu bytes (10 MB)", path,
                        (long long)sb.st_size, max),
               -1;
    }
    char *p = malloc((size_t)sb.st_size);
    size_t got = p ? fread(p, 1, (size_t)sb.st_size, f) : 0;
    fclose(f);
    if (!p || got != (size_t)sb.st_size) {
        free(p);
        return snprintf(err, errlen, "%s: cannot read it", path), -1;
    }
    *data = p;
    *len = got;
    return 0;
}

int media_read_image(const char *path, void **data, size_t *len, const char **type, char *err,
                     size_t errlen)
{
    const struct image_kind *k = kind_of(path);
    *data = NULL;
    if (!k)
        return snprintf(err, errlen, "%s: not an image WeChat takes (.png .jpg .jpeg .gif .bmp)",
                        path),
               -1;
    if (slurp(path, MEDIA_IMAGE_MAX, data, len, err, errlen) < 0)
        return -1;
    if (*len < k->magic_len || memcmp(*data, k->magic, k->magic_len) != 0) {
        free(*data);
        *data = NULL;
        return snprintf(err, errlen, "%s: its bytes are not a %s image", path, k->ext + 1), -1;
    }
    *type = k->type;
    return 0;
}

static int sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
        return -1;
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

/* The recorded media_id for a digest: 0 found, 1 none, -1 error. */
static int find(struct store *st, const char *sha, char *media_id, size_t n)
{
    struct db_stmt *s = db_stmt(store_db(st), &q_find);
    db_bind_text(s, 1, sha);
    int rc = db_step(s), ret = rc == DB_ROW ? 0 : rc == DB_DONE ? 1 : -1;
    if (ret == 0)
        util_strlcpy(media_id, db_col_text(s, 0) ? db_col_text(s, 0) : "", n);
    db_reset(s);
    return ret;
}

/* material/add_material?type=image with the file as field "media". */
static int upload(struct wxapi *api, const char *path, const void *data, size_t len,
                  const char *type, char *media_id, size_t n, char **url, char *err, size_t errlen)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    struct wxapi_file f = {.field = "media", .name = base, .type = type, .data = data, .len = len};
    json_t *resp = NULL;
    if (wxapi_upload(api, "cgi-bin/material/add_material", "type=image", &f, &resp) < 0) {
        const struct wxapi_error *e = wxapi_last_error(api);
        const char *hint = e->rc == WXAPI_EAPI ? wxapi_errcode_hint(e->errcode) : NULL;
        snprintf(err, errlen, "uploading %s: %s%s%s", path, e->msg, hint ? " — " : "",
                 hint ? hint : "");
        return -1;
    }
    const char *id = json_string_value(json_object_get(resp, "media_id"));
    const char *u = json_string_value(json_object_get(resp, "url"));
    int rc = -1;
    if (!id || reply_media_id_validate(id, err, errlen) < 0)
        snprintf(err, errlen, "uploading %s: WeChat's answer has no usable media_id", path);
    else if (u && !(*url = strdup(u)))
        snprintf(err, errlen, "out of memory");
    else
        rc = (util_strlcpy(media_id, id, n), 0);
    json_decref(resp);
    return rc;
}

int media_image_id(struct store *st, struct wxapi *api, const char *path, char *media_id,
                   size_t media_id_len, bool *uploaded, char *err, size_t errlen)
{
    void *data = NULL;
    size_t len = 0;
    const char *type;
    char sha[65], *url = NULL;
    int rc = -1;
    *uploaded = false;
    if (media_read_image(path, &data, &len, &type, err, errlen) < 0)
        return -1;
    if (sha256_hex(data, len, sha) < 0) {
        snprintf(err, errlen, "%s: cannot hash it", path);
        goto done;
    }
    int found = find(st, sha, media_id, media_id_len);
    if (found < 0) {
        snprintf(err, errlen, "%s", store_errmsg(st));
        goto done;
    }
    if (found == 0) {
        rc = 0;
        goto done;
    }
    if (!api) {
        snprintf(err, errlen, "%s: not uploaded yet", path);
        goto done;
    }
    if (upload(api, path, data, len, type, media_id, media_id_len, &url, err, errlen) < 0)
        goto done;
    *uploaded = true;
    struct db_stmt *s = db_stmt(store_db(st), &q_put);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    db_bind_text(s, 1, sha);
    db_bind_text(s, 2, media_id);
    db_bind_text_opt(s, 3, url);
    db_bind_text(s, 4, base);
    db_bind_int64(s, 5, (int64_t)len);
    db_bind_int64(s, 6, util_now());
    if (db_run(s) < 0) {
        snprintf(err, errlen, "%s uploaded as %s, but not recorded: %s", path, media_id,
                 store_errmsg(st));
        goto done;
    }
    rc = 0;
done:
    free(data);
    free(url);
    return rc;
}
