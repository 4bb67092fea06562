/* llmbill core: delivering a worker's batch to its sink. The core owns
 * retries (exponential backoff with full jitter, the sink's retry-after as a
 * floor, forever or up to retry_limit) and dead-letters what the sink
 * rejects, with the reason; an event leaves the batch only delivered or
 * written to the dead-letter file. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lb.h"

/* A worker's batch of up to cap events, allocated before its thread starts
 * so that running out of memory fails llmbill_open(), never a running
 * worker. NULL when out of memory. */
struct lb_batch *lb_batch_new(size_t cap)
{
    struct lb_batch *b = calloc(1, sizeof *b);

    if (b == NULL)
        return NULL;
    b->ev = calloc(cap, sizeof *b->ev);
    b->u = calloc(cap, sizeof *b->u);
    b->results = calloc(cap, sizeof *b->results);
    b->reasons = calloc(cap, sizeof *b->reasons);
    b->reason_copy = calloc(cap, sizeof *b->reason_copy);
    b->idx = calloc(cap, sizeof *b->idx);
    b->dl_ev = calloc(cap, sizeof *b->dl_ev);
    b->dl_why = calloc(cap, sizeof *b->dl_why);
    if (!b->ev || !b->u || !b->results || !b->reasons || !b->reason_copy || !b->idx ||
        !b->dl_ev || !b->dl_why) {
        lb_batch_free(b);
        return NULL;
    }
    return b;
}

void lb_batch_free(struct lb_batch *b)
{
    if (b == NULL)
        return;
    free(b->ev);
    free(b->u);
    free(b->results);
    free(b->reasons);
    free(b->reason_copy);
    free(b->idx);
    free(b->dl_ev);
    free(b->dl_why);
    free(b);
}

int lb_should_skip(const struct lb_sink *s, const struct lb_event *ev)
{
    if (ev->jseq != 0 &&
        ev->jseq <= (ev->jsrc == 0 ? s->ack_start : lb_journal_ack_start(s->h, s, ev->jsrc)))
        return 1; /* finished in an earlier run */
    if (s->filter == LB_FILTER_SUCCESS)
        return ev->u.status != LLMBILL_STATUS_SUCCESS;
    if (s->filter == LB_FILTER_FAILURE)
        return ev->u.status != LLMBILL_STATUS_FAILURE;
    return 0;
}

/* Stores reason r of event i, redacted whole (the dead-letter file, the
 * sink's last_error and the log lines take it from here). */
void lb_set_reason(struct lb_sink *s, struct lb_batch *b, size_t i, const char *r)
{
    if (r == NULL)
        return;
    free(b->reason_copy[i]);
    b->reason_copy[i] = lb_redact_dup(&s->h->log, r);
}

/* Sleeps for ms unless the handle starts aborting. */
static void backoff_sleep(struct lb_sink *s, int64_t ms)
{
    struct timespec ts;

    lb_deadline_ts(&ts, ms);
    pthread_mutex_lock(&s->mu);
    while (!atomic_load(&s->h->aborting))
        if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&s->mu);
}

static int64_t backoff_ms(const struct lb_sink *s, uint32_t attempt, int64_t retry_after)
{
    int64_t cap = s->retry_base_ms, d;

    for (uint32_t k = 0; k < attempt && cap < s->retry_max_ms; k++)
        cap *= 2;
    if (cap > s->retry_max_ms)
        cap = s->retry_max_ms;
    d = cap > 0 ? (int64_t)(lb_rand64() % (uint64_t)(cap + 1)) : 0;
    if (retry_after > 3600000)
        retry_after = 3600000;
    return d > retry_after ? d : retry_after;
}

/* Dead-letters the events of b at idx[0..k). Marks each written one -1 in
 * b->results; when the dead-letter file cannot be written they are marked
 * RETRY instead, so they stay queued and nothing is lost. */
static void dead_letter(struct lb_sink *s, struct lb_batch *b, size_t *idx, size_t k,
                        uint32_t attempts, const char *fallback)
{
    struct lb_event **evs = b->dl_ev;
    const char **why = b->dl_why;

    for (size_t j = 0; j < k; j++) {
        evs[j] = b->ev[idx[j]];
        why[j] = b->reason_copy[idx[j]] ? b->reason_copy[idx[j]] : fallback;
    }
    if (lb_deadletter_write(s, evs, why, k, attempts) == 0) {
        atomic_fetch_add(&s->st_dead, k);
        for (size_t j = 0; j < k; j++)
            b->results[idx[j]] = -1; /* done */
    } else {
        for (size_t j = 0; j < k; j++)
            b->results[idx[j]] = LLMBILL_SINK_RETRY;
    }
}

/* Keeps the events of b still marked RETRY or AGAIN, in order, and drops the others
 * (delivered, or written to the dead-letter file). Returns how many of the
 * dropped ones were delivered. */
static size_t compact(struct lb_batch *b)
{
    size_t keep = 0, delivered = 0;

    for (size_t i = 0; i < b->n; i++) {
        if (b->results[i] == LLMBILL_SINK_RETRY || b->results[i] == LLMBILL_SINK_AGAIN) {
            b->ev[keep] = b->ev[i];
            b->reason_copy[keep] = b->reason_copy[i];
            b->results[keep] = b->results[i];
            keep++;
            continue;
        }
        if (b->results[i] == LLMBILL_SINK_OK)
            delivered++;
        free(b->reason_copy[i]);
    }
    b->n = keep;
    return delivered;
}

/* Dead-letters every event of b with reason "<why>; last error: <its last
 * error>". Those the file refused stay in b (marked RETRY). */
static void dead_letter_all(struct lb_sink *s, struct lb_batch *b, const char *why, uint32_t attempts)
{
    for (size_t i = 0; i < b->n; i++) {
        char r[LB_ERRLEN];

        snprintf(r, sizeof r, "%s%s%s", why, b->reason_copy[i] ? "; last error: " : "",
                 b->reason_copy[i] ? b->reason_copy[i] : "");
        lb_set_reason(s, b, i, r);
        b->idx[i] = i;
    }
    dead_letter(s, b, b->idx, b->n, attempts, why);
    compact(b);
}

/* At shutdown without a journal, with the dead-letter file refusing every
 * write: the events are lost (counted in stats.lost); the log gets each
 * record whole, the last trace of it. */
static void log_undeliverable(struct lb_sink *s, struct lb_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        char line[4096];

        llmbill_usage_to_json(&b->ev[i]->u, line, sizeof line);
        lb_log(&s->h->log, LLMBILL_LOG_ERROR, "sink %s: dead-letter file unwritable at shutdown; "
               "undelivered event: %s", s->name, line);
    }
}

/* Normalises a sink's answer rc for b (emit() or response()) into
 * b->results (OK, RETRY, ERROR, per event, or AGAIN for a request-based
 * sink) and b->reason_copy. sb is the batch the sink filled. pre is NULL
 * for emit(); for response(), the results request() left: an event it
 * left out (ERROR, with the reason stored then, or AGAIN) stays so. */
void lb_normalise(struct lb_sink *s, struct lb_batch *b, int rc, const struct llmbill_sink_batch *sb,
                  const int *pre)
{
    if (rc != LLMBILL_SINK_PARTIAL) {
        if (rc != LLMBILL_SINK_OK && rc != LLMBILL_SINK_RETRY && rc != LLMBILL_SINK_ERROR) {
            lb_log(&s->h->log, LLMBILL_LOG_ERROR, "sink %s: %s returned %d, which is not a "
                   "sink result; retrying", s->name, pre ? "response()" : "emit()", rc);
            rc = LLMBILL_SINK_RETRY;
        }
        for (size_t i = 0; i < b->n; i++)
            b->results[i] = rc;
    }
    for (size_t i = 0; i < b->n; i++) {
        int r = b->results[i];

        if (pre != NULL && pre[i] != LLMBILL_SINK_OK) {
            b->results[i] = pre[i]; /* not sent: the answer is not about it */
            continue;
        }
        if (r == LLMBILL_SINK_AGAIN && pre == NULL)
            b->results[i] = r = LLMBILL_SINK_RETRY;
        if (r != LLMBILL_SINK_OK && r != LLMBILL_SINK_RETRY && r != LLMBILL_SINK_ERROR &&
            r != LLMBILL_SINK_AGAIN)
            b->results[i] = r = LLMBILL_SINK_RETRY;
        if (r != LLMBILL_SINK_OK && r != LLMBILL_SINK_AGAIN)
            lb_set_reason(s, b, i, b->reasons[i] ? b->reasons[i] : sb->reason);
    }
}

void lb_sink_batch_fill(struct lb_sink *s, struct lb_batch *b, uint32_t attempt,
                        struct llmbill_sink_batch *sb)
{
    memset(sb, 0, sizeof *sb);
    sb->struct_size = sizeof *sb;
    sb->attempt = attempt;
    sb->n = b->n;
    for (size_t i = 0; i < b->n; i++) {
        b->u[i] = &b->ev[i]->u;
        b->results[i] = LLMBILL_SINK_OK;
        b->reasons[i] = NULL;
    }
    sb->events = b->u;
    sb->results = b->results;
    sb->reasons = b->reasons;
    sb->deadline_ms = atomic_load(&s->h->close_deadline_ms);
}

/* Calls the sink's emit() once for b and normalises its answer. */
static void emit_once(struct lb_sink *s, struct lb_batch *b, uint32_t attempt, int64_t *retry_after)
{
    struct llmbill_sink_batch sb;
    int rc;

    lb_sink_batch_fill(s, b, attempt, &sb);
    lb_sink_call_enter(s, b, LB_IN_EMIT);
    rc = s->plugin.desc.emit(s->state, &sb);
    lb_sink_call_leave(s);
    lb_normalise(s, b, rc, &sb, NULL);
    *retry_after = sb.retry_after_ms;
}

int lb_abandon(struct lb_sink *s, struct lb_batch *b, uint32_t attempt)
{
    struct llmbill *h = s->h;

    if (h->journal != NULL) {
        /* they stay in the journal, due at the next start */
        if (!s->abort_logged)
            lb_log(&h->log, LLMBILL_LOG_WARN, "sink %s: undelivered events stay in the "
                   "journal for the next start", s->name);
        s->abort_logged = 1;
        for (size_t i = 0; i < b->n; i++)
            free(b->reason_copy[i]);
        b->n = 0;
        return 1;
    }
    /* no journal: the dead-letter file is the only place left; a failed
     * write is tried again until close's margin runs out */
    dead_letter_all(s, b, "undelivered at shutdown (shutdown_timeout_ms reached)", attempt);
    while (b->n > 0 && lb_now_ms() < atomic_load(&h->close_deadline_ms) +
                                         LB_CLOSE_MARGIN_MS / 2) {
        usleep(50 * 1000);
        for (size_t i = 0; i < b->n; i++)
            b->idx[i] = i; /* their reasons are set already */
        dead_letter(s, b, b->idx, b->n, attempt, "undelivered at shutdown");
        compact(b);
    }
    if (b->n > 0) {
        log_undeliverable(s, b);
        atomic_fetch_add(&s->st_lost, b->n);
    }
    for (size_t i = 0; i < b->n; i++)
        free(b->reason_copy[i]);
    b->n = 0;
    return 0;
}

int lb_settle(struct lb_sink *s, struct lb_batch *b, uint32_t attempt)
{
    size_t nerr = 0, delivered;
    int retry = 0;

    for (size_t i = 0; i < b->n; i++)
        if (b->results[i] == LLMBILL_SINK_ERROR)
            b->idx[nerr++] = i;
    if (nerr > 0)
        dead_letter(s, b, b->idx, nerr, attempt + 1, "rejected by the sink");
    delivered = compact(b);
    if (delivered > 0)
        atomic_fetch_add(&s->st_delivered, delivered);
    for (size_t i = 0; i < b->n; i++)
        if (b->results[i] == LLMBILL_SINK_RETRY)
            retry = 1;
    return retry;
}

int64_t lb_plan_retry(struct lb_sink *s, struct lb_batch *b, uint32_t *attempt, int64_t retry_after)
{
    int64_t wait;

    (*attempt)++;
    atomic_fetch_add(&s->st_retried, b->n);
    pthread_mutex_lock(&s->mu);
    snprintf(s->last_error, sizeof s->last_error, "%s",
             b->reason_copy[0] ? b->reason_copy[0] : "sink asked to retry");
    pthread_mutex_unlock(&s->mu);
    if (s->retry_limit >= 0 && *attempt > (uint64_t)s->retry_limit) {
        char why[64];

        snprintf(why, sizeof why, "retry limit (%lld) reached", (long long)s->retry_limit);
        dead_letter_all(s, b, why, *attempt);
        if (b->n == 0)
            return -1;
    }
    wait = backoff_ms(s, *attempt - 1, retry_after);
    lb_log(&s->h->log, *attempt == 1 ? LLMBILL_LOG_WARN : LLMBILL_LOG_INFO,
           "sink %s: %zu event(s) not delivered (%s); retry %u in %lld ms", s->name, b->n,
           s->last_error, *attempt, (long long)wait);
    return wait;
}

/* Delivers b until every event is delivered or dead-lettered: retries with
 * backoff forever (or up to retry_limit), dead-letters what the sink
 * rejects, and at a shutdown past its timeout dead-letters the rest. */
int lb_deliver(struct lb_sink *s, struct lb_batch *b)
{
    uint32_t attempt = 0;

    for (size_t i = 0; i < b->n; i++)
        b->reason_copy[i] = NULL;
    while (b->n > 0) {
        int64_t retry_after, wait;

        if (atomic_load(&s->h->aborting))
            return lb_abandon(s, b, attempt);
        emit_once(s, b, attempt, &retry_after);
        lb_settle(s, b, attempt);
        if (b->n == 0)
            break;
        wait = lb_plan_retry(s, b, &attempt, retry_after);
        if (wait < 0)
            break;
        backoff_sleep(s, wait);
    }
    for (size_t i = 0; i < b->n; i++)
        free(b->reason_copy[i]);
    b->n = 0;
    return 0;
}
