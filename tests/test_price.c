/* Pricing: golden costs from the shipped price table (worked examples from
 * the reference included), tier boundaries, service tiers, lookups,
 * missing rates, overrides and load errors. */
#include "t.h"
#include "llmbill/price.h"

static llmbill_prices *table;

struct golden {
    const char *provider, *model;
    uint64_t in, cached, cwrite, cwrite1h, out, reasoning;
    const char *tier;
    const char *cost;           /* exact USD, as computed with Python's Decimal */
    uint64_t threshold;
};

static const struct golden goldens[] = {
    /* the reference's worked examples */
    { NULL, "gpt-4o", 2006, 1920, 0, 0, 300, 0, NULL, "0.005615", 0 },
    { NULL, "claude-sonnet-4-5", 12100, 10000, 2000, 0, 500, 0, NULL, "0.0183", 0 },
    { NULL, "o3", 1000, 0, 0, 0, 500, 400, NULL, "0.006", 0 },
    /* more models across providers */
    { NULL, "gpt-4o-mini", 5000, 1000, 0, 0, 800, 0, NULL, "0.001155", 0 },
    { NULL, "gpt-4.1", 10000, 2000, 0, 0, 1000, 0, NULL, "0.025", 0 },
    { NULL, "o1", 3000, 0, 0, 0, 2000, 1500, NULL, "0.165", 0 },
    { NULL, "gpt-5", 300000, 100000, 0, 0, 5000, 4000, NULL, "0.3125", 0 },
    { NULL, "claude-opus-4-1", 5000, 1000, 500, 0, 700, 0, NULL, "0.115875", 0 },
    { NULL, "gemini/gemini-2.5-pro", 250000, 10000, 0, 0, 2000, 1500, NULL, "0.6325", 200000 },
    { NULL, "gemini/gemini-2.5-flash", 9000, 3000, 0, 0, 1200, 800, NULL, "0.00489", 0 },
    { NULL, "mistral/mistral-large-latest", 4000, 0, 0, 0, 900, 0, NULL, "0.00335", 0 },
    { NULL, "deepseek/deepseek-chat", 7000, 5000, 0, 0, 600, 0, NULL, "0.000952", 0 },
    { NULL, "text-embedding-3-small", 123456, 0, 0, 0, 0, 0, NULL, "0.00246912", 0 },
    { NULL, "azure/gpt-4o", 2006, 1920, 0, 0, 300, 0, NULL, "0.005615", 0 },
    { NULL, "groq/llama-3.3-70b-versatile", 6000, 0, 0, 0, 700, 0, NULL, "0.004093", 0 },
    { NULL, "anthropic.claude-sonnet-4-5-20250929-v1:0", 12100, 10000, 2000, 0, 500, 0, NULL, "0.0183", 0 },
    /* service tiers */
    { NULL, "o3", 1000, 200, 0, 0, 500, 400, "flex", "0.00285", 0 },
    { NULL, "o3", 1000, 200, 0, 0, 500, 400, "priority", "0.009975", 0 },
    /* threshold tiers exactly at the boundary: "above 200k" means > 200000 */
    { NULL, "claude-sonnet-4-5", 200000, 0, 0, 0, 10, 0, NULL, "0.60015", 0 },
    { NULL, "claude-sonnet-4-5", 200001, 0, 0, 0, 10, 0, NULL, "1.200231", 200000 },
    /* above the threshold every rate switches, the 1-hour cache write too */
    { NULL, "claude-sonnet-4-5", 250000, 50000, 20000, 10000, 1000, 0, NULL, "1.3275", 200000 },
    /* lookups: provider/model, and a prefixed name whose bare name is in the table */
    { "gemini", "gemini-2.5-flash", 9000, 3000, 0, 0, 1200, 800, NULL, "0.00489", 0 },
    { NULL, "openai/gpt-4o", 2006, 1920, 0, 0, 300, 0, NULL, "0.005615", 0 },
    /* provider/model when the model holds a slash itself (OpenRouter, Together name
     * models that way; the table has them under openrouter/..., together_ai/...) */
    { "openrouter", "anthropic/claude-sonnet-4.5", 1200, 1000, 0, 0, 80, 0, NULL, "0.0021", 0 },
    { "together_ai", "meta-llama/Llama-3.3-70B-Instruct-Turbo", 4000, 0, 0, 0, 900, 0, NULL,
      "0.004312", 0 },
};

static struct llmbill_usage usage_of(const struct golden *g)
{
    struct llmbill_usage u = LLMBILL_USAGE_INIT;

    u.customer_id = "c";
    u.provider = g->provider;
    u.model = g->model;
    u.input_tokens = g->in;
    u.cached_input_tokens = g->cached;
    u.cache_creation_input_tokens = g->cwrite;
    u.cache_creation_1h_input_tokens = g->cwrite1h;
    u.output_tokens = g->out;
    u.reasoning_tokens = g->reasoning;
    u.service_tier = g->tier;
    return u;
}

/* Prices u and checks the exact total, the threshold applied, and that the
 * parts (each rounded once) add up to it within their rounding. */
static void expect_cost(const struct llmbill_usage *u, const char *cost, uint64_t threshold)
{
    struct llmbill_cost_breakdown b;
    char err[256] = "", got[48];
    int64_t want, parts;
    int rc;

    memset(&b, 0, sizeof b);
    b.struct_size = sizeof b;
    rc = llmbill_price(table, u, &b, err, sizeof err);
    CHECK_EQ_INT(llmbill_cost_parse(cost, strlen(cost), &want), 0);
    llmbill_cost_format(b.total, got, sizeof got);
    if (rc != 0 || b.total != want || b.threshold_tokens != threshold) {
        fprintf(stderr, "%s (%llu in, tier %s): rc %d (%s), cost %s, want %s; threshold %llu\n",
                u->model, (unsigned long long)u->input_tokens,
                u->service_tier ? u->service_tier : "-", rc, err, got, cost,
                (unsigned long long)b.threshold_tokens);
        exit(1);
    }
    parts = b.input + b.cache_read + b.cache_write + b.output + b.reasoning + b.audio + b.image +
            b.video + b.web_search;
    CHECK(parts - b.total <= 9 && b.total - parts <= 9);
}

static void golden_costs(void)
{
    for (size_t i = 0; i < sizeof goldens / sizeof goldens[0]; i++) {
        struct llmbill_usage u = usage_of(&goldens[i]);

        expect_cost(&u, goldens[i].cost, goldens[i].threshold);
    }
}

static void breakdown_parts(void)
{
    struct golden g = { NULL, "claude-sonnet-4-5", 12100, 10000, 2000, 0, 500, 0, NULL, "", 0 };
    struct llmbill_usage u = usage_of(&g);
    struct llmbill_cost_breakdown b;

    memset(&b, 0, sizeof b);
    b.struct_size = sizeof b;
    CHECK_EQ_INT(llmbill_price(table, &u, &b, NULL, 0), 0);
    CHECK(strcmp(b.model, "claude-sonnet-4-5") == 0);
    CHECK_EQ_INT(b.input, 300000000);       /* 100 x 3e-6 */
    CHECK_EQ_INT(b.cache_read, 3000000000LL); /* 10000 x 3e-7 */
    CHECK_EQ_INT(b.cache_write, 7500000000LL); /* 2000 x 3.75e-6 */
    CHECK_EQ_INT(b.output, 7500000000LL);
    CHECK_EQ_INT(b.reasoning, 0);
}

static void failures(void)
{
    struct llmbill_usage u = LLMBILL_USAGE_INIT;
    struct llmbill_cost_breakdown b;
    char err[256];

    memset(&b, 0, sizeof b);
    b.struct_size = sizeof b;
    u.customer_id = "c";
    u.model = "no-such-model-9000";
    u.input_tokens = 1;
    CHECK_EQ_INT(llmbill_price(table, &u, &b, err, sizeof err), LLMBILL_ENOTFOUND);
    CHECK_CONTAINS(err, "no-such-model-9000 is not in the price table");
    u.model = "sample_spec";
    CHECK_EQ_INT(llmbill_price(table, &u, &b, err, sizeof err), LLMBILL_ENOTFOUND);
    /* cached tokens on a model with no cache-read rate: an error, not $0 */
    u.model = "xai/grok-4";
    u.input_tokens = 3000;
    u.cached_input_tokens = 1000;
    CHECK_EQ_INT(llmbill_price(table, &u, &b, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "model xai/grok-4 has no cache_read_input_token_cost, and the record has "
                        "1000 such tokens");
    u.cached_input_tokens = 0;
    CHECK_EQ_INT(llmbill_price(table, &u, &b, err, sizeof err), 0);
    u.cached_input_tokens = 5000; /* more cached than input: an invalid record */
    CHECK_EQ_INT(llmbill_price(table, &u, &b, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "input_tokens: must include cached_input_tokens");
}

static void overrides(void)
{
    struct llmbill_usage u = LLMBILL_USAGE_INIT;
    struct llmbill_cost_breakdown b;
    char err[256];

    memset(&b, 0, sizeof b);
    b.struct_size = sizeof b;
    u.customer_id = "c";
    u.model = "my-finetune";
    u.input_tokens = 1000;
    u.output_tokens = 100;
    CHECK_EQ_INT(llmbill_prices_set(table, "my-finetune", "input_cost_per_token", "0.000001", err,
                                    sizeof err), 0);
    CHECK_EQ_INT(llmbill_prices_set(table, "my-finetune", "output_cost_per_token", "2e-6", err,
                                    sizeof err), 0);
    CHECK_EQ_INT(llmbill_price(table, &u, &b, err, sizeof err), 0);
    CHECK_EQ_INT(b.total, 1200000000); /* 0.0012 */
    /* an override replaces one rate of an existing model */
    u.model = "gpt-4o";
    u.input_tokens = 1000;
    u.output_tokens = 0;
    CHECK_EQ_INT(llmbill_prices_set(table, "gpt-4o", "input_cost_per_token", "1e-6", err, sizeof err), 0);
    CHECK_EQ_INT(llmbill_price(table, &u, &b, err, sizeof err), 0);
    CHECK_EQ_INT(b.total, 1000000000);
    CHECK_EQ_INT(llmbill_prices_set(table, "m", "input_cost_per_banana", "1", err, sizeof err),
                 LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "input_cost_per_banana: not a token rate");
    CHECK_EQ_INT(llmbill_prices_set(table, "m", "input_cost_per_token", "-1", err, sizeof err),
                 LLMBILL_EINVAL);
    CHECK_EQ_INT(llmbill_prices_set(table, "m", "input_cost_per_token", "cheap", err, sizeof err),
                 LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "'cheap' is not a non-negative decimal");
}

static void load_errors(void)
{
    llmbill_prices *p;
    char err[512];
    const char *bad_rate = "{\"m\":{\"input_cost_per_token\":\"1e-6\"}}";
    const char *ok = "{\"sample_spec\":{\"input_cost_per_token\":\"doc\"},"
                     "\"m\":{\"input_cost_per_token\":1e-06,\"max_tokens\":5,\"mode\":\"chat\","
                     "\"input_cost_per_token_batches\":5e-7,\"output_cost_per_token\":null}}";

    CHECK_EQ_INT(llmbill_prices_load(&p, "/nonexistent/prices.json", err, sizeof err), LLMBILL_EIO);
    CHECK_CONTAINS(err, "/nonexistent/prices.json: cannot open price table");
    CHECK_EQ_INT(llmbill_prices_load_buffer(&p, "{\"m\":{", 6, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "truncated JSON");
    CHECK_EQ_INT(llmbill_prices_load_buffer(&p, "[1]", 3, err, sizeof err), LLMBILL_EINVAL);
    CHECK_EQ_INT(llmbill_prices_load_buffer(&p, bad_rate, strlen(bad_rate), err, sizeof err),
                 LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "model m: input_cost_per_token: expected a non-negative number");
    CHECK_EQ_INT(llmbill_prices_load_buffer(&p, ok, strlen(ok), err, sizeof err), 0);
    CHECK_EQ_INT(llmbill_prices_count(p), 1); /* sample_spec is not a model */
    llmbill_prices_free(p);
}

static const char *dir;

static llmbill *open_with(const char *pricing, int want_rc, const char *want_err)
{
    char ini[2048], err[1024];
    llmbill *h = NULL;
    int rc;

    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = jsonl\nlinger_ms = 5\n"
             "[jsonl]\npath = %s/priced.jsonl\n%s", PLUGIN_DIR, dir, pricing);
    rc = t_open(&h, ini, err, sizeof err);
    if (rc != want_rc || (want_err && strstr(err, want_err) == NULL)) {
        fprintf(stderr, "rc %d (want %d): %s\nwanted: %s\n", rc, want_rc, err,
                want_err ? want_err : "");
        exit(1);
    }
    return h;
}

static void record_time_pricing(void)
{
    char path[512], cfg[1024], *out;
    llmbill *h;
    struct llmbill_usage u = LLMBILL_USAGE_INIT;
    struct llmbill_stats st;

    snprintf(path, sizeof path, "%s/priced.jsonl", dir);
    u.customer_id = "c";
    u.model = "gpt-4o";
    u.input_tokens = 2006;
    u.cached_input_tokens = 1920;
    u.output_tokens = 300;
    /* unknown = unpriced (the default): delivered, no cost, counted */
    snprintf(cfg, sizeof cfg, "[pricing]\nfile = %s\n[price.my-model]\n"
             "input_cost_per_token = 0.000001\noutput_cost_per_token = 2e-6\n", PRICES_FILE);
    h = open_with(cfg, 0, NULL);
    u.event_id = "priced";
    CHECK_EQ_INT(llmbill_record(h, &u), 0);
    u.event_id = "custom";
    u.model = "my-model";
    u.cached_input_tokens = 0;
    CHECK_EQ_INT(llmbill_record(h, &u), 0);
    u.event_id = "unknown";
    u.model = "who-knows";
    CHECK_EQ_INT(llmbill_record(h, &u), 0);
    u.event_id = "given";
    u.flags = LLMBILL_USAGE_COST_KNOWN;
    u.cost = 7;
    CHECK_EQ_INT(llmbill_record(h, &u), 0);
    u.flags = 0;
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    llmbill_get_stats(h, NULL, &st);
    CHECK_EQ_INT(st.unpriced, 1);
    llmbill_close(h);
    out = t_read(path);
    CHECK_CONTAINS(out, "\"event_id\":\"priced\"");
    CHECK_CONTAINS(out, "\"reasoning_tokens\":0,\"cost_usd\":0.005615}");
    CHECK_CONTAINS(out, "\"event_id\":\"custom\"");
    CHECK_CONTAINS(out, "\"cost_usd\":0.002606}"); /* 2006 x 1e-6 + 300 x 2e-6 */
    CHECK_CONTAINS(out, "\"model\":\"who-knows\",\"status\":\"success\",\"input_tokens\":2006,"
                        "\"cached_input_tokens\":0,\"cache_creation_input_tokens\":0,"
                        "\"output_tokens\":300,\"reasoning_tokens\":0}");
    CHECK_CONTAINS(out, "\"cost_usd\":0.000000000007}"); /* a given cost is kept */
    free(out);
    unlink(path);
    /* unknown = error: the record is refused */
    snprintf(cfg, sizeof cfg, "[pricing]\nfile = %s\nunknown = error\n", PRICES_FILE);
    h = open_with(cfg, 0, NULL);
    CHECK_EQ_INT(llmbill_record(h, &u), LLMBILL_ENOPRICE);
    u.model = "gpt-4o";
    CHECK_EQ_INT(llmbill_record(h, &u), 0);
    llmbill_close(h);
    /* unknown = zero */
    snprintf(cfg, sizeof cfg, "[pricing]\nfile = %s\nunknown = zero\n", PRICES_FILE);
    h = open_with(cfg, 0, NULL);
    u.model = "who-knows";
    u.event_id = "zero";
    CHECK_EQ_INT(llmbill_record(h, &u), 0);
    llmbill_close(h);
    out = t_read(path);
    CHECK_CONTAINS(out, "\"cost_usd\":0}");
    free(out);
}

static void pricing_config_errors(void)
{
    char cfg[1024];

    open_with("[pricing]\nunknown = maybe\n", LLMBILL_ECONFIG,
              ":8: [pricing] unknown: 'maybe' is not error, unpriced or zero");
    open_with("[pricing]\nfile = /nonexistent.json\n", LLMBILL_ECONFIG,
              ":8: [pricing] file: /nonexistent.json: cannot open price table");
    open_with("[pricing]\ncolour = red\n", LLMBILL_ECONFIG,
              ":8: [pricing] colour: unknown key (expected one of: file, unknown)");
    snprintf(cfg, sizeof cfg, "[pricing]\nfile = %s\n[price.m]\ninput_cost_per_token = 1e-6\n"
             "input_cost_per_tokn = 1\n", PRICES_FILE);
    open_with(cfg, LLMBILL_ECONFIG, ":11: [price.m] input_cost_per_tokn: not a token rate");
    snprintf(cfg, sizeof cfg, "[pricing]\nfile = %s\n[price.m]\noutput_cost_per_token = free\n",
             PRICES_FILE);
    open_with(cfg, LLMBILL_ECONFIG, ":10: [price.m] output_cost_per_token: 'free' is not a "
              "non-negative decimal");
}

/* Modality, tool, tier and batch pricing. Each expected cost is exact
 * (Python's Decimal over the shipped table's decimal text) and, unless a
 * comment says otherwise, what LiteLLM's generic_cost_per_token
 * (llm_cost_calc/utils.py, 001b531a) gives for the same usage. */
struct modal {
    const char *model, *tier;
    uint64_t in, cached, cwrite, out, reasoning;
    uint64_t ain, acached, iin, vin, aout, iout, ws;
    const char *cost;
    uint64_t threshold;
};

static const struct modal modals[] = {
    /* text 200 x 2.5e-6 + audio 1000 x 4e-5 + text out 100 x 1e-5 + audio out 800 x 8e-5 */
    { "gpt-4o-audio-preview", NULL, 1200, 0, 0, 900, 0, 1000, 0, 0, 0, 800, 0, 0, "0.1055", 0 },
    /* OpenAI realtime with cached audio: text 1000 x 4e-6 + cached text 2000 x 4e-7 + cached
     * audio 4000 x 4e-7 (cache_creation_input_audio_token_cost: the table's name for the cached
     * audio price) + audio 3000 x 3.2e-5 + out 100 x 1.6e-5 + audio out 400 x 6.4e-5.
     * LiteLLM is wrong here: it counts cached audio both in cached_tokens (at the text
     * cache-read rate) and in audio_tokens, clips audio into the uncached budget (4000) and
     * bills 0.1576: 1000 text tokens at the audio rate. */
    { "gpt-realtime", NULL, 10000, 6000, 0, 500, 0, 7000, 4000, 0, 0, 400, 0, 0, "0.1296", 0 },
    /* Gemini audio input at input_cost_per_audio_token: 3290 x 3e-7 + 1710 x 1e-6 + 300 x 2.5e-6 */
    { "gemini/gemini-2.5-flash", NULL, 5000, 0, 0, 300, 0, 1710, 0, 0, 0, 0, 0, 0, "0.003447", 0 },
    /* a grounded request: the token cost (0.00489) + 1 x 0.035 (search_context_size_medium) */
    { "gemini/gemini-2.5-flash", NULL, 9000, 3000, 0, 1200, 800, 0, 0, 0, 0, 0, 0, 1, "0.03989", 0 },
    /* Anthropic web search: 0.0183 + 2 x 0.01 */
    { "claude-sonnet-4-5", NULL, 12100, 10000, 2000, 500, 0, 0, 0, 0, 0, 0, 0, 2, "0.0383", 0 },
    /* image tokens: 50 x 5e-6 + 1000 x 1e-5 + 4000 x 4e-5 */
    { "gpt-image-1", NULL, 1050, 0, 0, 4000, 0, 0, 0, 1000, 0, 0, 4000, 0, "0.17025", 0 },
    /* a model without an audio input rate bills audio at the input rate; LiteLLM is wrong
     * here: calculate_cost_component() makes it 0 (gpt-4o: 3000 x 2.5e-6 = 0.0075, not 0) */
    { "gpt-4o", NULL, 3000, 0, 0, 0, 0, 3000, 0, 0, 0, 0, 0, 0, "0.0075", 0 },
    /* tiered_pricing: the tier whose range holds the prompt prices every token */
    { "dashscope/qwen3-coder-plus", NULL, 50000, 10000, 0, 1000, 0, 0, 0, 0, 0, 0, 0, 0, "0.0828",
      32000 },
    { "dashscope/qwen3-coder-plus", NULL, 32000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "0.032", 0 },
    { "dashscope/qwen3-coder-plus", NULL, 32001, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "0.0576018",
      32000 },
    { "dashscope/qwen3-coder-plus", NULL, 2000000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "12", 256000 },
    /* a tier without a cache-read rate: the tier's input rate (LiteLLM's fallback) */
    { "dashscope/qwen3-coder-plus-2025-07-22", NULL, 50000, 10000, 0, 1000, 0, 0, 0, 0, 0, 0, 0, 0,
      "0.099", 32000 },
    /* the tier's reasoning rate: 300000 x 1.2e-6 + 500 x 3.6e-6 + 1500 x 1.2e-5 */
    { "dashscope/qwen-plus-latest", NULL, 300000, 0, 0, 2000, 1500, 0, 0, 0, 0, 0, 0, 0, "0.3798",
      256000 },
    /* batch: the _batches rates, else half the standard one (cache reads 1920 x 6.25e-7).
     * LiteLLM's batch_cost_calculator bills every prompt token at
     * input_cost_per_token_batches, cached ones too (0.0040075): wrong by the cache discount */
    { "gpt-4o", "batch", 2006, 1920, 0, 300, 0, 0, 0, 0, 0, 0, 0, 0, "0.0028075", 0 },
    /* Anthropic Message Batches: every rate halved, cache reads and writes too */
    { "claude-sonnet-4-5", "batch", 12100, 10000, 2000, 500, 0, 0, 0, 0, 0, 0, 0, 0, "0.00915", 0 },
    /* search fees are not halved in a batch */
    { "claude-sonnet-4-5", "batch", 12100, 10000, 2000, 500, 0, 0, 0, 0, 0, 0, 0, 1, "0.01915", 0 },
    /* DeepSeek cache hits: 256 x 2.8e-7 + 1280 x 2.8e-8 + 120 x 4.2e-7 */
    { "deepseek/deepseek-chat", NULL, 1536, 1280, 0, 120, 0, 0, 0, 0, 0, 0, 0, 0, "0.00015792", 0 },
    /* Perplexity Deep Research (tests/data/responses/perplexity.json): 19 prompt + 10175
     * citation tokens x 2e-6, 498 x 8e-6, 95305 reasoning x 3e-6, 3 searches x 0.005 =
     * 0.325287 (Perplexity's own total, rounded per part: 0.32529). LiteLLM's perplexity
     * cost_calculator divides the search price by 1000 (0.000015): wrong by 1000 times */
    { "perplexity/sonar-deep-research", NULL, 10194, 0, 0, 95803, 95305, 0, 0, 0, 0, 0, 0, 3,
      "0.325287", 0 },
    /* a search model's response with a url_citation: 9 x 2.5e-6 + 120 x 1e-5 + 0.035 (medium) */
    { "gpt-4o-search-preview", NULL, 9, 0, 0, 120, 0, 0, 0, 0, 0, 0, 0, 1, "0.0362225", 0 },
    /* OpenAI cache writes (cache_write_tokens): at the write rate where the model has one
     * (gpt-5.6: 5000 x 5e-6 + 2000 x 5e-7 + 3000 x 6.25e-6 + 500 x 3e-5) ... */
    { "gpt-5.6", NULL, 10000, 2000, 3000, 500, 0, 0, 0, 0, 0, 0, 0, 0, "0.05975", 0 },
    { "gpt-5.6", "batch", 10000, 2000, 3000, 500, 0, 0, 0, 0, 0, 0, 0, 0, "0.029875", 0 },
    /* ... else at the input rate: no write premium. LiteLLM is wrong here: a missing
     * cache_creation_input_token_cost bills the 3000 written tokens at 0 (0.02) */
    { "gpt-4o", NULL, 10000, 2000, 3000, 500, 0, 0, 0, 0, 0, 0, 0, 0, "0.0275", 0 },
    /* OpenAI's "fast" is its priority tier */
    { "o3", "fast", 1000, 200, 0, 500, 400, 0, 0, 0, 0, 0, 0, 0, "0.009975", 0 },
};

static struct llmbill_usage modal_usage(const struct modal *g)
{
    struct llmbill_usage u = LLMBILL_USAGE_INIT;

    u.customer_id = "c";
    u.model = g->model;
    u.service_tier = g->tier;
    u.input_tokens = g->in;
    u.cached_input_tokens = g->cached;
    u.cache_creation_input_tokens = g->cwrite;
    u.output_tokens = g->out;
    u.reasoning_tokens = g->reasoning;
    u.input_audio_tokens = g->ain;
    u.cached_audio_tokens = g->acached;
    u.input_image_tokens = g->iin;
    u.input_video_tokens = g->vin;
    u.output_audio_tokens = g->aout;
    u.output_image_tokens = g->iout;
    u.web_search_requests = g->ws;
    return u;
}

static void modal_costs(void)
{
    for (size_t i = 0; i < sizeof modals / sizeof modals[0]; i++) {
        struct llmbill_usage u = modal_usage(&modals[i]);

        expect_cost(&u, modals[i].cost, modals[i].threshold);
    }
    {
        /* the parts of the realtime case */
        struct llmbill_usage u = modal_usage(&modals[1]);
        struct llmbill_cost_breakdown b;

        memset(&b, 0, sizeof b);
        b.struct_size = sizeof b;
        CHECK_EQ_INT(llmbill_price(table, &u, &b, NULL, 0), 0);
        CHECK_EQ_INT(b.audio, 123200000000LL);  /* 0.0016 + 0.096 + 0.0256 */
        CHECK_EQ_INT(b.input, 4000000000LL);
        CHECK_EQ_INT(b.cache_read, 800000000LL);
        CHECK_EQ_INT(b.output, 1600000000LL);
        u = modal_usage(&modals[4]);
        CHECK_EQ_INT(llmbill_price(table, &u, &b, NULL, 0), 0);
        CHECK_EQ_INT(b.web_search, 20000000000LL);
    }
}

/* What the table cannot price is an error naming the rate, never $0. */
static void modal_failures(void)
{
    struct llmbill_usage u = LLMBILL_USAGE_INIT;
    struct llmbill_cost_breakdown b;
    char err[256];

    memset(&b, 0, sizeof b);
    b.struct_size = sizeof b;
    u.customer_id = "c";
    u.model = "gpt-4o";
    u.input_tokens = 100;
    u.web_search_requests = 1;
    CHECK_EQ_INT(llmbill_price(table, &u, &b, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "model gpt-4o has no search_context_cost_per_query, and the record has 1 "
                        "such web search requests");
    u.web_search_requests = 0;
    u.model = "gemini/gemini-2.5-flash"; /* Gemini's cached audio price is not in the table */
    u.cached_input_tokens = 50;
    u.input_audio_tokens = 60;
    u.cached_audio_tokens = 40;
    CHECK_EQ_INT(llmbill_price(table, &u, &b, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "has no cache_read_input_audio_token_cost, and the record has 40 such tokens");
    /* and [price.M] can add it */
    CHECK_EQ_INT(llmbill_prices_set(table, "gemini/gemini-2.5-flash",
                                    "cache_read_input_audio_token_cost", "1e-7", err, sizeof err), 0);
    CHECK_EQ_INT(llmbill_price(table, &u, &b, err, sizeof err), 0);
    /* 50 uncached (30 text + 20 audio): 30 x 3e-7 + 20 x 1e-6 + 10 x 3e-8 + 40 x 1e-7 */
    CHECK_EQ_INT(b.total, 33300000);
    CHECK_EQ_INT(llmbill_prices_set(table, "my-search-model", "search_context_cost_per_query",
                                    "0.025", err, sizeof err), 0);
    CHECK_EQ_INT(llmbill_prices_set(table, "my-search-model", "input_cost_per_token_batches",
                                    "1e-6", err, sizeof err), 0);
    u = (struct llmbill_usage)LLMBILL_USAGE_INIT;
    u.customer_id = "c";
    u.model = "my-search-model";
    u.web_search_requests = 4;
    CHECK_EQ_INT(llmbill_price(table, &u, &b, err, sizeof err), 0);
    CHECK_EQ_INT(b.total, 100000000000LL);
    /* a tiered_pricing entry that is not one */
    {
        static const char bad[] = "{\"m\":{\"tiered_pricing\":[{\"range\":\"x\"}]}}";
        llmbill_prices *p = NULL;

        CHECK_EQ_INT(llmbill_prices_load_buffer(&p, bad, sizeof bad - 1, err, sizeof err),
                     LLMBILL_EINVAL);
        CHECK_CONTAINS(err, "model m: tiered_pricing: expected objects with \"range\"");
    }
}

int main(int argc, char **argv)
{
    char err[512];
    const char *path = argc > 1 ? argv[1] : PRICES_FILE;
    long long t0 = t_mono_ms();

    CHECK_EQ_INT(llmbill_prices_load(&table, path, err, sizeof err), 0);
    fprintf(stderr, "loaded %zu models in %lld ms\n", llmbill_prices_count(table), t_mono_ms() - t0);
    CHECK_EQ_INT(llmbill_prices_count(table), 2982);
    RUN(golden_costs);
    RUN(modal_costs);
    RUN(modal_failures);
    RUN(breakdown_parts);
    RUN(failures);
    RUN(overrides);
    RUN(load_errors);
    dir = strdup(t_tmpdir());
    RUN(record_time_pricing);
    RUN(pricing_config_errors);
    llmbill_prices_free(table);
    printf("test_price: ok\n");
    return 0;
}
