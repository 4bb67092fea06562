/* Hostile input (issue 11 §4): every JSON parser of the core, fed deep
 * nesting and too many values, answers with a reason in bounded stack and
 * memory, never a crash. The parsers run on a thread with a 256 KiB stack,
 * so recursion proportional to the input's depth would overflow it. */
#include <pthread.h>

#include "t.h"
#include "llmbill/extract.h"
#include "llmbill/price.h"

#define DEEP 100000             /* levels: a 200 KB body */
#define CAP_DEPTH 128           /* LB_JSON_MAX_DEPTH */

/* {"model":"gpt-4o","usage":{...},"x":[[...]]} with depth levels in x
 * (the object itself is one more). */
static char *nested(int depth)
{
    static const char head[] = "{\"model\":\"gpt-4o\",\"id\":\"r\",\"user\":\"c\","
                               "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4},\"x\":";
    size_t len = sizeof head - 1 + 2 * (size_t)depth + 2;
    char *s = malloc(len + 1), *p = s;

    CHECK(s != NULL);
    memcpy(p, head, sizeof head - 1);
    p += sizeof head - 1;
    memset(p, '[', (size_t)depth);
    p += depth;
    memset(p, ']', (size_t)depth);
    p += depth;
    strcpy(p, "}");
    return s;
}

/* Every parser on body; 0 when all accept it, else each error is checked to
 * hold want. */
static void all_parsers(const char *body, int accept, const char *want)
{
    struct llmbill_extracted x;
    struct llmbill_usage u;
    struct llmbill_kv kv[8];
    llmbill_prices *p = NULL;
    llmbill_stream *s = NULL;
    char err[256], out[64], *copy = strdup(body), *sse;
    size_t len = strlen(body);
    int rc;

    CHECK(copy != NULL);
    memset(&x, 0, sizeof x);
    x.struct_size = sizeof x;
    err[0] = '\0';
    rc = llmbill_extract("openai", body, len, &x, err, sizeof err);
    CHECK_EQ_INT(rc, accept ? 0 : LLMBILL_EINVAL);
    if (!accept)
        CHECK_CONTAINS(err, want);

    rc = llmbill_json_string_at(body, len, "model", out, sizeof out);
    CHECK_EQ_INT(rc, accept ? 6 : LLMBILL_EINVAL);

    CHECK((sse = malloc(len + 16)) != NULL);
    snprintf(sse, len + 16, "data: %s\n\n", body);
    CHECK_EQ_INT(llmbill_stream_new_for(&s, "openai"), 0);
    err[0] = '\0';
    rc = llmbill_stream_feed(s, sse, strlen(sse), err, sizeof err);
    CHECK_EQ_INT(rc, accept ? 0 : LLMBILL_EINVAL);
    if (!accept)
        CHECK_CONTAINS(err, want);
    llmbill_stream_free(s);
    free(sse);

    /* the usage JSON form has its own, smaller token cap */
    err[0] = '\0';
    rc = llmbill_usage_from_json(&u, copy, len, kv, 8, err, sizeof err);
    if (!accept) {
        CHECK_EQ_INT(rc, LLMBILL_EINVAL);
        CHECK_CONTAINS(err, want);
    }

    err[0] = '\0';
    rc = llmbill_prices_load_buffer(&p, body, len, err, sizeof err);
    if (!accept) {
        CHECK_EQ_INT(rc, LLMBILL_EINVAL);
        CHECK_CONTAINS(err, want);
    }
    llmbill_prices_free(p);
    free(copy);
}

static void *deep_cases(void *arg)
{
    char *body;

    (void)arg;
    /* the deepest accepted: the root object and CAP_DEPTH - 1 arrays */
    body = nested(CAP_DEPTH - 1);
    all_parsers(body, 1, NULL);
    free(body);
    body = nested(CAP_DEPTH);
    all_parsers(body, 0, "nested deeper than 128 levels");
    free(body);
    body = nested(DEEP);
    all_parsers(body, 0, "nested deeper than 128 levels");
    /* unbalanced: only opening brackets */
    body[strlen(body) - DEEP - 1] = '\0';
    all_parsers(body, 0, "nested deeper than 128 levels");
    free(body);
    /* brackets inside strings are not nesting */
    {
        char *s = malloc(DEEP + 64);

        CHECK(s != NULL);
        strcpy(s, "{\"model\":\"");
        memset(s + 10, '[', DEEP);
        strcpy(s + 10 + DEEP, "\",\"usage\":{\"prompt_tokens\":1}}");
        {
            struct llmbill_extracted x;
            char err[256];

            memset(&x, 0, sizeof x);
            x.struct_size = sizeof x;
            /* the model name is cut to the field, but the body parses */
            CHECK_EQ_INT(llmbill_extract("openai", s, strlen(s), &x, err, sizeof err), 0);
            CHECK_EQ_INT(x.input_tokens, 1);
        }
        free(s);
    }
    return NULL;
}

/* On a 256 KiB stack: deep bodies are refused with a reason, not a crash. */
static void deep_nesting(void)
{
    pthread_attr_t a;
    pthread_t t;

    CHECK_EQ_INT(pthread_attr_init(&a), 0);
    CHECK_EQ_INT(pthread_attr_setstacksize(&a, 256 * 1024), 0);
    CHECK_EQ_INT(pthread_create(&t, &a, deep_cases, NULL), 0);
    CHECK_EQ_INT(pthread_join(t, NULL), 0);
    pthread_attr_destroy(&a);
}

/* A body of more than 2^20 values is refused before its tokens are
 * allocated; a usage line of more than 4096. */
static void too_many_values(void)
{
    size_t n = (1u << 20) + 8, len = 16 + 2 * n;
    char *s = malloc(len), *p = s, err[256];
    struct llmbill_extracted x;

    CHECK(s != NULL);
    p += sprintf(p, "{\"x\":[");
    for (size_t i = 0; i < n; i++) {
        *p++ = '0';
        *p++ = ',';
    }
    strcpy(p - 1, "]}");
    memset(&x, 0, sizeof x);
    x.struct_size = sizeof x;
    CHECK_EQ_INT(llmbill_extract("openai", s, strlen(s), &x, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "too many JSON values (more than 1048576)");
    {
        struct llmbill_usage u;
        struct llmbill_kv kv[8];

        s[2 * 5000] = '\0';
        strcpy(s + 2 * 5000 - 4, "0]}");
        CHECK_EQ_INT(llmbill_usage_from_json(&u, s, strlen(s), kv, 8, err, sizeof err),
                     LLMBILL_EINVAL);
        CHECK_CONTAINS(err, "too many JSON values (more than 4096)");
    }
    free(s);
}

int main(void)
{
    RUN(deep_nesting);
    RUN(too_many_values);
    printf("test_hostile: ok\n");
    return 0;
}
