/* llmbill sink "lago": delivers usage events to Lago's events API
 * (POST /api/v1/events/batch, at most 100 per request), exactly once.
 *
 * Exactly once rests on three facts of Lago's contract: transaction_id is
 * the event_id, fixed at record time; a batch with any failing index stores
 * nothing; and an event Lago already holds comes back as
 * {"transaction_id":["value_already_exist"]}. So a 422 that flags only
 * duplicates means "delivered", and the unflagged rest is sent again at once.
 * Per-index validation errors are permanent: those events are dead-lettered
 * with Lago's reason and the rest is sent again. 401/403/404 and 3xx keep
 * the events and retry slowly; 429 waits as Retry-After / X-RateLimit-Reset
 * say; 5xx and transport failures are retried by the core with backoff.
 *
 * The sink is request-based (sink ABI 1.2): it encodes a batch into a
 * request and reads Lago's answer into per-event results; the core's HTTP
 * layer runs the requests, several batches in flight. It owns no transport. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lago.h"

#define LAGO_VERSION "0.1.0"

struct lago {
    const struct llmbill_host *host;
    llmbill_sink_ctx *ctx;
    struct lago_map map;
    char *base, *url_batch, *extra_json;
    char *auth;                 /* "Authorization: Bearer <key>" */
    char ua[128];
    const char *headers[5];
    size_t max_send;            /* shrinks if the server's batch limit is lower */
    int64_t auth_retry_ms;
    struct lago_buf req;
    int item[LAGO_MAX_BATCH];
    char item_reason[LAGO_MAX_BATCH][LAGO_REASON_LEN];
    char reasons[LAGO_MAX_BATCH][LAGO_REASON_LEN];
    char batch_reason[LAGO_REASON_LEN * 2];
};

static const struct llmbill_option lago_options[] = {
    { "api_base", LLMBILL_OPT_STRING, LLMBILL_OPT_REQUIRED, NULL, "LAGO_API_BASE",
      "Lago API URL, e.g. https://api.getlago.com" },
    { "api_key", LLMBILL_OPT_STRING, LLMBILL_OPT_REQUIRED | LLMBILL_OPT_SECRET, NULL,
      "LAGO_API_KEY", "Lago API key" },
    { "event_code", LLMBILL_OPT_STRING, LLMBILL_OPT_REQUIRED, NULL, "LAGO_API_EVENT_CODE",
      "the billable metric code" },
    { "charge_by", LLMBILL_OPT_STRING, 0, "end_user_id", "LAGO_API_CHARGE_BY",
      "record field sent as external_subscription_id: end_user_id (= customer_id), "
      "customer_id, user_id, team_id, subscription_id" },
    { "property_style", LLMBILL_OPT_STRING, 0, "llmbill", NULL, "llmbill or litellm" },
    { "send_amount", LLMBILL_OPT_BOOL, 0, "false", NULL,
      "send the cost as precise_total_amount_cents" },
    { "properties", LLMBILL_OPT_STRING, 0, NULL, NULL, "extra static properties: k=v, k2=v2" },
    { "auth_retry_ms", LLMBILL_OPT_INT, 0, "60000", NULL,
      "wait before retrying after 401, 403 or 404" },
    { NULL, 0, 0, NULL, NULL, NULL }
};

/* Encodes "k=v, k2=v2" as ,"k":"v","k2":"v2" (for the properties object). */
static int parse_properties(struct lago *l, const char *spec)
{
    struct lago_buf b = { NULL, 0, 0, 0 };
    char *copy = strdup(spec), *save = NULL, *tok;

    if (copy == NULL)
        return -1;
    for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '='), *k = tok, *v;
        size_t n;

        if (eq == NULL) {
            l->host->set_error(l->ctx, "properties: '%s' is not key=value", tok);
            free(copy);
            free(b.p);
            return -1;
        }
        *eq = '\0';
        v = eq + 1;
        while (*k == ' ')
            k++;
        while (*v == ' ')
            v++;
        for (n = strlen(k); n > 0 && k[n - 1] == ' '; n--)
            k[n - 1] = '\0';
        for (n = strlen(v); n > 0 && v[n - 1] == ' '; n--)
            v[n - 1] = '\0';
        LAGO_LIT(&b, ",");
        lago_buf_json(&b, l->host, k);
        LAGO_LIT(&b, ":");
        lago_buf_json(&b, l->host, v);
    }
    free(copy);
    if (b.oom) {
        free(b.p);
        return -1;
    }
    l->extra_json = b.p;
    return 0;
}

static int set_charge_by(struct lago *l, const char *v)
{
    if (strcmp(v, "end_user_id") == 0 || strcmp(v, "customer_id") == 0)
        l->map.charge_by = LAGO_BY_CUSTOMER;
    else if (strcmp(v, "user_id") == 0)
        l->map.charge_by = LAGO_BY_USER;
    else if (strcmp(v, "team_id") == 0)
        l->map.charge_by = LAGO_BY_TEAM;
    else if (strcmp(v, "subscription_id") == 0)
        l->map.charge_by = LAGO_BY_SUBSCRIPTION;
    else
        return -1;
    return 0;
}

static void lago_destroy(void *state)
{
    struct lago *l = state;

    if (l->auth != NULL) {
        memset(l->auth, 0, strlen(l->auth));
        free(l->auth);
    }
    free(l->base);
    free(l->url_batch);
    free(l->extra_json);
    free(l->req.p);
    free(l);
}

static int lago_create(const struct llmbill_host *host, llmbill_sink_ctx *ctx, void **state)
{
    struct lago *l = calloc(1, sizeof *l);
    const char *base, *style, *props, *key;
    char err[256];
    size_t n;

    if (l == NULL) {
        host->set_error(ctx, "out of memory");
        return -1;
    }
    if (!LLMBILL_HOST_HAS(host, http_perform)) {
        host->set_error(ctx, "this host is too old (the lago sink needs sink ABI 1.2)");
        free(l);
        return -1;
    }
    l->host = host;
    l->ctx = ctx;
    l->map.host = host;
    l->map.event_code = host->config_get(ctx, "event_code");
    l->max_send = LAGO_MAX_BATCH;
    if (set_charge_by(l, host->config_get(ctx, "charge_by")) != 0) {
        host->set_error(ctx, "charge_by: '%s' is not one of end_user_id, customer_id, user_id, "
                        "team_id, subscription_id", host->config_get(ctx, "charge_by"));
        goto fail;
    }
    style = host->config_get(ctx, "property_style");
    if (strcmp(style, "litellm") == 0) {
        l->map.litellm_style = 1;
    } else if (strcmp(style, "llmbill") != 0) {
        host->set_error(ctx, "property_style: '%s' is not llmbill or litellm", style);
        goto fail;
    }
    host->config_get_bool(ctx, "send_amount", &l->map.send_amount);
    props = host->config_get(ctx, "properties");
    if (props != NULL && parse_properties(l, props) != 0)
        goto fail;
    l->map.extra_json = l->extra_json;
    host->config_get_int(ctx, "auth_retry_ms", &l->auth_retry_ms);
    if (l->auth_retry_ms < 1 || l->auth_retry_ms > 86400000) {
        host->set_error(ctx, "auth_retry_ms must be 1..86400000");
        goto fail;
    }
    /* accept "https://host", "https://host/" and ".../api/v1" alike */
    base = host->config_get(ctx, "api_base");
    if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0) {
        host->set_error(ctx, "api_base: '%s' is not an http:// or https:// URL", base);
        goto fail;
    }
    if (host->http_check_url(ctx, base, err, sizeof err) != 0) {
        host->set_error(ctx, "api_base: %s", err);
        goto fail;
    }
    l->base = strdup(base);
    if (l->base == NULL)
        goto oom;
    n = strlen(l->base);
    while (n > 0 && l->base[n - 1] == '/')
        l->base[--n] = '\0';
    if (n >= 7 && strcmp(l->base + n - 7, "/api/v1") == 0)
        l->base[n - 7] = '\0';
    n = strlen(l->base) + 32;
    if ((l->url_batch = malloc(n)) == NULL)
        goto oom;
    snprintf(l->url_batch, n, "%s/api/v1/events/batch", l->base);
    key = host->config_get(ctx, "api_key");
    n = strlen(key) + 32;
    if ((l->auth = malloc(n)) == NULL)
        goto oom;
    snprintf(l->auth, n, "Authorization: Bearer %s", key);
    snprintf(l->ua, sizeof l->ua, "User-Agent: llmbill/%s lago-sink/%s", host->host_version,
             LAGO_VERSION);
    l->headers[0] = l->auth;
    l->headers[1] = "Content-Type: application/json";
    l->headers[2] = "Accept: application/json";
    l->headers[3] = l->ua;
    l->headers[4] = NULL;
    *state = l;
    return 0;
oom:
    host->set_error(ctx, "out of memory");
fail:
    lago_destroy(l);
    return -1;
}

/* A short, printable excerpt of an answer's body. */
static const char *excerpt(const struct llmbill_http_response *r, char *out, size_t cap)
{
    const char *b = r->body ? r->body : "";
    size_t k = 0;

    for (; *b && k + 1 < cap; b++)
        out[k++] = (*b >= 0x20 && *b < 0x7f) ? *b : ' ';
    out[k] = '\0';
    if (*b)
        snprintf(out + (k > 4 ? k - 4 : 0), 5, "...");
    return out;
}

static void mark(struct lago *l, struct llmbill_sink_batch *b, size_t i, int result,
                 const char *reason)
{
    b->results[i] = result;
    if (reason != NULL) {
        size_t n = strlen(reason);

        if (n >= LAGO_REASON_LEN)
            n = LAGO_REASON_LEN - 1;
        memcpy(l->reasons[i], reason, n);
        l->reasons[i][n] = '\0';
        b->reasons[i] = l->reasons[i];
    }
}

/* Encodes the events of b Lago can take into one request: at most
 * max_send of them; those beyond are left for the next request (AGAIN),
 * and a record with no charge value is rejected here (ERROR). */
static int lago_request(void *state, struct llmbill_sink_batch *b, struct llmbill_http_request *req)
{
    struct lago *l = state;
    size_t todo[LAGO_MAX_BATCH], nt = 0;
    char why[LAGO_REASON_LEN * 2];

    b->reason = NULL;
    for (size_t i = 0; i < b->n; i++) {
        if (lago_charge_value(&l->map, b->events[i]) == NULL) {
            snprintf(why, sizeof why, "the record has no %s (charge_by = %s), so it has no "
                     "external_subscription_id for Lago", lago_charge_name(l->map.charge_by),
                     l->host->config_get(l->ctx, "charge_by"));
            mark(l, b, i, LLMBILL_SINK_ERROR, why);
        } else if (nt < l->max_send) {
            todo[nt++] = i;
        } else {
            b->results[i] = LLMBILL_SINK_AGAIN;
        }
    }
    if (nt == 0)
        return LLMBILL_SINK_PARTIAL;
    l->req.len = 0;
    l->req.oom = 0;
    lago_encode_batch(&l->map, b->events, todo, nt, &l->req);
    if (l->req.oom) {
        snprintf(l->batch_reason, sizeof l->batch_reason, "out of memory encoding a batch");
        b->reason = l->batch_reason;
        return LLMBILL_SINK_RETRY;
    }
    req->method = "POST";
    req->url = l->url_batch;
    req->headers = l->headers;
    req->body = l->req.p;
    req->body_len = l->req.len;
    return LLMBILL_SINK_REQUEST;
}

/* Is body Lago's answer to a batch, {"events":[...]}? */
static int lago_batch_answer(const char *body)
{
    while (*body == ' ' || *body == '\t' || *body == '\r' || *body == '\n')
        body++;
    return *body == '{' && strstr(body, "\"events\"") != NULL;
}

/* Keeps the events, retrying every auth_retry_ms: a configuration error
 * (key, URL, redirect, an answer that is not Lago's) that a person must fix. */
static int config_error(struct lago *l, struct llmbill_sink_batch *b)
{
    l->host->log(l->ctx, LLMBILL_SINK_LOG_ERROR, "%s", l->batch_reason);
    b->retry_after_ms = l->auth_retry_ms;
    b->reason = l->batch_reason;
    return LLMBILL_SINK_RETRY;
}

/* Reads Lago's answer to the events of b marked OK (those sent, in order). */
static int lago_response(void *state, struct llmbill_sink_batch *b,
                         const struct llmbill_http_response *r)
{
    struct lago *l = state;
    size_t sent[LAGO_MAX_BATCH], chunk = 0;
    char body[200], why[LAGO_REASON_LEN * 2];
    int status = r->status;

    b->reason = NULL;
    for (size_t i = 0; i < b->n; i++)
        if (b->results[i] == LLMBILL_SINK_OK && chunk < LAGO_MAX_BATCH)
            sent[chunk++] = i;
    if (status == 0) {
        snprintf(l->batch_reason, sizeof l->batch_reason, "cannot reach Lago at %s: %s", l->base,
                 r->error);
        /* cut short by close's deadline: the events keep their last real
         * reason (a NULL reason leaves it as it was) */
        b->reason = LLMBILL_BATCH_HAS(b, deadline_ms) && b->deadline_ms > 0 &&
                    l->host->now_ms() >= b->deadline_ms ? NULL : l->batch_reason;
        for (size_t j = 0; j < chunk; j++)
            b->results[sent[j]] = LLMBILL_SINK_RETRY;
        return LLMBILL_SINK_PARTIAL;
    }
    if (status >= 200 && status < 300) {
        /* a body cut short (over 1 MiB, or no memory to keep it) cannot be
         * judged: the status stands */
        if (r->body_truncated || lago_batch_answer(r->body))
            return LLMBILL_SINK_PARTIAL; /* the events sent stay OK */
        snprintf(l->batch_reason, sizeof l->batch_reason, "the server at %s answered %d with a "
                 "body that is not Lago's ({\"events\": [...]}): %s; is api_base a Lago events "
                 "API? keeping the events and retrying every %lld ms", l->base, status,
                 excerpt(r, body, sizeof body), (long long)l->auth_retry_ms);
    } else if (status == 422) {
        int kind = lago_parse_422(r->body, r->body_len, chunk, l->item, l->item_reason);

        if (kind == LAGO_422_TOO_MANY && chunk > 1) {
            if (chunk / 2 < l->max_send) {
                l->max_send = chunk / 2;
                l->host->log(l->ctx, LLMBILL_SINK_LOG_WARN, "Lago accepts fewer than %zu events "
                             "per request; sending at most %zu", chunk, l->max_send);
            }
            for (size_t j = 0; j < chunk; j++)
                b->results[sent[j]] = LLMBILL_SINK_AGAIN;
            return LLMBILL_SINK_PARTIAL;
        }
        for (size_t j = 0; j < chunk; j++) {
            size_t i = sent[j];

            if (kind != LAGO_422_PER_INDEX) {
                snprintf(why, sizeof why, "Lago answered 422: %s", excerpt(r, body, sizeof body));
                mark(l, b, i, LLMBILL_SINK_ERROR, why);
            } else if (l->item[j] == LAGO_ITEM_ERROR) {
                snprintf(why, sizeof why, "Lago rejected the event (422): %s", l->item_reason[j]);
                mark(l, b, i, LLMBILL_SINK_ERROR, why);
            } else if (l->item[j] == LAGO_ITEM_NONE) {
                b->results[i] = LLMBILL_SINK_AGAIN; /* rolled back with the batch */
            }
            /* LAGO_ITEM_DUP: Lago already holds it: delivered (OK) */
        }
        return LLMBILL_SINK_PARTIAL;
    } else if (status == 413 && chunk > 1) {
        if (chunk / 2 < l->max_send)
            l->max_send = chunk / 2;
        for (size_t j = 0; j < chunk; j++)
            b->results[sent[j]] = LLMBILL_SINK_AGAIN;
        return LLMBILL_SINK_PARTIAL;
    } else if (status >= 300 && status < 400) {
        snprintf(l->batch_reason, sizeof l->batch_reason, "Lago at %s answered %d, a redirect to "
                 "%s, which is not followed: check api_base (LAGO_API_BASE); keeping the events "
                 "and retrying every %lld ms", l->base, status,
                 r->location ? r->location : "(no Location)", (long long)l->auth_retry_ms);
    } else if (status == 401 || status == 403 || status == 404) {
        snprintf(l->batch_reason, sizeof l->batch_reason, "%s (HTTP %d from %s): check %s; "
                 "keeping the events and retrying every %lld ms",
                 status == 401 ? "Lago rejected the API key"
                 : status == 403 ? "the API key may not write events"
                                 : "no Lago events API at api_base",
                 status, l->base, status == 404 ? "api_base (LAGO_API_BASE)"
                                                : "api_key (LAGO_API_KEY)",
                 (long long)l->auth_retry_ms);
    } else if (status == 408 || status == 425 || status == 429 || status >= 500) {
        snprintf(l->batch_reason, sizeof l->batch_reason, "Lago answered %d: %s", status,
                 excerpt(r, body, sizeof body));
        b->retry_after_ms = r->retry_after_ms;
        b->reason = l->batch_reason;
        return LLMBILL_SINK_RETRY;
    } else {
        /* 400 and any other 4xx: the request itself is wrong; retrying cannot help */
        snprintf(why, sizeof why, "Lago answered %d: %s", status, excerpt(r, body, sizeof body));
        for (size_t j = 0; j < chunk; j++)
            mark(l, b, sent[j], LLMBILL_SINK_ERROR, why);
        return LLMBILL_SINK_PARTIAL;
    }
    for (size_t j = 0; j < chunk; j++)
        b->results[sent[j]] = LLMBILL_SINK_RETRY;
    config_error(l, b);
    return LLMBILL_SINK_PARTIAL;
}

/* One authenticated read of an event that does not exist: Lago answers 404
 * with "event_not_found" when the endpoint is there and the key is good.
 * Any other answer, a 200 included, is not Lago accepting the key. */
static int lago_check(void *state, char *msg, size_t cap)
{
    struct lago *l = state;
    struct llmbill_http_request req;
    struct llmbill_http_response r;
    char url[1024], body[200];
    int status;

    snprintf(url, sizeof url, "%s/api/v1/events/llmbill-check-%lld", l->base,
             (long long)l->host->now_ms());
    memset(&req, 0, sizeof req);
    req.struct_size = sizeof req;
    req.method = "GET";
    req.url = url;
    req.headers = l->headers;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    status = l->host->http_perform(l->ctx, &req, &r);
    if (status == 0) {
        snprintf(msg, cap, "cannot reach Lago at %s: %s", l->base, r.error);
        return -1;
    }
    if (status == 404 && strstr(r.body, "\"event_not_found\"") != NULL) {
        snprintf(msg, cap, "Lago at %s answered and accepted the API key", l->base);
        return 0;
    }
    if (status == 401)
        snprintf(msg, cap, "Lago at %s rejected the API key (401); check api_key / LAGO_API_KEY",
                 l->base);
    else if (status == 404)
        snprintf(msg, cap, "no Lago events API at %s (404: %s); check api_base / LAGO_API_BASE",
                 l->base, excerpt(&r, body, sizeof body));
    else if (status >= 300 && status < 400)
        snprintf(msg, cap, "%s answered %d, a redirect to %s, which is not followed; check "
                 "api_base / LAGO_API_BASE", l->base, status, r.location ? r.location : "(none)");
    else if (status >= 200 && status < 300)
        snprintf(msg, cap, "%s answered %d but not as Lago's events API does (%s); check "
                 "api_base / LAGO_API_BASE", l->base, status, excerpt(&r, body, sizeof body));
    else
        snprintf(msg, cap, "Lago at %s answered %d: %s", l->base, status,
                 excerpt(&r, body, sizeof body));
    return -1;
}

static const struct llmbill_sink_desc lago_desc = {
    .struct_size = sizeof(struct llmbill_sink_desc),
    .abi = LLMBILL_SINK_ABI,
    .name = "lago",
    .version = LAGO_VERSION,
    .description = "Lago events API (batched, exactly once)",
    .max_batch = LAGO_MAX_BATCH,
    .options = lago_options,
    .create = lago_create,
    .destroy = lago_destroy,
    .check = lago_check,
    .max_in_flight = 64,
    .request = lago_request,
    .response = lago_response,
};

LLMBILL_SINK_DEFINE(lago_desc)
