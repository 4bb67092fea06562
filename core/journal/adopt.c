/* llmbill core: one journal per handle, and adoption (pre-fork servers).
 *
 * A master forks N workers (nginx, gunicorn, uWSGI, PHP-FPM, Apache
 * prefork) and each opens its own handle on the same llmbill.ini and
 * spool_dir. The first handle takes spool_dir/lock and writes the journal
 * in spool_dir itself (the layout of a single process, unchanged); every
 * other handle, in this process or another, gets its own journal
 * spool_dir/j-<random id>, with its own lock. The lock tells a live journal
 * from a dead one: the kernel drops an flock when its process dies.
 *
 * Each live handle's journal thread looks every LB_ADOPT_SCAN_MS for a
 * journal whose lock is free (a j-* directory, or spool_dir's own when this
 * handle is not its writer), takes its lock and delivers its backlog
 * through this handle's sinks, from where each sink had got to (its ack
 * files there, which it keeps writing), as events of source 1 in the ring
 * (struct lb_event.jsrc). Once every sink is past its last event, a j-*
 * journal is removed (spool_dir's own keeps its last segment and its
 * positions: its sequence numbers go on from there), unless a sink this
 * handle does not have (the writer had it) has not finished it: then it is
 * kept for a handle that has that sink (finish()). One journal is
 * adopted at a time. If the adopter dies too, its lock frees the adopted
 * journal again, with the positions it had written: at most the last
 * ACK_EVERY_MS of deliveries is repeated (same event ids), as after any
 * crash.
 *
 * A handle that closes with nothing left removes its j-* journal; with a
 * backlog (a sink down), it leaves it for the next live handle. A new
 * j-* journal is made as tmp-<id> with its lock taken, then renamed, so
 * that no one adopts it half made; a tmp-<id> that an open dying part-way
 * left is removed by a later look (remove_stale_tmp). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "lb.h"

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);

    if (p != NULL)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int is_journal_dir(const char *name)
{
    return strncmp(name, "j-", 2) == 0 && name[2] != '\0';
}

/* Makes tmp-<id> with its lock taken and renames it to j-<id>. 0 (with
 * *fd, *dst), 1 when this id is lost to another process (taken, or its
 * tmp-<id> removed by a scan taking it for a stale one: try another id),
 * or -1 with errno. */
static int make_own_dir(const char *root, const char *id, int *fd_out, char **dst_out)
{
    char *tmp = join(root, "tmp-"), *dst = join(root, "j-"), *lock = NULL;
    struct stat st;
    int fd = -1, rc = -1, e = ENOMEM;

    if (tmp == NULL || dst == NULL || (tmp = realloc(tmp, strlen(tmp) + 20)) == NULL ||
        (dst = realloc(dst, strlen(dst) + 20)) == NULL)
        goto out;
    strcat(tmp, id);
    strcat(dst, id);
    if (mkdir(tmp, 0700) != 0) {
        e = errno;
        rc = e == EEXIST ? 1 : -1;
        free(tmp);
        tmp = NULL;             /* not ours: left alone */
        goto out;
    }
    if ((lock = join(tmp, "lock")) == NULL)
        goto out;
    fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd < 0 || lb_fork_track_fd(fd) != 0) {
        e = fd < 0 ? errno : ENOMEM;
        rc = e == ENOENT || e == EEXIST ? 1 : -1;
        goto out;
    }
    /* a scan that took the lock first removes the lock file while it holds
     * it (remove_stale_tmp): a lock file with no name left is lost */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &st) != 0 || st.st_nlink == 0) {
        e = errno;
        rc = 1;
        goto out;
    }
    if (rename(tmp, dst) != 0) {
        e = errno;
        rc = e == ENOENT ? 1 : -1;
        goto out;
    }
    *fd_out = fd;
    *dst_out = dst;
    fd = -1;
    dst = NULL;
    rc = 0;
out:
    if (fd >= 0) {
        lb_fork_untrack_fd(fd);
        close(fd);
    }
    if (rc != 0 && tmp != NULL) {
        if (lock != NULL)
            unlink(lock);
        rmdir(tmp);
    }
    free(lock);
    free(tmp);
    free(dst);
    errno = e;
    return rc;
}

int lb_adopt_own_dir(struct lb_journal *j)
{
    for (int tries = 0; tries < 8; tries++) {
        char id[24], *dst = NULL;
        int fd = -1, rc;

        snprintf(id, sizeof id, "%016llx", (unsigned long long)lb_rand64());
        if ((rc = make_own_dir(j->root, id, &fd, &dst)) < 0)
            return -1;
        if (rc == 0) {
            free(j->dir);
            j->dir = dst;
            j->lock_fd = fd;
            return 0;
        }
    }
    errno = EEXIST;
    return -1;
}

/* Removes a j-* journal: its files, then the directory. */
static void remove_journal(const char *dir)
{
    /* segments first, positions and the lock after: a process killed
     * part-way leaves positions past every segment that is left (nothing
     * is sent again), never segments without their positions (all of them
     * sent again, which a sink without ids of its own, a ledger, would
     * write twice) */
    for (int pass = 0; pass < 2; pass++) {
        DIR *d = opendir(dir);
        struct dirent *e;

        if (d == NULL)
            return;
        while ((e = readdir(d)) != NULL) {
            char *p;

            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
                (pass == 0 && strncmp(e->d_name, "seg-", 4) != 0))
                continue;
            if ((p = join(dir, e->d_name)) != NULL)
                unlink(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* spool_dir's own journal once delivered: its segments but the last go
 * (every sink is past them); *sig receives the last one's "seq size
 * mtime", so that it is not adopted again until it changes. */
static char *root_signature(const char *dir)
{
    size_t n;
    uint64_t *segs = lb_jlist_segments(dir, &n);
    char *p = n ? lb_jseg_path(dir, segs[n - 1]) : NULL, *sig = NULL;
    struct stat st;

    if (p != NULL && lstat(p, &st) == 0 && (sig = malloc(64)) != NULL)
        snprintf(sig, 64, "%llu %lld %lld", (unsigned long long)segs[n - 1], (long long)st.st_size,
                 (long long)st.st_mtime);
    free(p);
    free(segs);
    return sig;
}

static void release(int fd)
{
    if (fd >= 0) {
        lb_fork_untrack_fd(fd);
        close(fd);
    }
}

static void free_adopted(struct lb_adopted *a)
{
    if (a == NULL)
        return;
    lb_jreader_close(&a->r);
    release(a->lock_fd);
    free(a->ack_start);
    free((void *)a->ack_seq);
    free((void *)a->ack_disk);
    free(a->dir);
    free(a);
}

/* Is every sink past the adopted journal's end, on disk? */
static int adopted_done(struct llmbill *h, struct lb_adopted *a)
{
    for (size_t i = 0; i < h->nsinks; i++)
        if (atomic_load(&a->ack_disk[i]) < a->end)
            return 0;
    return 1;
}

/* What the sinks this handle does not have still need of a journal (their
 * position files there: the writer had them, this handle does not). */
struct foreign {
    uint64_t first, end;        /* the journal's first segment, its last seq */
    uint64_t min;               /* the smallest position of one with a backlog (UINT64_MAX: none) */
    uint64_t most;              /* the largest backlog */
    char names[200];            /* 'a', 'b' (cut when long) */
};

static void foreign_sink(void *arg, const char *name, const char *file, uint64_t pos)
{
    struct foreign *f = arg;
    uint64_t from = pos + 1 > f->first ? pos + 1 : f->first;
    size_t len = strlen(f->names);

    (void)file;
    if (f->end < from)
        return;
    if (pos < f->min)
        f->min = pos;
    if (f->end - from + 1 > f->most)
        f->most = f->end - from + 1;
    snprintf(f->names + len, sizeof f->names - len, "%s'%s'", len ? ", " : "", name);
}

/* Fills f for the journal in dir, whose last seq is end; 1 when a sink
 * this handle does not have still has events in it. */
static int foreign_backlog(struct llmbill *h, const char *dir, uint64_t end, struct foreign *f)
{
    size_t n;
    uint64_t *segs = lb_jlist_segments(dir, &n);

    memset(f, 0, sizeof *f);
    f->first = n > 0 ? segs[0] : end + 1;
    f->end = end;
    f->min = UINT64_MAX;
    free(segs);
    lb_jforeign_sinks(h, dir, foreign_sink, f);
    return f->most > 0;
}

static int is_kept(const struct lb_journal *j, const char *dir)
{
    for (size_t i = 0; i < j->nkept; i++)
        if (strcmp(j->kept[i], dir) == 0)
            return 1;
    return 0;
}

/* Ends the adoption of a journal every sink of this handle finished: a j-*
 * one is removed, spool_dir's own keeps its last segment. Not what a sink
 * this handle does not have (the writer had it) has not finished: a j-*
 * journal is then kept whole, and named once (is_kept: not adopted again),
 * spool_dir's own keeps the segments that sink needs; a handle that has
 * the sink delivers them to it. */
static void finish(struct llmbill *h, struct lb_adopted *a)
{
    struct lb_journal *j = h->journal;
    struct foreign f;
    int keep = foreign_backlog(h, a->dir, a->end, &f);

    if (!a->root && !keep) {
        remove_journal(a->dir);
    } else if (a->root) {
        size_t n;
        uint64_t *segs = lb_jlist_segments(a->dir, &n);

        for (size_t i = 0; i + 1 < n && segs[i + 1] - 1 <= f.min; i++) {
            char *p = lb_jseg_path(a->dir, segs[i]);

            if (p != NULL)
                unlink(p);
            free(p);
        }
        free(segs);
        free(j->root_done);
        j->root_done = root_signature(a->dir);
    } else {
        char **nk = realloc(j->kept, (j->nkept + 1) * sizeof *nk);

        if (nk != NULL) {
            j->kept = nk;
            if ((nk[j->nkept] = lb_strdup(a->dir)) != NULL)
                j->nkept++;
        }
    }
    if (keep)
        lb_log(&h->log, LLMBILL_LOG_WARN, "spool %s: delivered the journal %s it adopted to its "
               "sinks, but keeps it: sink(s) %s, which this handle does not have, have up to "
               "%llu event(s) in it not finished (a handle configured with them delivers them; "
               "removing the directory drops them)", j->root, a->dir, f.names,
               (unsigned long long)f.most);
    else
        lb_log(&h->log, LLMBILL_LOG_INFO, "spool %s: delivered the journal %s it adopted", j->root,
               a->dir);
}

/* Takes the journal in dir when its lock is free and it has events some
 * sink has not finished. 1 when it is now adopted. */
static int try_adopt(struct llmbill *h, char *dir, int root)
{
    struct lb_journal *j = h->journal;
    struct lb_adopted *a = NULL;
    uint64_t end, first, min = UINT64_MAX;
    char *lock = is_kept(j, dir) ? NULL : join(dir, "lock");
    int fd = lock ? open(lock, O_RDWR | O_NOFOLLOW | O_CLOEXEC | (root ? O_CREAT : 0), 0640) : -1;

    free(lock);
    if (fd < 0)
        goto no;
    if (lb_fork_track_fd(fd) != 0) {
        close(fd);
        fd = -1;
        goto no;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0)
        goto no;                /* a live handle writes it */
    if (root && j->root_done != NULL) {
        char *sig = root_signature(dir);
        int same = sig != NULL && strcmp(sig, j->root_done) == 0;

        free(sig);
        if (same)
            goto no;
    }
    if (lb_jlast_seq(dir, &end, &first) != 0)
        goto no;
    if (first == 0) {           /* no segment: nothing to deliver */
        if (!root)
            remove_journal(dir);
        goto no;
    }
    a = calloc(1, sizeof *a);
    if (a != NULL) {
        a->lock_fd = -1;
        a->r.fd = -1;
    }
    if (a == NULL || (a->ack_start = calloc(h->nsinks, sizeof *a->ack_start)) == NULL ||
        (a->ack_seq = calloc(h->nsinks, sizeof *a->ack_seq)) == NULL ||
        (a->ack_disk = calloc(h->nsinks, sizeof *a->ack_disk)) == NULL)
        goto no;
    a->dir = dir;
    a->root = root;
    a->lock_fd = fd;
    a->end = end;
    for (size_t i = 0; i < h->nsinks; i++) {
        char *p = lb_jack_path(dir, h->sinks[i].name, 0);
        uint64_t v = 0;

        if (p == NULL || lb_jread_ack(p, &v) != 0) {
            free(p);
            a->dir = NULL;
            a->lock_fd = -1;
            goto no;
        }
        free(p);
        if (v > end)
            v = end;
        a->ack_start[i] = v;
        atomic_store(&a->ack_seq[i], v);
        atomic_store(&a->ack_disk[i], v);
        if (v < min)
            min = v;
    }
    if (min >= end) {           /* every sink had finished it */
        finish(h, a);
        a->lock_fd = -1;
        a->dir = NULL;
        goto no;
    }
    lb_jreader_init(&a->r, a->dir, 1, min, &a->enqueued);
    a->r.cap = (size_t)1 << 18;
    if ((a->r.buf = malloc(a->r.cap)) == NULL) {
        a->dir = NULL;
        a->lock_fd = -1;
        goto no;
    }
    atomic_store(&a->enqueued, min);
    lb_log(&h->log, LLMBILL_LOG_WARN, "spool %s: adopting the journal %s of a handle that "
           "ended: up to %llu event(s) to deliver", j->root, dir,
           (unsigned long long)(end - (min + 1 > first ? min + 1 : first) + 1));
    atomic_store(&j->adopt, a);
    return 1;
no:
    free_adopted(a);
    release(fd);
    free(dir);
    return 0;
}

/* How old a tmp-<id> directory must be before a scan takes it for what an
 * open that died part-way left (making one and renaming it to j-<id>
 * takes microseconds). */
#define LB_TMP_STALE_S 60

static int is_tmp_dir(const char *name)
{
    return strncmp(name, "tmp-", 4) == 0 && name[4] != '\0';
}

/* Removes spool_dir/<name>, a tmp-<id> left by an open that died between
 * making it and renaming it to j-<id>, when no live process can be making
 * it: older than LB_TMP_STALE_S, and its lock, if it has one, free (a maker
 * holds it from just after making it until the rename). The lock file is
 * removed while the lock is held, so a maker that gets the lock after this
 * finds it unlinked and tries another id (make_own_dir). It holds nothing
 * but its lock (segments come after the rename): with anything else in
 * it, rmdir fails and it stays. */
static void remove_stale_tmp(struct llmbill *h, const char *name)
{
    struct lb_journal *j = h->journal;
    char *p = join(j->root, name), *lock = p ? join(p, "lock") : NULL;
    struct stat st;
    int fd;

    if (lock == NULL || lstat(p, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
        time(NULL) - st.st_mtime < LB_TMP_STALE_S)
        goto out;
    fd = open(lock, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0 && lb_fork_track_fd(fd) != 0) {
        close(fd);
        goto out;
    }
    if (fd < 0 ? errno == ENOENT : flock(fd, LOCK_EX | LOCK_NB) == 0) {
        if ((fd < 0 || unlink(lock) == 0) && rmdir(p) == 0)
            lb_log(&h->log, LLMBILL_LOG_INFO, "spool %s: removed %s, left by an open that ended "
                   "part-way", j->root, name);
    }
    release(fd);
out:
    free(lock);
    free(p);
}

/* Looks for a journal to adopt; 1 when one is. Removes the tmp-<id> left
 * by opens that died part-way on the way. */
static int scan(struct llmbill *h)
{
    struct lb_journal *j = h->journal;
    DIR *d = opendir(j->root);
    struct dirent *e;
    int adopted = 0;

    if (d == NULL)
        return 0;
    while (!adopted && (e = readdir(d)) != NULL) {
        char *p;

        if (is_tmp_dir(e->d_name))
            remove_stale_tmp(h, e->d_name);
        if (!is_journal_dir(e->d_name) || (p = join(j->root, e->d_name)) == NULL)
            continue;
        if (strcmp(p, j->dir) == 0) {
            free(p);
            continue;
        }
        adopted = try_adopt(h, p, 0);
    }
    closedir(d);
    if (!adopted && !j->in_root) {
        char *p = lb_strdup(j->root);

        if (p != NULL)
            adopted = try_adopt(h, p, 1);
    }
    return adopted;
}

void lb_adopt_step(struct llmbill *h)
{
    struct lb_journal *j = h->journal;
    struct lb_adopted *a = atomic_load(&j->adopt);

    if (a != NULL) {
        if (a->r.last < a->end || !adopted_done(h, a))
            return;
        /* the workers are past its every event: it can go (j->mu:
         * llmbill_get_stats() may be reading it) */
        pthread_mutex_lock(&j->mu);
        atomic_store(&j->adopt, NULL);
        pthread_mutex_unlock(&j->mu);
        finish(h, a);
        free_adopted(a);
    }
    atomic_store(&j->adopt_pending, scan(h));
}

void lb_adopt_finish(struct llmbill *h)
{
    struct lb_journal *j = h->journal;
    struct lb_adopted *a = atomic_load(&j->adopt);

    if (j->readonly)
        return;
    if (a != NULL) {
        /* the positions were written by lb_journal_persist_acks() */
        pthread_mutex_lock(&j->mu);
        atomic_store(&j->adopt, NULL);
        pthread_mutex_unlock(&j->mu);
        if (a->r.last >= a->end && adopted_done(h, a))
            finish(h, a);
        free_adopted(a);        /* releases its lock: the next handle goes on */
    }
    if (!j->in_root && lb_journal_min_ack(h, 1) >= atomic_load(&j->written))
        remove_journal(j->dir); /* nothing left in this handle's own journal */
}

void lb_adopt_inspect(struct llmbill *h)
{
    struct lb_journal *j = h->journal;
    DIR *d = opendir(j->root);
    struct dirent *e;

    if (d == NULL || (j->other_spooled = calloc(h->nsinks ? h->nsinks : 1, sizeof(uint64_t))) == NULL) {
        if (d != NULL)
            closedir(d);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        char *p;
        uint64_t end, first, min = UINT64_MAX;

        if (!is_journal_dir(e->d_name) || (p = join(j->root, e->d_name)) == NULL)
            continue;
        if (lb_jlast_seq(p, &end, &first) == 0 && first != 0) {
            for (size_t i = 0; i < h->nsinks; i++) {
                char *ap = lb_jack_path(p, h->sinks[i].name, 0);
                uint64_t v = 0;

                if (ap != NULL && lb_jread_ack(ap, &v) == 0) {
                    if (v < first - 1)
                        v = first - 1;
                    if (v < end)
                        j->other_spooled[i] += end - v;
                    if (v < min)
                        min = v;
                }
                free(ap);
            }
            if (min < end)
                j->other_total += end - min;
        }
        free(p);
    }
    closedir(d);
}

uint64_t lb_adopt_spooled(struct llmbill *h, struct lb_sink *s)
{
    struct lb_journal *j = h->journal;
    struct lb_adopted *a;
    uint64_t n = 0, min = UINT64_MAX;

    if (j->other_spooled != NULL)
        n += s != NULL ? j->other_spooled[s->index] : j->other_total;
    pthread_mutex_lock(&j->mu);     /* the journal thread frees it under j->mu */
    if ((a = atomic_load(&j->adopt)) != NULL) {
        for (size_t i = 0; i < h->nsinks; i++) {
            uint64_t v = atomic_load(&a->ack_seq[i]);

            if (s == NULL ? v < min : i == s->index)
                min = v;
        }
        n += min < a->end ? a->end - min : 0;
    }
    pthread_mutex_unlock(&j->mu);
    return n;
}

/* llmbill_spool_foreign()'s walk: one journal directory at a time. */
struct foreign_report {
    void (*fn)(void *arg, const char *sink, const char *journal, uint64_t backlog);
    void *arg;
    const char *dir;
    uint64_t first, end;
    int calls;
};

static void report_foreign(void *arg, const char *name, const char *file, uint64_t pos)
{
    struct foreign_report *r = arg;
    uint64_t from = pos + 1 > r->first ? pos + 1 : r->first;

    (void)file;
    if (r->end >= from) {
        r->fn(r->arg, name, r->dir, r->end - from + 1);
        r->calls++;
    }
}

/* Reports the foreign sinks' backlog in the journal in dir (read only). */
static void foreign_in(struct llmbill *h, const char *dir, struct foreign_report *r)
{
    uint64_t end, first;

    if (lb_jlast_seq(dir, &end, &first) != 0 || first == 0)
        return;                 /* unreadable, or empty */
    r->dir = dir;
    r->first = first;
    r->end = end;
    lb_jforeign_sinks(h, dir, report_foreign, r);
}

int llmbill_spool_foreign(llmbill *h,
                          void (*fn)(void *arg, const char *sink, const char *journal,
                                     uint64_t backlog),
                          void *arg)
{
    struct foreign_report r = { fn, arg, NULL, 0, 0, 0 };
    struct lb_journal *j;
    struct dirent *e;
    DIR *d;

    if (h == NULL || fn == NULL)
        return LLMBILL_EINVAL;
    if (lb_forked(h))
        return LLMBILL_EFORKED;
    if ((j = h->journal) == NULL)
        return 0;
    foreign_in(h, j->root, &r);     /* spool_dir's own journal */
    if ((d = opendir(j->root)) == NULL)
        return r.calls;
    while ((e = readdir(d)) != NULL) {
        char *p;

        if (!is_journal_dir(e->d_name) || (p = join(j->root, e->d_name)) == NULL)
            continue;
        foreign_in(h, p, &r);
        free(p);
    }
    closedir(d);
    return r.calls;
}
