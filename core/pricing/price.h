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
#define LB_RATE_AUDIO_IN 6      /* input_cost_per_audio_token */
#define LB_RATE_AUDIO_OUT 7     /* output_cost_per_audio_token */
#define LB_RATE_AUDIO_CREAD 8   /* cache_read_input_audio_token_cost */
#define LB_RATE_AUDIO_CACHED 9  /* cache_creation_input_audio_token_cost: in every table
                                   entry, OpenAI's cached audio input price (misnamed) */
#define LB_RATE_IMAGE_IN 10     /* input_cost_per_image_token */
#define LB_RATE_IMAGE_OUT 11    /* output_cost_per_image_token */
#define LB_RATE_VIDEO_IN 12     /* input_cost_per_video_token */
#define LB_RATE_SEARCH   13     /* search_context_cost_per_query.search_context_size_medium,
                                   per request */
#define LB_NRATES        14

/* service tiers */
#define LB_TIER_STD      0
#define LB_TIER_FLEX     1
#define LB_TIER_PRIORITY 2
#define LB_TIER_BATCH    3      /* _batches keys; without one, half the standard rate */
#define LB_NTIERS        4

#define LB_MAX_ROWS      16     /* base rates + up to 15 thresholds or tiers */
#define LB_RATE_SCALE    18     /* rates count 1e-18 USD per token */

/* The rates that apply above one input-token threshold (0 = the base). */
struct lb_rate_row {
    uint64_t above;
    int64_t rate[LB_NTIERS][LB_NRATES];
    uint8_t have[LB_NTIERS][LB_NRATES];
};

struct lb_model {
    char *name;
    struct lb_rate_row *rows;   /* rows[0] is the base (above 0); allocated as needed */
    uint8_t nrows;
    uint8_t tiered;             /* the rows are tiered_pricing tiers (all-or-nothing) */
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
/* The JSON key of a rate kind, for messages. */
const char *lb_rate_name(int kind);
/* llmbill_price() for a record already validated (and normalised). */
int lb_price_valid(const llmbill_prices *p, const struct llmbill_usage *u,
                   struct llmbill_cost_breakdown *out, char *err, size_t errlen);

#endif
