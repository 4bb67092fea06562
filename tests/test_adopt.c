/* Adoption's housekeeping (pre-fork servers, adopt.c): what an open that
 * died part-way leaves (tmp-<id>) is removed once no live process can be
 * making it, and never while one can; a journal holding the backlog of a
 * sink the adopter does not have is kept for it. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "t.h"

static const char *dir;

static llmbill *open_spool(const char *spool, const char *sinks)
{
    char ini[4096];

    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\nlinger_ms = 5\nretry_base_ms = 10\n"
             "retry_max_ms = 50\nshutdown_timeout_ms = 300\nlog_level = info\nspool_dir = %s/%s\n"
             "dead_letter_dir = %s/dl\n%s", TEST_PLUGIN_DIR, dir, spool, dir, sinks);
    return t_open_logged(ini);
}

static int exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

/* spool/tmp-<id> as lb_adopt_own_dir() makes it, with its lock file or
 * not, made an hour old (age: seconds back). Returns its lock's descriptor
 * when lock is 2 (held, like a live maker between its flock and its
 * rename), else -1. */
static int make_tmp(const char *spool, const char *id, int lock, int age)
{
    char d[512], l[600];
    struct timeval tv[2];
    int fd = -1;

    snprintf(d, sizeof d, "%s/%s/tmp-%s", dir, spool, id);
    snprintf(l, sizeof l, "%s/lock", d);
    CHECK_EQ_INT(mkdir(d, 0700), 0);
    if (lock) {
        fd = open(l, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        CHECK(fd >= 0);
        if (lock == 2) {
            CHECK_EQ_INT(flock(fd, LOCK_EX | LOCK_NB), 0);
        } else {
            close(fd);
            fd = -1;
        }
    }
    gettimeofday(&tv[0], NULL);
    tv[0].tv_sec -= age;
    tv[1] = tv[0];
    if (lock)
        CHECK_EQ_INT(utimes(l, tv), 0);
    CHECK_EQ_INT(utimes(d, tv), 0);
    return fd;
}

/* A tmp-<id> whose maker died (with its lock file or before making it) is
 * removed by the next look at the spool; one whose lock is held, or that
 * is younger than a minute (a maker between its mkdir and its lock), is
 * left alone. Before, none was ever removed. */
static void stale_tmp_dirs_are_removed(void)
{
    const char *sinks = "callbacks = t\n[t]\nplugin = testsink\n";
    llmbill *h;
    int held;

    CHECK_EQ_INT(mkdir(t_path(dir, "a1"), 0700), 0);
    make_tmp("a1", "00000000000000d1", 1, 3600);  /* died after making its lock */
    make_tmp("a1", "00000000000000d2", 0, 3600);  /* died right after its mkdir */
    held = make_tmp("a1", "00000000000000e1", 2, 3600); /* a live maker, stopped */
    make_tmp("a1", "00000000000000e2", 0, 0);     /* a live maker, just begun */
    h = open_spool("a1", sinks);
    t_record_ids(h, 0, 3);
    /* a flush waits for a look at the spool that started after it */
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK(!exists(t_path(dir, "a1/tmp-00000000000000d1")));
    CHECK(!exists(t_path(dir, "a1/tmp-00000000000000d2")));
    CHECK(exists(t_path(dir, "a1/tmp-00000000000000e1/lock")));
    CHECK(exists(t_path(dir, "a1/tmp-00000000000000e2")));
    pthread_mutex_lock(&t_logs()->mu);
    CHECK_CONTAINS(t_logs()->buf, "removed tmp-00000000000000d1, left by an open that ended part-way");
    pthread_mutex_unlock(&t_logs()->mu);
    /* its maker gone, the held one goes too */
    close(held);
    CHECK_EQ_INT(llmbill_flush(h, 60000), 0);
    CHECK(!exists(t_path(dir, "a1/tmp-00000000000000e1")));
    CHECK(exists(t_path(dir, "a1/tmp-00000000000000e2")));
    CHECK_EQ_INT(llmbill_close(h), 0);
}

/* The j-* journals in spool: how many, and the name of the last one seen
 * (in a static buffer). */
static int journals(const char *spool, const char **name)
{
    static char last[512];
    DIR *d = opendir(t_path(dir, spool));
    struct dirent *e;
    int n = 0;

    CHECK(d != NULL);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, "j-", 2) == 0) {
            snprintf(last, sizeof last, "%s/%s", spool, e->d_name);
            n++;
        }
    closedir(d);
    if (name != NULL)
        *name = last;
    return n;
}

/* How many times needle is in what was logged so far. */
static int logged(const char *needle)
{
    int n = 0;

    pthread_mutex_lock(&t_logs()->mu);
    for (const char *p = t_logs()->buf; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    pthread_mutex_unlock(&t_logs()->mu);
    return n;
}

/* A counting testsink [name] writing its summary to dir/out. */
static const char *counting(char *buf, size_t cap, const char *name, const char *out)
{
    snprintf(buf, cap, "callbacks = %s\n[%s]\nplugin = testsink\noutput = %s\nid_space = 100\n"
             "per_thread = 100\n", name, name, t_path(dir, out));
    return buf;
}

/* A handle adopts the journal of one that had a sink it does not have (a
 * worker of another config, a drain with fewer sinks): it delivers it to
 * its own sinks and keeps it, named once, with that sink's backlog; a
 * handle that has the sink delivers the rest and removes it. Before, the
 * adopter removed it, and that sink's backlog with it. */
static void foreign_sink_backlog_is_kept(void)
{
    char sa[512], sb[512];
    const char *jname, *msg = "sink(s) 'b', which this handle does not have, have up to 7 event(s)";
    llmbill *h0, *h1, *h2;

    h0 = open_spool("a2", counting(sa, sizeof sa, "a", "a2-a.out")); /* spool_dir's own journal */
    /* a second handle (its own journal j-<id>), both sinks down, ends with
     * its 7 events in it */
    h1 = open_spool("a2", "callbacks = a, b\n[a]\nplugin = testsink\nalways = retry\n"
                    "[b]\nplugin = testsink\nalways = retry\n");
    t_record_ids(h1, 0, 7);
    CHECK_EQ_INT(llmbill_close(h1), LLMBILL_ETIMEDOUT);
    CHECK_EQ_INT(journals("a2", &jname), 1);
    /* h0 adopts it, delivers it to a, keeps it for b */
    CHECK_EQ_INT(llmbill_flush(h0, 60000), 0);
    CHECK_EQ_INT(t_stats(h0, "a").delivered, 7);
    CHECK_EQ_INT(journals("a2", NULL), 1);
    CHECK(exists(t_path(dir, jname)));
    CHECK_EQ_INT(logged(msg), 1);
    CHECK_EQ_INT(llmbill_flush(h0, 60000), 0); /* named once, not adopted again */
    CHECK_EQ_INT(logged(msg), 1);
    CHECK_EQ_INT(t_stats(h0, "a").delivered, 7);
    /* a handle with b delivers b's backlog, and the journal goes */
    h2 = open_spool("a2", counting(sb, sizeof sb, "b", "a2-b.out"));
    CHECK_EQ_INT(llmbill_flush(h2, 60000), 0);
    CHECK(!exists(t_path(dir, jname)));
    CHECK_EQ_INT(llmbill_close(h2), 0);
    CHECK_EQ_INT(llmbill_close(h0), 0);
    CHECK_EQ_INT(journals("a2", NULL), 0);
    CHECK_EQ_INT(t_count_in(t_path(dir, "a2-a.out"), "received="), 7);
    CHECK_EQ_INT(t_count_in(t_path(dir, "a2-b.out"), "received="), 7);
    CHECK_EQ_INT(t_count_in(t_path(dir, "a2-b.out"), "unique="), 7);
}

int main(void)
{
    dir = t_tmpdir();
    RUN(stale_tmp_dirs_are_removed);
    RUN(foreign_sink_backlog_is_kept);
    fprintf(stderr, "ok\n");
    return 0;
}
