/* llmbill core: the price table's internal layout (see include/llmbill/price.h). */
#ifndef LB_PRICE_H
#define LB_PRICE_H

#include "llmbill/price.h"

/* rate kinds */
#define LB_RATE_IN       0      /* input_cost_per_token */
#define LB_RATE_OUT      1      /* output_cost_per_token */
#define LB_RATE_CREAD    2      /* cache_read_input_token_cost */
#define LB_RATE_CWRITE   3      /* cache_creation_input_token_cost */
#define LB_RATE_CWRITE1H 4      /* cache_creation_input_token_cost_above_1hr */
#define LB_RATE_REASON   5      /* output_cost_per_reasoning_token */
#define LB_NRATES        6

/* service tiers */
#define LB_TIER_STD      0
#define LB_TIER_FLEX     1
#define LB_TIER_PRIORITY 2
#define LB_NTIERS        3

#define LB_MAX_ROWS      6      /* base rates + up to 5 thresholds */
#define LB_RATE_SCALE    18     /* rates count 1e-18 USD per token */

/* The rates that apply above one input-token threshold (0 = the base). */
struct lb_rate_row {
    uint64_t above;
    int64_t rate[LB_NTIERS][LB_NRATES];
    uint8_t have[LB_NTIERS][LB_NRATES];
};

struct lb_model {
    char *name;
    struct lb_rate_row rows[LB_MAX_ROWS];
    uint8_t nrows;
};

struct llmbill_prices {
    struct lb_model *models;
    size_t n, cap;
    uint32_t *slots;            /* open addressing: model index + 1, or 0 */
    size_t nslots;
};

/* The model named name (exact), or NULL. */
const struct lb_model *lb_prices_find(const llmbill_prices *p, const char *name, size_t len);
/* Parses a rate key; 0 with its kind, threshold and tier, or -1 for a key
 * that is not a token rate (limits, flags, per-image prices, ...). */
int lb_rate_key(const char *key, size_t len, int *kind, uint64_t *above, int *tier);
/* llmbill_price() for a record already validated (and normalised). */
int lb_price_valid(const llmbill_prices *p, const struct llmbill_usage *u,
                   struct llmbill_cost_breakdown *out, char *err, size_t errlen);

#endif
