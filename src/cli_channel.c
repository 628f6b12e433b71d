/* wxscene channel add|edit|list|import|archive: the commands and their usage (cli_verb_channel) */
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "campaign.h"
#include "channel.h"
#include "channel_import.h"
#include "chreply.h"
#include "cli.h"
#include "csv.h"
#include "media.h"
#include "table.h"
#include "wxapi.h"

enum out_format { FMT_TABLE, FMT_CSV, FMT_JSON };

static int parse_format(const char *s, enum out_format *f)
{
    if (strcmp(s, "table") == 0)
        *f = FMT_TABLE;
    else if (strcmp(s, "csv") == 0)
        *f = FMT_CSV;
    else if (strcmp(s, "json") == 0)
        *f = FMT_JSON;
    else
        return -1;
    return 0;
}

/* ---- the reply kind options of add and edit (issue 20) ---- */

/* --reply-news TITLE --news-url URL [--news-description TEXT]
 * [--news-picurl URL] | --reply-image FILE, as add and edit read them. */
struct kind_opts {
    struct reply_news news; /* news.title set = --reply-news */
    bool news_part;         /* a --news-* option was given */
    const char *image;      /* --reply-image FILE */
    char media_id[REPLY_MEDIA_ID_MAX + 1];
};

/* One of the kind options ('N' --reply-news, 'U' --news-url, 'D'
 * --news-description, 'P' --news-picurl, 'I' --reply-image, in the getopt
 * tables of add and edit) into ko; false when o is not one. */
static bool kind_opt(struct kind_opts *ko, int o, const char *arg)
{
    switch (o) {
    case 'N':
        ko->news.title = arg;
        return true;
    case 'U':
        ko->news.url = arg, ko->news_part = true;
        return true;
    case 'D':
        ko->news.description = arg, ko->news_part = true;
        return true;
    case 'P':
        ko->news.picurl = arg, ko->news_part = true;
        return true;
    case 'I':
        ko->image = arg;
        return true;
    default:
        return false;
    }
}

static bool kind_given(const struct kind_opts *ko)
{
    return ko->news.title || ko->image;
}

/* The options make sense together, the article is valid and the image
 * is one WeChat takes: 0, or 2 (usage) with the message printed. */
static int kind_check(const struct kind_opts *ko, const char *verb)
{
    char err[512];
    const char *why =
        ko->news.title && ko->image        ? "--reply-news and --reply-image exclude each other"
        : ko->news_part && !ko->news.title ? "--news-* options need --reply-news TITLE"
                                           : NULL;
    if (why)
        return fprintf(stderr, "wxscene: channel %s: %s\n", verb, why), 2;
    if (ko->news.title && reply_news_validate(&ko->news, NULL, err, sizeof(err)) < 0)
        return fprintf(stderr, "wxscene: channel %s: %s\n", verb, err), 2;
    void *data;
    size_t len;
    const char *type;
    if (ko->image && media_read_image(ko->image, &data, &len, &type, err, sizeof(err)) < 0)
        return fprintf(stderr, "wxscene: channel %s: --reply-image: %s\n", verb, err), 2;
    if (ko->image)
        free(data);
    return 0;
}

/* --reply-image: the file's permanent media_id, uploaded now unless the
 * same bytes were before. 0, 1 (runtime) or 2 (usage: a bad file or no
 * credentials), with the message printed. */
static int kind_upload(struct cli *cli, struct kind_opts *ko, const char *verb)
{
    struct wxapi *api = NULL;
    char err[768];
    bool uploaded = false;
    if (!ko->image)
        return 0;
    if (!cli->cfg->appid[0] || !cli->cfg->appsecret[0]) {
        fprintf(stderr,
                "wxscene: channel %s: --reply-image: %s: [wechat] appid and appsecret are "
                "needed to upload the image\n",
                verb, cli->cfg->path);
        return 2;
    }
    int rc = wxapi_new(&api, cli->cfg, cli->store, err, sizeof(err)) < 0 ||
                     media_image_id(cli->store, api, ko->image, ko->media_id, sizeof(ko->media_id),
                                    &uploaded, err, sizeof(err)) < 0
                 ? 1
                 : 0;
    wxapi_free(api);
    if (rc)
        fprintf(stderr, "wxscene: channel %s: --reply-image: %s\n", verb, err);
    else
        printf("image %s %s (media_id %s)\n", ko->image,
               uploaded ? "uploaded as permanent material" : "already uploaded", ko->media_id);
    return rc;
}

/* Store the kind the options ask for (text_too: --reply was given, the
 * reply goes back to text unless a kind option says otherwise). */
static int kind_store(struct store *st, const char *scene, const struct kind_opts *ko,
                      bool text_too)
{
    if (ko->news.title)
        return chreply_set_news(st, scene, &ko->news);
    if (ko->image) {
        const char *base = strrchr(ko->image, '/') ? strrchr(ko->image, '/') + 1 : ko->image;
        return chreply_set_image(st, scene, ko->media_id, base);
    }
    return text_too ? chreply_set_text(st, scene) : 0;
}

struct add_tx {
    const struct channel *c;
    const struct kind_opts *ko;
    const char *campaign; /* NULL or "": none */
    char err[512];
    int rc;
};

/* The channel, its reply kind and its campaign in one transaction. */
static int add_tx(struct store *st, void *arg)
{
    struct add_tx *a = arg;
    a->rc = channel_add(st, a->c, a->err, sizeof(a->err));
    if (a->rc == 0 && kind_store(st, a->c->scene, a->ko, false) < 0)
        a->rc = -1, snprintf(a->err, sizeof(a->err), "%s", store_errmsg(st));
    if (a->rc == 0 && a->campaign && *a->campaign)
        a->rc = campaign_set_channel(st, a->c->scene, a->campaign, a->err, sizeof(a->err));
    return a->rc < 0 ? -1 : 0;
}

static int cmd_add(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"name", required_argument, NULL, 'n'},
                                         {"promoter", required_argument, NULL, 'p'},
                                         {"reply", required_argument, NULL, 'r'},
                                         {"scan-reply", required_argument, NULL, 's'},
                                         {"tag", required_argument, NULL, 't'},
                                         {"str", no_argument, NULL, 'S'},
                                         {"reply-news", required_argument, NULL, 'N'},
                                         {"news-url", required_argument, NULL, 'U'},
                                         {"news-description", required_argument, NULL, 'D'},
                                         {"news-picurl", required_argument, NULL, 'P'},
                                         {"reply-image", required_argument, NULL, 'I'},
                                         {"campaign", required_argument, NULL, 'c'},
                                         {NULL, 0, NULL, 0}};
    struct channel c = {0};
    struct channel_scene scene;
    struct kind_opts ko = {0};
    const char *campaign = NULL;
    bool force_str = false;
    char err[512];
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (kind_opt(&ko, o, optarg))
            continue;
        switch (o) {
        case 'n':
            c.name = optarg;
            break;
        case 'p':
            c.promoter = optarg;
            break;
        case 'r':
            c.reply = optarg;
            break;
        case 's':
            c.scan_reply = optarg;
            break;
        case 't':
            c.tag = optarg;
            break;
        case 'S':
            force_str = true;
            break;
        case 'c':
            campaign = optarg;
            break;
        default:
            return cli_usage(cli);
        }
    }
    if (optind + 1 != argc || !c.name)
        return cli_usage(cli);
    int krc = kind_check(&ko, "add");
    if (krc)
        return krc;
    c.scene = argv[optind];
    if (channel_scene_from_text(&scene, c.scene, force_str, err, sizeof(err)) < 0 ||
        channel_validate(&c, NULL, err, sizeof(err)) < 0) {
        fprintf(stderr, "wxscene: channel add: %s\n", err);
        return 2;
    }
    int state = channel_state(cli->store, c.scene); /* said before an upload would be wasted */
    if (state < 0)
        return fprintf(stderr, "wxscene: channel add: %s\n", store_errmsg(cli->store)), 1;
    if (state != CHANNEL_ABSENT)
        return fprintf(stderr, "wxscene: channel add: channel %s exists%s\n", c.scene,
                       state == CHANNEL_ARCHIVED ? ", archived" : ""),
               1;
    if ((krc = kind_upload(cli, &ko, "add")) != 0)
        return krc;
    struct add_tx a = {.c = &c, .ko = &ko, .campaign = campaign};
    if (store_tx(cli->store, add_tx, &a) < 0 || a.rc < 0) {
        fprintf(stderr, "wxscene: channel add: %s\n", a.err[0] ? a.err : store_errmsg(cli->store));
        return 1;
    }
    printf("channel %s added (%s%s%s)%s%s\n", c.scene, c.name, kind_given(&ko) ? ", reply " : "",
           ko.news.title ? "news"
           : ko.image    ? "image"
                         : "",
           campaign && *campaign ? ", campaign " : "", campaign && *campaign ? campaign : "");
    return 0;
}

/* ---- edit ---- */

struct edit_tx {
    const char *scene;
    const struct channel *c;
    unsigned set;
    const struct kind_opts *ko;
    const char *campaign; /* NULL: unchanged, "": none */
    struct channel got;
    char err[512];
    int rc;
};

/* The channel's fields, its reply kind and its campaign in one
 * transaction: an edit of the kind or the campaign alone still needs the
 * channel active. */
static int edit_tx(struct store *st, void *arg)
{
    struct edit_tx *e = arg;
    if (e->set) {
        e->rc = channel_edit(st, e->scene, e->c, e->set, &e->got, NULL, e->err, sizeof(e->err));
    } else {
        int state = channel_state(st, e->scene);
        e->rc = state < 0                   ? -1
                : state == CHANNEL_ABSENT   ? CHANNEL_ENOTFOUND
                : state == CHANNEL_ARCHIVED ? CHANNEL_EARCHIVED
                                            : channel_get(st, e->scene, &e->got);
        if (e->rc == 1) /* gone since it was checked */
            e->rc = CHANNEL_ENOTFOUND;
        if (e->rc != 0)
            snprintf(e->err, sizeof(e->err),
                     e->rc == CHANNEL_ENOTFOUND   ? "channel %s does not exist"
                     : e->rc == CHANNEL_EARCHIVED ? "channel %s is archived: it cannot be edited"
                                                  : "%s",
                     e->rc < -1 ? e->scene : store_errmsg(st));
    }
    if (e->rc == 0 && kind_store(st, e->scene, e->ko, (e->set & CHANNEL_SET_REPLY) != 0) < 0)
        e->rc = -1, snprintf(e->err, sizeof(e->err), "%s", store_errmsg(st));
    if (e->rc == 0 && e->campaign)
        e->rc = campaign_set_channel(st, e->scene, e->campaign, e->err, sizeof(e->err));
    return e->rc < 0 ? -1 : 0;
}

static int cmd_edit(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"name", required_argument, NULL, 'n'},
                                         {"promoter", required_argument, NULL, 'p'},
                                         {"reply", required_argument, NULL, 'r'},
                                         {"scan-reply", required_argument, NULL, 's'},
                                         {"tag", required_argument, NULL, 't'},
                                         {"reply-news", required_argument, NULL, 'N'},
                                         {"news-url", required_argument, NULL, 'U'},
                                         {"news-description", required_argument, NULL, 'D'},
                                         {"news-picurl", required_argument, NULL, 'P'},
                                         {"reply-image", required_argument, NULL, 'I'},
                                         {"campaign", required_argument, NULL, 'c'},
                                         {NULL, 0, NULL, 0}};
    static const struct {
        int opt;
        unsigned bit;
        size_t off;
    } map[] = {
        {'n', CHANNEL_SET_NAME, offsetof(struct channel, name)},
        {'p', CHANNEL_SET_PROMOTER, offsetof(struct channel, promoter)},
        {'r', CHANNEL_SET_REPLY, offsetof(struct channel, reply)},
        {'s', CHANNEL_SET_SCAN_REPLY, offsetof(struct channel, scan_reply)},
        {'t', CHANNEL_SET_TAG, offsetof(struct channel, tag)},
    };
    struct channel c = {0};
    struct kind_opts ko = {0};
    const char *campaign = NULL;
    unsigned set = 0;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (kind_opt(&ko, o, optarg))
            continue;
        size_t i = 0;
        if (o == 'c') {
            campaign = optarg;
            continue;
        }
        while (i < WXS_ARRAY_LEN(map) && map[i].opt != o)
            i++;
        if (i == WXS_ARRAY_LEN(map))
            return cli_usage(cli);
        *(char **)((char *)&c + map[i].off) = optarg;
        set |= map[i].bit;
    }
    if (optind + 1 != argc || (!set && !kind_given(&ko) && !campaign))
        return cli_usage(cli);
    int rc = kind_check(&ko, "edit");
    if (rc)
        return rc;
    int state = channel_state(cli->store, argv[optind]); /* before an upload is wasted */
    if (state == CHANNEL_ABSENT || state == CHANNEL_ARCHIVED)
        return fprintf(stderr, "wxscene: channel edit: channel %s %s\n", argv[optind],
                       state == CHANNEL_ABSENT ? "does not exist"
                                               : "is archived: it cannot be edited"),
               1;
    if ((rc = kind_upload(cli, &ko, "edit")) != 0)
        return rc;
    /* a refused value is a usage error, as in channel add; a scene that
     * is not there (or archived), an unknown campaign or a failing store
     * is a runtime one */
    struct edit_tx e = {
        .scene = argv[optind], .c = &c, .set = set, .ko = &ko, .campaign = campaign};
    if (store_tx(cli->store, edit_tx, &e) < 0 || e.rc < 0) {
        fprintf(stderr, "wxscene: channel edit: %s\n", e.err[0] ? e.err : store_errmsg(cli->store));
        channel_clear(&e.got);
        return e.rc == CHANNEL_EINVALID ? 2 : 1;
    }
    printf("channel %s edited (%s)%s%s\n", e.got.scene, e.got.name,
           !campaign   ? ""
           : *campaign ? ", campaign "
                       : ", in no campaign",
           campaign ? campaign : "");
    channel_clear(&e.got);
    return 0;
}

/* ---- list ---- */

struct list_ctx {
    struct store *st; /* each row's campaign */
    enum out_format fmt;
    json_t *arr;
    struct buf line;
    struct table t;
};

static const char *nz(const char *s)
{
    return s ? s : "";
}

static int list_cells(struct list_ctx *lc, const struct channel *c, const char *campaign)
{
    const char *cells[] = {c->scene, c->name, nz(c->promoter), nz(c->tag), nz(campaign)};
    for (size_t i = 0; i < WXS_ARRAY_LEN(cells); i++)
        if (table_add(&lc->t, cells[i]) < 0)
            return -1;
    return 0;
}

/* The channel's JSON with its campaign (null: in none). */
static json_t *row_json(const struct channel *c, const char *campaign)
{
    json_t *o = channel_to_json(c);
    if (o &&
        json_object_set_new(o, "campaign", campaign ? json_string(campaign) : json_null()) < 0) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* Table and JSON show the channel's campaign (the CSV is import's
 * format, which has no campaign column). */
static int list_row_campaign(struct list_ctx *lc, const struct channel *c)
{
    char *campaign = NULL;
    if (campaign_of_channel(lc->st, c->scene, &campaign) < 0)
        return -1;
    int rc = lc->fmt == FMT_JSON
                 ? (json_array_append_new(lc->arr, row_json(c, campaign)) == 0 ? 0 : -1)
                 : list_cells(lc, c, campaign);
    free(campaign);
    return rc;
}

static int list_row(const struct channel *c, void *arg)
{
    struct list_ctx *lc = arg;
    if (lc->fmt == FMT_JSON || lc->fmt == FMT_TABLE)
        return list_row_campaign(lc, c);
    const char *cols[] = {c->scene, c->name, c->promoter, c->reply, c->scan_reply, c->tag};
    buf_reset(&lc->line);
    for (size_t i = 0; i < WXS_ARRAY_LEN(cols); i++)
        if ((i && buf_puts(&lc->line, ",") < 0) || csv_field(&lc->line, nz(cols[i])) < 0)
            return -1;
    printf("%s\n", lc->line.data);
    return 0;
}

static int cmd_list(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
                                         {"bom", no_argument, NULL, 'B'},
                                         {NULL, 0, NULL, 0}};
    struct list_ctx lc = {.fmt = FMT_TABLE};
    bool bom = false;
    int o, rc = 1;
    while ((o = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        if (o == 'B')
            bom = true;
        else if (o != 'f' || parse_format(optarg, &lc.fmt) < 0)
            return cli_usage(cli);
    }
    if (optind != argc)
        return cli_usage(cli);
    if (bom && lc.fmt != FMT_CSV) {
        fprintf(stderr, "wxscene: channel list: --bom only applies to --format csv\n");
        return 2;
    }
    if (lc.fmt == FMT_JSON && !(lc.arr = json_array()))
        return 1;
    if (lc.fmt == FMT_CSV)
        printf("%sscene,name,promoter,reply,scan_reply,tag\n", bom ? CSV_BOM : "");
    lc.t.ncols = 5;
    lc.st = cli->store;
    if (lc.fmt == FMT_TABLE && (table_add(&lc.t, "SCENE") < 0 || table_add(&lc.t, "NAME") < 0 ||
                                table_add(&lc.t, "PROMOTER") < 0 || table_add(&lc.t, "TAG") < 0 ||
                                table_add(&lc.t, "CAMPAIGN") < 0))
        goto done;
    if (channel_foreach(cli->store, list_row, &lc) < 0) {
        fprintf(stderr, "wxscene: channel list: %s\n", store_errmsg(cli->store));
        goto done;
    }
    if (lc.fmt == FMT_JSON) {
        char *s = json_dumps(lc.arr, JSON_INDENT(2));
        if (!s)
            goto done;
        printf("%s\n", s);
        free(s);
    } else if (lc.fmt == FMT_TABLE) {
        buf_reset(&lc.line);
        if (table_print(&lc.t, &lc.line) < 0)
            goto done;
        fputs(lc.line.data ? lc.line.data : "", stdout);
    }
    rc = 0;
done:
    table_free(&lc.t);
    json_decref(lc.arr);
    buf_free(&lc.line);
    return rc;
}

/* ---- import ---- */

/* Each refusal as "wxscene: FILE:LINE: message" (the file alone for row 0),
 * then how many more were not listed. */
static void import_report(const struct channel_import *ci, const char *file)
{
    size_t listed = channel_import_errors_listed(ci);
    for (size_t i = 0; i < listed; i++) {
        const struct channel_import_error *e = channel_import_error(ci, i);
        if (e->row)
            fprintf(stderr, "wxscene: %s:%zu: %s\n", file, e->row, e->message);
        else
            fprintf(stderr, "wxscene: %s: %s\n", file, e->message);
    }
    if (channel_import_error_count(ci) > listed)
        fprintf(stderr, "wxscene: %s: %zu more errors not listed\n", file,
                channel_import_error_count(ci) - listed);
}

static int cmd_import(struct cli *cli, int argc, char **argv)
{
    if (argc != 2)
        return cli_usage(cli);
    struct channel_import *ci = NULL;
    int rc = 1;
    FILE *fp = strcmp(argv[1], "-") == 0 ? stdin : fopen(argv[1], "r");
    if (!fp) {
        fprintf(stderr, "wxscene: %s: %m\n", argv[1]);
        return 1;
    }
    if (channel_import_new(&ci, 20) < 0) {
        fprintf(stderr, "wxscene: out of memory\n");
    } else if (channel_import_read(ci, fp) < 0) {
        import_report(ci, argv[1]);
        fprintf(stderr, "wxscene: channel import: nothing imported\n");
        rc = 2;
    } else if (channel_import_write(ci, cli->store) < 0) {
        import_report(ci, argv[1]);
        fprintf(stderr, "wxscene: channel import: nothing imported\n");
    } else {
        printf("imported %zu channels from %s (read as %s)\n", channel_import_rows(ci), argv[1],
               channel_import_encoding(ci));
        rc = 0;
    }
    if (fp != stdin)
        fclose(fp);
    channel_import_free(ci);
    return rc;
}

/* The one place channel's commands and their options are described. */
static const struct cli_cmd cmds[] = {
    {"add", cmd_add,
     "SCENE --name NAME [--promoter NAME] [--reply TEXT] [--scan-reply TEXT] [--tag TAGNAME] "
     "[--campaign NAME] [--str] [--reply-news TITLE --news-url URL [--news-description TEXT] "
     "[--news-picurl URL] | --reply-image FILE]",
     NULL,
     "  SCENE: a number 1..4294967295 is a scene_id, anything else (or --str) a scene_str\n"
     "  --campaign: an existing campaign (wxscene campaign add) the channel joins\n"
     "  --reply/--scan-reply: the welcome for new fans / the answer to fans who scan again\n"
     "  --reply-news/--reply-image: the welcome is a news card (title 1..64 characters, http(s)\n"
     "  URLs) or an image (.png .jpg .gif .bmp, 10 MB at most, uploaded once as permanent\n"
     "  material); --scan-reply stays text\n"
     "  --tag: WeChat tag given to the channel's fans (30 bytes at most)\n"},
    {"edit", cmd_edit,
     "SCENE [--name NAME] [--promoter NAME] [--reply TEXT] [--scan-reply TEXT] [--tag TAGNAME] "
     "[--campaign NAME] [--reply-news TITLE --news-url URL [--news-description TEXT] "
     "[--news-picurl URL] | --reply-image FILE]",
     "empty --promoter/--scan-reply/--tag/--campaign removes it",
     "  at least one option; --reply \"\" answers nothing; --reply TEXT makes a news or image\n"
     "  welcome text again; the scene cannot change\n"},
    {"list", cmd_list, "[--format table|csv|json] [--bom]", NULL,
     "  --bom  CSV starts with a UTF-8 byte order mark (Excel on Chinese Windows)\n"},
    {"import", cmd_import, "FILE.csv", "columns: scene,name,promoter,reply,scan_reply[,tag]",
     "  UTF-8 (with or without BOM) or GB18030/GBK; a header row in English or Chinese\n"
     "  (场景值,名称,推广员,欢迎语,扫码回复,标签); every row or none is imported; - reads stdin\n"},
    {"archive", cli_qr_channel_archive, "SCENE", NULL, CLI_ARCHIVE_MORE},
    {"followup", cli_channel_followup, CLI_FOLLOWUP_ARGS,
     "up to 3 customer-service messages after the reply", CLI_FOLLOWUP_MORE},
};

const struct cli_verb cli_verb_channel = {"channel", cmds, WXS_ARRAY_LEN(cmds)};
