/* llmbill core: the event path from llmbill_record() to the sinks.
 *
 * Producers claim a sequence number on a bounded broadcast ring (lock-free:
 * one CAS on head, one release store on the slot). The queue is a few such
 * rings (shards): each recording thread keeps to its own shard while it
 * has room, so threads do not contend on one head. Every sink instance has
 * its own worker thread that reads the shards at its own pace and releases
 * what it has finished through its own cursor per shard; a slot is reused
 * only when every sink's cursor has passed it. A disk journal slots in
 * front: the journal thread alone records, into shard 0, and each sink
 * acknowledges journal positions as it passes them.
 *
 * A worker batches up to batch_max events, waiting at most linger_ms for a
 * batch to fill. A recording thread wakes a sleeping worker only once an
 * eighth of its shard is waiting (or a batch, if larger): a wake-up is a
 * system call on the recording thread, and a worker that reads events
 * right behind the recording thread takes their cache lines from it. The
 * worker hands each batch to lb_deliver() (deliver.c), which owns retries
 * and dead letters. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lb.h"

LB_TLS struct llmbill *lb_tls_in_sink;

static uint64_t head_seq(uint64_t h)
{
    return h & ~LB_HEAD_CLOSED;
}

static int init_cond(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    int rc;

    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    rc = pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
    return rc;
}

/* Wakes flush waiters and blocked producers, if any. */
void lb_notify_waiters(struct llmbill *h)
{
    if (atomic_load_explicit(&h->waiters, memory_order_seq_cst) > 0) {
        pthread_mutex_lock(&h->wait_mu);
        pthread_cond_broadcast(&h->wait_cv);
        pthread_mutex_unlock(&h->wait_mu);
    }
}

static void wake_sink(struct lb_sink *s)
{
    if (s->async != NULL) {
        atomic_store(&s->sleeping, 0);
        lb_async_wake(s);
        return;
    }
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->sleeping, 0);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static uint64_t min_cursor(struct llmbill *h, unsigned k)
{
    uint64_t m = UINT64_MAX;

    for (size_t i = 0; i < h->nsinks; i++) {
        uint64_t c = atomic_load_explicit(&h->sinks[i].cursor[k].pos, memory_order_acquire);

        if (c < m)
            m = c;
    }
    return m;
}

#ifndef LB_PREFETCH_SLOTS
#define LB_PREFETCH_SLOTS 4
#endif

atomic_uint lb_next_shard_hint;
LB_TLS unsigned lb_tls_shard_hint;

/* Claims a seq on shard k, builds the event in its slot and publishes it.
 * Returns 0, LLMBILL_EFULL or LLMBILL_ECLOSED. Lock-free; never sleeps. */
static int try_enqueue(struct llmbill *h, unsigned k, const struct lb_prepared *p, void *heap,
                       char *id_out, size_t id_cap)
{
    struct lb_shard *sh = &h->shards[k];
    uint64_t hv = atomic_load_explicit(&sh->head, memory_order_relaxed), seq;
    struct lb_slot *slot;
    struct lb_event *ev;
    int awake = 0;

    for (;;) {
        if (hv & LB_HEAD_CLOSED)
            return LLMBILL_ECLOSED;
        if (hv - atomic_load_explicit(&sh->gate, memory_order_acquire) >= h->cap) {
            uint64_t g = min_cursor(h, k);

            atomic_store_explicit(&sh->gate, g, memory_order_release);
            if (hv - g >= h->cap)
                return LLMBILL_EFULL;
        }
        if (atomic_compare_exchange_weak_explicit(&sh->head, &hv, hv + 1, memory_order_acq_rel,
                                                  memory_order_relaxed))
            break;
    }
    seq = hv;
    slot = &sh->ring[seq & h->mask];
    /* every sink has released the slot's previous event */
    if (slot->ev != NULL && slot->ev->heap)
        free(slot->ev);
    ev = lb_event_build(p, heap ? heap : (void *)slot->data, heap != NULL);
    slot->ev = ev;
    if (id_out != NULL && id_cap > 0) {
        size_t n = strlen(ev->u.event_id);

        if (n >= id_cap)
            n = id_cap - 1;
        memcpy(id_out, ev->u.event_id, n);
        id_out[n] = '\0';
    }
    atomic_store_explicit(&slot->seq, seq + 1, memory_order_release);
    for (size_t i = 0; i < h->nsinks; i++) {
        struct lb_sink *s = &h->sinks[i];

        if (!atomic_load_explicit(&s->sleeping, memory_order_relaxed))
            awake = 1;
        else if (seq + 1 - atomic_load_explicit(&s->cursor[k].pos, memory_order_relaxed) >=
                 s->wake_at &&
                 atomic_exchange_explicit(&s->sleeping, 0, memory_order_acq_rel))
            wake_sink(s);
    }
    /* this thread's next slots are most likely the following ones: start
     * fetching their lines now. While every worker sleeps, take them for
     * writing: a worker may still hold them from the last lap, and a line
     * taken shared costs a second trip to the other core at the store.
     * While a worker reads near the head, only fetch them (taking them
     * would pull lines from under it, and slow the sink that frees room). */
    for (uint64_t ahead = 1; ahead <= LB_PREFETCH_SLOTS; ahead++)
        lb_prefetch_lines(&sh->ring[(seq + ahead) & h->mask], sizeof *slot, !awake);
    return 0;
}

/* Tries the calling thread's shard, then the others. */
static int try_any(struct llmbill *h, const struct lb_prepared *p, void *heap, char *id_out,
                   size_t id_cap)
{
    unsigned k = lb_my_shard(h);
    int rc = try_enqueue(h, k, p, heap, id_out, id_cap);

    for (unsigned i = 1; rc == LLMBILL_EFULL && i < h->nshards; i++)
        rc = try_enqueue(h, (k + i) & (h->nshards - 1), p, heap, id_out, id_cap);
    return rc;
}

int lb_dispatch_feed(struct llmbill *h, const struct lb_prepared *p, void *heap)
{
    return try_enqueue(h, 0, p, heap, NULL, 0);
}

uint64_t lb_dispatch_recorded(struct llmbill *h)
{
    uint64_t n = 0;

    for (unsigned k = 0; k < h->nshards; k++)
        n += head_seq(atomic_load(&h->shards[k].head));
    return n;
}

int lb_dispatch_enqueue(struct llmbill *h, const struct lb_prepared *p, void *heap, char *id_out,
                        size_t id_cap)
{
    struct timespec ts;
    int rc;

    rc = try_any(h, p, heap, id_out, id_cap);
    if (rc != LLMBILL_EFULL || !h->overflow_block)
        return rc;
    /* overflow = block: wait for room, at most overflow_block_ms */
    lb_deadline_ts(&ts, h->overflow_block_ms);
    pthread_mutex_lock(&h->wait_mu);
    atomic_fetch_add(&h->waiters, 1);
    while ((rc = try_any(h, p, heap, id_out, id_cap)) == LLMBILL_EFULL) {
        if (pthread_cond_timedwait(&h->wait_cv, &h->wait_mu, &ts) == ETIMEDOUT) {
            rc = try_any(h, p, heap, id_out, id_cap);
            break;
        }
    }
    atomic_fetch_sub(&h->waiters, 1);
    pthread_mutex_unlock(&h->wait_mu);
    return rc;
}

/* ---- the worker ------------------------------------------------------------ */

/* Counts the events published in shard k from pos, up to limit. */
static size_t available(struct llmbill *h, unsigned k, uint64_t pos, size_t limit)
{
    struct lb_slot *ring = h->shards[k].ring;
    size_t n = 0;

    while (n < limit) {
        struct lb_slot *slot = &ring[(pos + n) & h->mask];

        if (atomic_load_explicit(&slot->seq, memory_order_acquire) != pos + n + 1)
            break;
        n++;
    }
    return n;
}

static void run_sink_flush(struct lb_sink *s, uint64_t gen)
{
    if (s->plugin.desc.flush != NULL) {
        int rc;

        lb_tls_in_sink = s->h;
        lb_sink_code_enter(s);
        rc = s->plugin.desc.flush(s->state);
        lb_sink_code_leave(s);
        lb_tls_in_sink = NULL;
        if (rc != 0)
            lb_log(&s->h->log, LLMBILL_LOG_WARN, "sink %s: flush() failed", s->name);
    }
    atomic_store(&s->flushed_gen, gen);
    lb_notify_waiters(s->h);
}

/* Is a llmbill_check_sink() call waiting for a check that has not begun? */
static int check_pending(struct lb_sink *s)
{
    return atomic_load(&s->check_asked) != atomic_load(&s->check_served);
}

/* Serves the llmbill_check_sink() calls made so far, on the worker thread:
 * one check() into a local buffer, then the result published for every
 * ticket up to the one read before it began (see check_asked in lb.h). */
static void run_check(struct lb_sink *s)
{
    struct llmbill *h = s->h;
    uint64_t ticket = atomic_load(&s->check_asked);
    char msg[LB_ERRLEN];
    int rc = 0;

    msg[0] = '\0';
    if (s->plugin.desc.check == NULL) {
        snprintf(msg, sizeof msg, "loaded (this sink has no remote check)");
    } else {
        lb_tls_in_sink = h;
        lb_sink_code_enter(s);
        rc = s->plugin.desc.check(s->state, msg, sizeof msg);
        lb_sink_code_leave(s);
        lb_tls_in_sink = NULL;
        msg[sizeof msg - 1] = '\0';
        lb_redact(&h->log, msg, sizeof msg);
    }
    pthread_mutex_lock(&h->wait_mu);
    s->check_rc = rc;
    memcpy(s->check_msg, msg, sizeof msg);
    atomic_store(&s->check_served, ticket);
    pthread_cond_broadcast(&h->wait_cv);
    pthread_mutex_unlock(&h->wait_mu);
}

/* The heads of every shard, as one snapshot. */
struct heads {
    uint64_t v[LB_SHARDS_MAX];
};

static void read_heads(struct llmbill *h, struct heads *hs)
{
    for (unsigned k = 0; k < h->nshards; k++)
        hs->v[k] = atomic_load(&h->shards[k].head);
}

static int heads_equal(struct llmbill *h, const struct heads *a, const struct heads *b)
{
    for (unsigned k = 0; k < h->nshards; k++)
        if (a->v[k] != b->v[k])
            return 0;
    return 1;
}

/* Is every seq claimed in every shard at pos[] (nothing in flight)? */
static int all_read(struct llmbill *h, const uint64_t *pos, const struct heads *hs)
{
    for (unsigned k = 0; k < h->nshards; k++)
        if (pos[k] != head_seq(hs->v[k]))
            return 0;
    return 1;
}

/* Can a request-based sink take another batch now? In recovery after a
 * crash inside it (poison.c), only with nothing else in flight. */
static int async_room(struct lb_sink *s)
{
    return lb_async_room(s) && (!lb_poison_active(s) || lb_async_idle(s));
}

static void *worker(void *arg)
{
    struct lb_sink *s = arg;
    struct llmbill *h = s->h;
    size_t cap = s->batch_max;
    struct lb_batch *b = s->batch;
    uint64_t pos[LB_SHARDS_MAX];
    unsigned first = 0;         /* the shard a batch starts with, in turn */
    int64_t first_seen = 0;
    int left = 0;               /* events were left in the journal: ack no more */

    for (unsigned k = 0; k < h->nshards; k++)
        pos[k] = atomic_load(&s->cursor[k].pos);
    for (;;) {
        size_t n = 0, cnt[LB_SHARDS_MAX];
        struct heads hs = { { 0 } };
        uint64_t fgen = 0;
        int closing = 0, urgent = 0, ready;
        int64_t now = 0;

        if (check_pending(s))
            run_check(s);
        /* after a crash inside a request-based sink: one event at a time */
        cap = s->async != NULL && lb_poison_active(s) ? 1 : s->batch_max;
        for (unsigned i = 0; i < h->nshards; i++) {
            unsigned k = (first + i) & (h->nshards - 1);

            cnt[k] = available(h, k, pos[k], cap - n);
            n += cnt[k];
        }
        /* a full batch goes out at once; only a partial one looks at the
         * shared state (reading the heads on every pass would steal their
         * cache lines from the recording threads) */
        if (n < cap) {
            read_heads(h, &hs);
            fgen = atomic_load(&h->flush_gen);
            closing = (hs.v[0] & LB_HEAD_CLOSED) != 0;
            urgent = closing || fgen != atomic_load(&s->flushed_gen) || atomic_load(&h->aborting);
            now = lb_mono_ms();
            if (n > 0 && first_seen == 0)
                first_seen = now;
        }
        ready = n >= cap || (n > 0 && (urgent || now - first_seen >= s->linger_ms));
        if (ready && s->async != NULL && !async_room(s))
            ready = 0; /* every flight is busy: the events wait in the queue */
        if (ready) {
            size_t skipped = 0;
            uint64_t last_jseq = 0, last_adopted = 0;

            if (s->async != NULL)
                b = lb_async_batch(s);

            for (unsigned i = 0; i < h->nshards; i++) {
                unsigned k = (first + i) & (h->nshards - 1);
                struct lb_slot *ring = h->shards[k].ring;

                for (size_t j = 0; j < cnt[k]; j++) {
                    struct lb_event *ev = ring[(pos[k] + j) & h->mask].ev;

                    /* journal events: shard 0, in order within each journal */
                    if (ev->jsrc != 0 && ev->jseq > last_adopted)
                        last_adopted = ev->jseq;
                    else if (ev->jsrc == 0 && ev->jseq > last_jseq)
                        last_jseq = ev->jseq;
                    if (lb_should_skip(s, ev))
                        skipped++;
                    else
                        b->ev[b->n++] = ev;
                }
                pos[k] += cnt[k];
            }
            first = (first + 1) & (h->nshards - 1);
            if (skipped > 0)
                atomic_fetch_add(&s->st_skipped, skipped);
            first_seen = 0;
            if (s->async != NULL) {
                if (lb_poison_active(s))
                    lb_poison_request(s, b); /* one event, after a crash inside the sink */
                lb_async_start(s, pos, last_jseq, last_adopted);
                lb_async_wait(s, 0, 0); /* answers that came meanwhile */
                continue;
            }
            if (b->n > 0 && lb_poison_active(s))
                left |= lb_poison_deliver(s, b); /* after a crash inside the sink */
            else if (b->n > 0)
                left |= lb_deliver(s, b);
            if (last_jseq != 0 && !left)
                lb_journal_ack(h, s, 0, last_jseq);
            if (last_adopted != 0 && !left)
                lb_journal_ack(h, s, 1, last_adopted);
            for (unsigned k = 0; k < h->nshards; k++)
                if (cnt[k] > 0)
                    atomic_store_explicit(&s->cursor[k].pos, pos[k], memory_order_release);
            lb_notify_waiters(h);
            continue;
        }
        if (n == 0 && all_read(h, pos, &hs) && (s->async == NULL || lb_async_idle(s))) {
            if (fgen != atomic_load(&s->flushed_gen)) {
                run_sink_flush(s, fgen);
                continue;
            }
            if (closing)
                break;
        }
        if (s->async != NULL) {
            /* wait for an answer, a due retry, a batch to fill, the linger
             * time, or a wake-up (lb_async_wake) */
            struct heads again;
            int64_t wait = n > 0 ? s->linger_ms - (now - first_seen) : s->linger_ms;
            int sleep_ok;

            atomic_store(&s->sleeping, 1);
            if (n > 0 && !async_room(s)) {
                wait = 1000; /* until an answer frees a flight: new events can wait */
                sleep_ok = !atomic_load(&h->aborting) && !check_pending(s);
            } else {
                read_heads(h, &again);
                sleep_ok = heads_equal(h, &again, &hs) && atomic_load(&h->flush_gen) == fgen &&
                           !atomic_load(&h->aborting) && !check_pending(s);
                if (n == 0 && !all_read(h, pos, &hs))
                    wait = 1; /* a claimed slot is being published */
            }
            lb_async_wait(s, wait > 0 ? wait : 1, sleep_ok);
            atomic_store(&s->sleeping, 0);
            continue;
        }
        /* wait for a batch to fill, the linger time, or a wake-up */
        pthread_mutex_lock(&s->mu);
        atomic_store(&s->sleeping, 1);
        {
            struct heads again;

            read_heads(h, &again);
            if (heads_equal(h, &again, &hs) && atomic_load(&h->flush_gen) == fgen &&
                !atomic_load(&h->aborting) && !check_pending(s)) {
                struct timespec ts;
                int64_t wait = n > 0 ? s->linger_ms - (now - first_seen) : s->linger_ms;

                if (n == 0 && !all_read(h, pos, &hs))
                    wait = 1; /* a claimed slot is being published */
                lb_deadline_ts(&ts, wait > 0 ? wait : 1);
                pthread_cond_timedwait(&s->cv, &s->mu, &ts);
            }
        }
        atomic_store(&s->sleeping, 0);
        pthread_mutex_unlock(&s->mu);
    }
    run_sink_flush(s, atomic_load(&h->flush_gen));
    /* the heads are closed and every event is read: whatever flush starts
     * later (close's, after its wait for records) has nothing to wait for */
    atomic_store(&s->flushed_gen, UINT64_MAX);
    atomic_store(&s->done, 1);
    lb_notify_waiters(h);
    return NULL;
}

/* How many shards: about two per CPU (a power of two, at most
 * LB_SHARDS_MAX, each of at least 64 slots); one with a journal, where
 * only the journal thread records. */
static unsigned shard_count(const struct llmbill *h, uint64_t total)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned n = 1;

    if (h->journal != NULL)
        return 1;
    while (n < LB_SHARDS_MAX && n < 2 * (unsigned long)(cpus > 0 ? cpus : 1) && total / (2 * n) >= 64)
        n *= 2;
    return n;
}

int lb_dispatch_start(struct llmbill *h, int threads, char *err, size_t errlen)
{
    uint64_t total = 1;

    /* first, so that lb_dispatch_stop() may run whatever fails below */
    pthread_mutex_init(&h->wait_mu, NULL);
    init_cond(&h->wait_cv);
    while (total < h->queue_max)
        total <<= 1;
    h->nshards = shard_count(h, total);
    h->cap = total / h->nshards;
    h->mask = h->cap - 1;
    h->shards = aligned_alloc(64, h->nshards * sizeof *h->shards);
    if (h->shards != NULL)
        memset(h->shards, 0, h->nshards * sizeof *h->shards);
    else
        h->nshards = 0;
    for (unsigned k = 0; h->shards != NULL && k < h->nshards; k++) {
        struct lb_shard *sh = &h->shards[k];

        /* allocated and touched now, so that recording never page-faults */
        sh->ring = lb_ring_alloc(h->cap);
        if (sh->ring == NULL)
            break;
        memset(sh->ring, 0, h->cap * sizeof *sh->ring);
        for (uint64_t i = 0; i < h->cap; i++)
            atomic_init(&sh->ring[i].seq, 0);
        atomic_init(&sh->head, 0);
        atomic_init(&sh->gate, 0);
    }
    for (size_t i = 0; h->shards != NULL && i < h->nsinks; i++) {
        h->sinks[i].cursor = aligned_alloc(64, h->nshards * sizeof *h->sinks[i].cursor);
        if (h->sinks[i].cursor == NULL)
            break;
        for (unsigned k = 0; k < h->nshards; k++)
            atomic_init(&h->sinks[i].cursor[k].pos, 0);
    }
    if (h->shards == NULL || h->shards[h->nshards - 1].ring == NULL ||
        (h->nsinks > 0 && h->sinks[h->nsinks - 1].cursor == NULL)) {
        lb_errf(err, errlen, "out of memory allocating a queue of %llu events",
                (unsigned long long)total);
        return LLMBILL_ENOMEM;
    }
    for (size_t i = 0; i < h->nsinks; i++) {
        struct lb_sink *s = &h->sinks[i];

        s->wake_at = s->batch_max > h->cap / 8 ? s->batch_max : h->cap / 8;
        if (s->wake_at > h->cap / 2)
            s->wake_at = h->cap / 2 > 0 ? h->cap / 2 : 1;
        pthread_mutex_init(&s->mu, NULL);
        init_cond(&s->cv);
        if (!threads)
            continue;
        if (s->plugin.desc.request != NULL && s->plugin.desc.response != NULL) {
            int rc = lb_async_new(s, err, errlen);

            if (rc != 0)
                return rc;
        }
        if ((s->batch = lb_batch_new(s->batch_max)) == NULL) {
            lb_errf(err, errlen, "sink %s: out of memory for its batch of %u events", s->name,
                    (unsigned)s->batch_max);
            return LLMBILL_ENOMEM;
        }
        if (lb_thread_start(&s->thread, worker, s) != 0) {
            lb_errf(err, errlen, "sink %s: cannot start its worker thread", s->name);
            return LLMBILL_ENOMEM;
        }
        s->thread_started = 1;
    }
    return 0;
}

static int all_flushed(struct llmbill *h, const uint64_t *target, uint64_t gen)
{
    for (size_t i = 0; i < h->nsinks; i++) {
        struct lb_sink *s = &h->sinks[i];

        if (!s->thread_started)
            continue;
        if (atomic_load(&s->flushed_gen) < gen)
            return 0;
        for (unsigned k = 0; k < h->nshards; k++)
            if (atomic_load(&s->cursor[k].pos) < target[k])
                return 0;
    }
    return 1;
}

static int flush_once(struct llmbill *h, int timeout_ms)
{
    uint64_t target[LB_SHARDS_MAX], gen;
    struct timespec ts;
    int rc = 0;

    lb_deadline_ts(&ts, timeout_ms < 0 ? 0 : timeout_ms);
    if (h->journal != NULL) {
        /* first, everything journaled so far must have reached the ring */
        uint64_t want = atomic_load(&h->journal->written);
        int64_t start = lb_mono_ms();

        if (!h->journal->started)
            return LLMBILL_ETIMEDOUT;
        while (atomic_load(&h->journal->enqueued) < want) {
            if (timeout_ms >= 0 && lb_mono_ms() - start >= timeout_ms)
                return LLMBILL_ETIMEDOUT;
            lb_dispatch_wait_room(h, 2);
        }
    }
    for (unsigned k = 0; k < h->nshards; k++)
        target[k] = head_seq(atomic_load(&h->shards[k].head));
    gen = atomic_fetch_add(&h->flush_gen, 1) + 1;
    pthread_mutex_lock(&h->wait_mu);
    atomic_fetch_add(&h->waiters, 1);
    pthread_mutex_unlock(&h->wait_mu);
    for (size_t i = 0; i < h->nsinks; i++)
        if (h->sinks[i].thread_started)
            wake_sink(&h->sinks[i]);
    pthread_mutex_lock(&h->wait_mu);
    while (!all_flushed(h, target, gen)) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&h->wait_cv, &h->wait_mu);
        } else if (pthread_cond_timedwait(&h->wait_cv, &h->wait_mu, &ts) == ETIMEDOUT) {
            rc = all_flushed(h, target, gen) ? 0 : LLMBILL_ETIMEDOUT;
            break;
        }
    }
    atomic_fetch_sub(&h->waiters, 1);
    pthread_mutex_unlock(&h->wait_mu);
    return rc;
}

/* Waits for what was recorded before, and with a journal, for the journals
 * of ended handles this one adopts (adopt.c) too: each round flushes what
 * the journal thread has fed from them so far (so that the sinks send it
 * at once, not after their linger time). */
int lb_dispatch_flush(struct llmbill *h, int timeout_ms)
{
    int64_t start = lb_mono_ms();
    uint64_t look = h->journal != NULL ? atomic_fetch_add(&h->journal->scan_req, 1) + 1 : 0;
    int rc = flush_once(h, timeout_ms);

    /* a look for ended handles' journals that started after this call */
    while (rc == 0 && h->journal != NULL && atomic_load(&h->journal->scan_done) < look) {
        if (timeout_ms >= 0 && lb_mono_ms() - start >= timeout_ms)
            return LLMBILL_ETIMEDOUT;
        lb_dispatch_wait_room(h, 2);
    }
    while (rc == 0 && h->journal != NULL && atomic_load(&h->journal->adopt_pending)) {
        int64_t left = timeout_ms < 0 ? -1 : timeout_ms - (lb_mono_ms() - start);

        if (timeout_ms >= 0 && left <= 0)
            return LLMBILL_ETIMEDOUT;
        lb_dispatch_wait_room(h, 5);
        rc = flush_once(h, (int)left);
    }
    return rc;
}

void lb_dispatch_wait_room(struct llmbill *h, int ms)
{
    struct timespec ts;

    lb_deadline_ts(&ts, ms);
    pthread_mutex_lock(&h->wait_mu);
    atomic_fetch_add(&h->waiters, 1);
    pthread_cond_timedwait(&h->wait_cv, &h->wait_mu, &ts);
    atomic_fetch_sub(&h->waiters, 1);
    pthread_mutex_unlock(&h->wait_mu);
}

int lb_dispatch_check(struct llmbill *h, struct lb_sink *s, char *msg, size_t cap, int timeout_ms)
{
    struct timespec ts;
    uint64_t ticket;
    int rc = 0;

    lb_deadline_ts(&ts, timeout_ms < 0 ? 0 : timeout_ms);
    pthread_mutex_lock(&h->wait_mu);
    atomic_fetch_add(&h->waiters, 1);
    ticket = atomic_fetch_add(&s->check_asked, 1) + 1;
    pthread_mutex_unlock(&h->wait_mu);
    wake_sink(s);
    pthread_mutex_lock(&h->wait_mu);
    while (atomic_load(&s->check_served) < ticket) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&h->wait_cv, &h->wait_mu);
        } else if (pthread_cond_timedwait(&h->wait_cv, &h->wait_mu, &ts) == ETIMEDOUT) {
            rc = atomic_load(&s->check_served) >= ticket ? 0 : LLMBILL_ETIMEDOUT;
            break;
        }
    }
    if (rc == 0) {
        /* the result of a check that began after this call asked */
        snprintf(msg, cap, "%s", s->check_msg);
        rc = s->check_rc == 0 ? 0 : LLMBILL_ESINK;
    }
    atomic_fetch_sub(&h->waiters, 1);
    pthread_mutex_unlock(&h->wait_mu);
    if (rc == LLMBILL_ETIMEDOUT)
        snprintf(msg, cap, "no answer within %d ms (the sink is busy delivering or retrying)",
                 timeout_ms);
    return rc;
}

/* Closes every shard: producers get LLMBILL_ECLOSED from now on. */
static void close_heads(struct llmbill *h)
{
    for (unsigned k = 0; k < h->nshards; k++)
        atomic_fetch_or(&h->shards[k].head, LB_HEAD_CLOSED);
}

/* Waits until no llmbill_record() is under way, in a slot or in a gate
 * (lb_record_enter()). Close has set closing and closed the heads (or the
 * journal's writes) first, so each one ends soon: a producer waiting for
 * room is woken here and finds the handle closed. */
static void wait_records(struct llmbill *h)
{
    if (lb_rgate_fence() != 0) {
        /* membarrier refused after it was registered (a seccomp filter
         * installed after open): a racing record's store to its slot may
         * still sit in its CPU's store buffer. Those drain in nanoseconds
         * to microseconds; 5 ms later the scan below sees any record that
         * went on, a bound in practice though not one the CPU promises. */
        lb_log(&h->log, LLMBILL_LOG_WARN, "membarrier failed at close: waiting 5 ms for "
               "a llmbill_record() racing it to show");
        usleep(5000);
    }
    for (;;) {
        uint64_t n = lb_rgate_inside(h);

        for (unsigned k = 0; k < LB_SHARDS_MAX; k++)
            n += atomic_load_explicit(&h->gates[k].n, memory_order_seq_cst);
        if (n == 0)
            return;
        pthread_mutex_lock(&h->wait_mu);
        pthread_cond_broadcast(&h->wait_cv);
        pthread_mutex_unlock(&h->wait_mu);
        usleep(200);
    }
}

/* Writes the n dead letters collected, counts them as dead or failed; n = 0. */
static void dead_letter_chunk(struct lb_sink *s, struct lb_event **evs, const char **why,
                              size_t *n, uint64_t *failed)
{
    if (*n == 0)
        return;
    if (lb_deadletter_write(s, evs, why, *n, 0) == 0)
        atomic_fetch_add(&s->st_dead, *n);
    else
        *failed += *n;
    *n = 0;
}

/* Dead-letters the events sink s had not finished (from its cursors to the
 * heads) after close left its worker stuck in emit(): without a journal
 * they have nowhere else to go. The stuck emit() may still deliver some of
 * them: a replay of the dead-letter file reuses their event ids. */
static void dead_letter_abandoned(struct llmbill *h, struct lb_sink *s)
{
    enum { CHUNK = 256 };
    struct lb_event *evs[CHUNK];
    const char *why[CHUNK];
    size_t n = 0;
    uint64_t total = 0, failed = 0;

    for (unsigned k = 0; k < h->nshards; k++) {
        uint64_t end = head_seq(atomic_load(&h->shards[k].head));

        for (uint64_t pos = atomic_load(&s->cursor[k].pos); pos < end; pos++) {
            struct lb_slot *slot = &h->shards[k].ring[pos & h->mask];

            if (atomic_load_explicit(&slot->seq, memory_order_acquire) != pos + 1 ||
                lb_should_skip(s, slot->ev))
                continue;
            evs[n] = slot->ev;
            why[n] = "undelivered at shutdown: the sink did not return from emit() within "
                     "shutdown_timeout_ms";
            total++;
            if (++n == CHUNK)
                dead_letter_chunk(s, evs, why, &n, &failed);
        }
        dead_letter_chunk(s, evs, why, &n, &failed);
    }
    if (failed > 0)
        lb_log(&h->log, LLMBILL_LOG_ERROR, "sink %s: %llu of %llu undelivered event(s) could not be "
               "dead-lettered to %s at shutdown: lost", s->name, (unsigned long long)failed,
               (unsigned long long)total, s->dead_letter_path);
    atomic_fetch_add(&s->st_lost, failed);
}

/* Waits for every worker until `until` (monotonic ms); then leaves a worker
 * stuck in its sink's code running (detached, its sink neither destroyed
 * nor unloaded, the handle's memory never freed) and joins the others. */
static void join_workers(struct llmbill *h, int64_t until)
{
    for (size_t i = 0; i < h->nsinks; i++) {
        struct lb_sink *s = &h->sinks[i];

        if (!s->thread_started)
            continue;
        wake_sink(s);
        for (;;) {
            int expect = LB_IN_SINK_YES;

            if (atomic_load(&s->done)) {
                pthread_join(s->thread, NULL);
                break;
            }
            if (lb_mono_ms() >= until &&
                atomic_compare_exchange_strong(&s->in_sink, &expect, LB_IN_SINK_ABANDONED)) {
                pthread_detach(s->thread);
                lb_mark_abandon(s); /* its hold on the poison lock: it never returns to it */
                s->abandoned = 1;
                h->abandoned = 1;
                lb_log(&h->log, LLMBILL_LOG_ERROR, "sink %s: still inside its emit(), flush() or "
                       "check() %lld ms after close began (shutdown_timeout_ms + %d ms); left "
                       "running, never unloaded (the handle's memory is not freed); %s", s->name,
                       (long long)h->shutdown_timeout_ms + LB_CLOSE_MARGIN_MS, LB_CLOSE_MARGIN_MS,
                       h->journal ? "its undelivered events stay in the journal" :
                       "its undelivered events are dead-lettered");
                if (h->journal == NULL)
                    dead_letter_abandoned(h, s);
                break;
            }
            /* outside sink code the worker finishes soon (it is aborting) */
            lb_dispatch_wait_room(h, 2);
        }
        s->thread_started = 0;
        if (atomic_load(&s->dl_at_shutdown) > 0)
            lb_log(&h->log, LLMBILL_LOG_WARN, "sink %s: %llu undelivered event(s) dead-lettered at "
                   "shutdown to %s", s->name, (unsigned long long)atomic_load(&s->dl_at_shutdown),
                   s->dead_letter_path);
    }
}

/* Milliseconds from now until the monotonic time end, at least 0. */
static int left_ms(int64_t end)
{
    int64_t left = end - lb_mono_ms();

    return left > 0 ? (int)left : 0;
}

void lb_dispatch_stop(struct llmbill *h)
{
    int64_t start = lb_mono_ms(), end = start + h->shutdown_timeout_ms;
    int timed_out;

    atomic_store(&h->close_deadline_ms, lb_now_ms() + h->shutdown_timeout_ms);
    atomic_store_explicit(&h->closing, 1, memory_order_seq_cst);
    if (h->paused) {
        /* nothing was started: nothing to deliver */
        close_heads(h);
        if (h->journal != NULL)
            lb_journal_close_writes(h->journal);
        wait_records(h);
        return;
    }
    if (h->journal != NULL) {
        /* no new records; the journal thread keeps feeding until the flush ends */
        lb_journal_close_writes(h->journal);
        wait_records(h);
        timed_out = lb_dispatch_flush(h, left_ms(end)) != 0;
        lb_journal_stop(h);
        close_heads(h);
    } else {
        close_heads(h);
        wait_records(h);
        timed_out = lb_dispatch_flush(h, left_ms(end)) != 0;
    }
    if (timed_out) {
        lb_log(&h->log, LLMBILL_LOG_WARN, "shutdown timeout (%lld ms) reached; %s",
               (long long)h->shutdown_timeout_ms, h->journal ? "undelivered events stay in the "
               "journal" : "dead-lettering undelivered events");
        atomic_store(&h->aborting, 1);
    }
    join_workers(h, end + LB_CLOSE_MARGIN_MS);
    if (h->journal != NULL) {
        lb_journal_persist_acks(h); /* what the workers finished last */
        lb_adopt_finish(h);
    }
}

void lb_sink_stats(struct lb_sink *s, struct llmbill_stats *out)
{
    uint64_t head = lb_dispatch_recorded(s->h);
    uint64_t skipped = atomic_load(&s->st_skipped);

    memset(out, 0, sizeof *out);
    out->struct_size = sizeof *out;
    out->delivered = atomic_load(&s->st_delivered);
    out->dead_lettered = atomic_load(&s->st_dead);
    out->retried = atomic_load(&s->st_retried);
    out->lost = atomic_load(&s->st_lost);
    out->quarantined = atomic_load(&s->st_quarantined);
    out->recorded = head - skipped;
    out->pending = out->recorded - out->delivered - out->dead_lettered;
    lb_async_stats(s, out);
}
