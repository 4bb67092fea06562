/* Hostile input (issue 11 §4): every JSON parser of the core, fed deep
 * nesting and too many values, answers with a reason in bounded stack and
 * memory, never a crash. The parsers run on a thread with a 256 KiB stack,
 * so recursion proportional to the input's depth would overflow it. */
#include <fcntl.h>
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

/* Counts above LLMBILL_TOKENS_MAX (10^12) are refused, so no sum or price
 * of them wraps (input 2^64-1 made Lago's total_tokens 0 and `llmbill price`
 * print a wrapped total). */
static void bounded_counts(void)
{
    struct llmbill_usage u = t_usage("c", "e1");
    struct llmbill_cost_breakdown b;
    llmbill_prices *p;
    char err[256], num[64];
    static const char table[] = "{\"gpt-4o\":{\"input_cost_per_token\":2.5e-6,"
                                "\"output_cost_per_token\":1e-5}}";

    CHECK_EQ_INT(llmbill_prices_load_buffer(&p, table, strlen(table), err, sizeof err), 0);
    memset(&b, 0, sizeof b);
    b.struct_size = sizeof b;
    u.input_tokens = UINT64_MAX;
    CHECK_EQ_INT(llmbill_usage_validate(&u, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "input_tokens: more than 1000000000000 (LLMBILL_TOKENS_MAX)");
    CHECK_EQ_INT(llmbill_price(p, &u, &b, err, sizeof err), LLMBILL_EINVAL);
    u.input_tokens = 100;
    u.output_tokens = LLMBILL_TOKENS_MAX + 1;
    CHECK_EQ_INT(llmbill_usage_validate(&u, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "output_tokens: more than");
    u.output_tokens = 20;
    u.web_search_requests = LLMBILL_TOKENS_MAX + 1;
    CHECK_EQ_INT(llmbill_usage_validate(&u, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "web_search_requests: more than");
    u.web_search_requests = 0;
    /* the bound itself is a valid count and prices exactly; a cost past
     * int64 units (9.2 million USD) is an error, never a wrapped number */
    u.input_tokens = LLMBILL_TOKENS_MAX;
    u.output_tokens = LLMBILL_TOKENS_MAX / 10;
    CHECK_EQ_INT(llmbill_usage_validate(&u, err, sizeof err), 0);
    CHECK_EQ_INT(llmbill_price(p, &u, &b, err, sizeof err), 0);
    llmbill_cost_format(b.total, num, sizeof num);
    CHECK(strcmp(num, "3500000") == 0);
    u.output_tokens = LLMBILL_TOKENS_MAX;
    CHECK_EQ_INT(llmbill_usage_validate(&u, err, sizeof err), 0);
    CHECK_EQ_INT(llmbill_price(p, &u, &b, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "cost out of range");
    llmbill_prices_free(p);
}

/* A NUL byte in the INI is an error with its line, not the rest of the line
 * dropped. */
static void nul_in_ini(void)
{
    const char *dir = t_tmpdir(), *path = t_path(dir, "nul.ini");
    static const char text[] = "[llmbill]\ncallbacks = testsink\n[testsink]\noutput = a\0b\n";
    struct llmbill_open_opts o;
    llmbill *h = NULL;
    char err[512];
    FILE *f = fopen(path, "wb");

    CHECK(f != NULL);
    CHECK_EQ_INT(fwrite(text, 1, sizeof text - 1, f), sizeof text - 1);
    fclose(f);
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.errbuf = err;
    o.errbuf_len = sizeof err;
    CHECK_EQ_INT(llmbill_open(&h, path, &o), LLMBILL_ECONFIG);
    CHECK_CONTAINS(err, "nul.ini:4: a NUL byte in the line");
    CHECK(h == NULL);
    unlink(path);
    rmdir(dir);
}

/* The stdout sink writes control characters of a record's strings as \xNN:
 * no forged line, no terminal escape. */
static void stdout_escapes(void)
{
    const char *dir = t_tmpdir(), *path = t_path(dir, "out.txt");
    struct llmbill_usage u = t_usage("evil\x1b[31m\nFORGED line\xc2\x9b" "2J\\", "e1");
    llmbill *h;
    char err[512], ini[512], *out;
    int saved = dup(2), fd;

    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = stdout\n"
             "[stdout]\nstream = stderr\n", PLUGIN_DIR);
    CHECK_EQ_INT(t_open(&h, ini, err, sizeof err), 0);
    u.model = "gpt\r4o";
    fflush(stderr);
    CHECK((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0);
    CHECK(saved >= 0 && dup2(fd, 2) == 2);
    close(fd);
    CHECK_EQ_INT(llmbill_record(h, &u), 0);
    CHECK_EQ_INT(llmbill_flush(h, 30000), 0);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    llmbill_close(h);
    out = t_read(path);
    CHECK_CONTAINS(out, "customer=evil\\x1b[31m\\x0aFORGED line\\xc2\\x9b2J\\\\ ");
    CHECK_CONTAINS(out, "/gpt\\x0d4o ");
    CHECK_EQ_INT(t_count_lines(out), 1);
    CHECK(strchr(out, '\x1b') == NULL && strchr(out, '\r') == NULL);
    free(out);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    RUN(deep_nesting);
    RUN(too_many_values);
    RUN(bounded_counts);
    RUN(nul_in_ini);
    RUN(stdout_escapes);
    printf("test_hostile: ok\n");
    return 0;
}
