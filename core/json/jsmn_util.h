/* llmbill core: jsmn, configured once for the core's parsers. */
#ifndef LB_JSMN_UTIL_H
#define LB_JSMN_UTIL_H

#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>
#include <stdint.h>

/* Caps on every JSON text the core parses (lb_json_parse): nesting depth,
 * and tokens per kind of input. A token takes sizeof(jsmntok_t) = 20 bytes
 * and an N-byte text has at most N / 2 + 1 of them, so a parse holds at most
 * min(10 N + 20, 20 * cap) bytes besides the text. */
#define LB_JSON_MAX_DEPTH 128
#define LB_JSON_MAX_TOKENS_BODY (1 << 20)   /* provider bodies, stream events */
#define LB_JSON_MAX_TOKENS_LINE 4096        /* one usage JSON line */
#define LB_JSON_MAX_TOKENS_PRICES (1 << 22) /* a price table */

/* Parses js[0..len) into *out (malloc'ed, the caller frees it): one JSON
 * object, at most LB_JSON_MAX_DEPTH levels deep and max_tokens tokens, in
 * O(len) time. Returns the token count (> 0); 0 when the text holds no value
 * (empty or blank; *out NULL, err untouched); LLMBILL_EINVAL with a reason in
 * err (malformed, truncated, too deep, too many values, not one object) or
 * LLMBILL_ENOMEM. Thread-safe. */
int lb_json_parse(const char *js, size_t len, int max_tokens, jsmntok_t **out, char *err,
                  size_t errlen);

/* lb_json_parse() with the first attempt in the caller's first[0..
 * LB_JSON_FIRST_TOKENS) (no allocation when the text fits, the common case
 * for a usage line): *out is first then, else malloc'ed; the caller frees
 * *out when it is not first. */
#define LB_JSON_FIRST_TOKENS 64
int lb_json_parse_into(const char *js, size_t len, int max_tokens, jsmntok_t *first,
                       jsmntok_t **out, char *err, size_t errlen);

/* json_flat.c: the tokens of js[0..len) when it is one object of string
 * keys whose values are strings without escapes, primitives, or (one level
 * down) such objects: what jsmn would make of it, token for token (at most
 * cap of them). -1 for any other text (jsmn then decides), 0 never. */
int lb_json_flat(const char *js, int len, jsmntok_t *t, int cap);

/* Index of the token after t[i] and all its children, or -1 when the tokens
 * run out (jsmn accepts a few malformed shapes, such as a key without a
 * value), an object key is not a string, or the containers nest deeper than
 * LB_JSON_MAX_DEPTH. Iterative: the stack is fixed whatever the input. */
static inline int lb_json_skip(const jsmntok_t *t, int i, int n)
{
    int left[LB_JSON_MAX_DEPTH];        /* child tokens still to read, per open container */
    unsigned char obj[LB_JSON_MAX_DEPTH];
    int sp = 0;

    do {
        jsmntype_t type;
        int size;

        if (i < 0 || i >= n)
            return -1;
        if (sp > 0 && obj[sp - 1] && left[sp - 1] % 2 == 0) {   /* an object key */
            if (t[i].type != JSMN_STRING)
                return -1;
            i++;
            left[sp - 1]--;
            continue;
        }
        type = t[i].type;
        size = t[i].size;
        i++;
        if (sp > 0)
            left[sp - 1]--;
        if ((type == JSMN_OBJECT || type == JSMN_ARRAY) && size > 0) {
            if (sp == LB_JSON_MAX_DEPTH)
                return -1;
            obj[sp] = type == JSMN_OBJECT;
            left[sp] = type == JSMN_OBJECT ? 2 * size : size;
            sp++;
        }
        while (sp > 0 && left[sp - 1] == 0)
            sp--;
    } while (sp > 0);
    return i;
}

/* 1 when string token t equals s. */
static inline int lb_json_eq(const char *js, const jsmntok_t *t, const char *s, size_t n)
{
    return t->type == JSMN_STRING && (size_t)(t->end - t->start) == n &&
           __builtin_memcmp(js + t->start, s, n) == 0;
}

/* The value at a dotted path ("usage.prompt_tokens_details.cached_tokens")
 * under the object t[obj], or -1. */
static inline int lb_json_get(const char *js, const jsmntok_t *t, int n, int obj, const char *path)
{
    while (obj >= 0 && *path) {
        const char *dot = path;
        size_t klen;
        int end, found = -1;

        while (*dot && *dot != '.')
            dot++;
        klen = (size_t)(dot - path);
        if (t[obj].type != JSMN_OBJECT || (end = lb_json_skip(t, obj, n)) < 0)
            return -1;
        for (int i = obj + 1; i + 1 < end && found < 0; i = lb_json_skip(t, i + 1, n))
            if (lb_json_eq(js, &t[i], path, klen))
                found = i + 1;
        obj = found;
        path = *dot ? dot + 1 : dot;
    }
    return obj;
}

/* A non-negative integer token into *out; 0, or -1 when it is not one. */
static inline int lb_json_u64(const char *js, const jsmntok_t *t, uint64_t *out)
{
    uint64_t v = 0;

    if (t->type != JSMN_PRIMITIVE || t->end <= t->start)
        return -1;
    for (int i = t->start; i < t->end; i++) {
        char c = js[i];

        if (c < '0' || c > '9' || v > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(c - '0');
    }
    *out = v;
    return 0;
}

#endif
