/* llmbill core: the usage record's JSON form (one object, no newline).
 * Shared by the jsonl sink (through the host table), the dead-letter files
 * and the stdout of the CLI, so there is exactly one writer of the format. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lb.h"

struct out {
    char *buf;
    size_t cap, len;            /* len counts what would be written, like snprintf */
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->len < o->cap) {
        size_t room = o->cap - o->len;

        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* 1 for the bytes put_str() copies as they are: printable ASCII but the
 * quote and the backslash (the NUL, the end of the string, is not one). */
static const unsigned char plain[256] = {
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    R16(0), R16(0),                                           /* 0x00-0x1f */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,           /* 0x20-0x2f: '"' */
    R16(1), R16(1),                                           /* 0x30-0x4f */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,           /* 0x50-0x5f: '\\' */
    R16(1),                                                   /* 0x60-0x6f */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,           /* 0x70-0x7f: DEL */
    R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0) /* 0x80-0xff */
#undef R16
};

/* Writes s as a JSON string: escapes quotes, backslashes and control
 * characters; replaces invalid UTF-8 sequences by U+FFFD. Runs of plain
 * bytes (the common case: ids, model names) go out in one copy. */
static void put_str(struct out *o, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;

    put(o, "\"", 1);
    for (;;) {
        const unsigned char *run = s;
        unsigned c;
        char esc[8];
        const char *e;
        size_t adv = 1;

        while (plain[*s])
            s++;
        put(o, (const char *)run, (size_t)(s - run));
        if ((c = *s) == '\0')
            break;
        if (c == '"') {
            e = "\\\"";
        } else if (c == '\\') {
            e = "\\\\";
        } else if (c == '\n') {
            e = "\\n";
        } else if (c == '\r') {
            e = "\\r";
        } else if (c == '\t') {
            e = "\\t";
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            e = esc;
        } else {
            size_t len = (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3
                       : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;

            /* lb_utf8_valid() stops at a NUL byte: a sequence cut by the
             * string's end is invalid */
            if (len == 0 || !lb_utf8_valid((const char *)s, len)) {
                e = "\xef\xbf\xbd"; /* U+FFFD */
            } else {
                put(o, (const char *)s, len);
                s += len;
                continue;
            }
        }
        put(o, e, strlen(e));
        s += adv;
    }
    put(o, "\"", 1);
}

static void put_key(struct out *o, const char *key, int *first)
{
    if (!*first)
        put(o, ",", 1);
    *first = 0;
    put(o, "\"", 1);
    puts_(o, key);
    put(o, "\":", 2);
}

static void field_str(struct out *o, const char *key, const char *v, int *first)
{
    if (v == NULL)
        return;
    put_key(o, key, first);
    put_str(o, v);
}

/* Writes the decimal digits of v (no printf: this is on the journal's path). */
static void put_u64(struct out *o, uint64_t v)
{
    char tmp[24];
    int k = sizeof tmp;

    do {
        tmp[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    put(o, tmp + k, sizeof tmp - (size_t)k);
}

static void field_u64(struct out *o, const char *key, uint64_t v, int *first)
{
    put_key(o, key, first);
    put_u64(o, v);
}

size_t lb_json_string(const char *s, char *buf, size_t cap)
{
    struct out o = { buf, cap, 0 };

    put_str(&o, s);
    if (cap > 0)
        buf[o.len < cap ? o.len : cap - 1] = '\0';
    return o.len;
}

int llmbill_usage_to_json(const struct llmbill_usage *u, char *buf, size_t cap)
{
    struct out o = { buf, cap, 0 };
    int first = 1;
    char num[48];

    if (u == NULL || (buf == NULL && cap != 0))
        return LLMBILL_EINVAL;
    put(&o, "{", 1);
    field_str(&o, "event_id", u->event_id, &first);
    put_key(&o, "timestamp_ms", &first);
    if (u->timestamp_ms < 0) {
        put(&o, "-", 1);
        put_u64(&o, (uint64_t)0 - (uint64_t)u->timestamp_ms);
    } else {
        put_u64(&o, (uint64_t)u->timestamp_ms);
    }
    field_str(&o, "customer_id", u->customer_id, &first);
    field_str(&o, "subscription_id", u->subscription_id, &first);
    field_str(&o, "user_id", u->user_id, &first);
    field_str(&o, "team_id", u->team_id, &first);
    field_str(&o, "provider", u->provider, &first);
    field_str(&o, "model", u->model, &first);
    field_str(&o, "call_type", u->call_type, &first);
    field_str(&o, "request_id", u->request_id, &first);
    field_str(&o, "status", u->status == LLMBILL_STATUS_FAILURE ? "failure" : "success", &first);
    field_u64(&o, "input_tokens", u->input_tokens, &first);
    field_u64(&o, "cached_input_tokens", u->cached_input_tokens, &first);
    field_u64(&o, "cache_creation_input_tokens", u->cache_creation_input_tokens, &first);
    if (u->cache_creation_1h_input_tokens > 0)
        field_u64(&o, "cache_creation_1h_input_tokens", u->cache_creation_1h_input_tokens, &first);
    field_u64(&o, "output_tokens", u->output_tokens, &first);
    field_u64(&o, "reasoning_tokens", u->reasoning_tokens, &first);
    field_str(&o, "service_tier", u->service_tier, &first);
    if (LLMBILL_USAGE_HAS_COUNTS(u)) {
        /* the modality and tool counts, each written when set */
#define COUNT_FIELD(f) if (u->f > 0) field_u64(&o, #f, u->f, &first);
        LLMBILL_USAGE_COUNTS(COUNT_FIELD)
#undef COUNT_FIELD
    }
    if (u->flags & LLMBILL_USAGE_COST_KNOWN) {
        int usd = u->currency == NULL || strcmp(u->currency, "USD") == 0;

        put_key(&o, usd ? "cost_usd" : "cost", &first);
        if (lb_decimal_format(u->cost, 12, num, sizeof num) < 0)
            return LLMBILL_EINVAL;
        puts_(&o, num);
        if (!usd)
            field_str(&o, "currency", u->currency, &first);
    }
    if (u->flags & LLMBILL_USAGE_HAS_LATENCY)
        field_u64(&o, "latency_ms", u->latency_ms, &first);
    if (u->n_metadata > 0 && u->metadata != NULL) {
        int mfirst = 1;

        put_key(&o, "metadata", &first);
        put(&o, "{", 1);
        for (size_t i = 0; i < u->n_metadata; i++) {
            if (u->metadata[i].key == NULL || u->metadata[i].value == NULL)
                continue;
            if (!mfirst)
                put(&o, ",", 1);
            mfirst = 0;
            put_str(&o, u->metadata[i].key);
            put(&o, ":", 1);
            put_str(&o, u->metadata[i].value);
        }
        put(&o, "}", 1);
    }
    put(&o, "}", 1);
    if (cap > 0)
        buf[o.len < cap ? o.len : cap - 1] = '\0';
    return o.len > (size_t)INT32_MAX ? LLMBILL_EINVAL : (int)o.len;
}
