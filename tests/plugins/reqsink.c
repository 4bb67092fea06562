/* Test sink on the request API (sink ABI 1.2) that crashes on command.
 * Each batch is one Lago-shaped POST (tests/lago_server.py) of the events'
 * ids; 2xx and 422 (already stored, in this test's use) are delivered, the
 * rest retried. Options:
 *   url URL            where batches are POSTed (Bearer k)
 *   crash_on_id ID     segfault when a batch holds the event ID, inside
 *   crash_in WHERE     request() or response() (default request)
 *   requests_log PATH  one line per request: "events outstanding", the
 *                      batch's event count and the requests sent and not
 *                      yet answered, this one included */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmbill/sink.h"

struct rs {
    const char *url, *crash_on_id, *requests_log;
    int in_response;
    int outstanding;            /* requests sent, response() not yet called */
    const char *headers[3];
    char body[65536];
};

static const struct llmbill_option rs_options[] = {
    { "url", LLMBILL_OPT_STRING, LLMBILL_OPT_REQUIRED, NULL, NULL, "where batches go" },
    { "crash_on_id", LLMBILL_OPT_STRING, 0, NULL, NULL, "segfault on this event" },
    { "crash_in", LLMBILL_OPT_STRING, 0, "request", NULL, "request or response" },
    { "requests_log", LLMBILL_OPT_PATH, 0, NULL, NULL, "a line per request" },
    { NULL, 0, 0, NULL, NULL, NULL }
};

static int rs_create(const struct llmbill_host *host, llmbill_sink_ctx *ctx, void **state)
{
    struct rs *r = calloc(1, sizeof *r);

    if (r == NULL)
        return -1;
    r->url = host->config_get(ctx, "url");
    r->crash_on_id = host->config_get(ctx, "crash_on_id");
    r->requests_log = host->config_get_path(ctx, "requests_log");
    r->in_response = strcmp(host->config_get(ctx, "crash_in"), "response") == 0;
    r->headers[0] = "Authorization: Bearer k";
    r->headers[1] = "Content-Type: application/json";
    *state = r;
    return 0;
}

static volatile uintptr_t bad_address = 8;

/* A segfault when b holds the chosen event (a real one: library threads
 * block signals, so raise() would not do). */
static void maybe_crash(const struct rs *r, const struct llmbill_sink_batch *b)
{
    for (size_t i = 0; r->crash_on_id && i < b->n; i++)
        if (b->events[i]->event_id && strcmp(b->events[i]->event_id, r->crash_on_id) == 0)
            *(volatile int *)bad_address = 1;
}

static int rs_request(void *state, struct llmbill_sink_batch *b, struct llmbill_http_request *req)
{
    struct rs *r = state;
    size_t len = 0;

    if (!r->in_response)
        maybe_crash(r, b);
    len += (size_t)snprintf(r->body, sizeof r->body, "{\"events\":[");
    for (size_t i = 0; i < b->n && len < sizeof r->body - 256; i++)
        len += (size_t)snprintf(r->body + len, sizeof r->body - len,
                                "%s{\"transaction_id\":\"%s\",\"external_subscription_id\":\"s\","
                                "\"code\":\"c\",\"timestamp\":%lld}", i ? "," : "",
                                b->events[i]->event_id,
                                (long long)(b->events[i]->timestamp_ms / 1000));
    len += (size_t)snprintf(r->body + len, sizeof r->body - len, "]}");
    req->url = r->url;
    req->headers = r->headers;
    req->body = r->body;
    req->body_len = len;
    r->outstanding++;
    if (r->requests_log != NULL) {
        FILE *f = fopen(r->requests_log, "a");

        if (f != NULL) {
            fprintf(f, "%zu %d\n", b->n, r->outstanding);
            fclose(f);
        }
    }
    return LLMBILL_SINK_REQUEST;
}

static int rs_response(void *state, struct llmbill_sink_batch *b,
                       const struct llmbill_http_response *resp)
{
    struct rs *r = state;

    r->outstanding--;
    if (r->in_response)
        maybe_crash(r, b);
    if ((resp->status >= 200 && resp->status < 300) || resp->status == 422)
        return LLMBILL_SINK_OK;
    b->reason = "not stored";
    return LLMBILL_SINK_RETRY;
}

static void rs_destroy(void *state)
{
    free(state);
}

static const struct llmbill_sink_desc rs_desc = {
    .struct_size = sizeof(struct llmbill_sink_desc),
    .abi = LLMBILL_SINK_ABI,
    .name = "reqsink",
    .version = "1.0.0",
    .description = "test: Lago-shaped requests, crashes on command",
    .max_batch = 100,
    .options = rs_options,
    .create = rs_create,
    .destroy = rs_destroy,
    .request = rs_request,
    .response = rs_response,
};

LLMBILL_SINK_DEFINE(rs_desc)
