/* libFuzzer target: Bedrock streams (AWS event-stream frames: prelude,
 * headers, CRCs; chunk payloads with base64 Anthropic events; metadata
 * usage). The first byte sets the feeding step, the rest is the stream.
 * Whatever the bytes, a success has a consistent record. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llmbill/llmbill.h"
#include "llmbill/extract.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct llmbill_extracted x;
    llmbill_stream *s;
    char err[256];
    size_t step;
    int rc = 0;

    if (size < 1)
        return 0;
    step = (size_t)data[0] % 64 + 1;
    data++;
    size--;
    memset(&x, 0, sizeof x);
    if (llmbill_stream_new(&s, LLMBILL_SHAPE_BEDROCK) != 0)
        return 0;
    for (size_t i = 0; i < size && rc == 0; i += step)
        rc = llmbill_stream_feed(s, (const char *)data + i, size - i < step ? size - i : step, err,
                                 sizeof err);
    if (rc == 0 && llmbill_stream_finish(s, &x, err, sizeof err) == 0 &&
        (x.cached_input_tokens > x.input_tokens || x.reasoning_tokens > x.output_tokens ||
         x.cache_creation_1h_input_tokens > x.cache_creation_input_tokens))
        abort();
    llmbill_stream_free(s);
    return 0;
}
