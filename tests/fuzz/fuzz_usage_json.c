/* libFuzzer target: the usage JSON parser, the validator, the encoder and
 * the decimal parser. A parsed record must re-encode and re-parse. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
