/* Out of memory at each allocation in turn, across open, record, flush,
 * stats and close, with and without the journal, through the jsonl and
 * Lago sinks (against tests/lago_server.py) and a test sink that retries
 * and rejects: never a crash, a clear
 * error from open, LLMBILL_ENOMEM (never a silent drop) from record, every
 * accepted event delivered or dead-lettered, and nothing leaked.
 *
 * The test replaces malloc and friends for the whole process (glibc lets a
 * program do that, and its own internal allocations follow), forwarding to
 * glibc's __libc_* allocator. The N-th allocation after arming fails, once.
 * Under ASan or TSan, which own malloc, the test only says it is skipped. */
#include "t.h"
#include "lago_harness.h"
#include "lb.h"

#include <errno.h>
#include <execinfo.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/resource.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define OOM_SKIP 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define OOM_SKIP 1
#endif

#ifndef OOM_SKIP
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t n);

static atomic_long countdown = -1; /* the allocation that fails is the one that sees 0 */
static atomic_long live;           /* blocks handed out and not yet freed */
static atomic_int fired;
static atomic_size_t fail_size;    /* every allocation of this size fails (0: none) */
static atomic_long size_failures;

static int fail_now(size_t n)
{
    size_t want = atomic_load_explicit(&fail_size, memory_order_relaxed);

    if (want != 0 && n == want) {
        atomic_fetch_add(&size_failures, 1);
        errno = ENOMEM;
        return 1;
    }
    if (atomic_load_explicit(&countdown, memory_order_relaxed) < 0)
        return 0;
    if (atomic_fetch_sub(&countdown, 1) != 0)
        return 0;
    atomic_store(&fired, 1);
    errno = ENOMEM; /* as glibc's malloc does */
    if (getenv("OOM_TRACE") != NULL) { /* where the failed allocation was made */
        void *pcs[32];

        backtrace_symbols_fd(pcs, backtrace(pcs, 32), 2);
    }
    return 1;
}

/* The blocks handed out through here, so that free() of a block that some
 * library got elsewhere (the dynamic loader has its own) is not counted.
 * Open addressing; 1 marks a deleted entry. */
#define TRACK (1u << 20)
static uintptr_t tracked[TRACK];
static atomic_flag track_lock = ATOMIC_FLAG_INIT;

static size_t slot_of(uintptr_t p)
{
    return (size_t)((p >> 4) * 0x9E3779B97F4A7C15ull >> 44) & (TRACK - 1);
}

static void track(void *p)
{
    size_t i = slot_of((uintptr_t)p);

    while (atomic_flag_test_and_set_explicit(&track_lock, memory_order_acquire))
        ;
    while (tracked[i] > 1)
        i = (i + 1) & (TRACK - 1);
    tracked[i] = (uintptr_t)p;
    atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
    atomic_flag_clear_explicit(&track_lock, memory_order_release);
}

static void untrack(void *p)
{
    size_t i = slot_of((uintptr_t)p);

    while (atomic_flag_test_and_set_explicit(&track_lock, memory_order_acquire))
        ;
    for (; tracked[i] != 0; i = (i + 1) & (TRACK - 1)) {
        if (tracked[i] == (uintptr_t)p) {
            tracked[i] = 1;
            atomic_fetch_sub_explicit(&live, 1, memory_order_relaxed);
            break;
        }
    }
    atomic_flag_clear_explicit(&track_lock, memory_order_release);
}

static void *counted(void *p)
{
    if (p != NULL)
        track(p);
    return p;
}

void *malloc(size_t n)
{
    return fail_now(n) ? NULL : counted(__libc_malloc(n));
}

void *calloc(size_t n, size_t size)
{
    return fail_now(size != 0 && n <= SIZE_MAX / size ? n * size : 0) ? NULL
                                                                     : counted(__libc_calloc(n, size));
}

void *realloc(void *p, size_t n)
{
    void *q;

    if (p == NULL)
        return malloc(n);
    if (n == 0) {
        free(p);
        return NULL;
    }
    if (fail_now(n))
        return NULL;
    q = __libc_realloc(p, n);
    if (q != NULL && q != p) { /* moved: the old block is gone */
        untrack(p);
        track(q);
    }
    return q;
}

void free(void *p)
{
    if (p != NULL)
        untrack(p);
    __libc_free(p);
}

void *aligned_alloc(size_t align, size_t n)
{
    return fail_now(n) ? NULL : counted(__libc_memalign(align, n));
}

void *memalign(size_t align, size_t n)
{
    return aligned_alloc(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    void *p = aligned_alloc(align, n);

    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

static char dir[256];
static struct lago_server srv;
static long runs;

static void arm(long n)
{
    atomic_store(&fired, 0);
    atomic_store(&countdown, n);
}

static long disarm(void)
{
    atomic_store(&countdown, -1);
    return atomic_load(&fired);
}

static long count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    long n = 0;
    int c;

    if (f == NULL)
        return 0;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* One run with the n-th allocation failing (n < 0: none). Returns whether
 * the failure fired. */
static int run(long n, int journal)
{
    char ini[2048], err[512] = "", ledger[512], dead[512], dead_count[512];
    struct llmbill_open_opts o = { 0 };
    struct llmbill_stats st[3];
    long accepted = 0, stored;
    llmbill *h = NULL;
    int rc;

    snprintf(ledger, sizeof ledger, "%s/ledger.jsonl", dir);
    snprintf(dead, sizeof dead, "%s/dl/ledger.deadletter.jsonl", dir);
    snprintf(dead_count, sizeof dead_count, "%s/dl/count.deadletter.jsonl", dir);
    if (system("true") != 0) /* (keeps system() from allocating for the first time below) */
        exit(1);
    snprintf(ini, sizeof ini,
             "[llmbill]\nplugin_dir = %s\ncallbacks = count, ledger, lago\nlinger_ms = 1\n"
             "queue_max = 64\nretry_base_ms = 1\nretry_max_ms = 2\nshutdown_timeout_ms = 60000\n"
             "dead_letter_dir = %s/dl\n"
             "log_level = error\n%s%s%s"
             "[count]\nplugin = testsink\nfail_times = 2\nreject_customer = rejectme\n"
             "[ledger]\nplugin = %s/jsonl.so\npath = %s\n"
             "[lago]\nplugin = %s/lago.so\napi_base = %s\napi_key = test-key\n"
             "event_code = llm_usage\nmax_in_flight = 2\n",
             TEST_PLUGIN_DIR, dir, journal ? "spool_dir = " : "", journal ? dir : "",
             journal ? "/spool\n" : "", PLUGIN_DIR, ledger, PLUGIN_DIR, srv.base);
    stored = lago_server_stat(&srv, "stored");
    o.struct_size = sizeof o;
    o.errbuf = err;
    o.errbuf_len = sizeof err;

    runs++;
    arm(n);
    rc = llmbill_open_string(&h, ini, &o);
    if (rc != 0) {
        int fired_now = (int)disarm();

        if (!fired_now || (rc != LLMBILL_ENOMEM && rc != LLMBILL_ELOAD && rc != LLMBILL_ESINK &&
                           rc != LLMBILL_EIO && rc != LLMBILL_ESPOOL)) {
            fprintf(stderr, "allocation %ld: open: %s: %s\n", n, llmbill_strerror(rc), err);
            exit(1);
        }
        if (err[0] == '\0' || h != NULL) {
            fprintf(stderr, "allocation %ld: open returned %s with %s\n", n, llmbill_strerror(rc),
                    err[0] ? "a handle" : "no message");
            exit(1);
        }
        return 1;
    }
    for (int i = 0; i < 20; i++) {
        struct llmbill_usage u = LLMBILL_USAGE_INIT;
        char id[64], big[700];
        struct llmbill_kv kv = { "note", big };

        snprintf(id, sizeof id, "oom-%ld-%d-%d", runs, journal, i); /* unique per run */
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        u.event_id = id;
        u.customer_id = i % 7 == 3 ? "rejectme" : "cust"; /* dead-lettered by count */
        u.model = "gpt-4o";
        u.input_tokens = 10;
        u.output_tokens = (uint64_t)i;
        if (i % 4 == 0) { /* too big for a ring slot: built on the heap */
            u.metadata = &kv;
            u.n_metadata = 1;
        }
        rc = llmbill_record(h, &u);
        if (rc == 0)
            accepted++;
        else if (rc != LLMBILL_ENOMEM && !(journal && rc == LLMBILL_ESPOOL)) {
            fprintf(stderr, "allocation %ld: record: %s\n", n, llmbill_strerror(rc));
            exit(1);
        }
    }
    rc = llmbill_flush(h, 60000); /* generous: the outcome matters, not the speed */
    if (rc != 0) {
        fprintf(stderr, "allocation %ld: flush: %s\n", n, llmbill_strerror(rc));
        exit(1);
    }
    for (size_t i = 0; i < 3; i++) {
        st[i].struct_size = sizeof st[i];
        CHECK_EQ_INT(llmbill_get_stats(h, llmbill_sink_name(h, i), &st[i]), 0);
        /* nothing accepted is lost: delivered, or dead-lettered with a reason */
        if ((long)(st[i].delivered + st[i].dead_lettered) != accepted || st[i].pending != 0 ||
            st[i].lost != 0) {
            fprintf(stderr, "allocation %ld (journal %d): sink %zu: accepted %ld, delivered %llu, "
                    "dead-lettered %llu, pending %llu\n", n, journal, i, accepted,
                    (unsigned long long)st[i].delivered, (unsigned long long)st[i].dead_lettered,
                    (unsigned long long)st[i].pending);
            exit(1);
        }
    }
    CHECK_EQ_INT(llmbill_close(h), 0);
    disarm();
    /* the ledger holds what it was sent, the dead-letter files what was not */
    CHECK_EQ_INT(count_lines(ledger), st[1].delivered);
    CHECK_EQ_INT(count_lines(dead), st[1].dead_lettered);
    CHECK_EQ_INT(count_lines(dead_count), st[0].dead_lettered);
    CHECK_EQ_INT(st[2].dead_lettered, 0);
    CHECK_EQ_INT(lago_server_stat(&srv, "stored") - stored, st[2].delivered); /* each once */
    unlink(ledger);
    unlink(dead);
    unlink(dead_count);
    return (int)atomic_load(&fired);
}

static void sweep(int journal)
{
    long base, n, failures = 0, quiet = 0;

    run(-1, journal); /* warm up: first-time allocations of libc and the loader */
    run(-1, journal);
    base = atomic_load(&live);
    for (n = 0;; n++) {
        int fired_now;

        if (journal)
            CHECK(system("rm -rf \"$OOM_DIR/spool\"") == 0);
        fired_now = run(n, journal);
        if (atomic_load(&live) != base) {
            fprintf(stderr, "allocation %ld (journal %d): %ld block(s) leaked\n", n, journal,
                    atomic_load(&live) - base);
            exit(1);
        }
        if (!fired_now && ++quiet == 3)
            break; /* runs need fewer than n + 1 allocations (timing varies a little) */
        if (fired_now) {
            quiet = 0;
            failures++;
        }
    }
    printf("ok   journal %d: each of %ld allocations failed in turn\n", journal, failures);
}

/* A queue too big for the address space: open says so, and nothing is
 * touched. (mmap, not malloc: limited with RLIMIT_AS.) */
static void queue_too_big(void)
{
    struct rlimit old, lim;
    char ini[512], err[512] = "", line[128];
    struct llmbill_open_opts o = { 0 };
    long vm_kb = 0;
    FILE *f = fopen("/proc/self/status", "r");
    llmbill *h = NULL;

    CHECK(f != NULL);
    while (fgets(line, sizeof line, f))
        sscanf(line, "VmSize: %ld kB", &vm_kb);
    fclose(f);
    CHECK(vm_kb > 0);
    CHECK(getrlimit(RLIMIT_AS, &old) == 0);
    lim = old;
    lim.rlim_cur = (rlim_t)(vm_kb + 256 * 1024) * 1024; /* 256 MiB more than now */
    CHECK(setrlimit(RLIMIT_AS, &lim) == 0);
    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = count\n"
             "queue_max = 16777216\n[count]\nplugin = testsink\n", TEST_PLUGIN_DIR);
    o.struct_size = sizeof o;
    o.errbuf = err;
    o.errbuf_len = sizeof err;
    CHECK_EQ_INT(llmbill_open_string(&h, ini, &o), LLMBILL_ENOMEM);
    CHECK(setrlimit(RLIMIT_AS, &old) == 0);
    CHECK(h == NULL);
    CHECK_CONTAINS(err, "out of memory allocating a queue of 16777216 events");
    printf("ok   a queue larger than the address space: %s\n", err);
}

/* Opens spool_dir dir/close-spool with sink t (the testsink with `extra`,
 * or a jsonl ledger when extra is NULL). */
static llmbill *open_close_spool(const char *extra)
{
    char ini[1024];
    llmbill *h = NULL;

    snprintf(ini, sizeof ini,
             "[llmbill]\nplugin_dir = %s\ncallbacks = t\nspool_dir = %s/close-spool\n"
             "linger_ms = 1\nretry_base_ms = 60000\nretry_max_ms = 60000\n"
             "shutdown_timeout_ms = 100\nlog_level = error\n[t]\n%s%s%s%s\n", TEST_PLUGIN_DIR, dir,
             extra ? "plugin = testsink\n" : "plugin = " PLUGIN_DIR "/jsonl.so\npath = ",
             extra ? extra : dir, extra ? "" : "/close-ledger.jsonl", "");
    CHECK_EQ_INT(llmbill_open_string(&h, ini, NULL), 0);
    return h;
}

/* The journal thread that waits for memory for an event too big for a
 * queue slot (the event stays due) does not wait past close: close
 * returns, and the event, still in the journal, is delivered by the next
 * handle. Every allocation of the event's size fails from before the
 * second handle opens until it has closed (close hung there before). */
static void oom_until_close(void)
{
    static char big[3000];
    struct llmbill_kv kv[24];
    char keys[24][8], ledger[512];
    struct llmbill_usage u = LLMBILL_USAGE_INIT;
    struct lb_prepared p;
    long long t0;
    llmbill *h;

    memset(big, 'x', sizeof big - 1);
    for (int i = 0; i < 24; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        kv[i].key = keys[i];
        kv[i].value = big;
    }
    u.event_id = "oom-close-1";
    u.customer_id = "cust";
    u.model = "gpt-4o";
    u.timestamp_ms = 1700000000000;
    u.input_tokens = 10;
    u.metadata = kv;
    u.n_metadata = 24;
    CHECK_EQ_INT(lb_event_prepare(&u, &p), 0);
    CHECK(p.total > LB_SLOT_DATA);
    /* a first handle journals the event and leaves it there: its sink
     * retries, and close does not wait for it */
    h = open_close_spool("always = retry");
    CHECK_EQ_INT(llmbill_record(h, &u), 0);
    CHECK_EQ_INT(llmbill_close(h), LLMBILL_ETIMEDOUT); /* left undelivered */
    atomic_store(&size_failures, 0);
    atomic_store(&fail_size, p.total);
    h = open_close_spool("always = retry");
    t0 = t_mono_ms();
    while (atomic_load(&size_failures) < 3 && t_mono_ms() - t0 < 60000)
        usleep(1000);   /* the journal thread is in its out-of-memory loop */
    CHECK(atomic_load(&size_failures) >= 3);
    alarm(60);          /* close hanging fails the test here, not at ctest's timeout */
    CHECK_EQ_INT(llmbill_close(h), LLMBILL_ETIMEDOUT);
    alarm(0);
    atomic_store(&fail_size, 0);
    h = open_close_spool(NULL);
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK_EQ_INT(llmbill_close(h), 0);
    snprintf(ledger, sizeof ledger, "%s/close-ledger.jsonl", dir);
    CHECK_EQ_INT(count_lines(ledger), 1);
    printf("ok   out of memory for an event until close: close returned, the event stayed "
           "journaled and was delivered next (%ld failed allocations of %zu bytes)\n",
           atomic_load(&size_failures), p.total);
}

int main(void)
{
    void *pc;

    backtrace(&pc, 1); /* loads what backtrace() needs before any failure is armed */
    CHECK_EQ_INT(lago_server_start(&srv, LAGO_SERVER, "test-key"), 0);
    snprintf(dir, sizeof dir, "/tmp/llmbill-oom-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    setenv("OOM_DIR", dir, 1);
    setenv("LLMBILL_PLUGIN_PATH", "/nonexistent/a:/nonexistent/b", 1); /* its parsing is swept too */
    queue_too_big();
    oom_until_close();
    sweep(0);
    sweep(1);
    {
        char cmd[300];

        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
    }
    lago_server_stop(&srv);
    return 0;
}
#else
int main(void)
{
    printf("skipped: the sanitizer owns malloc\n");
    return 0;
}
#endif
