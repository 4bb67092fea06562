/* llmbill core: shared parts of the response readers (extract.c, stream.c). */
#ifndef LB_EXTRACT_INT_H
#define LB_EXTRACT_INT_H

#include "jsmn_util.h"
#include "llmbill/extract.h"

/* A parsed JSON document. */
struct lb_jdoc {
    const char *js;
    jsmntok_t *t;
    int n;
};

/* Anthropic's raw counts, gathered over message_start and message_delta. */
struct lb_anthropic {
    uint64_t input, cache_read, cache_write, cache_write_1h, output, web_search;
    char tier[32];
};

int lb_jdoc_parse(struct lb_jdoc *d, const char *js, size_t len, char *err, size_t errlen);
void lb_jdoc_free(struct lb_jdoc *d);
/* Shape readers over the object t[obj]: 0 with usage, 1 when the object has
 * none (a stream chunk without it), LLMBILL_EINVAL on a bad count. */
int lb_extract_openai_chat(const struct lb_jdoc *d, int obj, struct llmbill_extracted *x,
                           char *err, size_t errlen);
int lb_extract_openai_responses(const struct lb_jdoc *d, int obj, struct llmbill_extracted *x,
                                char *err, size_t errlen);
int lb_extract_anthropic_usage(const struct lb_jdoc *d, int obj, struct lb_anthropic *a, char *err,
                               size_t errlen);
/* A Messages object (a body, or a stream's message_start.message): model,
 * id and its usage. */
int lb_extract_anthropic_message(const struct lb_jdoc *d, int obj, struct lb_anthropic *a,
                                 struct llmbill_extracted *x, char *err, size_t errlen);
void lb_anthropic_finish(const struct lb_anthropic *a, struct llmbill_extracted *x);
int lb_extract_gemini(const struct lb_jdoc *d, int obj, struct llmbill_extracted *x, char *err,
                      size_t errlen);
int lb_gemini_final(const struct lb_jdoc *d, int obj);
int lb_chat_searched(const struct lb_jdoc *d, int obj);
int lb_extract_bedrock(const struct lb_jdoc *d, int obj, struct llmbill_extracted *x, char *err,
                       size_t errlen);
const char *lb_shape_provider(uint32_t shape);
/* Final checks: a model, consistent counts. */
int lb_extract_check(struct llmbill_extracted *x, char *err, size_t errlen);
uint32_t lb_shape_for(const char *provider);

#endif
