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
    CHECK_CONTAINS(err, "the stream carried no usage (request it with stream_options.include_usage)");
    CHECK_EQ_INT(run_stream("openai", broken, 4, &x, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "JSON");
    CHECK_EQ_INT(run_stream("anthropic", error, 0, &x, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "the stream reported an error");
    CHECK_EQ_INT(run_stream("openai", truncated, 0, &x, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "truncated JSON");
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

int main(void)
{
    RUN(bodies);
    RUN(bad_bodies);
    RUN(streams);
    RUN(bad_streams);
    RUN(extracted_then_priced);
    printf("test_extract: ok\n");
    return 0;
}
