/* llmbill_record() racing llmbill_close() from other threads (a service
 * shutting down with requests in flight): every call returns 0, EFULL or
 * LLMBILL_ECLOSED, never crashes or touches freed memory (run under ASan and
 * TSan), once ECLOSED always ECLOSED (after close returned too), and every
 * event a call accepted is delivered exactly once. With and without the
 * journal, over several rounds. Bounded: a thread makes at most MAX_CALLS
 * calls; close starts once each thread has had MIN_ACCEPTED accepted.
 * "test_close_race gates": the same with the counter gate alone, as where
 * membarrier is missing (core/record_gate.c). */
#include <pthread.h>
#include <stdatomic.h>

#include "t.h"
#include "lb.h"

#define THREADS 4
#define ROUNDS 10
#define MAX_CALLS 1000000
#define MIN_ACCEPTED 50
#define AFTER_CLOSED 100 /* calls a thread still makes once it saw ECLOSED */

static llmbill *h;
static atomic_long accepted[THREADS];
static atomic_int bad;

static void *producer(void *arg)
{
    int t = (int)(long)arg, closed = 0;
    char id[32];

    for (long i = 0; i < MAX_CALLS && closed < AFTER_CLOSED; i++) {
        struct llmbill_usage u = t_usage("acme", id);
        int rc;

        snprintf(id, sizeof id, "t%d-%ld", t, i);
        rc = llmbill_record(h, &u);
        if (rc == 0 && !closed) {
            atomic_fetch_add(&accepted[t], 1);
        } else if (rc == LLMBILL_ECLOSED) {
            closed++;
        } else if (rc == LLMBILL_EFULL && !closed) {
            sched_yield();
        } else {
            fprintf(stderr, "thread %d call %ld: %s%s\n", t, i, llmbill_strerror(rc),
                    closed ? " after ECLOSED" : "");
            atomic_store(&bad, 1);
            return NULL;
        }
    }
    if (!closed) {
        fprintf(stderr, "thread %d: never saw ECLOSED in %d calls\n", t, MAX_CALLS);
        atomic_store(&bad, 1);
    }
    return NULL;
}

static void round_trip(const char *dir, int round, int journal)
{
    char ini[2048], out[512], spool[600] = "", err[1024], want[128], *s;
    pthread_t th[THREADS];
    long total = 0;
    long long t0;

    snprintf(out, sizeof out, "%s/out-%d-%d.txt", dir, journal, round);
    if (journal)
        snprintf(spool, sizeof spool, "spool_dir = %s/spool-%d\n", dir, round);
    snprintf(ini, sizeof ini,
             "[llmbill]\nplugin_dir = %s\ncallbacks = a\nqueue_max = 1024\nlinger_ms = 1\n"
             "shutdown_timeout_ms = 60000\n%s"
             "[a]\nplugin = testsink\noutput = %s\nid_space = %d\nper_thread = %d\n",
             TEST_PLUGIN_DIR, spool, out, THREADS * MAX_CALLS, MAX_CALLS);
    CHECK_EQ_INT(t_open(&h, ini, err, sizeof err), 0);
    for (int t = 0; t < THREADS; t++)
        atomic_store(&accepted[t], 0);
    for (long t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, producer, (void *)t);
    /* close once every thread is recording (60 s: a generous bound) */
    t0 = t_mono_ms();
    for (int t = 0; t < THREADS; t++)
        while (atomic_load(&accepted[t]) < MIN_ACCEPTED && !atomic_load(&bad) &&
               t_mono_ms() - t0 < 60000)
            usleep(100);
    CHECK_EQ_INT(llmbill_close(h), 0);
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        total += atomic_load(&accepted[t]);
    }
    CHECK(!atomic_load(&bad));
    CHECK(total >= THREADS * MIN_ACCEPTED);
    /* the producers' slots (if any) were reused round after round */
    CHECK_EQ_INT(lb_rgate_slots(NULL), lb_rgate_uses_slots() ? THREADS : 0);
    /* every accepted event delivered once, nothing else */
    s = t_read(out);
    snprintf(want, sizeof want, "received=%ld unique=%ld dups=0 other=0 ", total, total);
    CHECK_CONTAINS(s, want);
    free(s);
}

int main(int argc, char **argv)
{
    const char *dir = t_tmpdir();

    if (argc > 1 && strcmp(argv[1], "gates") == 0)
        lb_rgate_force_gates();

    for (int journal = 0; journal < 2; journal++)
        for (int r = 0; r < ROUNDS; r++)
            round_trip(dir, r, journal);
    printf("test_close_race: ok (%s)\n", lb_rgate_uses_slots() ? "slots" : "counter gate");
    return 0;
}
