/* Bounded shutdown (issue 10 §3): llmbill_close() returns within
 * shutdown_timeout_ms + LB_CLOSE_MARGIN_MS (1 s) even when a sink blocks in
 * emit() far past its deadline; the events stay in the journal, or are
 * dead-lettered as undelivered at shutdown (one log line per sink); the
 * stuck sink is left running, never unloaded under itself, and its late
 * return touches no freed memory (ASan). Every emit() after close began
 * carries the deadline; library threads block all signals. */
#include <pthread.h>
#include <signal.h>
#include <dirent.h>
#include <sys/wait.h>

#include "t.h"

static const char *dir;
static llmbill *open_ini(const char *ini)
{
    return t_open_logged(ini);
}

/* The stated bound, and a generous allowance for a loaded machine: close
 * must not wait for the stuck sink (it blocks for minutes). */
#define TIMEOUT_MS 300
#define BOUND_MS (TIMEOUT_MS + 1000 + 5000)

static void record_n(llmbill *h, const char *prefix, int n)
{
    for (int i = 0; i < n; i++) {
        char id[64];
        struct llmbill_usage u = t_usage("acme", id);

        snprintf(id, sizeof id, "%s-%d", prefix, i);
        CHECK_EQ_INT(llmbill_record(h, &u), 0);
    }
}

/* Without a journal: the stuck sink's events are dead-lettered by close. */
static void stuck_sink_dead_lettered(void)
{
    const char *block = t_path(dir, "block1");
    char ini[2048], *dl;
    long long t0, took;
    llmbill *h;

    t_write(block, "x");
    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = stuck, ok\nlinger_ms = 5\n"
             "shutdown_timeout_ms = %d\ndead_letter_dir = %s/dl1\n"
             "[stuck]\nplugin = testsink\nblock_file = %s\n[ok]\nplugin = testsink\n",
             TEST_PLUGIN_DIR, TIMEOUT_MS, dir, block);
    h = open_ini(ini);
    t_logs()->buf[0] = '\0';
    record_n(h, "s1", 5);
    CHECK_EQ_INT(llmbill_flush(h, 200), LLMBILL_ETIMEDOUT); /* stuck in emit() */
    t0 = t_mono_ms();
    CHECK_EQ_INT(llmbill_close(h), LLMBILL_ETIMEDOUT);
    took = t_mono_ms() - t0;
    fprintf(stderr, "close with a stuck sink took %lld ms (timeout %d ms)\n", took, TIMEOUT_MS);
    CHECK(took >= TIMEOUT_MS);
    CHECK(took < BOUND_MS);
    dl = t_read(t_path(dir, "dl1/stuck.deadletter.jsonl"));
    CHECK_EQ_INT(t_count_lines(dl), 5);
    CHECK_CONTAINS(dl, "undelivered at shutdown: the sink did not return from emit()");
    CHECK_CONTAINS(dl, "\"event_id\":\"s1-4\"");
    free(dl);
    dl = t_read(t_path(dir, "dl1/ok.deadletter.jsonl"));
    CHECK_EQ_INT(t_count_lines(dl), 0);
    free(dl);
    /* (close returned: no thread of the handle logs any more) */
    CHECK_CONTAINS(t_logs()->buf, "sink stuck: still inside its emit(), flush() or check()");
    CHECK_CONTAINS(t_logs()->buf, "sink stuck: 5 undelivered event(s) dead-lettered at shutdown to");
    CHECK_NOT_CONTAINS(t_logs()->buf, "event s1-"); /* one line per sink, not one per event */
    /* the sink returns at last: its worker exits without touching the handle */
    unlink(block);
    usleep(100 * 1000);
}

/* With a journal: they stay there, and the next start delivers them. */
static void stuck_sink_journal_keeps(void)
{
    const char *block = t_path(dir, "block2");
    char ini[2048], *out;
    long long t0;
    llmbill *h;

    t_write(block, "x");
    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = t\nlinger_ms = 5\n"
             "shutdown_timeout_ms = %d\nspool_dir = %s/spool2\ndead_letter_dir = %s/dl2\n"
             "[t]\nplugin = testsink\nblock_file = %s\n", TEST_PLUGIN_DIR, TIMEOUT_MS, dir, dir,
             block);
    h = open_ini(ini);
    record_n(h, "s2", 7);
    CHECK_EQ_INT(llmbill_flush(h, 200), LLMBILL_ETIMEDOUT);
    t0 = t_mono_ms();
    CHECK_EQ_INT(llmbill_close(h), LLMBILL_ETIMEDOUT);
    CHECK(t_mono_ms() - t0 < BOUND_MS);
    out = t_read(t_path(dir, "dl2/t.deadletter.jsonl"));
    CHECK_EQ_INT(t_count_lines(out), 0); /* kept in the journal instead */
    free(out);
    unlink(block);
    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = t\nlinger_ms = 5\n"
             "spool_dir = %s/spool2\n[t]\nplugin = testsink\noutput = %s\n",
             TEST_PLUGIN_DIR, dir, t_path(dir, "out2"));
    h = open_ini(ini);
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK_EQ_INT(t_stats(h, NULL).lost, 0);
    CHECK_EQ_INT(llmbill_close(h), 0);
    out = t_read(t_path(dir, "out2"));
    CHECK_CONTAINS(out, "received=7 "); /* the stuck emit() may have had them too: same ids */
    free(out);
}

/* Every emit() once close began carries close's start + shutdown_timeout_ms;
 * before, 0. */
static void emit_learns_its_deadline(void)
{
    char ini[2048], *log, *line, *save = NULL;
    long long before, after;
    int zero = 0, set = 0;
    llmbill *h;
    struct timespec ts;

    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = t\nlinger_ms = 5\n"
             "retry_base_ms = 5\nretry_max_ms = 10\nshutdown_timeout_ms = %d\n"
             "dead_letter_dir = %s/dl3\n[t]\nplugin = testsink\nalways = retry\nattempts_log = %s\n",
             TEST_PLUGIN_DIR, TIMEOUT_MS, dir, t_path(dir, "attempts3"));
    h = open_ini(ini);
    record_n(h, "s3", 1);
    CHECK_EQ_INT(llmbill_flush(h, 100), LLMBILL_ETIMEDOUT);
    clock_gettime(CLOCK_REALTIME, &ts);
    before = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    CHECK_EQ_INT(llmbill_close(h), LLMBILL_ETIMEDOUT);
    clock_gettime(CLOCK_REALTIME, &ts);
    after = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    log = t_read(t_path(dir, "attempts3"));
    for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        unsigned attempt;
        size_t n;
        long long mono, deadline;

        CHECK_EQ_INT(sscanf(line, "%u %zu %lld %lld", &attempt, &n, &mono, &deadline), 4);
        if (deadline == 0) {
            CHECK_EQ_INT(set, 0); /* no deadline once one was set */
            zero++;
        } else {
            CHECK(deadline >= before + TIMEOUT_MS && deadline <= after + TIMEOUT_MS);
            set++;
        }
    }
    CHECK(zero > 0);
    CHECK(set > 0);
    free(log);
}

/* The library's threads block every signal (glibc keeps two of its own). */
static void threads_block_signals(void)
{
    char ini[1024], path[300], line[256];
    llmbill *h;
    DIR *d;
    struct dirent *e;
    int checked = 0;
    pid_t me = getpid();

    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = a, b\nspool_dir = %s/spool4\n"
             "[a]\nplugin = testsink\n[b]\nplugin = testsink\n", TEST_PLUGIN_DIR, dir);
    h = open_ini(ini);
    d = opendir("/proc/self/task");
    CHECK(d != NULL);
    while ((e = readdir(d)) != NULL) {
        FILE *f;
        unsigned long long blk = 0;

        if (e->d_name[0] == '.' || atoi(e->d_name) == me)
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
        if ((f = fopen(path, "r")) == NULL)
            continue;
        while (fgets(line, sizeof line, f))
            sscanf(line, "SigBlk: %llx", &blk);
        fclose(f);
        for (int sig = 1; sig < 32; sig++)
            if (sig != SIGKILL && sig != SIGSTOP && !(blk >> (sig - 1) & 1)) {
                fprintf(stderr, "thread %s does not block signal %d\n", e->d_name, sig);
                exit(1);
            }
        checked++;
    }
    closedir(d);
    CHECK(checked >= 3); /* two workers and the journal thread at least */
    CHECK_EQ_INT(llmbill_close(h), 0);
}

/* Runs fn in a child that ends with _exit(): a handle left with a stuck
 * sink is never freed by design, which a leak checker at exit would report. */
static void in_child(void (*fn)(void), const char *name)
{
    pid_t pid;
    int st;

    fprintf(stderr, "-- %s\n", name);
    fflush(NULL);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        fn();
        fflush(NULL);
        _exit(0);
    }
    CHECK_EQ_INT(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
    dir = strdup(t_tmpdir());
    in_child(stuck_sink_dead_lettered, "stuck_sink_dead_lettered");
    in_child(stuck_sink_journal_keeps, "stuck_sink_journal_keeps");
    RUN(emit_learns_its_deadline);
    RUN(threads_block_signals);
    printf("test_shutdown: ok\n");
    return 0;
}
