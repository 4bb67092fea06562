/* Journal integrity (issue 10 §5): a corrupt frame is resynchronised past
 * (magic + CRC) instead of cutting the valid frames after it; a paused
 * handle changes no file; spool files are never opened through a symbolic
 * link; the spool and dead-letter directories are the user's alone; sink
 * names map to distinct files; a removed sink's backlog is named. */
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>

#include "t.h"

static const char *dir;
static char err[2048];
static char logbuf[16384];
/* the library logs from its own threads too */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static void log_cb(void *ud, int level, const char *msg)
{
    size_t n;

    (void)ud;
    (void)level;
    pthread_mutex_lock(&log_mu);
    n = strlen(logbuf);
    snprintf(logbuf + n, sizeof logbuf - n, "%s\n", msg);
    pthread_mutex_unlock(&log_mu);
}

static void log_clear(void)
{
    pthread_mutex_lock(&log_mu);
    logbuf[0] = '\0';
    pthread_mutex_unlock(&log_mu);
}

/* A copy of what was logged so far, taken under the lock. */
static const char *log_text(void)
{
    static char copy[sizeof logbuf];

    pthread_mutex_lock(&log_mu);
    memcpy(copy, logbuf, sizeof copy);
    pthread_mutex_unlock(&log_mu);
    return copy;
}

static int open_rc(llmbill **h, const char *spool, const char *extra, const char *sinks,
                   uint32_t flags)
{
    char ini[4096];
    struct llmbill_open_opts o;

    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\nlinger_ms = 5\nretry_base_ms = 10\n"
             "retry_max_ms = 50\nshutdown_timeout_ms = 300\nspool_dir = %s/%s\n"
             "dead_letter_dir = %s/dl\n%s%s", TEST_PLUGIN_DIR, dir, spool, dir, extra, sinks);
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.flags = flags;
    o.errbuf = err;
    o.errbuf_len = sizeof err;
    o.log_cb = log_cb;
    err[0] = '\0';
    return llmbill_open_string(h, ini, &o);
}

static llmbill *open_ok(const char *spool, const char *sinks, uint32_t flags)
{
    llmbill *h;

    if (open_rc(&h, spool, "", sinks, flags) != 0) {
        fprintf(stderr, "open failed: %s\n", err);
        exit(1);
    }
    return h;
}

static char sinks_buf[1024];

/* A counting sink [t] writing its summary to out. */
static const char *counting(const char *out)
{
    snprintf(sinks_buf, sizeof sinks_buf, "callbacks = t\n[t]\nplugin = testsink\noutput = %s\n"
             "id_space = 100\nper_thread = 100\n", t_path(dir, out));
    return sinks_buf;
}

/* Runs a python3 snippet on the newest segment of spool (bound to f). */
static void on_segment(const char *spool, const char *py)
{
    char cmd[4096];

    snprintf(cmd, sizeof cmd, "cd %s/%s && python3 -c \"import struct,glob\n"
             "f=sorted(glob.glob('seg-*.lbj'))[-1]\nb=bytearray(open(f,'rb').read())\n"
             "def frames():\n"
             "    o=0\n"
             "    while o+20<=len(b) and b[o:o+4]==b'LBJ2':\n"
             "        n=struct.unpack_from('<I',b,o+4)[0]\n"
             "        yield o\n"
             "        o+=20+n\n"
             "offs=list(frames())\n%s\nopen(f,'wb').write(b)\n\"", dir, spool, py);
    CHECK_EQ_INT(system(cmd), 0);
}

/* A corrupt length in the middle of the last segment: before, open cut
 * every frame after it (4 valid events gone, spool_corrupt 0). */
static void corrupt_length_resyncs(void)
{
    llmbill *h = open_ok("c1", "callbacks = t\n[t]\nplugin = testsink\nalways = retry\n", 0);
    uint64_t corrupt;

    t_record_ids(h, 0, 10);
    llmbill_close(h);
    /* frame 5 (t0-4) claims 60000 bytes: past the end of the data */
    on_segment("c1", "assert len(offs)==10\nstruct.pack_into('<I',b,offs[4]+4,60000)");
    h = open_ok("c1", counting("c1.out"), 0);
    t_record_ids(h, 10, 5);
    CHECK_EQ_INT(llmbill_flush(h, 20000), 0);
    corrupt = t_stats(h, NULL).spool_corrupt;
    llmbill_close(h);
    CHECK_EQ_INT(t_count_in(t_path(dir, "c1.out"), "received="), 14); /* only t0-4 is gone */
    CHECK_EQ_INT(t_count_in(t_path(dir, "c1.out"), "dups="), 0);
    CHECK(corrupt >= 1);
    /* a corrupt length in the last frame, with nothing valid after it:
     * that acknowledged event is lost, and counted */
    h = open_ok("c2", "callbacks = t\n[t]\nplugin = testsink\nalways = retry\n", 0);
    t_record_ids(h, 0, 6);
    llmbill_close(h);
    on_segment("c2", "assert len(offs)==6\nstruct.pack_into('<I',b,offs[5]+4,60000)");
    log_clear();
    h = open_ok("c2", counting("c2.out"), 0);
    CHECK_EQ_INT(t_stats(h, NULL).spool_corrupt, 1);
    CHECK_CONTAINS(log_text(), "is corrupt and no valid frame follows it: cut");
    CHECK_EQ_INT(llmbill_flush(h, 20000), 0);
    llmbill_close(h);
    CHECK_EQ_INT(t_count_in(t_path(dir, "c2.out"), "received="), 5);
    /* a corrupt CRC: the next magic inside a payload is not taken for a
     * frame; the frames after it are delivered */
    h = open_ok("c3", "callbacks = t\n[t]\nplugin = testsink\nalways = retry\n", 0);
    t_record_ids(h, 0, 8);
    llmbill_close(h);
    on_segment("c3", "b[offs[2]+16]^=0xff\nb[offs[3]+30:offs[3]+34]=b'LBJ2'");
    h = open_ok("c3", counting("c3.out"), 0);
    CHECK_EQ_INT(llmbill_flush(h, 20000), 0);
    llmbill_close(h);
    CHECK_EQ_INT(t_count_in(t_path(dir, "c3.out"), "received="), 6); /* t0-2, t0-3 skipped */
    CHECK_EQ_INT(t_count_in(t_path(dir, "c3.out"), "dups="), 0);
}

/* "name size sha256" of every file of a spool, one per line (malloc'd). */
static char *fingerprint(const char *spool)
{
    char cmd[1024], *out;
    FILE *p;
    size_t n;

    snprintf(cmd, sizeof cmd, "cd %s/%s && for f in $(ls -A); do echo \"$f $(stat -c %%s \"$f\") "
             "$(sha256sum < \"$f\")\"; done", dir, spool);
    p = popen(cmd, "r");
    CHECK(p != NULL);
    out = calloc(1, 65536);
    CHECK(out != NULL);
    n = fread(out, 1, 65535, p);
    out[n] = '\0';
    CHECK_EQ_INT(pclose(p), 0);
    return out;
}

/* Before, a paused handle on a stopped service's spool (llmbill spool
 * status) took the lock and cut the torn tail of the last segment. */
static void paused_handle_changes_nothing(void)
{
    llmbill *h = open_ok("p1", "callbacks = t\n[t]\nplugin = testsink\nalways = retry\n", 0);
    char *before, *after;
    struct llmbill_usage u = t_usage("acme", NULL);

    t_record_ids(h, 0, 12);
    llmbill_close(h);
    on_segment("p1", "b+=b'LBJ2\\\\x07'"); /* a torn tail (zeros after the frames are cut) */
    on_segment("p1", "struct.pack_into('<I',b,offs[3]+4,60000)");
    before = fingerprint("p1");
    h = open_ok("p1", "callbacks = t\n[t]\nplugin = testsink\n", LLMBILL_OPEN_PAUSED);
    CHECK_EQ_INT(t_stats(h, NULL).spooled, 12);
    CHECK_EQ_INT(llmbill_record(h, &u), LLMBILL_ECLOSED);
    CHECK_EQ_INT(llmbill_flush(h, 100), LLMBILL_ETIMEDOUT);
    llmbill_close(h);
    after = fingerprint("p1");
    if (strcmp(before, after) != 0)
        fprintf(stderr, "before:\n%safter:\n%s", before, after);
    CHECK(strcmp(before, after) == 0);
    free(before);
    free(after);
    /* a missing spool: a paused handle creates nothing */
    h = open_ok("p-none", "callbacks = t\n[t]\nplugin = testsink\n", LLMBILL_OPEN_PAUSED);
    CHECK_EQ_INT(t_stats(h, NULL).spooled, 0);
    llmbill_close(h);
    CHECK(access(t_path(dir, "p-none"), F_OK) != 0);
}

static void no_symlinks(void)
{
    llmbill *h;
    char target[512];

    /* a planted temp file link: the position is written to a fresh file,
     * and the link's target is untouched */
    snprintf(target, sizeof target, "%s", t_path(dir, "victim"));
    t_write(target, "precious\n");
    h = open_ok("l1", counting("l1.out"), 0);
    llmbill_close(h);
    CHECK_EQ_INT(symlink(target, t_path(dir, "l1/ack-t.tmp")), 0);
    h = open_ok("l1", counting("l1.out"), 0);
    t_record_ids(h, 0, 5);
    CHECK_EQ_INT(llmbill_flush(h, 20000), 0);
    llmbill_close(h);
    {
        char *v = t_read(target), *a = t_read(t_path(dir, "l1/ack-t"));
        struct stat st;

        CHECK(strcmp(v, "precious\n") == 0);
        CHECK_EQ_INT(atoi(a), 5);
        CHECK_EQ_INT(lstat(t_path(dir, "l1/ack-t"), &st), 0);
        CHECK(S_ISREG(st.st_mode));
        free(v);
        free(a);
    }
    /* a position file that is a link: refused, named */
    CHECK_EQ_INT(unlink(t_path(dir, "l1/ack-t")), 0);
    CHECK_EQ_INT(symlink(target, t_path(dir, "l1/ack-t")), 0);
    CHECK_EQ_INT(open_rc(&h, "l1", "", counting("l1.out"), 0), LLMBILL_ECONFIG);
    CHECK_CONTAINS(err, "ack-t");
    CHECK_CONTAINS(err, "symbolic link");
    CHECK_EQ_INT(unlink(t_path(dir, "l1/ack-t")), 0);
    /* a segment that is a link: refused */
    {
        char cmd[1024];

        snprintf(cmd, sizeof cmd, "cd %s/l1 && f=$(ls seg-*.lbj | tail -n 1) && mv $f ../segcopy && "
                 "ln -s ../segcopy $f", dir);
        CHECK_EQ_INT(system(cmd), 0);
    }
    CHECK_EQ_INT(open_rc(&h, "l1", "", counting("l1.out"), 0), LLMBILL_ECONFIG);
    CHECK_CONTAINS(err, "cannot open its last segment");
}

static void private_directories(void)
{
    llmbill *h;

    h = open_ok("d1", counting("d1.out"), 0);
    llmbill_close(h);
    CHECK_EQ_INT(chmod(t_path(dir, "d1"), 0770), 0);
    CHECK_EQ_INT(open_rc(&h, "d1", "", counting("d1.out"), 0), LLMBILL_ECONFIG);
    CHECK_CONTAINS(err, "spool_dir");
    CHECK_CONTAINS(err, "/d1: writable by its group (mode 770)");
    CHECK_EQ_INT(chmod(t_path(dir, "d1"), 0703), 0);
    CHECK_EQ_INT(open_rc(&h, "d1", "", counting("d1.out"), 0), LLMBILL_ECONFIG);
    CHECK_CONTAINS(err, "writable by others");
    CHECK_EQ_INT(chmod(t_path(dir, "d1"), 0700), 0);
    /* the dead-letter directory too */
    CHECK_EQ_INT(mkdir(t_path(dir, "dl"), 0700) == 0 || errno == EEXIST, 1);
    CHECK_EQ_INT(chmod(t_path(dir, "dl"), 0777), 0);
    CHECK_EQ_INT(open_rc(&h, "d1", "", counting("d1.out"), 0), LLMBILL_ECONFIG);
    CHECK_CONTAINS(err, "sink t: dead-letter directory");
    CHECK_CONTAINS(err, "/dl: writable by others (mode 777)");
    CHECK_EQ_INT(chmod(t_path(dir, "dl"), 0750), 0);
    h = open_ok("d1", counting("d1.out"), 0);
    llmbill_close(h);
    /* a directory of another user: only root can make one to test with */
    if (geteuid() == 0) {
        CHECK_EQ_INT(chown(t_path(dir, "d1"), 65534, 65534), 0);
        CHECK_EQ_INT(open_rc(&h, "d1", "", counting("d1.out"), 0), LLMBILL_ECONFIG);
        CHECK_CONTAINS(err, "spool_dir");
        CHECK_CONTAINS(err, "/d1: owned by uid 65534, not by the user running llmbill (uid 0)");
        CHECK_EQ_INT(chown(t_path(dir, "d1"), 0, 0), 0);
        CHECK_EQ_INT(chown(t_path(dir, "dl"), 65534, 65534), 0);
        CHECK_EQ_INT(open_rc(&h, "d1", "", counting("d1.out"), 0), LLMBILL_ECONFIG);
        CHECK_CONTAINS(err, "sink t: dead-letter directory");
        CHECK_CONTAINS(err, "/dl: owned by uid 65534");
        CHECK_EQ_INT(chown(t_path(dir, "dl"), 0, 0), 0);
        h = open_ok("d1", counting("d1.out"), 0);
        llmbill_close(h);
    } else {
        printf("   (not root: the owner check of another user's directory is not tested)\n");
    }
}

/* "x/lago" and "x_lago" shared ack-x_lago (and x_lago.deadletter.jsonl). */
static void distinct_names(void)
{
    char sinks[1024];
    llmbill *h;

    h = open_ok("n1", "callbacks = x/lago, x_lago\n[x/lago]\nplugin = testsink\nalways = retry\n"
                "[x_lago]\nplugin = testsink\n", 0);
    t_record_ids(h, 0, 10);
    llmbill_flush(h, 300);
    llmbill_close(h);
    CHECK_EQ_INT(access(t_path(dir, "n1/ack-x%2Flago"), F_OK) == 0 ||
                 access(t_path(dir, "n1/ack-x_lago"), F_OK) == 0, 1);
    snprintf(sinks, sizeof sinks, "callbacks = x/lago, x_lago\n"
             "[x/lago]\nplugin = testsink\noutput = %s\nid_space = 100\nper_thread = 100\n"
             "[x_lago]\nplugin = testsink\noutput = %s\nid_space = 100\nper_thread = 100\n",
             t_path(dir, "n1-slash.out"), t_path(dir, "n1-under.out"));
    h = open_ok("n1", sinks, 0);
    CHECK_EQ_INT(llmbill_flush(h, 20000), 0);
    llmbill_close(h);
    CHECK_EQ_INT(t_count_in(t_path(dir, "n1-slash.out"), "received="), 10); /* 0 before */
    CHECK_EQ_INT(t_count_in(t_path(dir, "n1-under.out"), "received="), 0);
    /* dead letters: one file each */
    h = open_ok("n2", "callbacks = x/lago, x_lago\n[x/lago]\nplugin = testsink\nalways = error\n"
                "[x_lago]\nplugin = testsink\nalways = error\n", 0);
    t_record_ids(h, 0, 3);
    CHECK_EQ_INT(llmbill_flush(h, 20000), 0);
    llmbill_close(h);
    {
        char *a = t_read(t_path(dir, "dl/x%2Flago.deadletter.jsonl"));
        char *b = t_read(t_path(dir, "dl/x_lago.deadletter.jsonl"));

        CHECK_EQ_INT(t_count_lines(a), 3);
        CHECK_EQ_INT(t_count_lines(b), 3);
        CHECK_CONTAINS(a, "\"sink\":\"x/lago\"");
        CHECK_CONTAINS(b, "\"sink\":\"x_lago\"");
        free(a);
        free(b);
    }
}

static void removed_sink_is_named(void)
{
    llmbill *h = open_ok("r1", "callbacks = a, b\n[a]\nplugin = testsink\n"
                         "[b]\nplugin = testsink\nalways = retry\n", 0);

    t_record_ids(h, 0, 7);
    llmbill_flush(h, 300);
    llmbill_close(h);
    log_clear();
    h = open_ok("r1", "callbacks = a\n[a]\nplugin = testsink\n", 0);
    CHECK_CONTAINS(log_text(), "sink 'b' is no longer configured and has 7 event(s) in the journal");
    CHECK_CONTAINS(log_text(), "its position file ack-b is kept");
    llmbill_close(h);
    CHECK_EQ_INT(access(t_path(dir, "r1/ack-b"), F_OK), 0);
    /* a paused handle names it too */
    log_clear();
    h = open_ok("r1", "callbacks = a\n[a]\nplugin = testsink\n", LLMBILL_OPEN_PAUSED);
    CHECK_CONTAINS(log_text(), "sink 'b' is no longer configured");
    llmbill_close(h);
}

/* test_journal_integrity [CASE]: all cases, or the one named */
#define CASE(fn) do { if (argc < 2 || strcmp(argv[1], #fn) == 0) RUN(fn); } while (0)

int main(int argc, char **argv)
{
    dir = t_tmpdir();
    CASE(corrupt_length_resyncs);
    CASE(paused_handle_changes_nothing);
    CASE(no_symlinks);
    CASE(private_directories);
    CASE(distinct_names);
    CASE(removed_sink_is_named);
    fprintf(stderr, "ok\n");
    return 0;
}
