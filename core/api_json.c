/* llmbill core: the API for other languages (llmbill.h): recording from the
 * usage JSON form in one call, and checking a copied struct layout. */
#include <stdlib.h>
#include <string.h>

#include "lb.h"

/* JSON shorter than this is parsed in a stack copy: no allocation. */
#define JSON_STACK 2048

int llmbill_record_json(llmbill *h, const char *json, size_t len, char *id_out, size_t id_cap)
{
    struct llmbill_kv kv[LLMBILL_METADATA_MAX];
    struct llmbill_usage u;
    char stack[JSON_STACK], *copy = stack, why[LB_ERRLEN];
    int rc;

    if (h == NULL || json == NULL) {
        lb_set_last_error(NULL, "llmbill_record_json: %s is NULL", h ? "json" : "the handle");
        return LLMBILL_EINVAL;
    }
    if (id_out != NULL && id_cap < LLMBILL_EVENT_ID_BUFSZ) {
        lb_set_last_error(NULL, "llmbill_record_json: id_cap %zu is less than "
                          "LLMBILL_EVENT_ID_BUFSZ (%d)", id_cap, LLMBILL_EVENT_ID_BUFSZ);
        return LLMBILL_EINVAL;
    }
    if (len >= sizeof stack && (copy = malloc(len + 1)) == NULL) {
        lb_set_last_error(NULL, "%s", llmbill_strerror(LLMBILL_ENOMEM));
        return LLMBILL_ENOMEM;
    }
    memcpy(copy, json, len);
    copy[len] = '\0';
    why[0] = '\0';
    rc = llmbill_usage_from_json(&u, copy, len, kv, LLMBILL_METADATA_MAX, why, sizeof why);
    if (rc == 0)
        rc = llmbill_record_id(h, &u, id_out, id_cap); /* sets the last error itself */
    else {
        lb_set_last_error(&h->log, "invalid usage JSON: %s",
                          why[0] ? why : llmbill_strerror(rc));
        if (rc == LLMBILL_EINVAL) /* counted like an invalid record */
            atomic_fetch_add_explicit(&h->rejected_invalid, 1, memory_order_relaxed);
    }
    if (copy != stack)
        free(copy);
    if (rc != 0 && id_out != NULL)
        id_out[0] = '\0';
    return rc;
}

/* The smallest struct_size llmbill_record() accepts (a record built against
 * the first usage.h). */
#define USAGE_MIN_SIZE (offsetof(struct llmbill_usage, metadata) + sizeof(void *))

int llmbill_usage_init(struct llmbill_usage *u, size_t size)
{
    if (u == NULL || size < USAGE_MIN_SIZE || size > UINT32_MAX)
        return LLMBILL_EINVAL;
    memset(u, 0, size);
    u->struct_size = (uint32_t)size;
    return size > sizeof *u ? LLMBILL_EABI : 0;
}

long llmbill_usage_field_offset(const char *field)
{
#define F(name) { #name, offsetof(struct llmbill_usage, name) }
    static const struct { const char *name; size_t off; } fields[] = {
        F(struct_size), F(flags), F(event_id), F(timestamp_ms), F(customer_id),
        F(subscription_id), F(user_id), F(team_id), F(provider), F(model), F(call_type),
        F(request_id), F(status), F(latency_ms), F(input_tokens), F(cached_input_tokens),
        F(cache_creation_input_tokens), F(output_tokens), F(reasoning_tokens), F(cost),
        F(currency), F(n_metadata), F(metadata), F(cache_creation_1h_input_tokens),
        F(service_tier), F(input_audio_tokens), F(cached_audio_tokens), F(input_image_tokens),
        F(input_video_tokens), F(output_audio_tokens), F(output_image_tokens),
        F(web_search_requests),
    };
#undef F
    if (field == NULL)
        return LLMBILL_EINVAL;
    if (strcmp(field, "sizeof") == 0)
        return (long)sizeof(struct llmbill_usage);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (strcmp(fields[i].name, field) == 0)
            return (long)fields[i].off;
    return LLMBILL_ENOTFOUND;
}
