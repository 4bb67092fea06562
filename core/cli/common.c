/* llmbill CLI: helpers shared by the commands. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void log_to_stderr(void *ud, int level, const char *msg)
{
    static const char *const names[] = { "error", "warning", "info", "debug" };

    (void)ud;
    fprintf(stderr, "llmbill: %s: %s\n", names[level < 0 || level > 3 ? 0 : level], msg);
}

llmbill *cli_open(const struct cli *c, uint32_t flags)
{
    char err[1024] = "";
    struct llmbill_open_opts o;
    llmbill *h = NULL;
    int rc;

    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.flags = flags;
    o.log_cb = log_to_stderr;
    o.errbuf = err;
    o.errbuf_len = sizeof err;
    rc = llmbill_open(&h, c->config, &o);
    if (rc != 0) {
        fprintf(stderr, "llmbill: %s\n", err[0] ? err : llmbill_strerror(rc));
        return NULL;
    }
    return h;
}

int cli_u64(const char *opt, const char *v, uint64_t *out)
{
    char *end;
    unsigned long long x;

    if (v == NULL) {
        fprintf(stderr, "llmbill: %s needs a value\n", opt);
        return -1;
    }
    errno = 0;
    x = strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0' || end == v || v[0] == '-') {
        fprintf(stderr, "llmbill: %s: '%s' is not a non-negative integer\n", opt, v);
        return -1;
    }
    *out = x;
    return 0;
}

int cli_print_stats(llmbill *h, FILE *f)
{
    int bad = 0;

    for (size_t i = 0; i < llmbill_sink_count(h); i++) {
        struct llmbill_stats st;
        struct llmbill_sink_info info;

        memset(&st, 0, sizeof st);
        st.struct_size = sizeof st;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        llmbill_get_sink_info(h, i, &info);
        llmbill_get_stats(h, info.name, &st);
        fprintf(f, "  sink %-12s recorded %" PRIu64 ", delivered %" PRIu64 ", dead-lettered %"
                PRIu64 ", pending %" PRIu64 ", retries %" PRIu64 "%s%s\n", info.name, st.recorded,
                st.delivered, st.dead_lettered, st.pending, st.retried,
                st.pending && info.last_error[0] ? "; last error: " : "",
                st.pending ? info.last_error : "");
        if (st.pending > 0 || st.dead_lettered > 0)
            bad++;
    }
    return bad;
}

int cli_is_help(const char *a)
{
    return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}
