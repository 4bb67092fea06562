/* A minimal HTTP sink on llmbill's request API (sink ABI 1.2), built out of
 * tree: POSTs each batch as {"events":[<usage JSON>, ...]} to a URL. The
 * sink only encodes and decodes; the core runs the requests (TLS, timeouts,
 * proxies, several batches in flight, retries with backoff, pauses on 429).
 *
 *   cc -shared -fPIC $(pkg-config --cflags llmbill) webhook_sink.c -o webhook.so
 *
 * and in llmbill.ini:
 *   [llmbill]
 *   callbacks = hook
 *   [hook]
 *   plugin = ./webhook.so
 *   url = https://example.com/usage
 *   token = ${HOOK_TOKEN}
 *   max_in_flight = 4
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmbill/sink.h>

struct hook {
    const struct llmbill_host *host;
    const char *url;
    char auth[512];
    const char *headers[3];
    char *body;                 /* reused for every request: the core copies it */
    size_t cap;
    char reason[256];
};

static const struct llmbill_option hook_options[] = {
    { "url", LLMBILL_OPT_STRING, LLMBILL_OPT_REQUIRED, NULL, NULL, "where batches are POSTed" },
    { "token", LLMBILL_OPT_STRING, LLMBILL_OPT_SECRET, NULL, NULL, "bearer token, if any" },
    { NULL, 0, 0, NULL, NULL, NULL }
};

static int hook_create(const struct llmbill_host *host, llmbill_sink_ctx *ctx, void **state)
{
    struct hook *k;
    const char *token;
    char err[256];
    size_t n = 0;

    if (!LLMBILL_HOST_HAS(host, http_perform)) {
        host->set_error(ctx, "this sink needs a host with sink ABI 1.2");
        return -1;
    }
    if ((k = calloc(1, sizeof *k)) == NULL) {
        host->set_error(ctx, "out of memory");
        return -1;
    }
    k->host = host;
    k->url = host->config_get(ctx, "url");
    if (host->http_check_url(ctx, k->url, err, sizeof err) != 0) {
        host->set_error(ctx, "url: %s", err);
        free(k);
        return -1;
    }
    token = host->config_get(ctx, "token");
    k->headers[n++] = "Content-Type: application/json";
    if (token != NULL) {
        snprintf(k->auth, sizeof k->auth, "Authorization: Bearer %s", token);
        k->headers[n++] = k->auth;
    }
    k->headers[n] = NULL;
    *state = k;
    return 0;
}

/* Appends len bytes of s to the body; 0 or -1. */
static int put(struct hook *k, size_t *len, const char *s, size_t n)
{
    if (*len + n + 1 > k->cap) {
        size_t cap = (k->cap ? k->cap : 4096) * 2 + n;
        char *p = realloc(k->body, cap);

        if (p == NULL)
            return -1;
        k->body = p;
        k->cap = cap;
    }
    memcpy(k->body + *len, s, n);
    *len += n;
    return 0;
}

/* The batch as one request. */
static int hook_request(void *state, struct llmbill_sink_batch *b, struct llmbill_http_request *req)
{
    struct hook *k = state;
    size_t len = 0;
    char one[8192];

    if (put(k, &len, "{\"events\":[", 11) != 0)
        return LLMBILL_SINK_RETRY;
    for (size_t i = 0; i < b->n; i++) {
        int n = k->host->usage_to_json(b->events[i], one, sizeof one);

        if (n < 0 || (size_t)n >= sizeof one) {
            b->results[i] = LLMBILL_SINK_ERROR; /* left out of the request */
            b->reasons[i] = "record too large for this sink";
            continue;
        }
        if ((len > 11 && put(k, &len, ",", 1) != 0) || put(k, &len, one, (size_t)n) != 0)
            return LLMBILL_SINK_RETRY;
    }
    if (put(k, &len, "]}", 2) != 0)
        return LLMBILL_SINK_RETRY;
    req->url = k->url;
    req->headers = k->headers;
    req->body = k->body;
    req->body_len = len;
    return LLMBILL_SINK_REQUEST;
}

/* The answer: 2xx delivered; 408, 429, 5xx and no answer are retried (the
 * core backs off, at least Retry-After); anything else rejects the batch. */
static int hook_response(void *state, struct llmbill_sink_batch *b,
                         const struct llmbill_http_response *r)
{
    struct hook *k = state;

    if (r->status >= 200 && r->status < 300)
        return LLMBILL_SINK_PARTIAL; /* the events sent stay OK; those left out stay ERROR */
    if (r->status == 0)
        snprintf(k->reason, sizeof k->reason, "no answer: %s", r->error);
    else
        snprintf(k->reason, sizeof k->reason, "the webhook answered %d", r->status);
    b->reason = k->reason;
    if (r->status == 0 || r->status == 408 || r->status == 429 || r->status >= 500) {
        b->retry_after_ms = r->retry_after_ms;
        return LLMBILL_SINK_RETRY;
    }
    return LLMBILL_SINK_ERROR;
}

static void hook_destroy(void *state)
{
    struct hook *k = state;

    memset(k->auth, 0, sizeof k->auth);
    free(k->body);
    free(k);
}

static const struct llmbill_sink_desc hook_desc = {
    .struct_size = sizeof(struct llmbill_sink_desc),
    .abi = LLMBILL_SINK_ABI,
    .name = "webhook",
    .version = "1.0.0",
    .description = "POSTs batches of usage JSON to a URL",
    .max_batch = 500,
    .options = hook_options,
    .create = hook_create,
    .destroy = hook_destroy,
    .request = hook_request,
    .response = hook_response,
};

LLMBILL_SINK_DEFINE(hook_desc)
