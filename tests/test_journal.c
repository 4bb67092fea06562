/* The durable journal: events survive restarts and kill -9, each sink goes
 * at its own pace, torn and corrupt segments never wedge it, a full disk is
 * an error the caller sees and recovers from. */
#include <pthread.h>
#include <stdatomic.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "t.h"
#include "lago_harness.h"

static const char *dir;
static char err[2048];

static llmbill *open_spool(const char *spool, const char *extra_main, const char *sinks)
{
    char ini[4096];
    llmbill *h;
    int rc;

    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\nlinger_ms = 5\nretry_base_ms = 10\n"
             "retry_max_ms = 50\nshutdown_timeout_ms = 300\nspool_dir = %s/%s\n%s%s", TEST_PLUGIN_DIR,
             dir, spool, extra_main, sinks);
    rc = t_open(&h, ini, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "open failed: %s\n%s\n", err, ini);
        exit(1);
    }
    return h;
}

/* A paused handle on the spool (it delivers nothing). */
static llmbill *open_paused(const char *spool, const char *sinks)
{
    char ini[4096];
    struct llmbill_open_opts o;
    llmbill *h;

    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\nspool_dir = %s/%s\n%s", TEST_PLUGIN_DIR,
             dir, spool, sinks);
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.flags = LLMBILL_OPEN_PAUSED;
    o.errbuf = err;
    o.errbuf_len = sizeof err;
    CHECK_EQ_INT(llmbill_open_string(&h, ini, &o), 0);
    return h;
}

/* The journal backlog of the spool's sinks, read by a paused handle. */
static uint64_t backlog(const char *spool, const char *sinks)
{
    llmbill *h = open_paused(spool, sinks);
    uint64_t n = t_stats(h, NULL).spooled;

    llmbill_close(h);
    return n;
}

static void record_ids(llmbill *h, int first, int n)
{
    for (int i = first; i < first + n; i++) {
        char id[32];
        struct llmbill_usage u = t_usage("acme", id);

        snprintf(id, sizeof id, "t0-%d", i);
        CHECK_EQ_INT(llmbill_record(h, &u), 0);
    }
}

static long count_in(const char *file, const char *key)
{
    char *s = t_read(file), *p = strstr(s, key);
    long v = p ? strtol(p + strlen(key), NULL, 10) : -1;

    free(s);
    return v;
}

static void survives_a_restart(void)
{
    char sinks[512];
    llmbill *h;

    /* the sink is down: close keeps the events in the journal */
    h = open_spool("s1", "", "callbacks = t\n[t]\nplugin = testsink\nalways = retry\n");
    record_ids(h, 0, 300);
    CHECK_EQ_INT(llmbill_flush(h, 200), LLMBILL_ETIMEDOUT);
    CHECK_EQ_INT(t_stats(h, "t").spooled, 300);
    CHECK_EQ_INT(llmbill_close(h), LLMBILL_ETIMEDOUT);
    {
        char *dl = t_read(t_path(dir, "deadletter/t.deadletter.jsonl"));

        CHECK_EQ_INT(t_count_lines(dl), 0); /* kept in the journal, not dead-lettered */
        free(dl);
    }
    /* next start, the sink is up: every event once */
    snprintf(sinks, sizeof sinks, "callbacks = t\n[t]\nplugin = testsink\noutput = %s\n"
             "id_space = 1000\nper_thread = 1000\n", t_path(dir, "s1.out"));
    CHECK_EQ_INT(backlog("s1", sinks), 300);
    h = open_spool("s1", "", sinks);
    record_ids(h, 300, 50);
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK_EQ_INT(t_stats(h, "t").spooled, 0);
    CHECK_EQ_INT(llmbill_close(h), 0);
    CHECK_EQ_INT(count_in(t_path(dir, "s1.out"), "received="), 350);
    CHECK_EQ_INT(count_in(t_path(dir, "s1.out"), "dups="), 0);
    /* and a third start has nothing left to send */
    CHECK_EQ_INT(backlog("s1", sinks), 0);
    h = open_spool("s1", "", sinks);
    CHECK_EQ_INT(llmbill_close(h), 0);
    CHECK_EQ_INT(count_in(t_path(dir, "s1.out"), "received="), 0);
}

/* Waits (up to a generous 60 s) until sink has delivered n events and has
 * at most `spooled` left in the journal. */
static void wait_delivered(llmbill *h, const char *sink, uint64_t n, uint64_t spooled)
{
    long long t0 = t_mono_ms();

    while ((t_stats(h, sink).delivered < n || t_stats(h, sink).spooled > spooled) &&
           t_mono_ms() - t0 < 60000)
        usleep(2000);
    CHECK_EQ_INT(t_stats(h, sink).delivered, n);
    CHECK_EQ_INT(t_stats(h, sink).spooled, spooled);
}

static void two_sinks_two_paces(void)
{
    char sinks[1024];
    llmbill *h;

    /* the slow sink takes 40 events one at a time, then stalls */
    snprintf(sinks, sizeof sinks, "callbacks = fast, slow\n"
             "[fast]\nplugin = testsink\noutput = %s\nid_space = 1000\nper_thread = 1000\n"
             "[slow]\nplugin = testsink\nbatch_size = 1\nstall_after = 40\noutput = %s\n"
             "id_space = 1000\nper_thread = 1000\n", t_path(dir, "fast1"), t_path(dir, "slow1"));
    h = open_spool("s2", "", sinks);
    record_ids(h, 0, 100);
    wait_delivered(h, "fast", 100, 0);
    wait_delivered(h, "slow", 40, 60);
    CHECK_EQ_INT(llmbill_close(h), LLMBILL_ETIMEDOUT); /* the slow sink is left behind */
    CHECK_EQ_INT(count_in(t_path(dir, "fast1"), "received="), 100);
    CHECK_EQ_INT(count_in(t_path(dir, "slow1"), "received="), 40);
    snprintf(sinks, sizeof sinks, "callbacks = fast, slow\n"
             "[fast]\nplugin = testsink\noutput = %s\nid_space = 1000\nper_thread = 1000\n"
             "[slow]\nplugin = testsink\noutput = %s\nid_space = 1000\nper_thread = 1000\n",
             t_path(dir, "fast2"), t_path(dir, "slow2"));
    h = open_spool("s2", "", sinks);
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK_EQ_INT(llmbill_close(h), 0);
    /* the fast sink got nothing twice; the slow one resumed where it was */
    CHECK_EQ_INT(count_in(t_path(dir, "fast2"), "received="), 0);
    CHECK_EQ_INT(count_in(t_path(dir, "slow2"), "received="), 60);
    CHECK_EQ_INT(count_in(t_path(dir, "slow2"), "dups="), 0);
}

/* Reopens a spool with a sink that counts what it receives (into out),
 * records n more events from id `first`, delivers everything. Returns the
 * frames skipped as corrupt. */
static uint64_t resume_counting(const char *spool, const char *extra, const char *out, int first,
                                int n)
{
    char sinks[512];
    uint64_t corrupt;
    llmbill *h;

    snprintf(sinks, sizeof sinks, "callbacks = t\n[t]\nplugin = testsink\noutput = %s\n"
             "id_space = 100\nper_thread = 100\n", t_path(dir, out));
    h = open_spool(spool, extra, sinks);
    record_ids(h, first, n);
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    corrupt = t_stats(h, NULL).spool_corrupt;
    CHECK_EQ_INT(t_stats(h, NULL).lost, 0);
    llmbill_close(h);
    return corrupt;
}

/* Appends bytes to the newest segment of a spool. */
static void damage(const char *spool, const char *how)
{
    char cmd[1024];

    snprintf(cmd, sizeof cmd, "cd %s/%s && f=$(ls seg-*.lbj | tail -n 1) && %s", dir, spool, how);
    CHECK_EQ_INT(system(cmd), 0);
}

static void torn_and_corrupt_segments(void)
{
    llmbill *h;

    h = open_spool("s3", "", "callbacks = t\n[t]\nplugin = testsink\nalways = retry\n");
    record_ids(h, 0, 10);
    llmbill_close(h);
    /* a torn tail: half a frame header at the end */
    damage("s3", "printf 'LBJ1\\001\\002' >> $f");
    /* a corrupt frame: flip one payload byte of the third frame */
    damage("s3", "python3 -c \"import sys;b=bytearray(open('$f','rb').read());"
                 "i=b.find(b't0-2\\\\x00');b[i+2]^=0x20;open('$f','wb').write(b)\"");
    CHECK_EQ_INT(resume_counting("s3", "", "s3.out", 10, 5), 1);
    CHECK_EQ_INT(count_in(t_path(dir, "s3.out"), "received="), 14); /* 15 less the corrupt one */
    CHECK_EQ_INT(count_in(t_path(dir, "s3.out"), "dups="), 0);
}

/* Records u, retrying while the journal says full or unwritable, for up to
 * a generous 60 s (room comes back when a background thread gets to it). */
static int record_soon(llmbill *h, const struct llmbill_usage *u)
{
    long long t0 = t_mono_ms();
    int rc;

    while (((rc = llmbill_record(h, u)) == LLMBILL_EFULL || rc == LLMBILL_ESPOOL) &&
           t_mono_ms() - t0 < 60000)
        usleep(5000);
    return rc;
}

/* Waits (up to a generous 60 s) until the spool holds at most max segment
 * files: the journal thread deletes finished ones in the background. */
static void wait_segments(const char *spool, int max)
{
    long long t0 = t_mono_ms();
    int n;

    do {
        DIR *d = opendir(t_path(dir, spool));
        struct dirent *e;

        CHECK(d != NULL);
        n = 0;
        while ((e = readdir(d)) != NULL)
            n += strncmp(e->d_name, "seg-", 4) == 0;
        closedir(d);
    } while (n > max && t_mono_ms() - t0 < 60000 && usleep(5000) == 0);
    CHECK(n <= max);
}

/* Calls under way and finished on the recording thread: the unblocker
 * removes the block file once a call has waited 100 ms (so a call did wait,
 * however fast or slow the machine fills the spool). */
static atomic_int calls_started, calls_done;

static void *unblock_when_waiting(void *path)
{
    long long since = 0;

    for (;;) {
        int st = atomic_load(&calls_started), dn = atomic_load(&calls_done);

        if (st > dn) {
            if (since == 0)
                since = t_mono_ms();
            else if (t_mono_ms() - since >= 100 && atomic_load(&calls_done) == dn)
                break;
        } else {
            since = 0;
        }
        usleep(1000);
    }
    unlink(path);
    return NULL;
}

static void full_disk(void)
{
    char sinks[512];
    llmbill *h;
    struct llmbill_usage u = t_usage("acme", NULL);
    struct rlimit old, lim;
    int n = 0, rc;

    /* the configured cap: an error the caller sees, then room again */
    snprintf(sinks, sizeof sinks, "callbacks = t\n[t]\nplugin = testsink\nblock_file = %s\n",
             t_path(dir, "block"));
    t_write(t_path(dir, "block"), "x");
    h = open_spool("s4", "spool_max_bytes = 65536\nsegment_bytes = 8192\n", sinks);
    while ((rc = llmbill_record(h, &u)) == 0)
        n++;
    CHECK_EQ_INT(rc, LLMBILL_EFULL);
    CHECK(n > 100 && n < 400);
    CHECK(t_stats(h, NULL).rejected_full >= 1);
    unlink(t_path(dir, "block"));
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK_EQ_INT(record_soon(h, &u), 0); /* once the journal thread deleted finished segments */
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    wait_segments("s4", 1); /* all but the one being written */
    /* a real write failure (a file size limit, like a full disk): the next
     * segment cannot be allocated, and that is LLMBILL_ESPOOL */
    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 4096;
    setrlimit(RLIMIT_FSIZE, &lim);
    n = 0;
    while ((rc = llmbill_record(h, &u)) == 0)
        n++;
    CHECK_EQ_INT(rc, LLMBILL_ESPOOL);
    CHECK(n < 100);                     /* only what the current segment held */
    CHECK_EQ_INT(llmbill_record(h, &u), LLMBILL_ESPOOL); /* and it stays so */
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK_EQ_INT(record_soon(h, &u), 0); /* recovered by itself */
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    llmbill_close(h);
    /* spool_full = block: the record waits for room instead */
    t_write(t_path(dir, "block"), "x");
    h = open_spool("s4b", "spool_max_bytes = 65536\nsegment_bytes = 8192\nspool_full = block\n"
                   "overflow_block_ms = 60000\n", sinks);
    {
        pthread_t th;

        pthread_create(&th, NULL, unblock_when_waiting, (void *)t_path(dir, "block"));
        /* three times what the spool holds: some calls wait, none fails */
        for (n = 0; n < 600; n++) {
            atomic_fetch_add(&calls_started, 1);
            rc = llmbill_record(h, &u);
            atomic_fetch_add(&calls_done, 1);
            if (rc != 0)
                break;
        }
        pthread_join(th, NULL);
    }
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(n, 600);
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK_EQ_INT(llmbill_close(h), 0);
}

/* The number in a position file (0 when there is none). */
static unsigned long long ack_on_disk(const char *spool, const char *sink)
{
    char name[256], *s;
    unsigned long long v;

    snprintf(name, sizeof name, "%s/ack-%s", spool, sink);
    s = t_read(t_path(dir, name));
    v = strtoull(s, NULL, 10);
    free(s);
    return v;
}

/* A child that opens the spool with a fast sink and one (gate) that takes
 * 10 events one at a time and then retries forever: the gate holds the
 * queue (16 events) full, so the journal thread waits for room, and the
 * fast sink delivers 10 + 16 events. It writes that count to fd once the
 * fast sink delivered it, then waits to be killed. */
static void child_behind_a_full_queue(int fd)
{
    llmbill *h = open_spool("s9", "queue_max = 16\n", "callbacks = fast, gate\n"
                            "[fast]\nplugin = testsink\n"
                            "[gate]\nplugin = testsink\nbatch_size = 1\nstall_after = 10\n");
    long long t0 = t_mono_ms();
    uint64_t n;

    while ((n = t_stats(h, "fast").delivered) < 26 && t_mono_ms() - t0 < 60000)
        usleep(2000);
    dprintf(fd, "%llu\n", (unsigned long long)n);
    for (;;)
        pause();
}

/* While one sink holds the queue full, the journal thread waits for room;
 * it goes on writing the positions of the sinks that progress meanwhile,
 * so a kill -9 then re-sends them only what they finished in the last
 * ACK_EVERY_MS (here: nothing, the test waits for the positions). Before,
 * it wrote no position until room came: the fast sink got the whole queue
 * again after the kill. */
static void full_queue_keeps_positions(void)
{
    const char *both = "callbacks = fast, gate\n[fast]\nplugin = testsink\nalways = retry\n"
                       "[gate]\nplugin = testsink\nalways = retry\n";
    char sinks[1024], buf[64] = "";
    llmbill *h;
    int fds[2];
    unsigned long long done, fast_disk, gate_disk;
    long long t0;
    pid_t pid;

    /* 200 events wait in the journal, so that the child's journal thread
     * reads them all in one pass */
    h = open_spool("s9", "queue_max = 16\n", both);
    record_ids(h, 0, 200);
    CHECK_EQ_INT(llmbill_close(h), LLMBILL_ETIMEDOUT);
    CHECK_EQ_INT(pipe(fds), 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child_behind_a_full_queue(fds[1]);
    }
    close(fds[1]);
    CHECK(read(fds[0], buf, sizeof buf - 1) > 0);
    close(fds[0]);
    done = strtoull(buf, NULL, 10);
    CHECK_EQ_INT(done, 26);
    /* the positions reach the disk within ACK_EVERY_MS (60 s: a generous
     * bound for a loaded machine, not a speed test) */
    t0 = t_mono_ms();
    for (;;) {
        fast_disk = ack_on_disk("s9", "fast");
        gate_disk = ack_on_disk("s9", "gate");
        if ((fast_disk >= done && gate_disk >= 10) || t_mono_ms() - t0 >= 60000)
            break;
        usleep(2000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fprintf(stderr, "positions on disk behind a full queue: fast %llu of %llu, gate %llu of 10\n",
            fast_disk, done, gate_disk);
    /* the restart sends each sink only what it had not finished */
    snprintf(sinks, sizeof sinks, "callbacks = fast, gate\n"
             "[fast]\nplugin = testsink\noutput = %s\nid_space = 1000\nper_thread = 1000\n"
             "[gate]\nplugin = testsink\noutput = %s\nid_space = 1000\nper_thread = 1000\n",
             t_path(dir, "fast9"), t_path(dir, "gate9"));
    h = open_spool("s9", "queue_max = 16\n", sinks);
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK_EQ_INT(llmbill_close(h), 0);
    CHECK_EQ_INT(count_in(t_path(dir, "fast9"), "received="), 200 - 26);
    CHECK_EQ_INT(count_in(t_path(dir, "gate9"), "received="), 200 - 10);
}

/* kill -9 rounds, and the events a child records at most (a bounded
 * workload: the same on a fast machine and a slow one). */
#define KILL_ROUNDS 5
#define KILL_EVENTS 2000
#define KILL_ID_LEN 16 /* "k-PPPPPPP-IIIII\n" */

/* The child records KILL_EVENTS events against a Lago that is down, writing
 * each id (KILL_ID_LEN bytes) to fd after llmbill_record() returned 0, then
 * waits to be killed. */
static void child_records(const char *ini_path, int fd)
{
    llmbill *h;
    char e[512];
    struct llmbill_open_opts o;

    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.errbuf = e;
    o.errbuf_len = sizeof e;
    if (llmbill_open(&h, ini_path, &o) != 0) {
        dprintf(2, "child: %s\n", e);
        _exit(3);
    }
    for (long i = 0; i < KILL_EVENTS; i++) {
        char id[64];
        struct llmbill_usage u = t_usage("acme", id);

        snprintf(id, sizeof id, "k-%07d-%05ld", (int)getpid() % 10000000, i);
        if (llmbill_record(h, &u) == 0)
            dprintf(fd, "%s\n", id);
    }
    for (;;)
        pause();
}

/* Children record into one journal and are killed with SIGKILL after a
 * random number of acknowledged events; a restart with Lago up stores
 * every acknowledged event exactly once. */
static void kill_9_then_deliver_exactly_once(void)
{
    struct lago_server srv;
    struct t_idset stored;
    char ini[1024], acked[512], *ids, *all, *line, *save = NULL;
    long n_acked = 0, n_bad = 0;
    int fd;
    llmbill *h;

    snprintf(acked, sizeof acked, "%s/acked.txt", dir);
    fd = open(acked, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    CHECK(fd >= 0);
    /* Lago is down (nothing listens on port 1) while the process is killed */
    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = lago\nlinger_ms = 5\n"
             "retry_base_ms = 10\nretry_max_ms = 20\nspool_dir = %s/s5\n[lago]\n"
             "api_base = http://127.0.0.1:1\napi_key = k\nevent_code = c\n", PLUGIN_DIR, dir);
    t_write(t_path(dir, "down.ini"), ini);
    for (int round = 0; round < KILL_ROUNDS; round++) {
        struct stat st;
        off_t before, target;
        long long t0 = t_mono_ms();
        pid_t pid;

        CHECK(fstat(fd, &st) == 0);
        before = st.st_size;
        target = before + (off_t)(1 + rand() % (KILL_EVENTS / 2)) * KILL_ID_LEN;
        pid = fork();
        CHECK(pid >= 0);
        if (pid == 0)
            child_records(t_path(dir, "down.ini"), fd);
        /* kill it once it acknowledged `target` events (60 s: a generous
         * bound for a loaded machine under sanitizers, not a speed test) */
        while (fstat(fd, &st) == 0 && st.st_size < target && t_mono_ms() - t0 < 60000)
            usleep(200);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        CHECK(st.st_size >= target);
    }
    close(fd);
    /* restart with Lago up */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CHECK_EQ_INT(lago_server_start(&srv, LAGO_SERVER, "k"), 0);
    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = lago\nlinger_ms = 5\n"
             "spool_dir = %s/s5\n[lago]\napi_base = %s\napi_key = k\nevent_code = c\n",
             PLUGIN_DIR, dir, srv.base);
    CHECK_EQ_INT(t_open(&h, ini, err, sizeof err), 0);
    CHECK_EQ_INT(llmbill_flush(h, 120000), 0);
    CHECK_EQ_INT(t_stats(h, NULL).dead_lettered, 0);
    CHECK_EQ_INT(llmbill_close(h), 0);
    /* every acknowledged id stored once: one pass over each list */
    all = lago_server_call(&srv, "/_events", NULL, NULL);
    t_idset_init(&stored, KILL_ROUNDS * KILL_EVENTS);
    t_idset_add_field(&stored, all, "transaction_id");
    ids = t_read(acked);
    for (line = strtok_r(ids, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int c = t_idset_count(&stored, line);

        if (c != 1 && n_bad++ < 5)
            fprintf(stderr, "event %s stored %d times\n", line, c);
        n_acked++;
    }
    if (n_bad > 0) {
        fprintf(stderr, "%ld of %ld acknowledged events not stored exactly once\n", n_bad, n_acked);
        exit(1);
    }
    fprintf(stderr, "%ld acknowledged events across %d kill -9s; Lago stored %zu\n", n_acked,
            KILL_ROUNDS, stored.n);
    CHECK(n_acked >= KILL_ROUNDS);
    CHECK(n_acked <= KILL_ROUNDS * KILL_EVENTS);
    CHECK((long)stored.n >= n_acked);
    t_idset_free(&stored);
    free(ids);
    free(all);
    lago_server_stop(&srv);
}

/* What kill -9 leaves: the last segment at its full allocated size, zeros
 * after the frames, maybe a frame without its magic (stored last). A start
 * resumes after the last whole frame, counts nothing as corrupt, and the
 * next close cuts the segment to its frames again. */
static void resumes_after_a_crash_tail(void)
{
    char sinks[512], cmd[1024];
    llmbill *h;
    struct stat st;

    h = open_spool("s6", "segment_bytes = 65536\n",
                   "callbacks = t\n[t]\nplugin = testsink\nalways = retry\n");
    record_ids(h, 0, 20);
    llmbill_close(h);
    snprintf(cmd, sizeof cmd, "%s/s6/seg-00000000000000000001.lbj", dir);
    CHECK_EQ_INT(stat(cmd, &st), 0);
    CHECK(st.st_size > 0 && st.st_size < 65536); /* a clean close cut it to its frames */
    /* a frame whose magic never got written, then zeros to the full size */
    damage("s6", "printf '\\000\\000\\000\\000\\100\\000\\000\\000\\025half a frame' >> $f && "
                 "truncate -s 65536 $f");
    CHECK_EQ_INT(resume_counting("s6", "segment_bytes = 65536\n", "s6.out", 20, 10), 0);
    CHECK_EQ_INT(count_in(t_path(dir, "s6.out"), "received="), 30);
    CHECK_EQ_INT(count_in(t_path(dir, "s6.out"), "dups="), 0);
    /* a record larger than segment_bytes gets a segment of its own size */
    {
        static char big[LLMBILL_METADATA_VALUE_MAX + 1];
        struct llmbill_kv kv[2] = { { "a", big }, { "b", big } };
        struct llmbill_usage u = t_usage("acme", "t0-99");

        memset(big, 'x', sizeof big - 1);
        u.metadata = kv;
        u.n_metadata = 2;
        snprintf(sinks, sizeof sinks, "callbacks = t\n[t]\nplugin = testsink\noutput = %s\n"
                 "id_space = 100\nper_thread = 100\n", t_path(dir, "s6b.out"));
        h = open_spool("s6", "segment_bytes = 4096\n", sinks);
        CHECK_EQ_INT(llmbill_record(h, &u), 0);
        record_ids(h, 30, 5);
        CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
        llmbill_close(h);
        CHECK_EQ_INT(count_in(t_path(dir, "s6b.out"), "received="), 6);
    }
}

/* A spool written by llmbill 0.1 ("LBJ1" frames, JSON payloads) is read. */
static void reads_version_1_frames(void)
{
    char cmd[2048];

    snprintf(cmd, sizeof cmd, "mkdir -p %s/s8 && python3 -c \"\n"
             "import struct\n"
             "def crc32c(d, c=0):\n"
             "    c ^= 0xffffffff\n"
             "    for b in d:\n"
             "        c ^= b\n"
             "        for _ in range(8):\n"
             "            c = (c >> 1) ^ (0x82f63b78 if c & 1 else 0)\n"
             "    return c ^ 0xffffffff\n"
             "out = b''\n"
             "for seq in (1, 2):\n"
             "    p = b'{\\\"event_id\\\":\\\"t0-%%d\\\",\\\"customer_id\\\":\\\"acme\\\",\\\"model\\\":\\\"m\\\"}' %% seq\n"
             "    s = struct.pack('<Q', seq)\n"
             "    out += struct.pack('<II', 0x314a424c, len(p)) + s + struct.pack('<I', crc32c(p + s)) + p\n"
             "open('%s/s8/seg-00000000000000000001.lbj', 'wb').write(out)\n"
             "\"", dir, dir);
    CHECK_EQ_INT(system(cmd), 0);
    CHECK_EQ_INT(resume_counting("s8", "", "s8.out", 3, 2), 0);
    CHECK_EQ_INT(count_in(t_path(dir, "s8.out"), "received="), 4);
    CHECK_EQ_INT(count_in(t_path(dir, "s8.out"), "dups="), 0);
}

/* One journal, one writer: a second handle on the same spool_dir gets its
 * own journal (spool_dir/j-<id>, adopt.c); a paused one only looks, and
 * sees both. */
static void one_writer_per_journal(void)
{
    llmbill *h = open_spool("s7", "", "callbacks = t\n[t]\nplugin = testsink\nalways = retry\n"),
            *h2;
    struct llmbill_usage u = t_usage("acme", NULL);

    record_ids(h, 0, 7);
    h2 = open_spool("s7", "", "callbacks = t\n[t]\nplugin = testsink\nalways = retry\n");
    record_ids(h2, 7, 3);
    {
        llmbill *p = open_paused("s7", "callbacks = t\n[t]\nplugin = testsink\n");

        CHECK_EQ_INT(t_stats(p, NULL).spooled, 10);
        CHECK_EQ_INT(llmbill_record(p, &u), LLMBILL_ECLOSED);
        llmbill_close(p);
    }
    CHECK_EQ_INT(llmbill_record(h, &u), 0); /* the writers go on */
    llmbill_close(h2);
    llmbill_close(h);
    CHECK_EQ_INT(backlog("s7", "callbacks = t\n[t]\nplugin = testsink\n"), 11);
}

static void config_errors(void)
{
    llmbill *h;

    CHECK_EQ_INT(t_open(&h, "[llmbill]\nplugin_dir = " TEST_PLUGIN_DIR "\ncallbacks = testsink\n"
                        "durability = sometimes\n", err, sizeof err), LLMBILL_ECONFIG);
    CHECK_CONTAINS(err, ":4: [llmbill] durability: 'sometimes' is not memory, process or fsync");
    CHECK_EQ_INT(t_open(&h, "[llmbill]\nplugin_dir = " TEST_PLUGIN_DIR "\ncallbacks = testsink\n"
                        "durability = fsync\n", err, sizeof err), LLMBILL_ECONFIG);
    CHECK_CONTAINS(err, "durability: 'fsync' needs spool_dir");
    CHECK_EQ_INT(t_open(&h, "[llmbill]\nplugin_dir = " TEST_PLUGIN_DIR "\ncallbacks = testsink\n"
                        "spool_dir = /proc/llmbill-no\n", err, sizeof err), LLMBILL_ECONFIG);
    CHECK_CONTAINS(err, "spool_dir /proc/llmbill-no:");
    CHECK_EQ_INT(t_open(&h, "[llmbill]\nplugin_dir = " TEST_PLUGIN_DIR "\ncallbacks = testsink\n"
                        "spool_full = drop\n", err, sizeof err), LLMBILL_ECONFIG);
    CHECK_CONTAINS(err, ":4: [llmbill] spool_full: 'drop' is not error or block");
}

int main(void)
{
    dir = strdup(t_tmpdir());
    srand((unsigned)getpid());
    RUN(survives_a_restart);
    RUN(two_sinks_two_paces);
    RUN(torn_and_corrupt_segments);
    RUN(full_disk);
    RUN(resumes_after_a_crash_tail);
    RUN(one_writer_per_journal);
    RUN(reads_version_1_frames);
    RUN(kill_9_then_deliver_exactly_once);
    RUN(full_queue_keeps_positions);
    RUN(config_errors);
    printf("test_journal: ok\n");
    return 0;
}
