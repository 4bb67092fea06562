/* llmbill core: request-based delivery, many batches in flight per
 * instance (see sink.h, "Request-based sinks").
 *
 * One event loop per instance, on the instance's own worker thread: the
 * worker assembles batches from the queue, asks the sink for a request,
 * hands it to a curl multi handle, and waits in one poll() of its own for
 * answers, a recording thread's wake-up (an eventfd, lb_async_wake()) or
 * the next due retry. curl is driven through its socket interface: it says
 * which sockets it wants watched for what (CURLMOPT_SOCKETFUNCTION, kept in
 * the pollfd set beside the eventfd) and when it next needs the time
 * (CURLMOPT_TIMERFUNCTION), and curl_multi_socket_action() is called for
 * each ready socket and for its timer, so that a wait costs one poll()
 * however many batches are in flight (curl_multi_perform() polled every
 * transfer's socket on its own each time). No second thread and no
 * hand-off: the sink's callbacks stay on one thread, as emit() always was,
 * and an answer is read where the next request is made.
 *
 * Positions: batches finish out of order, but a sink's cursors and journal
 * acknowledgements only ever move to the end of the oldest batch not yet
 * finished (a queue of "taken" records in assembly order). A new batch is
 * taken only while fewer than max_in_flight batches are unfinished from the
 * oldest unfinished one on, so a crash re-sends at most max_in_flight
 * batches; stable event ids keep that exact. The price: a batch that
 * waits long (a retry) holds back the ones after it once max_in_flight are
 * taken. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "http.h"

#define F_FREE 0
#define F_WAIT 1                /* due at due_ms (a retry, or a pause) */
#define F_SENT 2                /* in the multi handle */

#define AGAIN_MAX 12            /* sent again at once at most this often in a row
                                   without progress (no event settled) */
#define LAT_N 512               /* answer times kept for the stats */

struct flight {
    struct lb_batch *b;
    int *pre;                   /* results as request() left them */
    struct lb_xfer x;
    uint32_t rec;               /* its entry in taken[] */
    uint32_t attempt, again;
    int state;
    int64_t due_ms;             /* lb_mono_ms() */
};

struct taken {
    uint64_t end[LB_SHARDS_MAX];
    uint64_t last_jseq;
    uint64_t last_adopted;      /* the same in the journal being adopted (adopt.c) */
    int done;
};

struct lb_async {
    CURLM *multi;
    int efd;                    /* the wake-up eventfd, -1 before it is made */
    struct pollfd *pfd;         /* [0]: efd; then curl's sockets (on_socket) */
    uint32_t npfd, cappfd;
    int64_t timer_due;          /* lb_mono_ms() when curl wants its timeout, -1: none */
    struct flight *f;
    uint32_t nf, busy;
    struct flight *next;        /* handed out by lb_async_batch() */
    struct taken *rec;          /* a ring in assembly order */
    uint32_t rcap, rhead, rcount;
    int64_t paused_until;       /* lb_mono_ms(): a 429/401/403 pauses every batch */
    int left;                   /* a shutdown left events in the journal: ack no further */

    /* stats: written by the worker, read by any thread (the ring under s->mu) */
    atomic_uint in_flight;
    atomic_int last;            /* the last request's status, or -LLMBILL_HTTP_E* */
    atomic_uint_fast64_t requests, transport_errors;
    uint32_t lat_us[LAT_N];     /* UINT32_MAX: no answer (not an answer time) */
    int64_t lat_at[LAT_N];
    uint64_t nlat;
};

/* Room for want entries in a->pfd (doubling); 0, or -1 out of memory. */
static int pfd_room(struct lb_async *a, uint32_t want)
{
    uint32_t cap = a->cappfd;
    struct pollfd *p;

    while (cap < want)
        cap *= 2;
    if (cap == a->cappfd)
        return 0;
    if ((p = realloc(a->pfd, cap * sizeof *p)) == NULL)
        return -1;
    a->pfd = p;
    a->cappfd = cap;
    return 0;
}

/* Free entries a->pfd keeps before each poll (poll_once()), on top of the
 * 2 x max_in_flight + 2 it starts with: curl's socket callback then finds
 * room without allocating, unless more sockets than this open between two
 * polls. */
#define PFD_SLACK 8

/* curl's socket callback: keeps a->pfd[1..] as the sockets curl wants
 * watched, with the events it wants. 0, or -1 when a->pfd had no room and
 * growing it failed: curl then marks the multi handle dead, and the
 * instance delivers nothing more until close (which keeps its events in the
 * journal or dead-letters them). Two allocation failures in a row, the
 * first of them harmless (poll_once()), lead there. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *ud, void *sockp)
{
    struct lb_async *a = ud;
    uint32_t i = 1;

    (void)easy;
    (void)sockp;
    while (i < a->npfd && a->pfd[i].fd != fd)
        i++;
    if (what == CURL_POLL_REMOVE) {
        if (i < a->npfd)
            a->pfd[i] = a->pfd[--a->npfd];
        return 0;
    }
    if (i == a->npfd) {
        if (pfd_room(a, a->npfd + 1) != 0)
            return -1;
        a->npfd++;
        a->pfd[i].fd = fd;
        a->pfd[i].revents = 0;
    }
    a->pfd[i].events = (short)((what & CURL_POLL_IN ? POLLIN : 0) |
                               (what & CURL_POLL_OUT ? POLLOUT : 0));
    return 0;
}

/* curl's timer callback: when it next wants curl_multi_socket_action()
 * with CURL_SOCKET_TIMEOUT (-1: not at all). */
static int on_timer(CURLM *multi, long timeout_ms, void *ud)
{
    struct lb_async *a = ud;

    (void)multi;
    a->timer_due = timeout_ms < 0 ? -1 : lb_mono_ms() + timeout_ms;
    return 0;
}

int lb_async_new(struct lb_sink *s, char *err, size_t errlen)
{
    struct lb_async *a = calloc(1, sizeof *a);
    uint32_t n = (uint32_t)s->max_in_flight;

    if (a == NULL)
        goto oom;
    a->efd = -1;
    a->timer_due = -1;
    s->async = a;
    if (lb_http_global_init() != 0) {
        lb_errf(err, errlen, "sink %s: libcurl failed to initialise", s->name);
        return LLMBILL_ENOMEM;
    }
    a->nf = n;
    /* a batch may be taken only while fewer than n are unfinished since
     * the oldest unfinished one: then a crash re-sends at most n batches */
    a->rcap = n;
    a->f = calloc(n, sizeof *a->f);
    a->rec = calloc(a->rcap, sizeof *a->rec);
    a->multi = curl_multi_init();
    a->cappfd = 2 * n + 2; /* grown by on_socket() if curl wants more */
    a->pfd = calloc(a->cappfd, sizeof *a->pfd);
    if (a->f == NULL || a->rec == NULL || a->multi == NULL || a->pfd == NULL)
        goto oom;
    a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (a->efd < 0) {
        lb_errf(err, errlen, "sink %s: no eventfd for its wake-ups: %s", s->name,
                strerror(errno));
        return LLMBILL_ENOMEM;
    }
    if (lb_fork_track_fd(a->efd) != 0) {
        close(a->efd);
        a->efd = -1;
        goto oom;
    }
    a->pfd[0].fd = a->efd;
    a->pfd[0].events = POLLIN;
    a->npfd = 1;
    for (uint32_t i = 0; i < n; i++) {
        struct flight *f = &a->f[i];

        f->b = lb_batch_new(s->batch_max);
        f->pre = calloc(s->batch_max, sizeof *f->pre);
        if (f->b == NULL || f->pre == NULL || lb_xfer_init(s, &f->x) != 0)
            goto oom;
        curl_easy_setopt(f->x.easy, CURLOPT_PRIVATE, f);
    }
    /* HTTP/2 streams on one connection where ALPN offers h2; else up to n
     * kept-alive HTTP/1.1 connections */
    curl_multi_setopt(a->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(a->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)n);
    curl_multi_setopt(a->multi, CURLMOPT_MAXCONNECTS, (long)n + 1);
    curl_multi_setopt(a->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(a->multi, CURLMOPT_SOCKETDATA, a);
    curl_multi_setopt(a->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(a->multi, CURLMOPT_TIMERDATA, a);
    return 0;
oom:
    lb_errf(err, errlen, "sink %s: out of memory for %u batches in flight", s->name, n);
    return LLMBILL_ENOMEM;
}

void lb_async_free(struct lb_sink *s)
{
    struct lb_async *a = s->async;

    if (s->sync_xfer != NULL) {
        lb_xfer_free(s->sync_xfer);
        free(s->sync_xfer);
        s->sync_xfer = NULL;
    }
    if (a == NULL)
        return;
    for (uint32_t i = 0; a->f != NULL && i < a->nf; i++) {
        struct flight *f = &a->f[i];

        if (f->state == F_SENT)
            curl_multi_remove_handle(a->multi, f->x.easy);
        lb_xfer_free(&f->x);
        lb_batch_free(f->b);
        free(f->pre);
    }
    if (a->multi != NULL)
        curl_multi_cleanup(a->multi);
    if (a->efd >= 0) {
        lb_fork_untrack_fd(a->efd);
        close(a->efd);
    }
    free(a->pfd);
    free(a->f);
    free(a->rec);
    free(a);
    s->async = NULL;
}

int lb_async_room(struct lb_sink *s)
{
    struct lb_async *a = s->async;

    return a->busy < a->nf && a->rcount < a->rcap;
}

int lb_async_idle(struct lb_sink *s)
{
    return s->async->rcount == 0;
}

struct lb_batch *lb_async_batch(struct lb_sink *s)
{
    struct lb_async *a = s->async;

    for (uint32_t i = 0; i < a->nf; i++)
        if (a->f[i].state == F_FREE) {
            a->next = &a->f[i];
            a->next->b->n = 0;
            return a->next->b;
        }
    return NULL; /* not reached: lb_async_room() said yes */
}

void lb_async_keep(struct lb_sink *s)
{
    s->async->left = 1;
}

/* Any thread: one write to the eventfd (never blocks: a full counter, at
 * 2^64 - 2 wake-ups not yet read, is a wake-up already pending). */
void lb_async_wake(struct lb_sink *s)
{
    uint64_t one = 1;
    ssize_t r = write(s->async->efd, &one, sizeof one);

    (void)r;
}

static void finish(struct lb_sink *s, struct flight *f)
{
    struct lb_async *a = s->async;

    a->rec[f->rec].done = 1;
    f->state = F_FREE;
    f->b->n = 0;
    a->busy--;
}

/* After an answer (or a result without a request) normalised into f->b:
 * settles it and plans what comes next for f. status is the HTTP status
 * (0 when none). Only AGAIN left: sent again at once, and only after
 * AGAIN_MAX such rounds in a row that settled nothing does it become a
 * retry (counted toward retry_limit); a round that settled some events
 * (a server taking a few per request) starts the count anew. */
static void after_answer(struct lb_sink *s, struct flight *f, int64_t retry_after, int status)
{
    struct lb_async *a = s->async;
    struct lb_batch *b = f->b;
    size_t before = b->n;
    int retry = lb_settle(s, b, f->attempt);
    int64_t now = lb_mono_ms(), wait;

    if (b->n == 0) {
        finish(s, f);
        return;
    }
    if (b->n < before)
        f->again = 0; /* progress: the batch is not stuck */
    if (!retry && ++f->again <= AGAIN_MAX) {
        f->state = F_WAIT; /* only AGAIN left: at once */
        f->due_ms = now;
        return;
    }
    if (!retry) {
        char why[96];

        snprintf(why, sizeof why, "the sink asked to send again %d times in a row with no "
                 "event settled", AGAIN_MAX);
        for (size_t i = 0; i < b->n; i++) {
            b->results[i] = LLMBILL_SINK_RETRY;
            lb_set_reason(s, b, i, why);
        }
    }
    f->again = 0;
    wait = lb_plan_retry(s, b, &f->attempt, retry_after);
    if (wait < 0) {
        finish(s, f);
        return;
    }
    f->state = F_WAIT;
    f->due_ms = now + wait;
    if ((status == 429 || status == 401 || status == 403) && f->due_ms > a->paused_until)
        a->paused_until = f->due_ms; /* the whole instance waits */
}

/* Asks the sink for f's request and starts it (or applies the sink's
 * result when it needs none). */
static void send_flight(struct lb_sink *s, struct flight *f)
{
    struct lb_async *a = s->async;
    struct lb_batch *b = f->b;
    struct llmbill_sink_batch sb;
    struct llmbill_http_request req;
    char why[LB_ERRLEN];
    int rc;

    lb_sink_batch_fill(s, b, f->attempt, &sb);
    memset(&req, 0, sizeof req);
    req.struct_size = sizeof req;
    lb_sink_call_enter(s, b, LB_IN_REQUEST);
    rc = s->plugin.desc.request(s->state, &sb, &req);
    lb_sink_call_leave(s);
    if (rc != LLMBILL_SINK_REQUEST) {
        lb_normalise(s, b, rc, &sb, NULL);
        after_answer(s, f, sb.retry_after_ms, 0);
        return;
    }
    for (size_t i = 0; i < b->n; i++) {
        f->pre[i] = b->results[i];
        if (f->pre[i] != LLMBILL_SINK_OK && f->pre[i] != LLMBILL_SINK_AGAIN)
            f->pre[i] = LLMBILL_SINK_ERROR;
        if (f->pre[i] == LLMBILL_SINK_ERROR)
            lb_set_reason(s, b, i, b->reasons[i] ? b->reasons[i] : "rejected by the sink");
    }
    if (lb_xfer_prepare(s, &f->x, &req, atomic_load(&s->h->close_deadline_ms), why,
                        sizeof why) != 0 ||
        curl_multi_add_handle(a->multi, f->x.easy) != CURLM_OK) {
        lb_log(&s->h->log, LLMBILL_LOG_ERROR, "sink %s: request not sent: %s", s->name, why);
        for (size_t i = 0; i < b->n; i++)
            if (f->pre[i] == LLMBILL_SINK_OK)
                b->results[i] = LLMBILL_SINK_RETRY;
        sb.reason = why;
        lb_normalise(s, b, LLMBILL_SINK_PARTIAL, &sb, f->pre);
        after_answer(s, f, 0, 0);
        return;
    }
    f->state = F_SENT;
    atomic_fetch_add(&a->in_flight, 1);
}

/* Records one ended request for the stats: its answer time and status, or,
 * when the transfer ended with rc and no answer, a transport error (no
 * answer time, no status). */
static void note_answer(struct lb_sink *s, CURL *easy, CURLcode rc, int status)
{
    struct lb_async *a = s->async;
    int failure = lb_http_failure(rc);
    curl_off_t us = 0;

    if (failure == 0)
        curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &us);
    pthread_mutex_lock(&s->mu);
    a->lat_us[a->nlat % LAT_N] = failure != 0 ? UINT32_MAX
                                 : us >= UINT32_MAX ? UINT32_MAX - 1 : (uint32_t)us;
    a->lat_at[a->nlat % LAT_N] = lb_mono_ms();
    a->nlat++;
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_add(&a->requests, 1);
    if (failure != 0)
        atomic_fetch_add(&a->transport_errors, 1);
    atomic_store(&a->last, failure != 0 ? -failure : status);
}

/* Hands a finished transfer's answer to the sink. */
static void answered(struct lb_sink *s, struct flight *f, CURLcode cc)
{
    struct lb_async *a = s->async;
    struct lb_batch *b = f->b;
    struct llmbill_http_response resp;
    struct llmbill_sink_batch sb;
    int rc;

    curl_multi_remove_handle(a->multi, f->x.easy);
    atomic_fetch_sub(&a->in_flight, 1);
    lb_xfer_answer(&f->x, cc, &resp);
    note_answer(s, f->x.easy, cc, resp.status);
    lb_sink_batch_fill(s, b, f->attempt, &sb);
    for (size_t i = 0; i < b->n; i++)
        b->results[i] = f->pre[i];
    lb_sink_call_enter(s, b, LB_IN_RESPONSE);
    rc = s->plugin.desc.response(s->state, &sb, &resp);
    lb_sink_call_leave(s);
    lb_normalise(s, b, rc, &sb, f->pre);
    after_answer(s, f, sb.retry_after_ms, resp.status);
}

/* Releases the positions of the oldest finished batches, in order. */
static void retire(struct lb_sink *s)
{
    struct lb_async *a = s->async;
    struct llmbill *h = s->h;
    uint64_t jseq = 0, adopted = 0;
    struct taken *last = NULL;

    while (a->rcount > 0 && a->rec[a->rhead].done) {
        last = &a->rec[a->rhead];
        if (last->last_jseq > jseq)
            jseq = last->last_jseq;
        if (last->last_adopted > adopted)
            adopted = last->last_adopted;
        a->rhead = (a->rhead + 1) % a->rcap;
        a->rcount--;
    }
    if (last == NULL)
        return;
    if (jseq != 0 && !a->left)
        lb_journal_ack(h, s, 0, jseq);
    if (adopted != 0 && !a->left)
        lb_journal_ack(h, s, 1, adopted);
    for (unsigned k = 0; k < h->nshards; k++)
        atomic_store_explicit(&s->cursor[k].pos, last->end[k], memory_order_release);
    lb_notify_waiters(h);
}

void lb_async_start(struct lb_sink *s, const uint64_t *end, uint64_t last_jseq,
                    uint64_t last_adopted)
{
    struct lb_async *a = s->async;
    struct flight *f = a->next;
    uint32_t r = (a->rhead + a->rcount) % a->rcap;

    a->rcount++;
    memcpy(a->rec[r].end, end, sizeof a->rec[r].end);
    a->rec[r].last_jseq = last_jseq;
    a->rec[r].last_adopted = last_adopted;
    a->rec[r].done = 0;
    a->next = NULL;
    if (f->b->n == 0) {
        a->rec[r].done = 1; /* every event was skipped */
        retire(s);
        return;
    }
    for (size_t i = 0; i < f->b->n; i++)
        f->b->reason_copy[i] = NULL;
    f->rec = r;
    f->attempt = 0;
    f->again = 0;
    a->busy++;
    if (atomic_load(&s->h->aborting) || lb_mono_ms() < a->paused_until) {
        f->state = F_WAIT;
        f->due_ms = a->paused_until;
        return;
    }
    send_flight(s, f);
}

/* At a shutdown past its timeout: every batch in flight is left in the
 * journal or dead-lettered (lb_abandon), and finished. */
static void abandon_all(struct lb_sink *s)
{
    struct lb_async *a = s->async;

    for (uint32_t i = 0; i < a->nf; i++) {
        struct flight *f = &a->f[i];

        if (f->state == F_FREE)
            continue;
        if (f->state == F_SENT) {
            curl_multi_remove_handle(a->multi, f->x.easy);
            atomic_fetch_sub(&a->in_flight, 1);
        }
        a->left |= lb_abandon(s, f->b, f->attempt);
        finish(s, f);
    }
}

/* Until nothing moves: curl's timer when it is due (a transfer just added
 * starts only there), the messages of ended transfers, shutdown, and the
 * retries that are due. A transfer may end inside any
 * curl_multi_socket_action(), and its message must be read before the next
 * poll, which would not wake for it (a transfer that has ended has no
 * socket left to wake on). How many answers and sends there were, or -1
 * when the batches were abandoned (shutdown). */
static int settle_all(struct lb_sink *s)
{
    struct lb_async *a = s->async;
    int running, left, total = 0;
    CURLMsg *m;

    for (int moved = 1; moved; total += moved) {
        int64_t now = lb_mono_ms();

        moved = 0;
        if (a->timer_due >= 0 && now >= a->timer_due) {
            a->timer_due = -1; /* on_timer() sets the next one */
            curl_multi_socket_action(a->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        while ((m = curl_multi_info_read(a->multi, &left)) != NULL) {
            struct flight *f = NULL;

            if (m->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&f);
            answered(s, f, m->data.result);
            moved++;
        }
        if (atomic_load(&s->h->aborting)) {
            abandon_all(s);
            return -1;
        }
        for (uint32_t i = 0; i < a->nf; i++) {
            struct flight *f = &a->f[i];

            if (f->state == F_WAIT && now >= f->due_ms && now >= a->paused_until) {
                send_flight(s, f);
                moved++;
            }
        }
    }
    return total;
}

/* One poll() over the eventfd and curl's sockets for at most wait_ms
 * (and no later than curl's timer); the eventfd is drained, and each ready
 * socket handed to curl with what it is ready for. curl changes a->pfd
 * from inside socket_action (on_socket): a socket it removes takes the
 * last one's place, which, if ready, this round skips and the next poll()
 * reports again at once. */
static void poll_once(struct lb_async *a, int64_t wait_ms)
{
    int64_t timer = a->timer_due >= 0 ? a->timer_due - lb_mono_ms() : wait_ms;
    int running;

    if (timer < wait_ms)
        wait_ms = timer;
    /* room for new sockets now, where failing loses nothing (on_socket()) */
    (void)pfd_room(a, a->npfd + PFD_SLACK);
    if (poll(a->pfd, a->npfd, (int)(wait_ms < 0 ? 0 : wait_ms > 60000 ? 60000 : wait_ms)) <= 0)
        return;
    if (a->pfd[0].revents != 0) {
        uint64_t v;
        ssize_t r = read(a->efd, &v, sizeof v);

        (void)r;
    }
    for (uint32_t i = 1; i < a->npfd; i++) {
        short ev = a->pfd[i].revents;
        int bits = (ev & (POLLIN | POLLHUP | POLLERR) ? CURL_CSELECT_IN : 0) |
                   (ev & POLLOUT ? CURL_CSELECT_OUT : 0) | (ev & POLLERR ? CURL_CSELECT_ERR : 0);

        a->pfd[i].revents = 0;
        if (ev & POLLNVAL)
            a->pfd[i--] = a->pfd[--a->npfd]; /* closed without curl saying: not watched */
        else if (bits != 0)
            curl_multi_socket_action(a->multi, a->pfd[i].fd, bits, &running);
    }
}

void lb_async_wait(struct lb_sink *s, int64_t wait_ms, int sleep_ok)
{
    struct lb_async *a = s->async;
    int64_t now;
    int moved;

    /* first what is due already: a transfer added since the last wait
     * starts only at curl's 0 ms timer (the poll would wait for its answer
     * unsent), and what that settles or sends makes this no time to sleep */
    moved = settle_all(s);
    if (moved < 0) {
        retire(s);
        return;
    }
    now = lb_mono_ms();
    for (uint32_t i = 0; i < a->nf; i++) {
        const struct flight *f = &a->f[i];

        if (f->state == F_WAIT) {
            int64_t due = f->due_ms > a->paused_until ? f->due_ms : a->paused_until;

            if (due - now < wait_ms)
                wait_ms = due - now;
        }
    }
    if (!sleep_ok || moved > 0 || wait_ms < 0)
        wait_ms = 0;
    if (a->busy > 0 || wait_ms > 0)
        poll_once(a, wait_ms);
    settle_all(s);
    retire(s);
}

int lb_http_perform(struct lb_sink *s, const struct llmbill_http_request *req,
                    struct llmbill_http_response *resp)
{
    char why[LB_ERRLEN];
    CURLcode cc;

    if (s->sync_xfer == NULL) {
        s->sync_xfer = calloc(1, sizeof *s->sync_xfer);
        if (s->sync_xfer == NULL || lb_xfer_init(s, s->sync_xfer) != 0) {
            free(s->sync_xfer);
            s->sync_xfer = NULL;
            memset(resp, 0, sizeof *resp);
            resp->struct_size = sizeof *resp;
            resp->error = "out of memory";
            resp->body = "";
            return 0;
        }
    }
    if (lb_xfer_prepare(s, s->sync_xfer, req, 0, why, sizeof why) != 0) {
        snprintf(s->sync_xfer->errbuf, sizeof s->sync_xfer->errbuf, "%.*s",
                 (int)sizeof s->sync_xfer->errbuf - 1, why);
        lb_xfer_answer(s->sync_xfer, CURLE_URL_MALFORMAT, resp);
        return 0;
    }
    cc = curl_easy_perform(s->sync_xfer->easy);
    lb_xfer_answer(s->sync_xfer, cc, resp);
    if (s->async != NULL)
        note_answer(s, s->sync_xfer->easy, cc, resp->status);
    return resp->status;
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

    return a < b ? -1 : a > b;
}

void lb_async_stats(struct lb_sink *s, struct llmbill_stats *out)
{
    struct lb_async *a = s->async;
    uint32_t lat[LAT_N];
    size_t n, answered = 0;
    int64_t span = 0;
    int last;

    if (a == NULL)
        return;
    out->requests = atomic_load(&a->requests);
    out->transport_errors = atomic_load(&a->transport_errors);
    out->in_flight = atomic_load(&a->in_flight);
    last = atomic_load(&a->last);
    out->last_status = last > 0 ? last : 0;
    out->last_transport_error = last < 0 ? -last : 0;
    pthread_mutex_lock(&s->mu);
    n = a->nlat < LAT_N ? (size_t)a->nlat : LAT_N;
    for (size_t i = 0; i < n; i++)
        if (a->lat_us[i] != UINT32_MAX)
            lat[answered++] = a->lat_us[i];
    if (n > 1)
        span = a->lat_at[(a->nlat - 1) % LAT_N] - a->lat_at[(a->nlat - n) % LAT_N];
    pthread_mutex_unlock(&s->mu);
    if (span > 0)
        out->requests_per_s = (uint32_t)((uint64_t)(n - 1) * 1000 / (uint64_t)span);
    if (answered == 0)
        return;
    qsort(lat, answered, sizeof *lat, cmp_u32);
    out->answer_p50_us = lat[(answered - 1) / 2];
    out->answer_p99_us = lat[(answered - 1) * 99 / 100];
}
