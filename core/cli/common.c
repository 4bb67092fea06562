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

void cli_print_http(FILE *f, const char *name, const struct llmbill_stats *st)
{
    /* LLMBILL_HTTP_E* in order (llmbill.h) */
    static const char *const failures[] = { "", "connect failed", "name not resolved",
                                            "timed out", "TLS failed", "connection broke",
                                            "transfer failed" };
    int e = st->last_transport_error;
    char last[32];

    if (st->requests == 0)
        return;
    if (e == 0)
        snprintf(last, sizeof last, "%d", st->last_status);
    else
        snprintf(last, sizeof last, "%s", e > 0 && e <= LLMBILL_HTTP_EOTHER ? failures[e]
                                                                           : failures[LLMBILL_HTTP_EOTHER]);
    fprintf(f, "  http %-12s %" PRIu64 " request(s), %" PRIu64 " with no answer, in flight %u, "
            "%u requests/s, answers p50 %.1f ms, p99 %.1f ms, last status %s\n", name,
            st->requests, st->transport_errors, st->in_flight, st->requests_per_s,
            st->answer_p50_us / 1000.0, st->answer_p99_us / 1000.0, last);
}

/* One sink's summary line (final counts). */
static void print_sink(FILE *f, const char *name, const struct llmbill_stats *st,
                       const char *last_error)
{
    fprintf(f, "  sink %-12s recorded %" PRIu64 ", delivered %" PRIu64 ", dead-lettered %" PRIu64
            ", pending %" PRIu64 ", retries %" PRIu64 "%s%s%s\n", name, st->recorded, st->delivered,
            st->dead_lettered, st->pending, st->retried,
            (st->pending || st->dead_lettered) && last_error[0] ? "; last error: " : "",
            st->pending || st->dead_lettered ? last_error : "",
            st->lost ? "; LOST (see the log)" : "");
}

int cli_close_report(llmbill *h, FILE *f, struct cli_outcome *o)
{
    size_t n = llmbill_sink_count(h);
    struct llmbill_stats *st = calloc(n ? n : 1, sizeof *st);
    char (*names)[128] = calloc(n ? n : 1, sizeof *names);
    char (*dl)[512] = calloc(n ? n : 1, sizeof *dl);
    char (*last)[256] = calloc(n ? n : 1, sizeof *last);
    int rc;

    memset(o, 0, sizeof *o);
    if (st == NULL || names == NULL || dl == NULL || last == NULL) {
        free(st);
        free(names);
        free(dl);
        free(last);
        fprintf(stderr, "llmbill: out of memory\n");
        llmbill_close(h);
        o->lost = 1;
        return LLMBILL_ENOMEM;
    }
    /* what goes with the handle, copied before close */
    for (size_t i = 0; i < n; i++) {
        struct llmbill_sink_info info;

        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        llmbill_get_sink_info(h, i, &info);
        snprintf(names[i], sizeof names[i], "%s", info.name ? info.name : "?");
        snprintf(dl[i], sizeof dl[i], "%s", info.dead_letter_path ? info.dead_letter_path : "?");
        snprintf(last[i], sizeof last[i], "%s", info.last_error);
        st[i].struct_size = sizeof st[i];
    }
    rc = llmbill_close_stats(h, st, n);
    o->sinks = n;
    for (size_t i = 0; i < n; i++) {
        print_sink(f, names[i], &st[i], last[i]);
        cli_print_http(f, names[i], &st[i]);
        o->delivered_all += st[i].pending == 0 && st[i].dead_lettered == 0 && st[i].lost == 0;
        o->pending += st[i].pending;
        o->lost += st[i].lost;
        if (st[i].dead_lettered > 0) {
            o->dead_lettered += st[i].dead_lettered;
            if (o->dead_letter_sink[0] == '\0') {
                snprintf(o->dead_letter_sink, sizeof o->dead_letter_sink, "%s", names[i]);
                snprintf(o->dead_letter_path, sizeof o->dead_letter_path, "%s", dl[i]);
            }
        }
    }
    free(st);
    free(names);
    free(dl);
    free(last);
    return rc;
}

int cli_is_help(const char *a)
{
    return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}
