/* libFuzzer target: the usage JSON parser, the validator, the encoder and
 * the decimal parser. A parsed record must re-encode and re-parse. The fast
 * tokenizer (lb_json_flat) must agree with jsmn, token for token, on every
 * text it accepts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json/jsmn_util.h"
#include "lb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Where lb_json_flat() accepts a text, jsmn must make the same tokens. */
static void flat_agrees(const char *js, size_t size)
{
    jsmntok_t a[LB_JSON_FIRST_TOKENS], b[LB_JSON_FIRST_TOKENS];
    jsmn_parser p;
    int n;

    if (size > 65536 || (n = lb_json_flat(js, (int)size, a, LB_JSON_FIRST_TOKENS)) < 0)
        return;
    jsmn_init(&p);
    if (n == 0 || jsmn_parse(&p, js, size, b, LB_JSON_FIRST_TOKENS) != n ||
        lb_json_skip(b, 0, n) != n)
        abort();
    for (int i = 0; i < n; i++)
        if (a[i].type != b[i].type || a[i].start != b[i].start || a[i].end != b[i].end ||
            a[i].size != b[i].size || a[i].parent != b[i].parent)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1), err[256], out[8192];
    struct llmbill_kv kv[LLMBILL_METADATA_MAX];
    struct llmbill_usage u;
    int64_t v;

    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    flat_agrees(buf, size);
    (void)llmbill_cost_parse(buf, size, &v);
    if (llmbill_usage_from_json(&u, buf, size, kv, LLMBILL_METADATA_MAX, err, sizeof err) == 0 &&
        llmbill_usage_validate(&u, err, sizeof err) == 0) {
        int n = llmbill_usage_to_json(&u, out, sizeof out);

        if (n > 0 && (size_t)n < sizeof out) {
            struct llmbill_usage again;
            struct llmbill_kv kv2[LLMBILL_METADATA_MAX];

            if (llmbill_usage_from_json(&again, out, (size_t)n, kv2, LLMBILL_METADATA_MAX, err,
                                        sizeof err) != 0)
                abort(); /* our own output must parse */
            if (again.input_tokens != u.input_tokens || again.cost != u.cost ||
                again.n_metadata != u.n_metadata)
                abort();
        }
    }
    free(buf);
    return 0;
}
