/* llmbill core: the cost of one usage record (LiteLLM's chat formula, exact
 * integer arithmetic). See include/llmbill/price.h. */
#include <string.h>

#include "lb.h"
#include "price.h"

/* Looks the record's model up: exact, provider/model (the model may hold a
 * slash itself: OpenRouter's anthropic/claude-sonnet-4.5 is the table's
 * openrouter/anthropic/claude-sonnet-4.5), then without prefix. */
static const struct lb_model *find(const llmbill_prices *p, const struct llmbill_usage *u)
{
    const struct lb_model *m = lb_prices_find(p, u->model, strlen(u->model));
    const char *slash;

    if (m == NULL && u->provider != NULL) {
        char key[2 * LLMBILL_ID_MAX + 2];
        size_t pl = strlen(u->provider), ml = strlen(u->model);

        if (pl + ml + 2 <= sizeof key) {
            memcpy(key, u->provider, pl);
            key[pl] = '/';
            memcpy(key + pl + 1, u->model, ml + 1);
            m = lb_prices_find(p, key, pl + 1 + ml);
        }
    }
    if (m == NULL && (slash = strrchr(u->model, '/')) != NULL && slash[1] != '\0')
        m = lb_prices_find(p, slash + 1, strlen(slash + 1));
    return m;
}

/* The rate of kind k in one row: the service tier's, else (batch: half)
 * the standard one. Sets *half for a halved standard rate. -1 when none. */
static int64_t row_rate(const struct lb_rate_row *row, int tier, int k, int *half)
{
    *half = 0;
    if (row->have[tier][k])
        return row->rate[tier][k];
    if (row->have[LB_TIER_STD][k]) {
        *half = tier == LB_TIER_BATCH && k != LB_RATE_SEARCH;
        return row->rate[LB_TIER_STD][k];
    }
    return -1;
}

/* The rate of kind k: in the threshold row, then in the base row. A tiered
 * model's tier stands alone, with LiteLLM's fallbacks inside it (cache
 * reads and writes at the tier's input rate, the 1-hour write at its write
 * rate). */
static int64_t rate(const struct lb_model *m, const struct lb_rate_row *row, int tier, int k,
                    int *half)
{
    const struct lb_rate_row *rows[2] = { row, &m->rows[0] };
    int64_t r = -1;

    if (m->tiered) {
        const struct lb_rate_row *tr = row ? row : &m->rows[0];

        r = row_rate(tr, tier, k, half);
        if (r < 0 && k == LB_RATE_CWRITE1H)
            r = row_rate(tr, tier, k = LB_RATE_CWRITE, half);
        if (r < 0 && (k == LB_RATE_CREAD || k == LB_RATE_CWRITE))
            r = row_rate(tr, tier, LB_RATE_IN, half);
        return r;
    }
    for (int i = 0; i < 2 && r < 0; i++)
        if (rows[i] != NULL)
            r = row_rate(rows[i], tier, k, half);
    return r;
}

/* What a kind falls back to when the table has no rate for it, or -1
 * (then the tokens are an error, never a silent zero). */
static int fallback(int k)
{
    switch (k) {
    case LB_RATE_REASON: case LB_RATE_AUDIO_OUT: case LB_RATE_IMAGE_OUT:
        return LB_RATE_OUT;         /* as LiteLLM */
    case LB_RATE_AUDIO_IN:          /* LiteLLM bills these at 0: see test_price */
    case LB_RATE_IMAGE_IN: case LB_RATE_VIDEO_IN:
        return LB_RATE_IN;
    case LB_RATE_AUDIO_CREAD:       /* the misnamed key holds the cached audio price */
        return LB_RATE_AUDIO_CACHED;
    case LB_RATE_CWRITE:            /* no write premium: a written token is input (OpenAI's
                                       cache_write_tokens on most models; LiteLLM: 0) */
        return LB_RATE_IN;
    default:
        return -1;
    }
}

/* tokens x rate (1e-18 USD, doubled) rounded to LLMBILL_COST_SCALE (1e-12) units. */
static int64_t to_cost(__int128 atto2)
{
    return (int64_t)((atto2 + 1000000) / 2000000);
}

int lb_price_valid(const llmbill_prices *p, const struct llmbill_usage *u,
                   struct llmbill_cost_breakdown *out, char *err, size_t errlen)
{
    const struct lb_model *m;
    const struct lb_rate_row *row = NULL;
    struct llmbill_cost_breakdown b;
    int tier = LB_TIER_STD;
    uint64_t count[LB_NRATES];
    /* parts in units of 0.5e-18 USD, so that a halved batch rate stays exact */
    __int128 part[LB_NRATES], sum = 0;

    if ((m = find(p, u)) == NULL) {
        lb_errf(err, errlen, "model %s%s%s is not in the price table", u->provider ? u->provider : "",
                u->provider ? "/" : "", u->model);
        return LLMBILL_ENOTFOUND;
    }
    if (u->service_tier != NULL && strcmp(u->service_tier, "flex") == 0)
        tier = LB_TIER_FLEX;
    else if (u->service_tier != NULL && (strcmp(u->service_tier, "priority") == 0 ||
                                         strcmp(u->service_tier, "fast") == 0))
        tier = LB_TIER_PRIORITY;
    else if (u->service_tier != NULL && strcmp(u->service_tier, "batch") == 0)
        tier = LB_TIER_BATCH;
    /* threshold (or tier): the largest N with input tokens > N that has an input rate */
    for (uint8_t r = 1; r < m->nrows; r++) {
        const struct lb_rate_row *c = &m->rows[r];

        if (u->input_tokens > c->above && (c->have[LB_TIER_STD][LB_RATE_IN] || c->have[tier][LB_RATE_IN]) &&
            (row == NULL || c->above > row->above))
            row = c;
    }
    /* each token in exactly one class (the record was validated: no underflow) */
    count[LB_RATE_AUDIO_CREAD] = u->cached_audio_tokens;
    count[LB_RATE_AUDIO_IN] = u->input_audio_tokens - u->cached_audio_tokens;
    count[LB_RATE_IMAGE_IN] = u->input_image_tokens;
    count[LB_RATE_VIDEO_IN] = u->input_video_tokens;
    count[LB_RATE_IN] = u->input_tokens - u->cached_input_tokens - u->cache_creation_input_tokens -
                        count[LB_RATE_AUDIO_IN] - count[LB_RATE_IMAGE_IN] - count[LB_RATE_VIDEO_IN];
    count[LB_RATE_CREAD] = u->cached_input_tokens - u->cached_audio_tokens;
    count[LB_RATE_CWRITE] = u->cache_creation_input_tokens - u->cache_creation_1h_input_tokens;
    count[LB_RATE_CWRITE1H] = u->cache_creation_1h_input_tokens;
    count[LB_RATE_AUDIO_OUT] = u->output_audio_tokens;
    count[LB_RATE_IMAGE_OUT] = u->output_image_tokens;
    count[LB_RATE_OUT] = u->output_tokens - u->reasoning_tokens - u->output_audio_tokens -
                         u->output_image_tokens;
    count[LB_RATE_REASON] = u->reasoning_tokens;
    count[LB_RATE_AUDIO_CACHED] = 0; /* a rate only (the cached audio fallback) */
    count[LB_RATE_SEARCH] = u->web_search_requests;
    for (int k = 0; k < LB_NRATES; k++) {
        int64_t r;
        int half = 0, f = k;

        part[k] = 0;
        if (count[k] == 0)
            continue;
        while ((r = rate(m, row, tier, f, &half)) < 0 && (f = fallback(f)) >= 0)
            ;
        if (r < 0) {
            lb_errf(err, errlen, "model %s has no %s, and the record has %llu such %s", m->name,
                    lb_rate_name(k), (unsigned long long)count[k],
                    k == LB_RATE_SEARCH ? "web search requests" : "tokens");
            return LLMBILL_EINVAL;
        }
        /* counts are at most LLMBILL_TOKENS_MAX (validated), rates at most
         * INT64_MAX: checked all the same */
        if (__builtin_mul_overflow((__int128)count[k], (__int128)r * (half ? 1 : 2), &part[k]) ||
            __builtin_add_overflow(sum, part[k], &sum)) {
            lb_errf(err, errlen, "cost out of range");
            return LLMBILL_EINVAL;
        }
    }
    if (sum / 2000000 > (__int128)INT64_MAX) {
        lb_errf(err, errlen, "cost out of range");
        return LLMBILL_EINVAL;
    }
    memset(&b, 0, sizeof b);
    b.struct_size = out->struct_size;
    b.model = m->name;
    b.threshold_tokens = row ? row->above : 0;
    b.input = to_cost(part[LB_RATE_IN]);
    b.cache_read = to_cost(part[LB_RATE_CREAD]);
    b.cache_write = to_cost(part[LB_RATE_CWRITE] + part[LB_RATE_CWRITE1H]);
    b.output = to_cost(part[LB_RATE_OUT]);
    b.reasoning = to_cost(part[LB_RATE_REASON]);
    b.audio = to_cost(part[LB_RATE_AUDIO_IN] + part[LB_RATE_AUDIO_CREAD] + part[LB_RATE_AUDIO_OUT]);
    b.image = to_cost(part[LB_RATE_IMAGE_IN] + part[LB_RATE_IMAGE_OUT]);
    b.video = to_cost(part[LB_RATE_VIDEO_IN]);
    b.web_search = to_cost(part[LB_RATE_SEARCH]);
    b.total = to_cost(sum);
    memcpy(out, &b, out->struct_size < sizeof b ? out->struct_size : sizeof b);
    return 0;
}

int llmbill_price(const llmbill_prices *p, const struct llmbill_usage *in,
                  struct llmbill_cost_breakdown *out, char *err, size_t errlen)
{
    struct lb_prepared prep;

    if (p == NULL || out == NULL || out->struct_size == 0)
        return LLMBILL_EINVAL;
    if (lb_event_prepare(in, &prep) != 0) {
        lb_usage_validate(in, err, errlen);
        return LLMBILL_EINVAL;
    }
    return lb_price_valid(p, &prep.u, out, err, errlen);
}
