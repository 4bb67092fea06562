/* llmbill core: poison events, a sink whose code crashes the process.
 *
 * Before a journalled handle calls into a sink's emit(), the journal seqs
 * of the batch go to the sink's in-flight mark, spool/inflight-<sink> (the
 * name encoded as the ack files'), a page mapped shared: a few stores, no
 * system call, and they are in the OS when the process dies. The mark is
 * cleared when emit() returns. A start that finds a mark knows the process
 * died inside that sink's code:
 *   - a batch mark (seqs lo..hi): logged with the sink's name, and those
 *     events are delivered to that sink one at a time (a mark per event);
 *   - a single mark (the process died while that one event was alone in
 *     emit(), after an earlier death with it in a batch: twice): the event
 *     is quarantined for that sink: written to its dead-letter file with
 *     the reason "the process died twice while sink X delivered this
 *     event", counted in stats.quarantined (and dead_lettered), and never
 *     sent to that sink again automatically (llmbill replay resends it
 *     after a fix). Other sinks are not affected. The mark stays until the
 *     dead letter is written, so a crash before that repeats it.
 * Request-based sinks (sink ABI 1.2) are marked the same way around each
 * request() and response() (inflight.c: they run on the worker thread one
 * at a time, so one mark per sink is enough however many batches are in
 * flight); in recovery their worker takes one event per batch with
 * nothing else in flight (dispatch.c, lb_poison_request()).
 * A suspect alone in sink code holds a process-wide lock exclusively; every
 * other marked call holds it shared. So when the process dies with a single
 * mark set, no other sink was inside its code: a bystander (a sink that
 * happened to be in emit() when another one crashed the process) gets a
 * batch mark at worst, is delivered one at a time once, and is never
 * quarantined for a crash that was not its own.
 * Covered: emit(), request() and response() of the handle's own journal
 * events. Not covered: events of an adopted journal (adopt.c), and handles
 * without a journal (nothing to restart from). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "lb.h"

#define MARK_MAGIC 0x4b4d424cu /* "LBMK" */
#define MARK_NONE   0
#define MARK_BATCH  1
#define MARK_SINGLE 2

struct lb_mark {
    volatile uint32_t magic, state;
    volatile uint64_t lo, hi, cur;
    volatile uint32_t where;    /* LB_IN_*: the sink's function (0 in older marks: emit) */
};

static const char *const where_name[] = { "emit()", "request()", "response()" };

/* Shared around marked sink calls, exclusive around a suspect alone (see
 * above); a waiting suspect goes first. Not a pthread rwlock: close
 * releases the shared hold of a worker it abandons inside its sink
 * (lb_mark_abandon), which only the holder may do with an rwlock. */
static pthread_mutex_t code_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t code_cv = PTHREAD_COND_INITIALIZER;
static int code_readers, code_writer, code_waiting;

/* Waits (at most LB_SUSPECT_WAIT_MS: a sink stuck inside its code, still
 * open, must not stall the others for good) for the exclusive hold.
 * 1 when taken, 0 when the wait ran out. */
#define LB_SUSPECT_WAIT_MS 30000
static int code_lock_exclusive(void)
{
    struct timespec until;
    int got;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += LB_SUSPECT_WAIT_MS / 1000;
    pthread_mutex_lock(&code_mu);
    code_waiting++;
    while ((code_writer || code_readers > 0) &&
           pthread_cond_timedwait(&code_cv, &code_mu, &until) == 0)
        ;
    code_waiting--;
    got = !code_writer && code_readers == 0;
    if (got)
        code_writer = 1;
    pthread_cond_broadcast(&code_cv);
    pthread_mutex_unlock(&code_mu);
    return got;
}

/* The shared hold: waits while a suspect holds or waits for the lock. */
static void code_lock_shared(void)
{
    pthread_mutex_lock(&code_mu);
    while (code_writer || code_waiting > 0)
        pthread_cond_wait(&code_cv, &code_mu);
    code_readers++;
    pthread_mutex_unlock(&code_mu);
}

static void code_unlock(int kind)
{
    pthread_mutex_lock(&code_mu);
    if (kind == 2)
        code_writer = 0;
    else
        code_readers--;
    pthread_cond_broadcast(&code_cv);
    pthread_mutex_unlock(&code_mu);
}

static char *mark_path(const struct lb_journal *j, const char *sink)
{
    char *enc = lb_name_encoded(sink), *p = NULL;
    size_t n;

    if (enc != NULL && (p = malloc(n = strlen(j->dir) + strlen(enc) + 16)) != NULL)
        snprintf(p, n, "%s/inflight-%s", j->dir, enc);
    free(enc);
    return p;
}

int lb_poison_open(struct llmbill *h, char *err, size_t errlen)
{
    struct lb_journal *j = h->journal;

    for (size_t i = 0; i < h->nsinks; i++) {
        struct lb_sink *s = &h->sinks[i];
        char *p = mark_path(j, s->name);
        int fd = p ? open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640) : -1;
        struct lb_mark *m;

        if (fd < 0 || ftruncate(fd, 4096) != 0 ||
            (m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
            int e = p == NULL ? ENOMEM : errno;

            lb_errf(err, errlen, "spool_dir %s: cannot open the in-flight mark of sink %s (%s): %s",
                    j->dir, s->name, p ? p : "its path", strerror(e));
            if (fd >= 0)
                close(fd);
            free(p);
            return e == ENOMEM ? LLMBILL_ENOMEM : LLMBILL_ECONFIG;
        }
        close(fd);
        free(p);
        (void)madvise(m, 4096, MADV_DONTFORK);
        s->mark = m;
        if ((s->suspect_ev = calloc(s->batch_max, sizeof *s->suspect_ev)) == NULL)
            return LLMBILL_ENOMEM;
        if (m->magic != MARK_MAGIC || m->state == MARK_NONE)
            continue;
        if ((m->state == MARK_SINGLE ? m->cur : m->hi) <= s->ack_start) {
            m->state = MARK_NONE; /* finished since: nothing to do */
            continue;
        }
        if (m->state == MARK_BATCH) {
            s->suspect_lo = m->lo;
            s->suspect_hi = m->hi;
            m->state = MARK_NONE;
            lb_log(&h->log, LLMBILL_LOG_ERROR, "sink %s: the process died inside the sink's "
                   "%s (journal events %llu..%llu): delivering them to it one at a time, "
                   "to find an event that crashes it", s->name,
                   where_name[m->where <= LB_IN_RESPONSE ? m->where : LB_IN_EMIT],
                   (unsigned long long)m->lo, (unsigned long long)m->hi);
        } else {
            s->quarantine = m->cur;
            s->suspect_lo = m->cur + 1;
            s->suspect_hi = m->hi > m->cur ? m->hi : 0;
            lb_log(&h->log, LLMBILL_LOG_ERROR, "sink %s: the process died twice while the sink "
                   "delivered journal event %llu: it is quarantined (written to %s, never sent "
                   "to this sink again automatically; llmbill replay resends it)", s->name,
                   (unsigned long long)m->cur, s->dead_letter_path);
        }
    }
    return 0;
}

void lb_poison_close(struct llmbill *h)
{
    for (size_t i = 0; i < h->nsinks; i++) {
        if (h->sinks[i].mark != NULL)
            munmap(h->sinks[i].mark, 4096);
        h->sinks[i].mark = NULL;
        free(h->sinks[i].suspect_ev);
        h->sinks[i].suspect_ev = NULL;
    }
}

void lb_mark_enter(struct lb_sink *s, const struct lb_batch *b, unsigned where)
{
    struct lb_mark *m = s->mark;
    uint64_t lo = UINT64_MAX, hi = 0;
    int single = s->mark_single;

    if (m == NULL || s->quarantine != 0)
        return;                 /* the mark holds the quarantine until it is written */
    for (size_t i = 0; i < b->n; i++) {
        const struct lb_event *ev = b->ev[i];

        if (ev->jsrc == 0 && ev->jseq != 0) {
            if (ev->jseq < lo)
                lo = ev->jseq;
            if (ev->jseq > hi)
                hi = ev->jseq;
        }
    }
    if (hi == 0)
        return;
    if (single) {
        /* past the wait (a sink stuck in its code), go on as a batch
         * mark: a crash then is not a second strike */
        if (code_lock_exclusive())
            s->mark_locked = 2;
        else
            single = 0;
    }
    if (!single) {
        code_lock_shared();
        s->mark_locked = 1;
    }
    m->lo = lo;
    m->cur = lo;
    m->hi = single ? s->suspect_hi : hi;
    m->where = where;
    m->magic = MARK_MAGIC;
    __atomic_store_n(&m->state, single ? MARK_SINGLE : MARK_BATCH, __ATOMIC_RELEASE);
}

void lb_mark_leave(struct lb_sink *s)
{
    if (s->mark != NULL && s->mark->state != MARK_NONE && s->quarantine == 0)
        __atomic_store_n(&s->mark->state, MARK_NONE, __ATOMIC_RELEASE);
    if (s->mark_locked != 0) {
        code_unlock(s->mark_locked);
        s->mark_locked = 0;
    }
}

void lb_mark_abandon(struct lb_sink *s)
{
    if (s->mark_locked != 0) {
        code_unlock(s->mark_locked);
        s->mark_locked = 0;
    }
}

/* Dead-letters the quarantined event ev for s. 0, or 1 when the dead
 * letter could not be written (the event stays in the journal, and the
 * mark keeps the quarantine for the next start). */
static int quarantine(struct lb_sink *s, struct lb_event *ev)
{
    char why[LB_ERRLEN];
    const char *r = why;

    snprintf(why, sizeof why, "the process died twice while sink %s delivered this event",
             s->name);
    if (lb_deadletter_write(s, &ev, &r, 1, 2) != 0)
        return 1;
    atomic_fetch_add(&s->st_dead, 1);
    atomic_fetch_add(&s->st_quarantined, 1);
    s->quarantine = 0;
    __atomic_store_n(&s->mark->state, MARK_NONE, __ATOMIC_RELEASE);
    return 0;
}

int lb_poison_deliver(struct lb_sink *s, struct lb_batch *b)
{
    size_t n = b->n;
    int left = 0;

    memcpy(s->suspect_ev, b->ev, n * sizeof *b->ev);
    b->n = 0;
    for (size_t i = 0; i < n; i++) {
        struct lb_event *ev = s->suspect_ev[i];
        int own = ev->jsrc == 0 && ev->jseq != 0;

        if (own && ev->jseq == s->quarantine) {
            left |= quarantine(s, ev);
            continue;
        }
        if (left)
            continue;           /* nothing after it is acknowledged: it all comes again */
        s->mark_single = own && ev->jseq >= s->suspect_lo && ev->jseq <= s->suspect_hi;
        b->ev[0] = ev;
        b->n = 1;
        left |= lb_deliver(s, b);
        s->mark_single = 0;
        if (own && ev->jseq >= s->suspect_hi) {
            s->suspect_hi = 0;  /* past the events of the crash */
            s->suspect_lo = 0;
        }
    }
    b->n = 0;
    return left;
}

void lb_poison_request(struct lb_sink *s, struct lb_batch *b)
{
    struct lb_event *ev = b->n == 1 ? b->ev[0] : NULL;
    int own = ev != NULL && ev->jsrc == 0 && ev->jseq != 0;

    s->mark_single = 0;
    if (own && ev->jseq == s->quarantine) {
        if (quarantine(s, ev) != 0)
            lb_async_keep(s);   /* kept in the journal: quarantined again at the next start */
        b->n = 0;               /* finished without a request */
        return;
    }
    if (own && ev->jseq > s->suspect_hi) {
        s->suspect_hi = 0;      /* past the events of the crash */
        s->suspect_lo = 0;
    }
    s->mark_single = own && ev->jseq >= s->suspect_lo && ev->jseq <= s->suspect_hi;
}
