/* A handle belongs to the process that opened it: in a child of fork()
 * every call on it returns LLMBILL_EFORKED, writes nothing, crashes
 * nothing, and the parent's handle and journal go on untouched. */
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>

#include "t.h"

static const char *dir;
static char err[2048];

static llmbill *open_h(const char *spool)
{
    char ini[2048], sp[512] = "";
    llmbill *h;
    int rc;

    if (spool != NULL)
        snprintf(sp, sizeof sp, "spool_dir = %s/%s\n", dir, spool);
    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\nlinger_ms = 5\nshutdown_timeout_ms = 5000\n"
             "%scallbacks = jsonl\n[jsonl]\npath = %s/%s.jsonl\n", PLUGIN_DIR, sp, dir,
             spool ? spool : "memory");
    rc = t_open(&h, ini, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "open failed: %s\n%s\n", err, ini);
        exit(1);
    }
    return h;
}

static void record_n(llmbill *h, const char *prefix, int first, int n)
{
    for (int i = first; i < first + n; i++) {
        char id[48];
        struct llmbill_usage u = t_usage("acme", id);

        snprintf(id, sizeof id, "%s-%d", prefix, i);
        CHECK_EQ_INT(llmbill_record(h, &u), 0);
    }
}

/* Does this process map a journal segment (a "seg-" file)? */
static int maps_a_segment(void)
{
    FILE *f = fopen("/proc/self/maps", "r"); /* size 0 to stat: read by line */
    char line[1024];
    int found = 0;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        found |= strstr(line, "/seg-") != NULL;
    fclose(f);
    return found;
}

/* The child's side: every call on the inherited handle says EFORKED. Exits
 * with the line of the first failed check (0: all held). */
static void child_calls(llmbill *h)
{
    struct llmbill_usage u = t_usage("acme", "child-1");
    struct llmbill_stats st;
    struct llmbill_sink_info info;
    char id[64], msg[64];

#define CHILD_CHECK(c) do { if (!(c)) _exit(__LINE__ & 0x7f ? __LINE__ & 0x7f : 1); } while (0)
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    CHILD_CHECK(maps_a_segment() == 0);
    CHILD_CHECK(llmbill_record(h, &u) == LLMBILL_EFORKED);
    CHILD_CHECK(llmbill_record_id(h, &u, id, sizeof id) == LLMBILL_EFORKED);
    CHILD_CHECK(llmbill_flush(h, 100) == LLMBILL_EFORKED);
    CHILD_CHECK(llmbill_get_stats(h, NULL, &st) == LLMBILL_EFORKED);
    CHILD_CHECK(llmbill_get_stats(h, "jsonl", &st) == LLMBILL_EFORKED);
    CHILD_CHECK(llmbill_sink_count(h) == 0);
    CHILD_CHECK(llmbill_sink_name(h, 0) == NULL);
    CHILD_CHECK(llmbill_get_sink_info(h, 0, &info) == LLMBILL_EFORKED);
    CHILD_CHECK(llmbill_check_sink(h, 0, msg, sizeof msg, 100) == LLMBILL_EFORKED);
    CHILD_CHECK(llmbill_close(h) == LLMBILL_EFORKED);
    CHILD_CHECK(llmbill_close(h) == LLMBILL_EFORKED); /* released nothing: still EFORKED */
    CHILD_CHECK(strstr(llmbill_strerror(LLMBILL_EFORKED), "another process") != NULL);
    /* a grandchild too */
    {
        pid_t g = fork();
        int gst;

        if (g == 0)
            _exit(llmbill_record(h, &u) == LLMBILL_EFORKED ? 0 : 1);
        CHILD_CHECK(g > 0 && waitpid(g, &gst, 0) == g && WIFEXITED(gst) && WEXITSTATUS(gst) == 0);
    }
    _exit(0);
#undef CHILD_CHECK
}

static void wait_ok(pid_t pid)
{
    int st;

    CHECK(waitpid(pid, &st, 0) == pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fprintf(stderr, "child: %s %d (exit code: a line number & 0x7f)\n",
                WIFSIGNALED(st) ? "signal" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Counts the lines of file holding "\"event_id\":\"<prefix>-" */
static int count_prefix(const char *file, const char *prefix)
{
    char *s = t_read(file), key[64];
    int n = 0;

    snprintf(key, sizeof key, "\"event_id\":\"%s-", prefix);
    for (char *p = s; (p = strstr(p, key)) != NULL; p += strlen(key))
        n++;
    free(s);
    return n;
}

static void journal_handle_in_a_child(void)
{
    llmbill *h = open_h("sp");
    struct llmbill_stats st;
    pid_t pid;

    record_n(h, "before", 0, 50);
    CHECK_EQ_INT(maps_a_segment(), 1);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        child_calls(h);
    wait_ok(pid);
    /* the parent's handle goes on: the frames after the fork are intact */
    record_n(h, "after", 0, 50);
    if (llmbill_flush(h, 30000) != 0) {
        st = t_stats(h, NULL);
        fprintf(stderr, "flush timed out: recorded %llu delivered %llu pending %llu spooled %llu\n",
                (unsigned long long)st.recorded, (unsigned long long)st.delivered,
                (unsigned long long)st.pending, (unsigned long long)st.spooled);
        CHECK(0);
    }
    st = t_stats(h, NULL);
    CHECK_EQ_INT(st.recorded, 100);
    CHECK_EQ_INT(st.delivered, 100);
    CHECK_EQ_INT(st.spool_corrupt, 0);
    CHECK_EQ_INT(llmbill_close(h), 0);
    CHECK_EQ_INT(count_prefix(t_path(dir, "sp.jsonl"), "before"), 50);
    CHECK_EQ_INT(count_prefix(t_path(dir, "sp.jsonl"), "after"), 50);
    CHECK_EQ_INT(count_prefix(t_path(dir, "sp.jsonl"), "child"), 0);
    /* and a restart finds nothing left, nothing corrupt */
    h = open_h("sp");
    st = t_stats(h, NULL);
    CHECK_EQ_INT(st.spooled, 0);
    CHECK_EQ_INT(llmbill_close(h), 0);
    CHECK_EQ_INT(count_prefix(t_path(dir, "sp.jsonl"), "before"), 50);
}

static void memory_handle_in_a_child(void)
{
    llmbill *h = open_h(NULL);
    pid_t pid;

    record_n(h, "m", 0, 10);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        child_calls(h);
    wait_ok(pid);
    record_n(h, "m", 10, 10);
    CHECK_EQ_INT(llmbill_close(h), 0);
    CHECK_EQ_INT(count_prefix(t_path(dir, "memory.jsonl"), "m"), 20);
    CHECK_EQ_INT(count_prefix(t_path(dir, "memory.jsonl"), "child"), 0);
}

/* A child that outlives the parent's handle does not keep its journal
 * locked: the next handle opens it (and a live worker could adopt it). */
static void child_does_not_hold_the_lock(void)
{
    llmbill *h = open_h("lk");
    int p[2];
    pid_t pid;
    char c;

    record_n(h, "lk", 0, 5);
    CHECK(pipe(p) == 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(p[1]);
        _exit(read(p[0], &c, 1) >= 0 ? 0 : 1); /* lives until the parent says */
    }
    close(p[0]);
    CHECK_EQ_INT(llmbill_close(h), 0);
    h = open_h("lk");           /* "in use by another ... process" before the fix */
    CHECK_EQ_INT(llmbill_close(h), 0);
    close(p[1]);
    wait_ok(pid);
    CHECK_EQ_INT(count_prefix(t_path(dir, "lk.jsonl"), "lk"), 5);
}

/* How many eventfds this process has open. */
static int count_eventfds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        char link[300], to[64];
        ssize_t k;

        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        k = readlink(link, to, sizeof to - 1);
        if (k > 0) {
            to[k] = '\0';
            n += strcmp(to, "anon_inode:[eventfd]") == 0;
        }
    }
    closedir(d);
    return n;
}

/* A request-based sink's wake-up eventfd is closed in a child: the child
 * cannot wake (or drain the wake-ups of) the parent's worker through it. */
static void child_has_no_wake_up_fd(void)
{
    char ini[1024];
    llmbill *h;
    int before, in_parent, st;
    pid_t pid;

    before = count_eventfds();
    CHECK(before >= 0);
    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = lago\n[lago]\n"
             "api_base = http://127.0.0.1:1\napi_key = k\nevent_code = c\n", PLUGIN_DIR);
    CHECK_EQ_INT(t_open(&h, ini, err, sizeof err), 0);
    in_parent = count_eventfds();
    CHECK(in_parent >= before + 1);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(count_eventfds() == in_parent - 1 ? 0 : 1);
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ_INT(count_eventfds(), in_parent); /* the parent's own is open */
    CHECK_EQ_INT(llmbill_close(h), 0);
    CHECK_EQ_INT(count_eventfds(), before);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    dir = t_tmpdir();
    RUN(journal_handle_in_a_child);
    RUN(memory_handle_in_a_child);
    RUN(child_does_not_hold_the_lock);
    RUN(child_has_no_wake_up_fd);
    fprintf(stderr, "ok\n");
    return 0;
}
