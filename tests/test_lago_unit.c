/* The lago sink's pure parts: the event encoding and the 422 reader. */
#include "t.h"
#include "lb.h"
#include "lago.h"

static struct lago_map map(void)
{
    struct lago_map m;

    memset(&m, 0, sizeof m);
    m.host = &lb_host_table;
    m.event_code = "llm_usage";
    m.charge_by = LAGO_BY_CUSTOMER;
    return m;
}

static void encode(void)
{
    struct lago_map m = map();
    struct llmbill_usage u = t_usage("c\"1\\", "ev-1");
    const struct llmbill_usage *evs[2] = { &u, &u };
    size_t idx[2] = { 0, 1 };
    struct lago_buf b = { NULL, 0, 0, 0 };

    u.timestamp_ms = 1795733171005LL;
    u.flags = LLMBILL_USAGE_COST_KNOWN;
    u.cost = 1;
    m.send_amount = 1;
    lago_encode_batch(&m, evs, idx, 1, &b);
    CHECK(strcmp(b.p, "{\"events\":[{\"transaction_id\":\"ev-1\",\"external_subscription_id\":"
                      "\"c\\\"1\\\\\",\"code\":\"llm_usage\",\"timestamp\":\"1795733171.005\","
                      "\"properties\":{\"model\":\"gpt-4o\",\"provider\":\"openai\","
                      "\"input_tokens\":100,\"output_tokens\":20,\"cached_input_tokens\":0,"
                      "\"cache_creation_input_tokens\":0,\"reasoning_tokens\":0,"
                      "\"total_tokens\":120,\"response_cost\":0.000000000001},"
                      "\"precise_total_amount_cents\":\"0.0000000001\"}]}") == 0);
    b.len = 0;
    lago_encode_batch(&m, evs, idx, 2, &b);
    CHECK_CONTAINS(b.p, "\"0.0000000001\"},{\"transaction_id\":\"ev-1\"");
    /* every digit count the encoder writes: each compared with printf's */
    {
        static const uint64_t nums[] = { 0, 7, 9, 10, 42, 99, 100, 101, 999, 1000, 65536,
                                         123456789, 1000000000000ULL, 999999999999ULL };
        char want[64];

        for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
            u.input_tokens = nums[i];
            u.output_tokens = 0;
            b.len = 0;
            lago_encode_batch(&m, evs, idx, 1, &b);
            snprintf(want, sizeof want, "\"input_tokens\":%llu,", (unsigned long long)nums[i]);
            CHECK_CONTAINS(b.p, want);
            snprintf(want, sizeof want, "\"total_tokens\":%llu,", (unsigned long long)nums[i]);
            CHECK_CONTAINS(b.p, want);
        }
        u.timestamp_ms = 5; /* a second's fraction keeps its three digits */
        b.len = 0;
        lago_encode_batch(&m, evs, idx, 1, &b);
        CHECK_CONTAINS(b.p, "\"timestamp\":\"0.005\"");
    }
    free(b.p);
}

static void cents(void)
{
    char buf[64];

    CHECK(lago_cents(5615000000LL, buf, sizeof buf) > 0 && strcmp(buf, "0.5615") == 0);
    CHECK(lago_cents(1000000000000LL, buf, sizeof buf) > 0 && strcmp(buf, "100") == 0);
    CHECK(lago_cents(12345678901234LL, buf, sizeof buf) > 0 && strcmp(buf, "1234.5678901234") == 0);
    CHECK(lago_cents(0, buf, sizeof buf) > 0 && strcmp(buf, "0") == 0);
    CHECK(lago_cents(10000000000LL, buf, 1) == -1);
}

static void charge_by(void)
{
    struct lago_map m = map();
    struct llmbill_usage u = t_usage("cust", NULL);

    u.user_id = "usr";
    CHECK(strcmp(lago_charge_value(&m, &u), "cust") == 0);
    m.charge_by = LAGO_BY_USER;
    CHECK(strcmp(lago_charge_value(&m, &u), "usr") == 0);
    m.charge_by = LAGO_BY_TEAM;
    CHECK(lago_charge_value(&m, &u) == NULL);
    u.team_id = "";
    CHECK(lago_charge_value(&m, &u) == NULL);
}

/* A 422 whose index 0 holds an error nested in levels arrays (3 objects
 * around them: levels + 3 deep in all). */
static void nested_422(char *out, size_t cap, int levels)
{
    size_t k = (size_t)snprintf(out, cap, "{\"error_details\":{\"0\":{\"x[[[\":");

    for (int d = 0; d < levels && k + 1 < cap; d++)
        out[k++] = '[';
    k += (size_t)snprintf(out + k, cap - k, "\"bad\"");
    for (int d = 0; d < levels && k + 1 < cap; d++)
        out[k++] = ']';
    snprintf(out + k, cap - k, "}}}");
}

static void parse_422(void)
{
    int item[4];
    char reason[4][LAGO_REASON_LEN], deep[1024];
    const char *dups = "{\"status\":422,\"error\":\"Unprocessable Entity\",\"code\":\"validation_errors\","
                       "\"error_details\":{\"1\":{\"transaction_id\":[\"value_already_exist\"]},"
                       "\"3\":{\"transaction_id\":[\"value_already_exist\"]}}}";
    const char *mixed = "{\"error_details\":{\"0\":{\"timestamp\":[\"invalid_format\"]},"
                        "\"2\":{\"transaction_id\":[\"value_is_mandatory\"],\"code\":[\"value_is_mandatory\"]},"
                        "\"3\":\"expression_evaluation_failed: Variable: b not found\"}}";

    CHECK_EQ_INT(lago_parse_422(dups, strlen(dups), 4, item, reason), LAGO_422_PER_INDEX);
    CHECK(item[0] == LAGO_ITEM_NONE && item[1] == LAGO_ITEM_DUP && item[2] == LAGO_ITEM_NONE &&
          item[3] == LAGO_ITEM_DUP);
    CHECK_EQ_INT(lago_parse_422(mixed, strlen(mixed), 4, item, reason), LAGO_422_PER_INDEX);
    CHECK(item[0] == LAGO_ITEM_ERROR && item[1] == LAGO_ITEM_NONE && item[2] == LAGO_ITEM_ERROR);
    CHECK(strcmp(reason[0], "timestamp: invalid_format") == 0);
    CHECK(strcmp(reason[2], "transaction_id: value_is_mandatory; code: value_is_mandatory") == 0);
    CHECK(strcmp(reason[3], "expression_evaluation_failed: Variable: b not found") == 0);
#define KIND(body, want) CHECK_EQ_INT(lago_parse_422(body, strlen(body), 4, item, reason), want)
    KIND("{\"error_details\":{\"events\":[\"too_many_events\"]}}", LAGO_422_TOO_MANY);
    KIND("{\"error_details\":{\"events\":[\"no_events\"]}}", LAGO_422_NO_EVENTS);
    KIND("{\"error_details\":{\"transaction_id\":[\"value_already_exist\"]}}", LAGO_422_UNKNOWN);
    KIND("{\"error_details\":{\"7\":{\"transaction_id\":[\"value_already_exist\"]}}}", LAGO_422_UNKNOWN);
    KIND("{\"error_details\":\"expression_evaluation_failed\"}", LAGO_422_UNKNOWN);
    KIND("<html>oops</html>", LAGO_422_UNKNOWN);
    KIND("{\"error_details\":{\"0\":{\"transaction_id\":[\"value_already_exist\"]}", LAGO_422_UNKNOWN);
    KIND("", LAGO_422_UNKNOWN);
    /* nesting: 32 levels are read; deeper is refused before jsmn runs
     * (brackets inside strings do not count) */
    nested_422(deep, sizeof deep, 29);
    KIND(deep, LAGO_422_PER_INDEX);
    CHECK(item[0] == LAGO_ITEM_ERROR);
    nested_422(deep, sizeof deep, 30);
    KIND(deep, LAGO_422_UNKNOWN);
    nested_422(deep, sizeof deep, 200);
    KIND(deep, LAGO_422_UNKNOWN);
#undef KIND
    /* an index beyond the batch flags nothing (all stay to be resent) */
    CHECK(item[0] == LAGO_ITEM_NONE);
}

int main(void)
{
    RUN(encode);
    RUN(cents);
    RUN(charge_by);
    RUN(parse_422);
    printf("test_lago_unit: ok\n");
    return 0;
}
