/* Usage from provider responses: every shape, plain and streamed (fed whole,
 * byte by byte, and in odd chunks), normalised, then priced. */
#include "t.h"
#include "llmbill/extract.h"
#include "llmbill/price.h"

static char *sample(const char *name)
{
    char path[512];

    snprintf(path, sizeof path, "%s/%s", SAMPLES, name);
    return t_read(path);
}

struct want {
    const char *model, *request_id;
    uint64_t in, cached, cwrite, cwrite1h, out, reasoning;
};

static int stream_all_ways(const char *provider, const char *text, size_t len,
                           struct llmbill_extracted *x, char *err, size_t errlen);

static void check_x(const char *what, const struct llmbill_extracted *x, const struct want *w)
{
    if (strcmp(x->model, w->model) != 0 || strcmp(x->request_id, w->request_id) != 0 ||
        x->input_tokens != w->in || x->cached_input_tokens != w->cached ||
        x->cache_creation_input_tokens != w->cwrite ||
        x->cache_creation_1h_input_tokens != w->cwrite1h || x->output_tokens != w->out ||
        x->reasoning_tokens != w->reasoning) {
        fprintf(stderr, "%s: got %s/%s in %llu cached %llu cw %llu cw1h %llu out %llu r %llu\n",
                what, x->model, x->request_id, (unsigned long long)x->input_tokens,
                (unsigned long long)x->cached_input_tokens,
                (unsigned long long)x->cache_creation_input_tokens,
                (unsigned long long)x->cache_creation_1h_input_tokens,
                (unsigned long long)x->output_tokens, (unsigned long long)x->reasoning_tokens);
        exit(1);
    }
}

static const struct want chat = { "gpt-4o-2024-08-06", "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
                                  2006, 1920, 0, 0, 300, 0 };
static const struct want o3 = { "o3-2025-04-16", "", 1000, 200, 0, 0, 500, 400 };
static const struct want claude = { "claude-sonnet-4-5-20250929", "msg_01XFDUDYJgAACzvnptvVoYEL",
                                    12100, 10000, 2000, 500, 500, 0 };
static const struct want gemini = { "gemini-2.5-flash", "mK3aaNq5Ccnt7M8P6ZfGsAQ",
                                    9000, 3000, 0, 0, 1200, 800 };

static void bodies(void)
{
    struct llmbill_extracted x;
    char err[256], *b;
    struct want resp = o3;

    memset(&x, 0, sizeof x);
    b = sample("openai_chat.json");
    CHECK_EQ_INT(llmbill_extract_openai_chat(b, strlen(b), &x, err, sizeof err), 0);
    check_x("openai chat", &x, &chat);
    CHECK(strcmp(x.provider, "openai") == 0);
    CHECK_EQ_INT(llmbill_extract("openai", b, strlen(b), &x, err, sizeof err), 0);
    CHECK_EQ_INT(x.shape, LLMBILL_SHAPE_OPENAI_CHAT);
    free(b);
    b = sample("openai_responses.json");
    resp.request_id = "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b";
    CHECK_EQ_INT(llmbill_extract_openai_responses(b, strlen(b), &x, err, sizeof err), 0);
    check_x("openai responses", &x, &resp);
    CHECK_EQ_INT(llmbill_extract("openai", b, strlen(b), &x, err, sizeof err), 0);
    CHECK_EQ_INT(x.shape, LLMBILL_SHAPE_OPENAI_RESPONSES);
    check_x("openai responses by provider", &x, &resp);
    free(b);
    b = sample("anthropic.json");
    CHECK_EQ_INT(llmbill_extract_anthropic(b, strlen(b), &x, err, sizeof err), 0);
    check_x("anthropic", &x, &claude); /* 100 + 2000 + 10000 input */
    free(b);
    b = sample("gemini.json");
    CHECK_EQ_INT(llmbill_extract("vertex_ai", b, strlen(b), &x, err, sizeof err), 0);
    check_x("gemini", &x, &gemini); /* 400 candidates + 800 thoughts */
    free(b);
    CHECK_EQ_INT(llmbill_extract("cohere", "{}", 2, &x, err, sizeof err), LLMBILL_ENOTFOUND);
    CHECK_CONTAINS(err, "no response reader for provider 'cohere'");
}

static void bad_bodies(void)
{
    static const struct { const char *body, *msg; } cases[] = {
        { "", "empty body" },
        { "{\"model\":\"gpt-4o\",\"usage\":{\"prompt_tokens\":1", "truncated JSON" },
        { "{\"model\":\"gpt-4o\"} x", "malformed JSON" },
        { "[]", "expected a JSON object" },
        { "{\"model\":\"gpt-4o\"}", "the response has no usage" },
        { "{\"model\":\"gpt-4o\",\"usage\":{\"prompt_tokens\":\"12\"}}", "prompt_tokens: expected a non-negative integer" },
        { "{\"model\":\"gpt-4o\",\"usage\":{\"prompt_tokens\":-3}}", "prompt_tokens: expected" },
        { "{\"usage\":{\"prompt_tokens\":3}}", "names no model" },
        { "{\"model\":\"m\",\"usage\":{\"prompt_tokens\":3,\"prompt_tokens_details\":{\"cached_tokens\":9}}}",
          "inconsistent counts" },
    };
    struct llmbill_extracted x;

    memset(&x, 0, sizeof x);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";

        if (llmbill_extract_openai_chat(cases[i].body, strlen(cases[i].body), &x, err, sizeof err) !=
                LLMBILL_EINVAL || strstr(err, cases[i].msg) == NULL) {
            fprintf(stderr, "case %zu: '%s' gave '%s', want '%s'\n", i, cases[i].body, err,
                    cases[i].msg);
            exit(1);
        }
    }
}

/* Feeds a stream in pieces of step bytes (0: whole). */
static int run_stream(const char *provider, const char *text, size_t step,
                      struct llmbill_extracted *x, char *err, size_t errlen)
{
    llmbill_stream *s;
    size_t len = strlen(text);
    int rc = 0;

    CHECK_EQ_INT(llmbill_stream_new_for(&s, provider), 0);
    for (size_t i = 0; i < len && rc == 0; i += step ? step : len)
        rc = llmbill_stream_feed(s, text + i, step && len - i > step ? step : len - i, err, errlen);
    if (rc == 0)
        rc = llmbill_stream_finish(s, x, err, errlen);
    llmbill_stream_free(s);
    return rc;
}

static void streams(void)
{
    static const size_t steps[] = { 0, 1, 2, 3, 7, 64, 1000 };
    struct want chat_o3 = o3, resp_o3 = o3, claude_s = claude, gem = gemini;
    char *sse[4] = { sample("openai_chat.sse"), sample("openai_responses.sse"),
                     sample("anthropic.sse"), sample("gemini.sse") };
    const char *prov[4] = { "openai", "openai", "anthropic", "gemini" };
    const struct want *want[4] = { &chat_o3, &resp_o3, &claude_s, &gem };

    chat_o3.request_id = "chatcmpl-7x";
    resp_o3.request_id = "resp_9";
    claude_s.request_id = "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY";
    claude_s.cwrite1h = 0; /* message_start here has no cache_creation split */
    gem.request_id = "r1";
    for (int k = 0; k < 4; k++) {
        for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
            struct llmbill_extracted x;
            char err[256] = "", what[64];

            memset(&x, 0, sizeof x);
            snprintf(what, sizeof what, "%s stream %d, step %zu", prov[k], k, steps[i]);
            if (run_stream(prov[k], sse[k], steps[i], &x, err, sizeof err) != 0) {
                fprintf(stderr, "%s: %s\n", what, err);
                exit(1);
            }
            check_x(what, &x, want[k]);
        }
    }
    /* and in seeded random chunks, each way the same */
    for (int k = 0; k < 4; k++) {
        struct llmbill_extracted x;
        char err[256] = "";

        CHECK_EQ_INT(stream_all_ways(prov[k], sse[k], strlen(sse[k]), &x, err, sizeof err), 0);
        check_x("random chunks", &x, want[k]);
    }
    /* CRLF line ends work the same */
    {
        char *crlf = malloc(strlen(sse[2]) * 2 + 1), *o = crlf;
        struct llmbill_extracted x;
        char err[256];

        for (const char *p = sse[2]; *p; p++) {
            if (*p == '\n')
                *o++ = '\r';
            *o++ = *p;
        }
        *o = '\0';
        memset(&x, 0, sizeof x);
        CHECK_EQ_INT(run_stream("anthropic", crlf, 5, &x, err, sizeof err), 0);
        check_x("anthropic CRLF", &x, &claude_s);
        free(crlf);
    }
    for (int k = 0; k < 4; k++)
        free(sse[k]);
}

static void bad_streams(void)
{
    struct llmbill_extracted x;
    char err[256];
    const char *no_usage = "data: {\"id\":\"c\",\"model\":\"gpt-4o\",\"choices\":[]}\n\ndata: [DONE]\n\n";
    const char *broken = "data: {\"model\":\"gpt-4o\",\n\n";
    const char *error = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}\n\n";
    const char *truncated = "data: {\"id\":\"c\",\"model\":\"gpt-4o\",\"usage\":{\"prompt_tokens\":5";

    memset(&x, 0, sizeof x);
    CHECK_EQ_INT(run_stream("openai", no_usage, 3, &x, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "the stream carried no usage (request it with stream_options.include_usage");
    CHECK_EQ_INT(run_stream("openai", broken, 4, &x, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "JSON");
    CHECK_EQ_INT(run_stream("anthropic", error, 0, &x, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "the stream reported an error");
    CHECK_EQ_INT(run_stream("openai", truncated, 0, &x, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "incomplete stream: it ends inside an event");
    CHECK_EQ_INT(llmbill_stream_new_for(NULL, "cohere"), LLMBILL_ENOTFOUND);
}

static void extracted_then_priced(void)
{
    llmbill_prices *p;
    struct llmbill_extracted x;
    struct llmbill_usage u = LLMBILL_USAGE_INIT;
    struct llmbill_cost_breakdown b;
    char err[256], *body = sample("anthropic.json"), num[48];

    CHECK_EQ_INT(llmbill_prices_load(&p, PRICES_FILE, err, sizeof err), 0);
    memset(&x, 0, sizeof x);
    CHECK_EQ_INT(llmbill_extract("anthropic", body, strlen(body), &x, err, sizeof err), 0);
    llmbill_extracted_to_usage(&x, &u);
    u.customer_id = "c";
    memset(&b, 0, sizeof b);
    b.struct_size = sizeof b;
    CHECK_EQ_INT(llmbill_price(p, &u, &b, err, sizeof err), 0);
    llmbill_cost_format(b.total, num, sizeof num);
    /* 100x3e-6 + 10000x3e-7 + 1500x3.75e-6 + 500x6e-6 + 500x1.5e-5 */
    CHECK(strcmp(num, "0.019425") == 0);
    free(body);
    llmbill_prices_free(p);
}

/* Feeds a stream whole, byte by byte and in seeded random chunks; every
 * way must give the same result: rc, and (on success) the counts in *x. */
static int stream_all_ways(const char *provider, const char *text, size_t len,
                           struct llmbill_extracted *x, char *err, size_t errlen)
{
    int first = -100;

    for (int way = 0; way < 6; way++) {
        llmbill_stream *s;
        struct llmbill_extracted y;
        unsigned seed = 12345u + (unsigned)way;
        int rc = 0;

        memset(&y, 0, sizeof y);
        CHECK_EQ_INT(llmbill_stream_new_for(&s, provider), 0);
        for (size_t i = 0; i < len && rc == 0;) {
            size_t n = way == 0 ? len : way == 1 ? 1 : 1 + (seed = seed * 1103515245u + 12345u) % 97;

            if (n > len - i)
                n = len - i;
            rc = llmbill_stream_feed(s, text + i, n, err, errlen);
            i += n;
        }
        if (rc == 0)
            rc = llmbill_stream_finish(s, &y, err, errlen);
        llmbill_stream_free(s);
        if (first == -100) {
            first = rc;
            *x = y;
        } else if (rc != first || (rc == 0 && memcmp(&y, x, sizeof y) != 0)) {
            fprintf(stderr, "%s: way %d gave %d (%s), whole gave %d\n", provider, way, rc, err,
                    first);
            exit(1);
        }
    }
    return first;
}

static int stream_file(const char *provider, const char *name, struct llmbill_extracted *x,
                       char *err, size_t errlen)
{
    char *t = sample(name);
    int rc = stream_all_ways(provider, t, strlen(t), x, err, errlen);

    free(t);
    return rc;
}

/* The outcome must not depend on where a stream is cut: an Anthropic
 * stream cut before its message_delta is incomplete, cleanly or mid-line. */
static void cut_streams(void)
{
    struct llmbill_extracted x;
    char err[256], *t = sample("anthropic.sse"), *g = sample("gemini.sse");
    const char *delta = strstr(t, "event: message_delta");
    const char *stop = strstr(t, "event: message_stop");
    size_t cuts[3];

    CHECK(delta != NULL && stop != NULL);
    cuts[0] = (size_t)(delta - t);          /* cleanly after content_block_stop */
    cuts[1] = (size_t)(delta - t) + 30;     /* inside the message_delta line */
    cuts[2] = (size_t)(strstr(t, "content_block_delta") - t);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(stream_all_ways("anthropic", t, cuts[i], &x, err, sizeof err), LLMBILL_EINVAL);
        CHECK_CONTAINS(err, "incomplete stream");
    }
    /* cut after message_delta but before message_stop: the usage is final */
    CHECK_EQ_INT(stream_all_ways("anthropic", t, (size_t)(stop - t), &x, err, sizeof err), 0);
    CHECK(x.output_tokens == 500);
    /* Gemini: the running totals of a chunk without finishReason are not final */
    CHECK_EQ_INT(stream_all_ways("gemini", g, (size_t)(strstr(g + 10, "data:") - g), &x, err,
                                 sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "no chunk with a finishReason");
    free(t);
    free(g);
}

/* Azure's content-filter chunk after the usage says "model": "": the model
 * stays the one the usage came with. */
static void azure_filter_chunk(void)
{
    struct llmbill_extracted x;
    char err[256];

    CHECK_EQ_INT(stream_file("azure", "azure_chat.sse", &x, err, sizeof err), 0);
    CHECK(strcmp(x.model, "gpt-4o-2024-11-20") == 0);
    CHECK(strcmp(x.request_id, "chatcmpl-AzX1") == 0);
    CHECK(x.input_tokens == 1300 && x.cached_input_tokens == 1024 && x.output_tokens == 42);
}

static void responses_outcomes(void)
{
    struct llmbill_extracted x;
    char err[256], *t = sample("openai_responses.sse"), *b;

    /* cut before its terminal event: no Chat Completions advice */
    CHECK_EQ_INT(stream_all_ways("openai", t, (size_t)(strstr(t, "event: response.completed") - t),
                                 &x, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "ended before response.completed, response.incomplete or response.failed");
    CHECK(strstr(err, "include_usage") == NULL);
    free(t);
    /* failed, with the partial usage it reports: billed, as a failure */
    CHECK_EQ_INT(stream_file("openai", "openai_responses_failed.sse", &x, err, sizeof err), 0);
    CHECK(x.input_tokens == 820 && x.output_tokens == 64 && x.status == LLMBILL_STATUS_FAILURE);
    CHECK_EQ_INT(x.shape, LLMBILL_SHAPE_OPENAI_RESPONSES);
    /* failed without usage: an error naming the event and the reason */
    {
        const char *f = "data: {\"type\":\"response.failed\",\"response\":{\"id\":\"r\",\"model\":\"m\","
                        "\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":"
                        "\"boom\"},\"usage\":null}}\n\n";

        CHECK_EQ_INT(stream_all_ways("openai", f, strlen(f), &x, err, sizeof err), LLMBILL_EINVAL);
        CHECK_CONTAINS(err, "response.failed carried no usage: boom");
    }
    /* incomplete (max_output_tokens) with two web searches */
    b = sample("openai_responses_incomplete.json");
    CHECK_EQ_INT(llmbill_extract("openai", b, strlen(b), &x, err, sizeof err), 0);
    CHECK(x.input_tokens == 3100 && x.output_tokens == 256 && x.web_search_requests == 2);
    CHECK(x.status == LLMBILL_STATUS_SUCCESS && strcmp(x.service_tier, "default") == 0);
    free(b);
}

static void compatible_extras(void)
{
    struct llmbill_extracted x;
    char err[256], *b;

    memset(&x, 0, sizeof x);
    b = sample("deepseek.json"); /* cache hit + miss = prompt */
    CHECK_EQ_INT(llmbill_extract("deepseek", b, strlen(b), &x, err, sizeof err), 0);
    CHECK(x.input_tokens == 1536 && x.cached_input_tokens == 1280 && x.output_tokens == 120);
    CHECK(strcmp(x.provider, "deepseek") == 0);
    free(b);
    b = sample("openrouter.json"); /* the float cost, read exactly */
    CHECK_EQ_INT(llmbill_extract("openrouter", b, strlen(b), &x, err, sizeof err), 0);
    CHECK((x.flags & LLMBILL_EXTRACTED_REPORTED_COST) && x.reported_cost == 4836000000LL);
    CHECK(x.input_tokens == 1200 && x.cached_input_tokens == 1000);
    free(b);
    b = sample("xai.json"); /* reasoning on top of completion: 10120 + 1499 + 2809 = 14428 */
    CHECK_EQ_INT(llmbill_extract("xai", b, strlen(b), &x, err, sizeof err), 0);
    CHECK(x.output_tokens == 1499 + 2809 && x.reasoning_tokens == 2809);
    CHECK(x.cached_input_tokens == 9856 && x.reported_cost == 55945200000LL);
    free(b);
    b = sample("openai_audio.json");
    CHECK_EQ_INT(llmbill_extract("openai", b, strlen(b), &x, err, sizeof err), 0);
    CHECK(x.input_tokens == 1200 && x.input_audio_tokens == 1000 && x.output_audio_tokens == 800);
    free(b);
    b = sample("openai_prediction.json"); /* accepted and rejected are in completion: billed */
    CHECK_EQ_INT(llmbill_extract("openai", b, strlen(b), &x, err, sizeof err), 0);
    CHECK(x.output_tokens == 226 && strcmp(x.service_tier, "priority") == 0);
    free(b);
    b = sample("openai_responses_cache_write.json"); /* cache_write_tokens: cache creation */
    CHECK_EQ_INT(llmbill_extract("openai", b, strlen(b), &x, err, sizeof err), 0);
    CHECK(x.input_tokens == 10000 && x.cached_input_tokens == 2000 &&
          x.cache_creation_input_tokens == 3000);
    free(b);
    b = sample("openai_search.json"); /* a search model's citation: one search fee */
    CHECK_EQ_INT(llmbill_extract("openai", b, strlen(b), &x, err, sizeof err), 0);
    CHECK(x.web_search_requests == 1 && x.output_tokens == 120);
    free(b);
    CHECK_EQ_INT(stream_file("openai", "openai_search.sse", &x, err, sizeof err), 0);
    CHECK(x.web_search_requests == 1 && x.output_tokens == 40);
    b = sample("perplexity.json"); /* reasoning and citations apart; cost an object */
    CHECK_EQ_INT(llmbill_extract("perplexity", b, strlen(b), &x, err, sizeof err), 0);
    CHECK(x.input_tokens == 19 + 10175 && x.output_tokens == 498 + 95305);
    CHECK(x.reasoning_tokens == 95305 && x.web_search_requests == 3);
    CHECK(x.reported_cost == 325290000000LL);
    free(b);
    CHECK_EQ_INT(stream_file("groq", "groq.sse", &x, err, sizeof err), 0); /* x_groq.usage */
    CHECK(x.input_tokens == 48 && x.output_tokens == 12 && strcmp(x.provider, "groq") == 0);
    {
        const char *bad = "{\"model\":\"m\",\"usage\":{\"prompt_tokens\":1,\"cost\":\"x\"}}";

        CHECK_EQ_INT(llmbill_extract("openrouter", bad, strlen(bad), &x, err, sizeof err),
                     LLMBILL_EINVAL);
        CHECK_CONTAINS(err, "usage.cost");
    }
}

static void gemini_shapes(void)
{
    struct llmbill_extracted x, y;
    char err[256], *b;

    memset(&x, 0, sizeof x);
    b = sample("gemini_tools.json"); /* 151 + 18329 tool-use input; 1089 + 1120 output */
    CHECK_EQ_INT(llmbill_extract("gemini", b, strlen(b), &x, err, sizeof err), 0);
    CHECK(x.input_tokens == 151 + 18329 && x.output_tokens == 1089 + 1120);
    CHECK(x.input_tokens + x.output_tokens == 20689);
    CHECK(x.web_search_requests == 1); /* Gemini 2.x: per grounded prompt */
    free(b);
    b = sample("gemini3_grounded.json"); /* Gemini 3: per search query */
    CHECK_EQ_INT(llmbill_extract("gemini", b, strlen(b), &x, err, sizeof err), 0);
    CHECK(x.web_search_requests == 3 && x.input_tokens == 4920 && x.output_tokens == 260);
    free(b);
    b = sample("gemini_media.json");
    CHECK_EQ_INT(llmbill_extract("gemini", b, strlen(b), &x, err, sizeof err), 0);
    CHECK(x.input_tokens == 5000 && x.cached_input_tokens == 2000);
    CHECK(x.input_audio_tokens == 1710 && x.cached_audio_tokens == 1200);
    CHECK(x.input_image_tokens == 1290 && x.input_video_tokens == 1000);
    free(b);
    /* streamGenerateContent without alt=sse: one JSON array, fed any way */
    CHECK_EQ_INT(stream_file("gemini", "gemini_array.json", &x, err, sizeof err), 0);
    CHECK(x.input_tokens == 9000 && x.cached_input_tokens == 3000 && x.output_tokens == 1200);
    CHECK(strcmp(x.request_id, "arr1") == 0);
    b = sample("gemini_array.json"); /* the same array as a whole body */
    memset(&y, 0, sizeof y);
    CHECK_EQ_INT(llmbill_extract("gemini", b, strlen(b), &y, err, sizeof err), 0);
    CHECK(y.output_tokens == 1200);
    /* cut inside an element, or before the final one */
    CHECK_EQ_INT(stream_all_ways("gemini", b, strlen(b) / 2, &x, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "incomplete stream");
    free(b);
    /* a mid-stream error as plain JSON lines (no "data:"): reported as such */
    CHECK_EQ_INT(stream_file("gemini", "gemini_error.sse", &x, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "the stream reported an error");
    CHECK_CONTAINS(err, "The model is overloaded");
    {
        const char *junk = "[{\"a\":1} x";

        CHECK_EQ_INT(stream_all_ways("gemini", junk, strlen(junk), &x, err, sizeof err),
                     LLMBILL_EINVAL);
        CHECK_CONTAINS(err, "unexpected 'x'");
    }
}

static void anthropic_shapes(void)
{
    struct llmbill_extracted x;
    char err[256], *b, *line;

    /* cumulative deltas: the last one counts; 5m/1h split from message_start */
    CHECK_EQ_INT(stream_file("anthropic", "anthropic_websearch.sse", &x, err, sizeof err), 0);
    CHECK(x.input_tokens == 10682 + 3000 && x.cache_creation_input_tokens == 3000);
    CHECK(x.cache_creation_1h_input_tokens == 1000 && x.output_tokens == 510);
    CHECK(x.web_search_requests == 2 && strcmp(x.service_tier, "standard") == 0);
    /* Message Batches results, line by line */
    b = sample("anthropic_batch.jsonl");
    line = strtok(b, "\n");
    CHECK_EQ_INT(llmbill_extract("anthropic", line, strlen(line), &x, err, sizeof err), 0);
    CHECK(x.input_tokens == 1000 && x.output_tokens == 200 && strcmp(x.service_tier, "batch") == 0);
    CHECK(strcmp(x.request_id, "msg_01Bat1") == 0);
    line = strtok(NULL, "\n");
    CHECK_EQ_INT(llmbill_extract("anthropic", line, strlen(line), &x, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "batch result is errored, not succeeded: not billed");
    line = strtok(NULL, "\n");
    CHECK_EQ_INT(llmbill_extract("anthropic", line, strlen(line), &x, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "expired");
    free(b);
}

static void openai_batch(void)
{
    struct llmbill_extracted x;
    char err[256], *b = sample("openai_batch.jsonl"), *line;

    memset(&x, 0, sizeof x);
    line = strtok(b, "\n");
    CHECK_EQ_INT(llmbill_extract("openai", line, strlen(line), &x, err, sizeof err), 0);
    check_x("batch chat", &x, &(struct want){ "gpt-4o-2024-08-06", "chatcmpl-B1", 2006, 1920, 0, 0,
                                              300, 0 });
    CHECK(strcmp(x.service_tier, "batch") == 0); /* priced at batch rates */
    line = strtok(NULL, "\n");
    CHECK_EQ_INT(llmbill_extract("openai", line, strlen(line), &x, err, sizeof err), 0);
    CHECK_EQ_INT(x.shape, LLMBILL_SHAPE_OPENAI_RESPONSES);
    check_x("batch responses", &x, &(struct want){ "o3-2025-04-16", "resp_B2", 1000, 200, 0, 0, 500,
                                                   400 });
    line = strtok(NULL, "\n");
    CHECK_EQ_INT(llmbill_extract("openai", line, strlen(line), &x, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "batch request failed: not billed (This request could not be executed");
    free(b);
}

/* CRC-32 (IEEE), table-driven: the test's own, checked on its standard
 * check value, so the frames below are what AWS sends. */
static uint32_t crc32_ref(const unsigned char *p, size_t n)
{
    static uint32_t table[256];
    uint32_t c = 0xffffffffu;

    if (table[1] == 0)
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t v = i;

            for (int k = 0; k < 8; k++)
                v = v & 1 ? 0xedb88320u ^ (v >> 1) : v >> 1;
            table[i] = v;
        }
    while (n--)
        c = table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static unsigned char *be32_put(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
    return p + 4;
}

/* Appends one event-stream message with string headers :message-type,
 * :event-type (or :exception-type) and :content-type, and a payload. */
static size_t frame(unsigned char *out, const char *mtype, const char *etype, const char *payload)
{
    unsigned char h[512], *p = h, *o;
    const char *names[3] = { ":message-type", strcmp(mtype, "event") == 0 ? ":event-type"
                                                                          : ":exception-type",
                             ":content-type" };
    const char *vals[3] = { mtype, etype, "application/json" };
    size_t hl, pl = strlen(payload), total;

    for (int i = 0; i < 3; i++) {
        size_t nl = strlen(names[i]), vl = strlen(vals[i]);

        *p++ = (unsigned char)nl;
        memcpy(p, names[i], nl);
        p += nl;
        *p++ = 7; /* string */
        *p++ = (unsigned char)(vl >> 8);
        *p++ = (unsigned char)vl;
        memcpy(p, vals[i], vl);
        p += vl;
    }
    *p++ = 2;            /* a header of another type, skipped: ":x" int64 */
    memcpy(p, ":x\x05", 3);
    memset(p + 3, 0, 8);
    p += 11;
    hl = (size_t)(p - h);
    total = 16 + hl + pl;
    o = be32_put(out, (uint32_t)total);
    o = be32_put(o, (uint32_t)hl);
    o = be32_put(o, crc32_ref(out, 8));
    memcpy(o, h, hl);
    memcpy(o + hl, payload, pl);
    be32_put(o + hl + pl, crc32_ref(out, total - 4));
    return total;
}

static void base64(const char *in, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), o = 0;

    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)in[i] << 16;

        if (i + 1 < n) v |= (uint32_t)(unsigned char)in[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)in[i + 2];
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = i + 1 < n ? a[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? a[v & 63] : '=';
    }
    out[o] = '\0';
}

static void bedrock(void)
{
    struct llmbill_extracted x;
    char err[256], *b, payload[1100], b64[1024];
    unsigned char *buf = malloc(16384);
    size_t n = 0;
    static const char *const events[] = {
        "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_bdrk_1\",\"type\":\"message\","
        "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[],"
        "\"usage\":{\"input_tokens\":100,\"cache_creation_input_tokens\":2000,"
        "\"cache_read_input_tokens\":10000,\"output_tokens\":1}}}",
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}",
        "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":500}}",
        "{\"type\":\"message_stop\",\"amazon-bedrock-invocationMetrics\":{\"inputTokenCount\":100,"
        "\"outputTokenCount\":500,\"invocationLatency\":2512,\"firstByteLatency\":414,"
        "\"cacheReadInputTokenCount\":10000,\"cacheWriteInputTokenCount\":2000}}",
    };

    CHECK(crc32_ref((const unsigned char *)"123456789", 9) == 0xcbf43926u);
    memset(&x, 0, sizeof x);
    b = sample("bedrock_converse.json"); /* input excludes the cache: 100 + 10000 + 2000 */
    CHECK_EQ_INT(llmbill_extract("bedrock", b, strlen(b), &x, err, sizeof err), 0);
    CHECK(x.input_tokens == 12100 && x.cached_input_tokens == 10000);
    CHECK(x.cache_creation_input_tokens == 2000 && x.cache_creation_1h_input_tokens == 500);
    CHECK(x.output_tokens == 500 && x.model[0] == '\0' && strcmp(x.provider, "bedrock") == 0);
    free(b);
    b = sample("bedrock_invoke.json"); /* InvokeModel: an Anthropic body */
    CHECK_EQ_INT(llmbill_extract("bedrock", b, strlen(b), &x, err, sizeof err), 0);
    check_x("bedrock invoke", &x, &(struct want){ "claude-sonnet-4-5-20250929", "msg_bdrk_01Inv",
                                                  12100, 10000, 2000, 0, 500, 0 });
    free(b);
    /* ConverseStream: binary frames; usage in the metadata event after messageStop */
    n += frame(buf + n, "event", "messageStart", "{\"p\":\"abcdefgh\",\"role\":\"assistant\"}");
    n += frame(buf + n, "event", "contentBlockDelta",
               "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Bon\"},\"p\":\"abcd\"}");
    n += frame(buf + n, "event", "messageStop", "{\"p\":\"ab\",\"stopReason\":\"end_turn\"}");
    CHECK_EQ_INT(stream_all_ways("bedrock", (const char *)buf, n, &x, err, sizeof err),
                 LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "incomplete stream: no metadata event");
    n += frame(buf + n, "event", "metadata",
               "{\"metrics\":{\"latencyMs\":820},\"p\":\"abc\",\"usage\":{\"cacheReadInputTokens\":10000,"
               "\"cacheWriteInputTokens\":2000,\"inputTokens\":100,\"outputTokens\":500,"
               "\"totalTokens\":12600}}");
    CHECK_EQ_INT(stream_all_ways("bedrock", (const char *)buf, n, &x, err, sizeof err), 0);
    CHECK(x.input_tokens == 12100 && x.cached_input_tokens == 10000 && x.output_tokens == 500);
    /* a flipped payload byte fails the message CRC */
    buf[n - 10] ^= 1;
    CHECK_EQ_INT(stream_all_ways("bedrock", (const char *)buf, n, &x, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "message CRC mismatch");
    /* an exception message */
    n = frame(buf, "exception", "throttlingException", "{\"message\":\"Too many requests\"}");
    CHECK_EQ_INT(stream_all_ways("bedrock", (const char *)buf, n, &x, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "throttlingException: {\"message\":\"Too many requests\"}");
    /* InvokeModelWithResponseStream: chunk events, base64 Anthropic events */
    n = 0;
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
        base64(events[i], b64);
        snprintf(payload, sizeof payload, "{\"bytes\":\"%s\",\"p\":\"abcdefghij\"}", b64);
        n += frame(buf + n, "event", "chunk", payload);
    }
    CHECK_EQ_INT(stream_all_ways("bedrock", (const char *)buf, n, &x, err, sizeof err), 0);
    check_x("bedrock invoke stream", &x, &(struct want){ "claude-sonnet-4-5-20250929", "msg_bdrk_1",
                                                         12100, 10000, 2000, 0, 500, 0 });
    /* not an event stream at all */
    CHECK_EQ_INT(stream_all_ways("bedrock", "data: {}\n\n0123456789", 20, &x, err, sizeof err),
                 LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "prelude CRC mismatch");
    free(buf);
}

int main(void)
{
    RUN(bedrock);
    RUN(cut_streams);
    RUN(azure_filter_chunk);
    RUN(responses_outcomes);
    RUN(compatible_extras);
    RUN(gemini_shapes);
    RUN(anthropic_shapes);
    RUN(openai_batch);
    RUN(bodies);
    RUN(bad_bodies);
    RUN(streams);
    RUN(bad_streams);
    RUN(extracted_then_priced);
    printf("test_extract: ok\n");
    return 0;
}
