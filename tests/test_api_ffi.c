/* The API for other languages: llmbill_record_json(), llmbill_last_error()
 * (per thread, redacted), llmbill_usage_init(). Events go through the real
 * jsonl plugin and are checked in its ledger. */
#include <pthread.h>

#include "lb.h"
#include "t.h"

static char err[2048];
static const char *dir;

#define HEAD "[llmbill]\nplugin_dir = " PLUGIN_DIR "\nlinger_ms = 5\ncallbacks = j\n"

static llmbill *open_jsonl(const char *ledger, const char *extra)
{
    char ini[2048];
    llmbill *h;

    snprintf(ini, sizeof ini, HEAD "%s[j]\nplugin = jsonl\npath = %s\n", extra, ledger);
    if (t_open(&h, ini, err, sizeof err) != 0) {
        fprintf(stderr, "open failed: %s\n%s\n", err, ini);
        exit(1);
    }
    return h;
}

static void record_json_delivers(void)
{
    const char *ledger = t_path(dir, "json.jsonl");
    llmbill *h = open_jsonl(ledger, "");
    char id[LLMBILL_EVENT_ID_BUFSZ], big[8192];
    char *s;
    /* not NUL-terminated at len: the trailing garbage must not be read */
    const char j1[] = "{\"event_id\":\"e-1\",\"customer_id\":\"acme\",\"model\":\"gpt-4o\","
                      "\"input_tokens\":10,\"output_tokens\":2,\"cost_usd\":\"0.1\"}GARBAGE";

    CHECK_EQ_INT(llmbill_record_json(h, j1, strlen(j1) - 7, id, sizeof id), 0);
    CHECK(strcmp(id, "e-1") == 0);
    /* a number cost, a generated id, metadata */
    {
        const char *j = "{\"customer_id\":\"acme\",\"model\":\"gpt-4o\",\"cost_usd\":1.5e-3,"
                        "\"metadata\":{\"k\":\"v\"}}";

        CHECK_EQ_INT(llmbill_record_json(h, j, strlen(j), id, sizeof id), 0);
        CHECK_EQ_INT(strlen(id), 36); /* a UUIDv7 */
    }
    /* larger than the stack copy: a heap copy */
    {
        int n = snprintf(big, sizeof big, "{\"event_id\":\"e-big\",\"customer_id\":\"acme\","
                         "\"model\":\"gpt-4o\",\"metadata\":{\"pad\":\"");

        memset(big + n, 'x', 4000);
        n += 4000;
        n += snprintf(big + n, sizeof big - (size_t)n, "\"}}");
        CHECK_EQ_INT(llmbill_record_json(h, big, (size_t)n, NULL, 0), 0);
    }
    CHECK_EQ_INT(llmbill_close(h), 0);
    s = t_read(ledger);
    CHECK_EQ_INT(t_count_lines(s), 3);
    CHECK_CONTAINS(s, "\"event_id\":\"e-1\"");
    CHECK_CONTAINS(s, "\"cost_usd\":0.1}"); /* the string "0.1", exactly */
    CHECK_CONTAINS(s, "\"cost_usd\":0.0015,");
    CHECK_CONTAINS(s, "\"k\":\"v\"");
    CHECK_CONTAINS(s, "\"event_id\":\"e-big\"");
    free(s);
}

/* Each failure is refused with nothing recorded, and says why. */
static void record_json_failures_say_why(void)
{
    const char *ledger = t_path(dir, "bad.jsonl");
    llmbill *h = open_jsonl(ledger, "");
    char id[LLMBILL_EVENT_ID_BUFSZ], small[16];
    static const struct { const char *json, *why; } bad[] = {
        { "{\"customer_id\":\"acme\"}", "model: required" },
        { "{\"model\":\"m\"}", "at least one is required" },
        { "{\"customer_id\":\"a\",\"model\":\"m\",\"cost_usd\":\"-1\"}", "cost_usd: expected a non-negative" },
        { "{\"customer_id\":\"a\",\"model\":\"m\",\"cost_usd\":\"abc\"}", "cost_usd" },
        { "{\"customer_id\":\"a\",\"model\":\"m\",\"input_tokens\":\"5\"}", "input_tokens" },
        { "{\"customer_id\":\"a\",\"model\":\"m\",\"input_tokens\":1,\"cached_input_tokens\":5}",
          "must include cached_input_tokens" },
        { "{\"customer_id\":", "truncated JSON" },
        { "[1,2]", "expected a JSON object" },
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        strcpy(id, "untouched");
        CHECK_EQ_INT(llmbill_record_json(h, bad[i].json, strlen(bad[i].json), id, sizeof id),
                     LLMBILL_EINVAL);
        CHECK_CONTAINS(llmbill_last_error(), bad[i].why);
        CHECK(id[0] == '\0');
    }
    CHECK_EQ_INT(t_stats(h, NULL).rejected_invalid, sizeof bad / sizeof bad[0]);
    /* an id buffer that could truncate is refused before recording */
    {
        const char *j = "{\"customer_id\":\"a\",\"model\":\"m\"}";

        CHECK_EQ_INT(llmbill_record_json(h, j, strlen(j), small, sizeof small), LLMBILL_EINVAL);
        CHECK_CONTAINS(llmbill_last_error(), "LLMBILL_EVENT_ID_BUFSZ");
        CHECK_EQ_INT(llmbill_record_json(NULL, j, strlen(j), NULL, 0), LLMBILL_EINVAL);
        CHECK_CONTAINS(llmbill_last_error(), "handle is NULL");
    }
    /* llmbill_record() says which field, too */
    {
        struct llmbill_usage u = t_usage("acme", NULL);

        u.reasoning_tokens = 50;
        CHECK_EQ_INT(llmbill_record(h, &u), LLMBILL_EINVAL);
        CHECK_CONTAINS(llmbill_last_error(), "invalid record: output_tokens: must include reasoning_tokens");
    }
    CHECK_EQ_INT(llmbill_close(h), 0);
    {
        char *s = t_read(ledger);

        CHECK_EQ_INT(t_count_lines(s), 0);
        free(s);
    }
}

/* The reason names the model but never a secret; an open failure lands there too. */
static void last_error_is_redacted(void)
{
    char ini[1024];
    llmbill *h;
    const char *j = "{\"customer_id\":\"acme\",\"model\":\"model-hunter2-secretive\"}";

    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = t\n"
             "[t]\nplugin = testsink\nsecret = hunter2-secretive\n"
             "[pricing]\nfile = %s/data/model_prices.json\nunknown = error\n",
             TEST_PLUGIN_DIR, SOURCE_DIR);
    if (t_open(&h, ini, err, sizeof err) != 0) {
        fprintf(stderr, "open failed: %s\n", err);
        exit(1);
    }
    {
        struct llmbill_pricing_info pi;

        memset(&pi, 0, sizeof pi);
        pi.struct_size = sizeof pi;
        CHECK_EQ_INT(llmbill_get_pricing_info(h, &pi), 0);
        CHECK_EQ_INT(pi.enabled, 1);
        CHECK_CONTAINS(pi.file, "/data/model_prices.json");
        CHECK(pi.models > 1000);
        CHECK(strcmp(pi.unknown, "error") == 0);
        pi.struct_size = 0;
        CHECK_EQ_INT(llmbill_get_pricing_info(h, &pi), LLMBILL_EINVAL);
    }
    CHECK_EQ_INT(llmbill_record_json(h, j, strlen(j), NULL, 0), LLMBILL_ENOPRICE);
    CHECK_CONTAINS(llmbill_last_error(), "no price");
    CHECK_CONTAINS(llmbill_last_error(), "[REDACTED]");
    CHECK_NOT_CONTAINS(llmbill_last_error(), "hunter2-secretive");
    CHECK_EQ_INT(llmbill_close(h), 0);

    /* open: the reason reaches llmbill_last_error() even without an errbuf */
    CHECK(llmbill_open_string(&h, "[llmbill]\ncallbacks = t\nqueue_max = lots\n", NULL) != 0);
    CHECK(h == NULL);
    CHECK_CONTAINS(llmbill_last_error(), "queue_max");
}

/* Two threads fail differently at once; each reads its own reason. */
struct thr {
    llmbill *h;
    const char *json, *want;
    int ok;
};

static void *fail_many(void *arg)
{
    struct thr *t = arg;

    t->ok = 1;
    for (int i = 0; i < 2000; i++) {
        if (llmbill_record_json(t->h, t->json, strlen(t->json), NULL, 0) != LLMBILL_EINVAL ||
            strstr(llmbill_last_error(), t->want) == NULL)
            t->ok = 0;
    }
    return NULL;
}

static void last_error_is_per_thread(void)
{
    llmbill *h = open_jsonl(t_path(dir, "thr.jsonl"), "");
    struct thr a = { h, "{\"customer_id\":\"a\"}", "model: required", 0 };
    struct thr b = { h, "{\"model\":\"m\"}", "at least one is required", 0 };
    pthread_t ta, tb;

    CHECK_EQ_INT(pthread_create(&ta, NULL, fail_many, &a), 0);
    CHECK_EQ_INT(pthread_create(&tb, NULL, fail_many, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(a.ok);
    CHECK(b.ok);
    CHECK_EQ_INT(t_stats(h, NULL).rejected_invalid, 4000);
    CHECK_EQ_INT(llmbill_close(h), 0);
}

/* Pricing off says so; the installed paths are named, other names are not. */
static void pricing_off_and_installed_paths(void)
{
    llmbill *h = open_jsonl(t_path(dir, "off.jsonl"), "");
    struct llmbill_pricing_info pi;

    memset(&pi, 0xff, sizeof pi);
    pi.struct_size = sizeof pi;
    CHECK_EQ_INT(llmbill_get_pricing_info(h, &pi), 0);
    CHECK_EQ_INT(pi.enabled, 0);
    CHECK(pi.file == NULL && pi.models == 0);
    CHECK_EQ_INT(llmbill_close(h), 0);
    CHECK(llmbill_installed_path("plugins") != NULL);
    CHECK_CONTAINS(llmbill_installed_path("prices"), "model_prices.json");
    CHECK(llmbill_installed_path("nope") == NULL);
    CHECK(llmbill_installed_path(NULL) == NULL);
}

static void usage_init_checks_the_size(void)
{
    struct { struct llmbill_usage u; char newer[16]; } big;
    struct llmbill_usage u;

    memset(&u, 0xff, sizeof u);
    CHECK_EQ_INT(llmbill_usage_init(&u, sizeof u), 0);
    CHECK_EQ_INT(u.struct_size, sizeof u);
    CHECK(u.model == NULL && u.input_tokens == 0 && u.cost == 0);
    /* a binding built against a newer header: told, and the tail still zeroed */
    memset(&big, 0xff, sizeof big);
    CHECK_EQ_INT(llmbill_usage_init(&big.u, sizeof big), LLMBILL_EABI);
    CHECK(big.newer[15] == 0);
    /* smaller than the first release's struct */
    CHECK_EQ_INT(llmbill_usage_init(&u, 16), LLMBILL_EINVAL);
    CHECK_EQ_INT(llmbill_usage_init(NULL, sizeof u), LLMBILL_EINVAL);
    /* an older caller's size is accepted (the core zero-fills the rest) */
    CHECK_EQ_INT(llmbill_usage_init(&u, (size_t)llmbill_usage_field_offset("cache_creation_1h_input_tokens")), 0);
    CHECK(LLMBILL_USAGE_HAS(&u, metadata));
    CHECK(!LLMBILL_USAGE_HAS(&u, service_tier));
}

/* the sink host's ABI 1.2 cost_text(): snprintf's convention */
static void host_cost_text(void)
{
    char buf[LLMBILL_COST_BUFSZ], tiny[4];

    CHECK(LLMBILL_HOST_HAS(&lb_host_table, cost_text));
    CHECK_EQ_INT(lb_host_table.cost_text(INT64_MIN + 1, buf, sizeof buf), 21);
    CHECK(strcmp(buf, "-9223372.036854775807") == 0);
    CHECK_EQ_INT(lb_host_table.cost_text(5615000000, tiny, sizeof tiny), 8);
    CHECK(strcmp(tiny, "0.0") == 0); /* truncated, NUL-terminated */
    CHECK_EQ_INT(lb_host_table.cost_text(5615000000, NULL, 0), 8);
    CHECK_EQ_INT(lb_host_table.cost_format(5615000000, tiny, sizeof tiny), -1); /* the old way */
}

int main(void)
{
    dir = t_tmpdir();
    RUN(record_json_delivers);
    RUN(record_json_failures_say_why);
    RUN(last_error_is_redacted);
    RUN(last_error_is_per_thread);
    RUN(pricing_off_and_installed_paths);
    RUN(usage_init_checks_the_size);
    RUN(host_cost_text);
    printf("ok\n");
    return 0;
}
