/* llmbill core: token usage from provider response bodies (see
 * include/llmbill/extract.h). One function per shape reads an already
 * parsed JSON object, so bodies and stream events share the code. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extract_int.h"
#include "lb.h"

/* Copies the string at path under obj into dst (cap bytes), if present. */
static void copy_str(const struct lb_jdoc *d, int obj, const char *path, char *dst, size_t cap)
{
    int v = lb_json_get(d->js, d->t, d->n, obj, path);

    if (v >= 0 && d->t[v].type == JSMN_STRING) {
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
    const char *created, *input, *output, *cached, *reasoning;
};

/* Chat Completions: prompt_tokens (cached included), completion_tokens
 * (reasoning included). */
static const struct openai_keys chat_keys = {
    "created", "prompt_tokens", "completion_tokens", "prompt_tokens_details.cached_tokens",
    "completion_tokens_details.reasoning_tokens"
};

/* Responses: input_tokens and output_tokens, with the same inclusions. */
static const struct openai_keys responses_keys = {
    "created_at", "input_tokens", "output_tokens", "input_tokens_details.cached_tokens",
    "output_tokens_details.reasoning_tokens"
};

static int extract_openai(const struct lb_jdoc *d, int obj, const struct openai_keys *k,
                          struct llmbill_extracted *x, char *err, size_t errlen)
{
    int u = lb_json_get(d->js, d->t, d->n, obj, "usage");

    copy_str(d, obj, "model", x->model, sizeof x->model);
    copy_str(d, obj, "id", x->request_id, sizeof x->request_id);
    created(d, obj, k->created, x);
    if (u < 0 || d->t[u].type != JSMN_OBJECT)
        return 1; /* no usage in this body or chunk */
    obj = u;
    COUNT(k->input, x->input_tokens);
    COUNT(k->output, x->output_tokens);
    COUNT(k->cached, x->cached_input_tokens);
    COUNT(k->reasoning, x->reasoning_tokens);
    return 0;
}

int lb_extract_openai_chat(const struct lb_jdoc *d, int obj, struct llmbill_extracted *x,
                           char *err, size_t errlen)
{
    return extract_openai(d, obj, &chat_keys, x, err, errlen);
}

int lb_extract_openai_responses(const struct lb_jdoc *d, int obj, struct llmbill_extracted *x,
                                char *err, size_t errlen)
{
    return extract_openai(d, obj, &responses_keys, x, err, errlen);
}

/* Anthropic: usage.input_tokens excludes cache reads and writes, which come
 * as cache_read_input_tokens and cache_creation_input_tokens; they are
 * added. Only the counts present are set (a message_delta carries some). */
int lb_extract_anthropic_usage(const struct lb_jdoc *d, int obj, struct lb_anthropic *a, char *err,
                               size_t errlen)
{
    COUNT("input_tokens", a->input);
    COUNT("cache_read_input_tokens", a->cache_read);
    COUNT("cache_creation_input_tokens", a->cache_write);
    COUNT("cache_creation.ephemeral_1h_input_tokens", a->cache_write_1h);
    COUNT("output_tokens", a->output);
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
}

/* Gemini: usageMetadata.promptTokenCount includes cachedContentTokenCount;
 * candidatesTokenCount excludes thoughtsTokenCount, which is added. */
int lb_extract_gemini(const struct lb_jdoc *d, int obj, struct llmbill_extracted *x, char *err,
                      size_t errlen)
{
    int u = lb_json_get(d->js, d->t, d->n, obj, "usageMetadata");
    uint64_t candidates = 0, thoughts = 0;

    copy_str(d, obj, "modelVersion", x->model, sizeof x->model);
    copy_str(d, obj, "responseId", x->request_id, sizeof x->request_id);
    if (u < 0 || d->t[u].type != JSMN_OBJECT)
        return 1;
    obj = u;
    COUNT("promptTokenCount", x->input_tokens);
    COUNT("cachedContentTokenCount", x->cached_input_tokens);
    COUNT("candidatesTokenCount", candidates);
    COUNT("thoughtsTokenCount", thoughts);
    x->output_tokens = candidates + thoughts;
    x->reasoning_tokens = thoughts;
    return 0;
}

static void init(struct llmbill_extracted *x, uint32_t shape)
{
    uint32_t size = x->struct_size;

    memset(x, 0, sizeof *x);
    x->struct_size = size ? size : sizeof *x;
    x->shape = shape;
    snprintf(x->provider, sizeof x->provider, "%s",
             shape == LLMBILL_SHAPE_ANTHROPIC ? "anthropic"
             : shape == LLMBILL_SHAPE_GEMINI ? "gemini" : "openai");
}

int lb_extract_check(struct llmbill_extracted *x, char *err, size_t errlen)
{
    if (x->model[0] == '\0') {
        lb_errf(err, errlen, "the response names no model");
        return LLMBILL_EINVAL;
    }
    if (x->cached_input_tokens + x->cache_creation_input_tokens > x->input_tokens ||
        x->reasoning_tokens > x->output_tokens) {
        lb_errf(err, errlen, "inconsistent counts (cached > input, or reasoning > output)");
        return LLMBILL_EINVAL;
    }
    return 0;
}

/* Parses body and runs one shape's reader on its root object. */
static int extract_body(uint32_t shape, const char *body, size_t len, struct llmbill_extracted *x,
                        char *err, size_t errlen)
{
    struct lb_jdoc d;
    int rc;

    if (body == NULL || x == NULL)
        return LLMBILL_EINVAL;
    init(x, shape);
    if ((rc = lb_jdoc_parse(&d, body, len, err, errlen)) != 0)
        return rc;
    if (shape == LLMBILL_SHAPE_ANTHROPIC) {
        struct lb_anthropic a;

        memset(&a, 0, sizeof a);
        rc = lb_extract_anthropic_message(&d, 0, &a, x, err, errlen);
        lb_anthropic_finish(&a, x);
    } else if (shape == LLMBILL_SHAPE_GEMINI) {
        rc = lb_extract_gemini(&d, 0, x, err, errlen);
    } else if (shape == LLMBILL_SHAPE_OPENAI_RESPONSES) {
        rc = lb_extract_openai_responses(&d, 0, x, err, errlen);
    } else {
        rc = lb_extract_openai_chat(&d, 0, x, err, errlen);
    }
    lb_jdoc_free(&d);
    if (rc == 1) {
        lb_errf(err, errlen, "the response has no %s", shape == LLMBILL_SHAPE_GEMINI
                ? "usageMetadata" : "usage");
        return LLMBILL_EINVAL;
    }
    return rc != 0 ? rc : lb_extract_check(x, err, errlen);
}

int llmbill_extract_openai_chat(const char *body, size_t len, struct llmbill_extracted *out,
                                char *err, size_t errlen)
{
    return extract_body(LLMBILL_SHAPE_OPENAI_CHAT, body, len, out, err, errlen);
}

int llmbill_extract_openai_responses(const char *body, size_t len, struct llmbill_extracted *out,
                                     char *err, size_t errlen)
{
    return extract_body(LLMBILL_SHAPE_OPENAI_RESPONSES, body, len, out, err, errlen);
}

int llmbill_extract_anthropic(const char *body, size_t len, struct llmbill_extracted *out,
                              char *err, size_t errlen)
{
    return extract_body(LLMBILL_SHAPE_ANTHROPIC, body, len, out, err, errlen);
}

int llmbill_extract_gemini(const char *body, size_t len, struct llmbill_extracted *out, char *err,
                           size_t errlen)
{
    return extract_body(LLMBILL_SHAPE_GEMINI, body, len, out, err, errlen);
}

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
    return 0;
}

int llmbill_extract(const char *provider, const char *body, size_t len,
                    struct llmbill_extracted *out, char *err, size_t errlen)
{
    uint32_t shape = lb_shape_for(provider);

    if (shape == 0) {
        lb_errf(err, errlen, "no response reader for provider '%s' (openai, anthropic, gemini)",
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
    return extract_body(shape, body, len, out, err, errlen);
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
}
