/* llmbill core: parsing the usage JSON form (jsmn). Strings are unescaped in
 * place, so the record points into the caller's buffer. */
#include <pthread.h>
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

/* How llmbill_usage_from_json() reads a field. */
enum field_kind { K_STR, K_U64, K_TIMESTAMP, K_LATENCY, K_STATUS, K_METADATA, K_COST_USD, K_COST };

/* A field of the JSON form: its name, how it is read and where it goes. */
struct field {
    const char *name;
    unsigned char len, kind;
    unsigned short off;
};

#define FIELD(n, k, o) { n, sizeof(n) - 1, k, o }
#define STR(n) FIELD(#n, K_STR, offsetof(struct llmbill_usage, n)),
#define U64(n) FIELD(#n, K_U64, offsetof(struct llmbill_usage, n)),

/* Every field llmbill_usage_from_json() reads; fewer than 64, and cost
 * right after cost_usd (one value: they share a bit of "seen"). */
static const struct field fields[] = {
    STR(event_id) STR(customer_id) STR(subscription_id) STR(user_id) STR(team_id)
    STR(provider) STR(model) STR(call_type) STR(request_id) STR(currency) STR(service_tier)
    U64(input_tokens) U64(cached_input_tokens) U64(cache_creation_input_tokens)
    U64(output_tokens) U64(reasoning_tokens) U64(cache_creation_1h_input_tokens)
    LLMBILL_USAGE_COUNTS(U64)
    FIELD("timestamp_ms", K_TIMESTAMP, 0), FIELD("latency_ms", K_LATENCY, 0),
    FIELD("status", K_STATUS, 0), FIELD("metadata", K_METADATA, 0),
    FIELD("cost_usd", K_COST_USD, 0), FIELD("cost", K_COST, 0),
};
#undef STR
#undef U64
#undef FIELD
#define NFIELDS (sizeof fields / sizeof fields[0])
_Static_assert(NFIELDS <= 64, "one bit of a uint64_t per field");

/* fields[] by name length: the indices of the fields of each length (the
 * longest name has 30 bytes; no length is shared by more than 7 names),
 * 0xff-terminated. Built once (pthread_once), read-only after. */
#define NAME_MAX_LEN 31
static unsigned char by_len[NAME_MAX_LEN + 1][8];
static pthread_once_t by_len_once = PTHREAD_ONCE_INIT;

static void by_len_build(void)
{
    memset(by_len, 0xff, sizeof by_len);
    for (size_t i = 0; i < NFIELDS; i++) {
        unsigned char *b = by_len[fields[i].len];
        size_t k = 0;

        while (b[k] != 0xff)
            k++;
        if (k + 1 >= sizeof by_len[0])
            abort(); /* more names of one length than a row holds: widen by_len */
        b[k] = (unsigned char)i;
    }
}

/* The index in fields[] of the field key k names, or -1 for a key the
 * record does not read (by_len built). */
static int field_index(const char *json, const jsmntok_t *k)
{
    size_t n = (size_t)(k->end - k->start);
    const unsigned char *b;

    if (n > NAME_MAX_LEN)
        return -1;
    for (b = by_len[n]; *b != 0xff; b++)
        if (memcmp(json + k->start, fields[*b].name, n) == 0)
            return *b;
    return -1;
}

#define FAIL(...) do { lb_errf(err, errlen, __VA_ARGS__); rc = LLMBILL_EINVAL; goto out; } while (0)

int llmbill_usage_from_json(struct llmbill_usage *u, char *json, size_t len,
                            struct llmbill_kv *kv, size_t kv_cap, char *err, size_t errlen)
{
    jsmntok_t first[LB_JSON_FIRST_TOKENS], *t = NULL;
    int n, i, rc = 0, have_cost_usd = 0;
    uint64_t seen = 0; /* bit (field index) of each field read so far */

    if (u == NULL || json == NULL)
        return LLMBILL_EINVAL;
    memset(u, 0, sizeof *u);
    u->struct_size = sizeof *u;
    pthread_once(&by_len_once, by_len_build);
    n = lb_json_parse_into(json, len, LB_JSON_MAX_TOKENS_LINE, first, &t, err, errlen);
    if (n <= 0) {
        if (n == 0)
            lb_errf(err, errlen, "empty line");
        return n == 0 ? LLMBILL_EINVAL : n;
    }
    for (i = 1; i < n;) {
        const jsmntok_t *k = &t[i], *v = &t[i + 1];
        int next = v->type == JSMN_PRIMITIVE || v->type == JSMN_STRING ? i + 2
                                                                        : lb_json_skip(t, i + 1, n);
        int f = field_index(json, k);
        const struct field *fd;

        if (f < 0) {
            i = next;
            continue;
        }
        fd = &fields[f];
        f -= fd->kind == K_COST; /* cost_usd and cost are one field */
        /* one value per field: which of two a record means is not guessed */
        if (seen & (UINT64_C(1) << f))
            FAIL("%.*s: given twice%s", k->end - k->start, json + k->start,
                 fd->kind == K_COST || fd->kind == K_COST_USD ? " (as cost_usd or cost)" : "");
        seen |= UINT64_C(1) << f;
        i = next;
        if (is_null(json, v))
            continue;
        switch (fd->kind) {
        case K_STR:
            if (v->type != JSMN_STRING)
                FAIL("%s: expected a string", fd->name);
            if ((*(const char **)((char *)u + fd->off) = unescape(json, v)) == NULL)
                FAIL("%s: bad escape in string", fd->name);
            break;
        case K_U64:
            if (lb_json_u64(json, v, (uint64_t *)((char *)u + fd->off)) != 0)
                FAIL("%s: expected a non-negative integer", fd->name);
            break;
        case K_TIMESTAMP: {
            uint64_t ts;

            if (lb_json_u64(json, v, &ts) != 0 || ts > (uint64_t)INT64_MAX)
                FAIL("timestamp_ms: expected a non-negative integer (Unix milliseconds)");
            u->timestamp_ms = (int64_t)ts;
            break;
        }
        case K_LATENCY: {
            uint64_t l;

            if (lb_json_u64(json, v, &l) != 0 || l > UINT32_MAX)
                FAIL("latency_ms: expected a non-negative integer");
            u->latency_ms = (uint32_t)l;
            u->flags |= LLMBILL_USAGE_HAS_LATENCY;
            break;
        }
        case K_STATUS: {
            const char *s;

            if (v->type != JSMN_STRING || (s = unescape(json, v)) == NULL)
                FAIL("status: expected \"success\" or \"failure\"");
            if (strcmp(s, "success") == 0)
                u->status = LLMBILL_STATUS_SUCCESS;
            else if (strcmp(s, "failure") == 0)
                u->status = LLMBILL_STATUS_FAILURE;
            else
                FAIL("status: expected \"success\" or \"failure\"");
            break;
        }
        case K_COST_USD:
        case K_COST:
            /* a number, or a string holding one ("0.1": Decimal's habit) */
            if ((v->type != JSMN_PRIMITIVE && v->type != JSMN_STRING) ||
                llmbill_cost_parse(json + v->start, (size_t)(v->end - v->start), &u->cost) != 0 ||
                u->cost < 0)
                FAIL("%s: expected a non-negative decimal number (or a string holding one)",
                     fd->name);
            u->flags |= LLMBILL_USAGE_COST_KNOWN;
            have_cost_usd |= fd->kind == K_COST_USD;
            break;
        case K_METADATA:
            if (v->type != JSMN_OBJECT)
                FAIL("metadata: expected an object of strings");
            for (int mi = (int)(v - t) + 1; mi < next; mi += 2) {
                if (t[mi + 1].type != JSMN_STRING)
                    FAIL("metadata: value of '%.*s' is not a string", t[mi].end - t[mi].start,
                         json + t[mi].start);
                if (u->n_metadata >= kv_cap)
                    FAIL("metadata: more than %zu entries", kv_cap);
                kv[u->n_metadata].key = unescape(json, &t[mi]);
                kv[u->n_metadata].value = unescape(json, &t[mi + 1]);
                if (kv[u->n_metadata].key == NULL || kv[u->n_metadata].value == NULL)
                    FAIL("metadata: bad escape in string");
                u->n_metadata++;
            }
            u->metadata = u->n_metadata ? kv : NULL;
            break;
        }
    }
    if (have_cost_usd) {
        if (u->currency != NULL && strcmp(u->currency, "USD") != 0)
            FAIL("cost_usd: given with currency %s", u->currency);
        u->currency = NULL;
    }
out:
    if (t != first)
        free(t);
    return rc;
}
