#include <getopt.h>

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
