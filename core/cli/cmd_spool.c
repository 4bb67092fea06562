/* llmbill CLI: `llmbill spool status|drain`, the durable journal. */
#define _GNU_SOURCE
#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "cli.h"

static void spool_usage(FILE *f)
{
    fprintf(f,
        "usage: llmbill [-c FILE] spool status\n"
        "       llmbill [-c FILE] spool drain [--timeout-ms N]\n\n"
        "status: what each sink has not finished in the journal ([llmbill] spool_dir),\n"
        "        and what sinks not in this config have not finished in its journals;\n"
        "        nothing is delivered.\n"
        "drain:  delivers the journal's backlog to every sink and exits; exit status 0\n"
        "        when nothing is left (default timeout: 600000 ms).\n");
}

/* One sink this config lacks that a journal of the spool holds events for. */
static void print_foreign(void *arg, const char *sink, const char *journal, uint64_t backlog)
{
    (void)arg;
    printf("  sink %-12s %" PRIu64 " event(s) in %s not yet delivered: not in this config "
           "(a config with it delivers them)\n", sink, backlog, journal);
}

/* Prints the backlog per sink (and per sink not in this config that a
 * journal still holds events for); returns the total of this config's. */
static uint64_t print_backlog(llmbill *h)
{
    struct llmbill_stats st;
    uint64_t total;

    for (size_t i = 0; i < llmbill_sink_count(h); i++) {
        memset(&st, 0, sizeof st);
        st.struct_size = sizeof st;
        llmbill_get_stats(h, llmbill_sink_name(h, i), &st);
        printf("  sink %-12s %" PRIu64 " event(s) in the journal not yet delivered\n",
               llmbill_sink_name(h, i), st.spooled);
    }
    (void)llmbill_spool_foreign(h, print_foreign, NULL);
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    llmbill_get_stats(h, NULL, &st);
    total = st.spooled;
    printf("  journal backlog: %" PRIu64 " event(s); corrupt frames skipped: %" PRIu64 "\n",
           total, st.spool_corrupt);
    return total;
}

int cmd_spool(struct cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "timeout-ms", required_argument, NULL, 't' }, { "config", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
    };
    uint64_t timeout = 600000;
    const char *what;
    llmbill *h;
    int opt, rc;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        if (opt == 'c') {
            c->config = optarg;
        } else if (opt == 't') {
            if (cli_u64("--timeout-ms", optarg, &timeout) != 0)
                return 2;
        } else {
            spool_usage(opt == 'h' ? stdout : stderr);
            return opt == 'h' ? 0 : 2;
        }
    }
    if (optind != argc - 1 || (strcmp(argv[optind], "status") != 0 &&
                               strcmp(argv[optind], "drain") != 0)) {
        spool_usage(stderr);
        return 2;
    }
    what = argv[optind];
    if (strcmp(what, "status") == 0) {
        if ((h = cli_open(c, LLMBILL_OPEN_PAUSED)) == NULL)
            return 1;
        print_backlog(h);
        llmbill_close(h);
        return 0;
    }
    if ((h = cli_open(c, 0)) == NULL)
        return 1;
    rc = llmbill_flush(h, (int)(timeout > 2000000000 ? 2000000000 : timeout));
    printf("spool drain: %s\n", rc == 0 ? "done" : "timed out");
    rc = print_backlog(h) == 0 && rc == 0 ? 0 : 1;
    llmbill_close(h);
    return rc;
}
