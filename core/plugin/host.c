/* llmbill core: the host services table handed to every sink instance.
 * A sink's llmbill_sink_ctx pointer is its struct lb_sink. */
#include <stdio.h>
#include <string.h>

#include "lb.h"
#include "http.h"

static struct lb_sink *sink_of(llmbill_sink_ctx *ctx)
{
    return (struct lb_sink *)(void *)ctx;
}

static void host_log(llmbill_sink_ctx *ctx, int level, const char *fmt, ...)
{
    struct lb_sink *s = sink_of(ctx);
    char prefix[160];
    va_list ap;

    snprintf(prefix, sizeof prefix, "sink %s", s->name);
    va_start(ap, fmt);
    lb_logv(&s->h->log, level, prefix, fmt, ap);
    va_end(ap);
}

static void host_set_error(llmbill_sink_ctx *ctx, const char *fmt, ...)
{
    struct lb_sink *s = sink_of(ctx);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s->create_error, sizeof s->create_error, fmt, ap);
    va_end(ap);
    lb_redact(&s->h->log, s->create_error, sizeof s->create_error);
}

static const char *host_instance_name(llmbill_sink_ctx *ctx)
{
    return sink_of(ctx)->name;
}

static const struct lb_opt_value *find_opt(llmbill_sink_ctx *ctx, const char *key)
{
    struct lb_sink *s = sink_of(ctx);

    for (size_t i = 0; i < s->nopts; i++)
        if (strcmp(s->opts[i].opt->name, key) == 0)
            return &s->opts[i];
    return NULL;
}

static const char *host_config_get(llmbill_sink_ctx *ctx, const char *key)
{
    const struct lb_opt_value *o = find_opt(ctx, key);

    return o ? o->value : NULL;
}

static const char *host_config_get_path(llmbill_sink_ctx *ctx, const char *key)
{
    const struct lb_opt_value *o = find_opt(ctx, key);

    return o ? (o->path ? o->path : o->value) : NULL;
}

static int host_config_get_int(llmbill_sink_ctx *ctx, const char *key, int64_t *out)
{
    const char *v = host_config_get(ctx, key);

    if (v == NULL || lb_parse_i64(v, INT64_MIN, INT64_MAX, out) != 0)
        return -1;
    return 0;
}

static int host_config_get_bool(llmbill_sink_ctx *ctx, const char *key, int *out)
{
    const char *v = host_config_get(ctx, key);

    if (v == NULL || lb_parse_bool(v, out) != 0)
        return -1;
    return 0;
}

/* snprintf's convention for a cost's text (ABI 1.2). */
static int host_cost_text(int64_t cost, char *buf, size_t cap)
{
    char tmp[LLMBILL_COST_BUFSZ];
    int n = llmbill_cost_format(cost, tmp, sizeof tmp);

    if (n >= 0 && cap > 0)
        snprintf(buf, cap, "%s", tmp);
    return n;
}

static int host_http_check_url(llmbill_sink_ctx *ctx, const char *url, char *err, size_t cap)
{
    return lb_http_check_url(sink_of(ctx), url, err, cap);
}

static int host_http_perform(llmbill_sink_ctx *ctx, const struct llmbill_http_request *req,
                             struct llmbill_http_response *resp)
{
    return lb_http_perform(sink_of(ctx), req, resp);
}

const struct llmbill_host lb_host_table = {
    .struct_size = sizeof(struct llmbill_host),
    .abi = LLMBILL_SINK_ABI,
    .host_version = LLMBILL_VERSION_STRING,
    .log = host_log,
    .set_error = host_set_error,
    .instance_name = host_instance_name,
    .config_get = host_config_get,
    .config_get_int = host_config_get_int,
    .config_get_bool = host_config_get_bool,
    .config_get_path = host_config_get_path,
    .now_ms = lb_now_ms,
    .usage_to_json = llmbill_usage_to_json,
    .cost_format = llmbill_cost_format,
    .json_string = lb_json_string,
    .cost_text = host_cost_text,
    .http_check_url = host_http_check_url,
    .http_perform = host_http_perform,
};
