/* libFuzzer target: the lago sink's reader of 422 bodies. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lago.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int item[LAGO_MAX_BATCH];
    static char reason[LAGO_MAX_BATCH][LAGO_REASON_LEN];
    size_t n = size > 0 ? (size_t)(data[0] % LAGO_MAX_BATCH) + 1 : 1;
    char *body = malloc(size + 1);

    if (body == NULL)
        return 0;
    memcpy(body, data, size);
    body[size] = '\0';
    (void)lago_parse_422(body, size, n, item, reason);
    for (size_t i = 0; i < n; i++)
        if (item[i] < LAGO_ITEM_NONE || item[i] > LAGO_ITEM_ERROR || strlen(reason[i]) >= LAGO_REASON_LEN)
            abort();
    free(body);
    return 0;
}
