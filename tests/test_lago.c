/* The lago sink against a Lago-compatible server (tests/lago_server.py):
 * N events sent are exactly N events stored, none twice, through outages,
 * resets, 429 storms, slow answers and events Lago already holds; and every
 * response path of the sink. */
#include <pthread.h>

#include "t.h"
#include "lago_harness.h"

static struct lago_server srv;
static char err[2048];
static const char *dir;

#define logbuf (t_logs()->buf)
#define log_mu (t_logs()->mu)
#define capture_log t_capture_log

/* Opens a handle with a [lago] section pointing at the test server. */
static llmbill *open_lago(const char *extra_main, const char *extra_lago)
{
    char ini[4096];
    struct llmbill_open_opts o;
    llmbill *h;
    int rc;

    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = lago\nlinger_ms = 5\n"
             "retry_base_ms = 10\nretry_max_ms = 50\ndead_letter_dir = %s/dl\n%s"
             "[lago]\napi_base = %s\napi_key = test-key\nevent_code = llm_usage\n"
             "%s", PLUGIN_DIR, dir, extra_main, srv.base, extra_lago);
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.errbuf = err;
    o.errbuf_len = sizeof err;
    o.log_cb = capture_log;
    rc = llmbill_open_string(&h, ini, &o);
    if (rc != 0) {
        fprintf(stderr, "open failed: %s\n%s", err, ini);
        exit(1);
    }
    return h;
}

static struct llmbill_stats st(llmbill *h)
{
    struct llmbill_stats s;

    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    CHECK_EQ_INT(llmbill_get_stats(h, "lago", &s), 0);
    return s;
}

static void reset_server(void)
{
    lago_server_stop(&srv);
    CHECK_EQ_INT(lago_server_start(&srv, LAGO_SERVER, "test-key"), 0);
}

/* Records n events with ids PREFIX-<i> (i from first), customer cust. */
static void record_n(llmbill *h, const char *prefix, int first, int n, const char *cust)
{
    for (int i = first; i < first + n; i++) {
        char id[64];
        struct llmbill_usage u = t_usage(cust, id);
        int rc;

        snprintf(id, sizeof id, "%s-%d", prefix, i);
        u.timestamp_ms = 1795733171000LL + i;
        u.input_tokens = 1000 + (uint64_t)i;
        u.cached_input_tokens = 200;
        u.output_tokens = 50;
        u.reasoning_tokens = 10;
        while ((rc = llmbill_record(h, &u)) == LLMBILL_EFULL)
            usleep(1000);
        CHECK_EQ_INT(rc, 0);
    }
}

static long stored(void)
{
    return lago_server_stat(&srv, "stored");
}

static void happy_path_and_mapping(void)
{
    long c0 = lago_server_stat(&srv, "connections");
    /* one batch in flight: the posts take turns on one connection; the
     * batches form at the flush below, not by the clock (linger), so their
     * sizes do not depend on how fast the events were recorded */
    llmbill *h = open_lago("", "send_amount = true\nproperties = plan=pro, region = eu\n"
                           "max_in_flight = 1\nlinger_ms = 600000\n");
    struct llmbill_usage u = t_usage("acme", "one-event");
    char *ev, *stats;

    record_n(h, "hp", 0, 250, "acme");
    u.timestamp_ms = 1795733171582LL;
    u.flags = LLMBILL_USAGE_COST_KNOWN;
    u.cost = 5615000000LL; /* 0.005615 USD */
    u.cache_creation_input_tokens = 7;
    CHECK_EQ_INT(llmbill_record(h, &u), 0);
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK_EQ_INT(st(h).delivered, 251);
    CHECK_EQ_INT(stored(), 251);
    llmbill_close(h);
    stats = lago_server_call(&srv, "/_stats", NULL, NULL);
    CHECK_CONTAINS(stats, "\"batch_sizes\": [100, 100, ");   /* batched, Lago's maximum */
    CHECK_NOT_CONTAINS(stats, ", 101");
    CHECK_CONTAINS(stats, "llmbill/0.1.0 lago-sink/0.1.0");
    free(stats);
    /* one kept-alive connection for all posts (the rest are this test's own calls) */
    CHECK_EQ_INT(lago_server_stat(&srv, "connections") - c0 - 3, 1);
    ev = lago_server_call(&srv, "/api/v1/events/one-event", NULL, "test-key");
    CHECK_CONTAINS(ev, "\"transaction_id\": \"one-event\"");
    CHECK_CONTAINS(ev, "\"code\": \"llm_usage\"");
    CHECK_CONTAINS(ev, "\"external_subscription_id\": \"acme\"");
    CHECK_CONTAINS(ev, "\"timestamp\": \"2026-11-26T22:46:11.582Z\"");
    CHECK_CONTAINS(ev, "\"precise_total_amount_cents\": \"0.5615\"");
    CHECK_CONTAINS(ev, "\"properties\": {\"model\": \"gpt-4o\", \"provider\": \"openai\", "
                       "\"input_tokens\": 100, \"output_tokens\": 20, \"cached_input_tokens\": 0, "
                       "\"cache_creation_input_tokens\": 7, \"reasoning_tokens\": 0, "
                       "\"total_tokens\": 120, \"response_cost\": 0.005615, \"plan\": \"pro\", "
                       "\"region\": \"eu\"}");
    free(ev);
}

static void litellm_style_and_charge_by(void)
{
    llmbill *h;
    struct llmbill_usage u = t_usage("cust-x", "ll-1");
    char *ev, *dl, path[512];

    reset_server();
    h = open_lago("", "property_style = litellm\ncharge_by = team_id\n");
    u.team_id = "team-7";
    CHECK_EQ_INT(llmbill_record(h, &u), 0);
    u.event_id = "ll-no-team";
    u.team_id = NULL;
    CHECK_EQ_INT(llmbill_record(h, &u), 0);
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK_EQ_INT(st(h).delivered, 1);
    CHECK_EQ_INT(st(h).dead_lettered, 1);
    llmbill_close(h);
    ev = lago_server_call(&srv, "/api/v1/events/ll-1", NULL, "test-key");
    CHECK_CONTAINS(ev, "\"external_subscription_id\": \"team-7\"");
    CHECK_CONTAINS(ev, "\"properties\": {\"model\": \"gpt-4o\", \"prompt_tokens\": 100, "
                       "\"completion_tokens\": 20, \"total_tokens\": 120}");
    free(ev);
    snprintf(path, sizeof path, "%s/dl/lago.deadletter.jsonl", dir);
    dl = t_read(path);
    CHECK_CONTAINS(dl, "\"event_id\":\"ll-no-team\"");
    CHECK_CONTAINS(dl, "the record has no team_id (charge_by = team_id)");
    free(dl);
    unlink(path);
}

static void strings_are_escaped(void)
{
    llmbill *h;
    struct llmbill_usage u = t_usage("q\"uo\\te\nnew\x01 \xc3\xbc\xf0\x9f\x98\x80", "esc-1");
    char *all;

    reset_server();
    h = open_lago("", "");
    u.model = "model \"x\"";
    CHECK_EQ_INT(llmbill_record(h, &u), 0);
    u.customer_id = "bad\xff";
    CHECK_EQ_INT(llmbill_record(h, &u), LLMBILL_EINVAL); /* invalid UTF-8 is never sent */
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    llmbill_close(h);
    all = lago_server_call(&srv, "/_events", NULL, NULL);
    /* as Python's json.dumps writes the string the server decoded */
    CHECK_CONTAINS(all, "\"external_subscription_id\": \"q\\\"uo\\\\te\\nnew\\u0001 \\u00fc\\ud83d\\ude00\"");
    CHECK_CONTAINS(all, "\"model\": \"model \\\"x\\\"\"");
    free(all);
}

static void events_lago_already_holds(void)
{
    llmbill *h;

    reset_server();
    h = open_lago("", "");
    record_n(h, "held", 0, 50, "acme");
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    llmbill_close(h);
    CHECK_EQ_INT(stored(), 50);
    /* a second run sends 150, 50 of which Lago has: batches mix old and new */
    h = open_lago("", "");
    record_n(h, "held", 0, 150, "acme");
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK_EQ_INT(st(h).delivered, 150);
    CHECK_EQ_INT(st(h).dead_lettered, 0);
    CHECK_EQ_INT(st(h).lost, 0);
    llmbill_close(h);
    CHECK_EQ_INT(stored(), 150);
    CHECK(lago_server_stat(&srv, "duplicates_flagged") >= 50);
}

static void outage_resets_and_slow_answers(void)
{
    llmbill *h;

    reset_server();
    h = open_lago("", "timeout_ms = 400\n");
    record_n(h, "out", 0, 100, "acme");
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    /* the middle of the stream: 5xx, cut connections (before and after
     * Lago stored the batch), and answers slower than the timeout */
    lago_server_control(&srv, "{\"fail_5xx\": 4, \"reset\": 2, \"reset_after_store\": 2}");
    record_n(h, "out", 100, 300, "acme");
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    lago_server_control(&srv, "{\"slow_ms\": 900}");
    record_n(h, "out", 400, 100, "acme");
    usleep(1500 * 1000);
    lago_server_control(&srv, "{\"slow_ms\": 0}");
    record_n(h, "out", 500, 100, "acme");
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK_EQ_INT(st(h).delivered, 600);
    CHECK_EQ_INT(st(h).dead_lettered, 0);
    CHECK_EQ_INT(st(h).lost, 0);
    CHECK(st(h).retried > 0);
    llmbill_close(h);
    CHECK_EQ_INT(stored(), 600); /* exactly N, none twice */
    CHECK(lago_server_stat(&srv, "duplicates_flagged") >= 100); /* stored-then-cut retried */
}

static void rate_limit_storm(void)
{
    llmbill *h;
    long long t0;

    reset_server();
    h = open_lago("", "");
    lago_server_control(&srv, "{\"rate_limit\": 3, \"retry_after\": \"1\", \"ratelimit_reset\": \"\"}");
    t0 = t_mono_ms();
    record_n(h, "rl", 0, 30, "acme");
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK(t_mono_ms() - t0 >= 3000); /* Retry-After: 1 honoured three times */
    lago_server_control(&srv, "{\"rate_limit\": 1, \"retry_after\": \"\", \"ratelimit_reset\": \"2\"}");
    t0 = t_mono_ms();
    record_n(h, "rl", 30, 30, "acme");
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK(t_mono_ms() - t0 >= 2000); /* X-RateLimit-Reset: 2 */
    CHECK_EQ_INT(st(h).delivered, 60);
    llmbill_close(h);
    CHECK_EQ_INT(stored(), 60);
}

static void per_index_errors_dead_letter_only_those(void)
{
    llmbill *h;
    char path[512], *dl;

    reset_server();
    h = open_lago("", "");
    lago_server_control(&srv, "{\"expression_fail\": \"bad-sub\"}");
    record_n(h, "pi", 0, 10, "acme");
    record_n(h, "pi", 10, 3, "bad-sub");
    record_n(h, "pi", 13, 10, "acme");
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK_EQ_INT(st(h).delivered, 20);
    CHECK_EQ_INT(st(h).dead_lettered, 3);
    llmbill_close(h);
    CHECK_EQ_INT(stored(), 20);
    snprintf(path, sizeof path, "%s/dl/lago.deadletter.jsonl", dir);
    dl = t_read(path);
    CHECK_EQ_INT(t_count_lines(dl), 3);
    CHECK_CONTAINS(dl, "\"event_id\":\"pi-11\"");
    CHECK_CONTAINS(dl, "Lago rejected the event (422): expression_evaluation_failed: Variable: "
                       "tokens not found");
    free(dl);
    unlink(path);
}

static void bad_request_dead_letters(void)
{
    llmbill *h;
    char path[512], *dl;

    reset_server();
    h = open_lago("", "");
    lago_server_control(&srv, "{\"bad_request\": 1}");
    record_n(h, "br", 0, 5, "acme");
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    record_n(h, "br", 5, 5, "acme");
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK_EQ_INT(st(h).dead_lettered, 5);
    CHECK_EQ_INT(st(h).delivered, 5);
    llmbill_close(h);
    snprintf(path, sizeof path, "%s/dl/lago.deadletter.jsonl", dir);
    dl = t_read(path);
    CHECK_CONTAINS(dl, "Lago answered 400: {\\\"status\\\": 400, \\\"error\\\": \\\"Bad Request\\\"}");
    free(dl);
    unlink(path);
}

static void unauthorized_keeps_events(void)
{
    llmbill *h;

    reset_server();
    lago_server_control(&srv, "{\"api_key\": \"another-key\"}");
    logbuf[0] = '\0';
    h = open_lago("", "auth_retry_ms = 300\n");
    record_n(h, "auth", 0, 10, "acme");
    CHECK_EQ_INT(llmbill_flush(h, 800), LLMBILL_ETIMEDOUT);
    CHECK_EQ_INT(st(h).pending, 10);
    CHECK_EQ_INT(st(h).dead_lettered, 0);
    CHECK_EQ_INT(st(h).lost, 0);
    pthread_mutex_lock(&log_mu);
    CHECK_CONTAINS(logbuf, "Lago rejected the API key (HTTP 401 from http://127.0.0.1:");
    CHECK_CONTAINS(logbuf, "check api_key (LAGO_API_KEY)");
    CHECK_NOT_CONTAINS(logbuf, "test-key");
    pthread_mutex_unlock(&log_mu);
    lago_server_control(&srv, "{\"api_key\": \"test-key\"}"); /* the operator fixes it */
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK_EQ_INT(st(h).delivered, 10);
    llmbill_close(h);
    CHECK_EQ_INT(stored(), 10);
}

static void unreachable_server_keeps_events(void)
{
    char ini[2048];
    llmbill *h;
    struct llmbill_sink_info info;

    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = lago\nlinger_ms = 5\n"
             "retry_base_ms = 10\nretry_max_ms = 20\nshutdown_timeout_ms = 100\n"
             "dead_letter_dir = %s/dl-unreach\n"
             "[lago]\napi_base = http://127.0.0.1:1\napi_key = k-secret\nevent_code = c\n",
             PLUGIN_DIR, dir);
    CHECK_EQ_INT(t_open(&h, ini, err, sizeof err), 0);
    record_n(h, "un", 0, 3, "acme");
    CHECK_EQ_INT(llmbill_flush(h, 300), LLMBILL_ETIMEDOUT);
    CHECK_EQ_INT(st(h).pending, 3);
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    llmbill_get_sink_info(h, 0, &info);
    CHECK_CONTAINS(info.last_error, "cannot reach Lago at http://127.0.0.1:1");
    CHECK_EQ_INT(llmbill_close(h), LLMBILL_ETIMEDOUT); /* left for the dead-letter file */
}

static void server_batch_limit_is_learned(void)
{
    llmbill *h;
    char *stats;

    reset_server();
    lago_server_control(&srv, "{\"max_batch\": 10}");
    h = open_lago("", "");
    record_n(h, "tm", 0, 100, "acme");
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK_EQ_INT(st(h).delivered, 100);
    llmbill_close(h);
    CHECK_EQ_INT(stored(), 100);
    stats = lago_server_call(&srv, "/_stats", NULL, NULL);
    {
        /* every accepted batch fits the server's limit; only rejected ones were larger */
        char *p = strstr(stats, "\"batch_sizes\": [") + 16;
        int accepted = 0;

        while (*p && *p != ']') {
            long v = strtol(p, &p, 10);

            if (v <= 10)
                accepted++;
            while (*p == ',' || *p == ' ')
                p++;
        }
        CHECK(accepted >= 10);
        CHECK(lago_server_stat(&srv, "posts") <= 30);
    }
    CHECK_CONTAINS(stats, "\"422\": 4");   /* 100, 50, 25 and 12 were refused, once each */
    free(stats);
}

/* A server that takes 3 events per request and asks for the rest again
 * (batches of 100 take ~40 rounds each): with retry_limit set, rounds that
 * delivered some events are no retries, so nothing is dead-lettered. */
static void small_server_batches_are_no_retries(void)
{
    llmbill *h;
    struct llmbill_stats s;

    reset_server();
    lago_server_control(&srv, "{\"max_batch\": 3}");
    h = open_lago("retry_limit = 1\n", "");
    record_n(h, "sb", 0, 300, "acme");
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    s = st(h);
    CHECK_EQ_INT(s.delivered, 300);
    CHECK_EQ_INT(s.dead_lettered, 0);
    CHECK_EQ_INT(s.retried, 0);
    llmbill_close(h);
    CHECK_EQ_INT(stored(), 300);
    CHECK_EQ_INT(lago_server_stat(&srv, "duplicates_flagged"), 0); /* none sent twice */
}

static void check_reports_endpoint_and_key(void)
{
    llmbill *h;
    char msg[512], ini[1024];

    reset_server();
    h = open_lago("", "");
    CHECK_EQ_INT(llmbill_check_sink(h, 0, msg, sizeof msg, 5000), 0);
    CHECK_CONTAINS(msg, "answered and accepted the API key");
    lago_server_control(&srv, "{\"api_key\": \"rotated\"}");
    CHECK_EQ_INT(llmbill_check_sink(h, 0, msg, sizeof msg, 5000), LLMBILL_ESINK);
    CHECK_CONTAINS(msg, "rejected the API key (401)");
    CHECK_NOT_CONTAINS(msg, "test-key");
    llmbill_close(h);
    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = lago\n[lago]\n"
             "api_base = %s/not-lago\napi_key = rotated\nevent_code = c\n", PLUGIN_DIR, srv.base);
    CHECK_EQ_INT(t_open(&h, ini, err, sizeof err), 0);
    CHECK_EQ_INT(llmbill_check_sink(h, 0, msg, sizeof msg, 5000), LLMBILL_ESINK);
    CHECK_CONTAINS(msg, "no Lago events API at");
    CHECK_CONTAINS(msg, "resource_not_found");
    llmbill_close(h);
}

static void config_errors_and_environment(void)
{
    llmbill *h;
    char ini[1024];

    unsetenv("LAGO_API_BASE");
    unsetenv("LAGO_API_KEY");
    unsetenv("LAGO_API_EVENT_CODE");
    unsetenv("LAGO_API_CHARGE_BY");
    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = lago\n[lago]\n"
             "api_base = %s\nevent_code = c\n", PLUGIN_DIR, srv.base);
    CHECK_EQ_INT(t_open(&h, ini, err, sizeof err), LLMBILL_ECONFIG);
    CHECK_CONTAINS(err, "[lago] api_key: required by plugin lago");
    CHECK_CONTAINS(err, "environment variable LAGO_API_KEY");
    /* LiteLLM's variables fill what the file leaves out */
    setenv("LAGO_API_BASE", srv.base, 1);
    setenv("LAGO_API_KEY", "env-secret-key", 1);
    setenv("LAGO_API_EVENT_CODE", "from_env", 1);
    setenv("LAGO_API_CHARGE_BY", "user_id", 1);
    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = lago\n", PLUGIN_DIR);
    CHECK_EQ_INT(t_open(&h, ini, err, sizeof err), 0);
    llmbill_close(h);
    setenv("LAGO_API_CHARGE_BY", "org_id", 1);
    CHECK_EQ_INT(t_open(&h, ini, err, sizeof err), LLMBILL_ESINK);
    CHECK_CONTAINS(err, "charge_by: 'org_id' is not one of end_user_id, customer_id, user_id");
    unsetenv("LAGO_API_CHARGE_BY");
    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = lago\n[lago]\n"
             "api_base = ftp://x\n", PLUGIN_DIR);
    CHECK_EQ_INT(t_open(&h, ini, err, sizeof err), LLMBILL_ESINK);
    CHECK_CONTAINS(err, "api_base: 'ftp://x' is not an http:// or https:// URL");
    unsetenv("LAGO_API_BASE");
    unsetenv("LAGO_API_KEY");
    unsetenv("LAGO_API_EVENT_CODE");
}

/* Requests that got no HTTP answer (the server gone: connection refused)
 * are counted apart, and neither answer times nor an answer status: the
 * answer times stay those of the server's answers (at least its delay). */
static void transport_failures_are_no_answers(void)
{
    llmbill *h;
    struct llmbill_stats s;
    long long t0;

    reset_server();
    lago_server_control(&srv, "{\"slow_ms\": 100}");
    h = open_lago("shutdown_timeout_ms = 200\n", "");
    record_n(h, "tf", 0, 1, "acme");
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    s = st(h);
    CHECK_EQ_INT(s.requests, 1);
    CHECK_EQ_INT(s.transport_errors, 0);
    CHECK_EQ_INT(s.last_transport_error, 0);
    CHECK_EQ_INT(s.last_status, 200);
    CHECK(s.answer_p50_us >= 100000);
    lago_server_stop(&srv);
    record_n(h, "tf", 1, 1, "acme");
    /* until 4 more requests failed (bounded: 60 s) */
    for (t0 = t_mono_ms(); st(h).requests < 5 && t_mono_ms() - t0 < 60000;)
        usleep(2000);
    s = st(h);
    CHECK(s.requests >= 5);
    CHECK_EQ_INT(s.transport_errors, s.requests - 1);
    CHECK_EQ_INT(s.last_status, 0);
    CHECK_EQ_INT(s.last_transport_error, LLMBILL_HTTP_ECONNECT);
    CHECK(s.answer_p50_us >= 100000); /* the one answer's time, not a failed connect's */
    CHECK(s.answer_p99_us >= 100000);
    CHECK_EQ_INT(llmbill_close(h), LLMBILL_ETIMEDOUT); /* the second event: dead-lettered */
    reset_server();
}

/* Many batches in flight: the posts overlap (never more than
 * max_in_flight), each event is stored once, and the stats show the
 * requests, their answer times (at least the server's delay) and the last
 * status. */
static void many_batches_in_flight(void)
{
    llmbill *h;
    struct llmbill_stats s;
    long conc;

    reset_server();
    lago_server_control(&srv, "{\"slow_ms\": 200}");
    h = open_lago("", "max_in_flight = 6\n");
    record_n(h, "mif", 0, 1600, "acme");
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    s = st(h);
    CHECK_EQ_INT(s.delivered, 1600);
    CHECK(s.requests >= 16);
    CHECK_EQ_INT(s.in_flight, 0);
    CHECK_EQ_INT(s.last_status, 200);
    CHECK(s.answer_p50_us >= 200000);
    CHECK(s.answer_p99_us >= s.answer_p50_us);
    llmbill_close(h);
    CHECK_EQ_INT(stored(), 1600);
    conc = lago_server_stat(&srv, "max_concurrent");
    CHECK(conc >= 2);
    CHECK(conc <= 6);
}

/* A 429 pauses the whole instance: batches assembled meanwhile wait for
 * Retry-After too, so no post reaches the server before it has passed. */
static void rate_limit_pauses_the_instance(void)
{
    llmbill *h;

    reset_server();
    lago_server_control(&srv, "{\"rate_limit\": 1, \"retry_after\": \"2\", "
                              "\"ratelimit_reset\": \"\"}");
    h = open_lago("", "max_in_flight = 8\n");
    record_n(h, "rlp", 0, 100, "acme");
    for (int i = 0; i < 10000 && lago_server_stat(&srv, "posts") < 1; i++)
        usleep(1000);
    record_n(h, "rlp", 100, 300, "acme"); /* three more batches, ready during the pause */
    CHECK_EQ_INT(llmbill_flush(h, 20000), 0);
    CHECK_EQ_INT(st(h).delivered, 400);
    llmbill_close(h);
    CHECK_EQ_INT(stored(), 400);
    CHECK(lago_server_stat(&srv, "gap_after_429_ms") >= 1900);
}

/* A 2xx that is not Lago's answer, and a redirect, are configuration
 * errors: the events are kept and sent again slowly, the log says why (with
 * the Location), and `check` refuses both. */
static void answers_not_from_lago_keep_events(void)
{
    llmbill *h;
    char msg[512];

    reset_server();
    logbuf[0] = '\0';
    lago_server_control(&srv, "{\"not_lago\": 1, \"redirect\": 1}");
    h = open_lago("", "auth_retry_ms = 100\n");
    record_n(h, "nl", 0, 10, "acme");
    CHECK_EQ_INT(llmbill_flush(h, 10000), 0);
    CHECK_EQ_INT(st(h).delivered, 10);
    CHECK_EQ_INT(st(h).dead_lettered, 0);
    CHECK(st(h).retried >= 20);
    pthread_mutex_lock(&log_mu);
    CHECK_CONTAINS(logbuf, "answered 200 with a body that is not Lago's");
    CHECK_CONTAINS(logbuf, "Welcome to nginx");
    CHECK_CONTAINS(logbuf, "answered 301, a redirect to "
                           "https://elsewhere.example/api/v1/events/batch, which is not followed");
    pthread_mutex_unlock(&log_mu);
    lago_server_control(&srv, "{\"not_lago\": 1}");
    CHECK_EQ_INT(llmbill_check_sink(h, 0, msg, sizeof msg, 5000), LLMBILL_ESINK);
    CHECK_CONTAINS(msg, "answered 200 but not as Lago's events API does");
    lago_server_control(&srv, "{\"redirect\": 1}");
    CHECK_EQ_INT(llmbill_check_sink(h, 0, msg, sizeof msg, 5000), LLMBILL_ESINK);
    CHECK_CONTAINS(msg, "a redirect to https://elsewhere.example/");
    CHECK_EQ_INT(llmbill_check_sink(h, 0, msg, sizeof msg, 5000), 0);
    llmbill_close(h);
    CHECK_EQ_INT(stored(), 10);
}

/* Plain http:// to a host other than loopback would send the key in
 * cleartext: refused at open unless allow_insecure_http = true. */
static void cleartext_http_refused(void)
{
    char ini[1024];
    llmbill *h;

    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = lago\n[lago]\n"
             "api_base = http://billing.example.com\napi_key = k-secret\nevent_code = c\n",
             PLUGIN_DIR);
    CHECK_EQ_INT(t_open(&h, ini, err, sizeof err), LLMBILL_ESINK);
    CHECK_CONTAINS(err, "plain http:// to billing.example.com would send the API key in "
                        "cleartext");
    CHECK_CONTAINS(err, "allow_insecure_http = true");
    strcat(ini, "allow_insecure_http = true\n");
    CHECK_EQ_INT(t_open(&h, ini, err, sizeof err), 0);
    llmbill_close(h);
    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = lago\n[lago]\n"
             "api_base = http://localhost:1\napi_key = k-secret\nevent_code = c\n", PLUGIN_DIR);
    CHECK_EQ_INT(t_open(&h, ini, err, sizeof err), 0); /* loopback */
    llmbill_close(h);
}

int main(void)
{
    dir = strdup(t_tmpdir());
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CHECK_EQ_INT(lago_server_start(&srv, LAGO_SERVER, "test-key"), 0);
    RUN(happy_path_and_mapping);
    RUN(litellm_style_and_charge_by);
    RUN(strings_are_escaped);
    RUN(events_lago_already_holds);
    RUN(outage_resets_and_slow_answers);
    RUN(rate_limit_storm);
    RUN(per_index_errors_dead_letter_only_those);
    RUN(bad_request_dead_letters);
    RUN(unauthorized_keeps_events);
    RUN(unreachable_server_keeps_events);
    RUN(server_batch_limit_is_learned);
    RUN(small_server_batches_are_no_retries);
    RUN(check_reports_endpoint_and_key);
    RUN(config_errors_and_environment);
    RUN(many_batches_in_flight);
    RUN(transport_failures_are_no_answers);
    RUN(rate_limit_pauses_the_instance);
    RUN(answers_not_from_lago_keep_events);
    RUN(cleartext_http_refused);
    lago_server_stop(&srv);
    printf("test_lago: ok\n");
    return 0;
}
