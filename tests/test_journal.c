/* The durable journal: events survive restarts and kill -9, each sink goes
 * at its own pace, torn and corrupt segments never wedge it, a full disk is
 * an error the caller sees and recovers from. */
#include <pthread.h>
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
    CHECK_EQ_INT(llmbill_flush(h, 10000), 0);
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

static void two_sinks_two_paces(void)
{
    char sinks[1024];
    llmbill *h;
    long fast1, slow1;

    snprintf(sinks, sizeof sinks, "callbacks = fast, slow\n"
             "[fast]\nplugin = testsink\noutput = %s\nid_space = 1000\nper_thread = 1000\n"
             "[slow]\nplugin = testsink\nbatch_size = 1\nsleep_ms = 20\noutput = %s\n"
             "id_space = 1000\nper_thread = 1000\n", t_path(dir, "fast1"), t_path(dir, "slow1"));
    h = open_spool("s2", "", sinks);
    record_ids(h, 0, 100);
    usleep(300 * 1000);
    CHECK_EQ_INT(t_stats(h, "fast").spooled, 0);
    CHECK(t_stats(h, "slow").spooled > 50);
    llmbill_close(h); /* the slow sink is left behind */
    fast1 = count_in(t_path(dir, "fast1"), "received=");
    slow1 = count_in(t_path(dir, "slow1"), "received=");
    CHECK_EQ_INT(fast1, 100);
    CHECK(slow1 < 100);
    snprintf(sinks, sizeof sinks, "callbacks = fast, slow\n"
             "[fast]\nplugin = testsink\noutput = %s\nid_space = 1000\nper_thread = 1000\n"
             "[slow]\nplugin = testsink\noutput = %s\nid_space = 1000\nper_thread = 1000\n",
             t_path(dir, "fast2"), t_path(dir, "slow2"));
    h = open_spool("s2", "", sinks);
    CHECK_EQ_INT(llmbill_flush(h, 10000), 0);
    llmbill_close(h);
    /* the fast sink got nothing twice; the slow one resumed where it was */
    CHECK_EQ_INT(count_in(t_path(dir, "fast2"), "received="), 0);
    CHECK_EQ_INT(count_in(t_path(dir, "slow2"), "received="), 100 - slow1);
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
    CHECK_EQ_INT(llmbill_flush(h, 10000), 0);
    corrupt = t_stats(h, NULL).spool_corrupt;
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

static void *unblock_later(void *path)
{
    usleep(300 * 1000);
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
    CHECK_EQ_INT(llmbill_flush(h, 10000), 0);
    usleep(400 * 1000); /* the journal thread deletes finished segments */
    CHECK_EQ_INT(llmbill_record(h, &u), 0);
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
    usleep(400 * 1000);
    CHECK_EQ_INT(llmbill_record(h, &u), 0); /* recovered by itself */
    CHECK_EQ_INT(llmbill_flush(h, 10000), 0);
    llmbill_close(h);
    /* spool_full = block: the record waits for room instead */
    t_write(t_path(dir, "block"), "x");
    h = open_spool("s4b", "spool_max_bytes = 65536\nsegment_bytes = 8192\nspool_full = block\n"
                   "overflow_block_ms = 5000\n", sinks);
    {
        pthread_t th;
        long long t0 = t_mono_ms(), slowest = 0;

        pthread_create(&th, NULL, unblock_later, (void *)t_path(dir, "block"));
        /* three times what the spool holds: some calls wait, none fails */
        for (n = 0; n < 600 && (rc = llmbill_record(h, &u)) == 0; n++) {
            long long t1 = t_mono_ms();

            if (t1 - t0 > slowest)
                slowest = t1 - t0;
            t0 = t1;
        }
        pthread_join(th, NULL);
        CHECK(slowest >= 100); /* a call waited for room */
    }
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(llmbill_flush(h, 10000), 0);
    llmbill_close(h);
}

/* The child records events forever against a Lago that is down, writing
 * each id to fd after llmbill_record() returned 0. */
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
    for (long i = 0;; i++) {
        char id[64];
        struct llmbill_usage u = t_usage("acme", id);

        snprintf(id, sizeof id, "k-%d-%ld", (int)getpid(), i);
        if (llmbill_record(h, &u) == 0)
            dprintf(fd, "%s\n", id);
    }
}

static void kill_9_then_deliver_exactly_once(void)
{
    struct lago_server srv;
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
    for (int round = 0; round < 5; round++) {
        pid_t pid = fork();

        CHECK(pid >= 0);
        if (pid == 0)
            child_records(t_path(dir, "down.ini"), fd);
        {
            /* let the child get going (slow under sanitizers), then kill it at a random point */
            struct stat st;
            off_t before = fstat(fd, &st) == 0 ? st.st_size : 0;
            long long t0 = t_mono_ms();

            while (fstat(fd, &st) == 0 && st.st_size == before && t_mono_ms() - t0 < 20000)
                usleep(1000);
        }
        usleep((useconds_t)(rand() % 150000));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
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
    CHECK_EQ_INT(llmbill_close(h), 0);
    all = lago_server_call(&srv, "/_events", NULL, NULL);
    ids = t_read(acked);
    for (line = strtok_r(ids, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char key[96];
        char *first;

        snprintf(key, sizeof key, "\"transaction_id\": \"%s\"", line);
        first = strstr(all, key);
        if (first == NULL || strstr(first + 1, key) != NULL) {
            if (n_bad++ < 5)
                fprintf(stderr, "event %s stored %s\n", line, first ? "twice" : "never");
        }
        n_acked++;
    }
    if (n_bad > 0) {
        fprintf(stderr, "%ld of %ld acknowledged events not stored exactly once\n", n_bad, n_acked);
        exit(1);
    }
    fprintf(stderr, "%ld acknowledged events across 5 kill -9s; Lago stored %ld\n", n_acked,
            lago_server_stat(&srv, "stored"));
    CHECK(n_acked > 100);
    CHECK(lago_server_stat(&srv, "stored") >= n_acked);
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
        CHECK_EQ_INT(llmbill_flush(h, 10000), 0);
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

/* One spool, one writer: a second handle is refused with a clear error. */
static void one_writer_per_spool(void)
{
    llmbill *h = open_spool("s7", "", "callbacks = t\n[t]\nplugin = testsink\nalways = retry\n"),
            *h2;
    char ini[1024];

    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\nspool_dir = %s/s7\ncallbacks = t\n"
             "[t]\nplugin = testsink\n", TEST_PLUGIN_DIR, dir);
    CHECK_EQ_INT(t_open(&h2, ini, err, sizeof err), LLMBILL_ECONFIG);
    CHECK_CONTAINS(err, "s7: in use by another llmbill handle or process");
    /* a paused handle may look: it reads the backlog and records nothing */
    {
        struct llmbill_usage u = t_usage("acme", NULL);

        record_ids(h, 0, 7);
        h2 = open_paused("s7", "callbacks = t\n[t]\nplugin = testsink\n");
        CHECK_EQ_INT(t_stats(h2, NULL).spooled, 7);
        CHECK_EQ_INT(llmbill_record(h2, &u), LLMBILL_ECLOSED);
        llmbill_close(h2);
        CHECK_EQ_INT(llmbill_record(h, &u), 0); /* the writer goes on */
    }
    llmbill_close(h);
    CHECK_EQ_INT(t_open(&h2, ini, err, sizeof err), 0);
    llmbill_close(h2);
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
    RUN(one_writer_per_spool);
    RUN(reads_version_1_frames);
    RUN(kill_9_then_deliver_exactly_once);
    RUN(config_errors);
    printf("test_journal: ok\n");
    return 0;
}
