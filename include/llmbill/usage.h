/* llmbill: the usage record, shared by embedders (llmbill.h) and sinks (sink.h).
 *
 * One record describes one LLM API call: who is billed, which model, how many
 * tokens of each kind, and what it cost. The struct is plain data; every
 * string may be NULL (absent) and is borrowed: llmbill_record() deep-copies
 * what it keeps, and a sink sees pointers valid for one emit() call only.
 *
 * Versioning: struct_size is set by the caller to sizeof(struct llmbill_usage)
 * as compiled. New fields are only ever appended; the core treats fields past
 * the caller's struct_size as zero. Use LLMBILL_USAGE_INIT to start from a
 * zeroed record with the right size (or llmbill_usage_init() from another
 * language). A reader that was built against an older usage.h sees only the
 * fields it knows; LLMBILL_USAGE_HAS(u, field) tells whether a record
 * carries a field (a sink reading an event from a newer or older core).
 */
#ifndef LLMBILL_USAGE_H
#define LLMBILL_USAGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Money is an exact integer: LLMBILL_COST_SCALE units per unit of currency
 * (1e-12 USD when currency is "USD"). int64 holds up to ~9.2 million per event. */
#define LLMBILL_COST_SCALE 1000000000000LL
/* Bytes that always hold a formatted cost ("-9223372.036854775808" and NUL). */
#define LLMBILL_COST_BUFSZ 32

/* flags */
#define LLMBILL_USAGE_COST_KNOWN   0x1u /* cost holds a real value (0 is a real zero) */
#define LLMBILL_USAGE_HAS_LATENCY  0x2u /* latency_ms holds a real value */

/* status */
#define LLMBILL_STATUS_SUCCESS 0u
#define LLMBILL_STATUS_FAILURE 1u

/* Length limits the core enforces at record time (bytes, excluding NUL). */
#define LLMBILL_ID_MAX        255   /* event_id and every other string field */
#define LLMBILL_METADATA_MAX  64    /* metadata entries per record */
#define LLMBILL_METADATA_VALUE_MAX 4096
/* The largest token (or request) count a record may carry, 10^12: far above
 * any real call, and small enough that no sum or price of a record's counts
 * overflows. A larger count is LLMBILL_EINVAL. */
#define LLMBILL_TOKENS_MAX    1000000000000ull

struct llmbill_kv {
    const char *key;
    const char *value;
};

struct llmbill_usage {
    uint32_t struct_size;       /* sizeof(struct llmbill_usage) at the caller's build */
    uint32_t flags;             /* LLMBILL_USAGE_* */

    const char *event_id;       /* idempotency key; the core fills a UUIDv7 when NULL */
    int64_t timestamp_ms;       /* Unix ms; the core fills the record time when 0 */

    const char *customer_id;    /* who is billed: at least one of these four is required */
    const char *subscription_id;
    const char *user_id;
    const char *team_id;

    const char *provider;       /* "openai", "anthropic", ... */
    const char *model;          /* required */
    const char *call_type;      /* "chat", "embedding", "responses", ... */
    const char *request_id;     /* the provider's request id, for reconciliation */

    uint32_t status;            /* LLMBILL_STATUS_* */
    uint32_t latency_ms;        /* with LLMBILL_USAGE_HAS_LATENCY */

    uint64_t input_tokens;      /* total prompt tokens, cached and cache-creation included */
    uint64_t cached_input_tokens;
    uint64_t cache_creation_input_tokens;
    uint64_t output_tokens;     /* total completion tokens, reasoning included */
    uint64_t reasoning_tokens;

    int64_t cost;               /* LLMBILL_COST_SCALE units, with LLMBILL_USAGE_COST_KNOWN;
                                   never negative: credits are rejected (LLMBILL_EINVAL) */
    const char *currency;       /* ISO 4217 code; NULL means "USD" */

    size_t n_metadata;          /* free-form string tags */
    const struct llmbill_kv *metadata;

    /* of cache_creation_input_tokens, those written with a 1-hour TTL
     * (Anthropic); they are priced at the 1-hour cache-write rate */
    uint64_t cache_creation_1h_input_tokens;
    const char *service_tier;   /* "flex", "priority" or "batch" picks those rates; NULL: standard */

    /* Modality and tool counts (0 when not reported). Each is a part of the
     * total named beside it, never added to it: */
    uint64_t input_audio_tokens;   /* of input_tokens, cached audio included */
    uint64_t cached_audio_tokens;  /* of cached_input_tokens and of input_audio_tokens */
    uint64_t input_image_tokens;   /* of input_tokens (uncached) */
    uint64_t input_video_tokens;   /* of input_tokens (uncached) */
    uint64_t output_audio_tokens;  /* of output_tokens */
    uint64_t output_image_tokens;  /* of output_tokens */
    uint64_t web_search_requests;  /* server-side web searches, billed per request */
    /* append only (and add the field to llmbill_usage_field_offset() in
     * core/api_json.c and to tests/test_abi.c) */
};

/* Does the record u carry field (is it inside u's struct_size)? */
#define LLMBILL_USAGE_HAS(u, field) \
    (offsetof(struct llmbill_usage, field) + sizeof((u)->field) <= (u)->struct_size)

/* The modality and tool counts, in struct order, each named as its field
 * (and its JSON key): X(input_audio_tokens) ... X(web_search_requests). For
 * writers of the record, sinks included; each is present in a record whose
 * struct_size covers web_search_requests. */
#define LLMBILL_USAGE_COUNTS(X) \
    X(input_audio_tokens) X(cached_audio_tokens) X(input_image_tokens) X(input_video_tokens) \
    X(output_audio_tokens) X(output_image_tokens) X(web_search_requests)
#define LLMBILL_USAGE_HAS_COUNTS(u) \
    ((u)->struct_size >= offsetof(struct llmbill_usage, web_search_requests) + sizeof(uint64_t))

#define LLMBILL_USAGE_INIT { sizeof(struct llmbill_usage), 0, NULL, 0, NULL, NULL, NULL, NULL, \
                             NULL, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0, NULL, 0, NULL, \
                             0, NULL, 0, 0, 0, 0, 0, 0, 0 }

#ifdef __cplusplus
}
#endif
#endif /* LLMBILL_USAGE_H */
