/* A sink that crashes the process (issue 10 §2): the host, in a child, is
 * killed by a segfault inside a sink's emit() on one chosen event. The next
 * start names the sink and delivers that batch to it one event at a time;
 * the process dies again on that event alone; the start after quarantines
 * it for that sink (dead-lettered with the reason, counted, never sent to
 * it again), and every other event, and every event for the other sink,
 * is delivered. Before: the same crash at every start. The same for a
 * request-based sink (sink ABI 1.2) that segfaults inside request() or
 * inside response(), against tests/lago_server.py. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t.h"
#include "lago_harness.h"

static const char *dir;
static char ini[2048];
static char logbuf[16384];
static FILE *live;              /* the child's log as it goes: run-<n>.live */

static void log_cb(void *ud, int level, const char *msg)
{
    size_t n = strlen(logbuf);

    (void)ud;
    (void)level;
    snprintf(logbuf + n, sizeof logbuf - n, "%s\n", msg);
    if (live != NULL) {
        fprintf(live, "%s\n", msg);
        fflush(live);
    }
}

/* One run of the host in a child: opens, records `record` events (ids
 * t0-first..), flushes, closes. Its log goes to dir/run-<n>.log. Returns
 * the child's wait status. */
static int run(int n, int first, int record)
{
    pid_t pid = fork();
    int st;

    CHECK(pid >= 0);
    if (pid == 0) {
        struct llmbill_open_opts o;
        char err[1024], path[512];
        llmbill *h;
        FILE *f;
        int rc;

        snprintf(path, sizeof path, "%s/run-%d.live", dir, n);
        live = fopen(path, "w");
        memset(&o, 0, sizeof o);
        o.struct_size = sizeof o;
        o.errbuf = err;
        o.errbuf_len = sizeof err;
        o.log_cb = log_cb;
        if (llmbill_open_string(&h, ini, &o) != 0) {
            fprintf(stderr, "open: %s\n", err);
            _exit(2);
        }
        if (record > 0)
            t_record_ids(h, first, record);
        rc = llmbill_flush(h, 60000);
        {
            struct llmbill_stats s = t_stats(h, "crashy");

            snprintf(path, sizeof path, "%s/run-%d.log", dir, n);
            f = fopen(path, "w");
            fprintf(f, "%sflush=%d quarantined=%llu dead_lettered=%llu\n", logbuf, rc,
                    (unsigned long long)s.quarantined, (unsigned long long)s.dead_lettered);
            fclose(f);
        }
        _exit(llmbill_close(h) == 0 && rc == 0 ? 0 : 3);
    }
    CHECK(waitpid(pid, &st, 0) == pid);
    return st;
}

static int died(int st)
{
    return WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != 0);
}

static void poison_event_is_quarantined(void)
{
    char *log, *dl, *ledger;
    int st;

    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\nlinger_ms = 5\nshutdown_timeout_ms = 5000\n"
             "spool_dir = %s/spool\ndead_letter_dir = %s/dl\ncallbacks = crashy, ledger\n"
             "[crashy]\nplugin = testsink\ncrash_on_id = t0-5\nbatch_size = 100\n"
             "[ledger]\nplugin = jsonl\npath = %s/ledger.jsonl\n", TEST_PLUGIN_DIR, dir, dir,
             dir);
    /* jsonl lives in the shipped plugin dir */
    {
        char *p = strstr(ini, "[ledger]\nplugin = jsonl\n");
        char tail[1024];

        snprintf(tail, sizeof tail, "[ledger]\nplugin = %s/jsonl.so\npath = %s/ledger.jsonl\n",
                 PLUGIN_DIR, dir);
        CHECK(p != NULL);
        strcpy(p, tail);
    }
    /* 1: the batch with t0-5 crashes the process inside crashy's emit() */
    st = run(1, 0, 10);
    CHECK(died(st));
    /* 2: the start names the sink and goes one event at a time: dies on t0-5 */
    st = run(2, 0, 0);
    CHECK(died(st));
    log = t_read(t_path(dir, "run-2.log"));
    /* run 2 died before writing its log: the log line is checked in run 3's */
    free(log);
    /* 3: t0-5 is quarantined for crashy; everything else is delivered */
    st = run(3, 10, 3);
    if (died(st)) {
        log = t_read(t_path(dir, "run-3.log"));
        fprintf(stderr, "run 3 died (%d): %s\n", st, log);
        free(log);
    }
    CHECK(!died(st));
    log = t_read(t_path(dir, "run-3.log"));
    CHECK_CONTAINS(log, "sink crashy: the process died twice while the sink delivered journal "
                        "event 6: it is quarantined");
    CHECK_CONTAINS(log, "flush=0 quarantined=1 dead_lettered=1");
    free(log);
    dl = t_read(t_path(dir, "dl/crashy.deadletter.jsonl"));
    CHECK_EQ_INT(t_count_lines(dl), 1);
    CHECK_CONTAINS(dl, "\"event_id\":\"t0-5\"");
    CHECK_CONTAINS(dl, "the process died twice while sink crashy delivered this event");
    free(dl);
    /* the other sink got every event, t0-5 included */
    ledger = t_read(t_path(dir, "ledger.jsonl"));
    for (int i = 0; i < 13; i++) {
        char key[64];

        snprintf(key, sizeof key, "\"event_id\":\"t0-%d\"", i);
        CHECK_CONTAINS(ledger, key);
    }
    free(ledger);
    /* 4: nothing is left, nothing crashes, t0-5 is not sent again */
    st = run(4, 0, 0);
    CHECK(!died(st));
    log = t_read(t_path(dir, "run-4.log"));
    CHECK_NOT_CONTAINS(log, "died");
    free(log);
}

/* A bystander: a sink that is inside its own emit() (slow) whenever the
 * other one crashes the process. It is marked too and so delivered one
 * event at a time after the first crash; the second crash, during that
 * recovery, must not count against it (a suspect alone in sink code is
 * exclusive): only the crashing sink's event is quarantined, never one of
 * the bystander's. Before: the bystander quarantined an innocent event. */
static void bystander_is_not_quarantined(void)
{
    char *log, *dl;
    int st;

    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\nlinger_ms = 5\nshutdown_timeout_ms = 5000\n"
             "spool_dir = %s/spool3\ndead_letter_dir = %s/dl3\ncallbacks = crashy, slow\n"
             "[crashy]\nplugin = testsink\ncrash_on_id = t0-5\nbatch_size = 100\n"
             "[slow]\nplugin = testsink\nsleep_ms = 300\nbatch_size = 100\n", TEST_PLUGIN_DIR,
             dir, dir);
    st = run(41, 0, 10);        /* dies inside crashy, slow most likely asleep in emit() */
    CHECK(died(st));
    st = run(42, 0, 0);         /* both recover one event at a time; crashy dies on t0-5 */
    CHECK(died(st));
    st = run(43, 0, 0);
    CHECK(!died(st));
    log = t_read(t_path(dir, "run-43.log"));
    CHECK_CONTAINS(log, "sink crashy: the process died twice");
    CHECK_NOT_CONTAINS(log, "sink slow: the process died twice");
    free(log);
    dl = t_read(t_path(dir, "dl3/crashy.deadletter.jsonl"));
    CHECK_EQ_INT(t_count_lines(dl), 1);
    CHECK_CONTAINS(dl, "\"event_id\":\"t0-5\"");
    free(dl);
    if (access(t_path(dir, "dl3/slow.deadletter.jsonl"), F_OK) == 0) {
        dl = t_read(t_path(dir, "dl3/slow.deadletter.jsonl"));
        CHECK_EQ_INT(t_count_lines(dl), 0);
        free(dl);
    }
}

/* The first start after the crash says which sink was inside emit(). */
static void startup_names_the_sink(void)
{
    char *log;
    int st;

    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\nlinger_ms = 5\nshutdown_timeout_ms = 5000\n"
             "spool_dir = %s/spool2\ndead_letter_dir = %s/dl2\ncallbacks = crashy\n"
             "[crashy]\nplugin = testsink\ncrash_on_id = t0-2\n", TEST_PLUGIN_DIR, dir, dir);
    st = run(11, 0, 4);
    CHECK(died(st));
    /* now without the crash: the recovery start logs, delivers one by one */
    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\nlinger_ms = 5\nshutdown_timeout_ms = 5000\n"
             "spool_dir = %s/spool2\ndead_letter_dir = %s/dl2\ncallbacks = crashy\n"
             "[crashy]\nplugin = testsink\n", TEST_PLUGIN_DIR, dir, dir);
    st = run(12, 0, 0);
    CHECK(!died(st));
    log = t_read(t_path(dir, "run-12.log"));
    CHECK_CONTAINS(log, "sink crashy: the process died inside the sink's emit() (journal events 1..");
    CHECK_CONTAINS(log, "delivering them to it one at a time");
    CHECK_CONTAINS(log, "quarantined=0");
    free(log);
}

/* Times "transaction_id": "id" occurs in the server's stored events. */
static int stored(const char *events, const char *id)
{
    char key[96];
    int n = 0;

    snprintf(key, sizeof key, "\"transaction_id\": \"%s\"", id);
    for (const char *p = events; (p = strstr(p, key)) != NULL; p += strlen(key))
        n++;
    return n;
}

/* The config of request_sink_poison(): crashy, a reqsink that crashes in
 * `where` on t0-5, with max_in_flight requests at most, its requests logged
 * to sub/requests-<n>.log, and the jsonl ledger. */
static void req_config(const struct lago_server *srv, const char *sub, const char *where,
                       int max_in_flight, int n)
{
    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\nlinger_ms = 5\nshutdown_timeout_ms = 5000\n"
             "spool_dir = %s/%s/spool\ndead_letter_dir = %s/%s/dl\ncallbacks = crashy, ledger\n"
             "[crashy]\nplugin = reqsink\nurl = %s/api/v1/events/batch\ncrash_on_id = t0-5\n"
             "crash_in = %s\nbatch_size = 100\nmax_in_flight = %d\nrequests_log = %s/%s/requests-%d.log\n"
             "[ledger]\nplugin = %s/jsonl.so\npath = %s/%s/ledger.jsonl\n", TEST_PLUGIN_DIR,
             dir, sub, dir, sub, srv->base, where, max_in_flight, dir, sub, n, PLUGIN_DIR, dir,
             sub);
}

/* A request-based sink that segfaults inside request() (in_response 0) or
 * response() (1) on t0-5: the next start delivers the crash's batch to it
 * one event per request, one in flight; it dies again on t0-5 alone; the
 * start after quarantines t0-5 for that sink only. */
static void request_sink_poison(int in_response)
{
    const char *where = in_response ? "response" : "request";
    struct lago_server srv;
    char sub[64], msg[256], *log, *dl, *ledger, *events;
    int st;

    CHECK(lago_server_start(&srv, LAGO_SERVER, "k") == 0);
    snprintf(sub, sizeof sub, "r%d", in_response);
    req_config(&srv, sub, where, 8, 1);
    /* 1: the batch with t0-5 crashes the process inside crashy's request()/response() */
    CHECK(died(run(21 + 10 * in_response, 0, 10)));
    /* 2: names the sink and its function; one event per request, one in
     * flight although 8 may be: dies on t0-5 alone */
    req_config(&srv, sub, where, 8, 2);
    CHECK(died(run(22 + 10 * in_response, 0, 0)));
    snprintf(msg, sizeof msg, "%s/requests-2.log", sub);
    log = t_read(t_path(dir, msg));
    CHECK_EQ_INT(t_count_lines(log) >= 1, 1);
    for (const char *p = log; *p != '\0'; p = strchr(p, '\n') + 1)
        CHECK_EQ_INT(strncmp(p, "1 1\n", 4), 0); /* one event, nothing else outstanding */
    free(log);
    snprintf(msg, sizeof msg, "run-%d.live", 22 + 10 * in_response);
    log = t_read(t_path(dir, msg));
    snprintf(msg, sizeof msg, "sink crashy: the process died inside the sink's %s() (journal "
             "events ", where);
    CHECK_CONTAINS(log, msg);
    CHECK_CONTAINS(log, "delivering them to it one at a time");
    free(log);
    /* 3: t0-5 is quarantined for crashy; the rest is delivered */
    req_config(&srv, sub, where, 8, 3);
    st = run(23 + 10 * in_response, 10, 3);
    snprintf(msg, sizeof msg, "run-%d.log", 23 + 10 * in_response);
    log = t_read(t_path(dir, msg));
    if (died(st))
        fprintf(stderr, "run 3 (%s) died (%d): %s\n", where, st, log);
    CHECK(!died(st));
    CHECK_CONTAINS(log, "sink crashy: the process died twice while the sink delivered journal "
                        "event 6: it is quarantined");
    CHECK_CONTAINS(log, "flush=0 quarantined=1 dead_lettered=1");
    free(log);
    snprintf(msg, sizeof msg, "%s/dl/crashy.deadletter.jsonl", sub);
    dl = t_read(t_path(dir, msg));
    CHECK_EQ_INT(t_count_lines(dl), 1);
    CHECK_CONTAINS(dl, "\"event_id\":\"t0-5\"");
    CHECK_CONTAINS(dl, "the process died twice while sink crashy delivered this event");
    free(dl);
    /* Lago holds every other event once; t0-5 only if a request carried it
     * before response() crashed */
    events = lago_server_call(&srv, "/_events", NULL, NULL);
    snprintf(msg, sizeof msg, "%s/ledger.jsonl", sub);
    ledger = t_read(t_path(dir, msg));
    for (int i = 0; i < 13; i++) {
        char id[32], key[64];

        snprintf(id, sizeof id, "t0-%d", i);
        CHECK_EQ_INT(stored(events, id), i == 5 ? in_response : 1);
        snprintf(key, sizeof key, "\"event_id\":\"%s\"", id);
        CHECK_CONTAINS(ledger, key); /* the other sink got every event, t0-5 included */
    }
    free(ledger);
    free(events);
    /* 4: nothing left, and t0-5 is not sent to crashy again (it would crash) */
    req_config(&srv, sub, where, 8, 4);
    CHECK(!died(run(24 + 10 * in_response, 0, 0)));
    lago_server_stop(&srv);
}

static void request_sink_crash_in_request(void)
{
    request_sink_poison(0);
}

static void request_sink_crash_in_response(void)
{
    request_sink_poison(1);
}

int main(void)
{
    dir = t_tmpdir();
    RUN(poison_event_is_quarantined);
    RUN(startup_names_the_sink);
    RUN(bystander_is_not_quarantined);
    RUN(request_sink_crash_in_request);
    RUN(request_sink_crash_in_response);
    fprintf(stderr, "ok\n");
    return 0;
}
