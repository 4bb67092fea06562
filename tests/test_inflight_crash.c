/* Journal positions with many batches in flight: a sink's position on disk
 * is the end of the oldest batch not yet finished, whatever order the
 * answers come in, so a process killed with SIGKILL while 16 batches are
 * in flight re-sends, after a restart, at most those 16 batches of events
 * that Lago already had, and in the end Lago holds each event exactly once.
 *
 * The child records N events into a journal and delivers them to a
 * Lago-compatible server (tests/lago_server.py) that answers out of order
 * (a random delay after storing each batch). Once a third is stored, the
 * server holds the next post unanswered and answers the rest; once the batches
 * after it fill the window the child is killed. A restart from the same
 * spool must bring Lago to exactly the N events, re-sending at most 16 x 20
 * events Lago had already stored (and some: those finished after the held
 * one). Bounded counts; the waits are generous timeouts. */
#include <signal.h>
#include <sys/wait.h>

#include "t.h"
#include "lago_harness.h"

#define N_EVENTS 3000
#define BATCH 20
#define IN_FLIGHT 16

static struct lago_server srv;
static char err[2048];
static const char *dir;

static void config(char *ini, size_t cap)
{
    snprintf(ini, cap, "[llmbill]\nplugin_dir = %s\ncallbacks = lago\nlinger_ms = 1\n"
             "retry_base_ms = 10\nretry_max_ms = 50\nspool_dir = %s/spool\n"
             "dead_letter_dir = %s/dl\n[lago]\napi_base = %s\napi_key = k\nevent_code = c\n"
             "batch_size = %d\nmax_in_flight = %d\ntimeout_ms = 600000\n", PLUGIN_DIR, dir, dir,
             srv.base, BATCH,
             IN_FLIGHT);
}

/* The child: records every event, then waits to be killed. */
static void child(void)
{
    char ini[2048];
    llmbill *h;

    config(ini, sizeof ini);
    if (t_open(&h, ini, err, sizeof err) != 0) {
        dprintf(2, "child: %s\n", err);
        _exit(3);
    }
    for (int i = 0; i < N_EVENTS; i++) {
        char id[64];
        struct llmbill_usage u = t_usage("acme", id);
        int rc;

        snprintf(id, sizeof id, "k-%06d", i); /* ids sort in recording order */
        while ((rc = llmbill_record(h, &u)) == LLMBILL_EFULL)
            usleep(1000);
        if (rc != 0)
            _exit(4);
    }
    for (;;)
        pause();
}

/* Waits (at most 120 s) until the server's stat name reaches want. */
static void wait_stat(const char *name, long want)
{
    long long t0 = t_mono_ms();

    while (lago_server_stat(&srv, name) < want) {
        if (t_mono_ms() - t0 > 120000) {
            fprintf(stderr, "%s stayed at %ld (want %ld)\n", name, lago_server_stat(&srv, name),
                    want);
            exit(1);
        }
        usleep(2000);
    }
}

/* Each k-<i> is stored exactly once: counts indexed by i (a perfect hash),
 * one pass over the server's events. */
static void check_exactly_once(void)
{
    char *all = lago_server_call(&srv, "/_events", NULL, NULL);
    static unsigned char seen[N_EVENTS];
    const char *key = "\"transaction_id\": \"k-";
    long bad = 0;

    memset(seen, 0, sizeof seen);
    for (char *p = strstr(all, key); p != NULL; p = strstr(p + 1, key)) {
        long i = strtol(p + strlen(key), NULL, 10);

        CHECK(i >= 0 && i < N_EVENTS);
        if (seen[i] < 255)
            seen[i]++;
    }
    for (long i = 0; i < N_EVENTS; i++)
        if (seen[i] != 1 && bad++ < 5)
            fprintf(stderr, "event k-%ld stored %d times\n", i, seen[i]);
    CHECK_EQ_INT(bad, 0);
    free(all);
}

static pid_t child_pid;

/* On every exit, a failed CHECK included: the child and the server stop. */
static void stop_all(void)
{
    if (child_pid > 0) {
        kill(child_pid, SIGKILL);
        waitpid(child_pid, NULL, 0);
        child_pid = 0;
    }
    lago_server_stop(&srv);
}

int main(void)
{
    char ini[2048];
    llmbill *h;
    pid_t pid;
    long resent, after_hold;

    dir = strdup(t_tmpdir());
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CHECK_EQ_INT(lago_server_start(&srv, LAGO_SERVER, "k"), 0);
    /* once a third is stored, one batch is held unanswered (decided by the
     * server, so however fast the child runs) */
    lago_server_control(&srv, "{\"jitter_ms\": 40, \"hold_after\": 1000}");
    atexit(stop_all);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        child();
    child_pid = pid;
    /* the batches recorded after the held one are answered, out of order,
     * until IN_FLIGHT - 1 of them are taken after it; then the worker takes
     * no more, since a crash could re-send them all */
    wait_stat("posts_after_hold", IN_FLIGHT - 1);
    for (long long t0 = t_mono_ms(); lago_server_stat(&srv, "concurrent") > 1;) {
        CHECK(t_mono_ms() - t0 < 120000); /* all but the held one answered */
        usleep(2000);
    }
    usleep(300000); /* the journal writes positions to disk every 20 ms: 15 times over */
    after_hold = lago_server_stat(&srv, "posts_after_hold");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    child_pid = 0;
    /* what Lago holds now is what it had before the crash */
    CHECK_EQ_INT(after_hold, IN_FLIGHT - 1); /* the window held */
    lago_server_control(&srv, "{\"track\": true, \"jitter_ms\": 0}");
    lago_server_control(&srv, "{\"release\": true}");
    config(ini, sizeof ini);
    CHECK_EQ_INT(t_open(&h, ini, err, sizeof err), 0);
    CHECK_EQ_INT(llmbill_flush(h, 120000), 0);
    CHECK_EQ_INT(llmbill_close(h), 0);
    CHECK_EQ_INT(lago_server_stat(&srv, "stored"), N_EVENTS);
    check_exactly_once();
    resent = lago_server_stat(&srv, "resent_stored");
    fprintf(stderr, "after kill -9 with %d batches in flight: %ld events re-sent, %ld of them "
            "already stored (bound %d)\n", IN_FLIGHT, lago_server_stat(&srv, "distinct_received"),
            resent, IN_FLIGHT * BATCH);
    CHECK(resent <= IN_FLIGHT * BATCH);
    CHECK(resent >= BATCH); /* batches after the held one were finished, and sent again */
    /* the held batch was never stored: it is among what was sent again */
    CHECK(lago_server_stat(&srv, "distinct_received") >= BATCH);
    printf("test_inflight_crash: ok\n");
    return 0;
}
