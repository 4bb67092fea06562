/* The event path: record, batching, flush and close ordering, retries and
 * backoff, dead letters, overflow, filters, isolation between sinks. */
#include <dlfcn.h>
#include <pthread.h>
#include <sys/wait.h>

#include "lb.h"
#include "t.h"

static char err[2048];
static const char *dir;

static llmbill *open_ok(const char *fmt, ...)
{
    char ini[4096];
    va_list ap;
    llmbill *h;
    int rc;

    va_start(ap, fmt);
    vsnprintf(ini, sizeof ini, fmt, ap);
    va_end(ap);
    rc = t_open(&h, ini, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "open failed (%d): %s\n%s\n", rc, err, ini);
        exit(1);
    }
    return h;
}

#define HEAD "[llmbill]\nplugin_dir = " TEST_PLUGIN_DIR "\nlinger_ms = 5\n"

static void record_flush_close(void)
{
    llmbill *h = open_ok(HEAD "callbacks = t\nbatch_size = 64\n[t]\nplugin = testsink\n"
                         "output = %s\n", t_path(dir, "rfc.txt"));
    char id[64];
    char *s;

    for (int i = 0; i < 250; i++) {
        struct llmbill_usage u = t_usage("acme", NULL);

        snprintf(id, sizeof id, "t0-%d", i);
        u.event_id = id;
        CHECK_EQ_INT(llmbill_record(h, &u), 0);
    }
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    {
        struct llmbill_stats st = t_stats(h, "t"), tot = t_stats(h, NULL);

        CHECK_EQ_INT(st.recorded, 250);
        CHECK_EQ_INT(st.delivered, 250);
        CHECK_EQ_INT(st.pending, 0);
        CHECK_EQ_INT(tot.recorded, 250);
        CHECK_EQ_INT(tot.delivered, 250);
        CHECK_EQ_INT(llmbill_get_stats(h, "nope", &st), LLMBILL_ENOTFOUND);
    }
    /* events recorded right before close are delivered by close */
    for (int i = 250; i < 1250; i++) {
        struct llmbill_usage u = t_usage("acme", NULL);

        snprintf(id, sizeof id, "t0-%d", i);
        u.event_id = id;
        CHECK_EQ_INT(llmbill_record(h, &u), 0);
    }
    CHECK_EQ_INT(llmbill_close(h), 0);
    s = t_read(t_path(dir, "rfc.txt"));
    CHECK_CONTAINS(s, "received=1250 unique=0"); /* no id_space: ids not tracked */
    CHECK_CONTAINS(s, "max_batch=64 ");
    free(s);
}

static void validation(void)
{
    llmbill *h = open_ok(HEAD "callbacks = testsink\n");
    struct llmbill_usage u;
    struct llmbill_kv kv[1] = { { "k", "\xff" } };
    struct llmbill_kv dup[3] = { { "a", "1" }, { "b", "2" }, { "a", "3" } }; /* which a? */
    char why[256];

#define BAD(mutate, msg)                                                         \
    do {                                                                         \
        u = t_usage("acme", NULL);                                               \
        mutate;                                                                  \
        CHECK_EQ_INT(llmbill_record(h, &u), LLMBILL_EINVAL);                     \
        CHECK_EQ_INT(llmbill_usage_validate(&u, why, sizeof why), LLMBILL_EINVAL); \
        CHECK_CONTAINS(why, msg);                                                \
    } while (0)
    BAD(u.model = NULL, "model: required");
    BAD(u.model = "", "model: required");
    BAD(u.customer_id = NULL, "at least one is required");
    BAD((u.cached_input_tokens = 101), "must include cached_input_tokens");
    BAD((u.cached_input_tokens = 60, u.cache_creation_input_tokens = 41),
        "cache_creation_input_tokens");
    BAD(u.reasoning_tokens = 21, "must include reasoning_tokens");
    BAD(u.event_id = "has space", "event_id: only printable ASCII");
    BAD(u.event_id = "", "event_id: empty");
    BAD(u.customer_id = "bad\xc3(", "customer_id: not valid UTF-8");
    BAD(u.timestamp_ms = -5, "timestamp_ms: negative");
    BAD(u.currency = "usd", "currency: expected a 3-letter");
    BAD(u.status = 7, "status:");
    BAD(u.flags = 0x80, "flags: unknown bits");
    BAD((u.flags = LLMBILL_USAGE_COST_KNOWN, u.cost = -1), "cost: negative");
    BAD((u.n_metadata = 1, u.metadata = kv), "metadata[0]: not valid UTF-8");
    BAD((u.n_metadata = 3, u.metadata = dup), "metadata[2]: key 'a' given twice");
    BAD(u.struct_size = 8, "struct_size: too small");
#undef BAD
    CHECK_EQ_INT(llmbill_record(h, NULL), LLMBILL_EINVAL);
    CHECK_EQ_INT(t_stats(h, NULL).rejected_invalid, 17);
    CHECK_EQ_INT(t_stats(h, NULL).recorded, 0);
    /* an older caller's smaller struct is accepted: the tail reads as zero */
    u = t_usage("acme", NULL);
    u.struct_size = offsetof(struct llmbill_usage, metadata) + sizeof(void *);
    CHECK_EQ_INT(llmbill_record(h, &u), 0);
    llmbill_close(h);
}

static void generated_ids_and_time(void)
{
    llmbill *h = open_ok(HEAD "callbacks = testsink\n");
    struct llmbill_usage u = t_usage("acme", NULL);
    char a[64], b[64], c[64];
    long long before = (long long)time(NULL) * 1000;

    CHECK_EQ_INT(llmbill_record_id(h, &u, a, sizeof a), 0);
    usleep(3000);
    CHECK_EQ_INT(llmbill_record_id(h, &u, b, sizeof b), 0);
    CHECK_EQ_INT(strlen(a), 36);
    CHECK(a[8] == '-' && a[13] == '-' && a[14] == '7' && a[18] == '-' && a[23] == '-');
    CHECK(strchr("89ab", a[19]) != NULL);
    CHECK(strcmp(a, b) < 0); /* time-ordered */
    { char hex[13]; memcpy(hex, a, 8); memcpy(hex + 8, a + 9, 4); hex[12] = 0; CHECK(strtoll(hex, NULL, 16) >= before - 1000); }
    u.event_id = "my-own-id";
    CHECK_EQ_INT(llmbill_record_id(h, &u, c, sizeof c), 0);
    CHECK(strcmp(c, "my-own-id") == 0);
    CHECK_EQ_INT(llmbill_record_id(h, &u, c, 4), 0);
    CHECK(strcmp(c, "my-") == 0);
    llmbill_close(h);
}

/* A forked child gets event ids of its own: its random generator is
 * reseeded, not a copy of its parent's. */
static void forked_child_ids_differ(void)
{
    llmbill *h = open_ok(HEAD "callbacks = testsink\n");
    struct llmbill_usage u = t_usage("acme", NULL);
    char mine[20][64], theirs[20 * 64] = "", id[64];
    int fds[2];
    pid_t pid;
    size_t got = 0;
    ssize_t r;

    CHECK_EQ_INT(llmbill_record_id(h, &u, id, sizeof id), 0); /* this thread's generator is seeded */
    llmbill_close(h);
    CHECK_EQ_INT(pipe(fds), 0);
    pid = fork();
    CHECK(pid >= 0);
    h = open_ok(HEAD "callbacks = testsink\n");
    if (pid == 0) {
        close(fds[0]);
        for (int i = 0; i < 20; i++) {
            if (llmbill_record_id(h, &u, id, sizeof id) != 0)
                _exit(1);
            if (write(fds[1], id + 24, 12) != 12) /* the last 48 random bits */
                _exit(1);
        }
        _exit(0);
    }
    close(fds[1]);
    for (int i = 0; i < 20; i++)
        CHECK_EQ_INT(llmbill_record_id(h, &u, mine[i], sizeof mine[i]), 0);
    while (got < sizeof theirs - 1 && (r = read(fds[0], theirs + got, sizeof theirs - 1 - got)) > 0)
        got += (size_t)r;
    close(fds[0]);
    waitpid(pid, NULL, 0);
    CHECK_EQ_INT(got, 20 * 12);
    for (int i = 0; i < 20; i++)
        CHECK(strstr(theirs, mine[i] + 24) == NULL);
    llmbill_close(h);
}

static void retry_backoff(void)
{
    llmbill *h = open_ok(HEAD "callbacks = t\nretry_base_ms = 20\nretry_max_ms = 40\n"
                         "[t]\nplugin = testsink\nfail_times = 3\nattempts_log = %s\n",
                         t_path(dir, "attempts.txt"));
    struct llmbill_usage u = t_usage("acme", NULL);
    char *log;
    unsigned at[8];
    long long ms[8];
    size_t n[8];
    int k = 0;
    const char *p;

    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(llmbill_record(h, &u), 0);
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK_EQ_INT(t_stats(h, "t").delivered, 4);
    CHECK_EQ_INT(t_stats(h, "t").retried, 12);
    llmbill_close(h);
    log = t_read(t_path(dir, "attempts.txt"));
    for (p = log; k < 8 && sscanf(p, "%u %zu %lld", &at[k], &n[k], &ms[k]) == 3; k++)
        p = strchr(p, '\n') + 1;
    CHECK_EQ_INT(k, 4);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(at[i], i);   /* the attempt number counts up */
        CHECK_EQ_INT(n[i], 4);    /* the same batch is retried whole */
    }
    for (int i = 1; i < 4; i++)
        CHECK(ms[i] - ms[i - 1] <= 40 + 200); /* full jitter below the cap (+ scheduling slack) */
    free(log);
}

static void retry_after_is_a_floor(void)
{
    llmbill *h = open_ok(HEAD "callbacks = t\nretry_base_ms = 1\nretry_max_ms = 2\n"
                         "[t]\nplugin = testsink\nfail_times = 1\nretry_after_ms = 300\n");
    struct llmbill_usage u = t_usage("acme", NULL);
    long long t0 = t_mono_ms();

    CHECK_EQ_INT(llmbill_record(h, &u), 0);
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK(t_mono_ms() - t0 >= 300);
    CHECK_EQ_INT(t_stats(h, "t").delivered, 1);
    llmbill_close(h);
}

static void dead_letters(void)
{
    llmbill *h = open_ok(HEAD "callbacks = t\ndead_letter_dir = %s/dl\n"
                         "[t]\nplugin = testsink\nlinger_ms = 50\nreject_customer = bad\nretry_customer = slow\n",
                         dir);
    const char *cust[] = { "good", "bad", "slow", "good", "bad", "good" };
    char ids[6][16], *file, *line, *save = NULL;
    int nl = 0;

    for (int i = 0; i < 6; i++) {
        struct llmbill_usage u = t_usage(cust[i], NULL);

        snprintf(ids[i], sizeof ids[i], "ev-%d", i);
        u.event_id = ids[i];
        CHECK_EQ_INT(llmbill_record(h, &u), 0);
    }
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    {
        struct llmbill_stats st = t_stats(h, "t");

        CHECK_EQ_INT(st.delivered, 4);      /* good x3 and slow after its retry */
        CHECK_EQ_INT(st.dead_lettered, 2);
        CHECK_EQ_INT(st.retried, 1);
        CHECK_EQ_INT(st.pending, 0);
    }
    llmbill_close(h);
    file = t_read(t_path(dir, "dl/t.deadletter.jsonl"));
    for (line = strtok_r(file, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        struct llmbill_usage u;
        struct llmbill_kv kv[4];
        char why[256];

        nl++;
        CHECK_CONTAINS(line, "\"dead_letter\":{\"sink\":\"t\",\"reason\":\"customer is blocked "
                             "\\\"by test\\\"\",\"attempts\":1,\"at_ms\":");
        CHECK_EQ_INT(llmbill_usage_from_json(&u, line, strlen(line), kv, 4, why, sizeof why), 0);
        CHECK(strcmp(u.customer_id, "bad") == 0);
        CHECK(strcmp(u.event_id, nl == 1 ? "ev-1" : "ev-4") == 0);
    }
    CHECK_EQ_INT(nl, 2);
    free(file);
}

static void retry_limit_and_errors(void)
{
    llmbill *h = open_ok(HEAD "callbacks = r, e\nretry_base_ms = 1\nretry_max_ms = 2\n"
                         "dead_letter_dir = %s/dl2\n"
                         "[r]\nplugin = testsink\nalways = retry\nretry_limit = 2\n"
                         "[e]\nplugin = testsink\nalways = error\n", dir);
    struct llmbill_usage u = t_usage("acme", "limit-1");
    char *r, *e;

    CHECK_EQ_INT(llmbill_record(h, &u), 0);
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK_EQ_INT(t_stats(h, "r").dead_lettered, 1);
    CHECK_EQ_INT(t_stats(h, "r").retried, 3);
    CHECK_EQ_INT(t_stats(h, "e").dead_lettered, 1);
    CHECK_EQ_INT(t_stats(h, "e").retried, 0);
    llmbill_close(h);
    r = t_read(t_path(dir, "dl2/r.deadletter.jsonl"));
    e = t_read(t_path(dir, "dl2/e.deadletter.jsonl"));
    CHECK_CONTAINS(r, "\"event_id\":\"limit-1\"");
    CHECK_CONTAINS(r, "\"reason\":\"retry limit (2) reached; last error: always retry\",\"attempts\":3");
    CHECK_CONTAINS(e, "\"reason\":\"always error\",\"attempts\":1");
    CHECK_EQ_INT(t_count_lines(r), 1);
    CHECK_EQ_INT(t_count_lines(e), 1);
    free(r);
    free(e);
}

static void overflow_error(void)
{
    const char *block = t_path(dir, "block");
    llmbill *h;
    struct llmbill_usage u = t_usage("acme", NULL);
    int accepted = 0, rc;

    t_write(block, "x");
    h = open_ok(HEAD "callbacks = t\nqueue_max = 16\n[t]\nplugin = testsink\nbatch_size = 1\n"
                "block_file = %s\n", block);
    while ((rc = llmbill_record(h, &u)) == 0)
        accepted++;
    CHECK_EQ_INT(rc, LLMBILL_EFULL);
    CHECK_EQ_INT(accepted, 16); /* exactly the bound: nothing dropped, nothing over */
    CHECK_EQ_INT(llmbill_record(h, &u), LLMBILL_EFULL);
    CHECK_EQ_INT(t_stats(h, NULL).rejected_full, 2);
    CHECK_EQ_INT(t_stats(h, NULL).recorded, 16);
    unlink(block);
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK_EQ_INT(t_stats(h, "t").delivered, 16);
    CHECK_EQ_INT(llmbill_record(h, &u), 0);
    llmbill_close(h);
    /* a larger queue is split into shards: one thread that fills its own
     * shard goes on in the others, so the bound is still exact */
    t_write(block, "x");
    h = open_ok(HEAD "callbacks = t\nqueue_max = 1024\n[t]\nplugin = testsink\n"
                "batch_size = 1\nblock_file = %s\n", block);
    accepted = 0;
    while ((rc = llmbill_record(h, &u)) == 0)
        accepted++;
    CHECK_EQ_INT(rc, LLMBILL_EFULL);
    CHECK_EQ_INT(accepted, 1024);
    unlink(block);
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK_EQ_INT(t_stats(h, "t").delivered, 1024);
    llmbill_close(h);
}

static void *unblock_later(void *arg)
{
    usleep(100000);
    unlink(arg);
    return NULL;
}

static void overflow_block(void)
{
    const char *block = t_path(dir, "block2");
    llmbill *h;
    struct llmbill_usage u = t_usage("acme", NULL);
    long long t0;
    pthread_t th;
    int n = 0;

    t_write(block, "x");
    h = open_ok(HEAD "callbacks = t\nqueue_max = 16\noverflow = block\noverflow_block_ms = 200\n"
                "[t]\nplugin = testsink\nbatch_size = 1\nblock_file = %s\n", block);
    while (n < 16 && llmbill_record(h, &u) == 0)
        n++;
    CHECK_EQ_INT(n, 16);
    t0 = t_mono_ms();
    CHECK_EQ_INT(llmbill_record(h, &u), LLMBILL_EFULL); /* waited, then gave up */
    CHECK(t_mono_ms() - t0 >= 190);
    unlink(block);
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK_EQ_INT(t_stats(h, "t").delivered, 16);
    llmbill_close(h);
    /* room appears while a call waits (a generous overflow_block_ms, so that
     * the wait ends because of the room, on any machine) */
    t_write(block, "x");
    h = open_ok(HEAD "callbacks = t\nqueue_max = 16\noverflow = block\noverflow_block_ms = 60000\n"
                "[t]\nplugin = testsink\nbatch_size = 1\nblock_file = %s\n", block);
    for (n = 0; n < 16; n++)
        CHECK_EQ_INT(llmbill_record(h, &u), 0);
    pthread_create(&th, NULL, unblock_later, (void *)block);
    t0 = t_mono_ms();
    CHECK_EQ_INT(llmbill_record(h, &u), 0); /* room appeared while it waited */
    CHECK(t_mono_ms() - t0 >= 90);
    pthread_join(th, NULL);
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK_EQ_INT(t_stats(h, "t").delivered, 17);
    llmbill_close(h);
}

static void close_timeout_dead_letters(void)
{
    llmbill *h = open_ok(HEAD "callbacks = t\nshutdown_timeout_ms = 300\nretry_base_ms = 50\n"
                         "dead_letter_dir = %s/dl3\n[t]\nplugin = testsink\nalways = retry\n", dir);
    struct llmbill_usage u = t_usage("acme", NULL);
    long long t0;
    char *s;

    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(llmbill_record(h, &u), 0);
    CHECK_EQ_INT(llmbill_flush(h, 100), LLMBILL_ETIMEDOUT);
    CHECK_EQ_INT(t_stats(h, "t").pending, 5);
    t0 = t_mono_ms();
    CHECK_EQ_INT(llmbill_close(h), LLMBILL_ETIMEDOUT);
    CHECK(t_mono_ms() - t0 < 3000);
    s = t_read(t_path(dir, "dl3/t.deadletter.jsonl"));
    CHECK_EQ_INT(t_count_lines(s), 5);
    CHECK_CONTAINS(s, "undelivered at shutdown");
    free(s);
}

static void unwritable_dead_letter_keeps_events(void)
{
    const char *path = t_path(dir, "dl5/t.jsonl");
    llmbill *h;
    char *s;

    /* at open: fails closed, naming the file */
    CHECK_EQ_INT(t_open(&h, HEAD "callbacks = t\n[t]\nplugin = testsink\nalways = error\n"
                        "dead_letter = /proc/llmbill-no-such-dir/x.jsonl\n", err, sizeof err),
                 LLMBILL_EIO);
    CHECK_CONTAINS(err, "sink t: dead-letter file /proc/llmbill-no-such-dir/x.jsonl: cannot "
                        "create its directory");
    /* later (its path turned into a directory): the event is kept and the
     * write retried, never dropped, until the file takes it */
    h = open_ok(HEAD "callbacks = t\nretry_base_ms = 5\nretry_max_ms = 10\n"
                "[t]\nplugin = testsink\nalways = error\ndead_letter = %s\n", path);
    CHECK_EQ_INT(unlink(path), 0);
    CHECK_EQ_INT(mkdir(path, 0700), 0);
    {
        struct llmbill_usage u = t_usage("acme", "kept-1");

        CHECK_EQ_INT(llmbill_record(h, &u), 0);
    }
    CHECK_EQ_INT(llmbill_flush(h, 300), LLMBILL_ETIMEDOUT);
    CHECK_EQ_INT(t_stats(h, "t").pending, 1);       /* not dropped */
    CHECK_EQ_INT(t_stats(h, "t").dead_lettered, 0);
    CHECK_EQ_INT(t_stats(h, "t").lost, 0);
    CHECK_EQ_INT(rmdir(path), 0);
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK_EQ_INT(t_stats(h, "t").dead_lettered, 1);
    CHECK_EQ_INT(t_stats(h, "t").lost, 0);
    CHECK_EQ_INT(llmbill_close(h), 0);
    s = t_read(path);
    CHECK_EQ_INT(t_count_lines(s), 1);
    CHECK_CONTAINS(s, "\"event_id\":\"kept-1\"");
    free(s);
    /* the one loss left: at shutdown, without a journal, with every
     * dead-letter write failing; counted in stats.lost */
    h = open_ok(HEAD "callbacks = t\nshutdown_timeout_ms = 100\nretry_base_ms = 5\n"
                "[t]\nplugin = testsink\nalways = retry\ndead_letter = %s\n", path);
    CHECK_EQ_INT(unlink(path), 0);
    CHECK_EQ_INT(mkdir(path, 0700), 0);
    {
        struct llmbill_usage u = t_usage("acme", "lost-1");
        struct llmbill_stats fin;

        CHECK_EQ_INT(llmbill_record(h, &u), 0);
        memset(&fin, 0, sizeof fin);
        fin.struct_size = sizeof fin;
        CHECK_EQ_INT(llmbill_close_stats(h, &fin, 1), LLMBILL_ETIMEDOUT);
        CHECK_EQ_INT(fin.lost, 1);
        CHECK_EQ_INT(fin.dead_lettered, 0);
        CHECK_EQ_INT(fin.delivered, 0);
    }
    CHECK_EQ_INT(rmdir(path), 0);
}

/* logrotate's create mode: the dead-letter file and the jsonl ledger are
 * renamed (or removed) under a running handle; the next lines go to a new
 * file at the configured path, the old ones stay in the renamed file. */
static void rotated_files_are_reopened(void)
{
    const char *dl = t_path(dir, "rot/t.deadletter.jsonl"), *ledger = t_path(dir, "rot/ledger.jsonl");
    char moved_dl[600], moved_ledger[600], *s;
    llmbill *h;

    h = open_ok(HEAD "callbacks = t, j\ndead_letter_dir = %s/rot\n[t]\nplugin = testsink\n"
                "reject_customer = bad\n[j]\nplugin = %s/jsonl.so\npath = %s\n", dir, PLUGIN_DIR,
                ledger);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 4; i++) {
            char id[32];
            struct llmbill_usage u = t_usage(i % 2 ? "bad" : "acme", id);

            snprintf(id, sizeof id, "r%d-%d", round, i);
            CHECK_EQ_INT(llmbill_record(h, &u), 0);
        }
        CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
        snprintf(moved_dl, sizeof moved_dl, "%s.%d", dl, round);
        snprintf(moved_ledger, sizeof moved_ledger, "%s.%d", ledger, round);
        if (round == 1) { /* removed rather than renamed */
            s = t_read(dl);
            t_write(moved_dl, s);
            free(s);
            s = t_read(ledger);
            t_write(moved_ledger, s);
            free(s);
            CHECK_EQ_INT(unlink(dl), 0);
            CHECK_EQ_INT(unlink(ledger), 0);
        } else {
            CHECK_EQ_INT(rename(dl, moved_dl), 0);
            CHECK_EQ_INT(rename(ledger, moved_ledger), 0);
        }
    }
    CHECK_EQ_INT(t_stats(h, "t").lost, 0);
    CHECK_EQ_INT(llmbill_close(h), 0);
    for (int round = 0; round < 3; round++) {
        char want[64];

        snprintf(moved_dl, sizeof moved_dl, "%s.%d", dl, round);
        snprintf(moved_ledger, sizeof moved_ledger, "%s.%d", ledger, round);
        s = t_read(moved_dl);
        CHECK_EQ_INT(t_count_lines(s), 2);
        snprintf(want, sizeof want, "\"event_id\":\"r%d-1\"", round);
        CHECK_CONTAINS(s, want);
        free(s);
        s = t_read(moved_ledger);
        CHECK_EQ_INT(t_count_lines(s), 4);
        snprintf(want, sizeof want, "\"event_id\":\"r%d-3\"", round);
        CHECK_CONTAINS(s, want);
        free(s);
    }
}

static void slow_sink_does_not_stall_others(void)
{
    const char *block = t_path(dir, "block_slow");
    llmbill *h;
    struct llmbill_usage u = t_usage("acme", NULL);
    long long t0;

    t_write(block, "x");
    h = open_ok(HEAD "callbacks = fast, slow\nshutdown_timeout_ms = 60000\n"
                "[fast]\nplugin = testsink\n"
                "[slow]\nplugin = testsink\nbatch_size = 1\nblock_file = %s\n", block);
    /* the slow sink is stuck in emit() until the file goes: the caller and
     * the fast sink go on */
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(llmbill_record(h, &u), 0);
    t0 = t_mono_ms();
    while (t_stats(h, "fast").delivered < 5 && t_mono_ms() - t0 < 60000)
        usleep(2000);
    CHECK_EQ_INT(t_stats(h, "fast").delivered, 5);
    CHECK_EQ_INT(t_stats(h, "slow").delivered, 0);
    CHECK_EQ_INT(t_stats(h, "slow").pending, 5);
    unlink(block);
    CHECK_EQ_INT(llmbill_close(h), 0);
}

static void filters(void)
{
    llmbill *h = open_ok(HEAD "callbacks = all\nsuccess_callback = ok, both\n"
                         "failure_callback = ko, both\n[all]\nplugin = testsink\n"
                         "[ok]\nplugin = testsink\n[ko]\nplugin = testsink\n[both]\nplugin = testsink\n");
    struct llmbill_usage u = t_usage("acme", NULL);

    CHECK_EQ_INT(llmbill_record(h, &u), 0);
    CHECK_EQ_INT(llmbill_record(h, &u), 0);
    u.status = LLMBILL_STATUS_FAILURE;
    CHECK_EQ_INT(llmbill_record(h, &u), 0);
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK_EQ_INT(t_stats(h, "all").delivered, 3);
    CHECK_EQ_INT(t_stats(h, "ok").delivered, 2);
    CHECK_EQ_INT(t_stats(h, "ok").recorded, 2);
    CHECK_EQ_INT(t_stats(h, "ko").delivered, 1);
    CHECK_EQ_INT(t_stats(h, "both").delivered, 3);
    llmbill_close(h);
}

static llmbill *hook_handle;
static int hook_rc_record = 1, hook_rc_flush = 1;
static void hook(void *arg)
{
    struct llmbill_usage u = t_usage("acme", NULL);

    (void)arg;
    hook_rc_record = llmbill_record(hook_handle, &u);
    hook_rc_flush = llmbill_flush(hook_handle, 10);
}

static void recursion_is_refused(void)
{
    void *dl = dlopen(TEST_PLUGIN_DIR "/testsink.so", RTLD_NOW | RTLD_LOCAL);
    void (*set_hook)(void (*)(void *), void *);
    struct llmbill_usage u = t_usage("acme", NULL);

    CHECK(dl != NULL);
    *(void **)&set_hook = dlsym(dl, "testsink_set_hook");
    CHECK(set_hook != NULL);
    hook_handle = open_ok(HEAD "callbacks = testsink\n");
    set_hook(hook, NULL);
    CHECK_EQ_INT(llmbill_record(hook_handle, &u), 0);
    CHECK_EQ_INT(llmbill_flush(hook_handle, 5000), 0);
    set_hook(NULL, NULL);
    CHECK_EQ_INT(hook_rc_record, LLMBILL_ERECURSIVE);
    CHECK_EQ_INT(hook_rc_flush, LLMBILL_ERECURSIVE);
    CHECK_EQ_INT(t_stats(hook_handle, NULL).recorded, 1);
    llmbill_close(hook_handle);
    dlclose(dl);
}

struct check_call {
    llmbill *h;
    int rc;
    char msg[256];
};

static void *check_call(void *arg)
{
    struct check_call *c = arg;

    c->rc = llmbill_check_sink(c->h, 0, c->msg, sizeof c->msg, 60000);
    return NULL;
}

/* A check asked while an earlier, timed-out one is still inside the sink's
 * check() gets the result of a check of its own, never the earlier one's. */
static void overlapping_checks_get_their_own_result(void)
{
    void *dl = dlopen(TEST_PLUGIN_DIR "/testsink.so", RTLD_NOW | RTLD_LOCAL);
    const char *block = t_path(dir, "check_block");
    unsigned (*calls)(void);
    struct check_call second = { 0 };
    char want[64];
    pthread_t th;
    llmbill *h;
    unsigned base;
    long long t0;

    CHECK(dl != NULL);
    *(void **)&calls = dlsym(dl, "testsink_check_calls");
    CHECK(calls != NULL);
    base = calls();
    t_write(block, "x");
    h = open_ok(HEAD "callbacks = t\n[t]\nplugin = testsink\ncheck_block_file = %s\n", block);
    CHECK_EQ_INT(llmbill_check_sink(h, 0, second.msg, sizeof second.msg, 50), LLMBILL_ETIMEDOUT);
    /* until the first check() has begun (bounded: 60 s) */
    for (t0 = t_mono_ms(); calls() == base && t_mono_ms() - t0 < 60000;)
        usleep(1000);
    CHECK_EQ_INT(calls(), base + 1);
    second.h = h;
    pthread_create(&th, NULL, check_call, &second);
    /* until the second call waits on the handle, its request made */
    for (t0 = t_mono_ms(); atomic_load(&h->waiters) == 0 && t_mono_ms() - t0 < 60000;)
        usleep(1000);
    CHECK(atomic_load(&h->waiters) > 0);
    unlink(block); /* the first check() ends: its result is for no one */
    pthread_join(th, NULL);
    CHECK_EQ_INT(second.rc, 0);
    CHECK_EQ_INT(calls(), base + 2);
    snprintf(want, sizeof want, "check call %u", base + 2);
    CHECK_CONTAINS(second.msg, want);
    /* and the next call gets a check of its own too */
    CHECK_EQ_INT(llmbill_check_sink(h, 0, second.msg, sizeof second.msg, 60000), 0);
    snprintf(want, sizeof want, "check call %u", base + 3);
    CHECK_CONTAINS(second.msg, want);
    llmbill_close(h);
    dlclose(dl);
}

/* llmbill_close_stats() for a caller built against an older llmbill.h,
 * whose struct llmbill_stats ended at quarantined (136 bytes): the array is
 * walked in the caller's steps, and nothing past it is written. */
static void close_stats_with_an_older_struct(void)
{
    enum { OLD = 136, N = 3 };
    unsigned char buf[N * OLD + 64];
    llmbill *h = open_ok(HEAD "callbacks = a, b, c\n[a]\nplugin = testsink\n"
                         "[b]\nplugin = testsink\n[c]\nplugin = testsink\n");
    struct llmbill_usage u = t_usage("acme", NULL);

    _Static_assert(offsetof(struct llmbill_stats, transport_errors) == OLD, "the older size");
    memset(buf, 0xab, sizeof buf);
    for (int i = 0; i < N; i++) {
        struct llmbill_stats head;

        memset(&head, 0, OLD);
        head.struct_size = OLD;
        memcpy(buf + i * OLD, &head, OLD);
    }
    CHECK_EQ_INT(llmbill_record(h, &u), 0);
    CHECK_EQ_INT(llmbill_record(h, &u), 0);
    CHECK_EQ_INT(llmbill_close_stats(h, (struct llmbill_stats *)(void *)buf, N), 0);
    for (int i = 0; i < N; i++) {
        struct llmbill_stats st;

        memset(&st, 0, sizeof st);
        memcpy(&st, buf + i * OLD, OLD);
        CHECK_EQ_INT(st.struct_size, OLD);
        CHECK_EQ_INT(st.recorded, 2);
        CHECK_EQ_INT(st.delivered, 2);
    }
    for (size_t k = N * OLD; k < sizeof buf; k++)
        CHECK(buf[k] == 0xab);
}

static void large_events_wrap_the_ring(void)
{
    llmbill *h = open_ok(HEAD "callbacks = t\nqueue_max = 16\n[t]\nplugin = testsink\n"
                         "output = %s\n", t_path(dir, "large.txt"));
    static char big[LLMBILL_METADATA_VALUE_MAX + 1];
    struct llmbill_kv kv[2] = { { "a", big }, { "b", "small" } };
    char *s;
    int accepted = 0;

    memset(big, 'x', LLMBILL_METADATA_VALUE_MAX);
    /* alternate large (heap) and small (in-slot) events over many laps */
    for (int i = 0; i < 400; i++) {
        struct llmbill_usage u = t_usage("acme", NULL);
        int rc;

        u.n_metadata = (i % 3 == 0) ? 2 : 0;
        u.metadata = kv;
        while ((rc = llmbill_record(h, &u)) == LLMBILL_EFULL)
            llmbill_flush(h, 10);
        CHECK_EQ_INT(rc, 0);
        accepted++;
    }
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK_EQ_INT(t_stats(h, "t").delivered, 400);
    big[10] = '\0'; /* the core copied it: changing ours changes nothing queued */
    llmbill_close(h);
    s = t_read(t_path(dir, "large.txt"));
    CHECK_CONTAINS(s, "received=400 ");
    free(s);
    CHECK_EQ_INT(accepted, 400);
}

int main(void)
{
    dir = strdup(t_tmpdir());
    RUN(record_flush_close);
    RUN(validation);
    RUN(generated_ids_and_time);
    RUN(forked_child_ids_differ);
    RUN(retry_backoff);
    RUN(retry_after_is_a_floor);
    RUN(dead_letters);
    RUN(retry_limit_and_errors);
    RUN(overflow_error);
    RUN(overflow_block);
    RUN(close_timeout_dead_letters);
    RUN(unwritable_dead_letter_keeps_events);
    RUN(rotated_files_are_reopened);
    RUN(slow_sink_does_not_stall_others);
    RUN(filters);
    RUN(recursion_is_refused);
    RUN(large_events_wrap_the_ring);
    RUN(overlapping_checks_get_their_own_result);
    RUN(close_stats_with_an_older_struct);
    printf("test_dispatch: ok\n");
    return 0;
}
