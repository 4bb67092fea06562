/* Test sink: counts what it receives and fails on command. Loaded by the
 * tests through the real config path. Options:
 *   output PATH        summary written at destroy (received, unique, dups, ...)
 *   per_thread N       event ids "t<T>-<I>" map to slot T*N+I of a bitmap
 *   id_space N         bitmap size (0: no per-id accounting)
 *   fail_times N       the first N emit() calls return RETRY
 *   retry_after_ms N   retry-after reported with RETRY
 *   always retry|error every emit() returns that
 *   reject_customer C  events of customer C get a per-event ERROR
 *   retry_customer C   events of customer C get a per-event RETRY, once
 *   block_file PATH    emit() waits while this file exists
 *   sleep_ms N         emit() sleeps N ms
 *   stall_after N      once N events were received, every emit() returns RETRY
 *   attempts_log PATH  one line per emit(): "attempt n mono_ms deadline_ms"
 *   secret S           a secret option; fail_create echoes it in its error
 *   fail_create BOOL   create() fails
 *   crash_on_id ID     emit() segfaults when the batch holds the event ID
 *   check_block_file PATH  check() waits while this file exists
 * check() answers "check call N", N counting the calls of every instance from 1
 * (testsink_check_calls() returns N: the test knows a check() has begun). */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "llmbill/sink.h"

struct ts {
    const struct llmbill_host *host;
    llmbill_sink_ctx *ctx;
    const char *crash_on_id;
    const char *output, *always, *reject, *retry_cust, *block_file, *attempts_log;
    const char *check_block_file;
    int64_t per_thread, id_space, fail_times, retry_after, sleep_ms, stall_after;
    unsigned char *seen;
    uint64_t received, unique, dups, batches, max_batch, emits, other_ids, retried_cust;
    char reason[128];
};

/* A hook the test can install (dlsym) to run code inside emit(). */
static void (*hook_fn)(void *);
static void *hook_arg;
__attribute__((visibility("default"))) void testsink_set_hook(void (*fn)(void *), void *arg);
void testsink_set_hook(void (*fn)(void *), void *arg)
{
    hook_fn = fn;
    hook_arg = arg;
}

static atomic_uint check_calls;
__attribute__((visibility("default"))) unsigned testsink_check_calls(void);
unsigned testsink_check_calls(void)
{
    return atomic_load(&check_calls);
}

static const struct llmbill_option ts_options[] = {
    { "output", LLMBILL_OPT_PATH, 0, NULL, NULL, "summary file" },
    { "per_thread", LLMBILL_OPT_INT, 0, "0", NULL, "ids per thread" },
    { "id_space", LLMBILL_OPT_INT, 0, "0", NULL, "bitmap size" },
    { "fail_times", LLMBILL_OPT_INT, 0, "0", NULL, "emits that fail first" },
    { "retry_after_ms", LLMBILL_OPT_INT, 0, "0", NULL, "retry-after" },
    { "always", LLMBILL_OPT_STRING, 0, NULL, NULL, "retry or error" },
    { "reject_customer", LLMBILL_OPT_STRING, 0, NULL, NULL, "customer to reject" },
    { "retry_customer", LLMBILL_OPT_STRING, 0, NULL, NULL, "customer to retry once" },
    { "block_file", LLMBILL_OPT_PATH, 0, NULL, NULL, "block while it exists" },
    { "sleep_ms", LLMBILL_OPT_INT, 0, "0", NULL, "sleep per emit" },
    { "stall_after", LLMBILL_OPT_INT, 0, "-1", NULL, "events received before every emit retries" },
    { "attempts_log", LLMBILL_OPT_PATH, 0, NULL, NULL, "log of emits" },
    { "secret", LLMBILL_OPT_STRING, LLMBILL_OPT_SECRET, NULL, "TESTSINK_SECRET", "a secret" },
    { "required_thing", LLMBILL_OPT_STRING, 0, NULL, NULL, "unused" },
    { "fail_create", LLMBILL_OPT_BOOL, 0, "false", NULL, "create fails" },
    { "crash_on_id", LLMBILL_OPT_STRING, 0, NULL, NULL, "segfault on this event" },
    { "check_block_file", LLMBILL_OPT_PATH, 0, NULL, NULL, "check() blocks while it exists" },
    { NULL, 0, 0, NULL, NULL, NULL }
};

static int64_t mono_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int ts_create(const struct llmbill_host *host, llmbill_sink_ctx *ctx, void **state)
{
    struct ts *t = calloc(1, sizeof *t);
    int fail = 0;

    if (t == NULL)
        return -1;
    t->host = host;
    t->ctx = ctx;
    host->config_get_bool(ctx, "fail_create", &fail);
    if (fail) {
        host->set_error(ctx, "refusing to start with secret %s",
                        host->config_get(ctx, "secret") ? host->config_get(ctx, "secret") : "-");
        free(t);
        return -1;
    }
    t->output = host->config_get_path(ctx, "output");
    t->always = host->config_get(ctx, "always");
    t->crash_on_id = host->config_get(ctx, "crash_on_id");
    t->reject = host->config_get(ctx, "reject_customer");
    t->retry_cust = host->config_get(ctx, "retry_customer");
    t->block_file = host->config_get_path(ctx, "block_file");
    t->attempts_log = host->config_get_path(ctx, "attempts_log");
    t->check_block_file = host->config_get_path(ctx, "check_block_file");
    host->config_get_int(ctx, "per_thread", &t->per_thread);
    host->config_get_int(ctx, "id_space", &t->id_space);
    host->config_get_int(ctx, "fail_times", &t->fail_times);
    host->config_get_int(ctx, "retry_after_ms", &t->retry_after);
    host->config_get_int(ctx, "sleep_ms", &t->sleep_ms);
    host->config_get_int(ctx, "stall_after", &t->stall_after);
    if (t->id_space > 0 && (t->seen = calloc((size_t)t->id_space, 1)) == NULL) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static void count(struct ts *t, const struct llmbill_usage *u)
{
    unsigned th, i;
    char tail;

    t->received++;
    if (t->seen && sscanf(u->event_id, "t%u-%u%c", &th, &i, &tail) == 2) {
        uint64_t k = (uint64_t)th * (uint64_t)t->per_thread + i;

        if (k < (uint64_t)t->id_space) {
            if (t->seen[k])
                t->dups++;
            else
                t->unique++;
            t->seen[k] = 1;
            return;
        }
    }
    t->other_ids++;
}

static volatile uintptr_t bad_address = 8;

static int ts_emit(void *state, struct llmbill_sink_batch *b)
{
    struct ts *t = state;
    int partial = 0;

    t->emits++;
    for (size_t i = 0; t->crash_on_id && i < b->n; i++)
        if (b->events[i]->event_id && strcmp(b->events[i]->event_id, t->crash_on_id) == 0)
            *(volatile int *)bad_address = 1; /* a segfault inside emit() (a real one:
                                                 library threads block signals) */
    if (hook_fn)
        hook_fn(hook_arg);
    if (t->attempts_log) {
        FILE *f = fopen(t->attempts_log, "a");

        if (f) {
            fprintf(f, "%u %zu %lld %lld\n", b->attempt, b->n, (long long)mono_ms(),
                    LLMBILL_BATCH_HAS(b, deadline_ms) ? (long long)b->deadline_ms : -1LL);
            fclose(f);
        }
    }
    while (t->block_file && access(t->block_file, F_OK) == 0)
        usleep(2000);
    if (t->sleep_ms > 0)
        usleep((useconds_t)t->sleep_ms * 1000);
    if (t->fail_times > 0) {
        t->fail_times--;
        snprintf(t->reason, sizeof t->reason, "injected failure (%lld left)",
                 (long long)t->fail_times);
        b->reason = t->reason;
        b->retry_after_ms = t->retry_after;
        return LLMBILL_SINK_RETRY;
    }
    if (t->stall_after >= 0 && t->received >= (uint64_t)t->stall_after) {
        b->reason = "stalled";
        return LLMBILL_SINK_RETRY;
    }
    if (t->always && strcmp(t->always, "retry") == 0) {
        b->reason = "always retry";
        b->retry_after_ms = t->retry_after;
        return LLMBILL_SINK_RETRY;
    }
    if (t->always && strcmp(t->always, "error") == 0) {
        b->reason = "always error";
        return LLMBILL_SINK_ERROR;
    }
    for (size_t i = 0; i < b->n; i++) {
        const char *c = b->events[i]->customer_id;

        if (t->reject && c && strcmp(c, t->reject) == 0) {
            b->results[i] = LLMBILL_SINK_ERROR;
            b->reasons[i] = "customer is blocked \"by test\"";
            partial = 1;
        } else if (t->retry_cust && c && strcmp(c, t->retry_cust) == 0 && b->attempt == 0) {
            b->results[i] = LLMBILL_SINK_RETRY;
            b->reasons[i] = "try again";
            t->retried_cust++;
            partial = 1;
        } else {
            count(t, b->events[i]);
        }
    }
    t->batches++;
    if (b->n > t->max_batch)
        t->max_batch = b->n;
    return partial ? LLMBILL_SINK_PARTIAL : LLMBILL_SINK_OK;
}

/* Names its call (runs on the worker thread, as emit() does). */
static int ts_check(void *state, char *msg, size_t cap)
{
    struct ts *t = state;
    unsigned n = atomic_fetch_add(&check_calls, 1) + 1;

    while (t->check_block_file && access(t->check_block_file, F_OK) == 0)
        usleep(2000);
    snprintf(msg, cap, "check call %u", n);
    return 0;
}

static void ts_destroy(void *state)
{
    struct ts *t = state;

    if (t->output) {
        FILE *f = fopen(t->output, "w");

        if (f) {
            fprintf(f, "received=%llu unique=%llu dups=%llu other=%llu batches=%llu max_batch=%llu "
                    "emits=%llu\n", (unsigned long long)t->received, (unsigned long long)t->unique,
                    (unsigned long long)t->dups, (unsigned long long)t->other_ids,
                    (unsigned long long)t->batches, (unsigned long long)t->max_batch,
                    (unsigned long long)t->emits);
            fclose(f);
        }
    }
    free(t->seen);
    free(t);
}

static const struct llmbill_sink_desc ts_desc = {
    .struct_size = sizeof(struct llmbill_sink_desc),
    .abi = LLMBILL_SINK_ABI,
    .name = "testsink",
    .version = "1.2.3",
    .description = "test sink",
    .max_batch = 500,
    .options = ts_options,
    .create = ts_create,
    .emit = ts_emit,
    .destroy = ts_destroy,
    .check = ts_check,
};

LLMBILL_SINK_DEFINE(ts_desc)
