/* libFuzzer target: the journal's binary record decoder. Whatever decodes
 * must encode back to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct llmbill_kv kv[LLMBILL_METADATA_MAX];
    struct llmbill_usage u;
    unsigned char *copy = malloc(size ? size : 1), *again;

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    if (lb_jrec_decode(copy, size, &u, kv, LLMBILL_METADATA_MAX) == 0) {
        size_t lens[LB_NSTR];

        for (int i = 0; i < LB_NSTR; i++)
            lens[i] = *lb_usage_str(&u, i) ? strlen(*lb_usage_str(&u, i)) : 0;
        if (lb_jrec_size(&u, lens) != size || (again = malloc(size ? size : 1)) == NULL)
            abort();
        lb_jrec_encode(&u, lens, again);
        if (memcmp(again, copy, size) != 0)
            abort();
        free(again);
        (void)llmbill_usage_validate(&u, NULL, 0);
    }
    free(copy);
    return 0;
}
