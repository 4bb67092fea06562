/* llmbill CLI: `llmbill check`. */
#define _GNU_SOURCE
#include <getopt.h>
#include <string.h>

#include "cli.h"

int cmd_check(struct cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    llmbill *h;
    int opt, failed = 0;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        if (opt == 'c') {
            c->config = optarg;
        } else {
            FILE *f = opt == 'h' ? stdout : stderr;

            fprintf(f, "usage: llmbill [-c FILE] check\n\n"
                       "Parses the config, loads every sink and starts it. Prints each sink\n"
                       "that loaded, or the first problem (file, line, key, what was expected).\n"
                       "Then asks each sink to check its backend (for lago: one authenticated\n"
                       "read, which tells whether the endpoint answers and the key is accepted).\n"
                       "Exit status 0 when everything loaded, 1 otherwise.\n");
            return opt == 'h' ? 0 : 2;
        }
    }
    h = cli_open(c, 0);
    if (h == NULL) {
        fprintf(stdout, "%s: FAILED\n", c->config);
        return 1;
    }
    printf("%s: ok, %zu sink(s)\n", c->config, llmbill_sink_count(h));
    {
        struct llmbill_pricing_info pi;

        memset(&pi, 0, sizeof pi);
        pi.struct_size = sizeof pi;
        llmbill_get_pricing_info(h, &pi);
        if (pi.enabled)
            printf("  pricing on: %s, %llu models, unknown models %s\n", pi.file,
                   (unsigned long long)pi.models, pi.unknown);
        else
            printf("  pricing off: no [pricing] section, events without a cost go out "
                   "unpriced\n");
    }
    for (size_t i = 0; i < llmbill_sink_count(h); i++) {
        struct llmbill_sink_info info;

        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        llmbill_get_sink_info(h, i, &info);
        printf("  sink %-12s plugin %s %s (%s), events %s, batch %u\n", info.name, info.plugin,
               info.plugin_version, info.path, info.events, info.batch_max);
    }
    for (size_t i = 0; i < llmbill_sink_count(h); i++) {
        char msg[512];
        int rc = llmbill_check_sink(h, i, msg, sizeof msg, 30000);

        struct llmbill_stats st;

        printf("  check %-11s %s: %s\n", llmbill_sink_name(h, i), rc == 0 ? "ok" : "FAILED", msg);
        memset(&st, 0, sizeof st);
        st.struct_size = sizeof st;
        if (llmbill_get_stats(h, llmbill_sink_name(h, i), &st) == 0)
            cli_print_http(stdout, llmbill_sink_name(h, i), &st);
        if (rc != 0)
            failed++;
    }
    llmbill_close(h);
    return failed ? 1 : 0;
}
