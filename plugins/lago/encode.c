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

static void put_json_str(const struct lago_map *m, struct lago_buf *b, const char *s)
{
    /* one pass: room for the worst case (every byte escaped as \u00XX) */
    size_t worst = strlen(s) * 6 + 2;

    if (lago_buf_reserve(b, worst) != 0)
        return;
    b->len += m->host->json_string(s, b->p + b->len, worst + 1);
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

/* Appends the decimal digits of v (no printf on the hot path). */
static void put_digits(struct lago_buf *b, uint64_t v)
{
    char tmp[24];
    int k = sizeof tmp;

    do {
        tmp[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    lago_buf_put(b, tmp + k, sizeof tmp - (size_t)k);
}

static void put_u64(struct lago_buf *b, const char *key, uint64_t v)
{
    lago_buf_puts(b, ",\"");
    lago_buf_puts(b, key);
    lago_buf_puts(b, "\":");
    put_digits(b, v);
}

static void put_event(const struct lago_map *m, const struct llmbill_usage *u, struct lago_buf *b)
{
    char num[64];
    int64_t ts = u->timestamp_ms;

    lago_buf_puts(b, "{\"transaction_id\":");
    put_json_str(m, b, u->event_id);
    lago_buf_puts(b, ",\"external_subscription_id\":");
    put_json_str(m, b, lago_charge_value(m, u));
    lago_buf_puts(b, ",\"code\":");
    put_json_str(m, b, m->event_code);
    {
        char ms[4] = { (char)('0' + ts % 1000 / 100), (char)('0' + ts % 100 / 10),
                       (char)('0' + ts % 10), '\0' };

        lago_buf_puts(b, ",\"timestamp\":\"");
        put_digits(b, (uint64_t)(ts / 1000));
        lago_buf_puts(b, ".");
        lago_buf_puts(b, ms);
        lago_buf_puts(b, "\"");
    }
    lago_buf_puts(b, ",\"properties\":{\"model\":");
    put_json_str(m, b, u->model);
    if (m->litellm_style) {
        put_u64(b, "prompt_tokens", u->input_tokens);
        put_u64(b, "completion_tokens", u->output_tokens);
    } else {
        if (u->provider != NULL) {
            lago_buf_puts(b, ",\"provider\":");
            put_json_str(m, b, u->provider);
        }
        put_u64(b, "input_tokens", u->input_tokens);
        put_u64(b, "output_tokens", u->output_tokens);
        put_u64(b, "cached_input_tokens", u->cached_input_tokens);
        put_u64(b, "cache_creation_input_tokens", u->cache_creation_input_tokens);
        put_u64(b, "reasoning_tokens", u->reasoning_tokens);
        /* modality and tool counts, when set (their names as in the JSON form) */
        if (LLMBILL_USAGE_HAS_COUNTS(u)) {
#define COUNT_FIELD(f) if (u->f > 0) put_u64(b, #f, u->f);
            LLMBILL_USAGE_COUNTS(COUNT_FIELD)
#undef COUNT_FIELD
        }
    }
    /* the host bounds each count (LLMBILL_TOKENS_MAX); checked all the same */
    if (u->input_tokens <= UINT64_MAX - u->output_tokens)
        put_u64(b, "total_tokens", u->input_tokens + u->output_tokens);
    if ((u->flags & LLMBILL_USAGE_COST_KNOWN) && m->host->cost_format(u->cost, num, sizeof num) > 0)
        lago_buf_printf(b, ",\"response_cost\":%s", num);
    if (m->extra_json != NULL)
        lago_buf_puts(b, m->extra_json);
    lago_buf_puts(b, "}");
    if (m->send_amount && (u->flags & LLMBILL_USAGE_COST_KNOWN) &&
        lago_cents(u->cost, num, sizeof num) > 0)
        lago_buf_printf(b, ",\"precise_total_amount_cents\":\"%s\"", num);
    lago_buf_puts(b, "}");
}

void lago_encode_batch(const struct lago_map *m, const struct llmbill_usage *const *events,
                       const size_t *idx, size_t n, struct lago_buf *b)
{
    lago_buf_puts(b, "{\"events\":[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            lago_buf_puts(b, ",");
        put_event(m, events[idx[i]], b);
    }
    lago_buf_puts(b, "]}");
}
