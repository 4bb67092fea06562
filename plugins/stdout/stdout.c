/* llmbill sink "stdout": one readable line per event, for development. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "esc.h"
#include "llmbill/sink.h"

struct out {
    const struct llmbill_host *host;
    FILE *f;
    char reason[128];
};

static const struct llmbill_option stdout_options[] = {
    { "stream", LLMBILL_OPT_STRING, 0, "stdout", NULL, "stdout or stderr" },
    { NULL, 0, 0, NULL, NULL, NULL }
};

static int stdout_create(const struct llmbill_host *host, llmbill_sink_ctx *ctx, void **state)
{
    struct out *o = calloc(1, sizeof *o);
    const char *stream = host->config_get(ctx, "stream");

    if (o == NULL) {
        host->set_error(ctx, "out of memory");
        return -1;
    }
    if (strcmp(stream, "stdout") == 0) {
        o->f = stdout;
    } else if (strcmp(stream, "stderr") == 0) {
        o->f = stderr;
    } else {
        host->set_error(ctx, "stream: '%s' is not stdout or stderr", stream);
        free(o);
        return -1;
    }
    o->host = host;
    *state = o;
    return 0;
}

/* s (or "-" when empty) escaped by lb_ctl_escape() (esc.h: control
 * characters as \xNN, a backslash doubled), so a field can neither forge a
 * line nor reach the terminal as an escape sequence. out holds 4 bytes per
 * byte of s and the NUL. */
static const char *esc(const char *s, char *out, size_t cap)
{
    if (s == NULL || *s == '\0')
        return "-";
    return lb_ctl_escape(s, out, cap);
}

/* " input_audio_tokens=N ..." for the modality and tool counts that are
 * set (their JSON names), or "". */
static void extras(const struct llmbill_usage *u, char *buf, size_t cap)
{
    size_t len = 0;

    buf[0] = '\0';
    if (!LLMBILL_USAGE_HAS_COUNTS(u))
        return;
#define COUNT_FIELD(f)                                                               \
    if (u->f > 0 && len < cap)                                                       \
        len += (size_t)snprintf(buf + len, cap - len, " %s=%" PRIu64, #f, u->f);
    LLMBILL_USAGE_COUNTS(COUNT_FIELD)
#undef COUNT_FIELD
}

static int stdout_emit(void *state, struct llmbill_sink_batch *b)
{
    struct out *o = state;

    for (size_t i = 0; i < b->n; i++) {
        const struct llmbill_usage *u = b->events[i];
        time_t secs = (time_t)(u->timestamp_ms / 1000);
        struct tm tm;
        char when[32], cost[48] = "unpriced", more[256];
        char who[4 * LLMBILL_ID_MAX + 10], prov[4 * LLMBILL_ID_MAX + 10];
        char model[4 * LLMBILL_ID_MAX + 10];

        gmtime_r(&secs, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        if (u->flags & LLMBILL_USAGE_COST_KNOWN) {
            char num[40];

            o->host->cost_format(u->cost, num, sizeof num);
            snprintf(cost, sizeof cost, "%s %s", num, u->currency ? u->currency : "USD");
        }
        extras(u, more, sizeof more);
        fprintf(o->f, "%s.%03dZ %s customer=%s model=%s%s%s in=%" PRIu64 " (cached %" PRIu64
                ", cache-write %" PRIu64 ") out=%" PRIu64 " (reasoning %" PRIu64 ")%s cost=%s "
                "id=%s\n", when, (int)(u->timestamp_ms % 1000),
                u->status == 1 ? "FAILURE" : "success",
                esc(u->customer_id ? u->customer_id : u->subscription_id ? u->subscription_id
                    : u->user_id ? u->user_id : u->team_id, who, sizeof who),
                u->provider && *u->provider ? esc(u->provider, prov, sizeof prov) : "",
                u->provider ? "/" : "",
                esc(u->model, model, sizeof model),
                u->input_tokens, u->cached_input_tokens, u->cache_creation_input_tokens,
                u->output_tokens, u->reasoning_tokens, more, cost, u->event_id);
    }
    if (fflush(o->f) != 0) {
        snprintf(o->reason, sizeof o->reason, "write: %s", strerror(errno));
        b->reason = o->reason;
        return LLMBILL_SINK_RETRY;
    }
    return LLMBILL_SINK_OK;
}

static void stdout_destroy(void *state)
{
    free(state);
}

static const struct llmbill_sink_desc stdout_desc = {
    .struct_size = sizeof(struct llmbill_sink_desc),
    .abi = LLMBILL_SINK_ABI,
    .name = "stdout",
    .version = "0.1.0",
    .description = "print one readable line per event",
    .max_batch = 100,
    .options = stdout_options,
    .create = stdout_create,
    .emit = stdout_emit,
    .destroy = stdout_destroy,
};

LLMBILL_SINK_DEFINE(stdout_desc)
