/* llmbill: exact prices from a LiteLLM-format price table.
 *
 * A price table maps model names to per-token rates, in the format of
 * LiteLLM's model_prices_and_context_window.json. Rates are decimal literals
 * in the file; they are read exactly (never through a double) into integer
 * units of 1e-18 USD per token, and a cost is the exact sum of tokens x rate,
 * rounded once to LLMBILL_COST_SCALE units (1e-12 USD).
 *
 * The formula is LiteLLM's for chat and embeddings; each token is in one
 * class, priced at its rate:
 *   uncached text   input - cached - cache_creation - uncached audio - image
 *                   - video, x input_cost_per_token
 *   cache reads     (cached - cached audio) x cache_read_input_token_cost
 *   cache writes    (cache_creation - 1h) x cache_creation_input_token_cost
 *                   + 1h x cache_creation_input_token_cost_above_1hr
 *   input audio     (input audio - cached audio) x input_cost_per_audio_token
 *   cached audio    x cache_read_input_audio_token_cost, else
 *                   cache_creation_input_audio_token_cost (the table's name
 *                   for OpenAI's cached audio price)
 *   input image     x input_cost_per_image_token, input video x
 *                   input_cost_per_video_token
 *   text output     (output - reasoning - audio - image) x output_cost_per_token
 *   reasoning       x output_cost_per_reasoning_token
 *   output audio    x output_cost_per_audio_token, output image x
 *                   output_cost_per_image_token
 *   web searches    requests x search_context_cost_per_query's
 *                   search_context_size_medium (per request)
 * A missing reasoning, output audio or output image rate falls back to the
 * output rate; a missing input audio, image or video rate, or 5-minute cache
 * write rate, to the input rate (LiteLLM bills those at 0 then).
 * Threshold tiers: once input tokens exceed N, every rate switches to its
 * _above_Nk_tokens variant where the table has one (the largest such N).
 * tiered_pricing: the tier whose range holds the input tokens prices every
 * token (all-or-nothing, as LiteLLM), cache reads and writes falling back
 * to the tier's input rate.
 * Service tiers: service_tier "flex" or "priority" ("fast") picks the
 * _flex/_priority rates, falling back to the standard ones; "batch" picks
 * the _batches rates, else half the standard rate (per-request fees are
 * not halved).
 *
 * Unlike LiteLLM, a rate the formula needs and the table lacks (cached
 * tokens on a model without cache_read_input_token_cost, web searches on a
 * model without search_context_cost_per_query, say) is an error, never a
 * silent zero.
 *
 * Threads: a loaded table is read-only; any number of threads may price with
 * it at once. */
#ifndef LLMBILL_PRICE_H
#define LLMBILL_PRICE_H

#include <stddef.h>
#include <stdint.h>
#include "llmbill/export.h"
#include "llmbill/usage.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct llmbill_prices llmbill_prices; /* opaque */

/* Loads a price table from a file or a buffer (not NUL-terminated; copied).
 * A NULL path loads the installed table (found relative to where libllmbill
 * was loaded from, then at the configured prefix: llmbill_installed_path()).
 * Returns 0, LLMBILL_EIO, LLMBILL_EINVAL (bad JSON or a bad rate, with the
 * model and key in err) or LLMBILL_ENOMEM. */
LLMBILL_API LLMBILL_NODISCARD int llmbill_prices_load(llmbill_prices **out, const char *path,
                                                      char *err, size_t errlen);
LLMBILL_API LLMBILL_NODISCARD int llmbill_prices_load_buffer(llmbill_prices **out, const char *json,
                                                             size_t len, char *err, size_t errlen);
LLMBILL_API void llmbill_prices_free(llmbill_prices *p);
/* Number of models in the table. */
LLMBILL_API size_t llmbill_prices_count(const llmbill_prices *p);

/* Sets (or adds, for a new model) one rate from its decimal text, e.g.
 * ("my-model", "input_cost_per_token", "1.5e-06"). key is a rate key of the
 * table format (input_cost_per_token, output_cost_per_token,
 * cache_read_input_token_cost, cache_creation_input_token_cost,
 * cache_creation_input_token_cost_above_1hr, output_cost_per_reasoning_token,
 * with optional _above_Nk_tokens and _flex/_priority suffixes).
 * Returns 0 or LLMBILL_EINVAL (unknown key or bad number, in err). */
LLMBILL_API int llmbill_prices_set(llmbill_prices *p, const char *model, const char *key,
                                   const char *value, char *err, size_t errlen);

/* A priced event, each part in LLMBILL_COST_SCALE units (rounded once each;
 * total is rounded from the exact sum). Size-versioned. */
struct llmbill_cost_breakdown {
    uint32_t struct_size;
    uint32_t reserved;
    const char *model;          /* the table entry used (valid while the table lives) */
    uint64_t threshold_tokens;  /* N of the _above_N_tokens rates applied, or 0 */
    int64_t input;              /* uncached (text) input */
    int64_t cache_read;
    int64_t cache_write;        /* 5-minute and 1-hour writes */
    int64_t output;             /* (text) output without reasoning */
    int64_t reasoning;
    int64_t total;
    int64_t audio;              /* audio input (cached audio included) and output */
    int64_t image;              /* image input and output tokens */
    int64_t video;              /* video input tokens */
    int64_t web_search;         /* per-request web search fees */
    /* append only */
};

/* Prices u: looks the model up by its exact name, then as provider/model,
 * then without a provider/ prefix. Returns 0, LLMBILL_ENOTFOUND (no such
 * model) or LLMBILL_EINVAL (a needed rate is missing, or the record is
 * invalid), with the reason in err. */
LLMBILL_API int llmbill_price(const llmbill_prices *p, const struct llmbill_usage *u,
                              struct llmbill_cost_breakdown *out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* LLMBILL_PRICE_H */
