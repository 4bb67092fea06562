/* The record-vs-close fence (core/record_gate.c, lb_record_enter() in
 * core/lb.h): close waits for a record inside the handle, through the
 * thread's slot and through the counter gate (a nested record); slots of
 * threads that exited are reused, so their number stays at the most
 * threads recording at once; a child of fork() gets the slots of the
 * threads it lacks back, and keeps the membarrier registration. Run as
 * "test_record_gate" (slots where membarrier works) and "test_record_gate
 * gates" (the counter gate alone, as without membarrier). */
#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "t.h"
#include "lb.h"

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

#define BATCH 8                 /* threads recording at once */
#define ROUNDS 40

static const char *dir;
static int gates_only;

static llmbill *open_h(const char *name)
{
    char ini[1024], err[1024];
    llmbill *h;

    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = a\nlinger_ms = 1\n"
             "shutdown_timeout_ms = 60000\n[a]\nplugin = testsink\noutput = %s/%s.txt\n",
             TEST_PLUGIN_DIR, dir, name);
    CHECK_EQ_INT(t_open(&h, ini, err, sizeof err), 0);
    return h;
}

static int record_one(llmbill *h, const char *id)
{
    struct llmbill_usage u = t_usage("acme", id);

    return llmbill_record(h, &u);
}

/* Slots where this kernel lets the process register for membarrier. */
static void takes_the_expected_path(void)
{
    long q = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    int works = q > 0 && (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    llmbill *h = open_h("path");

    CHECK_EQ_INT(lb_rgate_uses_slots(), works && !gates_only);
    CHECK_EQ_INT(record_one(h, "p-1"), 0);
    CHECK(lb_tls_rslot != NULL);
    CHECK_EQ_INT(lb_tls_rslot != &lb_rslot_none, lb_rgate_uses_slots());
    CHECK_EQ_INT(llmbill_close(h), 0);
    printf("record path: %s\n", lb_rgate_uses_slots() ? "slots + membarrier" : "counter gate");
}

struct closer {
    llmbill *h;
    pthread_t th;
    atomic_int done;
    int rc;
};

static void *close_fn(void *arg)
{
    struct closer *c = arg;

    c->rc = llmbill_close(c->h);
    atomic_store(&c->done, 1);
    return NULL;
}

static void *enter_fn(void *arg)
{
    struct lb_inside in;

    return (void *)(long)lb_record_enter(arg, &in);
}

/* Closes h from another thread while this one is inside it (in): close
 * must not return before the leave. A late start of the closer only makes
 * the check weaker, never wrong. */
static void close_waits_for(llmbill *h, struct lb_inside *in)
{
    struct closer c = { .h = h };
    long long t0 = t_mono_ms();
    pthread_t other;
    void *rc;

    pthread_create(&c.th, NULL, close_fn, &c);
    while (!atomic_load(&h->closing) && t_mono_ms() - t0 < 60000)
        usleep(1000);
    CHECK(atomic_load(&h->closing));
    /* a new record (from a thread of its own: its slot, if there are
     * slots) sees closing */
    pthread_create(&other, NULL, enter_fn, h);
    pthread_join(other, &rc);
    CHECK_EQ_INT((long)rc, -1);
    usleep(50 * 1000);
    CHECK_EQ_INT(atomic_load(&c.done), 0);
    lb_record_leave(in);
    pthread_join(c.th, NULL);
    CHECK_EQ_INT(c.rc, 0);
}

/* Inside h1, a nested record into h2 (a logger callback of h1 recording
 * into h2) takes the counter gate; close of either waits for its record. */
static void close_waits_for_slot_and_gate(void)
{
    llmbill *h1 = open_h("outer"), *h2 = open_h("inner");
    struct lb_inside a, b;

    CHECK_EQ_INT(lb_record_enter(h1, &a), 0);
    CHECK_EQ_INT(lb_record_enter(h2, &b), 0);
    CHECK(b.slot == NULL && b.gate != NULL);
    if (lb_rgate_uses_slots()) {
        CHECK(a.slot == lb_tls_rslot);
        CHECK(atomic_load(&a.slot->h) == h1);
        CHECK_EQ_INT(lb_rgate_inside(h1), 1);
    } else {
        CHECK(a.slot == NULL && a.gate != NULL);
    }
    close_waits_for(h2, &b);
    close_waits_for(h1, &a);
    /* closed: ECLOSED, and the slot is left empty */
    CHECK_EQ_INT(record_one(h1, "x-1"), LLMBILL_ECLOSED);
    CHECK(atomic_load(&lb_tls_rslot->h) == NULL || lb_tls_rslot == &lb_rslot_none);
    CHECK_EQ_INT(lb_rgate_inside(h1), 0);
}

static llmbill *batch_h;
static pthread_barrier_t batch_bar;

/* Records once, then stays alive until the whole batch has recorded. */
static void *batch_thread(void *arg)
{
    char id[32];

    snprintf(id, sizeof id, "b-%ld", (long)arg);
    if (record_one(batch_h, id) != 0)
        abort();
    pthread_barrier_wait(&batch_bar);
    return NULL;
}

/* ROUNDS batches of BATCH short-lived threads: the slots of the exited
 * threads are reused, so the list grows by at most BATCH. */
static void slots_are_reused(void)
{
    size_t busy0, busy, before = lb_rgate_slots(&busy0), after;
    pthread_t th[BATCH];

    batch_h = open_h("reuse");
    CHECK(pthread_barrier_init(&batch_bar, NULL, BATCH) == 0);
    for (int r = 0; r < ROUNDS; r++) {
        for (long t = 0; t < BATCH; t++)
            CHECK(pthread_create(&th[t], NULL, batch_thread, (void *)(r * BATCH + t)) == 0);
        for (int t = 0; t < BATCH; t++)
            pthread_join(th[t], NULL);
    }
    pthread_barrier_destroy(&batch_bar);
    after = lb_rgate_slots(&busy);
    CHECK_EQ_INT(busy, busy0);  /* the exited threads gave theirs back */
    CHECK(after <= before + BATCH);
    if (lb_rgate_uses_slots())
        CHECK(after >= BATCH);
    else
        CHECK_EQ_INT(after, 0);
    CHECK_EQ_INT(llmbill_close(batch_h), 0);
}

static pthread_barrier_t fork_bar;

/* Records, then lives until the parent has forked. */
static void *fork_thread(void *arg)
{
    if (record_one(arg, "f") != 0)
        abort();
    pthread_barrier_wait(&fork_bar); /* recorded */
    pthread_barrier_wait(&fork_bar); /* forked */
    return NULL;
}

#ifndef UNDER_TSAN
static void *child_thread(void *arg)
{
    return (void *)(long)record_one(arg, "c");
}
#endif

/* The child's side; exits with the line of the first failed check. */
static void child(size_t total)
{
#define CHILD_CHECK(c) do { if (!(c)) _exit(__LINE__ & 0x7f ? __LINE__ & 0x7f : 1); } while (0)
    size_t busy;
    int own = lb_tls_rslot != NULL && lb_tls_rslot != &lb_rslot_none;

    CHILD_CHECK(lb_rgate_slots(&busy) == total);
    CHILD_CHECK(busy == (size_t)own); /* only the forking thread's slot */
    CHILD_CHECK(lb_rgate_fence() == 0); /* the registration came along */
#ifndef UNDER_TSAN /* TSan: no new threads after a multi-threaded fork */
    {
        llmbill *h = open_h("child");
        pthread_t th[4];
        void *rc;

        CHILD_CHECK(record_one(h, "c-main") == 0);
        for (int t = 0; t < 4; t++)
            CHILD_CHECK(pthread_create(&th[t], NULL, child_thread, h) == 0);
        for (int t = 0; t < 4; t++) {
            pthread_join(th[t], &rc);
            CHILD_CHECK(rc == NULL);
        }
        CHILD_CHECK(lb_rgate_slots(NULL) == total); /* the freed ones reused */
        CHILD_CHECK(llmbill_close(h) == 0);
        CHILD_CHECK(record_one(h, "c-late") == LLMBILL_ECLOSED);
    }
#endif
    _exit(0);
#undef CHILD_CHECK
}

static void fork_frees_absent_threads_slots(void)
{
    llmbill *h = open_h("fork");
    pthread_t th[4];
    size_t busy0, busy, total;
    pid_t pid;
    int st;

    lb_rgate_slots(&busy0);
    CHECK(pthread_barrier_init(&fork_bar, NULL, 5) == 0);
    for (int t = 0; t < 4; t++)
        CHECK(pthread_create(&th[t], NULL, fork_thread, h) == 0);
    pthread_barrier_wait(&fork_bar);
    total = lb_rgate_slots(&busy);
    CHECK_EQ_INT(busy, lb_rgate_uses_slots() ? busy0 + 4 : 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        child(total);
    pthread_barrier_wait(&fork_bar);
    for (int t = 0; t < 4; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&fork_bar);
    CHECK(waitpid(pid, &st, 0) == pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fprintf(stderr, "child: %s %d (exit code: a line number & 0x7f)\n",
                WIFSIGNALED(st) ? "signal" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ_INT(llmbill_close(h), 0);
}

int main(int argc, char **argv)
{
    dir = t_tmpdir();
    gates_only = argc > 1 && strcmp(argv[1], "gates") == 0;
    if (gates_only)
        lb_rgate_force_gates();
    RUN(takes_the_expected_path);
    RUN(close_waits_for_slot_and_gate);
    RUN(slots_are_reused);
    RUN(fork_frees_absent_threads_slots);
    printf("test_record_gate%s: ok\n", gates_only ? " gates" : "");
    return 0;
}
