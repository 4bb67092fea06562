/* llmbill_record() latency (p50, p99, p99.9, max) with 1 and 4 recording
 * threads into a no-op sink, and end-to-end events per second.
 * Run: cmake --build build --target bench */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

#include "llmbill/llmbill.h"
#include "llmbill/price.h"

static double ns_per_tick = 1.0;
static uint64_t timer_ticks;    /* what two back-to-back reads of the clock measure */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

static void calibrate(void)
{
#if defined(__x86_64__)
    double t0 = now_s();
    uint64_t k0 = ticks();
    struct timespec d = { 0, 200000000 };

    nanosleep(&d, NULL);
    ns_per_tick = (now_s() - t0) * 1e9 / (double)(ticks() - k0);
#endif
    {
        /* the timer's own cost, subtracted from every sample: the median
         * of many empty measurements */
        static uint32_t d0[100001];

        for (int i = 0; i < 100001; i++) {
            uint64_t a = ticks(), b = ticks();

            d0[i] = (uint32_t)(b - a);
        }
        qsort(d0, 100001, sizeof d0[0], cmp_u32);
        timer_ticks = d0[50000];
    }
    printf("timer: %.2f ns per tick; %.0f ns per empty measurement, subtracted from every "
           "sample below\n", ns_per_tick, timer_ticks * ns_per_tick);
}


struct job {
    llmbill *h;
    long n;
    uint32_t *lat;              /* ticks per accepted call */
    long full;
    long faults, switches;      /* page faults and context switches while recording */
};

static void *recorder(void *arg)
{
    struct job *j = arg;
    struct rusage ru0, ru1;
    struct llmbill_usage u = LLMBILL_USAGE_INIT;

    u.customer_id = "cust_1234";
    u.provider = "openai";
    u.model = "gpt-4o-mini";
    u.input_tokens = 1200;
    u.cached_input_tokens = 1000;
    u.output_tokens = 250;
    getrusage(RUSAGE_THREAD, &ru0);
    for (long i = 0; i < j->n;) {
        uint64_t t0 = ticks();
        int rc = llmbill_record(j->h, &u);
        uint64_t t1 = ticks(), d;

        if (rc == LLMBILL_EFULL) {
            j->full++;
            continue;
        }
        if (rc != 0) {
            fprintf(stderr, "record: %s\n", llmbill_strerror(rc));
            exit(1);
        }
        d = t1 - t0 > timer_ticks ? t1 - t0 - timer_ticks : 0;
        j->lat[i++] = (uint32_t)(d > UINT32_MAX ? UINT32_MAX : d);
    }
    getrusage(RUSAGE_THREAD, &ru1);
    j->faults = ru1.ru_minflt - ru0.ru_minflt + ru1.ru_majflt - ru0.ru_majflt;
    j->switches = ru1.ru_nivcsw - ru0.ru_nivcsw + ru1.ru_nvcsw - ru0.ru_nvcsw;
    return NULL;
}

static const char *journal_mode; /* NULL, or a durability with a spool */

static llmbill *open_bench(const char *plugin_dir, int sinks)
{
    char ini[1024], err[1024] = "", spool[256] = "";
    struct llmbill_open_opts o;
    llmbill *h;

    if (journal_mode != NULL) {
        char cmd[300];

        snprintf(cmd, sizeof cmd, "rm -rf /var/tmp/llmbill-bench-spool");
        if (system(cmd) != 0)
            exit(1);
        snprintf(spool, sizeof spool, "spool_dir = /var/tmp/llmbill-bench-spool\ndurability = %s\n"
                 "spool_max_bytes = 8000000000\nsegment_bytes = 67108864\n", journal_mode);
    }
    /* the shipped defaults for the queue and batching */
    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = %s\n%s[a]\nplugin = noop\n%s",
             plugin_dir, sinks == 1 ? "a" : "a, b", spool, sinks == 1 ? "" : "[b]\nplugin = noop\n");
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.errbuf = err;
    o.errbuf_len = sizeof err;
    if (llmbill_open_string(&h, ini, &o) != 0) {
        fprintf(stderr, "open: %s\n", err);
        exit(1);
    }
    return h;
}

/* Latency of llmbill_record() from `threads` threads; with cpu >= 0 the
 * recording thread is pinned to that CPU (the sink's worker is not). */
static void latency(const char *plugin_dir, int threads, long per_thread, int cpu)
{
    llmbill *h = open_bench(plugin_dir, 1);
    struct job jobs[8];
    pthread_t th[8];
    uint32_t *all = malloc(sizeof *all * (size_t)(per_thread * threads));
    long full = 0, n = 0, faults = 0, switches = 0;
    double t0, secs, mean, cpu_s, rec_secs;
    struct rusage ru0, ru1;
    /* the host's state on this CPU just before: see bench/reference.c */
    double ref = cpu >= 0 ? reference(cpu, ns_per_tick) : -1;

    memset(all, 0xff, sizeof *all * (size_t)(per_thread * threads)); /* no faults on it later */
    getrusage(RUSAGE_SELF, &ru0);
    t0 = now_s();

    for (int t = 0; t < threads; t++) {
        jobs[t].h = h;
        jobs[t].n = per_thread;
        jobs[t].lat = all + (size_t)t * (size_t)per_thread;
        jobs[t].full = 0;
        pthread_create(&th[t], NULL, recorder, &jobs[t]);
        if (cpu >= 0) {
            cpu_set_t set;

            CPU_ZERO(&set);
            CPU_SET(cpu, &set);
            pthread_setaffinity_np(th[t], sizeof set, &set);
        }
    }
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        full += jobs[t].full;
        faults += jobs[t].faults;
        switches += jobs[t].switches;
    }
    rec_secs = now_s() - t0;
    llmbill_flush(h, -1);
    secs = now_s() - t0;
    getrusage(RUSAGE_SELF, &ru1);
    cpu_s = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec -
                   ru0.ru_stime.tv_sec) + (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec +
                   ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    n = per_thread * threads;
    {
        double sum = 0;

        for (long i = 0; i < n; i++)
            sum += all[i];
        mean = sum / (double)n * ns_per_tick;
    }
    qsort(all, (size_t)n, sizeof *all, cmp_u32);
    if (cpu >= 0)
        printf("[on CPU %d; reference %.0f ns] ", cpu, ref);
    printf("%s%s%srecord latency, %d thread(s), %ld calls: mean %.1f ns, p50 %.0f ns, p99 %.0f ns, p99.9 %.0f ns, "
           "max %.0f ns; %.2f M records/s accepted, %.2f M events/s end to end (%ld EFULL retries; in the callers: %ld page "
           "faults, %ld context switches; CPU %.2f of %.2f s)\n",
           journal_mode ? "[journal, durability = " : "", journal_mode ? journal_mode : "",
           journal_mode ? "] " : "", threads, n, mean, all[n / 2] * ns_per_tick, all[(long)(n * 0.99)] * ns_per_tick,
           all[(long)(n * 0.999)] * ns_per_tick, all[n - 1] * ns_per_tick, n / rec_secs / 1e6, n / secs / 1e6, full, faults, switches, cpu_s, secs);
    if (getenv("BENCH_PCT") != NULL)
        for (double q = 0.05; q < 0.9995; q += 0.05)
            printf("  p%.0f %.0f ns\n", q * 100, all[(long)(n * q)] * ns_per_tick);
    llmbill_close(h);
    free(all);
}

static void throughput(const char *plugin_dir, int sinks, long n)
{
    llmbill *h = open_bench(plugin_dir, sinks);
    struct job j = { h, n, malloc(sizeof(uint32_t) * (size_t)n), 0, 0, 0 };
    double t0 = now_s(), secs;

    recorder(&j);
    llmbill_flush(h, -1);
    secs = now_s() - t0;
    printf("end to end, 1 thread, %d no-op sink(s): %ld events in %.3f s = %.2f M events/s\n",
           sinks, n, secs, n / secs / 1e6);
    llmbill_close(h);
    free(j.lat);
}

/* Loading the full price table, and pricing one event with it. */
static void pricing(const char *table)
{
    struct llmbill_usage u = LLMBILL_USAGE_INIT;
    struct llmbill_cost_breakdown b;
    llmbill_prices *p = NULL;
    char err[256];
    double best = 1e9, t0;
    long n = 2000000;
    int64_t sink = 0;

    for (int i = 0; i < 5; i++) {
        t0 = now_s();
        if (llmbill_prices_load(&p, table, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            return;
        }
        if (now_s() - t0 < best)
            best = now_s() - t0;
        if (i < 4)
            llmbill_prices_free(p);
    }
    printf("price table: %zu models loaded in %.1f ms (best of 5)\n", llmbill_prices_count(p),
           best * 1e3);
    u.customer_id = "c";
    u.provider = "anthropic";
    u.model = "claude-sonnet-4-5";
    u.input_tokens = 12100;
    u.cached_input_tokens = 10000;
    u.cache_creation_input_tokens = 2000;
    u.output_tokens = 500;
    memset(&b, 0, sizeof b);
    b.struct_size = sizeof b;
    t0 = now_s();
    for (long i = 0; i < n; i++) {
        u.output_tokens = 500 + (uint64_t)(i & 7);
        llmbill_price(p, &u, &b, NULL, 0);
        sink += b.total;
    }
    printf("pricing one event (validation included): %.0f ns (checksum %lld)\n",
           (now_s() - t0) * 1e9 / n, (long long)(sink & 1));
    llmbill_prices_free(p);
}

/* Opening a spool with a backlog of n events (the sink is never started):
 * the time should not grow with n. */
static void startup(const char *plugin_dir, long n)
{
    char ini[1024], err[512];
    struct llmbill_open_opts o;
    struct llmbill_usage u = LLMBILL_USAGE_INIT;
    llmbill *h;
    double t0;

    if (system("rm -rf /var/tmp/llmbill-bench-startup") != 0)
        return;
    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = a\n"
             "spool_dir = /var/tmp/llmbill-bench-startup\nsegment_bytes = 4194304\n"
             "spool_max_bytes = 8000000000\n[a]\nplugin = noop\n", plugin_dir);
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.flags = LLMBILL_OPEN_PAUSED;
    o.errbuf = err;
    o.errbuf_len = sizeof err;
    if (llmbill_open_string(&h, ini, &o) != 0) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    u.customer_id = "cust_1234";
    u.model = "gpt-4o-mini";
    u.input_tokens = 1200;
    u.output_tokens = 250;
    for (long i = 0; i < n; i++)
        llmbill_record(h, &u);
    llmbill_close(h);
    /* measured in a fresh process, so both runs start from the same memory state */
    fflush(stdout);
    if (fork() == 0) {
        t0 = now_s();
        if (llmbill_open_string(&h, ini, &o) != 0)
            _exit(1);
        printf("journal startup with a backlog of %ld events: %.1f ms (most of it: touching "
               "the in-memory queue)\n", n, (now_s() - t0) * 1e3);
        llmbill_close(h);
        fflush(stdout);
        _exit(0);
    }
    wait(NULL);
    if (system("rm -rf /var/tmp/llmbill-bench-startup") != 0)
        return;
}

/* Is part `name` wanted? With no part named on the command line, all are. */
static int want(int argc, char **argv, const char *name)
{
    int named = 0;

    for (int i = 2; i < argc; i++) {
        if (strstr(argv[i], ".json") != NULL)
            continue;
        named = 1;
        if (strcmp(argv[i], name) == 0)
            return 1;
    }
    return !named;
}

/* bench_record PLUGIN_DIR [PRICES.json] [memory | memory1 | memory4] [journal] [startup]
 *              [reference] */
int main(int argc, char **argv)
{
    const char *plugin_dir = argc > 1 ? argv[1] : "bench";

    calibrate();
    for (int i = 2; i < argc; i++)
        if (strstr(argv[i], ".json") != NULL)
            pricing(argv[i]);
    if (want(argc, argv, "reference")) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);

        for (int c = 0; c < cpus && c < 8; c++)
            printf("reference (no llmbill code, bench/reference.c), writing on CPU %d: p50 %.0f ns\n",
                   c, reference(c, ns_per_tick));
    }
    if (want(argc, argv, "memory") || want(argc, argv, "memory1")) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);

        latency(plugin_dir, 1, 2000000, -1);   /* warm-up pass is the first 2M as well */
        latency(plugin_dir, 1, 2000000, -1);
        /* CPUs of a virtual machine can differ a lot: each one, pinned */
        for (int c = 0; c < cpus && c < 8; c++)
            latency(plugin_dir, 1, 2000000, c);
    }
    if (want(argc, argv, "memory") || want(argc, argv, "memory4"))
        latency(plugin_dir, 4, 500000, -1);
    if (want(argc, argv, "memory")) {
        throughput(plugin_dir, 1, 4000000);
        throughput(plugin_dir, 2, 4000000);
    }
    if (want(argc, argv, "journal")) {
        journal_mode = "process";
        latency(plugin_dir, 1, 1000000, -1);
        latency(plugin_dir, 4, 250000, -1);
        journal_mode = "fsync";
        latency(plugin_dir, 1, 1000000, -1);
        if (system("rm -rf /var/tmp/llmbill-bench-spool") != 0)
            return 1;
        journal_mode = NULL;
    }
    if (want(argc, argv, "startup")) {
        startup(plugin_dir, 1000);
        startup(plugin_dir, 1000000);
    }
    return 0;
}
