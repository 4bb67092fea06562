/* llmbill sink "lago": usage records to Lago events. A pure function of
 * its inputs, so it is unit-tested and fuzzed without a network.
 *
 *   transaction_id            = event_id (stable across retries and restarts)
 *   timestamp                 = "secs.mmm", fixed at record time, so Lago's
 *                               ClickHouse store deduplicates retries too
 *   external_subscription_id  = the field named by charge_by
 *   code                      = event_code
 *   properties                = token counts, model, cost (see README)
 *   precise_total_amount_cents= the exact cost in cents, when enabled
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lago.h"

const char *lago_charge_name(enum lago_charge_by by)
{
    switch (by) {
    case LAGO_BY_USER: return "user_id";
    case LAGO_BY_TEAM: return "team_id";
    case LAGO_BY_SUBSCRIPTION: return "subscription_id";
    default: return "customer_id";
    }
}

const char *lago_charge_value(const struct lago_map *m, const struct llmbill_usage *u)
{
    const char *v;

    switch (m->charge_by) {
    case LAGO_BY_USER: v = u->user_id; break;
    case LAGO_BY_TEAM: v = u->team_id; break;
    case LAGO_BY_SUBSCRIPTION: v = u->subscription_id; break;
    default: v = u->customer_id; break;
    }
    return v != NULL && v[0] != '\0' ? v : NULL;
}

int lago_cents(int64_t cost, char *buf, size_t cap)
{
    /* cost counts 1e-12 USD, so one cent is 1e10 units */
    uint64_t c = cost < 0 ? 0 : (uint64_t)cost;
    uint64_t ip = c / 10000000000ULL, fp = c % 10000000000ULL;
    char frac[16];
    int n, k;

    if (fp == 0) {
        n = snprintf(buf, cap, "%" PRIu64, ip);
    } else {
        snprintf(frac, sizeof frac, "%010" PRIu64, fp);
        for (k = 9; k > 0 && frac[k] == '0'; k--)
            frac[k] = '\0';
        n = snprintf(buf, cap, "%" PRIu64 ".%s", ip, frac);
    }
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* Appends the decimal digits of v (no printf on the hot path; two digits
 * per division). */
static void put_digits(struct lago_buf *b, uint64_t v)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    char tmp[24];
    int k = sizeof tmp;

    while (v >= 100) {
        unsigned d = (unsigned)(v % 100) * 2;

        v /= 100;
        tmp[--k] = pairs[d + 1];
        tmp[--k] = pairs[d];
    }
    if (v >= 10) {
        tmp[--k] = pairs[v * 2 + 1];
        tmp[--k] = pairs[v * 2];
    } else {
        tmp[--k] = (char)('0' + v);
    }
    lago_buf_put(b, tmp + k, sizeof tmp - (size_t)k);
}

/* ,"key":digits (key a string literal) */
#define PUT_U64(b, key, v) (LAGO_LIT(b, ",\"" key "\":"), put_digits(b, v))

static void put_event(const struct lago_map *m, const struct llmbill_usage *u, struct lago_buf *b)
{
    char num[64];
    int64_t ts = u->timestamp_ms;
    int n;

    LAGO_LIT(b, "{\"transaction_id\":");
    lago_buf_json(b, m->host, u->event_id);
    LAGO_LIT(b, ",\"external_subscription_id\":");
    lago_buf_json(b, m->host, lago_charge_value(m, u));
    LAGO_LIT(b, ",\"code\":");
    lago_buf_json(b, m->host, m->event_code);
    {
        char ms[5] = { '.', (char)('0' + ts % 1000 / 100), (char)('0' + ts % 100 / 10),
                       (char)('0' + ts % 10), '"' };

        LAGO_LIT(b, ",\"timestamp\":\"");
        put_digits(b, (uint64_t)(ts / 1000));
        lago_buf_put(b, ms, sizeof ms);
    }
    LAGO_LIT(b, ",\"properties\":{\"model\":");
    lago_buf_json(b, m->host, u->model);
    if (m->litellm_style) {
        PUT_U64(b, "prompt_tokens", u->input_tokens);
        PUT_U64(b, "completion_tokens", u->output_tokens);
    } else {
        if (u->provider != NULL) {
            LAGO_LIT(b, ",\"provider\":");
            lago_buf_json(b, m->host, u->provider);
        }
        PUT_U64(b, "input_tokens", u->input_tokens);
        PUT_U64(b, "output_tokens", u->output_tokens);
        PUT_U64(b, "cached_input_tokens", u->cached_input_tokens);
        PUT_U64(b, "cache_creation_input_tokens", u->cache_creation_input_tokens);
        PUT_U64(b, "reasoning_tokens", u->reasoning_tokens);
        /* modality and tool counts, when set (their names as in the JSON form) */
        if (LLMBILL_USAGE_HAS_COUNTS(u)) {
#define COUNT_FIELD(f) if (u->f > 0) PUT_U64(b, #f, u->f);
            LLMBILL_USAGE_COUNTS(COUNT_FIELD)
#undef COUNT_FIELD
        }
    }
    /* the host bounds each count (LLMBILL_TOKENS_MAX); checked all the same */
    if (u->input_tokens <= UINT64_MAX - u->output_tokens)
        PUT_U64(b, "total_tokens", u->input_tokens + u->output_tokens);
    if ((u->flags & LLMBILL_USAGE_COST_KNOWN) &&
        (n = m->host->cost_format(u->cost, num, sizeof num)) > 0 && (size_t)n < sizeof num) {
        LAGO_LIT(b, ",\"response_cost\":");
        lago_buf_put(b, num, (size_t)n);
    }
    if (m->extra_json != NULL)
        lago_buf_puts(b, m->extra_json);
    LAGO_LIT(b, "}");
    if (m->send_amount && (u->flags & LLMBILL_USAGE_COST_KNOWN) &&
        (n = lago_cents(u->cost, num, sizeof num)) > 0) {
        LAGO_LIT(b, ",\"precise_total_amount_cents\":\"");
        lago_buf_put(b, num, (size_t)n);
        LAGO_LIT(b, "\"");
    }
    LAGO_LIT(b, "}");
}

void lago_encode_batch(const struct lago_map *m, const struct llmbill_usage *const *events,
                       const size_t *idx, size_t n, struct lago_buf *b)
{
    LAGO_LIT(b, "{\"events\":[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            LAGO_LIT(b, ",");
        put_event(m, events[idx[i]], b);
    }
    LAGO_LIT(b, "]}");
}
