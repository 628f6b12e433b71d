#include <getopt.h>
#include <string.h>

#include "cli.h"

int cli_global_args(int argc, char **argv, const char *prog, void (*usage)(FILE *f),
                    bool operands_ok, const char **config, int *first_operand)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    int c;
    /* "+": stop at the first operand instead of permuting argv */
    while ((c = getopt_long(argc, argv, operands_ok ? "+c:hV" : "c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            *config = optarg;
            break;
        case 'h':
            usage(stdout);
            return 1;
        case 'V':
            printf("%s %s\n", prog, WXSCENE_VERSION);
            return 1;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!operands_ok && optind != argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
        usage(stderr);
        return 2;
    }
    if (first_operand)
        *first_operand = optind;
    return 0;
}

const struct cli_cmd *cli_cmd_find(const struct cli_verb *v, const char *name)
{
    if (v->ncmds == 1 && !v->cmds[0].name)
        return &v->cmds[0];
    for (size_t i = 0; name && i < v->ncmds; i++)
        if (strcmp(v->cmds[i].name, name) == 0)
            return &v->cmds[i];
    return NULL;
}

/* Each form of c's args on its own line: lead (then next), "VERB[ SUB]",
 * " ARGS", tail after the first. The lines of a multi-line args are
 * alternative forms of one command ("qr create SCENE ..." and "qr create
 * --perm --alloc ..."), each a complete synopsis. */
static void print_forms(FILE *f, const char *lead, const char *next, const struct cli_verb *v,
                        const struct cli_cmd *c, const char *tail)
{
    const char *form = c->args ? c->args : "";
    do {
        size_t len = strcspn(form, "\n");
        fprintf(f, "%s%s%s%s%s%.*s%s\n", lead, v->name, c->name ? " " : "", c->name ? c->name : "",
                len ? " " : "", (int)len, form, form == c->args && tail ? tail : "");
        form += len;
        lead = next;
    } while (*form++ == '\n');
}

/* wxscene --help: one line per form, the note in parentheses after the
 * first, so the whole CLI fits on a screen; the details are in each
 * command's own --help. */
void cli_verb_summary(FILE *f, const struct cli_verb *v)
{
    char tail[256];
    for (size_t i = 0; i < v->ncmds; i++) {
        const struct cli_cmd *c = &v->cmds[i];
        snprintf(tail, sizeof(tail), "   (%s)", c->note ? c->note : "");
        print_forms(f, "  ", "  ", v, c, c->note ? tail : NULL);
    }
}

void cli_cmd_help(FILE *f, const struct cli_verb *v, const struct cli_cmd *c)
{
    const struct cli_cmd *end = c ? c + 1 : v->cmds + v->ncmds;
    for (c = c ? c : v->cmds; c < end; c++) {
        print_forms(f, "usage: wxscene ", "       wxscene ", v, c, NULL);
        if (c->note)
            fprintf(f, "  %s\n", c->note);
        fputs(c->more ? c->more : "", f);
    }
}

int cli_usage(const struct cli *cli)
{
    cli_cmd_help(stderr, cli->verb, cli->cmd);
    return 2;
}

/* The dispatch every verb shares: the command table is the only list of
 * sub-verbs, and cli->cmd tells the command which usage to print. */
int cli_verb_run(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
    bool subs = !(v->ncmds == 1 && !v->cmds[0].name);
    const struct cli_cmd *c = cli_cmd_find(v, argc >= 2 ? argv[1] : NULL);
    if (!c) {
        if (argc >= 2)
            fprintf(stderr, "%s: %s: unknown command \"%s\"\n", cli->prog, v->name, argv[1]);
        cli_cmd_help(stderr, v, NULL);
        return 2;
    }
    cli->verb = v;
    cli->cmd = c;
    optind = 0; /* the command's own options */
    return subs ? c->fn(cli, argc - 1, argv + 1) : c->fn(cli, argc, argv);
}
