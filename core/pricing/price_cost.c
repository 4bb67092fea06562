/* llmbill core: the cost of one usage record (LiteLLM's chat formula, exact
 * integer arithmetic). See include/llmbill/price.h. */
#include <string.h>

#include "lb.h"
#include "price.h"

static const char *const rate_names[LB_NRATES] = {
    "input_cost_per_token", "output_cost_per_token", "cache_read_input_token_cost",
    "cache_creation_input_token_cost", "cache_creation_input_token_cost_above_1hr",
    "output_cost_per_reasoning_token"
};

/* Looks the record's model up: exact, provider/model, then without prefix. */
static const struct lb_model *find(const llmbill_prices *p, const struct llmbill_usage *u)
{
    const struct lb_model *m = lb_prices_find(p, u->model, strlen(u->model));
    const char *slash;

    if (m == NULL && u->provider != NULL && strchr(u->model, '/') == NULL) {
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

/* The rate of kind k: the service tier's, else the standard one, first in
 * the threshold row, then in the base row. -1 when the table has none. */
static int64_t rate(const struct lb_model *m, const struct lb_rate_row *row, int tier, int k)
{
    const struct lb_rate_row *rows[2] = { row, &m->rows[0] };

    for (int r = 0; r < 2; r++) {
        if (rows[r] == NULL)
            continue;
        if (rows[r]->have[tier][k])
            return rows[r]->rate[tier][k];
        if (rows[r]->have[LB_TIER_STD][k])
            return rows[r]->rate[LB_TIER_STD][k];
    }
    return -1;
}

/* tokens x rate (1e-18 USD) rounded to LLMBILL_COST_SCALE (1e-12) units. */
static int64_t to_cost(__int128 atto)
{
    return (int64_t)((atto + 500000) / 1000000);
}

int lb_price_valid(const llmbill_prices *p, const struct llmbill_usage *u,
                   struct llmbill_cost_breakdown *out, char *err, size_t errlen)
{
    const struct lb_model *m;
    const struct lb_rate_row *row = NULL;
    struct llmbill_cost_breakdown b;
    int tier = LB_TIER_STD;
    uint64_t count[LB_NRATES];
    int kind_of[LB_NRATES] = { LB_RATE_IN, LB_RATE_OUT, LB_RATE_CREAD, LB_RATE_CWRITE,
                               LB_RATE_CWRITE1H, LB_RATE_REASON };
    __int128 part[LB_NRATES], sum = 0;

    if ((m = find(p, u)) == NULL) {
        lb_errf(err, errlen, "model %s%s%s is not in the price table", u->provider ? u->provider : "",
                u->provider ? "/" : "", u->model);
        return LLMBILL_ENOTFOUND;
    }
    if (u->service_tier != NULL && strcmp(u->service_tier, "flex") == 0)
        tier = LB_TIER_FLEX;
    else if (u->service_tier != NULL && strcmp(u->service_tier, "priority") == 0)
        tier = LB_TIER_PRIORITY;
    /* threshold: the largest N with input tokens > N that has an input rate */
    for (uint8_t r = 1; r < m->nrows; r++) {
        const struct lb_rate_row *c = &m->rows[r];

        if (u->input_tokens > c->above && (c->have[LB_TIER_STD][LB_RATE_IN] || c->have[tier][LB_RATE_IN]) &&
            (row == NULL || c->above > row->above))
            row = c;
    }
    count[LB_RATE_IN] = u->input_tokens - u->cached_input_tokens - u->cache_creation_input_tokens;
    count[LB_RATE_CREAD] = u->cached_input_tokens;
    count[LB_RATE_CWRITE] = u->cache_creation_input_tokens - u->cache_creation_1h_input_tokens;
    count[LB_RATE_CWRITE1H] = u->cache_creation_1h_input_tokens;
    count[LB_RATE_OUT] = u->output_tokens - u->reasoning_tokens;
    count[LB_RATE_REASON] = u->reasoning_tokens;
    for (int i = 0; i < LB_NRATES; i++) {
        int k = kind_of[i];
        int64_t r;

        part[k] = 0;
        if (count[k] == 0)
            continue;
        r = rate(m, row, tier, k);
        if (r < 0 && k == LB_RATE_REASON)
            r = rate(m, row, tier, LB_RATE_OUT); /* reasoning is output unless priced apart */
        if (r < 0) {
            lb_errf(err, errlen, "model %s has no %s, and the record has %llu such tokens",
                    m->name, rate_names[k], (unsigned long long)count[k]);
            return LLMBILL_EINVAL;
        }
        part[k] = (__int128)count[k] * r;
        sum += part[k];
    }
    if (sum / 1000000 > (__int128)INT64_MAX) {
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
