/* llmbill core: loading a LiteLLM-format price table (jsmn), and finding a
 * model in it. Rates are read from their decimal text into integers; no
 * double is involved. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsmn_util.h"
#include "lb.h"
#include "price.h"

static const struct { const char *name; int kind; } rate_bases[] = {
    /* longest first: "..._above_1hr" is a base of its own */
    { "cache_creation_input_token_cost_above_1hr", LB_RATE_CWRITE1H },
    { "cache_creation_input_token_cost", LB_RATE_CWRITE },
    { "cache_read_input_token_cost", LB_RATE_CREAD },
    { "output_cost_per_reasoning_token", LB_RATE_REASON },
    { "input_cost_per_token", LB_RATE_IN },
    { "output_cost_per_token", LB_RATE_OUT },
    { "input_cost_per_audio_token", LB_RATE_AUDIO_IN },
    { "output_cost_per_audio_token", LB_RATE_AUDIO_OUT },
    { "cache_read_input_audio_token_cost", LB_RATE_AUDIO_CREAD },
    { "cache_creation_input_audio_token_cost", LB_RATE_AUDIO_CACHED },
    { "input_cost_per_image_token", LB_RATE_IMAGE_IN },
    { "output_cost_per_image_token", LB_RATE_IMAGE_OUT },
    { "input_cost_per_video_token", LB_RATE_VIDEO_IN },
    /* llmbill_prices_set() only: the table's key holds an object (see load_model) */
    { "search_context_cost_per_query", LB_RATE_SEARCH },
};

const char *lb_rate_name(int kind)
{
    for (size_t b = 0; b < sizeof rate_bases / sizeof rate_bases[0]; b++)
        if (rate_bases[b].kind == kind)
            return rate_bases[b].name;
    return "?";
}

int lb_rate_key(const char *key, size_t len, int *kind, uint64_t *above, int *tier)
{
    for (size_t b = 0; b < sizeof rate_bases / sizeof rate_bases[0]; b++) {
        size_t bl = strlen(rate_bases[b].name);
        const char *r = key + bl, *end = key + len;

        if (len < bl || memcmp(key, rate_bases[b].name, bl) != 0)
            continue;
        *kind = rate_bases[b].kind;
        *above = 0;
        *tier = LB_TIER_STD;
        if (end - r >= 7 && memcmp(r, "_above_", 7) == 0) {
            uint64_t n = 0;
            const char *d = r + 7;

            if (d >= end || *d < '0' || *d > '9')
                return -1;
            while (d < end && *d >= '0' && *d <= '9' && n < 100000000)
                n = n * 10 + (uint64_t)(*d++ - '0');
            if (d < end && *d == 'k') {
                n *= 1000;
                d++;
            }
            if (end - d < 7 || memcmp(d, "_tokens", 7) != 0)
                return -1;
            *above = n;
            r = d + 7;
        }
        if (end - r == 5 && memcmp(r, "_flex", 5) == 0)
            *tier = LB_TIER_FLEX;
        else if (end - r == 9 && memcmp(r, "_priority", 9) == 0)
            *tier = LB_TIER_PRIORITY;
        else if (end - r == 8 && memcmp(r, "_batches", 8) == 0)
            *tier = LB_TIER_BATCH;
        else if (r != end)
            return -1;
        return 0;
    }
    return -1;
}

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

const struct lb_model *lb_prices_find(const llmbill_prices *p, const char *name, size_t len)
{
    size_t mask = p->nslots - 1;

    if (p->nslots == 0)
        return NULL;
    for (size_t i = hash(name, len) & mask;; i = (i + 1) & mask) {
        uint32_t v = p->slots[i];
        const struct lb_model *m;

        if (v == 0)
            return NULL;
        m = &p->models[v - 1];
        if (strncmp(m->name, name, len) == 0 && m->name[len] == '\0')
            return m;
    }
}

static int rehash(llmbill_prices *p, size_t nslots)
{
    uint32_t *slots = calloc(nslots, sizeof *slots);

    if (slots == NULL)
        return -1;
    for (size_t k = 0; k < p->n; k++) {
        const char *nm = p->models[k].name;
        size_t i = hash(nm, strlen(nm)) & (nslots - 1);

        while (slots[i] != 0)
            i = (i + 1) & (nslots - 1);
        slots[i] = (uint32_t)(k + 1);
    }
    free(p->slots);
    p->slots = slots;
    p->nslots = nslots;
    return 0;
}

/* The model named name, added when missing; NULL when out of memory. */
static struct lb_model *get_model(llmbill_prices *p, const char *name, size_t len)
{
    struct lb_model *m = (struct lb_model *)lb_prices_find(p, name, len);

    if (m != NULL)
        return m;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 1024;
        struct lb_model *nm = realloc(p->models, cap * sizeof *nm);

        if (nm == NULL)
            return NULL;
        p->models = nm;
        p->cap = cap;
    }
    m = &p->models[p->n];
    memset(m, 0, sizeof *m);
    if ((m->name = lb_strndup(name, len)) == NULL)
        return NULL;
    if ((m->rows = calloc(1, sizeof *m->rows)) == NULL) {
        free(m->name);
        return NULL;
    }
    m->nrows = 1;
    p->n++;
    if (p->n * 2 > p->nslots) {
        /* grow: rehash places every model, the new one included */
        if (rehash(p, p->nslots ? p->nslots * 2 : 4096) != 0) {
            p->n--;
            free(m->name);
            free(m->rows);
            return NULL;
        }
    } else {
        size_t i = hash(name, len) & (p->nslots - 1);

        while (p->slots[i] != 0)
            i = (i + 1) & (p->nslots - 1);
        p->slots[i] = (uint32_t)p->n;
    }
    return m;
}

/* Stores one rate; -1 when the model has no room for another threshold,
 * -2 when out of memory. */
static int put_rate(struct lb_model *m, int kind, uint64_t above, int tier, int64_t v)
{
    struct lb_rate_row *row = NULL;

    for (uint8_t r = 0; r < m->nrows; r++)
        if (m->rows[r].above == above)
            row = &m->rows[r];
    if (row == NULL) {
        struct lb_rate_row *nr;

        if (m->nrows == LB_MAX_ROWS)
            return -1;
        if ((nr = realloc(m->rows, (m->nrows + 1u) * sizeof *nr)) == NULL)
            return -2;
        m->rows = nr;
        row = &m->rows[m->nrows++];
        memset(row, 0, sizeof *row);
        row->above = above;
    }
    row->rate[tier][kind] = v;
    row->have[tier][kind] = 1;
    return 0;
}

int llmbill_prices_set(llmbill_prices *p, const char *model, const char *key, const char *value,
                       char *err, size_t errlen)
{
    struct lb_model *m;
    int kind, tier, rc;
    uint64_t above;
    int64_t v;

    if (p == NULL || model == NULL || key == NULL || value == NULL || model[0] == '\0')
        return LLMBILL_EINVAL;
    if (lb_rate_key(key, strlen(key), &kind, &above, &tier) != 0) {
        lb_errf(err, errlen, "%s: not a token rate (expected input_cost_per_token, "
                "output_cost_per_token, cache_read_input_token_cost, "
                "cache_creation_input_token_cost[_above_1hr], output_cost_per_reasoning_token, "
                "input/output_cost_per_audio_token, cache_read_input_audio_token_cost, "
                "input/output_cost_per_image_token, input_cost_per_video_token or "
                "search_context_cost_per_query, optionally with _above_Nk_tokens and _flex, "
                "_priority or _batches)", key);
        return LLMBILL_EINVAL;
    }
    if (lb_decimal_parse(value, strlen(value), LB_RATE_SCALE, &v) != 0 || v < 0) {
        lb_errf(err, errlen, "%s: '%s' is not a non-negative decimal (USD per token)", key, value);
        return LLMBILL_EINVAL;
    }
    if ((m = get_model(p, model, strlen(model))) == NULL)
        return LLMBILL_ENOMEM;
    if ((rc = put_rate(m, kind, above, tier, v)) != 0) {
        if (rc == -2)
            return LLMBILL_ENOMEM;
        lb_errf(err, errlen, "%s: model %s has more than %d price thresholds", key, model,
                LB_MAX_ROWS - 1);
        return LLMBILL_EINVAL;
    }
    return 0;
}

/* Parses a rate value token: 0, 1 for null (skipped), -1 when not a
 * non-negative number. */
static int rate_value(const char *js, const jsmntok_t *v, int64_t *rate)
{
    if (v->type == JSMN_PRIMITIVE && js[v->start] == 'n')
        return 1;
    if (v->type != JSMN_PRIMITIVE ||
        lb_decimal_parse(js + v->start, (size_t)(v->end - v->start), LB_RATE_SCALE, rate) != 0 ||
        *rate < 0)
        return -1;
    return 0;
}

/* Reads the token rates among the keys of the object t[obj] into the row
 * above N (tiers: the tier's start; else each key's own threshold). */
static int load_rates(struct lb_model *m, const char *js, const jsmntok_t *t, int n, int obj,
                      int tiered_row, uint64_t tier_start, char *err, size_t errlen)
{
    int end = lb_json_skip(t, obj, n);

    for (int i = obj + 1; i > 0 && i < end; i = lb_json_skip(t, i + 1, n)) {
        const jsmntok_t *k = &t[i], *v = &t[i + 1];
        int kind, tier, rc;
        uint64_t above;
        int64_t rate;

        if (lb_rate_key(js + k->start, (size_t)(k->end - k->start), &kind, &above, &tier) != 0)
            continue;
        if (kind == LB_RATE_SEARCH) {
            /* {"search_context_size_low": f, "..._medium": f, "..._high": f}: the
             * medium fee, per request (LiteLLM's default size) */
            int med = lb_json_get(js, t, n, i + 1, "search_context_size_medium");

            if (v->type != JSMN_OBJECT || med < 0)
                continue;
            v = &t[med];
        } else if (tiered_row) {
            if (above != 0 || tier != LB_TIER_STD)
                continue;
            above = tier_start;
        }
        if ((rc = rate_value(js, v, &rate)) == 1)
            continue;
        if (rc < 0) {
            lb_errf(err, errlen, "model %s: %.*s: expected a non-negative number", m->name,
                    k->end - k->start, js + k->start);
            return LLMBILL_EINVAL;
        }
        if ((rc = put_rate(m, kind, above, tier, rate)) != 0) {
            if (rc == -2)
                return LLMBILL_ENOMEM;
            lb_errf(err, errlen, "model %s: more than %d price thresholds", m->name,
                    LB_MAX_ROWS - 1);
            return LLMBILL_EINVAL;
        }
    }
    return 0;
}

/* Reads the rates of the model object at t[obj]. A model with token
 * tiered_pricing ([{"range": [start, end], rates...}, ...]) is priced from
 * its tiers only, as LiteLLM does: each tier is a row above its start. Its
 * search-API form (max_results_range, input_cost_per_query) is not a token
 * price and is skipped. */
static int load_model(llmbill_prices *p, const char *js, const jsmntok_t *t, int n, int name,
                      int obj, char *err, size_t errlen)
{
    struct lb_model *m = get_model(p, js + t[name].start, (size_t)(t[name].end - t[name].start));
    int tiers = lb_json_get(js, t, n, obj, "tiered_pricing"), end, rc;

    if (m == NULL)
        return LLMBILL_ENOMEM;
    if (tiers >= 0 && t[tiers].type == JSMN_ARRAY && t[tiers].size > 0 &&
        lb_json_get(js, t, n, tiers + 1, "range") >= 0 && (end = lb_json_skip(t, tiers, n)) > 0) {
        m->tiered = 1;
        for (int i = tiers + 1; i > 0 && i < end; i = lb_json_skip(t, i, n)) {
            int r = lb_json_get(js, t, n, i, "range");
            int64_t start;

            if (t[i].type != JSMN_OBJECT || r < 0 || t[r].type != JSMN_ARRAY || t[r].size != 2 ||
                t[r + 1].type != JSMN_PRIMITIVE ||
                lb_decimal_parse(js + t[r + 1].start, (size_t)(t[r + 1].end - t[r + 1].start), 0,
                                 &start) != 0 || start < 0) {
                lb_errf(err, errlen, "model %s: tiered_pricing: expected objects with "
                        "\"range\": [start, end]", m->name);
                return LLMBILL_EINVAL;
            }
            if ((rc = load_rates(m, js, t, n, i, 1, (uint64_t)start, err, errlen)) != 0)
                return rc;
        }
        return 0;
    }
    return load_rates(m, js, t, n, obj, 0, 0, err, errlen);
}

int llmbill_prices_load_buffer(llmbill_prices **out, const char *json, size_t len, char *err,
                               size_t errlen)
{
    llmbill_prices *p;
    jsmntok_t *t;
    char why[128];
    int n, rc = 0;

    if (out == NULL || json == NULL)
        return LLMBILL_EINVAL;
    *out = NULL;
    n = lb_json_parse(json, len, LB_JSON_MAX_TOKENS_PRICES, &t, why, sizeof why);
    if (n <= 0) {
        if (n != LLMBILL_ENOMEM)
            lb_errf(err, errlen, "price table: %s", n == 0 ? "empty" : why);
        return n == 0 ? LLMBILL_EINVAL : n;
    }
    if ((p = calloc(1, sizeof *p)) == NULL) {
        free(t);
        return LLMBILL_ENOMEM;
    }
    rc = 0;
    for (int i = 1; i < n; i = lb_json_skip(t, i + 1, n)) {
        const jsmntok_t *k = &t[i];
        size_t kl = (size_t)(k->end - k->start);

        if (t[i + 1].type != JSMN_OBJECT)
            continue;
        /* documentation and routing rules, not models */
        if ((kl == 11 && memcmp(json + k->start, "sample_spec", 11) == 0) ||
            (kl == 24 && memcmp(json + k->start, "fallback_generalizations", 24) == 0))
            continue;
        if ((rc = load_model(p, json, t, n, i, i + 1, err, errlen)) != 0)
            goto out;
    }
out:
    free(t);
    if (rc != 0) {
        llmbill_prices_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int llmbill_prices_load(llmbill_prices **out, const char *path, char *err, size_t errlen)
{
    FILE *f;
    char *buf;
    long len;
    int rc;

    if (out == NULL)
        return LLMBILL_EINVAL;
    *out = NULL;
    if (path == NULL)
        path = lb_installed_prices();
    f = fopen(path, "rb");
    if (f == NULL) {
        lb_errf(err, errlen, "%s: cannot open price table: %s", path, strerror(errno));
        return LLMBILL_EIO;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        lb_errf(err, errlen, "%s: cannot read price table", path);
        fclose(f);
        return LLMBILL_EIO;
    }
    buf = malloc((size_t)len + 1);
    if (buf == NULL) {
        fclose(f);
        return LLMBILL_ENOMEM;
    }
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        lb_errf(err, errlen, "%s: read error", path);
        free(buf);
        fclose(f);
        return LLMBILL_EIO;
    }
    fclose(f);
    rc = llmbill_prices_load_buffer(out, buf, (size_t)len, err, errlen);
    if (rc == LLMBILL_EINVAL && err != NULL && errlen > 0) {
        char tmp[LB_ERRLEN];

        snprintf(tmp, sizeof tmp, "%s: %s", path, err);
        lb_errf(err, errlen, "%s", tmp);
    }
    free(buf);
    return rc;
}

void llmbill_prices_free(llmbill_prices *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->models[i].name);
        free(p->models[i].rows);
    }
    free(p->models);
    free(p->slots);
    free(p);
}

size_t llmbill_prices_count(const llmbill_prices *p)
{
    return p ? p->n : 0;
}
