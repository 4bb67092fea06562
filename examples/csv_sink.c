/* A custom llmbill sink, built out of tree against the installed headers:
 * appends "event_id,timestamp_ms,customer,model,input,output,cost" lines.
 *
 *   cc -shared -fPIC $(pkg-config --cflags llmbill) csv_sink.c -o csv.so
 *
 * and in llmbill.ini:
 *   [llmbill]
 *   callbacks = csv
 *   [csv]
 *   plugin = ./csv.so
 *   path = usage.csv
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmbill/sink.h>

struct csv {
    FILE *f;
    char reason[256];
};

static const struct llmbill_option csv_options[] = {
    { "path", LLMBILL_OPT_PATH, LLMBILL_OPT_REQUIRED, NULL, NULL, "CSV file to append to" },
    { NULL, 0, 0, NULL, NULL, NULL }
};

static int csv_create(const struct llmbill_host *host, llmbill_sink_ctx *ctx, void **state)
{
    const char *path = host->config_get_path(ctx, "path");
    struct csv *c = calloc(1, sizeof *c);

    if (c == NULL || (c->f = fopen(path, "a")) == NULL) {
        host->set_error(ctx, "cannot open %s: %s", path, strerror(errno));
        free(c);
        return -1;
    }
    *state = c;
    return 0;
}

/* Called on this instance's own worker thread, never concurrently. */
static int csv_emit(void *state, struct llmbill_sink_batch *b)
{
    struct csv *c = state;

    for (size_t i = 0; i < b->n; i++) {
        const struct llmbill_usage *u = b->events[i];

        fprintf(c->f, "%s,%" PRId64 ",%s,%s,%" PRIu64 ",%" PRIu64 ",%s\n", u->event_id,
                u->timestamp_ms, u->customer_id ? u->customer_id : "", u->model, u->input_tokens,
                u->output_tokens, (u->flags & LLMBILL_USAGE_COST_KNOWN) ? "known" : "unpriced");
    }
    if (fflush(c->f) != 0) {
        snprintf(c->reason, sizeof c->reason, "write: %s", strerror(errno));
        b->reason = c->reason;
        return LLMBILL_SINK_RETRY; /* the core retries with backoff */
    }
    return LLMBILL_SINK_OK;
}

static void csv_destroy(void *state)
{
    struct csv *c = state;

    fclose(c->f);
    free(c);
}

static const struct llmbill_sink_desc csv_desc = {
    .struct_size = sizeof(struct llmbill_sink_desc),
    .abi = LLMBILL_SINK_ABI,
    .name = "csv",
    .version = "1.0.0",
    .description = "append usage as CSV",
    .max_batch = 100,
    .options = csv_options,
    .create = csv_create,
    .emit = csv_emit,
    .destroy = csv_destroy,
};

LLMBILL_SINK_DEFINE(csv_desc)
