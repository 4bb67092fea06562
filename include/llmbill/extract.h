/* llmbill: token usage read straight from provider responses.
 *
 * Each function reads one response shape, as a whole body or as a stream
 * fed chunk by chunk, and fills a struct llmbill_extracted with llmbill's
 * normalised counts:
 *   - input_tokens includes cached and cache-creation tokens (Anthropic and
 *     Bedrock report them apart; they are added) and Gemini's tool-use
 *     prompt tokens,
 *   - output_tokens includes reasoning tokens (Gemini's thoughts and xAI's
 *     reasoning come apart; they are added),
 *   - the modality counts are parts of those totals,
 *   - the model is the one the response names (an empty one never replaces
 *     a known one; Bedrock Converse names none: the caller sets it).
 * Malformed or truncated JSON is an error with a reason, never a crash. A
 * stream counts only once its final usage arrived; cut before it, wherever
 * the cut falls, finish() says it is incomplete.
 *
 * Shapes and where their usage is (docs/pricing-and-providers.md has all):
 *   OpenAI Chat Completions  usage; stream: the include_usage chunk (also
 *                            DeepSeek, xAI, OpenRouter, Groq's x_groq.usage,
 *                            Mistral, Together, Fireworks)
 *   OpenAI Responses API     usage; stream: response.completed, .incomplete
 *                            or .failed
 *   Batch result lines       OpenAI response.body, Anthropic result.message
 *   Anthropic Messages       usage; stream: message_start + last message_delta
 *   Gemini generateContent   usageMetadata; stream (SSE or a JSON array):
 *                            the chunk with a finishReason
 *   Bedrock                  Converse usage; ConverseStream (AWS event-stream
 *                            frames): the metadata event; InvokeModel with
 *                            Anthropic bodies and its chunk stream
 *
 * Threads: functions are reentrant; a stream object is used by one thread. */
#ifndef LLMBILL_EXTRACT_H
#define LLMBILL_EXTRACT_H

#include <stddef.h>
#include <stdint.h>
#include "llmbill/export.h"
#include "llmbill/usage.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LLMBILL_SHAPE_OPENAI_CHAT      1
#define LLMBILL_SHAPE_OPENAI_RESPONSES 2
#define LLMBILL_SHAPE_ANTHROPIC        3
#define LLMBILL_SHAPE_GEMINI           4
#define LLMBILL_SHAPE_BEDROCK          5 /* Converse, ConverseStream, InvokeModel (Anthropic) */

/* flags */
#define LLMBILL_EXTRACTED_REPORTED_COST 0x1u /* reported_cost holds a value */

/* Size-versioned; strings are owned by the struct. */
struct llmbill_extracted {
    uint32_t struct_size;
    uint32_t shape;             /* LLMBILL_SHAPE_* */
    char provider[32];          /* "openai", "anthropic", "gemini" */
    char model[256];
    char request_id[256];       /* the response's id, or "" */
    uint64_t input_tokens;
    uint64_t cached_input_tokens;
    uint64_t cache_creation_input_tokens;
    uint64_t cache_creation_1h_input_tokens;
    uint64_t output_tokens;
    uint64_t reasoning_tokens;
    int64_t created_ms;         /* when the provider says it answered (Unix ms), or 0 */
    uint32_t status;            /* LLMBILL_STATUS_FAILURE: the response failed or was cut
                                   short and still reports (billed) usage */
    uint32_t flags;             /* LLMBILL_EXTRACTED_* */
    char service_tier[32];      /* as the response says it ("flex", "priority", "batch",
                                   "standard", "default"), or "" */
    /* modality and tool counts, as in struct llmbill_usage */
    uint64_t input_audio_tokens;
    uint64_t cached_audio_tokens;
    uint64_t input_image_tokens;
    uint64_t input_video_tokens;
    uint64_t output_audio_tokens;
    uint64_t output_image_tokens;
    uint64_t web_search_requests;
    /* the cost the provider itself reports (OpenRouter usage.cost, xAI
     * cost_in_usd_ticks, Perplexity usage.cost.total_cost), LLMBILL_COST_SCALE units, with
     * LLMBILL_EXTRACTED_REPORTED_COST; read from its decimal text, exactly */
    int64_t reported_cost;
    /* append only */
};

/* A whole (non-streamed) response body. 0, or LLMBILL_EINVAL with the
 * reason in err (bad JSON, no usage, a count of the wrong type). */
LLMBILL_API int llmbill_extract_openai_chat(const char *body, size_t len,
                                            struct llmbill_extracted *out, char *err, size_t errlen);
LLMBILL_API int llmbill_extract_openai_responses(const char *body, size_t len,
                                                 struct llmbill_extracted *out, char *err,
                                                 size_t errlen);
LLMBILL_API int llmbill_extract_anthropic(const char *body, size_t len,
                                          struct llmbill_extracted *out, char *err, size_t errlen);
LLMBILL_API int llmbill_extract_gemini(const char *body, size_t len, struct llmbill_extracted *out,
                                       char *err, size_t errlen);

/* By provider name: "openai" and "azure" (Chat Completions or Responses,
 * told apart by the body's "object"; a Batch output line is unwrapped),
 * the OpenAI-compatible "deepseek", "mistral", "groq", "xai", "openrouter",
 * "together_ai", "fireworks_ai", "azure_ai", "perplexity" (their name is kept as the
 * provider), "anthropic" (a Message Batches result line is unwrapped),
 * "gemini" (also "google", "vertex_ai"; a body that is a JSON array is a
 * whole streamGenerateContent), "bedrock" (Converse, or an Anthropic
 * InvokeModel body). LLMBILL_ENOTFOUND for another provider. */
LLMBILL_API int llmbill_extract(const char *provider, const char *body, size_t len,
                                struct llmbill_extracted *out, char *err, size_t errlen);

/* Streams. */
typedef struct llmbill_stream llmbill_stream; /* opaque */

/* A stream parser for shape (LLMBILL_SHAPE_*), or by provider name (OpenAI
 * streams of either API are told apart by their events; a Gemini stream is
 * SSE or a JSON array by its first byte; a Bedrock stream is binary). */
LLMBILL_API LLMBILL_NODISCARD int llmbill_stream_new(llmbill_stream **out, uint32_t shape);
LLMBILL_API LLMBILL_NODISCARD int llmbill_stream_new_for(llmbill_stream **out, const char *provider);
/* Feeds the next bytes of the stream, split anywhere. 0, or
 * LLMBILL_EINVAL with the reason (a malformed event, a line over 1 MiB, a
 * bad event-stream frame or CRC, an error or exception the stream reports). */
LLMBILL_API int llmbill_stream_feed(llmbill_stream *s, const char *data, size_t len, char *err,
                                    size_t errlen);
/* Ends the stream: 0 with the usage, or LLMBILL_EINVAL (no final usage:
 * an incomplete stream, or an OpenAI stream without
 * stream_options.include_usage). */
LLMBILL_API int llmbill_stream_finish(llmbill_stream *s, struct llmbill_extracted *out, char *err,
                                      size_t errlen);
LLMBILL_API void llmbill_stream_free(llmbill_stream *s);

/* Copies the string (or the number's text) at a dotted path of a JSON
 * object, e.g. "user" or "metadata.customer_id", into out. Returns its
 * length, or LLMBILL_ENOTFOUND (absent, null, or not a scalar), or
 * LLMBILL_EINVAL (bad JSON, or it does not fit in cap). */
LLMBILL_API int llmbill_json_string_at(const char *json, size_t len, const char *path, char *out,
                                       size_t cap);

/* Points u's model, provider and request_id at x's strings and copies the
 * counts; sets timestamp_ms from created_ms. x must outlive u. */
LLMBILL_API void llmbill_extracted_to_usage(const struct llmbill_extracted *x,
                                            struct llmbill_usage *u);

#ifdef __cplusplus
}
#endif
#endif /* LLMBILL_EXTRACT_H */
