/* llmbill core: jsmn, configured once for the core's parsers. */
#ifndef LB_JSMN_UTIL_H
#define LB_JSMN_UTIL_H

#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>
#include <stdint.h>

/* Index of the token after t[i] and all its children, or -1 when the tokens
 * run out (jsmn accepts a few malformed shapes, such as a key without a
 * value) or an object key is not a string. */
static inline int lb_json_skip(const jsmntok_t *t, int i, int n)
{
    int count, type;

    if (i < 0 || i >= n)
        return -1;
    count = t[i].size;
    type = t[i].type;
    i++;
    if (type == JSMN_OBJECT) {
        while (count-- > 0) {
            if (i >= n || t[i].type != JSMN_STRING)
                return -1;
            i = lb_json_skip(t, lb_json_skip(t, i, n), n);
            if (i < 0)
                return -1;
        }
    } else if (type == JSMN_ARRAY) {
        while (count-- > 0)
            if ((i = lb_json_skip(t, i, n)) < 0)
                return -1;
    }
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
