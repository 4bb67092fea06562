/* llmbill CLI: entry point and command dispatch. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "llmbill/sink.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: llmbill [-c FILE] COMMAND [OPTIONS]\n"
        "\n"
        "Record LLM usage events and deliver them to the billing sinks in llmbill.ini.\n"
        "\n"
        "commands:\n"
        "  check     parse the config and load every sink; report what is wrong\n"
        "  send      record one usage event, deliver it, and wait for the result\n"
        "  replay    record every usage event of a JSONL file (or -), then deliver\n"
        "  price     the exact cost of one call, from the price table\n"
        "  spool     status or drain of the durable journal\n"
        "\n"
        "options:\n"
        "  -c FILE     config file (default: $LLMBILL_CONFIG, else ./llmbill.ini)\n"
        "  --version   print the version\n"
        "  -h, --help  this help; `llmbill COMMAND --help` for a command's options\n");
}

int main(int argc, char **argv)
{
    struct cli c;
    int i = 1;
    const char *env = getenv("LLMBILL_CONFIG");

    memset(&c, 0, sizeof c);
    c.config = env && *env ? env : "llmbill.ini";
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
            if (++i >= argc) {
                fprintf(stderr, "llmbill: -c needs a file\n");
                return 2;
            }
            c.config = argv[i];
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("llmbill %s (sink ABI %d.%d)\n", llmbill_version_string(),
                   LLMBILL_SINK_ABI_MAJOR, LLMBILL_SINK_ABI_MINOR);
            return 0;
        } else if (cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "llmbill: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[i], "check") == 0)
        return cmd_check(&c, argc - i, argv + i);
    if (strcmp(argv[i], "send") == 0)
        return cmd_send(&c, argc - i, argv + i);
    if (strcmp(argv[i], "replay") == 0)
        return cmd_replay(&c, argc - i, argv + i);
    if (strcmp(argv[i], "price") == 0)
        return cmd_price(&c, argc - i, argv + i);
    if (strcmp(argv[i], "spool") == 0)
        return cmd_spool(&c, argc - i, argv + i);
    fprintf(stderr, "llmbill: unknown command '%s'\n", argv[i]);
    usage(stderr);
    return 2;
}
