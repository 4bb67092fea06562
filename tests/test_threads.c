/* Eight threads record 1,000,000 events (LLMBILL_TEST_EVENTS to change it);
 * a counting sink must see every one exactly once. Two sinks, so the
 * broadcast ring and per-sink cursors are exercised together. */
#include <pthread.h>

#include "t.h"

#define THREADS 8

static llmbill *h;
static long per_thread;
static unsigned long long full_retries[THREADS];

static void *producer(void *arg)
{
    int t = (int)(long)arg;
    char id[32];

    for (long i = 0; i < per_thread; i++) {
        struct llmbill_usage u = t_usage("acme", id);
        int rc;

        snprintf(id, sizeof id, "t%d-%ld", t, i);
        u.input_tokens = (uint64_t)i;
        while ((rc = llmbill_record(h, &u)) == LLMBILL_EFULL) {
            full_retries[t]++;
            sched_yield();
        }
        if (rc != 0) {
            fprintf(stderr, "record failed: %s\n", llmbill_strerror(rc));
            exit(1);
        }
    }
    return NULL;
}

int main(void)
{
    const char *dir = t_tmpdir();
    const char *env = getenv("LLMBILL_TEST_EVENTS");
    long total = env ? atol(env) : 1000000;
    char ini[2048], out1[512], out2[512], want[128], err[1024];
    pthread_t th[THREADS];
    unsigned long long fulls = 0;
    char *s1, *s2;
    long long t0;

    per_thread = total / THREADS;
    total = per_thread * THREADS;
    snprintf(out1, sizeof out1, "%s/a.txt", dir);
    snprintf(out2, sizeof out2, "%s/b.txt", dir);
    snprintf(ini, sizeof ini,
             "[llmbill]\nplugin_dir = %s\ncallbacks = a, b\nqueue_max = 65536\nlinger_ms = 2\n"
             "shutdown_timeout_ms = 60000\n"
             "[a]\nplugin = testsink\noutput = %s\nid_space = %ld\nper_thread = %ld\n"
             "[b]\nplugin = testsink\noutput = %s\nid_space = %ld\nper_thread = %ld\nbatch_size = 37\n",
             TEST_PLUGIN_DIR, out1, total, per_thread, out2, total, per_thread);
    CHECK_EQ_INT(t_open(&h, ini, err, sizeof err), 0);
    t0 = t_mono_ms();
    for (long t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, producer, (void *)t);
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        fulls += full_retries[t];
    }
    CHECK_EQ_INT(llmbill_flush(h, 120000), 0);
    {
        struct llmbill_stats st;

        memset(&st, 0, sizeof st);
        st.struct_size = sizeof st;
        CHECK_EQ_INT(llmbill_get_stats(h, NULL, &st), 0);
        CHECK_EQ_INT(st.recorded, total);
        CHECK_EQ_INT(st.delivered, 2 * total);
        CHECK_EQ_INT(st.pending, 0);
        CHECK_EQ_INT(st.lost, 0);
        CHECK_EQ_INT(st.rejected_full, fulls);
    }
    CHECK_EQ_INT(llmbill_close(h), 0);
    fprintf(stderr, "%ld events x 2 sinks in %lld ms (%llu EFULL retries)\n", total,
            t_mono_ms() - t0, fulls);
    s1 = t_read(out1);
    s2 = t_read(out2);
    snprintf(want, sizeof want, "received=%ld unique=%ld dups=0 other=0 ", total, total);
    CHECK_CONTAINS(s1, want);
    CHECK_CONTAINS(s2, want);
    CHECK_CONTAINS(s2, "max_batch=37 ");
    free(s1);
    free(s2);
    printf("test_threads: ok\n");
    return 0;
}
