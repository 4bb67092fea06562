/* The public ABI, frozen: every field offset and struct size of the public
 * headers, and every constant a binary compiles in, as released in 0.1 on
 * LP64 (x86-64, aarch64). A service over FFI and a sink .so built against an
 * older header rely on these. When this test fails:
 *   - a field moved or a constant changed: that breaks every binary built
 *     before; do not, or raise LLMBILL_SINK_ABI_MAJOR (sink.h) and the
 *     library's major version;
 *   - a struct grew because a field was appended: add the field and the new
 *     size below, and for a sink.h struct raise LLMBILL_SINK_ABI_MINOR. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "llmbill/extract.h"
#include "llmbill/llmbill.h"
#include "llmbill/price.h"
#include "llmbill/sink.h"
#include "llmbill/usage.h"

struct frozen {
    const char *what;
    long long got, want;
};

#define S(st, n) { "sizeof(struct " #st ")", (long long)sizeof(struct st), n }
#define F(st, f, n) { "offsetof(struct " #st ", " #f ")", (long long)offsetof(struct st, f), n }
#define C(name, n) { #name, (long long)(name), n }

#if defined(__LP64__) || defined(_LP64)
static const struct frozen layout[] = {
    S(llmbill_extracted, 712),
    F(llmbill_extracted, struct_size, 0),
    F(llmbill_extracted, shape, 4),
    F(llmbill_extracted, provider, 8),
    F(llmbill_extracted, model, 40),
    F(llmbill_extracted, request_id, 296),
    F(llmbill_extracted, input_tokens, 552),
    F(llmbill_extracted, cached_input_tokens, 560),
    F(llmbill_extracted, cache_creation_input_tokens, 568),
    F(llmbill_extracted, cache_creation_1h_input_tokens, 576),
    F(llmbill_extracted, output_tokens, 584),
    F(llmbill_extracted, reasoning_tokens, 592),
    F(llmbill_extracted, created_ms, 600),
    F(llmbill_extracted, status, 608),
    F(llmbill_extracted, flags, 612),
    F(llmbill_extracted, service_tier, 616),
    F(llmbill_extracted, input_audio_tokens, 648),
    F(llmbill_extracted, cached_audio_tokens, 656),
    F(llmbill_extracted, input_image_tokens, 664),
    F(llmbill_extracted, input_video_tokens, 672),
    F(llmbill_extracted, output_audio_tokens, 680),
    F(llmbill_extracted, output_image_tokens, 688),
    F(llmbill_extracted, web_search_requests, 696),
    F(llmbill_extracted, reported_cost, 704),
    S(llmbill_open_opts, 48),
    F(llmbill_open_opts, struct_size, 0),
    F(llmbill_open_opts, flags, 4),
    F(llmbill_open_opts, plugin_dir, 8),
    F(llmbill_open_opts, log_cb, 16),
    F(llmbill_open_opts, log_ud, 24),
    F(llmbill_open_opts, errbuf, 32),
    F(llmbill_open_opts, errbuf_len, 40),
    S(llmbill_stats, 152),
    F(llmbill_stats, struct_size, 0),
    F(llmbill_stats, reserved, 4),
    F(llmbill_stats, recorded, 8),
    F(llmbill_stats, delivered, 16),
    F(llmbill_stats, retried, 24),
    F(llmbill_stats, dead_lettered, 32),
    F(llmbill_stats, pending, 40),
    F(llmbill_stats, rejected_full, 48),
    F(llmbill_stats, rejected_invalid, 56),
    F(llmbill_stats, unpriced, 64),
    F(llmbill_stats, spooled, 72),
    F(llmbill_stats, spool_corrupt, 80),
    F(llmbill_stats, lost, 88),
    F(llmbill_stats, requests, 96),
    F(llmbill_stats, in_flight, 104),
    F(llmbill_stats, last_status, 108),
    F(llmbill_stats, requests_per_s, 112),
    F(llmbill_stats, answer_p50_us, 116),
    F(llmbill_stats, answer_p99_us, 120),
    F(llmbill_stats, reserved2, 124),
    F(llmbill_stats, quarantined, 128),
    F(llmbill_stats, transport_errors, 136),
    F(llmbill_stats, last_transport_error, 144),
    F(llmbill_stats, reserved3, 148),
    S(llmbill_sink_info, 312),
    F(llmbill_sink_info, struct_size, 0),
    F(llmbill_sink_info, batch_max, 4),
    F(llmbill_sink_info, name, 8),
    F(llmbill_sink_info, plugin, 16),
    F(llmbill_sink_info, plugin_version, 24),
    F(llmbill_sink_info, path, 32),
    F(llmbill_sink_info, events, 40),
    F(llmbill_sink_info, last_error, 48),
    F(llmbill_sink_info, dead_letter_path, 304),
    S(llmbill_cost_breakdown, 104),
    F(llmbill_cost_breakdown, struct_size, 0),
    F(llmbill_cost_breakdown, reserved, 4),
    F(llmbill_cost_breakdown, model, 8),
    F(llmbill_cost_breakdown, threshold_tokens, 16),
    F(llmbill_cost_breakdown, input, 24),
    F(llmbill_cost_breakdown, cache_read, 32),
    F(llmbill_cost_breakdown, cache_write, 40),
    F(llmbill_cost_breakdown, output, 48),
    F(llmbill_cost_breakdown, reasoning, 56),
    F(llmbill_cost_breakdown, total, 64),
    F(llmbill_cost_breakdown, audio, 72),
    F(llmbill_cost_breakdown, image, 80),
    F(llmbill_cost_breakdown, video, 88),
    F(llmbill_cost_breakdown, web_search, 96),
    S(llmbill_host, 128),
    F(llmbill_host, struct_size, 0),
    F(llmbill_host, abi, 4),
    F(llmbill_host, host_version, 8),
    F(llmbill_host, log, 16),
    F(llmbill_host, set_error, 24),
    F(llmbill_host, instance_name, 32),
    F(llmbill_host, config_get, 40),
    F(llmbill_host, config_get_int, 48),
    F(llmbill_host, config_get_bool, 56),
    F(llmbill_host, config_get_path, 64),
    F(llmbill_host, now_ms, 72),
    F(llmbill_host, usage_to_json, 80),
    F(llmbill_host, cost_format, 88),
    F(llmbill_host, json_string, 96),
    F(llmbill_host, cost_text, 104),
    F(llmbill_host, http_check_url, 112),
    F(llmbill_host, http_perform, 120),
    S(llmbill_option, 40),
    F(llmbill_option, name, 0),
    F(llmbill_option, type, 8),
    F(llmbill_option, flags, 12),
    F(llmbill_option, default_value, 16),
    F(llmbill_option, env, 24),
    F(llmbill_option, description, 32),
    S(llmbill_sink_batch, 64),
    F(llmbill_sink_batch, struct_size, 0),
    F(llmbill_sink_batch, attempt, 4),
    F(llmbill_sink_batch, n, 8),
    F(llmbill_sink_batch, events, 16),
    F(llmbill_sink_batch, results, 24),
    F(llmbill_sink_batch, reasons, 32),
    F(llmbill_sink_batch, reason, 40),
    F(llmbill_sink_batch, retry_after_ms, 48),
    F(llmbill_sink_batch, deadline_ms, 56),
    S(llmbill_sink_desc, 112),
    F(llmbill_sink_desc, struct_size, 0),
    F(llmbill_sink_desc, abi, 4),
    F(llmbill_sink_desc, name, 8),
    F(llmbill_sink_desc, version, 16),
    F(llmbill_sink_desc, description, 24),
    F(llmbill_sink_desc, flags, 32),
    F(llmbill_sink_desc, max_batch, 36),
    F(llmbill_sink_desc, options, 40),
    F(llmbill_sink_desc, create, 48),
    F(llmbill_sink_desc, emit, 56),
    F(llmbill_sink_desc, flush, 64),
    F(llmbill_sink_desc, destroy, 72),
    F(llmbill_sink_desc, check, 80),
    F(llmbill_sink_desc, max_in_flight, 88),
    F(llmbill_sink_desc, reserved2, 92),
    F(llmbill_sink_desc, request, 96),
    F(llmbill_sink_desc, response, 104),
    S(llmbill_http_request, 56),
    F(llmbill_http_request, struct_size, 0),
    F(llmbill_http_request, reserved, 4),
    F(llmbill_http_request, method, 8),
    F(llmbill_http_request, url, 16),
    F(llmbill_http_request, headers, 24),
    F(llmbill_http_request, body, 32),
    F(llmbill_http_request, body_len, 40),
    F(llmbill_http_request, timeout_ms, 48),
    S(llmbill_http_response, 64),
    F(llmbill_http_response, struct_size, 0),
    F(llmbill_http_response, status, 4),
    F(llmbill_http_response, error, 8),
    F(llmbill_http_response, body, 16),
    F(llmbill_http_response, body_len, 24),
    F(llmbill_http_response, body_truncated, 32),
    F(llmbill_http_response, retry_after_ms, 40),
    F(llmbill_http_response, location, 48),
    F(llmbill_http_response, elapsed_ms, 56),
    S(llmbill_pricing_info, 32),
    F(llmbill_pricing_info, struct_size, 0),
    F(llmbill_pricing_info, enabled, 4),
    F(llmbill_pricing_info, file, 8),
    F(llmbill_pricing_info, models, 16),
    F(llmbill_pricing_info, unknown, 24),
    S(llmbill_kv, 16),
    F(llmbill_kv, key, 0),
    F(llmbill_kv, value, 8),
    S(llmbill_usage, 240),
    F(llmbill_usage, struct_size, 0),
    F(llmbill_usage, flags, 4),
    F(llmbill_usage, event_id, 8),
    F(llmbill_usage, timestamp_ms, 16),
    F(llmbill_usage, customer_id, 24),
    F(llmbill_usage, subscription_id, 32),
    F(llmbill_usage, user_id, 40),
    F(llmbill_usage, team_id, 48),
    F(llmbill_usage, provider, 56),
    F(llmbill_usage, model, 64),
    F(llmbill_usage, call_type, 72),
    F(llmbill_usage, request_id, 80),
    F(llmbill_usage, status, 88),
    F(llmbill_usage, latency_ms, 92),
    F(llmbill_usage, input_tokens, 96),
    F(llmbill_usage, cached_input_tokens, 104),
    F(llmbill_usage, cache_creation_input_tokens, 112),
    F(llmbill_usage, output_tokens, 120),
    F(llmbill_usage, reasoning_tokens, 128),
    F(llmbill_usage, cost, 136),
    F(llmbill_usage, currency, 144),
    F(llmbill_usage, n_metadata, 152),
    F(llmbill_usage, metadata, 160),
    F(llmbill_usage, cache_creation_1h_input_tokens, 168),
    F(llmbill_usage, service_tier, 176),
    F(llmbill_usage, input_audio_tokens, 184),
    F(llmbill_usage, cached_audio_tokens, 192),
    F(llmbill_usage, input_image_tokens, 200),
    F(llmbill_usage, input_video_tokens, 208),
    F(llmbill_usage, output_audio_tokens, 216),
    F(llmbill_usage, output_image_tokens, 224),
    F(llmbill_usage, web_search_requests, 232),
};
#endif

static const struct frozen constants[] = {
    C(LLMBILL_OK, 0), C(LLMBILL_EINVAL, -1), C(LLMBILL_ENOMEM, -2), C(LLMBILL_ECONFIG, -3),
    C(LLMBILL_ELOAD, -4), C(LLMBILL_EABI, -5), C(LLMBILL_EFULL, -6), C(LLMBILL_ECLOSED, -7),
    C(LLMBILL_ETIMEDOUT, -8), C(LLMBILL_ERECURSIVE, -9), C(LLMBILL_ENOTFOUND, -10),
    C(LLMBILL_EIO, -11), C(LLMBILL_ESINK, -12), C(LLMBILL_ENOPRICE, -13), C(LLMBILL_ESPOOL, -14),
    C(LLMBILL_EFORKED, -15),
    C(LLMBILL_LOG_ERROR, 0), C(LLMBILL_LOG_WARN, 1), C(LLMBILL_LOG_INFO, 2),
    C(LLMBILL_LOG_DEBUG, 3), C(LLMBILL_OPEN_PAUSED, 1),
    C(LLMBILL_HTTP_ECONNECT, 1), C(LLMBILL_HTTP_EDNS, 2), C(LLMBILL_HTTP_ETIMEOUT, 3),
    C(LLMBILL_HTTP_ETLS, 4), C(LLMBILL_HTTP_EBROKEN, 5), C(LLMBILL_HTTP_EOTHER, 6),
    C(LLMBILL_SINK_ABI_MAJOR, 1), C(LLMBILL_SINK_OK, 0), C(LLMBILL_SINK_RETRY, 1),
    C(LLMBILL_SINK_ERROR, 2), C(LLMBILL_SINK_PARTIAL, 3), C(LLMBILL_SINK_AGAIN, 4),
    C(LLMBILL_SINK_REQUEST, 5), C(LLMBILL_SINK_LOG_ERROR, 0),
    C(LLMBILL_SINK_LOG_WARN, 1), C(LLMBILL_SINK_LOG_INFO, 2), C(LLMBILL_SINK_LOG_DEBUG, 3),
    C(LLMBILL_OPT_STRING, 1), C(LLMBILL_OPT_INT, 2), C(LLMBILL_OPT_BOOL, 3),
    C(LLMBILL_OPT_PATH, 4), C(LLMBILL_OPT_REQUIRED, 1), C(LLMBILL_OPT_SECRET, 2),
    C(LLMBILL_COST_SCALE, 1000000000000LL), C(LLMBILL_USAGE_COST_KNOWN, 1),
    C(LLMBILL_USAGE_HAS_LATENCY, 2), C(LLMBILL_STATUS_SUCCESS, 0),
    C(LLMBILL_STATUS_FAILURE, 1), C(LLMBILL_ID_MAX, 255), C(LLMBILL_METADATA_MAX, 64),
    C(LLMBILL_METADATA_VALUE_MAX, 4096), C(LLMBILL_SHAPE_OPENAI_CHAT, 1),
    C(LLMBILL_SHAPE_OPENAI_RESPONSES, 2), C(LLMBILL_SHAPE_ANTHROPIC, 3),
    C(LLMBILL_SHAPE_GEMINI, 4), C(LLMBILL_COST_BUFSZ, 32), C(LLMBILL_EVENT_ID_BUFSZ, 256),
};

static int check(const struct frozen *t, size_t n)
{
    int bad = 0;

    for (size_t i = 0; i < n; i++) {
        if (t[i].got != t[i].want) {
            fprintf(stderr, "ABI change: %s is %lld, was %lld (see the top of %s)\n", t[i].what,
                    t[i].got, t[i].want, __FILE__);
            bad++;
        }
    }
    return bad;
}

#if defined(__LP64__) || defined(_LP64)
/* llmbill_usage_field_offset(), which bindings check their copy against,
 * agrees with the header for every llmbill_usage entry above (a field
 * appended to the struct and here, but not to its table, fails). */
static int check_field_offsets(void)
{
    static const char pre[] = "offsetof(struct llmbill_usage, ";
    int bad = 0;

    for (size_t i = 0; i < sizeof layout / sizeof layout[0]; i++) {
        char name[64];
        long got;

        if (strncmp(layout[i].what, pre, sizeof pre - 1) != 0)
            continue;
        snprintf(name, sizeof name, "%s", layout[i].what + sizeof pre - 1);
        name[strcspn(name, ")")] = '\0';
        got = llmbill_usage_field_offset(name);
        if (got != layout[i].got) {
            fprintf(stderr, "llmbill_usage_field_offset(\"%s\") is %ld, the header says %lld "
                    "(core/api_json.c)\n", name, got, layout[i].got);
            bad++;
        }
    }
    if (llmbill_usage_field_offset("sizeof") != (long)sizeof(struct llmbill_usage) ||
        llmbill_usage_field_offset("no_such_field") != LLMBILL_ENOTFOUND ||
        llmbill_usage_field_offset(NULL) != LLMBILL_EINVAL) {
        fprintf(stderr, "llmbill_usage_field_offset: sizeof, unknown or NULL answered wrong\n");
        bad++;
    }
    return bad;
}
#endif

int main(void)
{
    int bad = check(constants, sizeof constants / sizeof constants[0]);
    size_t n = sizeof constants / sizeof constants[0];

    /* the minor version may grow; a binary built at 1.0 must still load */
    if (LLMBILL_SINK_ABI_MINOR < 2) {
        fprintf(stderr, "ABI change: LLMBILL_SINK_ABI_MINOR went down\n");
        bad++;
    }
#if defined(__LP64__) || defined(_LP64)
    bad += check(layout, sizeof layout / sizeof layout[0]);
    bad += check_field_offsets();
    n += sizeof layout / sizeof layout[0];
#else
    printf("not LP64: struct layouts not checked\n");
#endif
    if (bad > 0)
        return 1;
    printf("ok   %zu frozen ABI facts\n", n);
    return 0;
}
