/* llmbill core: a usage record as the journal stores it (frame payload of
 * an "LBJ2" frame). Binary, little-endian, so that appending costs the
 * recording thread a few copies and reading back costs the journal thread
 * no parsing:
 *
 *   u32 flags, u32 status, u32 latency_ms, u32 n_metadata,
 *   i64 timestamp_ms, u64 input_tokens, u64 cached_input_tokens,
 *   u64 cache_creation_input_tokens, u64 output_tokens,
 *   u64 reasoning_tokens, i64 cost, u64 cache_creation_1h_input_tokens,
 *   then the 11 string fields in struct order (event_id, customer_id, ...,
 *   currency, service_tier), each u16 length with its NUL, 0 for NULL,
 *   and the bytes with the NUL; then n_metadata pairs, u16 key length and
 *   u16 value length (NULs included), key bytes, value bytes; then, only
 *   when one of them is not 0, the EXT_COUNTS modality and tool counts
 *   (u64 each, struct order from input_audio_tokens to web_search_requests).
 *   A record without that tail (all of them 0, or written before they
 *   existed) reads back with zeros.
 *
 * Strings keep their NUL so that a decoded record points into the frame. */
#include <string.h>

#include "lb.h"
#include "le.h"

#define FIXED 80                /* bytes before the strings */
#define EXT_COUNTS 7            /* input_audio_tokens .. web_search_requests */

static uint64_t *ext_counts(struct llmbill_usage *u)
{
    return &u->input_audio_tokens;
}

static int has_ext(const struct llmbill_usage *u)
{
    const uint64_t *c = ext_counts((struct llmbill_usage *)u);

    for (int i = 0; i < EXT_COUNTS; i++)
        if (c[i] != 0)
            return 1;
    return 0;
}

size_t lb_jrec_size(const struct llmbill_usage *u, const size_t *lens)
{
    size_t n = FIXED + 2 * LB_NSTR + 4 * u->n_metadata;

    for (int i = 0; i < LB_NSTR; i++)
        if (*lb_usage_str(u, i) != NULL)
            n += lens[i] + 1;
    for (size_t i = 0; i < u->n_metadata; i++)
        n += strlen(u->metadata[i].key) + strlen(u->metadata[i].value) + 2;
    return n + (has_ext(u) ? 8 * EXT_COUNTS : 0);
}

/* Writes one string of len bytes with its NUL, after its u16 length. */
static unsigned char *put_str(unsigned char *p, const char *s, size_t len)
{
    size_t n = s ? len + 1 : 0;

    p = lb_put16(p, (uint32_t)n);
    memcpy(p, s ? s : "", n);
    return p + n;
}

void lb_jrec_encode(const struct llmbill_usage *u, const size_t *lens, unsigned char *out)
{
    unsigned char *p = out;

    p = lb_put32(p, u->flags);
    p = lb_put32(p, u->status);
    p = lb_put32(p, u->latency_ms);
    p = lb_put32(p, (uint32_t)u->n_metadata);
    p = lb_put64(p, (uint64_t)u->timestamp_ms);
    p = lb_put64(p, u->input_tokens);
    p = lb_put64(p, u->cached_input_tokens);
    p = lb_put64(p, u->cache_creation_input_tokens);
    p = lb_put64(p, u->output_tokens);
    p = lb_put64(p, u->reasoning_tokens);
    p = lb_put64(p, (uint64_t)u->cost);
    p = lb_put64(p, u->cache_creation_1h_input_tokens);
    for (int i = 0; i < LB_NSTR; i++)
        p = put_str(p, *lb_usage_str(u, i), lens[i]);
    for (size_t i = 0; i < u->n_metadata; i++) {
        size_t kl = strlen(u->metadata[i].key) + 1, vl = strlen(u->metadata[i].value) + 1;

        p = lb_put16(p, (uint32_t)kl);
        p = lb_put16(p, (uint32_t)vl);
        memcpy(p, u->metadata[i].key, kl);
        memcpy(p + kl, u->metadata[i].value, vl);
        p += kl + vl;
    }
    if (has_ext(u))
        for (int i = 0; i < EXT_COUNTS; i++)
            p = lb_put64(p, ext_counts((struct llmbill_usage *)u)[i]);
}

/* Reads a string of n bytes (NUL included) at *p, bounded by end: it must
 * end at its NUL and hold no other. NULL for n == 0; *ok = 0 when bad. */
static const char *get_str(const unsigned char **p, const unsigned char *end, size_t n, int *ok)
{
    const char *s = (const char *)*p;

    if (n == 0)
        return NULL;
    if ((size_t)(end - *p) < n || memchr(s, '\0', n) != s + n - 1) {
        *ok = 0;
        return NULL;
    }
    *p += n;
    return s;
}

int lb_jrec_decode(const unsigned char *in, size_t len, struct llmbill_usage *u,
                   struct llmbill_kv *kv, size_t kv_cap)
{
    const unsigned char *p = in + FIXED, *end = in + len;
    int ok = 1;

    if (len < FIXED)
        return -1;
    memset(u, 0, sizeof *u);
    u->struct_size = sizeof *u;
    u->flags = lb_get32(in);
    u->status = lb_get32(in + 4);
    u->latency_ms = lb_get32(in + 8);
    u->n_metadata = lb_get32(in + 12);
    u->timestamp_ms = (int64_t)lb_get64(in + 16);
    u->input_tokens = lb_get64(in + 24);
    u->cached_input_tokens = lb_get64(in + 32);
    u->cache_creation_input_tokens = lb_get64(in + 40);
    u->output_tokens = lb_get64(in + 48);
    u->reasoning_tokens = lb_get64(in + 56);
    u->cost = (int64_t)lb_get64(in + 64);
    u->cache_creation_1h_input_tokens = lb_get64(in + 72);
    if (u->n_metadata > kv_cap)
        return -1;
    for (int i = 0; i < LB_NSTR && ok; i++) {
        size_t n;

        if (end - p < 2)
            return -1;
        n = lb_get16(p);
        p += 2;
        *(const char **)lb_usage_str(u, i) = get_str(&p, end, n, &ok);
    }
    for (size_t i = 0; i < u->n_metadata && ok; i++) {
        size_t kl, vl;

        if (end - p < 4)
            return -1;
        kl = lb_get16(p);
        vl = lb_get16(p + 2);
        p += 4;
        kv[i].key = get_str(&p, end, kl, &ok);
        kv[i].value = get_str(&p, end, vl, &ok);
        if (kv[i].key == NULL || kv[i].value == NULL)
            ok = 0;
    }
    u->metadata = u->n_metadata > 0 ? kv : NULL;
    if (ok && end - p == 8 * EXT_COUNTS) {
        for (int i = 0; i < EXT_COUNTS; i++, p += 8)
            ext_counts(u)[i] = lb_get64(p);
        if (!has_ext(u))
            return -1; /* the tail is written only when a count is set */
    }
    return ok && p == end ? 0 : -1;
}
