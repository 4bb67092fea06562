/* llmbill core: validating a usage record and copying it into one
 * allocation. This is the hot path of llmbill_record(): no syscalls beyond
 * the vDSO clock, one malloc. */
#include <stdlib.h>
#include <string.h>

#include "lb.h"

#define NSTR LB_NSTR

const char *const *lb_usage_str(const struct llmbill_usage *u, int i)
{
    switch (i) {
    case 0: return &u->event_id;
    case 1: return &u->customer_id;
    case 2: return &u->subscription_id;
    case 3: return &u->user_id;
    case 4: return &u->team_id;
    case 5: return &u->provider;
    case 6: return &u->model;
    case 7: return &u->call_type;
    case 8: return &u->request_id;
    case 9: return &u->currency;
    default: return &u->service_tier;
    }
}

/* The string fields' JSON names, in struct order. */
static const char *const str_names[NSTR] = {
    "event_id", "customer_id", "subscription_id", "user_id", "team_id",
    "provider", "model", "call_type", "request_id", "currency", "service_tier"
};

static int nonempty(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* Copies the caller's record into a full-size, zero-tailed local struct. */
static int normalise(const struct llmbill_usage *in, struct llmbill_usage *u)
{
    if (in == NULL || in->struct_size < offsetof(struct llmbill_usage, metadata) + sizeof(void *))
        return -1;
    if (in->struct_size >= sizeof *u) {
        *u = *in;
    } else {
        memset(u, 0, sizeof *u);
        memcpy(u, in, in->struct_size);
    }
    u->struct_size = sizeof *u;
    return 0;
}

static int check_usage(const struct llmbill_usage *u, size_t *lens, char *err, size_t errlen)
{
    for (int i = 0; i < NSTR; i++) {
        const char *s = *lb_usage_str(u, i);
        size_t n;

        lens[i] = 0;
        if (s == NULL)
            continue;
        n = strlen(s);
        if (n > LLMBILL_ID_MAX) {
            lb_errf(err, errlen, "%s: longer than %d bytes", str_names[i], LLMBILL_ID_MAX);
            return -1;
        }
        if (!lb_utf8_valid(s, n)) {
            lb_errf(err, errlen, "%s: not valid UTF-8", str_names[i]);
            return -1;
        }
        lens[i] = n;
    }
    if (u->event_id != NULL) {
        if (lens[0] == 0) {
            lb_errf(err, errlen, "event_id: empty (leave it NULL to have one generated)");
            return -1;
        }
        for (size_t k = 0; k < lens[0]; k++) {
            unsigned char c = (unsigned char)u->event_id[k];

            if (c < 0x21 || c > 0x7e) {
                lb_errf(err, errlen, "event_id: only printable ASCII without spaces is allowed");
                return -1;
            }
        }
    }
    if (!nonempty(u->model)) {
        lb_errf(err, errlen, "model: required");
        return -1;
    }
    if (!nonempty(u->customer_id) && !nonempty(u->subscription_id) && !nonempty(u->user_id) &&
        !nonempty(u->team_id)) {
        lb_errf(err, errlen,
                "customer_id, subscription_id, user_id, team_id: at least one is required");
        return -1;
    }
    if (u->currency != NULL) {
        const char *c = u->currency;

        if (lens[9] != 3 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' || c[2] < 'A' ||
            c[2] > 'Z') {
            lb_errf(err, errlen, "currency: expected a 3-letter ISO 4217 code such as USD");
            return -1;
        }
    }
    if (u->timestamp_ms < 0) {
        lb_errf(err, errlen, "timestamp_ms: negative");
        return -1;
    }
    if (u->status > LLMBILL_STATUS_FAILURE) {
        lb_errf(err, errlen, "status: expected LLMBILL_STATUS_SUCCESS or LLMBILL_STATUS_FAILURE");
        return -1;
    }
    if (u->flags & ~(uint32_t)(LLMBILL_USAGE_COST_KNOWN | LLMBILL_USAGE_HAS_LATENCY)) {
        lb_errf(err, errlen, "flags: unknown bits set");
        return -1;
    }
    {
        /* bounded counts: no sum or price of them can overflow */
        static const char *const names[] = { "input_tokens", "cached_input_tokens",
            "cache_creation_input_tokens", "output_tokens", "reasoning_tokens",
            "cache_creation_1h_input_tokens" };
        const uint64_t base[] = { u->input_tokens, u->cached_input_tokens,
            u->cache_creation_input_tokens, u->output_tokens, u->reasoning_tokens,
            u->cache_creation_1h_input_tokens };
        const char *big = NULL;

        for (size_t k = 0; k < sizeof base / sizeof base[0] && big == NULL; k++)
            if (base[k] > LLMBILL_TOKENS_MAX)
                big = names[k];
#define BIG_COUNT(f) if (big == NULL && u->f > LLMBILL_TOKENS_MAX) big = #f;
        LLMBILL_USAGE_COUNTS(BIG_COUNT)
#undef BIG_COUNT
        if (big != NULL) {
            lb_errf(err, errlen, "%s: more than %llu (LLMBILL_TOKENS_MAX)", big,
                    (unsigned long long)LLMBILL_TOKENS_MAX);
            return -1;
        }
    }
    if (u->cached_input_tokens > u->input_tokens ||
        u->cache_creation_input_tokens > u->input_tokens - u->cached_input_tokens) {
        lb_errf(err, errlen, "input_tokens: must include cached_input_tokens and "
                             "cache_creation_input_tokens");
        return -1;
    }
    if (u->cache_creation_1h_input_tokens > u->cache_creation_input_tokens) {
        lb_errf(err, errlen, "cache_creation_input_tokens: must include "
                             "cache_creation_1h_input_tokens");
        return -1;
    }
    if (u->reasoning_tokens > u->output_tokens) {
        lb_errf(err, errlen, "output_tokens: must include reasoning_tokens");
        return -1;
    }
    if (u->cached_audio_tokens > u->cached_input_tokens ||
        u->cached_audio_tokens > u->input_audio_tokens) {
        lb_errf(err, errlen, "cached_audio_tokens: must be part of cached_input_tokens and of "
                             "input_audio_tokens");
        return -1;
    }
    {
        /* uncached audio, image and video are parts of the uncached input */
        uint64_t room = u->input_tokens - u->cached_input_tokens - u->cache_creation_input_tokens;
        uint64_t audio = u->input_audio_tokens - u->cached_audio_tokens;

        if (audio > room || u->input_image_tokens > room - audio ||
            u->input_video_tokens > room - audio - u->input_image_tokens) {
            lb_errf(err, errlen, "input_tokens: must include input_audio_tokens, "
                                 "input_image_tokens and input_video_tokens");
            return -1;
        }
        room = u->output_tokens - u->reasoning_tokens;
        if (u->output_audio_tokens > room || u->output_image_tokens > room - u->output_audio_tokens) {
            lb_errf(err, errlen, "output_tokens: must include reasoning_tokens, "
                                 "output_audio_tokens and output_image_tokens");
            return -1;
        }
    }
    if ((u->flags & LLMBILL_USAGE_COST_KNOWN) && u->cost < 0) {
        lb_errf(err, errlen, "cost: negative");
        return -1;
    }
    if (u->n_metadata > 0 && u->metadata == NULL) {
        lb_errf(err, errlen, "metadata: n_metadata is set but metadata is NULL");
        return -1;
    }
    if (u->n_metadata > LLMBILL_METADATA_MAX) {
        lb_errf(err, errlen, "metadata: more than %d entries", LLMBILL_METADATA_MAX);
        return -1;
    }
    for (size_t i = 0; i < u->n_metadata; i++) {
        const struct llmbill_kv *kv = &u->metadata[i];
        size_t kl, vl;

        if (!nonempty(kv->key) || kv->value == NULL) {
            lb_errf(err, errlen, "metadata[%zu]: key and value are required", i);
            return -1;
        }
        kl = strlen(kv->key);
        vl = strlen(kv->value);
        if (kl > LLMBILL_ID_MAX || vl > LLMBILL_METADATA_VALUE_MAX) {
            lb_errf(err, errlen, "metadata[%zu]: key or value too long", i);
            return -1;
        }
        if (!lb_utf8_valid(kv->key, kl) || !lb_utf8_valid(kv->value, vl)) {
            lb_errf(err, errlen, "metadata[%zu]: not valid UTF-8", i);
            return -1;
        }
        /* one value per key: which of two a sink keeps is not guessed
         * (at most LLMBILL_METADATA_MAX^2 / 2 compares) */
        for (size_t j = 0; j < i; j++)
            if (strcmp(u->metadata[j].key, kv->key) == 0) {
                lb_errf(err, errlen, "metadata[%zu]: key '%s' given twice", i, kv->key);
                return -1;
            }
    }
    return 0;
}

int lb_usage_validate(const struct llmbill_usage *in, char *err, size_t errlen)
{
    struct llmbill_usage u;
    size_t lens[NSTR];

    if (normalise(in, &u) != 0) {
        lb_errf(err, errlen, "struct_size: too small (use LLMBILL_USAGE_INIT)");
        return LLMBILL_EINVAL;
    }
    return check_usage(&u, lens, err, errlen) == 0 ? 0 : LLMBILL_EINVAL;
}

static const char hexd[] = "0123456789abcdef";

void lb_uuidv7(int64_t ms, char out[37])
{
    unsigned char b[16];
    uint64_t r1 = lb_rand64(), r2 = lb_rand64();
    int k = 0;

    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)((uint64_t)ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (r1 & 0x0f));
    b[7] = (unsigned char)(r1 >> 8);
    b[8] = (unsigned char)(0x80 | ((r1 >> 16) & 0x3f));
    for (int i = 9; i < 16; i++)
        b[i] = (unsigned char)(r2 >> (8 * (i - 9)));
    for (int i = 0; i < 16; i++) {
        out[k] = hexd[b[i] >> 4];
        out[k + 1] = hexd[b[i] & 15];
        k += 2 + (i == 3 || i == 5 || i == 7 || i == 9);
    }
    out[8] = out[13] = out[18] = out[23] = '-';
    out[36] = '\0';
}

int lb_event_prepare(const struct llmbill_usage *in, struct lb_prepared *p)
{
    size_t total;

    if (normalise(in, &p->u) != 0 || check_usage(&p->u, p->lens, NULL, 0) != 0)
        return LLMBILL_EINVAL;
    total = sizeof(struct lb_event) + p->u.n_metadata * sizeof(struct llmbill_kv);
    for (int i = 0; i < NSTR; i++)
        if (*lb_usage_str(&p->u, i) != NULL)
            total += p->lens[i] + 1;
    if (p->u.event_id == NULL)
        total += 37;
    for (size_t i = 0; i < p->u.n_metadata; i++)
        total += strlen(p->u.metadata[i].key) + strlen(p->u.metadata[i].value) + 2;
    p->total = total;
    p->jseq = 0;
    p->jsrc = 0;
    return 0;
}

struct lb_event *lb_event_build(const struct lb_prepared *p, void *buf, uint32_t heap)
{
    struct lb_event *ev = buf;
    struct llmbill_usage *u = &ev->u;
    size_t nmeta = p->u.n_metadata;
    struct llmbill_kv *kv = (struct llmbill_kv *)(ev + 1);
    char *s = (char *)(kv + nmeta);

    ev->size = (uint32_t)p->total;
    ev->heap = (uint16_t)heap;
    ev->jseq = p->jseq;
    ev->jsrc = (uint16_t)p->jsrc;
    *u = p->u;                  /* then its strings are pointed at the copies */
    if (u->timestamp_ms == 0)
        u->timestamp_ms = lb_now_ms();
    for (int i = 0; i < NSTR; i++) {
        const char **f = (const char **)lb_usage_str(u, i);

        if (*f == NULL)
            continue;
        memcpy(s, *f, p->lens[i] + 1);
        *f = s;
        s += p->lens[i] + 1;
    }
    if (u->event_id == NULL) {
        lb_uuidv7(u->timestamp_ms, s);
        u->event_id = s;
        s += 37;
    }
    for (size_t i = 0; i < nmeta; i++) {
        size_t kl = strlen(p->u.metadata[i].key) + 1, vl = strlen(p->u.metadata[i].value) + 1;

        memcpy(s, p->u.metadata[i].key, kl);
        kv[i].key = s;
        s += kl;
        memcpy(s, p->u.metadata[i].value, vl);
        kv[i].value = s;
        s += vl;
    }
    u->metadata = nmeta ? kv : NULL;
    return ev;
}
