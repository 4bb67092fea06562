/* llmbill core: the public embedding API (llmbill.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"
#include "price.h"

unsigned llmbill_version(void)
{
    return LLMBILL_VERSION_HEX;
}

const char *llmbill_version_string(void)
{
    return LLMBILL_VERSION_STRING;
}

const char *llmbill_strerror(int rc)
{
    switch (rc) {
    case LLMBILL_OK: return "success";
    case LLMBILL_EINVAL: return "invalid argument or usage record";
    case LLMBILL_ENOMEM: return "out of memory";
    case LLMBILL_ECONFIG: return "configuration error";
    case LLMBILL_ELOAD: return "sink plugin could not be loaded";
    case LLMBILL_EABI: return "sink plugin ABI mismatch";
    case LLMBILL_EFULL: return "queue full: the event was not recorded";
    case LLMBILL_ECLOSED: return "handle is closing";
    case LLMBILL_ETIMEDOUT: return "timed out with events still pending";
    case LLMBILL_ERECURSIVE: return "llmbill_record() called from one of the handle's own sinks";
    case LLMBILL_ENOTFOUND: return "no such sink instance";
    case LLMBILL_EIO: return "I/O error";
    case LLMBILL_ESINK: return "a sink failed to start";
    case LLMBILL_ENOPRICE: return "no price for the model";
    case LLMBILL_ESPOOL: return "the journal could not be written: the event was not recorded";
    case LLMBILL_EFORKED: return "the handle belongs to another process (opened before fork()): "
                                 "open a new handle in this process";
    default: return "unknown error";
    }
}

static char *errbuf_of(const struct llmbill_open_opts *o, size_t *len)
{
    if (o == NULL || o->struct_size < offsetof(struct llmbill_open_opts, errbuf_len) + sizeof(size_t)) {
        *len = 0;
        return NULL;
    }
    *len = o->errbuf_len;
    if (o->errbuf != NULL && o->errbuf_len > 0)
        o->errbuf[0] = '\0';
    return o->errbuf;
}

/* Every failed open says why in the error buffer, if only the code's text,
 * and in the thread's last error. */
static int open_failed(int rc, char *err, size_t errlen)
{
    if (rc != 0 && err != NULL && errlen > 0 && err[0] == '\0')
        snprintf(err, errlen, "%s", llmbill_strerror(rc));
    if (rc != 0)
        lb_set_last_error(NULL, "%s", err);
    return rc;
}

int llmbill_open(llmbill **out, const char *path, const struct llmbill_open_opts *opts)
{
    struct lb_config *cfg;
    size_t errlen;
    char local[LB_ERRLEN], *err = errbuf_of(opts, &errlen);
    int rc;

    if (err == NULL || errlen == 0) { /* the reason still reaches llmbill_last_error() */
        err = local;
        errlen = sizeof local;
        local[0] = '\0';
    }

    if (out == NULL || path == NULL)
        return open_failed(LLMBILL_EINVAL, err, errlen);
    *out = NULL;
    if ((rc = lb_config_load_file(path, &cfg, err, errlen)) == 0)
        rc = lb_open_config(out, cfg, opts, err, errlen);
    return open_failed(rc, err, errlen);
}

int llmbill_open_string(llmbill **out, const char *ini_text, const struct llmbill_open_opts *opts)
{
    struct lb_config *cfg;
    size_t errlen;
    char local[LB_ERRLEN], *err = errbuf_of(opts, &errlen);
    int rc;

    if (err == NULL || errlen == 0) { /* the reason still reaches llmbill_last_error() */
        err = local;
        errlen = sizeof local;
        local[0] = '\0';
    }

    if (out == NULL || ini_text == NULL)
        return open_failed(LLMBILL_EINVAL, err, errlen);
    *out = NULL;
    if ((rc = lb_config_load_string(ini_text, &cfg, err, errlen)) == 0)
        rc = lb_open_config(out, cfg, opts, err, errlen);
    return open_failed(rc, err, errlen);
}

/* Fills u's cost from the price table; applies the unknown-price policy. */
static int price_record(llmbill *h, struct llmbill_usage *u)
{
    struct llmbill_cost_breakdown b;

    b.struct_size = sizeof b;
    if (lb_price_valid(h->prices, u, &b, NULL, 0) == 0) {
        u->cost = b.total;
    } else if (h->unknown_price == LB_UNKNOWN_ERROR) {
        atomic_fetch_add_explicit(&h->rejected_invalid, 1, memory_order_relaxed);
        return LLMBILL_ENOPRICE;
    } else if (h->unknown_price == LB_UNKNOWN_UNPRICED) {
        atomic_fetch_add_explicit(&h->unpriced, 1, memory_order_relaxed);
        return 0;
    } else {
        u->cost = 0;
    }
    u->flags |= LLMBILL_USAGE_COST_KNOWN;
    u->currency = NULL;
    return 0;
}

/* With a journal: fixes the event id and timestamp, appends the record;
 * the journal thread feeds the sinks. */
static int record_journal(llmbill *h, struct lb_prepared *p, char *id_out, size_t id_cap)
{
    char uuid[37];
    int rc;

    if (p->u.timestamp_ms == 0)
        p->u.timestamp_ms = lb_now_ms();
    if (p->u.event_id == NULL) {
        lb_uuidv7(p->u.timestamp_ms, uuid);
        p->u.event_id = uuid;
        p->lens[0] = sizeof uuid - 1;
    }
    rc = lb_journal_append(h->journal, p);
    if (rc == LLMBILL_EFULL && h->spool_full_block) {
        /* spool_full = block: wait for sinks to free room, at most overflow_block_ms */
        int64_t until = lb_mono_ms() + h->overflow_block_ms;

        while (rc == LLMBILL_EFULL && lb_mono_ms() < until) {
            lb_dispatch_wait_room(h, 5);
            rc = lb_journal_append(h->journal, p);
        }
    }
    if (rc == LLMBILL_EFULL)
        atomic_fetch_add_explicit(&h->rejected_full, 1, memory_order_relaxed);
    if (rc == 0 && id_out != NULL && id_cap > 0)
        snprintf(id_out, id_cap, "%s", p->u.event_id);
    return rc;
}

/* llmbill_record_id() inside the handle's gate (lb_record_enter()). */
static int record_in(llmbill *h, const struct llmbill_usage *u, char *id_out, size_t id_cap)
{
    struct lb_prepared p;
    void *heap = NULL;
    int rc;

    if (lb_event_prepare(u, &p) != 0) {
        atomic_fetch_add_explicit(&h->rejected_invalid, 1, memory_order_relaxed);
        return LLMBILL_EINVAL;
    }
    if (h->prices != NULL && !(p.u.flags & LLMBILL_USAGE_COST_KNOWN) &&
        (rc = price_record(h, &p.u)) != 0)
        return rc;
    if (h->journal != NULL)
        return record_journal(h, &p, id_out, id_cap);
    if (p.total > LB_SLOT_DATA && (heap = malloc(p.total)) == NULL)
        return LLMBILL_ENOMEM;
    rc = lb_dispatch_enqueue(h, &p, heap, id_out, id_cap);
    if (rc != 0) {
        free(heap);
        if (rc == LLMBILL_EFULL)
            atomic_fetch_add_explicit(&h->rejected_full, 1, memory_order_relaxed);
    }
    return rc;
}

int llmbill_record_id(llmbill *h, const struct llmbill_usage *u, char *id_out, size_t id_cap)
{
    struct lb_inside in;
    int rc;

    if (h == NULL || u == NULL)
        rc = LLMBILL_EINVAL;
    else if (lb_forked(h))
        rc = LLMBILL_EFORKED;
    else if (lb_tls_in_sink == h)
        rc = LLMBILL_ERECURSIVE;
    else if (lb_record_enter(h, &in) != 0) {
        /* closed: h->log may be freed already; the reason needs no redaction */
        lb_set_last_error(NULL, "%s", llmbill_strerror(LLMBILL_ECLOSED));
        return LLMBILL_ECLOSED;
    } else {
        rc = record_in(h, u, id_out, id_cap);
        if (rc != 0)
            lb_record_failed(h, u, rc); /* in the gate: h->log is live */
        lb_record_leave(&in);
        return rc;
    }
    lb_record_failed(h, u, rc);
    return rc;
}

int llmbill_record(llmbill *h, const struct llmbill_usage *u)
{
    return llmbill_record_id(h, u, NULL, 0);
}

int llmbill_flush(llmbill *h, int timeout_ms)
{
    if (h == NULL)
        return LLMBILL_EINVAL;
    if (lb_forked(h))
        return LLMBILL_EFORKED;
    if (lb_tls_in_sink == h)
        return LLMBILL_ERECURSIVE;
    return lb_dispatch_flush(h, timeout_ms);
}

/* In a child of fork(), close releases nothing: the handle's threads,
 * locks and mappings are the parent's (its memory in the child is simply
 * left, as the child's copy of the parent's heap). */
int llmbill_close_stats(llmbill *h, struct llmbill_stats *per_sink, size_t n)
{
    int rc;

    if (h == NULL)
        return 0;
    if (lb_forked(h))
        return LLMBILL_EFORKED;
    lb_dispatch_stop(h);
    rc = atomic_load(&h->aborting) ? LLMBILL_ETIMEDOUT : 0;
    /* the workers are done (or left): these counts are final. The array's
     * elements are the caller's size (per_sink[0].struct_size), which is
     * not ours when it was built against another llmbill.h */
    if (per_sink != NULL && n > 0 && per_sink[0].struct_size >= 8 &&
        per_sink[0].struct_size % 8 == 0) {
        size_t stride = per_sink[0].struct_size;

        for (size_t i = 0; i < n && i < h->nsinks; i++) {
            struct llmbill_stats *o = (struct llmbill_stats *)((char *)per_sink + i * stride);

            if (o->struct_size > 0)
                (void)llmbill_get_stats(h, h->sinks[i].name, o);
        }
    }
    lb_handle_free(h);
    return rc;
}

int llmbill_close(llmbill *h)
{
    return llmbill_close_stats(h, NULL, 0);
}

int llmbill_get_stats(llmbill *h, const char *instance, struct llmbill_stats *out)
{
    struct llmbill_stats st;

    if (h == NULL || out == NULL || out->struct_size == 0)
        return LLMBILL_EINVAL;
    if (lb_forked(h))
        return LLMBILL_EFORKED;
    memset(&st, 0, sizeof st);
    if (instance != NULL) {
        size_t i;

        for (i = 0; i < h->nsinks; i++)
            if (strcmp(h->sinks[i].name, instance) == 0)
                break;
        if (i == h->nsinks)
            return LLMBILL_ENOTFOUND;
        lb_sink_stats(&h->sinks[i], &st);
        if (h->journal != NULL)
            st.spooled = atomic_load(&h->journal->written) - atomic_load(&h->sinks[i].ack_seq) +
                         lb_adopt_spooled(h, &h->sinks[i]);
    } else {
        for (size_t i = 0; i < h->nsinks; i++) {
            struct llmbill_stats one;

            lb_sink_stats(&h->sinks[i], &one);
            st.delivered += one.delivered;
            st.retried += one.retried;
            st.dead_lettered += one.dead_lettered;
            st.lost += one.lost;
            st.quarantined += one.quarantined;
            st.pending += one.pending;
        }
        st.recorded = lb_dispatch_recorded(h);
        st.rejected_full = atomic_load(&h->rejected_full);
        st.rejected_invalid = atomic_load(&h->rejected_invalid);
        st.unpriced = atomic_load(&h->unpriced);
        if (h->journal != NULL) {
            st.spooled = atomic_load(&h->journal->written) - lb_journal_min_ack(h, 0) +
                         lb_adopt_spooled(h, NULL);
            st.spool_corrupt = atomic_load(&h->journal->corrupt);
        }
    }
    {
        size_t n = out->struct_size < sizeof st ? out->struct_size : sizeof st;
        uint32_t keep = out->struct_size;

        memcpy(out, &st, n);
        out->struct_size = keep;
    }
    return 0;
}

size_t llmbill_sink_count(llmbill *h)
{
    return h && !lb_forked(h) ? h->nsinks : 0;
}

const char *llmbill_sink_name(llmbill *h, size_t i)
{
    return h && !lb_forked(h) && i < h->nsinks ? h->sinks[i].name : NULL;
}

int llmbill_get_sink_info(llmbill *h, size_t i, struct llmbill_sink_info *out)
{
    static const char *const filters[] = { "all", "success", "failure" };
    struct llmbill_sink_info info;
    struct lb_sink *s;

    if (h == NULL || out == NULL || out->struct_size == 0)
        return LLMBILL_EINVAL;
    if (lb_forked(h))
        return LLMBILL_EFORKED;
    if (i >= h->nsinks)
        return LLMBILL_ENOTFOUND;
    s = &h->sinks[i];
    memset(&info, 0, sizeof info);
    info.struct_size = out->struct_size;
    info.batch_max = s->batch_max;
    info.name = s->name;
    info.plugin = s->plugin.desc.name;
    info.plugin_version = s->plugin.desc.version ? s->plugin.desc.version : "";
    info.path = s->plugin.path;
    info.events = filters[s->filter];
    info.dead_letter_path = s->dead_letter_path;
    pthread_mutex_lock(&s->mu);
    memcpy(info.last_error, s->last_error, sizeof info.last_error);
    pthread_mutex_unlock(&s->mu);
    info.last_error[sizeof info.last_error - 1] = '\0';
    memcpy(out, &info, out->struct_size < sizeof info ? out->struct_size : sizeof info);
    return 0;
}

int llmbill_usage_validate(const struct llmbill_usage *u, char *err, size_t err_len)
{
    if (err != NULL && err_len > 0)
        err[0] = '\0';
    return lb_usage_validate(u, err, err_len);
}

int llmbill_check_sink(llmbill *h, size_t i, char *msg, size_t cap, int timeout_ms)
{
    char buf[LB_ERRLEN];
    int rc;

    if (h == NULL || (msg == NULL && cap > 0))
        return LLMBILL_EINVAL;
    if (lb_forked(h))
        return LLMBILL_EFORKED;
    if (i >= h->nsinks)
        return LLMBILL_ENOTFOUND;
    if (lb_tls_in_sink == h)
        return LLMBILL_ERECURSIVE;
    rc = lb_dispatch_check(h, &h->sinks[i], buf, sizeof buf, timeout_ms);
    if (cap > 0)
        snprintf(msg, cap, "%s", buf);
    return rc;
}

int llmbill_get_pricing_info(llmbill *h, struct llmbill_pricing_info *out)
{
    static const char *const policies[] = { "unpriced", "error", "zero" };
    struct llmbill_pricing_info info;

    if (h == NULL || out == NULL || out->struct_size == 0)
        return LLMBILL_EINVAL;
    memset(&info, 0, sizeof info);
    info.struct_size = out->struct_size;
    info.enabled = h->prices != NULL;
    info.file = h->prices ? h->prices_path : NULL;
    info.models = h->prices ? llmbill_prices_count(h->prices) : 0;
    info.unknown = policies[h->unknown_price];
    memcpy(out, &info, out->struct_size < sizeof info ? out->struct_size : sizeof info);
    return 0;
}
