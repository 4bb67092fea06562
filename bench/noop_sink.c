/* Benchmark sink: accepts every batch and does nothing. */
#include "llmbill/sink.h"

static int noop_create(const struct llmbill_host *h, llmbill_sink_ctx *c, void **s)
{
    (void)h;
    (void)c;
    *s = NULL;
    return 0;
}

static int noop_emit(void *s, struct llmbill_sink_batch *b)
{
    (void)s;
    (void)b;
    return LLMBILL_SINK_OK;
}

static void noop_destroy(void *s)
{
    (void)s;
}

static const struct llmbill_sink_desc noop_desc = {
    .struct_size = sizeof(struct llmbill_sink_desc),
    .abi = LLMBILL_SINK_ABI,
    .name = "noop",
    .version = "1",
    .description = "discards events",
    .max_batch = 1000,
    .create = noop_create,
    .emit = noop_emit,
    .destroy = noop_destroy,
};

LLMBILL_SINK_DEFINE(noop_desc)
