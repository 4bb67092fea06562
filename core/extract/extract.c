/* llmbill core: token usage from provider response bodies (see
 * include/llmbill/extract.h). One function per shape reads an already
 * parsed JSON object, so bodies and stream events share the code. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extract_int.h"
#include "lb.h"

/* Copies the string at path under obj into dst (cap bytes), if present
 * and not empty: an empty string never replaces a known one (Azure's
 * content-filter chunks say "model": "" after the usage chunk). */
static void copy_str(const struct lb_jdoc *d, int obj, const char *path, char *dst, size_t cap)
{
    int v = lb_json_get(d->js, d->t, d->n, obj, path);

    if (v >= 0 && d->t[v].type == JSMN_STRING && d->t[v].end > d->t[v].start) {
        int len = d->t[v].end - d->t[v].start;

        snprintf(dst, cap, "%.*s", len, d->js + d->t[v].start);
    }
}

/* Sets x->created_ms from a Unix-seconds field, when present. */
static void created(const struct lb_jdoc *d, int obj, const char *path, struct llmbill_extracted *x)
{
    int v = lb_json_get(d->js, d->t, d->n, obj, path);
    uint64_t secs;

    if (v >= 0 && lb_json_u64(d->js, &d->t[v], &secs) == 0 && secs < 100000000000ULL)
        x->created_ms = (int64_t)secs * 1000;
}

/* Reads the count at path under obj into *out. 1 when present, 0 when
 * absent or null, -1 (with a reason) when it is not a count. */
static int count(const struct lb_jdoc *d, int obj, const char *path, uint64_t *out, char *err,
                 size_t errlen)
{
    int v = lb_json_get(d->js, d->t, d->n, obj, path);

    if (v < 0 || (d->t[v].type == JSMN_PRIMITIVE && d->js[d->t[v].start] == 'n'))
        return 0;
    if (lb_json_u64(d->js, &d->t[v], out) != 0) {
        lb_errf(err, errlen, "%s: expected a non-negative integer", path);
        return -1;
    }
    return 1;
}

int lb_jdoc_parse(struct lb_jdoc *d, const char *js, size_t len, char *err, size_t errlen)
{
    int n;

    memset(d, 0, sizeof d[0]);
    d->js = js;
    n = lb_json_parse(js, len, LB_JSON_MAX_TOKENS_BODY, &d->t, err, errlen);
    if (n == 0)
        lb_errf(err, errlen, "empty body");
    if (n <= 0)
        return n == 0 ? LLMBILL_EINVAL : n;
    d->n = n;
    return 0;
}

void lb_jdoc_free(struct lb_jdoc *d)
{
    free(d->t);
    d->t = NULL;
}

#define COUNT(path, field)                                                  \
    do {                                                                    \
        if (count(d, obj, path, &(field), err, errlen) < 0)                 \
            return LLMBILL_EINVAL;                                          \
    } while (0)

/* Where an OpenAI API keeps its counts. */
struct openai_keys {
    const char *created, *input, *output, *cached, *reasoning, *in_audio, *in_image, *out_audio,
               *out_image, *cwrite;
};

/* Chat Completions: prompt_tokens (cached, audio and image included),
 * completion_tokens (reasoning, audio and accepted and rejected prediction
 * tokens included: all are billed as output). */
static const struct openai_keys chat_keys = {
    "created", "prompt_tokens", "completion_tokens", "prompt_tokens_details.cached_tokens",
    "completion_tokens_details.reasoning_tokens", "prompt_tokens_details.audio_tokens",
    "prompt_tokens_details.image_tokens", "completion_tokens_details.audio_tokens",
    "completion_tokens_details.image_tokens", "prompt_tokens_details.cache_write_tokens"
};

/* Responses: input_tokens and output_tokens, with the same inclusions. */
static const struct openai_keys responses_keys = {
    "created_at", "input_tokens", "output_tokens", "input_tokens_details.cached_tokens",
    "output_tokens_details.reasoning_tokens", "input_tokens_details.audio_tokens",
    "input_tokens_details.image_tokens", "output_tokens_details.audio_tokens",
    "output_tokens_details.image_tokens", "input_tokens_details.cache_write_tokens"
};

/* A provider-reported cost: a decimal number of USD (OpenRouter usage.cost)
 * read from its text, exactly; or xAI's cost_in_usd_ticks (1e-10 USD). */
static int reported_cost(const struct lb_jdoc *d, int usage, struct llmbill_extracted *x)
{
    int v = lb_json_get(d->js, d->t, d->n, usage, "cost");
    uint64_t ticks;
    int64_t c;

    if (v >= 0 && d->t[v].type == JSMN_OBJECT)     /* Perplexity: cost.total_cost */
        v = lb_json_get(d->js, d->t, d->n, v, "total_cost");

    if (v >= 0 && !(d->t[v].type == JSMN_PRIMITIVE && d->js[d->t[v].start] == 'n')) {
        if (d->t[v].type != JSMN_PRIMITIVE || llmbill_cost_parse(d->js + d->t[v].start, (size_t)(d->t[v].end - d->t[v].start), &c) != 0 ||
            c < 0)
            return -1;
        x->reported_cost = c;
        x->flags |= LLMBILL_EXTRACTED_REPORTED_COST;
    }
    v = lb_json_get(d->js, d->t, d->n, usage, "cost_in_usd_ticks");
    if (v >= 0 && lb_json_u64(d->js, &d->t[v], &ticks) == 0 && ticks <= (uint64_t)INT64_MAX / 100) {
        x->reported_cost = (int64_t)ticks * 100; /* 1e-10 USD -> 1e-12 */
        x->flags |= LLMBILL_EXTRACTED_REPORTED_COST;
    }
    return 0;
}

/* 1 when a Chat Completions body or chunk cites the web (a url_citation
 * annotation on a choice's message or delta): a search model searched, and
 * that request pays one search fee (as LiteLLM charges it). */
int lb_chat_searched(const struct lb_jdoc *d, int obj)
{
    static const char *const where[2] = { "message.annotations", "delta.annotations" };
    int c = lb_json_get(d->js, d->t, d->n, obj, "choices"), end;

    if (c < 0 || d->t[c].type != JSMN_ARRAY || (end = lb_json_skip(d->t, c, d->n)) < 0)
        return 0;
    for (int i = c + 1; i > 0 && i < end; i = lb_json_skip(d->t, i, d->n)) {
        for (int w = 0; w < 2; w++) {
            int a = lb_json_get(d->js, d->t, d->n, i, where[w]), aend;

            if (a < 0 || d->t[a].type != JSMN_ARRAY || (aend = lb_json_skip(d->t, a, d->n)) < 0)
                continue;
            for (int k = a + 1; k > 0 && k < aend; k = lb_json_skip(d->t, k, d->n)) {
                int ty = lb_json_get(d->js, d->t, d->n, k, "type");

                if (ty >= 0 && lb_json_eq(d->js, &d->t[ty], "url_citation", 12))
                    return 1;
            }
        }
    }
    return 0;
}

/* Counts web_search_call items in a Responses output array (each is a
 * billed search). */
static uint64_t web_search_calls(const struct lb_jdoc *d, int obj)
{
    int out = lb_json_get(d->js, d->t, d->n, obj, "output"), i, end;
    uint64_t n = 0;

    if (out < 0 || d->t[out].type != JSMN_ARRAY || (end = lb_json_skip(d->t, out, d->n)) < 0)
        return 0;
    for (i = out + 1; i > 0 && i < end; i = lb_json_skip(d->t, i, d->n)) {
        int ty = lb_json_get(d->js, d->t, d->n, i, "type");

        if (ty >= 0 && lb_json_eq(d->js, &d->t[ty], "web_search_call", 15))
            n++;
    }
    return n;
}

/* Perplexity's usage: reasoning_tokens (top level) and citation_tokens
 * come apart from completion and prompt and out of total_tokens; citations
 * are input (billed at the input rate, which is citation_cost_per_token);
 * a search-backed response pays a request fee (search_context_size present:
 * 1), Deep Research a fee per search (num_search_queries). */
static int perplexity(const struct lb_jdoc *d, int usage, struct llmbill_extracted *x, char *err,
                      size_t errlen)
{
    uint64_t reasoning = 0, citations = 0, searches = 0;
    int obj = usage;

    COUNT("reasoning_tokens", reasoning);
    COUNT("citation_tokens", citations);
    COUNT("num_search_queries", searches);
    x->input_tokens += citations;
    x->reasoning_tokens += reasoning;
    x->output_tokens += reasoning;
    if (strstr(x->model, "deep-research") != NULL)
        x->web_search_requests = searches;
    else if (lb_json_get(d->js, d->t, d->n, usage, "search_context_size") >= 0)
        x->web_search_requests = 1;
    return 0;
}

static int extract_openai(const struct lb_jdoc *d, int obj, const struct openai_keys *k,
                          struct llmbill_extracted *x, char *err, size_t errlen)
{
    int u = lb_json_get(d->js, d->t, d->n, obj, "usage");
    uint64_t hit = 0, miss = 0, total = 0;
    int have_hit, have_total;

    copy_str(d, obj, "model", x->model, sizeof x->model);
    copy_str(d, obj, "id", x->request_id, sizeof x->request_id);
    copy_str(d, obj, "service_tier", x->service_tier, sizeof x->service_tier);
    created(d, obj, k->created, x);
    if (u < 0 || d->t[u].type != JSMN_OBJECT)
        u = lb_json_get(d->js, d->t, d->n, obj, "x_groq.usage"); /* Groq streams */
    if (u < 0 || d->t[u].type != JSMN_OBJECT)
        return 1; /* no usage in this body or chunk */
    obj = u;
    /* a chunk's usage replaces the previous chunk's (xAI: running totals) */
    x->input_tokens = x->output_tokens = x->cached_input_tokens = x->reasoning_tokens = 0;
    x->cache_creation_input_tokens = 0;
    x->input_audio_tokens = x->input_image_tokens = 0;
    x->output_audio_tokens = x->output_image_tokens = x->web_search_requests = 0;
    COUNT(k->input, x->input_tokens);
    COUNT(k->output, x->output_tokens);
    COUNT(k->cached, x->cached_input_tokens);
    COUNT(k->reasoning, x->reasoning_tokens);
    COUNT(k->in_audio, x->input_audio_tokens);
    COUNT(k->in_image, x->input_image_tokens);
    COUNT(k->out_audio, x->output_audio_tokens);
    COUNT(k->out_image, x->output_image_tokens);
    COUNT(k->cwrite, x->cache_creation_input_tokens);
    /* DeepSeek: prompt_cache_hit_tokens + prompt_cache_miss_tokens = prompt */
    if ((have_hit = count(d, obj, "prompt_cache_hit_tokens", &hit, err, errlen)) < 0 ||
        count(d, obj, "prompt_cache_miss_tokens", &miss, err, errlen) < 0)
        return LLMBILL_EINVAL;
    if (have_hit > 0 && x->cached_input_tokens == 0)
        x->cached_input_tokens = hit;
    if (x->input_tokens == 0 && hit + miss > 0)
        x->input_tokens = hit + miss;
    /* xAI: reasoning_tokens come on top of completion_tokens, which shows in
     * total_tokens = prompt + completion + reasoning; output then includes them */
    if ((have_total = count(d, obj, "total_tokens", &total, err, errlen)) < 0)
        return LLMBILL_EINVAL;
    if (have_total > 0 && x->reasoning_tokens > 0 &&
        total == x->input_tokens + x->output_tokens + x->reasoning_tokens)
        x->output_tokens += x->reasoning_tokens;
    if (strcmp(x->provider, "perplexity") == 0 && perplexity(d, obj, x, err, errlen) != 0)
        return LLMBILL_EINVAL;
    /* cache writes are prompt tokens ("unadjusted": never more than the rest) */
    if (x->cached_input_tokens <= x->input_tokens &&
        x->cache_creation_input_tokens > x->input_tokens - x->cached_input_tokens)
        x->cache_creation_input_tokens = x->input_tokens - x->cached_input_tokens;
    if (reported_cost(d, obj, x) != 0) {
        lb_errf(err, errlen, "usage.cost: expected a non-negative decimal number");
        return LLMBILL_EINVAL;
    }
    return 0;
}

int lb_extract_openai_chat(const struct lb_jdoc *d, int obj, struct llmbill_extracted *x,
                           char *err, size_t errlen)
{
    int rc = extract_openai(d, obj, &chat_keys, x, err, errlen);

    if (rc == 0 && x->web_search_requests == 0 && lb_chat_searched(d, obj))
        x->web_search_requests = 1;
    return rc;
}

/* A Response object: its usage, status (failed and cancelled responses
 * with usage are billed as failures) and web searches. */
int lb_extract_openai_responses(const struct lb_jdoc *d, int obj, struct llmbill_extracted *x,
                                char *err, size_t errlen)
{
    int st = lb_json_get(d->js, d->t, d->n, obj, "status");
    int rc = extract_openai(d, obj, &responses_keys, x, err, errlen);

    if (rc == 0) {
        x->web_search_requests = web_search_calls(d, obj);
        if (st >= 0 && (lb_json_eq(d->js, &d->t[st], "failed", 6) ||
                        lb_json_eq(d->js, &d->t[st], "cancelled", 9)))
            x->status = LLMBILL_STATUS_FAILURE;
    }
    return rc;
}

/* Anthropic: usage.input_tokens excludes cache reads and writes, which come
 * as cache_read_input_tokens and cache_creation_input_tokens; they are
 * added. Only the counts present are set (a message_delta carries some, and
 * its counts are cumulative: they replace the earlier ones). The write TTL
 * split is cache_creation.ephemeral_{5m,1h}_input_tokens; without a total,
 * the split's sum is the total. */
int lb_extract_anthropic_usage(const struct lb_jdoc *d, int obj, struct lb_anthropic *a, char *err,
                               size_t errlen)
{
    uint64_t w5 = 0;
    int has5, has1;

    COUNT("input_tokens", a->input);
    COUNT("cache_read_input_tokens", a->cache_read);
    COUNT("cache_creation_input_tokens", a->cache_write);
    if ((has5 = count(d, obj, "cache_creation.ephemeral_5m_input_tokens", &w5, err, errlen)) < 0 ||
        (has1 = count(d, obj, "cache_creation.ephemeral_1h_input_tokens", &a->cache_write_1h, err,
                       errlen)) < 0)
        return LLMBILL_EINVAL;
    if ((has5 > 0 || has1 > 0) && lb_json_get(d->js, d->t, d->n, obj,
                                              "cache_creation_input_tokens") < 0)
        a->cache_write = w5 + a->cache_write_1h;
    COUNT("output_tokens", a->output);
    COUNT("server_tool_use.web_search_requests", a->web_search);
    if (a->tier[0] == '\0')
        copy_str(d, obj, "service_tier", a->tier, sizeof a->tier);
    return 0;
}

int lb_extract_anthropic_message(const struct lb_jdoc *d, int obj, struct lb_anthropic *a,
                                 struct llmbill_extracted *x, char *err, size_t errlen)
{
    int u = lb_json_get(d->js, d->t, d->n, obj, "usage");

    copy_str(d, obj, "model", x->model, sizeof x->model);
    copy_str(d, obj, "id", x->request_id, sizeof x->request_id);
    if (u < 0 || d->t[u].type != JSMN_OBJECT)
        return 1;
    return lb_extract_anthropic_usage(d, u, a, err, errlen);
}

void lb_anthropic_finish(const struct lb_anthropic *a, struct llmbill_extracted *x)
{
    x->input_tokens = a->input + a->cache_read + a->cache_write;
    x->cached_input_tokens = a->cache_read;
    x->cache_creation_input_tokens = a->cache_write;
    x->cache_creation_1h_input_tokens = a->cache_write_1h;
    x->output_tokens = a->output;
    x->web_search_requests = a->web_search;
    if (a->tier[0] != '\0')
        snprintf(x->service_tier, sizeof x->service_tier, "%s", a->tier);
}

/* Adds a Gemini {modality, tokenCount} list to the modality counts. */
static int modalities(const struct lb_jdoc *d, int obj, const char *path, uint64_t *audio,
                      uint64_t *image, uint64_t *video, char *err, size_t errlen)
{
    int arr = lb_json_get(d->js, d->t, d->n, obj, path), end, i;

    if (arr < 0 || d->t[arr].type != JSMN_ARRAY)
        return 0;
    if ((end = lb_json_skip(d->t, arr, d->n)) < 0)
        return 0;
    for (i = arr + 1; i > 0 && i < end; i = lb_json_skip(d->t, i, d->n)) {
        int m = lb_json_get(d->js, d->t, d->n, i, "modality");
        uint64_t n = 0, *to = NULL;

        if (m < 0)
            continue;
        if (lb_json_eq(d->js, &d->t[m], "AUDIO", 5))
            to = audio;
        else if (lb_json_eq(d->js, &d->t[m], "IMAGE", 5))
            to = image;
        else if (lb_json_eq(d->js, &d->t[m], "VIDEO", 5))
            to = video;
        if (to == NULL)
            continue;
        if (count(d, i, "tokenCount", &n, err, errlen) < 0)
            return -1;
        *to += n;
    }
    return 0;
}

/* Gemini grounding with Google Search, billed per request: Gemini 2.x per
 * grounded prompt (a response whose candidates carry webSearchQueries: 1),
 * Gemini 3 and later per search query (each query counts). 0 without
 * grounding. */
static uint64_t gemini_searches(const struct lb_jdoc *d, int obj, const char *model)
{
    int c = lb_json_get(d->js, d->t, d->n, obj, "candidates"), end;
    uint64_t queries = 0;
    unsigned major = 0;

    if (c < 0 || d->t[c].type != JSMN_ARRAY || (end = lb_json_skip(d->t, c, d->n)) < 0)
        return 0;
    for (int i = c + 1; i > 0 && i < end; i = lb_json_skip(d->t, i, d->n)) {
        int q = lb_json_get(d->js, d->t, d->n, i, "groundingMetadata.webSearchQueries");

        if (q >= 0 && d->t[q].type == JSMN_ARRAY)
            queries += (uint64_t)d->t[q].size;
    }
    if (strncmp(model, "gemini-", 7) == 0)
        for (const char *p = model + 7; *p >= '0' && *p <= '9' && major < 1000; p++)
            major = major * 10 + (unsigned)(*p - '0');
    return major >= 3 ? queries : queries > 0;
}

/* Gemini: usageMetadata.promptTokenCount includes cachedContentTokenCount;
 * candidatesTokenCount excludes thoughtsTokenCount, which is added;
 * toolUsePromptTokenCount (search results, fetched pages and code output
 * fed back to the model) is input apart from the prompt, billed at the
 * input rate, and is added (LiteLLM drops it). Per-modality details give
 * the audio, image and video counts: prompt details minus the cached ones
 * (cacheTokensDetails), tool-use details added, candidates details. A
 * chunk's usage replaces the previous chunk's (running totals). */
int lb_extract_gemini(const struct lb_jdoc *d, int obj, struct llmbill_extracted *x, char *err,
                      size_t errlen)
{
    int u = lb_json_get(d->js, d->t, d->n, obj, "usageMetadata");
    uint64_t prompt = 0, tool = 0, candidates = 0, thoughts = 0, ca = 0, ci = 0, cv = 0, tv = 0;
    int traffic = lb_json_get(d->js, d->t, d->n, u, "trafficType");

    copy_str(d, obj, "modelVersion", x->model, sizeof x->model);
    copy_str(d, obj, "responseId", x->request_id, sizeof x->request_id);
    {
        uint64_t ws = gemini_searches(d, obj, x->model);

        if (ws > x->web_search_requests) /* a stream's grounding comes with its last chunks */
            x->web_search_requests = ws;
    }
    if (u < 0 || d->t[u].type != JSMN_OBJECT)
        return 1;
    obj = u;
    x->cached_input_tokens = 0;
    x->input_audio_tokens = x->input_image_tokens = x->input_video_tokens = 0;
    x->output_audio_tokens = x->output_image_tokens = 0;
    COUNT("promptTokenCount", prompt);
    COUNT("toolUsePromptTokenCount", tool);
    COUNT("cachedContentTokenCount", x->cached_input_tokens);
    COUNT("candidatesTokenCount", candidates);
    COUNT("thoughtsTokenCount", thoughts);
    if (modalities(d, obj, "promptTokensDetails", &x->input_audio_tokens, &x->input_image_tokens,
                   &x->input_video_tokens, err, errlen) < 0 ||
        modalities(d, obj, "toolUsePromptTokensDetails", &x->input_audio_tokens,
                   &x->input_image_tokens, &x->input_video_tokens, err, errlen) < 0 ||
        modalities(d, obj, "cacheTokensDetails", &ca, &ci, &cv, err, errlen) < 0 ||
        modalities(d, obj, "candidatesTokensDetails", &x->output_audio_tokens,
                   &x->output_image_tokens, &tv, err, errlen) < 0)
        return LLMBILL_EINVAL;
    /* cached audio stays (priced apart); cached image and video tokens are
     * cache reads, not uncached image or video */
    x->cached_audio_tokens = ca < x->input_audio_tokens ? ca : x->input_audio_tokens;
    x->input_image_tokens -= ci < x->input_image_tokens ? ci : x->input_image_tokens;
    x->input_video_tokens -= cv < x->input_video_tokens ? cv : x->input_video_tokens;
    x->input_tokens = prompt + tool;
    x->output_tokens = candidates + thoughts;
    x->reasoning_tokens = thoughts;
    if (traffic >= 0 && lb_json_eq(d->js, &d->t[traffic], "ON_DEMAND_PRIORITY", 18))
        snprintf(x->service_tier, sizeof x->service_tier, "priority");
    else if (traffic >= 0 && lb_json_eq(d->js, &d->t[traffic], "ON_DEMAND_FLEX", 14))
        snprintf(x->service_tier, sizeof x->service_tier, "flex");
    return 0;
}

/* 1 when a Gemini response object is final: a candidate has a
 * finishReason, or the prompt was blocked (promptFeedback.blockReason). */
int lb_gemini_final(const struct lb_jdoc *d, int obj)
{
    int c = lb_json_get(d->js, d->t, d->n, obj, "candidates"), end;

    if (lb_json_get(d->js, d->t, d->n, obj, "promptFeedback.blockReason") >= 0)
        return 1;
    if (c < 0 || d->t[c].type != JSMN_ARRAY || (end = lb_json_skip(d->t, c, d->n)) < 0)
        return 0;
    for (int i = c + 1; i > 0 && i < end; i = lb_json_skip(d->t, i, d->n)) {
        int f = lb_json_get(d->js, d->t, d->n, i, "finishReason");

        if (f >= 0 && d->t[f].type == JSMN_STRING && d->t[f].end > d->t[f].start)
            return 1;
    }
    return 0;
}

/* Bedrock Converse (a body, or a ConverseStream metadata event): usage
 * .inputTokens excludes cacheReadInputTokens and cacheWriteInputTokens,
 * which are added; cacheDetails[] gives the 1-hour part of the writes. Some
 * models' inputTokens already hold the write: when totalTokens says so
 * (input + read + output == total), it is not added twice. */
int lb_extract_bedrock(const struct lb_jdoc *d, int obj, struct llmbill_extracted *x, char *err,
                       size_t errlen)
{
    int u = lb_json_get(d->js, d->t, d->n, obj, "usage"), det, end;
    uint64_t in = 0, rd = 0, wr = 0, total = 0;
    int have_total;

    copy_str(d, obj, "serviceTier.type", x->service_tier, sizeof x->service_tier);
    if (u < 0 || d->t[u].type != JSMN_OBJECT)
        return 1;
    obj = u;
    COUNT("inputTokens", in);
    COUNT("outputTokens", x->output_tokens);
    COUNT("cacheReadInputTokens", rd);
    COUNT("cacheWriteInputTokens", wr);
    if ((have_total = count(d, obj, "totalTokens", &total, err, errlen)) < 0)
        return LLMBILL_EINVAL;
    x->input_tokens = in + rd + wr;
    if (have_total > 0 && wr > 0 && in + rd + x->output_tokens == total && in >= wr)
        x->input_tokens = in + rd;
    x->cached_input_tokens = rd;
    x->cache_creation_input_tokens = wr;
    x->cache_creation_1h_input_tokens = 0;
    det = lb_json_get(d->js, d->t, d->n, obj, "cacheDetails");
    if (det >= 0 && d->t[det].type == JSMN_ARRAY && (end = lb_json_skip(d->t, det, d->n)) > 0) {
        for (int i = det + 1; i > 0 && i < end; i = lb_json_skip(d->t, i, d->n)) {
            int ttl = lb_json_get(d->js, d->t, d->n, i, "ttl");
            uint64_t n = 0;

            if (ttl >= 0 && lb_json_eq(d->js, &d->t[ttl], "1h", 2)) {
                if (count(d, i, "inputTokens", &n, err, errlen) < 0)
                    return LLMBILL_EINVAL;
                x->cache_creation_1h_input_tokens += n;
            }
        }
    }
    return 0;
}

static void init(struct llmbill_extracted *x, uint32_t shape)
{
    uint32_t size = x->struct_size;

    memset(x, 0, sizeof *x);
    x->struct_size = size ? size : sizeof *x;
    x->shape = shape;
    snprintf(x->provider, sizeof x->provider, "%s", lb_shape_provider(shape));
}

const char *lb_shape_provider(uint32_t shape)
{
    return shape == LLMBILL_SHAPE_ANTHROPIC ? "anthropic" : shape == LLMBILL_SHAPE_GEMINI ? "gemini"
           : shape == LLMBILL_SHAPE_BEDROCK ? "bedrock" : "openai";
}

static uint64_t min64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

int lb_extract_check(struct llmbill_extracted *x, char *err, size_t errlen)
{
    uint64_t room, audio;

    /* Bedrock Converse names no model: the caller sets it from the request */
    if (x->model[0] == '\0' && x->shape != LLMBILL_SHAPE_BEDROCK) {
        lb_errf(err, errlen, "the response names no model");
        return LLMBILL_EINVAL;
    }
    if (x->cached_input_tokens > x->input_tokens ||
        x->cache_creation_input_tokens > x->input_tokens - x->cached_input_tokens ||
        x->cache_creation_1h_input_tokens > x->cache_creation_input_tokens ||
        x->reasoning_tokens > x->output_tokens) {
        lb_errf(err, errlen, "inconsistent counts (cached > input, or reasoning > output)");
        return LLMBILL_EINVAL;
    }
    /* Modality counts are parts of their totals; some providers count a
     * modality's cached tokens in it too (xAI, Gemini): they are clipped
     * into the uncached budget, as LiteLLM does. */
    x->cached_audio_tokens = min64(x->cached_audio_tokens,
                                   min64(x->cached_input_tokens, x->input_audio_tokens));
    room = x->input_tokens - x->cached_input_tokens - x->cache_creation_input_tokens;
    audio = min64(x->input_audio_tokens - x->cached_audio_tokens, room);
    x->input_audio_tokens = x->cached_audio_tokens + audio;
    x->input_image_tokens = min64(x->input_image_tokens, room - audio);
    x->input_video_tokens = min64(x->input_video_tokens, room - audio - x->input_image_tokens);
    room = x->output_tokens - x->reasoning_tokens;
    x->output_audio_tokens = min64(x->output_audio_tokens, room);
    x->output_image_tokens = min64(x->output_image_tokens, room - x->output_audio_tokens);
    return 0;
}

/* The object a batch result line wraps, or the root (0). An OpenAI Batch
 * output line keeps the response at response.body; an Anthropic Message
 * Batches result at result.message. A line that failed is an error: it is
 * not billed. */
static int unwrap(const struct lb_jdoc *d, uint32_t shape, char *err, size_t errlen)
{
    int r, b, ty;

    if (lb_json_get(d->js, d->t, d->n, 0, "custom_id") < 0)
        return 0;
    if (shape == LLMBILL_SHAPE_ANTHROPIC) {
        r = lb_json_get(d->js, d->t, d->n, 0, "result");
        ty = lb_json_get(d->js, d->t, d->n, r, "type");
        b = lb_json_get(d->js, d->t, d->n, r, "message");
        if (ty >= 0 && lb_json_eq(d->js, &d->t[ty], "succeeded", 9) && b >= 0 &&
            d->t[b].type == JSMN_OBJECT)
            return b;
        lb_errf(err, errlen, "batch result is %.*s, not succeeded: not billed",
                ty >= 0 ? d->t[ty].end - d->t[ty].start : 7,
                ty >= 0 ? d->js + d->t[ty].start : "missing");
        return -1;
    }
    r = lb_json_get(d->js, d->t, d->n, 0, "response");
    b = lb_json_get(d->js, d->t, d->n, r, "body");
    ty = lb_json_get(d->js, d->t, d->n, r, "status_code");
    if (b >= 0 && d->t[b].type == JSMN_OBJECT && ty >= 0 && d->t[ty].end - d->t[ty].start == 3 &&
        memcmp(d->js + d->t[ty].start, "200", 3) == 0)
        return b;
    b = lb_json_get(d->js, d->t, d->n, 0, "error.message");
    if (b < 0)
        b = lb_json_get(d->js, d->t, d->n, r, "body.error.message");
    lb_errf(err, errlen, "batch request failed: not billed (%.*s)",
            b >= 0 ? d->t[b].end - d->t[b].start : 8, b >= 0 ? d->js + d->t[b].start : "no body");
    return -1;
}

/* Runs one shape's reader on the object t[obj] of a parsed document. */
static int extract_obj(uint32_t shape, const struct lb_jdoc *d, int obj,
                       struct llmbill_extracted *x, char *err, size_t errlen)
{
    int rc;

    if (shape == LLMBILL_SHAPE_ANTHROPIC || (shape == LLMBILL_SHAPE_BEDROCK &&
                                             lb_json_get(d->js, d->t, d->n, obj,
                                                         "usage.input_tokens") >= 0)) {
        struct lb_anthropic a;

        memset(&a, 0, sizeof a);
        rc = lb_extract_anthropic_message(d, obj, &a, x, err, errlen);
        lb_anthropic_finish(&a, x);
    } else if (shape == LLMBILL_SHAPE_BEDROCK) {
        rc = lb_extract_bedrock(d, obj, x, err, errlen);
    } else if (shape == LLMBILL_SHAPE_GEMINI) {
        rc = lb_extract_gemini(d, obj, x, err, errlen);
    } else if (shape == LLMBILL_SHAPE_OPENAI_RESPONSES) {
        rc = lb_extract_openai_responses(d, obj, x, err, errlen);
    } else {
        rc = lb_extract_openai_chat(d, obj, x, err, errlen);
    }
    if (rc == 1) {
        lb_errf(err, errlen, "the response has no %s", shape == LLMBILL_SHAPE_GEMINI
                ? "usageMetadata" : "usage");
        return LLMBILL_EINVAL;
    }
    return rc != 0 ? rc : lb_extract_check(x, err, errlen);
}

/* A Gemini body that is a whole streamGenerateContent array (no alt=sse):
 * read as the stream it is. */
static int extract_array(uint32_t shape, const char *body, size_t len,
                         struct llmbill_extracted *x, char *err, size_t errlen)
{
    llmbill_stream *s;
    int rc;

    if ((rc = llmbill_stream_new(&s, shape)) != 0)
        return rc;
    rc = llmbill_stream_feed(s, body, len, err, errlen);
    if (rc == 0)
        rc = llmbill_stream_finish(s, x, err, errlen);
    llmbill_stream_free(s);
    return rc;
}

/* Parses body and runs one shape's reader on its root object (or the
 * response a batch result line wraps). */
static int extract_body(uint32_t shape, const char *provider, const char *body, size_t len,
                        struct llmbill_extracted *x, char *err, size_t errlen)
{
    struct lb_jdoc d;
    int rc, obj;
    size_t i = 0;

    if (body == NULL || x == NULL)
        return LLMBILL_EINVAL;
    init(x, shape);
    /* an OpenAI-compatible provider keeps its name (its prices are under it,
     * and some read differently) */
    if (provider != NULL && (shape == LLMBILL_SHAPE_OPENAI_CHAT ||
                             shape == LLMBILL_SHAPE_OPENAI_RESPONSES))
        snprintf(x->provider, sizeof x->provider, "%s", provider);
    while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
        i++;
    if (shape == LLMBILL_SHAPE_GEMINI && i < len && body[i] == '[')
        return extract_array(shape, body, len, x, err, errlen);
    if ((rc = lb_jdoc_parse(&d, body, len, err, errlen)) != 0)
        return rc;
    if ((obj = unwrap(&d, shape, err, errlen)) < 0) {
        lb_jdoc_free(&d);
        return LLMBILL_EINVAL;
    }
    /* an OpenAI batch line wraps either API */
    if (obj > 0 && shape == LLMBILL_SHAPE_OPENAI_CHAT) {
        int o = lb_json_get(d.js, d.t, d.n, obj, "object");

        if (o >= 0 && lb_json_eq(d.js, &d.t[o], "response", 8))
            shape = x->shape = LLMBILL_SHAPE_OPENAI_RESPONSES;
    }
    rc = extract_obj(shape, &d, obj, x, err, errlen);
    /* a Batch API result is billed at batch rates, whatever tier its body names */
    if (rc == 0 && obj > 0 && shape != LLMBILL_SHAPE_ANTHROPIC)
        snprintf(x->service_tier, sizeof x->service_tier, "batch");
    lb_jdoc_free(&d);
    return rc;
}

int llmbill_extract_openai_chat(const char *body, size_t len, struct llmbill_extracted *out,
                                char *err, size_t errlen)
{
    return extract_body(LLMBILL_SHAPE_OPENAI_CHAT, NULL, body, len, out, err, errlen);
}

int llmbill_extract_openai_responses(const char *body, size_t len, struct llmbill_extracted *out,
                                     char *err, size_t errlen)
{
    return extract_body(LLMBILL_SHAPE_OPENAI_RESPONSES, NULL, body, len, out, err, errlen);
}

int llmbill_extract_anthropic(const char *body, size_t len, struct llmbill_extracted *out,
                              char *err, size_t errlen)
{
    return extract_body(LLMBILL_SHAPE_ANTHROPIC, NULL, body, len, out, err, errlen);
}

int llmbill_extract_gemini(const char *body, size_t len, struct llmbill_extracted *out, char *err,
                           size_t errlen)
{
    return extract_body(LLMBILL_SHAPE_GEMINI, NULL, body, len, out, err, errlen);
}

static const char *const compatible[] = {
    "deepseek", "mistral", "groq", "xai", "openrouter", "together_ai", "together", "fireworks_ai",
    "azure_ai", "perplexity"
};

uint32_t lb_shape_for(const char *provider)
{
    if (provider == NULL)
        return 0;
    if (strcmp(provider, "openai") == 0 || strcmp(provider, "azure") == 0)
        return LLMBILL_SHAPE_OPENAI_CHAT;
    if (strcmp(provider, "anthropic") == 0)
        return LLMBILL_SHAPE_ANTHROPIC;
    if (strcmp(provider, "gemini") == 0 || strcmp(provider, "google") == 0 ||
        strcmp(provider, "vertex_ai") == 0)
        return LLMBILL_SHAPE_GEMINI;
    if (strcmp(provider, "bedrock") == 0)
        return LLMBILL_SHAPE_BEDROCK;
    /* OpenAI-compatible APIs: the Chat Completions shape and its extras */
    for (size_t i = 0; i < sizeof compatible / sizeof compatible[0]; i++)
        if (strcmp(provider, compatible[i]) == 0)
            return LLMBILL_SHAPE_OPENAI_CHAT;
    return 0;
}

int llmbill_extract(const char *provider, const char *body, size_t len,
                    struct llmbill_extracted *out, char *err, size_t errlen)
{
    uint32_t shape = lb_shape_for(provider);

    if (shape == 0) {
        lb_errf(err, errlen, "no response reader for provider '%s' (openai, azure, anthropic, "
                "gemini, vertex_ai, bedrock, or an OpenAI-compatible one: deepseek, mistral, "
                "groq, xai, openrouter, together_ai, fireworks_ai, perplexity)",
                provider ? provider : "");
        return LLMBILL_ENOTFOUND;
    }
    /* an OpenAI body says which API it comes from */
    if (shape == LLMBILL_SHAPE_OPENAI_CHAT && body != NULL &&
        memmem(body, len, "\"object\":\"response\"", 19) != NULL)
        shape = LLMBILL_SHAPE_OPENAI_RESPONSES;
    if (shape == LLMBILL_SHAPE_OPENAI_CHAT && body != NULL &&
        memmem(body, len, "\"object\": \"response\"", 20) != NULL)
        shape = LLMBILL_SHAPE_OPENAI_RESPONSES;
    return extract_body(shape, provider, body, len, out, err, errlen);
}

int llmbill_json_string_at(const char *json, size_t len, const char *path, char *out, size_t cap)
{
    struct lb_jdoc d;
    int v, n, rc;

    if (json == NULL || path == NULL || out == NULL || cap == 0)
        return LLMBILL_EINVAL;
    if ((rc = lb_jdoc_parse(&d, json, len, NULL, 0)) != 0)
        return rc;
    v = lb_json_get(json, d.t, d.n, 0, path);
    if (v < 0 || (d.t[v].type != JSMN_STRING && d.t[v].type != JSMN_PRIMITIVE) ||
        (d.t[v].type == JSMN_PRIMITIVE && json[d.t[v].start] == 'n')) {
        lb_jdoc_free(&d);
        return LLMBILL_ENOTFOUND;
    }
    n = d.t[v].end - d.t[v].start;
    if ((size_t)n >= cap) {
        lb_jdoc_free(&d);
        return LLMBILL_EINVAL;
    }
    memcpy(out, json + d.t[v].start, (size_t)n);
    out[n] = '\0';
    if (d.t[v].type == JSMN_STRING && lb_json_unescape(out, (size_t)n) == NULL) {
        lb_jdoc_free(&d);
        return LLMBILL_EINVAL;
    }
    lb_jdoc_free(&d);
    return (int)strlen(out);
}

void llmbill_extracted_to_usage(const struct llmbill_extracted *x, struct llmbill_usage *u)
{
    if (x->created_ms > 0)
        u->timestamp_ms = x->created_ms;
    u->provider = x->provider;
    u->model = x->model;
    u->request_id = x->request_id[0] ? x->request_id : NULL;
    u->input_tokens = x->input_tokens;
    u->cached_input_tokens = x->cached_input_tokens;
    u->cache_creation_input_tokens = x->cache_creation_input_tokens;
    u->cache_creation_1h_input_tokens = x->cache_creation_1h_input_tokens;
    u->output_tokens = x->output_tokens;
    u->reasoning_tokens = x->reasoning_tokens;
    if (x->struct_size < offsetof(struct llmbill_extracted, reported_cost) ||
        u->struct_size < offsetof(struct llmbill_usage, web_search_requests) + 8)
        return; /* one side was built before the modality counts */
    u->status = x->status;
    u->service_tier = x->service_tier[0] ? x->service_tier : NULL;
    u->input_audio_tokens = x->input_audio_tokens;
    u->cached_audio_tokens = x->cached_audio_tokens;
    u->input_image_tokens = x->input_image_tokens;
    u->input_video_tokens = x->input_video_tokens;
    u->output_audio_tokens = x->output_audio_tokens;
    u->output_image_tokens = x->output_image_tokens;
    u->web_search_requests = x->web_search_requests;
}
