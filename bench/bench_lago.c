/* Lago sink throughput: events per second and client CPU seconds per
 * 100,000 events delivered to a local Lago-compatible endpoint
 * (tests/lago_server.py). The CPU figure counts this process only (the
 * recording thread and the sink's worker), not the server.
 * With MAX_IN_FLIGHT, the sink's max_in_flight is set to it (else its
 * default).
 * usage: bench_lago PLUGIN_DIR SERVER_SCRIPT [EVENTS [MAX_IN_FLIGHT]] */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "llmbill/llmbill.h"
#include "lago_harness.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double user_s, sys_s;

static double cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    return user_s + sys_s;
}

int main(int argc, char **argv)
{
    struct lago_server srv;
    long n = argc > 3 ? atol(argv[3]) : 100000;
    char ini[1024], err[1024] = "", mif[64] = "";
    struct llmbill_open_opts o;
    llmbill *h;
    double t0, c0, u0, secs, cpu;

    if (argc < 3) {
        fprintf(stderr, "usage: bench_lago PLUGIN_DIR SERVER_SCRIPT [EVENTS]\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (lago_server_start(&srv, argv[2], "bench-key") != 0) {
        fprintf(stderr, "cannot start %s\n", argv[2]);
        return 1;
    }
    if (argc > 4)
        snprintf(mif, sizeof mif, "max_in_flight = %s\n", argv[4]);
    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = lago\nqueue_max = 262144\n"
             "linger_ms = 5\n[lago]\napi_base = %s\napi_key = bench-key\nevent_code = llm_usage\n%s",
             argv[1], srv.base, mif);
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.errbuf = err;
    o.errbuf_len = sizeof err;
    if (llmbill_open_string(&h, ini, &o) != 0) {
        fprintf(stderr, "open: %s\n", err);
        lago_server_stop(&srv);
        return 1;
    }
    t0 = now_s();
    c0 = cpu_s();
    u0 = user_s;
    for (long i = 0; i < n; i++) {
        struct llmbill_usage u = LLMBILL_USAGE_INIT;
        char sub[32];

        snprintf(sub, sizeof sub, "sub_%ld", i % 1000);
        u.customer_id = sub;
        u.provider = "openai";
        u.model = "gpt-4o-mini";
        u.input_tokens = 1200;
        u.cached_input_tokens = 1000;
        u.output_tokens = 250;
        while (llmbill_record(h, &u) == LLMBILL_EFULL)
            llmbill_flush(h, 10);
    }
    if (llmbill_flush(h, 600000) != 0)
        fprintf(stderr, "flush timed out\n");
    secs = now_s() - t0;
    cpu = cpu_s() - c0;
    {
        struct llmbill_stats st;

        memset(&st, 0, sizeof st);
        st.struct_size = sizeof st;
        llmbill_get_stats(h, "lago", &st);
        printf("llmbill lago sink%s%s: %ld events delivered (%llu), %.2f s, %.0f events/s, "
               "client CPU %.3f s per 100k events (user %.3f), server stored %ld, "
               "answers p50 %.1f ms\n", argc > 4 ? " max_in_flight " : "", argc > 4 ? argv[4] : "",
               n, (unsigned long long)st.delivered, secs, n / secs, cpu * 100000.0 / n,
               (user_s - u0) * 100000.0 / n, lago_server_stat(&srv, "stored"),
               st.answer_p50_us / 1000.0);
        printf("RATE llmbill_%s %.0f\n", argc > 4 ? argv[4] : "default", n / secs);
        printf("RESULT llmbill %.6f\n", cpu * 100000.0 / n);
    }
    llmbill_close(h);
    lago_server_stop(&srv);
    return 0;
}
