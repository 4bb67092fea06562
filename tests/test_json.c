/* The usage JSON form and exact decimals: round trips, escaping, invalid
 * UTF-8, wrong types, unknown keys. */
#include "t.h"
#include "json/jsmn_util.h"
#include "lb.h"

static void decimals(void)
{
    static const struct { const char *in; int64_t out; } ok[] = {
        { "0", 0 }, { "1", 1000000000000LL }, { "0.005615", 5615000000LL },
        { "1.25e-06", 1250000 }, { "2.5E-6", 2500000 }, { "1e-12", 1 }, { "4e-13", 0 },
        { "5e-13", 1 }, { "0.0000000000015", 2 }, { "0.0000000000014999", 1 },
        { "9223372.036854775807", INT64_MAX }, { "-0.5", -500000000000LL }, { "12.", 12000000000000LL },
        { "0.0056150000000000005", 5615000000LL }, { "100e-2", 1000000000000LL },
    };
    static const char *const bad[] = { "", "-", ".", "1e", "abc", "1.2.3", "9223373", "0x10", "1 ", "--1" };
    char buf[64];

    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t v = -42;

        if (llmbill_cost_parse(ok[i].in, strlen(ok[i].in), &v) != 0 || v != ok[i].out) {
            fprintf(stderr, "parse %s -> %lld, want %lld\n", ok[i].in, (long long)v,
                    (long long)ok[i].out);
            exit(1);
        }
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v;

        if (llmbill_cost_parse(bad[i], strlen(bad[i]), &v) != LLMBILL_EINVAL) {
            fprintf(stderr, "parse '%s' should fail\n", bad[i]);
            exit(1);
        }
    }
    CHECK_EQ_INT(llmbill_cost_format(5615000000LL, buf, sizeof buf), 8);
    CHECK(strcmp(buf, "0.005615") == 0);
    llmbill_cost_format(0, buf, sizeof buf);
    CHECK(strcmp(buf, "0") == 0);
    llmbill_cost_format(1, buf, sizeof buf);
    CHECK(strcmp(buf, "0.000000000001") == 0);
    llmbill_cost_format(INT64_MAX, buf, sizeof buf);
    CHECK(strcmp(buf, "9223372.036854775807") == 0);
    llmbill_cost_format(12000000000000LL, buf, sizeof buf);
    CHECK(strcmp(buf, "12") == 0);
    CHECK_EQ_INT(llmbill_cost_format(12000000000000LL, buf, 2), LLMBILL_EINVAL);
    /* summing exact integers stays exact where doubles drift */
    {
        int64_t a, sum = 0;

        llmbill_cost_parse("0.1", 3, &a);
        for (int i = 0; i < 1000; i++)
            sum += a;
        llmbill_cost_format(sum, buf, sizeof buf);
        CHECK(strcmp(buf, "100") == 0);
    }
}

static void round_trip(void)
{
    struct llmbill_kv meta[2] = { { "env", "prod" }, { "note", "line\nbreak \"q\" \\ tab\t \x01 caf\xc3\xa9 \xf0\x9f\x98\x80" } };
    struct llmbill_usage u = LLMBILL_USAGE_INIT, back;
    struct llmbill_kv kv[8];
    char json[2048], copy[2048], why[256];
    int n;

    u.event_id = "01J-abc";
    u.timestamp_ms = 1795732324535LL;
    u.customer_id = "c\"1";
    u.subscription_id = "sub_1";
    u.user_id = "u1";
    u.team_id = "t1";
    u.provider = "anthropic";
    u.model = "claude-sonnet-4-5";
    u.call_type = "chat";
    u.request_id = "req_1";
    u.status = LLMBILL_STATUS_FAILURE;
    u.input_tokens = 1000;
    u.cached_input_tokens = 200;
    u.cache_creation_input_tokens = 100;
    u.output_tokens = 500;
    u.reasoning_tokens = 50;
    u.flags = LLMBILL_USAGE_COST_KNOWN | LLMBILL_USAGE_HAS_LATENCY;
    u.cost = 5615000000LL;
    u.latency_ms = 1234;
    u.n_metadata = 2;
    u.metadata = meta;
    n = llmbill_usage_to_json(&u, json, sizeof json);
    CHECK(n > 0 && (size_t)n == strlen(json));
    CHECK_CONTAINS(json, "{\"event_id\":\"01J-abc\",\"timestamp_ms\":1795732324535,\"customer_id\":\"c\\\"1\"");
    CHECK_CONTAINS(json, "\"status\":\"failure\",\"input_tokens\":1000,\"cached_input_tokens\":200,"
                         "\"cache_creation_input_tokens\":100,\"output_tokens\":500,"
                         "\"reasoning_tokens\":50,\"cost_usd\":0.005615,\"latency_ms\":1234,");
    CHECK_CONTAINS(json, "\"note\":\"line\\nbreak \\\"q\\\" \\\\ tab\\t \\u0001 caf\xc3\xa9 \xf0\x9f\x98\x80\"");
    /* snprintf semantics: a short buffer gets the needed length back */
    CHECK_EQ_INT(llmbill_usage_to_json(&u, copy, 10), n);
    CHECK_EQ_INT(strlen(copy), 9);
    strcpy(copy, json);
    CHECK_EQ_INT(llmbill_usage_from_json(&back, copy, strlen(copy), kv, 8, why, sizeof why), 0);
    CHECK(strcmp(back.event_id, "01J-abc") == 0);
    CHECK(strcmp(back.customer_id, "c\"1") == 0);
    CHECK(strcmp(back.team_id, "t1") == 0);
    CHECK_EQ_INT(back.timestamp_ms, 1795732324535LL);
    CHECK_EQ_INT(back.status, LLMBILL_STATUS_FAILURE);
    CHECK_EQ_INT(back.cache_creation_input_tokens, 100);
    CHECK_EQ_INT(back.reasoning_tokens, 50);
    CHECK_EQ_INT(back.cost, 5615000000LL);
    CHECK(back.flags == (LLMBILL_USAGE_COST_KNOWN | LLMBILL_USAGE_HAS_LATENCY));
    CHECK_EQ_INT(back.latency_ms, 1234);
    CHECK_EQ_INT(back.n_metadata, 2);
    CHECK(strcmp(back.metadata[1].value, meta[1].value) == 0);
    /* and once more: the second encoding is byte-identical */
    {
        char again[2048];

        llmbill_usage_to_json(&back, again, sizeof again);
        CHECK(strcmp(again, json) == 0);
    }
}

static void invalid_utf8_is_replaced(void)
{
    struct llmbill_usage u = LLMBILL_USAGE_INIT;
    char json[512];

    u.model = "m\xff\xc3(x\xed\xa0\x80";
    u.customer_id = "c";
    llmbill_usage_to_json(&u, json, sizeof json);
    CHECK_CONTAINS(json, "\"model\":\"m\xef\xbf\xbd\xef\xbf\xbd(x\xef\xbf\xbd");
}

static void parse_errors(void)
{
    static const struct { const char *json, *msg; } cases[] = {
        { "", "empty line" },
        { "{\"model\":\"x\"", "truncated JSON" },
        { "[1,2]", "expected a JSON object" },
        { "{\"model\":\"x\"} {}", "trailing data after the object" },
        { "{\"input_tokens\":\"12\"}", "input_tokens: expected a non-negative integer" },
        { "{\"input_tokens\":-1}", "input_tokens: expected a non-negative integer" },
        { "{\"input_tokens\":1.5}", "input_tokens: expected a non-negative integer" },
        { "{\"input_tokens\":18446744073709551616}", "input_tokens: expected a non-negative integer" },
        { "{\"model\":5}", "model: expected a string" },
        { "{\"status\":\"ok\"}", "status: expected \"success\" or \"failure\"" },
        { "{\"cost_usd\":\"0.1x\"}", "cost_usd: expected a non-negative decimal number" },
        { "{\"cost_usd\":\"-0.1\"}", "cost_usd: expected a non-negative decimal number" },
        { "{\"cost\":\"\"}", "cost: expected a non-negative decimal number" },
        { "{\"cost_usd\":true}", "cost_usd: expected a non-negative decimal number" },
        { "{\"cost_usd\":-1}", "cost_usd: expected a non-negative decimal number" },
        { "{\"metadata\":{\"a\":1}}", "metadata: value of 'a' is not a string" },
        { "{\"metadata\":[]}", "metadata: expected an object of strings" },
        { "{\"model\":\"a\\qb\"}", "malformed JSON" },
        { "{\"model\":\"a\\u00\"}", "malformed JSON" },
        { "{\"model\":\"a\\ud800\"}", "model: bad escape" },
        { "{\"model\":\"a\\u0000\"}", "model: bad escape" },
        { "{\"cost_usd\":1,\"currency\":\"EUR\"}", "cost_usd: given with currency EUR" },
        { "{\"timestamp_ms\":true}", "timestamp_ms: expected a non-negative integer" },
        /* one value per field: which of two a record means is not guessed */
        { "{\"customer_id\":\"a\",\"model\":\"m\",\"customer_id\":\"b\"}", "customer_id: given twice" },
        { "{\"customer_id\":null,\"customer_id\":\"b\"}", "customer_id: given twice" },
        { "{\"input_tokens\":1,\"input_tokens\":2}", "input_tokens: given twice" },
        { "{\"web_search_requests\":1,\"web_search_requests\":2}", "web_search_requests: given twice" },
        { "{\"cost_usd\":1,\"cost\":\"5\"}", "cost: given twice (as cost_usd or cost)" },
        { "{\"metadata\":{},\"metadata\":{\"a\":\"b\"}}", "metadata: given twice" },
        { "{\"status\":\"success\",\"status\":\"failure\"}", "status: given twice" },
    };
    struct llmbill_kv kv[2];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct llmbill_usage u;
        char buf[256], why[256] = "";

        strcpy(buf, cases[i].json);
        if (llmbill_usage_from_json(&u, buf, strlen(buf), kv, 2, why, sizeof why) != LLMBILL_EINVAL ||
            strstr(why, cases[i].msg) == NULL) {
            fprintf(stderr, "case %zu %s: got '%s', want '%s'\n", i, cases[i].json, why,
                    cases[i].msg);
            exit(1);
        }
    }
    {
        struct llmbill_usage u;
        char buf[256], why[256];

        strcpy(buf, "{\"metadata\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}}");
        CHECK_EQ_INT(llmbill_usage_from_json(&u, buf, strlen(buf), kv, 2, why, sizeof why),
                     LLMBILL_EINVAL);
        CHECK_CONTAINS(why, "more than 2 entries");
    }
}

static void unknown_keys_and_nulls(void)
{
    struct llmbill_usage u;
    struct llmbill_kv kv[2];
    char buf[512], why[256];

    strcpy(buf, " {\"model\":\"gpt\\u00e9\\ud83d\\ude00\",\"extra\":{\"deep\":[1,{\"x\":null}]},"
                "\"customer_id\":null,\"user_id\":\"u\",\"cost\":2,\"currency\":\"EUR\","
                "\"dead_letter\":{\"sink\":\"lago\"}} ");
    CHECK_EQ_INT(llmbill_usage_from_json(&u, buf, strlen(buf), kv, 2, why, sizeof why), 0);
    CHECK(strcmp(u.model, "gpt\xc3\xa9\xf0\x9f\x98\x80") == 0);
    CHECK(u.customer_id == NULL);
    CHECK(strcmp(u.currency, "EUR") == 0);
    CHECK_EQ_INT(u.cost, 2 * LLMBILL_COST_SCALE);
    CHECK_EQ_INT(llmbill_usage_validate(&u, why, sizeof why), 0);
    {
        char out[512];

        llmbill_usage_to_json(&u, out, sizeof out);
        CHECK_CONTAINS(out, "\"cost\":2,\"currency\":\"EUR\"");
    }
    /* a cost as a string holding a decimal (Python's Decimal, JS big numbers): exact */
    strcpy(buf, "{\"model\":\"m\",\"cost_usd\":\"0.123456789012345\"}");
    CHECK_EQ_INT(llmbill_usage_from_json(&u, buf, strlen(buf), kv, 2, why, sizeof why), 0);
    CHECK(u.flags & LLMBILL_USAGE_COST_KNOWN);
    CHECK_EQ_INT(u.cost, 123456789012); /* rounded half away from zero at 10^-12 */
    strcpy(buf, "{\"model\":\"m\",\"cost\":\"1e-3\",\"currency\":\"EUR\"}");
    CHECK_EQ_INT(llmbill_usage_from_json(&u, buf, strlen(buf), kv, 2, why, sizeof why), 0);
    CHECK_EQ_INT(u.cost, LLMBILL_COST_SCALE / 1000);
}

/* The modality and tool counts: JSON out and in, the journal's record
 * (with its optional tail, and without it), and record-time validation. */
static void modality_counts(void)
{
    struct llmbill_usage u = LLMBILL_USAGE_INIT, back, jr;
    struct llmbill_kv kv[4];
    char buf[2048], err[256];
    size_t lens[LB_NSTR];
    unsigned char rec[1024];
    size_t n;

    u.customer_id = "c";
    u.model = "gpt-4o-audio-preview";
    u.input_tokens = 5000;
    u.cached_input_tokens = 2000;
    u.input_audio_tokens = 1710;
    u.cached_audio_tokens = 1200;
    u.input_image_tokens = 1290;
    u.input_video_tokens = 1000;
    u.output_tokens = 900;
    u.output_audio_tokens = 800;
    u.output_image_tokens = 50;
    u.web_search_requests = 3;
    CHECK_EQ_INT(llmbill_usage_validate(&u, err, sizeof err), 0);
    CHECK(llmbill_usage_to_json(&u, buf, sizeof buf) > 0);
    CHECK_CONTAINS(buf, "\"input_audio_tokens\":1710,\"cached_audio_tokens\":1200,"
                        "\"input_image_tokens\":1290,\"input_video_tokens\":1000,"
                        "\"output_audio_tokens\":800,\"output_image_tokens\":50,"
                        "\"web_search_requests\":3");
    CHECK_EQ_INT(llmbill_usage_from_json(&back, buf, strlen(buf), kv, 4, err, sizeof err), 0);
    CHECK(back.input_audio_tokens == 1710 && back.cached_audio_tokens == 1200 &&
          back.input_image_tokens == 1290 && back.input_video_tokens == 1000 &&
          back.output_audio_tokens == 800 && back.output_image_tokens == 50 &&
          back.web_search_requests == 3);
    /* the journal keeps them in a tail, and reads a record without one as zeros */
    for (int i = 0; i < LB_NSTR; i++)
        lens[i] = *lb_usage_str(&u, i) ? strlen(*lb_usage_str(&u, i)) : 0;
    n = lb_jrec_size(&u, lens);
    CHECK(n <= sizeof rec);
    lb_jrec_encode(&u, lens, rec);
    CHECK_EQ_INT(lb_jrec_decode(rec, n, &jr, kv, 4), 0);
    CHECK(jr.cached_audio_tokens == 1200 && jr.web_search_requests == 3 &&
          jr.output_image_tokens == 50);
    CHECK_EQ_INT(lb_jrec_decode(rec, n - 56, &jr, kv, 4), 0);
    CHECK(jr.input_audio_tokens == 0 && jr.web_search_requests == 0 && jr.input_tokens == 5000);
    CHECK_EQ_INT(lb_jrec_decode(rec, n - 8, &jr, kv, 4), -1);
    memset(rec + n - 56, 0, 56); /* a tail of zeros is never written: not canonical */
    CHECK_EQ_INT(lb_jrec_decode(rec, n, &jr, kv, 4), -1);
    /* each count is a part of its total */
    u.input_video_tokens = 1300; /* 510 + 1290 + 1300 > 3000 uncached */
    CHECK_EQ_INT(llmbill_usage_validate(&u, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "input_tokens: must include input_audio_tokens");
    u.input_video_tokens = 1000;
    u.cached_audio_tokens = 2001;
    CHECK_EQ_INT(llmbill_usage_validate(&u, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "cached_audio_tokens");
    u.cached_audio_tokens = 1200;
    u.output_image_tokens = 101;
    CHECK_EQ_INT(llmbill_usage_validate(&u, err, sizeof err), LLMBILL_EINVAL);
    CHECK_CONTAINS(err, "output_tokens: must include");
}

/* A NUL byte inside the given length ends neither the text nor the check for
 * trailing data: what follows it is not silently ignored. */
static void nul_inside_the_text(void)
{
    static const char line[] = "{\"customer_id\":\"c\",\"model\":\"m\"}\0{\"customer_id\":\"x\"}";
    struct llmbill_usage u;
    struct llmbill_kv kv[2];
    char buf[sizeof line], why[256] = "";

    memcpy(buf, line, sizeof line);
    CHECK_EQ_INT(llmbill_usage_from_json(&u, buf, sizeof line - 1, kv, 2, why, sizeof why),
                 LLMBILL_EINVAL);
    CHECK_CONTAINS(why, "NUL byte");
    memcpy(buf, line, sizeof line);
    CHECK_EQ_INT(llmbill_usage_from_json(&u, buf, strlen(line), kv, 2, why, sizeof why), 0);
    CHECK(u.customer_id != NULL && strcmp(u.customer_id, "c") == 0);
}

/* A line of more tokens than the parser's first guess (64) is parsed whole
 * by its second try; past LB_JSON_MAX_TOKENS_LINE it is refused; an error
 * past the first 64 tokens is still found. */
static void many_tokens(void)
{
    static char buf[40000];
    struct llmbill_usage u;
    struct llmbill_kv kv[2];
    char why[256];
    size_t n;

    for (int count = 100; count <= 5000; count += 4900) {
        n = (size_t)sprintf(buf, "{\"customer_id\":\"c\",\"future\":[");
        for (int i = 0; i < count; i++)
            n += (size_t)sprintf(buf + n, "%s%d", i > 0 ? "," : "", i % 10);
        n += (size_t)sprintf(buf + n, "],\"model\":\"m\",\"input_tokens\":7}");
        why[0] = '\0';
        if (count == 100) {
            CHECK_EQ_INT(llmbill_usage_from_json(&u, buf, n, kv, 2, why, sizeof why), 0);
            CHECK(u.model != NULL && strcmp(u.model, "m") == 0);
            CHECK(u.customer_id != NULL && strcmp(u.customer_id, "c") == 0);
            CHECK(u.input_tokens == 7);
        } else {
            CHECK_EQ_INT(llmbill_usage_from_json(&u, buf, n, kv, 2, why, sizeof why),
                         LLMBILL_EINVAL);
            CHECK_CONTAINS(why, "too many JSON values");
        }
    }
    n = (size_t)sprintf(buf, "{\"customer_id\":\"c\",\"future\":[");
    for (int i = 0; i < 100; i++)
        n += (size_t)sprintf(buf + n, "%s%d", i > 0 ? "," : "", i % 10);
    n += (size_t)sprintf(buf + n, "],\"model\":\"a\\qb\"}"); /* a bad escape */
    CHECK_EQ_INT(llmbill_usage_from_json(&u, buf, n, kv, 2, why, sizeof why), LLMBILL_EINVAL);
    CHECK_CONTAINS(why, "malformed JSON");
    n = (size_t)sprintf(buf, "{\"customer_id\":\"c\",\"future\":[");
    for (int i = 0; i < 100; i++)
        n += (size_t)sprintf(buf + n, "%s%d", i > 0 ? "," : "", i % 10);
    CHECK_EQ_INT(llmbill_usage_from_json(&u, buf, n, kv, 2, why, sizeof why), LLMBILL_EINVAL);
    CHECK_CONTAINS(why, "truncated JSON");
}

/* lb_json_flat(): the tokens jsmn makes for the shapes it takes, and -1 for
 * every shape it leaves to jsmn (which then decides, as before). */
static void flat_tokenizer(void)
{
    static const char *const same[] = {
        "{}", " { } ", "{\"a\":1}", "{\"a\":\"\"}", "{\"\":null}",
        "{\"event_id\":\"e1\",\"timestamp_ms\":1795732324535,\"customer_id\":\"sub_1\","
        "\"model\":\"gpt-4o-mini\",\"input_tokens\":1200,\"cost_usd\":0.5e-3,\"x\":true}",
        "{ \"a\" : -1 ,\n\t\"metadata\" : { \"k\" : \"v\", \"n\": 2 }, \"m\":{} }\r\n",
        "{\"a\":1:2}", "{\"a\":tru}", "{\"a\":\"caf\xc3\xa9\"}",
    };
    static const char *const left[] = {
        "", "  ", "[]", "1", "{", "{\"a\":1", "{\"a\":1,}", "{\"a\"}", "{\"a\":}",
        "{\"a\":\"b\\\"c\"}", "{\"a\\n\":1}", "{\"a\":[1]}", "{\"a\":{\"b\":{}}}",
        "{\"a\":1} x", "{\"a\":1}{}", "{\"a\":1 \"b\":2}", "{\"a\":x}", "{\"a\":\"\tb\"}",
        "{\"a\":1]", "{1:2}",
    };
    jsmntok_t a[LB_JSON_FIRST_TOKENS], b[LB_JSON_FIRST_TOKENS];
    char many[1024];
    size_t n;

    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        int len = (int)strlen(same[i]), na = lb_json_flat(same[i], len, a, LB_JSON_FIRST_TOKENS);
        jsmn_parser p;

        jsmn_init(&p);
        if (na <= 0 || jsmn_parse(&p, same[i], (size_t)len, b, LB_JSON_FIRST_TOKENS) != na) {
            fprintf(stderr, "flat: '%s' -> %d\n", same[i], na);
            exit(1);
        }
        for (int k = 0; k < na; k++)
            CHECK(a[k].type == b[k].type && a[k].start == b[k].start && a[k].end == b[k].end &&
                  a[k].size == b[k].size && a[k].parent == b[k].parent);
    }
    for (size_t i = 0; i < sizeof left / sizeof left[0]; i++)
        if (lb_json_flat(left[i], (int)strlen(left[i]), a, LB_JSON_FIRST_TOKENS) != -1) {
            fprintf(stderr, "flat: '%s' should be left to jsmn\n", left[i]);
            exit(1);
        }
    /* more tokens than the buffer: left to jsmn too */
    n = (size_t)sprintf(many, "{");
    for (int i = 0; i < 40; i++)
        n += (size_t)sprintf(many + n, "%s\"k%d\":%d", i ? "," : "", i, i);
    n += (size_t)sprintf(many + n, "}");
    CHECK_EQ_INT(lb_json_flat(many, (int)n, a, LB_JSON_FIRST_TOKENS), -1);
    {
        jsmntok_t big[81];

        CHECK_EQ_INT(lb_json_flat(many, (int)n, big, 81), 81);
    }
}

int main(void)
{
    RUN(flat_tokenizer);
    RUN(modality_counts);
    RUN(decimals);
    RUN(round_trip);
    RUN(invalid_utf8_is_replaced);
    RUN(parse_errors);
    RUN(unknown_keys_and_nulls);
    RUN(nul_inside_the_text);
    RUN(many_tokens);
    printf("test_json: ok\n");
    return 0;
}
