/* libFuzzer target: the price table loader, then pricing with it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llmbill/llmbill.h"
#include "llmbill/price.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    llmbill_prices *p;
    char err[256];

    if (llmbill_prices_load_buffer(&p, (const char *)data, size, err, sizeof err) == 0) {
        struct llmbill_usage u = LLMBILL_USAGE_INIT;
        struct llmbill_cost_breakdown b;

        memset(&b, 0, sizeof b);
        b.struct_size = sizeof b;
        u.customer_id = "c";
        u.model = "m";
        u.input_tokens = 300000;
        u.cached_input_tokens = 1000;
        u.cache_creation_input_tokens = 500;
        u.cache_creation_1h_input_tokens = 100;
        u.output_tokens = 900;
        u.reasoning_tokens = 400;
        u.service_tier = "priority";
        if (llmbill_price(p, &u, &b, err, sizeof err) == 0 && b.total < 0)
            abort();
        /* every class: modalities, web searches, a batch */
        u.input_audio_tokens = 2000;
        u.cached_audio_tokens = 300;
        u.input_image_tokens = 700;
        u.input_video_tokens = 50;
        u.output_audio_tokens = 200;
        u.output_image_tokens = 100;
        u.web_search_requests = 3;
        u.service_tier = size % 2 ? "batch" : "flex";
        if (llmbill_price(p, &u, &b, err, sizeof err) == 0 && b.total < 0)
            abort();
        llmbill_prices_free(p);
    }
    return 0;
}
