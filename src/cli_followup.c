/* wxscene channel followup add|list|remove: a channel's follow-up
 * messages (followup.h), and wxscene followup status: the outbox. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "cli.h"
#include "followup.h"
#include "media.h"
#include "reply.h"
#include "table.h"
#include "wxapi.h"

/* What fu_add's options ask for. */
struct fu_opts {
    const char *text, *image;
    struct reply_news news; /* news.title set = --news */
    bool news_part;
};

/* Exactly one kind, each valid (the image readable as one WeChat takes):
 * 0, or 2 with the message printed. */
static int fu_check(struct cli *cli, const struct fu_opts *o)
{
    char err[512];
    void *data;
    size_t len;
    const char *type;
    int kinds = !!o->text + !!o->news.title + !!o->image;
    if (kinds != 1)
        return fprintf(stderr, "wxscene: channel followup add: give one of --text, --news, "
                               "--image\n"),
               cli_usage(cli);
    if (o->news_part && !o->news.title)
        return fprintf(stderr, "wxscene: channel followup add: --news-* options need --news "
                               "TITLE\n"),
               2;
    int bad = o->text    ? followup_text_validate(o->text, err, sizeof(err))
              : o->image ? media_read_image(o->image, &data, &len, &type, err, sizeof(err))
                         : reply_news_validate(&o->news, NULL, err, sizeof(err));
    if (bad < 0)
        return fprintf(stderr, "wxscene: channel followup add: %s\n", err), 2;
    if (o->image)
        free(data);
    return 0;
}

/* The message in its stored form (reply.h); an image is uploaded now
 * unless its bytes were before. 0, 1 or 2 with the message printed. */
static int fu_body(struct cli *cli, const struct fu_opts *o, struct buf *body)
{
    char err[768], media_id[REPLY_MEDIA_ID_MAX + 1];
    struct wxapi *api = NULL;
    bool uploaded = false;
    if (o->text)
        return buf_puts(body, o->text) < 0 ? 1 : 0;
    if (o->news.title)
        return reply_encode_news(body, &o->news) < 0 ? 1 : 0;
    if (!cli->cfg->appid[0] || !cli->cfg->appsecret[0])
        return fprintf(stderr,
                       "wxscene: channel followup add: --image: %s: [wechat] appid and "
                       "appsecret are needed to upload the image\n",
                       cli->cfg->path),
               2;
    int rc = wxapi_new(&api, cli->cfg, cli->store, err, sizeof(err)) < 0 ||
                     media_image_id(cli->store, api, o->image, media_id, sizeof(media_id),
                                    &uploaded, err, sizeof(err)) < 0
                 ? 1
                 : 0;
    wxapi_free(api);
    if (rc)
        return fprintf(stderr, "wxscene: channel followup add: --image: %s\n", err), 1;
    printf("image %s %s (media_id %s)\n", o->image,
           uploaded ? "uploaded as permanent material" : "already uploaded", media_id);
    return reply_encode_image(body, media_id) < 0 ? 1 : 0;
}

static int fu_add(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"text", required_argument, NULL, 'T'},
                                         {"news", required_argument, NULL, 'N'},
                                         {"news-url", required_argument, NULL, 'U'},
                                         {"news-description", required_argument, NULL, 'D'},
                                         {"news-picurl", required_argument, NULL, 'P'},
                                         {"image", required_argument, NULL, 'I'},
                                         {NULL, 0, NULL, 0}};
    struct fu_opts o = {0};
    struct buf body = {0};
    char err[512];
    int c, pos = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'T':
            o.text = optarg;
            break;
        case 'N':
            o.news.title = optarg;
            break;
        case 'U':
            o.news.url = optarg, o.news_part = true;
            break;
        case 'D':
            o.news.description = optarg, o.news_part = true;
            break;
        case 'P':
            o.news.picurl = optarg, o.news_part = true;
            break;
        case 'I':
            o.image = optarg;
            break;
        default:
            return cli_usage(cli);
        }
    }
    if (optind + 1 != argc)
        return cli_usage(cli);
    const char *scene = argv[optind];
    int rc = fu_check(cli, &o);
    if (rc)
        return rc;
    int state = channel_state(cli->store, scene); /* before an upload is wasted */
    if (state != CHANNEL_ACTIVE)
        return fprintf(stderr, "wxscene: channel followup add: %s\n",
                       state < 0                   ? store_errmsg(cli->store)
                       : state == CHANNEL_ARCHIVED ? "the channel is archived"
                                                   : "the channel does not exist"),
               1;
    if ((rc = fu_body(cli, &o, &body)) != 0)
        goto done;
    enum reply_kind kind = o.text ? REPLY_TEXT : o.news.title ? REPLY_NEWS : REPLY_IMAGE;
    const char *file = o.image && strrchr(o.image, '/') ? strrchr(o.image, '/') + 1 : o.image;
    rc = followup_add(cli->store, scene, kind, body.data, file, &pos, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "wxscene: channel followup add: %s\n", err);
        rc = 1;
    } else {
        printf("channel %s follow-up %d added (%s)\n", scene, pos, reply_kind_name(kind));
    }
done:
    buf_free(&body);
    return rc;
}

/* One follow-up as a table row: its number, kind and what the fan sees. */
static int list_row(const struct followup *f, void *arg)
{
    struct table *t = arg;
    struct reply_news n;
    const char *media_id = NULL;
    char *copy = NULL, what[600];
    if (f->kind == REPLY_NEWS && reply_decode_news(f->body, &n, &copy) == 0)
        snprintf(what, sizeof(what), "%s <%s>", n.title, n.url);
    else if (f->kind == REPLY_IMAGE && reply_decode_image(f->body, &media_id, &copy) == 0)
        snprintf(what, sizeof(what), "%s (media_id %s)", f->media_file ? f->media_file : "-",
                 media_id);
    else
        snprintf(what, sizeof(what), "%s", f->body);
    for (char *p = what; *p; p++) /* one line per row */
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    free(copy);
    return table_int(t, f->pos) < 0 || table_add(t, reply_kind_name(f->kind)) < 0 ||
                   table_add(t, what) < 0
               ? -1
               : 0;
}

static int fu_list(struct cli *cli, int argc, char **argv)
{
    static const char *const heads[] = {"n", "kind", "message"};
    struct table t = {.ncols = WXS_ARRAY_LEN(heads), .numeric = {true}};
    struct buf out = {0};
    int rc = 1;
    if (argc != 2)
        return cli_usage(cli);
    int state = channel_state(cli->store, argv[1]);
    if (state == CHANNEL_ABSENT)
        return fprintf(stderr, "wxscene: channel followup list: channel %s does not exist\n",
                       argv[1]),
               1;
    bool bad = false;
    for (size_t i = 0; i < WXS_ARRAY_LEN(heads); i++)
        bad = bad || table_add(&t, heads[i]) < 0;
    if (!bad && state >= 0 && followup_foreach(cli->store, argv[1], list_row, &t) == 0 &&
        table_print(&t, &out) == 0) {
        fputs(out.data ? out.data : "", stdout);
        rc = 0;
    } else {
        fprintf(stderr, "wxscene: channel followup list: %s\n", store_errmsg(cli->store));
    }
    table_free(&t);
    buf_free(&out);
    return rc;
}

static int fu_remove(struct cli *cli, int argc, char **argv)
{
    uint64_t n;
    char err[512];
    if (argc != 3)
        return cli_usage(cli);
    if (util_parse_u64(argv[2], 1, FOLLOWUP_MAX, &n) < 0)
        return fprintf(stderr, "wxscene: channel followup remove: N: \"%s\" is not 1..%d\n",
                       argv[2], FOLLOWUP_MAX),
               2;
    int rc = followup_remove(cli->store, argv[1], (int)n, err, sizeof(err));
    if (rc < 0)
        return fprintf(stderr, "wxscene: channel followup remove: %s\n", err), 1;
    printf("channel %s follow-up %d removed\n", argv[1], (int)n);
    return 0;
}

/* A chain, not a table: the help test follows direct calls to each
 * sub-verb's options. */
int cli_channel_followup(struct cli *cli, int argc, char **argv)
{
    const char *sub = argc >= 2 ? argv[1] : "";
    if (strcmp(sub, "add") == 0)
        return fu_add(cli, argc - 1, argv + 1);
    if (strcmp(sub, "list") == 0)
        return fu_list(cli, argc - 1, argv + 1);
    if (strcmp(sub, "remove") == 0)
        return fu_remove(cli, argc - 1, argv + 1);
    return cli_usage(cli);
}
