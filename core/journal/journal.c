/* llmbill core: the durable journal (see journal.h for the design). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "lb.h"
#include "le.h"

#define MAGIC      0x324a424cu  /* "LBJ2": the payload is journal_record.c's form */
#define MAGIC_JSON 0x314a424cu  /* "LBJ1" (spools of llmbill 0.1): the usage JSON form */
#define HDR 20
#define MAX_PAYLOAD (1u << 20)

char *lb_jseg_path(const char *dir, uint64_t first)
{
    size_t n = strlen(dir) + 40;
    char *p = malloc(n);

    if (p != NULL)
        snprintf(p, n, "%s/seg-%020llu.lbj", dir, (unsigned long long)first);
    return p;
}

static char *seg_path(const struct lb_journal *j, uint64_t first)
{
    return lb_jseg_path(j->dir, first);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static uint64_t *list_segments(const struct lb_journal *j, size_t *n)
{
    return lb_jlist_segments(j->dir, n);
}

uint64_t *lb_jlist_segments(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    uint64_t *v = NULL;
    size_t cap = 0;

    *n = 0;
    if (d == NULL)
        return NULL;
    while ((e = readdir(d)) != NULL) {
        unsigned long long first;
        char tail[8];

        if (sscanf(e->d_name, "seg-%20llu.%7s", &first, tail) != 2 || strcmp(tail, "lbj") != 0)
            continue;
        if (*n == cap) {
            uint64_t *nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof *v);

            if (nv == NULL)
                break;
            v = nv;
        }
        v[(*n)++] = first;
    }
    closedir(d);
    if (*n > 0)
        qsort(v, *n, sizeof *v, cmp_u64);
    return v;
}

static int is_magic(uint32_t v)
{
    return v == MAGIC || v == MAGIC_JSON;
}

static int frame_at(const unsigned char *buf, size_t avail, uint64_t *seq, uint32_t *len);

/* After a corrupt frame at pos (a bad magic, length or CRC): the next
 * offset in buf[0..n) where a frame checks out, magic and CRC both (a
 * magic alone inside a payload is not enough), or where one may be cut by
 * the end of buf. at_end: buf holds all the data there is, so a frame cut
 * by its end is corrupt too. With none found: n at_end (the rest is
 * skipped), else the last 3 bytes (a magic may straddle the next read). */
static size_t resync(const unsigned char *buf, size_t pos, size_t n, int at_end)
{
    for (pos++; pos + 4 <= n; pos++)
        if (is_magic(lb_get32(buf + pos))) {
            uint64_t seq;
            uint32_t len;
            int r = frame_at(buf + pos, n - pos, &seq, &len);

            if (r == 1 || (r == 0 && !at_end))
                return pos;
        }
    return at_end || pos > n ? n : pos;
}

/* Checks the frame at buf[0..avail): 1 valid (*seq, *len set), 0 needs more
 * bytes, 2 the end of the written data (a zero word), -1 corrupt. */
static int frame_at(const unsigned char *buf, size_t avail, uint64_t *seq, uint32_t *len)
{
    uint32_t crc;

    if (avail >= 4 && lb_get32(buf) == 0)
        return 2;
    if (avail < HDR)
        return 0;
    if (!is_magic(lb_get32(buf)) || lb_get32(buf + 4) > MAX_PAYLOAD)
        return -1;
    *len = lb_get32(buf + 4);
    *seq = lb_get64(buf + 8);
    if (avail < HDR + (size_t)*len)
        return 0;
    crc = lb_crc32c(0, buf + HDR, *len);
    crc = lb_crc32c(crc, buf + 8, 8);
    return crc == lb_get32(buf + 16) ? 1 : -1;
}

/* dir/ack-<sink>[.tmp]: the sink's name as lb_name_encode() writes it, so
 * that distinct names have distinct files ("x/lago" is ack-x%2Flago,
 * "x_lago" is ack-x_lago; llmbill 0.1 wrote both to ack-x_lago). A plain
 * name ([A-Za-z0-9._-]) is as it was, so existing positions are read. */
static char *ack_path_in(const char *dir, const char *sink, int tmp)
{
    size_t enc = lb_name_encode(sink, NULL, 0), n = strlen(dir) + enc + 16;
    char *p = malloc(n);

    if (p == NULL)
        return NULL;
    snprintf(p, n, "%s/ack-", dir);
    lb_name_encode(sink, p + strlen(p), enc + 1);
    if (tmp)
        strcat(p, ".tmp");
    return p;
}

static char *ack_path(const struct lb_journal *j, const char *sink, int tmp)
{
    return ack_path_in(j->dir, sink, tmp);
}

/* Makes renames and new files in the spool directory durable (fsync mode). */
static int sync_dir_path(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

    if (dfd < 0)
        return -1;
    rc = fsync(dfd);
    close(dfd);
    return rc;
}

static int sync_dir(const struct lb_journal *j)
{
    return sync_dir_path(j->dir);
}

/* Reads a position file: 0 (with *v; 0 when there is none), or -1 with
 * errno when it cannot be opened (a symbolic link is refused: ELOOP). */
static int read_ack_file(const char *path, uint64_t *v)
{
    int fd = path ? open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
    char text[32];
    ssize_t n;

    *v = 0;
    if (fd < 0)
        return path != NULL && errno == ENOENT ? 0 : -1;
    n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n > 0) {
        text[n] = '\0';
        *v = strtoull(text, NULL, 10);
    }
    return 0;
}

static int read_ack(const struct lb_journal *j, const char *sink, uint64_t *v)
{
    char *p = ack_path(j, sink, 0);
    int rc = read_ack_file(p, v), e = errno;

    free(p);
    errno = e;
    return rc;
}

static int has_ack_file(const struct lb_journal *j, const char *sink)
{
    char *p = ack_path(j, sink, 0);
    struct stat st;
    int rc = p != NULL && lstat(p, &st) == 0;

    free(p);
    return rc;
}

void lb_journal_ack(struct llmbill *h, struct lb_sink *s, int src, uint64_t seq)
{
    struct lb_adopted *a;

    if (src == 0)
        atomic_store(&s->ack_seq, seq);
    else if ((a = atomic_load(&h->journal->adopt)) != NULL)
        atomic_store(&a->ack_seq[s->index], seq);
}

uint64_t lb_journal_ack_start(const struct llmbill *h, const struct lb_sink *s, int src)
{
    struct lb_adopted *a = src == 0 ? NULL : atomic_load(&h->journal->adopt);

    return src == 0 ? s->ack_start : a != NULL ? a->ack_start[s->index] : 0;
}

char *lb_jack_path(const char *dir, const char *sink, int tmp)
{
    return ack_path_in(dir, sink, tmp);
}

int lb_jread_ack(const char *path, uint64_t *v)
{
    return read_ack_file(path, v);
}

/* Writes sink s's position to its ack file in dir (synced in fsync mode).
 * 0 or -1 (logged). */
static int write_ack_in(struct llmbill *h, const char *dir, struct lb_sink *s, uint64_t seq)
{
    struct lb_journal *j = h->journal;
    char *tmp = ack_path_in(dir, s->name, 1), *path = ack_path_in(dir, s->name, 0), text[32];
    int fd = -1, n, rc = -1;

    if (tmp == NULL || path == NULL)
        goto out;
    n = snprintf(text, sizeof text, "%llu\n", (unsigned long long)seq);
    /* a fresh temp file, never through a link: one left by a crash (or
     * planted) is removed first (unlink removes a link, not its target) */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd < 0 || write(fd, text, (size_t)n) != n ||
        (j->durability == LB_DURABLE_FSYNC && fdatasync(fd) != 0))
        goto out;
    rc = close(fd);
    fd = -1;
    if (rc != 0 || rename(tmp, path) != 0 ||
        (j->durability == LB_DURABLE_FSYNC && sync_dir_path(dir) != 0))
        rc = -1;
out:
    if (rc != 0)
        lb_log(&h->log, LLMBILL_LOG_ERROR, "sink %s: cannot write its journal position in %s: %s "
               "(delivered events may be delivered again after a restart)", s->name,
               dir, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(tmp);
    free(path);
    return rc;
}

static int write_ack(struct llmbill *h, struct lb_sink *s, uint64_t seq)
{
    return write_ack_in(h, h->journal->dir, s, seq);
}

int lb_jwrite_ack(struct llmbill *h, const char *dir, struct lb_sink *s, uint64_t seq)
{
    return write_ack_in(h, dir, s, seq);
}

void lb_journal_persist_acks(struct llmbill *h)
{
    struct lb_adopted *ad = atomic_load(&h->journal->adopt);

    if (h->journal->readonly)
        return;
    for (size_t i = 0; i < h->nsinks; i++) {
        struct lb_sink *s = &h->sinks[i];
        uint64_t a = atomic_load(&s->ack_seq);

        if (a != atomic_load(&s->ack_disk) && write_ack(h, s, a) == 0)
            atomic_store(&s->ack_disk, a);
        if (ad != NULL && (a = atomic_load(&ad->ack_seq[i])) != atomic_load(&ad->ack_disk[i]) &&
            write_ack_in(h, ad->dir, s, a) == 0)
            atomic_store(&ad->ack_disk[i], a);
    }
}

/* Scans a segment: returns the offset after its last valid frame, and that
 * frame's seq in *last (0 if none). A corrupt frame is resynchronised past
 * (magic and CRC), so that the valid frames after it are kept: only what
 * follows the last valid frame can be cut. *torn is 1 when something other
 * than zeros follows that frame; *cut_frame then says whether it starts
 * with the LBJ2 magic: a frame that was complete once (its magic is
 * written last), so an acknowledged event, and not one torn by a kill. Reads
 * through a mapping, up to the zeros that follow the written frames. */
static off_t scan_tail(int fd, uint64_t *last, int *torn, int *cut_frame)
{
    struct stat st;
    unsigned char *buf;
    off_t good = 0;
    size_t size, pos = 0;

    *last = 0;
    *torn = 0;
    *cut_frame = 0;
    if (fstat(fd, &st) != 0 || st.st_size == 0)
        return 0;
    size = (size_t)st.st_size;
    buf = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (buf == MAP_FAILED)
        return st.st_size; /* cannot check: keep it as it is */
    while (pos < size) {
        uint64_t seq;
        uint32_t len;
        int r = frame_at(buf + pos, size - pos, &seq, &len);

        if (r == 1) {
            pos += HDR + len;
            good = (off_t)pos;
            *last = seq;
        } else if (r == 2) {
            break;              /* the end of the data */
        } else {
            /* a corrupt or cut frame: the reader skips (and counts) it when
             * valid frames follow; after the last one, it is cut */
            *torn = 1;
            pos = resync(buf, pos, size, 1);
        }
    }
    /* only an LBJ2 frame has its magic written last ("LBJ1" writers of
     * llmbill 0.1 may have written it first: a torn frame can hold it) */
    if (*torn && (size_t)good + 4 <= size)
        *cut_frame = lb_get32(buf + good) == MAGIC;
    munmap(buf, size);
    return good;
}

int lb_jlast_seq(const char *dir, uint64_t *last, uint64_t *first)
{
    size_t n;
    uint64_t *segs = lb_jlist_segments(dir, &n);
    char *p;
    int fd, torn, cut;

    *last = 0;
    *first = 0;
    if (n == 0) {
        free(segs);
        return 0;
    }
    *first = segs[0];
    p = lb_jseg_path(dir, segs[n - 1]);
    fd = p ? open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
    free(p);
    if (fd >= 0) {
        scan_tail(fd, last, &torn, &cut);
        close(fd);
        if (*last == 0)
            *last = segs[n - 1] - 1;
    }
    free(segs);
    return fd >= 0 ? 0 : -1;
}

/* Makes segment `first` the current one, for appending after its first
 * j->seg_size bytes: allocates its blocks (at least segment_bytes and
 * `need`) and maps it shared. 0, or -1 with errno: a full disk shows here,
 * never as a fault on the mapping later. */
static int open_segment(struct lb_journal *j, uint64_t first, uint64_t need)
{
    char *p = seg_path(j, first);
    uint64_t size = need > j->seg_bytes ? need : j->seg_bytes;
    unsigned char *map;
    int fd, e;

    if (p == NULL)
        return -1;
    fd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
    free(p);
    if (fd < 0)
        return -1;
    if ((e = posix_fallocate(fd, 0, (off_t)size)) != 0) {
        close(fd);
        errno = e;
        return -1;
    }
    map = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    /* a child of fork() does not inherit the mapping: it could only
     * overwrite the frames this process writes next (fork.c) */
    (void)madvise(map, (size_t)size, MADV_DONTFORK);
    if (j->durability == LB_DURABLE_FSYNC)
        (void)sync_dir(j);
    j->fd = fd;
    j->map = map;
    j->map_size = size;
    j->seg_first = first;
    return 0;
}

/* Unmaps the current segment and cuts its file to the frames it holds,
 * after the prefault thread has finished with it. Called
 * with the writer lock held. */
static void close_segment(struct lb_journal *j)
{
    if (j->fd < 0)
        return;
    while (atomic_load_explicit(&j->populating, memory_order_acquire))
        sched_yield();
    munmap(j->map, (size_t)j->map_size);
    if (ftruncate(j->fd, (off_t)j->seg_size) != 0) {
        /* the zeros stay after the frames: readers stop at them */
    }
    if (j->durability == LB_DURABLE_FSYNC)
        fdatasync(j->fd);
    close(j->fd);
    j->fd = -1;
    j->map = NULL;
}

/* The code for a failed system call while opening the spool: running out
 * of memory or disk is not a configuration error. */
static int open_error(int e)
{
    if (e == ENOMEM)
        return LLMBILL_ENOMEM;
    if (e == ENOSPC || e == EDQUOT || e == EFBIG)
        return LLMBILL_ESPOOL;
    return LLMBILL_ECONFIG;
}

/* Takes spool_dir/lock, for spool_dir's own journal; when another handle
 * has it, makes this handle's own journal spool_dir/j-<id> (adopt.c): two
 * handles never append to one journal. A paused handle takes nothing: it
 * only reads (j->readonly). */
static int lock_spool(struct lb_journal *j, int paused, char *err, size_t errlen)
{
    size_t n = strlen(j->dir) + 8;
    char *p;

    if (paused) {
        j->readonly = 1;
        j->closed = 1;          /* records fail with LLMBILL_ECLOSED */
        return 0;
    }
    if ((p = malloc(n)) == NULL)
        return LLMBILL_ENOMEM;
    snprintf(p, n, "%s/lock", j->dir);
    j->lock_fd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (j->lock_fd >= 0 && lb_fork_track_fd(j->lock_fd) != 0) {
        close(j->lock_fd);
        j->lock_fd = -1;
        free(p);
        return LLMBILL_ENOMEM;
    }
    if (j->lock_fd >= 0 && flock(j->lock_fd, LOCK_EX | LOCK_NB) == 0) {
        j->in_root = 1;
        free(p);
        return 0;
    }
    if (j->lock_fd >= 0 && errno == EWOULDBLOCK) {
        /* another handle, in this process or another, writes spool_dir's
         * own journal: this one gets its own, spool_dir/j-<id> */
        lb_fork_untrack_fd(j->lock_fd);
        close(j->lock_fd);
        j->lock_fd = -1;
        free(p);
        if (lb_adopt_own_dir(j) != 0) {
            int e = errno;

            lb_errf(err, errlen, "spool_dir %s: cannot create a journal for this handle: %s",
                    j->root, strerror(e));
            return open_error(e);
        }
        return 0;
    }
    lb_errf(err, errlen, "spool_dir %s: cannot lock %s: %s", j->dir, p, strerror(errno));
    free(p);
    return LLMBILL_ECONFIG;
}

void lb_jforeign_sinks(struct llmbill *h, const char *dir,
                       void (*fn)(void *arg, const char *name, const char *file, uint64_t pos),
                       void *arg)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        char name[256], *p;
        size_t len = strlen(e->d_name);
        int known = 0, rc;
        uint64_t a;

        if (strncmp(e->d_name, "ack-", 4) != 0 || (len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0) ||
            lb_name_decode(e->d_name + 4, name, sizeof name) != 0)
            continue;
        for (size_t i = 0; i < h->nsinks && !known; i++) {
            char *mine = lb_name_encoded(h->sinks[i].name);

            known = strcmp(name, h->sinks[i].name) == 0 ||
                    (mine != NULL && strcmp(mine, e->d_name + 4) == 0);
            free(mine);
        }
        if (known || (p = malloc(strlen(dir) + len + 2)) == NULL)
            continue;
        sprintf(p, "%s/%s", dir, e->d_name);
        rc = read_ack_file(p, &a);
        free(p);
        if (rc == 0)
            fn(arg, name, e->d_name, a);
    }
    closedir(d);
}

struct removed_sinks {
    struct llmbill *h;
    uint64_t first, head;
};

static void warn_removed_sink(void *arg, const char *name, const char *file, uint64_t a)
{
    struct removed_sinks *r = arg;
    uint64_t from = a + 1 > r->first ? a + 1 : r->first;

    if (r->head >= from)
        lb_log(&r->h->log, LLMBILL_LOG_WARN, "spool %s: sink '%s' is no longer configured and "
               "has %llu event(s) in the journal it has not finished; they will not be "
               "delivered to it (its position file %s is kept: add the sink back before "
               "restarting to deliver what is still in the journal)", r->h->journal->dir, name,
               (unsigned long long)(r->head - from + 1), file);
}

/* Names each sink that has a position file but is no longer configured,
 * with what it had not finished: those events will not be delivered to it.
 * Its file is kept (nothing deletes a position file). */
static void warn_removed_sinks(struct llmbill *h)
{
    struct lb_journal *j = h->journal;
    struct removed_sinks r = { h, 0, j->next_seq - 1 };
    size_t n;
    uint64_t *segs = list_segments(j, &n);

    r.first = n > 0 ? segs[0] : j->next_seq;
    free(segs);
    lb_jforeign_sinks(h, j->dir, warn_removed_sink, &r);
}

int lb_journal_open(struct llmbill *h, char *err, size_t errlen)
{
    struct lb_journal *j = h->journal;
    uint64_t *segs;
    size_t n;
    int rc;

    j->lock_fd = -1;
    if (j->root == NULL && (j->root = lb_strdup(j->dir)) == NULL)
        return LLMBILL_ENOMEM;
    /* a paused handle creates nothing: a missing spool is an empty one */
    if (!h->paused && lb_mkdirs(j->dir) != 0) {
        int e = errno;

        lb_errf(err, errlen, "spool_dir %s: %s", j->dir, strerror(e));
        return open_error(e);
    }
    if (lb_dir_private(j->dir, "spool_dir", err, errlen) != 0)
        return LLMBILL_ECONFIG;
    {
        /* writers hold the lock for one copy: spin a little before sleeping */
        pthread_mutexattr_t a;

        pthread_mutexattr_init(&a);
        pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
        pthread_mutex_init(&j->mu, &a);
        pthread_mutexattr_destroy(&a);
        j->mu_init = 1;
    }
    j->fd = -1;
    if ((rc = lock_spool(j, h->paused, err, errlen)) != 0)
        return rc;
    segs = list_segments(j, &n);
    for (size_t i = 0; i < n; i++) {
        char *p = seg_path(j, segs[i]);
        struct stat st;

        if (p != NULL && stat(p, &st) == 0)
            j->total_bytes += (uint64_t)st.st_size;
        free(p);
    }
    if (n == 0) {
        j->next_seq = 1;
        j->seg_first = 1;
    } else {
        /* only the last segment is read: its torn tail is cut (but not
         * by a read-only handle: it never changes a file) */
        char *p = seg_path(j, segs[n - 1]);
        int fd = p ? open(p, (j->readonly ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_CLOEXEC) : -1;
        uint64_t last;
        off_t good;
        struct stat st;
        int torn, cut_frame;

        free(p);
        if (fd < 0) {
            int e = errno;

            lb_errf(err, errlen, "spool_dir %s: cannot open its last segment: %s", j->dir,
                    strerror(e));
            free(segs);
            return open_error(e);
        }
        good = scan_tail(fd, &last, &torn, &cut_frame);
        if (cut_frame) {
            /* a whole frame (its magic is there) that does not check out,
             * after the last valid one: an acknowledged event is lost */
            atomic_fetch_add(&j->corrupt, 1);
            lb_log(&h->log, LLMBILL_LOG_ERROR, "spool %s: the frame at offset %lld of its last "
                   "segment is corrupt and no valid frame follows it: %s", j->dir,
                   (long long)good, j->readonly ? "skipped" : "cut");
        }
        if (!j->readonly && fstat(fd, &st) == 0 && st.st_size > good) {
            /* the zeros after the frames (the process was killed) go too,
             * and the segment is allocated again below */
            if (torn && !cut_frame)
                lb_log(&h->log, LLMBILL_LOG_WARN, "spool %s: cut a torn frame at offset %lld "
                       "of its last segment", j->dir, (long long)good);
            if (ftruncate(fd, good) == 0)
                j->total_bytes -= (uint64_t)(st.st_size - good);
        }
        close(fd);
        j->seg_first = segs[n - 1];
        j->seg_size = (uint64_t)good;
        j->next_seq = last ? last + 1 : segs[n - 1];
    }
    free(segs);
    if (!j->readonly && open_segment(j, j->seg_first, j->seg_size) != 0) {
        int e = errno;

        lb_errf(err, errlen, "spool_dir %s: cannot write a segment: %s", j->dir, strerror(e));
        return open_error(e);
    }
    for (size_t i = 0; i < h->nsinks; i++) {
        uint64_t a;

        if (read_ack(j, h->sinks[i].name, &a) != 0) {
            int e = errno;
            char *p = ack_path(j, h->sinks[i].name, 0);

            lb_errf(err, errlen, "spool_dir %s: cannot read the position of sink %s in %s: %s%s",
                    j->dir, h->sinks[i].name, p ? p : "its ack file", strerror(e),
                    e == ELOOP ? " (a symbolic link: refused)" : "");
            free(p);
            return open_error(e);
        }
        if (a >= j->next_seq)
            a = j->next_seq - 1;
        atomic_store(&h->sinks[i].ack_seq, a);
        atomic_store(&h->sinks[i].ack_disk, a);
        h->sinks[i].ack_start = a;
        /* every sink has a position file from its first start, so that
         * one removed from the config later is found with its backlog */
        if (!j->readonly && !has_ack_file(j, h->sinks[i].name))
            (void)write_ack(h, &h->sinks[i], a);
    }
    atomic_store(&j->written, j->next_seq - 1);
    warn_removed_sinks(h);
    if (!j->readonly && (rc = lb_poison_open(h, err, errlen)) != 0)
        return rc;
    if (j->readonly)
        lb_adopt_inspect(h);    /* spool status sees every journal of the spool */
    else
        atomic_store(&j->adopt_pending, 1); /* until the first look for journals to adopt */
    j->start_seq = lb_journal_min_ack(h, 1);
    atomic_store(&j->enqueued, j->start_seq);
    atomic_store(&j->w_seg, j->seg_first);
    atomic_store(&j->w_end, j->seg_size);
    if (j->next_seq - 1 > j->start_seq)
        lb_log(&h->log, LLMBILL_LOG_INFO, "spool %s: %llu event(s) to resume", j->dir,
               (unsigned long long)(j->next_seq - 1 - j->start_seq));
    return 0;
}

int lb_journal_append(struct lb_journal *j, const struct lb_prepared *p)
{
    unsigned char stackbuf[2048], *payload = stackbuf, hdr[HDR], *at;
    size_t len = lb_jrec_size(&p->u, p->lens);
    uint64_t need;
    uint32_t crc;
    int rc = 0;

    if (len > MAX_PAYLOAD)
        return LLMBILL_EINVAL;
    if (len > sizeof stackbuf && (payload = malloc(len)) == NULL)
        return LLMBILL_ENOMEM;
    lb_jrec_encode(&p->u, p->lens, payload);
    crc = lb_crc32c(0, payload, len);
    need = HDR + (uint64_t)len;
    lb_put32(hdr, MAGIC);
    lb_put32(hdr + 4, (uint32_t)len);
    pthread_mutex_lock(&j->mu);
    if (j->closed) {
        rc = LLMBILL_ECLOSED;
        goto out;
    }
    if (j->total_bytes + need > j->max_bytes) {
        rc = LLMBILL_EFULL;
        goto out;
    }
    if (j->fd < 0 || j->seg_size + need > j->map_size) {
        if (j->fd >= 0) {
            close_segment(j);
            j->seg_first = j->next_seq;
            j->seg_size = 0;
            /* w_seg first: a reader that still sees the old one in w_seg
             * (loaded after w_end) has the old one's size in w_end */
            atomic_store(&j->w_seg, j->seg_first);
            atomic_store(&j->w_end, 0);
        }
        /* a failure (a full disk) is retried by the next record */
        if (open_segment(j, j->next_seq, need) != 0) {
            rc = LLMBILL_ESPOOL;
            goto out;
        }
    }
    /* the prefault thread may be reading the pages this frame goes to */
    while (atomic_load_explicit(&j->populating, memory_order_acquire) &&
           j->seg_size + need > atomic_load_explicit(&j->pf_lo, memory_order_acquire))
        sched_yield();
    lb_put64(hdr + 8, j->next_seq);
    lb_put32(hdr + 16, lb_crc32c(crc, hdr + 8, 8));
    /* the magic goes last: a frame cut short by kill -9 reads as the end */
    at = j->map + j->seg_size;
    memcpy(at + 4, hdr + 4, HDR - 4);
    memcpy(at + HDR, payload, (size_t)len);
    memcpy(at, hdr, 4);
    j->seg_size += need;
    j->total_bytes += need;
    j->appended += need;
    j->dirty = 1;
    atomic_store_explicit(&j->w_end, j->seg_size, memory_order_release);
    atomic_store_explicit(&j->written, j->next_seq, memory_order_release);
    j->next_seq++;
out:
    pthread_mutex_unlock(&j->mu);
    if (payload != stackbuf)
        free(payload);
    return rc;
}

void lb_journal_close_writes(struct lb_journal *j)
{
    pthread_mutex_lock(&j->mu);
    j->closed = 1;
    pthread_mutex_unlock(&j->mu);
}

/* ---- the journal thread ---------------------------------------------------- */

static int64_t mono_ms(void)
{
    return lb_mono_ms();
}

uint64_t lb_journal_min_ack(struct llmbill *h, int on_disk)
{
    uint64_t min_ack = UINT64_MAX;

    for (size_t i = 0; i < h->nsinks; i++) {
        uint64_t a = atomic_load(on_disk ? &h->sinks[i].ack_disk : &h->sinks[i].ack_seq);

        if (a < min_ack)
            min_ack = a;
    }
    return min_ack == UINT64_MAX ? atomic_load(&h->journal->written) : min_ack;
}

/* Deletes segments every sink is past (not the one being written). */
static void clean(struct llmbill *h)
{
    struct lb_journal *j = h->journal;
    uint64_t min_ack = lb_journal_min_ack(h, 1), *segs, current;
    size_t n;

    pthread_mutex_lock(&j->mu);
    current = j->seg_first;
    pthread_mutex_unlock(&j->mu);
    segs = list_segments(j, &n);
    for (size_t i = 0; i + 1 < n; i++) {
        char *p;
        struct stat st;

        if (segs[i + 1] - 1 > min_ack || segs[i] >= current)
            break;
        p = seg_path(j, segs[i]);
        if (p != NULL && stat(p, &st) == 0 && unlink(p) == 0) {
            pthread_mutex_lock(&j->mu);
            j->total_bytes -= (uint64_t)st.st_size;
            pthread_mutex_unlock(&j->mu);
        }
        free(p);
    }
    free(segs);
}

static void sync_now(struct lb_journal *j)
{
    int fd = -1;

    pthread_mutex_lock(&j->mu);
    if (j->dirty && j->fd >= 0) {
        fd = dup(j->fd);
        j->dirty = 0;
    }
    pthread_mutex_unlock(&j->mu);
    if (fd >= 0) {
        fdatasync(fd);
        close(fd);
        atomic_fetch_add(&j->syncs, 1);
    }
}

/* How often the journal thread writes the sinks' positions: a crash
 * redelivers at most about this much of what was delivered (to the same
 * event ids: Lago keeps one of each). */
#define ACK_EVERY_MS 20

/* The journal thread's periodic duties, each when it is due: fsync's group
 * commit, the sinks' positions, deleting finished segments. Run from its
 * loop, and while it waits for room in the queue: a sink that holds the
 * queue full must not stop the positions of the sinks that progress from
 * being written, nor the fdatasync of what llmbill_record() appends
 * meanwhile. Journal thread only. */
static void housekeeping(struct llmbill *h)
{
    struct lb_journal *j = h->journal;

    if (j->durability == LB_DURABLE_FSYNC && mono_ms() - j->last_sync >= j->fsync_ms) {
        sync_now(j);
        j->last_sync = mono_ms();
    }
    if (mono_ms() - j->last_ack >= ACK_EVERY_MS) {
        lb_journal_persist_acks(h);
        j->last_ack = mono_ms();
    }
    if (mono_ms() - j->last_clean >= 200) {
        clean(h);
        j->last_clean = mono_ms();
    }
}

/* Hands one frame's record to the ring, waiting while it is full or while
 * there is no memory for an event too big for a slot (and doing the
 * journal thread's periodic duties meanwhile). Either wait ends at close
 * (j->stop): the record is then not fed and stays in the journal. */
static void feed(struct llmbill *h, unsigned char *frame, uint32_t len, uint64_t seq, int src)
{
    struct lb_journal *j = h->journal;
    struct llmbill_kv kv[LLMBILL_METADATA_MAX];
    struct llmbill_usage u;
    struct lb_prepared p;
    void *heap = NULL;
    int bad = lb_get32(frame) == MAGIC
        ? lb_jrec_decode(frame + HDR, len, &u, kv, LLMBILL_METADATA_MAX)
        : llmbill_usage_from_json(&u, (char *)frame + HDR, len, kv, LLMBILL_METADATA_MAX,
                                  NULL, 0);

    if (bad != 0 || lb_event_prepare(&u, &p) != 0) {
        atomic_fetch_add(&j->corrupt, 1);
        return;
    }
    p.jseq = seq;
    p.jsrc = (uint32_t)src;
    while (p.total > LB_SLOT_DATA && (heap = malloc(p.total)) == NULL) {
        if (atomic_load(&j->stop))
            return; /* close: the event stays in the journal, as any not delivered */
        housekeeping(h);
        lb_dispatch_wait_room(h, 20); /* out of memory: wait, the event stays due */
    }
    while (lb_dispatch_feed(h, &p, heap) == LLMBILL_EFULL) {
        if (atomic_load(&j->stop)) {
            free(heap);
            return;
        }
        housekeeping(h);
        lb_dispatch_wait_room(h, ACK_EVERY_MS);
    }
}

/* The first segment on disk after segment `cur`, or 0. */
static uint64_t next_segment(const char *dir, uint64_t cur)
{
    size_t n;
    uint64_t *segs = lb_jlist_segments(dir, &n), next = 0;

    for (size_t i = 0; i < n && next == 0; i++)
        if (segs[i] > cur)
            next = segs[i];
    free(segs);
    return next;
}

/* The segment that holds seq `after + 1`, or the first one; 0 when none
 * could be listed (out of memory: the caller tries again). */
static uint64_t resume_segment(const char *dir, uint64_t after)
{
    size_t n;
    uint64_t *segs = lb_jlist_segments(dir, &n), cur = 0;

    for (size_t i = 0; i < n; i++)
        if (segs[i] <= after + 1)
            cur = segs[i];
    if (cur == 0 && n > 0)
        cur = segs[0];
    free(segs);
    return cur;
}

/* One pass over journal r: reads whole frames from where it is, up to seq
 * `limit`, and feeds them to the ring in order. own: this handle's journal,
 * whose segment being written (j->w_seg) is read only up to j->w_end.
 * Returns 1 when it progressed. Running out of memory delays events,
 * never drops them: every step is tried again on the next pass. */
static int read_step(struct llmbill *h, struct lb_jreader *r, uint64_t limit, int own)
{
    struct lb_journal *j = h->journal;
    uint64_t next;
    size_t want, pos = 0;
    ssize_t got;
    int progressed = 0, data_end = 0, at_end;

    if (r->last >= limit)
        return 0;
    if (r->cur == 0 && (r->cur = resume_segment(r->dir, r->last)) == 0)
        return 0;               /* the segment the slowest sink resumes in */
    if (r->fd < 0) {
        char *p = lb_jseg_path(r->dir, r->cur);

        r->fd = p ? open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
        free(p);
        r->off = 0;
        r->have = 0;
        if (r->fd < 0 && errno == ENOENT && (next = next_segment(r->dir, r->cur)) != 0) {
            r->cur = next;      /* every sink had finished it, and it was deleted */
            return 1;
        }
        if (r->fd < 0)
            return 0;
    }
    /* in the segment being written, read only whole frames. w_end is
     * loaded before w_seg and stored after it (lb_journal_append): when
     * w_seg still names this segment, end is its own size */
    want = r->cap - r->have;
    if (own) {
        uint64_t end = atomic_load_explicit(&j->w_end, memory_order_acquire);
        uint64_t at = (uint64_t)r->off + r->have;

        if (r->cur == atomic_load_explicit(&j->w_seg, memory_order_acquire))
            want = end > at ? (size_t)(end - at < want ? end - at : want) : 0;
    }
    got = want > 0 ? pread(r->fd, r->buf + r->have, want, r->off + (off_t)r->have) : 0;
    if (got > 0)
        r->have += (size_t)got;
    /* buf holds all the data there is now: a frame cut by its end will
     * never be whole (the writer publishes whole frames) */
    at_end = got == 0 && r->have < r->cap;
    while (pos < r->have) {
        uint64_t seq;
        uint32_t len;
        int f = frame_at(r->buf + pos, r->have - pos, &seq, &len);

        if (f == 0 && !at_end)
            break;
        if (f == 2) {           /* zeros: nothing more in this segment */
            data_end = 1;
            r->have = pos;
            break;
        }
        if (f <= 0) {
            /* resynchronise on the next frame whose magic and CRC check
             * out: the valid frames after it are kept */
            size_t to = resync(r->buf, pos, r->have, at_end);

            atomic_fetch_add(&j->corrupt, 1);
            lb_log(&h->log, LLMBILL_LOG_ERROR, "spool %s: skipping %zu corrupt byte(s) at "
                   "offset %lld of segment %llu", r->dir, to - pos,
                   (long long)(r->off + (off_t)pos), (unsigned long long)r->cur);
            pos = to;
            progressed = 1;
            continue;
        }
        if (atomic_load(&j->stop))
            break;
        if (seq > r->last) {
            feed(h, r->buf + pos, len, seq, r->src);
            r->last = seq;
            atomic_store(r->enqueued, seq);
        }
        pos += HDR + len;
        progressed = 1;
    }
    memmove(r->buf, r->buf + pos, r->have - pos);
    r->have -= pos;
    r->off += (off_t)pos;
    if (r->have == r->cap) {    /* a frame larger than the buffer */
        unsigned char *nb = realloc(r->buf, r->cap * 2);

        if (nb != NULL) {
            r->buf = nb;
            r->cap *= 2;
        } else if (mono_ms() - r->oom_logged >= 10000) {
            lb_log(&h->log, LLMBILL_LOG_ERROR, "spool %s: out of memory reading a frame of more "
                   "than %zu bytes; trying again", r->dir, r->cap);
            r->oom_logged = mono_ms();
        }
    }
    if (!progressed && (got == 0 || data_end) && r->last < limit &&
        (!own || r->cur != atomic_load(&j->w_seg)) &&
        (next = next_segment(r->dir, r->cur)) != 0) {
        /* the end of this segment: go on in the next one */
        close(r->fd);
        r->fd = -1;
        r->cur = next;
        progressed = 1;
    }
    return progressed;
}

void lb_jreader_init(struct lb_jreader *r, const char *dir, int src, uint64_t last,
                     atomic_uint_fast64_t *enqueued)
{
    memset(r, 0, sizeof *r);
    r->dir = dir;
    r->src = src;
    r->last = last;
    r->fd = -1;
    r->enqueued = enqueued;
}

void lb_jreader_close(struct lb_jreader *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    free(r->buf);
    r->buf = NULL;
}

/* Reads the frames back from the segments (this handle's journal, and the
 * one it adopted, if any) and feeds them to the sinks' queues; writes the
 * sinks' positions, syncs, deletes finished segments and looks for
 * journals to adopt (adopt.c). */
static void *journal_thread(void *arg)
{
    struct llmbill *h = arg;
    struct lb_journal *j = h->journal;
    struct lb_jreader own;
    int64_t last_scan = 0;

    j->last_clean = 0;
    j->last_sync = j->last_ack = mono_ms();
    lb_jreader_init(&own, j->dir, 0, j->start_seq, &j->enqueued);
    own.buf = j->rbuf;
    own.cap = j->rcap;
    for (;;) {
        struct lb_adopted *a = atomic_load(&j->adopt);
        int progressed = read_step(h, &own, atomic_load_explicit(&j->written,
                                                                 memory_order_acquire), 1);

        if (a != NULL)
            progressed |= read_step(h, &a->r, a->end, 0);
        if (!progressed || atomic_load(&j->stop)) {
            struct timespec ts = { 0, 1000000 };

            if (atomic_load(&j->stop))
                break;
            nanosleep(&ts, NULL);
        }
        housekeeping(h);
        {
            uint64_t req = atomic_load(&j->scan_req); /* read before the look */

            if (req != atomic_load(&j->scan_done) || mono_ms() - last_scan >= LB_ADOPT_SCAN_MS) {
                lb_adopt_step(h);
                last_scan = mono_ms();
                atomic_store(&j->scan_done, req);
            }
        }
    }
    if (own.fd >= 0)
        close(own.fd);
    j->rbuf = own.buf;          /* freed by lb_journal_free() */
    j->rcap = own.cap;
    if (j->durability == LB_DURABLE_FSYNC)
        sync_now(j);
    clean(h);
    return NULL;
}

int lb_journal_start(struct llmbill *h)
{
    struct lb_journal *j = h->journal;

    if (j->rbuf == NULL) {
        j->rcap = (size_t)1 << 18;
        if ((j->rbuf = malloc(j->rcap)) == NULL)
            return LLMBILL_ENOMEM;
    }
    if (lb_thread_start(&j->thread, journal_thread, h) != 0)
        return LLMBILL_ENOMEM;
    if (lb_thread_start(&j->prefault, lb_journal_prefault_thread, j) != 0) {
        atomic_store(&j->stop, 1);
        pthread_join(j->thread, NULL);
        return LLMBILL_ENOMEM;
    }
    j->started = 1;
    return 0;
}

void lb_journal_stop(struct llmbill *h)
{
    struct lb_journal *j = h->journal;

    if (j == NULL || !j->started)
        return;
    atomic_store(&j->stop, 1);
    pthread_join(j->thread, NULL);
    pthread_join(j->prefault, NULL);
    j->started = 0;
}
void lb_journal_free(struct lb_journal *j)
{
    if (j == NULL)
        return;
    if (j->mu_init) {               /* lb_journal_open got as far as the mutex */
        close_segment(j);
        pthread_mutex_destroy(&j->mu);
    }
    if (j->lock_fd >= 0) {
        lb_fork_untrack_fd(j->lock_fd);
        close(j->lock_fd);
    }
    free(j->rbuf);
    free(j->dir);
    free(j->root);
    free(j->root_done);
    for (size_t i = 0; i < j->nkept; i++)
        free(j->kept[i]);
    free(j->kept);
    free(j->other_spooled);
    free(j);
}
