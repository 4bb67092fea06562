/* libFuzzer target: the response readers. The first byte picks the shape;
 * the rest is read as a whole body and as a stream cut at every 7th byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llmbill/llmbill.h"
#include "llmbill/extract.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const providers[] = { "openai", "anthropic", "gemini", "bedrock", "xai",
                                             "deepseek", "groq", "openrouter", "perplexity",
                                             "azure" };
    const char *prov;
    struct llmbill_extracted x;
    llmbill_stream *s;
    char err[256];
    int rc = 0;

    if (size < 1)
        return 0;
    prov = providers[data[0] % (sizeof providers / sizeof providers[0])];
    data++;
    size--;
    memset(&x, 0, sizeof x);
    if (llmbill_extract(prov, (const char *)data, size, &x, err, sizeof err) == 0 &&
        (x.cached_input_tokens > x.input_tokens || x.reasoning_tokens > x.output_tokens))
        abort();
    if (llmbill_stream_new_for(&s, prov) != 0)
        return 0;
    for (size_t i = 0; i < size && rc == 0; i += 7)
        rc = llmbill_stream_feed(s, (const char *)data + i, size - i < 7 ? size - i : 7, err, sizeof err);
    if (rc == 0 && llmbill_stream_finish(s, &x, err, sizeof err) == 0 &&
        ((x.model[0] == '\0' && x.shape != LLMBILL_SHAPE_BEDROCK) ||
         x.reasoning_tokens > x.output_tokens || x.cached_input_tokens > x.input_tokens ||
         x.input_audio_tokens - x.cached_audio_tokens + x.input_image_tokens + x.input_video_tokens >
             x.input_tokens - x.cached_input_tokens - x.cache_creation_input_tokens))
        abort();
    llmbill_stream_free(s);
    return 0;
}
