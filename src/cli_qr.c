/* wxscene qr create|batch|list|image|perm-ids|archive */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "channel.h"
#include "cli.h"
#include "csv.h"
#include "qr.h"
#include "qr_batch.h"
#include "qr_perm.h"
#include "table.h"
#include "tz.h"
#include "wxapi.h"

#define QR_DEFAULT_SCALE 8

static int exit_code(const struct qr_error *e)
{
    return e->rc == QR_EINVALID ? 2 : 1;
}

/* The command-line spelling of a qr_error field. */
static const char *cli_field(const char *field)
{
    static const struct {
        const char *field, *arg;
    } names[] = {
        {"scene", "SCENE"}, {"expire_seconds", "--temp"}, {"name", "--name"}, {"out", "--out"}};
    for (size_t i = 0; field && i < WXS_ARRAY_LEN(names); i++)
        if (strcmp(field, names[i].field) == 0)
            return names[i].arg;
    return NULL;
}

static int report(const char *verb, const struct qr_error *e)
{
    const char *arg = e->rc == QR_EINVALID ? cli_field(e->field) : NULL;
    fprintf(stderr, "wxscene: qr %s: %s%s%s\n", verb, arg ? arg : "", arg ? ": " : "", e->msg);
    return exit_code(e);
}

/* The account's zone ([stats] timezone), in which times are shown to
 * people (an expiry is read against a wall clock, not UTC). NULL, said why
 * on stderr, when it cannot be loaded. Caller frees with tz_free(). */
static struct tz *account_tz(struct cli *cli, const char *verb)
{
    struct tz *z = NULL;
    char err[256];
    if (tz_load(&z, cli->cfg->timezone, err, sizeof(err)) < 0) {
        fprintf(stderr, "wxscene: qr %s: [stats] timezone: %s\n", verb, err);
        return NULL;
    }
    return z;
}

/* The QR commands that talk to WeChat need the account's credentials. */
static int need_api(struct cli *cli, const char *verb, struct wxapi **api)
{
    char err[256];
    const char *missing = !cli->cfg->appid[0]       ? "appid"
                          : !cli->cfg->appsecret[0] ? "appsecret"
                                                    : NULL;
    if (missing) {
        fprintf(stderr,
                "wxscene: qr %s: %s: [wechat] %s is empty; the QR commands call the "
                "WeChat API\n",
                verb, cli->cfg->path, missing);
        return 2;
    }
    if (wxapi_new(api, cli->cfg, cli->store, err, sizeof(err)) < 0) {
        fprintf(stderr, "wxscene: qr %s: %s\n", verb, err);
        return 1;
    }
    return 0;
}

static int parse_scale(const char *s, int *out)
{
    uint64_t v;
    if (util_parse_u64(s, 1, 64, &v) < 0) {
        fprintf(stderr, "wxscene: qr: --scale: \"%s\" is not 1..64 pixels per module\n", s);
        return 2;
    }
    *out = (int)v;
    return 0;
}

/* --logo FILE: read and checked before anything is asked of WeChat. */
static int load_logo(const char *verb, const char *path, int scale, struct qr_logo **out)
{
    char err[512];
    *out = NULL;
    if (!path)
        return 0;
    if (scale < QR_LOGO_MIN_SCALE) {
        fprintf(stderr,
                "wxscene: qr %s: --scale: a code with a logo needs at least %d pixels "
                "per module\n",
                verb, QR_LOGO_MIN_SCALE);
        return 2;
    }
    if (qr_logo_load(path, out, err, sizeof(err)) < 0) {
        fprintf(stderr, "wxscene: qr %s: %s\n", verb, err);
        return 2;
    }
    return 0;
}

/* ---- qr create ---- */

struct create_args {
    struct qr_request rq;
    bool temp, perm, json;
    const char *out, *logo;
    int scale;
};

static int create_opt(const struct cli *cli, struct create_args *a, int o)
{
    switch (o) {
    case 't':
        a->temp = true;
        if (qr_parse_expire(optarg, &a->rq.expire_seconds) < 0) {
            fprintf(stderr,
                    "wxscene: qr create: --temp: \"%s\" is not 1..%d seconds (or Nd, "
                    "Nh, Nm up to 30d)\n",
                    optarg, QR_EXPIRE_MAX);
            return 2;
        }
        return 0;
    case 'p':
        a->perm = true;
        return 0;
    case 'S':
        a->rq.force_str = true;
        return 0;
    case 'a':
        a->rq.allocate = true;
        return 0;
    case 'o':
        a->out = optarg;
        return 0;
    case 'n':
        a->rq.name = optarg;
        return 0;
    case 'P':
        a->rq.promoter = optarg;
        return 0;
    case 'x':
        return parse_scale(optarg, &a->scale);
    case 'L':
        a->logo = optarg;
        return 0;
    case 'j':
        a->json = true;
        return 0;
    default:
        return cli_usage(cli);
    }
}

static int create_parse(const struct cli *cli, int argc, char **argv, struct create_args *a)
{
    static const struct option opts[] = {{"temp", required_argument, NULL, 't'},
                                         {"perm", no_argument, NULL, 'p'},
                                         {"str", no_argument, NULL, 'S'},
                                         {"alloc", no_argument, NULL, 'a'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"promoter", required_argument, NULL, 'P'},
                                         {"scale", required_argument, NULL, 'x'},
                                         {"logo", required_argument, NULL, 'L'},
                                         {"json", no_argument, NULL, 'j'},
                                         {NULL, 0, NULL, 0}};
    int o, rc;
    enum qr_image_format fmt;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if ((rc = create_opt(cli, a, o)) != 0)
            return rc;
    a->rq.temporary = a->temp;
    if (a->temp == a->perm || optind + (a->rq.allocate ? 0 : 1) != argc) {
        if (a->temp && a->perm)
            fprintf(stderr, "wxscene: qr create: --temp and --perm exclude each other\n");
        return cli_usage(cli);
    }
    a->rq.scene = a->rq.allocate ? NULL : argv[optind];
    if (a->rq.promoter && !a->rq.name) {
        fprintf(stderr, "wxscene: qr create: --promoter needs --name (it describes the new "
                        "channel)\n");
        return 2;
    }
    if (a->out && qr_image_format_of(a->out, &fmt) < 0) {
        fprintf(stderr,
                "wxscene: qr create: --out: %s: the name must end in .png, .svg or "
                ".jpg\n",
                a->out);
        return 2;
    }
    if (a->logo && (!a->out || fmt == QR_IMG_JPG)) {
        fprintf(stderr, "wxscene: qr create: --logo needs --out FILE.png or FILE.svg (the code "
                        "is rendered here)\n");
        return 2;
    }
    return 0;
}

static void print_code(struct store *st, const struct tz *z, const char *zone,
                       const struct qr_code *c, const char *image)
{
    char at[32];
    struct channel ch = {0};
    int found = channel_get(st, c->scene, &ch);
    if (found < 0)
        fprintf(stderr, "wxscene: qr create: database: reading channel %s: %s\n", c->scene,
                store_errmsg(st));
    printf("scene    %s\nkind     %s\nticket   %s\nurl      %s\n", c->scene, qr_kind_name(c->kind),
           c->ticket, c->url);
    if (qr_kind_is_temp(c->kind)) {
        tz_format_time(z, c->expires_at, at, sizeof(at));
        printf("expires  %s %s (%lld s)\n", at, zone, (long long)c->expire_seconds);
    } else {
        printf("expires  never\n");
    }
    if (c->reused)
        printf("note     this permanent code existed already: no new code was asked of WeChat\n");
    if (found == 0)
        printf("channel  %s%s%s\n", ch.name, ch.promoter ? ", promoter " : "",
               ch.promoter ? ch.promoter : "");
    else if (found == 1)
        printf("channel  none yet: scans count under the bare scene until you run\n"
               "         wxscene channel add %s --name NAME\n",
               c->scene);
    channel_clear(&ch);
    if (image)
        printf("image    %s\n", image);
}

static void print_json(const struct qr_code *c, const char *image)
{
    json_t *o = qr_code_to_json(c);
    if (o && image)
        json_object_set_new(o, "image", json_string(image));
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(o);
}

static void print_perm_left(struct store *st)
{
    struct qr_perm_usage u;
    char why[256];
    if (qr_perm_usage(store_db(st), &u, why, sizeof(why)) == 0)
        printf("left     %lld permanent codes of %u (as recorded in this database)\n",
               (long long)u.codes_left, QR_PERM_ID_MAX);
    else
        fprintf(stderr, "wxscene: qr create: %s\n", why);
}

static int qr_cmd_create(struct cli *cli, int argc, char **argv)
{
    struct create_args a = {.scale = QR_DEFAULT_SCALE};
    struct qr_spec spec;
    struct qr_error e = {0};
    struct qr_code c = {0};
    struct wxapi *api = NULL;
    struct tz *z = NULL;
    struct qr_logo *logo = NULL;
    int rc = create_parse(cli, argc, argv, &a);
    if (rc != 0)
        return rc;
    if (qr_validate(&a.rq, &spec, &e) < 0) /* before even looking at the credentials */
        return report("create", &e);
    if ((rc = load_logo("create", a.logo, a.scale, &logo)) != 0)
        return rc;
    if ((rc = need_api(cli, "create", &api)) != 0)
        goto done;
    if (!a.json && !(z = account_tz(cli, "create"))) { /* before asking WeChat */
        rc = 1;
        goto done;
    }
    if (qr_create(cli->store, api, &a.rq, NULL, &c, &e) < 0 ||
        (a.out && qr_write_image(api, &c, a.out, a.scale, logo, &e) < 0)) {
        rc = report("create", &e);
        goto done;
    }
    if (a.json) {
        print_json(&c, a.out);
    } else {
        print_code(cli->store, z, cli->cfg->timezone, &c, a.out);
        if (!qr_kind_is_temp(c.kind))
            print_perm_left(cli->store);
    }
done:
    qr_code_clear(&c);
    wxapi_free(api);
    tz_free(z);
    qr_logo_free(logo);
    return rc;
}

/* ---- qr batch ---- */

static int batch_parse(const struct cli *cli, int argc, char **argv, struct qr_batch_opts *o,
                       const char **logo)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},    {"logo", required_argument, NULL, 'L'},
        {"format", required_argument, NULL, 'f'}, {"scale", required_argument, NULL, 'x'},
        {"no-bom", no_argument, NULL, 'n'},       {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'o') {
            o->out_dir = optarg;
        } else if (c == 'L') {
            *logo = optarg;
        } else if (c == 'n') {
            o->bom = false;
        } else if (c == 'f' && (strcmp(optarg, "png") == 0 || strcmp(optarg, "svg") == 0)) {
            o->format = optarg[0] == 's' ? QR_IMG_SVG : QR_IMG_PNG;
        } else if (c == 'x') {
            if (parse_scale(optarg, &o->scale) != 0)
                return 2;
        } else {
            goto usage;
        }
    }
    if (optind + 1 != argc || !o->out_dir)
        goto usage;
    o->csv_path = argv[optind];
    return 0;
usage:
    return cli_usage(cli);
}

static int qr_cmd_batch(struct cli *cli, int argc, char **argv)
{
    struct qr_batch_opts o = {.format = QR_IMG_PNG,
                              .scale = QR_DEFAULT_SCALE,
                              .report = stdout,
                              .errors = stderr,
                              .bom = true,
                              .zone = cli->cfg->timezone};
    struct qr_batch_result res;
    struct qr_error e;
    struct wxapi *api = NULL;
    struct tz *z = NULL;
    struct qr_logo *logo = NULL;
    const char *logo_path = NULL;
    int rc = batch_parse(cli, argc, argv, &o, &logo_path);
    if (rc != 0 || (rc = load_logo("batch", logo_path, o.scale, &logo)) != 0)
        return rc;
    o.logo = logo;
    if (!(o.tz = z = account_tz(cli, "batch"))) {
        qr_logo_free(logo);
        return 1;
    }
    if ((rc = need_api(cli, "batch", &api)) != 0) {
        tz_free(z);
        qr_logo_free(logo);
        return rc;
    }
    rc = qr_batch_run(cli->store, api, &o, &res, &e);
    tz_free(z);
    qr_logo_free(logo);
    fflush(stdout);
    if (rc < 0) {
        rc = report("batch", &e);
        if (e.rc != QR_EINVALID)
            fprintf(stderr,
                    "wxscene: qr batch: %zu created, %zu done before; re-run the same "
                    "command to resume\n",
                    res.created, res.skipped);
    } else {
        printf("%zu rows: %zu created (%zu re-sent after an interruption), %zu done before; "
               "index: %s/index.csv; %s read as %s\n",
               res.rows, res.created, res.resent, res.skipped, o.out_dir, o.csv_path,
               res.encoding ? res.encoding : "UTF-8");
    }
    wxapi_free(api);
    return rc;
}

/* ---- qr list ---- */

enum list_format { LIST_TABLE, LIST_CSV, LIST_JSON };

struct list_ctx {
    struct store *st;
    enum list_format fmt;
    bool bom;
    const struct tz *z; /* expiries in the account's local time */
    const char *zone;   /* its name, in the CSV's time_zone column */
    json_t *arr;
    size_t n;
    struct table t;
};

static void left_text(const struct qr_code *c, char *out, size_t outlen)
{
    int64_t left = c->expires_at - util_now();
    if (!qr_kind_is_temp(c->kind))
        snprintf(out, outlen, "-");
    else if (left <= 0)
        snprintf(out, outlen, "expired");
    else if (left < 3600)
        snprintf(out, outlen, "%lldm", (long long)(left + 59) / 60);
    else
        snprintf(out, outlen, "%lldd%02lldh", (long long)(left / 86400),
                 (long long)(left % 86400 / 3600));
}

static int list_row_text(struct list_ctx *x, const struct qr_code *c, const char *name)
{
    char at[32] = "never", left[32];
    struct buf line = {0};
    if (qr_kind_is_temp(c->kind))
        tz_format_time(x->z, c->expires_at, at, sizeof(at));
    left_text(c, left, sizeof(left));
    if (x->fmt == LIST_TABLE) {
        const char *cells[] = {c->scene, qr_kind_name(c->kind), at, left, name, c->url};
        for (size_t i = 0; i < WXS_ARRAY_LEN(cells); i++)
            if (table_add(&x->t, cells[i]) < 0)
                return -1;
        return 0;
    }
    const char *vals[] = {c->scene,
                          qr_kind_name(c->kind),
                          qr_kind_is_temp(c->kind) ? at : "",
                          qr_kind_is_temp(c->kind) ? x->zone : "",
                          name ? name : "",
                          c->ticket,
                          c->url};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < WXS_ARRAY_LEN(vals); i++)
        rc = (i && buf_puts(&line, ",") < 0) || csv_field(&line, vals[i]) < 0 ? -1 : 0;
    if (rc == 0)
        printf("%s\n", line.data);
    buf_free(&line);
    return rc;
}

static int list_row(const struct qr_code *c, void *arg)
{
    struct list_ctx *x = arg;
    struct channel ch = {0};
    int found = channel_get(x->st, c->scene, &ch);
    int rc = 0;
    if (found < 0) {
        fprintf(stderr, "wxscene: qr list: database: reading channel %s: %s\n", c->scene,
                store_errmsg(x->st));
        return -1;
    }
    x->n++;
    if (x->fmt == LIST_JSON) {
        json_t *o = qr_code_to_json(c);
        if (!o ||
            json_object_set_new(o, "channel", found == 0 ? json_string(ch.name) : json_null()) <
                0 ||
            json_array_append_new(x->arr, o) < 0)
            rc = -1;
    } else {
        rc = list_row_text(x, c, found == 0 ? ch.name : NULL);
    }
    channel_clear(&ch);
    return rc;
}

static int list_parse(const struct cli *cli, int argc, char **argv, struct qr_filter *f,
                      struct list_ctx *x)
{
    static const struct option opts[] = {{"expiring", required_argument, NULL, 'e'},
                                         {"expired", no_argument, NULL, 'x'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"bom", no_argument, NULL, 'B'},
                                         {NULL, 0, NULL, 0}};
    static const char *const fmts[] = {"table", "csv", "json"};
    uint64_t days;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'e' && util_parse_u64(optarg, 1, 30, &days) == 0) {
            f->expiring_within = (int64_t)days * 86400;
        } else if (c == 'x') {
            f->include_expired = true;
        } else if (c == 'B') {
            x->bom = true;
        } else if (c == 'f') {
            size_t i = 0;
            while (i < WXS_ARRAY_LEN(fmts) && strcmp(optarg, fmts[i]) != 0)
                i++;
            if (i == WXS_ARRAY_LEN(fmts))
                goto usage;
            x->fmt = (enum list_format)i;
        } else {
            goto usage;
        }
    }
    if (x->bom && x->fmt != LIST_CSV) {
        fprintf(stderr, "wxscene: qr list: --bom only applies to --format csv\n");
        return 2;
    }
    if (optind == argc)
        return 0;
usage:
    return cli_usage(cli);
}

static int qr_cmd_list(struct cli *cli, int argc, char **argv)
{
    struct qr_filter f = {0};
    struct list_ctx x = {.st = cli->store, .zone = cli->cfg->timezone};
    struct qr_error e = {0};
    struct tz *z = NULL;
    char expires[96];
    int rc = list_parse(cli, argc, argv, &f, &x);
    if (rc != 0)
        return rc;
    if (!(x.z = z = account_tz(cli, "list")) || (x.fmt == LIST_JSON && !(x.arr = json_array()))) {
        tz_free(z);
        return 1;
    }
    snprintf(expires, sizeof(expires), "EXPIRES (%s)", x.zone);
    const char *const heads[] = {"SCENE", "KIND", expires, "LEFT", "CHANNEL", "URL"};
    x.t.ncols = WXS_ARRAY_LEN(heads);
    for (size_t i = 0; x.fmt == LIST_TABLE && i < WXS_ARRAY_LEN(heads); i++)
        if (table_add(&x.t, heads[i]) < 0)
            rc = 1;
    if (x.fmt == LIST_CSV)
        printf("%sscene,kind,expires_at,time_zone,channel,ticket,url\n", x.bom ? CSV_BOM : "");
    if (rc == 0 && qr_foreach(cli->store, &f, list_row, &x, &e) < 0) {
        if (e.rc) /* else list_row said why */
            fprintf(stderr, "wxscene: qr list: %s\n", e.msg);
        rc = 1;
    } else if (x.fmt == LIST_JSON) {
        json_dumpf(x.arr, stdout, JSON_INDENT(1));
        printf("\n");
    } else if (rc == 0 && x.fmt == LIST_TABLE) {
        struct buf out = {0};
        rc = table_print(&x.t, &out) < 0 ? 1 : 0;
        fputs(out.data ? out.data : "", stdout);
        buf_free(&out);
    }
    table_free(&x.t);
    json_decref(x.arr);
    tz_free(z);
    return rc;
}

/* ---- qr image ---- */

static int qr_cmd_image(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"scale", required_argument, NULL, 'x'},
                                         {"logo", required_argument, NULL, 'L'},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL, *logo_path = NULL;
    int scale = QR_DEFAULT_SCALE, c, rc = 0;
    struct qr_code code = {0};
    struct qr_error e;
    struct wxapi *api = NULL;
    struct qr_logo *logo = NULL;
    enum qr_image_format fmt;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'o')
            out = optarg;
        else if (c == 'L')
            logo_path = optarg;
        else if (c != 'x' || parse_scale(optarg, &scale) != 0)
            goto usage;
    }
    if (optind + 1 != argc || !out || qr_image_format_of(out, &fmt) < 0)
        goto usage;
    if ((rc = load_logo("image", logo_path, scale, &logo)) != 0)
        return rc;
    int found = qr_code_latest(cli->store, argv[optind], &code, &e);
    if (found != 0) {
        fprintf(stderr, "wxscene: qr image: %s\n",
                found < 0 ? e.msg : "no code for this scene (qr create first)");
        rc = 1;
        goto done;
    }
    if (fmt == QR_IMG_JPG && !logo && (rc = need_api(cli, "image", &api)) != 0)
        goto done;
    if (qr_write_image(api, &code, out, scale, logo, &e) < 0)
        rc = report("image", &e);
    else
        printf("%s: %s (%s)\n", out, code.url, qr_kind_name(code.kind));
done:
    qr_code_clear(&code);
    wxapi_free(api);
    qr_logo_free(logo);
    return rc;
usage:
    return cli_usage(cli);
}

/* ---- qr perm-ids ---- */

struct retired_ctx {
    struct tz *z;
    const char *zone;
};

static int print_retired(uint64_t id, int64_t at, void *arg)
{
    const struct retired_ctx *x = arg;
    char when[32];
    tz_format_time(x->z, at, when, sizeof(when));
    printf("  %-8llu retired %s %s\n", (unsigned long long)id, when, x->zone);
    return 0;
}

static int perm_show(struct cli *cli)
{
    struct db *db = store_db(cli->store);
    struct qr_perm_usage u;
    uint64_t next = 0;
    char why[512], next_text[24] = "none";
    int rc = qr_perm_usage(db, &u, why, sizeof(why));
    if (rc == 0 && (rc = qr_perm_next_free(db, &next, why, sizeof(why))) == QR_PERM_ECONFLICT)
        rc = 0; /* none left: the counts say so */
    if (rc < 0) {
        fprintf(stderr, "wxscene: qr perm-ids: %s\n", why);
        return 1;
    }
    if (next)
        snprintf(next_text, sizeof(next_text), "%llu", (unsigned long long)next);
    printf("permanent codes per account: %u (as recorded in this database)\n"
           "scene ids used     %lld\nscene ids retired  %lld\nstring codes       %lld\n"
           "left               %lld\nnext free id       %s\n",
           QR_PERM_ID_MAX, (long long)u.ids_used, (long long)u.ids_retired, (long long)u.str_codes,
           (long long)u.codes_left, next_text);
    if (u.ids_retired > 0) {
        printf("retired ids (channel archived; free one with --release ID --yes once its "
               "printed codes are gone):\n");
        struct retired_ctx x = {.z = account_tz(cli, "perm-ids"), .zone = cli->cfg->timezone};
        if (!x.z)
            return 1;
        rc = qr_perm_foreach_retired(db, print_retired, &x, why, sizeof(why));
        tz_free(x.z);
        if (rc < 0) {
            fprintf(stderr, "wxscene: qr perm-ids: %s\n", why);
            return 1;
        }
    }
    return 0;
}

static int perm_release(struct cli *cli, const char *arg, bool yes)
{
    uint64_t id;
    char why[512];
    if (util_parse_u64(arg, 1, QR_PERM_ID_MAX, &id) < 0) {
        fprintf(stderr,
                "wxscene: qr perm-ids: --release: \"%s\" is not a permanent scene id "
                "(1..%u)\n",
                arg, QR_PERM_ID_MAX);
        return 2;
    }
    if (!yes) {
        fprintf(stderr,
                "wxscene: qr perm-ids: freeing scene_id %llu lets a new channel take it;"
                " every printed code for it would then count for that channel.\n"
                "Confirm that its codes are gone with: wxscene qr perm-ids --release "
                "%llu --yes\n",
                (unsigned long long)id, (unsigned long long)id);
        return 2;
    }
    int rc = qr_perm_release(store_db(cli->store), id, why, sizeof(why));
    if (rc < 0) {
        fprintf(stderr, "wxscene: qr perm-ids: %s\n", why);
        return rc == QR_PERM_EINVALID ? 2 : 1;
    }
    printf("permanent scene_id %llu is free\n", (unsigned long long)id);
    return 0;
}

static int qr_cmd_perm_ids(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"release", required_argument, NULL, 'r'},
                                         {"yes", no_argument, NULL, 'y'},
                                         {NULL, 0, NULL, 0}};
    const char *release = NULL;
    bool yes = false;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'r')
            release = optarg;
        else if (c == 'y')
            yes = true;
        else
            goto usage;
    }
    if (optind != argc || (yes && !release))
        goto usage;
    return release ? perm_release(cli, release, yes) : perm_show(cli);
usage:
    return cli_usage(cli);
}

/* ---- qr archive (channel archive) ---- */

/* Reached as "channel archive SCENE" or "qr archive SCENE"; argv[0] is
 * "archive" either way. */
int cli_qr_channel_archive(struct cli *cli, int argc, char **argv)
{
    struct qr_error e;
    uint64_t retired = 0;
    if (argc != 2 || argv[1][0] == '-')
        return cli_usage(cli);
    if (qr_channel_archive(cli->store, argv[1], &retired, &e) < 0) {
        fprintf(stderr, "wxscene: channel archive: %s\n", e.msg);
        return exit_code(&e);
    }
    printf("channel %s archived\n", argv[1]);
    if (retired)
        printf("permanent scene_id %llu is retired, not free: printed codes may still be out "
               "there.\nOnce they are gone, free it with: wxscene qr perm-ids --release %llu "
               "--yes\n",
               (unsigned long long)retired, (unsigned long long)retired);
    return 0;
}

/* ---- the commands ---- */

/* The one place qr's commands and their options are described. */
static const struct cli_cmd cmds[] = {
    {"create", qr_cmd_create,
     "SCENE (--temp SECONDS | --perm) [--str] [--out FILE.png|FILE.svg|FILE.jpg] "
     "[--name NAME [--promoter NAME]] [--scale N] [--logo FILE.png] [--json]\n"
     "--perm --alloc --name NAME [--promoter NAME] [--out FILE] [--scale N] [--logo FILE.png] "
     "[--json]",
     NULL,
     "  SECONDS: 1..2592000, or Nd / Nh / Nm (at most 30d)\n"
     "  --alloc: the next free permanent scene id; --name/--promoter: a new channel\n"
     "  --logo: the brand PNG in the centre (error correction H; --scale 2 or more)\n"},
    {"batch", qr_cmd_batch,
     "FILE.csv --out DIR [--format png|svg] [--scale N] [--logo FILE.png] [--no-bom]",
     "columns: scene,name,promoter,kind,expire[,logo]",
     "  kind: temp | perm, or temp_id, temp_str, perm_id, perm_str\n"
     "  --logo FILE.png: the brand logo in every code; a logo column (标志): one per row\n"
     "  re-running with the same --out DIR resumes an interrupted batch\n"
     "  DIR/index.csv: for Excel, with a UTF-8 BOM (--no-bom: without), expiries in\n"
     "  [stats] timezone\n"},
    {"list", qr_cmd_list, "[--expiring DAYS] [--expired] [--format table|csv|json] [--bom]", NULL,
     "  --expiring DAYS  temporary codes expiring within 1..30 days, soonest first\n"
     "  --expired        also temporary codes already expired\n"
     "  --bom            CSV starts with a UTF-8 byte order mark (Excel)\n"
     "  expiries are in [stats] timezone, the account's local time\n"},
    {"image", qr_cmd_image, "SCENE --out FILE.png|FILE.svg|FILE.jpg [--scale N] [--logo FILE.png]",
     NULL,
     "  the newest code of SCENE; .png/.svg are rendered here, .jpg is downloaded from\n"
     "  showqrcode\n"},
    {"perm-ids", qr_cmd_perm_ids, "[--release ID --yes]", NULL,
     "  permanent scene ids used, the next free one, retired ones; --release ID --yes frees a\n"
     "  retired id once its printed codes are gone\n"},
    {"archive", cli_qr_channel_archive, "SCENE", "same as channel archive", CLI_ARCHIVE_MORE},
};

const struct cli_verb cli_verb_qr = {"qr", cmds, WXS_ARRAY_LEN(cmds)};
