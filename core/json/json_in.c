/* llmbill core: parsing the usage JSON form (jsmn). Strings are unescaped in
 * place, so the record points into the caller's buffer. */
#include <stdlib.h>
#include <string.h>

#include "jsmn_util.h"
#include "lb.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;

    for (int k = 0; k < 4; k++) {
        int h = hexval(p[k]);

        if (h < 0)
            return -1;
        v = (v << 4) | (uint32_t)h;
    }
    *out = v;
    return 0;
}

/* Unescapes the string token in place and NUL-terminates it. Returns the
 * string, or NULL on a bad escape. */
static char *unescape(char *json, const jsmntok_t *t)
{
    char *src = json + t->start, *end = json + t->end, *dst = src;

    while (src < end) {
        if (*src != '\\') {
            *dst++ = *src++;
            continue;
        }
        if (src + 1 >= end)
            return NULL;
        switch (src[1]) {
        case '"': *dst++ = '"'; break;
        case '\\': *dst++ = '\\'; break;
        case '/': *dst++ = '/'; break;
        case 'b': *dst++ = '\b'; break;
        case 'f': *dst++ = '\f'; break;
        case 'n': *dst++ = '\n'; break;
        case 'r': *dst++ = '\r'; break;
        case 't': *dst++ = '\t'; break;
        case 'u': {
            uint32_t cp, lo;

            if (end - src < 6 || hex4(src + 2, &cp) != 0)
                return NULL;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (end - src < 12 || src[6] != '\\' || src[7] != 'u' || hex4(src + 8, &lo) != 0 ||
                    lo < 0xdc00 || lo > 0xdfff)
                    return NULL;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                src += 6;
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                return NULL;
            }
            if (cp == 0)
                return NULL; /* NUL cannot live in a C string */
            if (cp < 0x80) {
                *dst++ = (char)cp;
            } else if (cp < 0x800) {
                *dst++ = (char)(0xc0 | (cp >> 6));
                *dst++ = (char)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                *dst++ = (char)(0xe0 | (cp >> 12));
                *dst++ = (char)(0x80 | ((cp >> 6) & 0x3f));
                *dst++ = (char)(0x80 | (cp & 0x3f));
            } else {
                *dst++ = (char)(0xf0 | (cp >> 18));
                *dst++ = (char)(0x80 | ((cp >> 12) & 0x3f));
                *dst++ = (char)(0x80 | ((cp >> 6) & 0x3f));
                *dst++ = (char)(0x80 | (cp & 0x3f));
            }
            src += 6;
            continue;
        }
        default:
            return NULL;
        }
        src += 2;
    }
    *dst = '\0';
    return json + t->start;
}

char *lb_json_unescape(char *buf, size_t n)
{
    jsmntok_t t;

    memset(&t, 0, sizeof t);
    t.type = JSMN_STRING;
    t.end = (int)n;
    return unescape(buf, &t);
}

static int is_null(const char *json, const jsmntok_t *t)
{
    return t->type == JSMN_PRIMITIVE && t->end - t->start == 4 &&
           memcmp(json + t->start, "null", 4) == 0;
}

static int key_is(const char *json, const jsmntok_t *k, const char *name)
{
    size_t n = strlen(name);

    return (size_t)(k->end - k->start) == n && memcmp(json + k->start, name, n) == 0;
}

/* A record field of the JSON form and where llmbill_usage_from_json() stores it. */
struct field {
    const char *name;
    size_t off;
};

/* The fields llmbill_usage_from_json() reads besides its string and count
 * tables, numbered after them (cost_usd and cost are one field). */
static const char *const other_fields[] = { "timestamp_ms", "latency_ms", "status", "metadata",
                                            "cost_usd", "cost" };
#define F_OTHER(strs_n, u64s_n) ((int)((strs_n) + (u64s_n)))
#define F_COST 63 /* cost_usd and cost: past every other index (checked below) */

/* The index (< 64) of the record field key k names, or -1 for a key the
 * record does not read. strs and u64s are the caller's name tables (each
 * entry starts with its name). */
static int field_index(const char *json, const jsmntok_t *k, const struct field *strs,
                       size_t strs_n, const struct field *u64s, size_t u64s_n)
{
    for (size_t i = 0; i < strs_n; i++)
        if (key_is(json, k, strs[i].name))
            return (int)i;
    for (size_t i = 0; i < u64s_n; i++)
        if (key_is(json, k, u64s[i].name))
            return (int)(strs_n + i);
    for (size_t i = 0; i < sizeof other_fields / sizeof other_fields[0]; i++)
        if (key_is(json, k, other_fields[i]))
            return i >= 4 ? F_COST : F_OTHER(strs_n, u64s_n) + (int)i;
    return -1;
}

#define FAIL(...) do { lb_errf(err, errlen, __VA_ARGS__); rc = LLMBILL_EINVAL; goto out; } while (0)

int llmbill_usage_from_json(struct llmbill_usage *u, char *json, size_t len,
                            struct llmbill_kv *kv, size_t kv_cap, char *err, size_t errlen)
{
    static const struct field strs[] = {
        { "event_id", offsetof(struct llmbill_usage, event_id) },
        { "customer_id", offsetof(struct llmbill_usage, customer_id) },
        { "subscription_id", offsetof(struct llmbill_usage, subscription_id) },
        { "user_id", offsetof(struct llmbill_usage, user_id) },
        { "team_id", offsetof(struct llmbill_usage, team_id) },
        { "provider", offsetof(struct llmbill_usage, provider) },
        { "model", offsetof(struct llmbill_usage, model) },
        { "call_type", offsetof(struct llmbill_usage, call_type) },
        { "request_id", offsetof(struct llmbill_usage, request_id) },
        { "currency", offsetof(struct llmbill_usage, currency) },
        { "service_tier", offsetof(struct llmbill_usage, service_tier) },
    };
    static const struct field u64s[] = {
        { "input_tokens", offsetof(struct llmbill_usage, input_tokens) },
        { "cached_input_tokens", offsetof(struct llmbill_usage, cached_input_tokens) },
        { "cache_creation_input_tokens", offsetof(struct llmbill_usage, cache_creation_input_tokens) },
        { "output_tokens", offsetof(struct llmbill_usage, output_tokens) },
        { "reasoning_tokens", offsetof(struct llmbill_usage, reasoning_tokens) },
        { "cache_creation_1h_input_tokens",
          offsetof(struct llmbill_usage, cache_creation_1h_input_tokens) },
#define COUNT_FIELD(f) { #f, offsetof(struct llmbill_usage, f) },
        LLMBILL_USAGE_COUNTS(COUNT_FIELD)
#undef COUNT_FIELD
    };
    jsmntok_t *t = NULL;
    int n, i, rc = 0, have_cost_usd = 0;
    uint64_t seen = 0; /* bit field_index() of each field read so far */

    _Static_assert(sizeof strs / sizeof strs[0] + sizeof u64s / sizeof u64s[0] + 4 < F_COST,
                   "field_index() numbers every field below 64");

    if (u == NULL || json == NULL)
        return LLMBILL_EINVAL;
    memset(u, 0, sizeof *u);
    u->struct_size = sizeof *u;
    n = lb_json_parse(json, len, LB_JSON_MAX_TOKENS_LINE, &t, err, errlen);
    if (n <= 0) {
        if (n == 0)
            lb_errf(err, errlen, "empty line");
        return n == 0 ? LLMBILL_EINVAL : n;
    }
    for (i = 1; i < n;) {
        const jsmntok_t *k = &t[i], *v = &t[i + 1];
        int next = lb_json_skip(t, i + 1, n), done = 0;
        int f = field_index(json, k, strs, sizeof strs / sizeof strs[0], u64s,
                            sizeof u64s / sizeof u64s[0]);

        if (f >= 0) { /* one value per field: which of two a record means is not guessed */
            if (seen & (UINT64_C(1) << f))
                FAIL("%.*s: given twice%s", k->end - k->start, json + k->start,
                     f == F_COST ? " (as cost_usd or cost)" : "");
            seen |= UINT64_C(1) << f;
        }
        if (is_null(json, v)) {
            i = next;
            continue;
        }
        for (size_t s = 0; s < sizeof strs / sizeof strs[0] && !done; s++) {
            if (!key_is(json, k, strs[s].name))
                continue;
            if (v->type != JSMN_STRING)
                FAIL("%s: expected a string", strs[s].name);
            if ((*(const char **)((char *)u + strs[s].off) = unescape(json, v)) == NULL)
                FAIL("%s: bad escape in string", strs[s].name);
            done = 1;
        }
        for (size_t s = 0; s < sizeof u64s / sizeof u64s[0] && !done; s++) {
            if (!key_is(json, k, u64s[s].name))
                continue;
            if (lb_json_u64(json, v, (uint64_t *)((char *)u + u64s[s].off)) != 0)
                FAIL("%s: expected a non-negative integer", u64s[s].name);
            done = 1;
        }
        if (done) {
            /* handled */
        } else if (key_is(json, k, "timestamp_ms")) {
            uint64_t ts;

            if (lb_json_u64(json, v, &ts) != 0 || ts > (uint64_t)INT64_MAX)
                FAIL("timestamp_ms: expected a non-negative integer (Unix milliseconds)");
            u->timestamp_ms = (int64_t)ts;
        } else if (key_is(json, k, "latency_ms")) {
            uint64_t l;

            if (lb_json_u64(json, v, &l) != 0 || l > UINT32_MAX)
                FAIL("latency_ms: expected a non-negative integer");
            u->latency_ms = (uint32_t)l;
            u->flags |= LLMBILL_USAGE_HAS_LATENCY;
        } else if (key_is(json, k, "status")) {
            const char *s;

            if (v->type != JSMN_STRING || (s = unescape(json, v)) == NULL)
                FAIL("status: expected \"success\" or \"failure\"");
            if (strcmp(s, "success") == 0)
                u->status = LLMBILL_STATUS_SUCCESS;
            else if (strcmp(s, "failure") == 0)
                u->status = LLMBILL_STATUS_FAILURE;
            else
                FAIL("status: expected \"success\" or \"failure\"");
        } else if (key_is(json, k, "cost_usd") || key_is(json, k, "cost")) {
            int usd = key_is(json, k, "cost_usd");

            /* a number, or a string holding one ("0.1": Decimal's habit) */
            if ((v->type != JSMN_PRIMITIVE && v->type != JSMN_STRING) ||
                llmbill_cost_parse(json + v->start, (size_t)(v->end - v->start), &u->cost) != 0 ||
                u->cost < 0)
                FAIL("%s: expected a non-negative decimal number (or a string holding one)",
                     usd ? "cost_usd" : "cost");
            u->flags |= LLMBILL_USAGE_COST_KNOWN;
            have_cost_usd |= usd;
        } else if (key_is(json, k, "metadata")) {
            if (v->type != JSMN_OBJECT)
                FAIL("metadata: expected an object of strings");
            for (int m = i + 2; m < next; m += 2) {
                if (t[m + 1].type != JSMN_STRING)
                    FAIL("metadata: value of '%.*s' is not a string", t[m].end - t[m].start,
                         json + t[m].start);
                if (u->n_metadata >= kv_cap)
                    FAIL("metadata: more than %zu entries", kv_cap);
                kv[u->n_metadata].key = unescape(json, &t[m]);
                kv[u->n_metadata].value = unescape(json, &t[m + 1]);
                if (kv[u->n_metadata].key == NULL || kv[u->n_metadata].value == NULL)
                    FAIL("metadata: bad escape in string");
                u->n_metadata++;
            }
            u->metadata = u->n_metadata ? kv : NULL;
        }
        i = next;
    }
    if (have_cost_usd) {
        if (u->currency != NULL && strcmp(u->currency, "USD") != 0)
            FAIL("cost_usd: given with currency %s", u->currency);
        u->currency = NULL;
    }
out:
    free(t);
    return rc;
}
