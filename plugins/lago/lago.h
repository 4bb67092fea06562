/* llmbill sink "lago": internal declarations shared by its files. */
#ifndef LAGO_H
#define LAGO_H

#include <stddef.h>
#include <stdint.h>

#include "llmbill/sink.h"

#define LAGO_MAX_BATCH 100      /* Lago's LAGO_EVENTS_BATCH_MAX_LENGTH default */
#define LAGO_REASON_LEN 256

/* charge_by: which record field becomes external_subscription_id */
enum lago_charge_by { LAGO_BY_CUSTOMER, LAGO_BY_USER, LAGO_BY_TEAM, LAGO_BY_SUBSCRIPTION };

/* A growable byte buffer; oom is set (and writes stop) when growing fails. */
struct lago_buf {
    char *p;
    size_t len, cap;
    int oom;
};

/* Makes room for n more bytes (and a NUL); 0 or -1. */
int lago_buf_reserve(struct lago_buf *b, size_t n);
void lago_buf_puts(struct lago_buf *b, const char *s);

/* Appends s[0..n) and keeps the buffer NUL-terminated (nothing once oom).
 * Inline: the encoder calls it a few dozen times per event. */
static inline void lago_buf_put(struct lago_buf *b, const char *s, size_t n)
{
    if ((b->oom || b->cap - b->len <= n) && lago_buf_reserve(b, n) != 0)
        return;
    __builtin_memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* Appends a string literal (its length known at compile time). */
#define LAGO_LIT(b, lit) lago_buf_put((b), "" lit, sizeof(lit) - 1)
/* Appends s as a JSON string (quoted, escaped by the host's json_string). */
void lago_buf_json(struct lago_buf *b, const struct llmbill_host *host, const char *s);

/* How events are turned into Lago events. */
struct lago_map {
    const struct llmbill_host *host;
    const char *event_code;
    enum lago_charge_by charge_by;
    int litellm_style;          /* property names as LiteLLM's Lago callback */
    int send_amount;            /* precise_total_amount_cents from the cost */
    const char *extra_json;     /* ",\"k\":\"v\"..." static properties, already encoded */
};

/* encode.c: the pure mapping, testable without a network */
const char *lago_charge_value(const struct lago_map *m, const struct llmbill_usage *u);
const char *lago_charge_name(enum lago_charge_by by);
/* Appends {"events":[...]} for events[idx[0..n)] to b. */
void lago_encode_batch(const struct lago_map *m, const struct llmbill_usage *const *events,
                       const size_t *idx, size_t n, struct lago_buf *b);
/* Writes the exact decimal of a USD cost in cents ("0.7625"). */
int lago_cents(int64_t cost, char *buf, size_t cap);

/* response.c: Lago's 422 body */
#define LAGO_ITEM_NONE  0       /* index not flagged: rolled back, send again */
#define LAGO_ITEM_DUP   1       /* value_already_exist: Lago already has it */
#define LAGO_ITEM_ERROR 2       /* any other validation error: permanent */

#define LAGO_422_PER_INDEX   0  /* error_details maps indices to errors */
#define LAGO_422_TOO_MANY    1  /* {"events":["too_many_events"]} */
#define LAGO_422_NO_EVENTS   2
#define LAGO_422_UNKNOWN     3  /* anything else */

/* Classifies a 422 body for a batch of n events. item[i] gets LAGO_ITEM_*,
 * and reason[i] Lago's own words for LAGO_ITEM_ERROR. Returns LAGO_422_*. */
int lago_parse_422(const char *body, size_t len, size_t n, int *item,
                   char (*reason)[LAGO_REASON_LEN]);

#endif
