/* llmbill: usage-based billing for LLM calls. The embedding API.
 *
 * A service opens one handle from an llmbill.ini, then calls llmbill_record()
 * after each LLM call. The core validates and copies the record, fills a
 * time-ordered event id and the timestamp when absent, and hands it to every
 * sink instance named in the config. Each sink instance has its own queue and
 * worker thread; retries, backoff and dead-lettering happen there.
 *
 * Threads:
 *   - llmbill_record(), llmbill_flush() and llmbill_get_stats() may be called from
 *     any number of threads at once.
 *   - llmbill_record() never blocks on I/O and never runs a sink on the
 *     caller's thread (unless overflow = block is configured, it never waits).
 *   - llmbill_close() may run while other threads are inside llmbill_record()
 *     or llmbill_record_id() (a service shutting down with requests in
 *     flight): close waits for the calls under way, and every call that comes
 *     later, during close or after it returned, returns LLMBILL_ECLOSED and
 *     reads no freed memory. An event a call accepted (0) is delivered, kept
 *     in the journal or dead-lettered like any other. For this a closed handle
 *     keeps one page of memory (4 KiB) for the life of the process.
 *   - Undefined: a second llmbill_close() on a handle, and any call other than
 *     llmbill_record()/llmbill_record_id() (flush, stats, sink info, check)
 *     that races llmbill_close() or comes after it.
 *
 * Processes: a handle belongs to the process that opened it. In a child of
 * fork() every call on an inherited handle returns LLMBILL_EFORKED (the
 * functions that return a count or a name return 0 or NULL), writes nothing
 * and changes nothing the parent owns; the parent's handle goes on as
 * before. llmbill_close() in the child returns LLMBILL_EFORKED and releases
 * nothing (the parent's threads, locks and journal mappings are not the
 * child's; the handle's memory stays as the child's copy of the heap). The
 * journal's mappings are not inherited (MADV_DONTFORK). A child that records
 * opens its own handle: pre-fork servers open one per worker on the same
 * config and spool_dir, and each gets its own journal (docs/journal.md).
 *
 * Errors: functions return 0 or a negative LLMBILL_E* code. llmbill_strerror()
 * names a code; open errors also fill the caller's error buffer with the file,
 * line, key and what was expected. llmbill_last_error() gives the calling
 * thread's reason for its last failed open or record (which field, what was
 * expected). Secret values never appear in messages.
 *
 * Buffers: functions added from 0.2 on that write text into a caller's
 * buffer follow one convention, snprintf's: they write at most cap bytes
 * (NUL included, truncating) and return the length the whole text needs
 * (excluding NUL), or a negative LLMBILL_E* code for invalid arguments.
 * Older functions keep theirs (each says which).
 */
#ifndef LLMBILL_LLMBILL_H
#define LLMBILL_LLMBILL_H

#include <stddef.h>
#include <stdint.h>
#include "llmbill/export.h"
#include "llmbill/usage.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LLMBILL_VERSION_MAJOR 0
#define LLMBILL_VERSION_MINOR 1
#define LLMBILL_VERSION_PATCH 0
#define LLMBILL_VERSION_STRING "0.1.0"
#define LLMBILL_VERSION_HEX ((LLMBILL_VERSION_MAJOR << 16) | (LLMBILL_VERSION_MINOR << 8) | LLMBILL_VERSION_PATCH)

typedef struct llmbill llmbill; /* opaque */

/* Return codes. */
#define LLMBILL_OK          0
#define LLMBILL_EINVAL     -1  /* bad argument or invalid usage record */
#define LLMBILL_ENOMEM     -2  /* out of memory */
#define LLMBILL_ECONFIG    -3  /* configuration error */
#define LLMBILL_ELOAD      -4  /* a sink plugin could not be loaded */
#define LLMBILL_EABI       -5  /* a sink plugin was built for another ABI */
#define LLMBILL_EFULL      -6  /* queue full: the record was NOT accepted */
#define LLMBILL_ECLOSED    -7  /* the handle is closing */
#define LLMBILL_ETIMEDOUT  -8  /* flush or close ran out of time */
#define LLMBILL_ERECURSIVE -9  /* llmbill_record() called from a sink of the same handle */
#define LLMBILL_ENOTFOUND -10  /* no such sink instance */
#define LLMBILL_EIO       -11  /* an I/O error (reading a file) */
#define LLMBILL_ESINK     -12  /* a sink failed to start */
#define LLMBILL_ENOPRICE  -13  /* no price for the record's model ([pricing] unknown = error) */
#define LLMBILL_ESPOOL    -14  /* the journal could not be written (disk full, I/O error):
                                  the record was NOT accepted */
#define LLMBILL_EFORKED   -15  /* the handle was opened in another process (before fork()) */

/* Log levels, for the log callback and the sink host's log(). */
#define LLMBILL_LOG_ERROR 0
#define LLMBILL_LOG_WARN  1
#define LLMBILL_LOG_INFO  2
#define LLMBILL_LOG_DEBUG 3

/* Open flags. PAUSED loads everything but starts no thread: nothing is
 * delivered (for inspecting a spool: llmbill spool status). A paused handle
 * only reads its spool, even one another handle or process is using: it
 * takes no lock and never changes a file there (stats.spooled is a snapshot;
 * llmbill_record() returns LLMBILL_ECLOSED). */
#define LLMBILL_OPEN_PAUSED 0x1u

/* Options for llmbill_open(). Size-versioned: set struct_size to
 * sizeof(struct llmbill_open_opts); a zeroed struct (or NULL) means defaults. */
struct llmbill_open_opts {
    uint32_t struct_size;
    uint32_t flags;                 /* LLMBILL_OPEN_* */
    const char *plugin_dir;         /* overrides [llmbill] plugin_dir when set */
    /* Log sink; default writes "llmbill: LEVEL: msg" lines to stderr. Called
     * from any llmbill thread; msg is already redacted. */
    void (*log_cb)(void *ud, int level, const char *msg);
    void *log_ud;
    char *errbuf;                   /* receives a one-line reason when open fails (secrets
                                       redacted; control characters as \xNN, a backslash
                                       as \\) */
    size_t errbuf_len;
};

/* Library version as LLMBILL_VERSION_HEX of the linked library. */
LLMBILL_API unsigned llmbill_version(void);
LLMBILL_API const char *llmbill_version_string(void);

/* Static text for a return code; never NULL. */
LLMBILL_API const char *llmbill_strerror(int rc);

/* Opens a handle from the INI file at path (llmbill_open) or from INI text
 * (llmbill_open_string; relative paths then resolve against the current
 * directory). Parses and validates the whole config, loads every sink and
 * starts its worker. Fails closed: any error leaves *out NULL, returns
 * LLMBILL_ECONFIG, _ELOAD, _EABI, _ESINK or _ENOMEM, and writes the reason to
 * opts->errbuf. Handles (in one process or many: pre-fork workers) may
 * share a spool_dir: each writes its own journal there, and a live handle
 * adopts and delivers the journal of one whose process ended
 * (docs/journal.md). */
LLMBILL_API LLMBILL_NODISCARD int llmbill_open(llmbill **out, const char *path,
                                               const struct llmbill_open_opts *opts);
LLMBILL_API LLMBILL_NODISCARD int llmbill_open_string(llmbill **out, const char *ini_text,
                                                      const struct llmbill_open_opts *opts);

/* Records one usage event. Thread-safe; no I/O, no sink call on this thread.
 * The record and its strings are borrowed for the call only. When u->event_id
 * is NULL a UUIDv7 is generated; when u->timestamp_ms is 0 the current time
 * is used. With a [pricing] section, a record without a cost is priced from
 * the table. If event_id_out is not NULL it receives the event id (NUL-terminated,
 * truncated to event_id_cap).
 * Returns 0 when the event was accepted for delivery to every sink, or
 *   LLMBILL_EINVAL     the record is invalid (nothing was queued),
 *   LLMBILL_EFULL      the bounded queue, or the journal at spool_max_bytes, is full
 *                      (nothing was queued; see overflow),
 *   LLMBILL_ENOMEM     out of memory (nothing was queued),
 *   LLMBILL_ENOPRICE   no price for its model, with [pricing] unknown = error,
 *   LLMBILL_ESPOOL     the journal could not be written (nothing was kept),
 *   LLMBILL_ECLOSED    the handle is closing or closed (llmbill_close() started),
 *   LLMBILL_ERECURSIVE called from one of this handle's own sinks,
 *   LLMBILL_EFORKED    the handle was opened in another process (nothing was kept). */
LLMBILL_API int llmbill_record(llmbill *h, const struct llmbill_usage *u);
LLMBILL_API int llmbill_record_id(llmbill *h, const struct llmbill_usage *u,
                                  char *event_id_out, size_t event_id_cap);

/* A buffer this size holds any event id (LLMBILL_ID_MAX bytes and the NUL). */
#define LLMBILL_EVENT_ID_BUFSZ 256

/* Records one event given in the usage JSON form (the form
 * llmbill_usage_to_json() writes and `llmbill send` reads: one object,
 * json[0..len), need not be NUL-terminated; json is not modified), with the
 * validation, pricing and guarantees of llmbill_record(). For FFI callers,
 * log shippers and queue consumers: one call, no struct to lay out.
 * Costs: "cost_usd" (or "cost" with "currency") as a JSON number (0.1,
 * 1.5e-3) or as a string holding one ("0.1", the exact-decimal habit of
 * Python's Decimal and JavaScript's big-number libraries); exact to 10^-12,
 * rounded half away from zero past that; negative costs are rejected.
 * When event_id_out is not NULL, event_id_cap must be at least
 * LLMBILL_EVENT_ID_BUFSZ (else LLMBILL_EINVAL, nothing recorded) and it
 * receives the event id. Returns what llmbill_record() returns; LLMBILL_EINVAL
 * for JSON that does not parse or a record that is invalid, with the reason
 * in llmbill_last_error(). Thread-safe, like llmbill_record(). */
LLMBILL_API int llmbill_record_json(llmbill *h, const char *json, size_t len,
                                    char *event_id_out, size_t event_id_cap);

/* The reason for the calling thread's last failed llmbill_open*(),
 * llmbill_record*() (the field and the problem for LLMBILL_EINVAL; the
 * model for LLMBILL_ENOPRICE) or llmbill_record_json() call; "" before any.
 * Like errno, it is meaningful only right after a call that failed: a
 * successful call does not clear it. Redacted like every message. The
 * string is the thread's own and stays valid until its next llmbill call. */
LLMBILL_API const char *llmbill_last_error(void);

/* For bindings that copy struct llmbill_usage into another language:
 * llmbill_usage_init() zeroes size bytes of *u and sets struct_size = size.
 * Returns 0 when the library reads every field of a struct that size,
 * LLMBILL_EABI when size is larger than the library's struct (the caller
 * was built against a newer usage.h: fields past the library's would be
 * ignored), LLMBILL_EINVAL when size is below the first release's struct
 * or u is NULL. llmbill_usage_field_offset() returns the library's offset
 * of the named field ("model", "input_tokens", ...; "sizeof" gives the
 * struct's size), or LLMBILL_ENOTFOUND for a name it does not have, so a
 * binding can check every field it copied at load time. */
LLMBILL_API int llmbill_usage_init(struct llmbill_usage *u, size_t size);
LLMBILL_API long llmbill_usage_field_offset(const char *field);

/* Waits until every event recorded before the call has been delivered or
 * dead-lettered by every sink, and each sink's flush() has run. timeout_ms < 0
 * waits forever. Returns 0, or LLMBILL_ETIMEDOUT with events still pending
 * (they stay queued and keep being retried). */
LLMBILL_API int llmbill_flush(llmbill *h, int timeout_ms);

/* Stops accepting records, delivers what is queued within the configured
 * shutdown_timeout_ms, stops the workers, destroys the sinks and frees the
 * handle. What is still undelivered then stays in the journal for the next
 * start (with spool_dir), or is dead-lettered with the reason (without).
 * Returns within shutdown_timeout_ms + 1 s (plus the dead-letter writes)
 * even when a sink blocks in emit(): such a sink is left running, never
 * destroyed or unloaded under itself, and the handle's memory is then not
 * freed (docs/journal.md, "Bounded shutdown").
 * Returns 0, or LLMBILL_ETIMEDOUT when events were left undelivered.
 * NULL is a no-op. */
LLMBILL_API int llmbill_close(llmbill *h);

/* Delivery counters. Size-versioned. */
struct llmbill_stats {
    uint32_t struct_size;
    uint32_t reserved;
    uint64_t recorded;      /* events accepted for this sink (or by the handle, for totals) */
    uint64_t delivered;     /* acknowledged by the sink */
    uint64_t retried;       /* event delivery attempts that were retried */
    uint64_t dead_lettered; /* written to the dead-letter file */
    uint64_t pending;       /* recorded and neither delivered nor dead-lettered */
    uint64_t rejected_full; /* totals only: llmbill_record() calls that got LLMBILL_EFULL */
    uint64_t rejected_invalid; /* totals only: calls that got LLMBILL_EINVAL */
    uint64_t unpriced;      /* totals only: recorded with no cost, the model or a rate unknown */
    uint64_t spooled;       /* in the journal and not yet finished by this sink (all sinks,
                               for totals: the journal's backlog); 0 without a journal */
    uint64_t spool_corrupt; /* totals only: journal frames skipped as corrupt */
    uint64_t lost;          /* accepted, then neither delivered, dead-lettered nor kept in the
                               journal: only when every dead-letter write failed at shutdown
                               without a journal (each is logged); 0 otherwise */
    /* Request-based sinks (sink.h), per instance; 0 otherwise and in totals: */
    uint64_t requests;      /* HTTP requests ended (answered or failed: see transport_errors) */
    uint32_t in_flight;     /* requests sent and not yet answered */
    int32_t last_status;    /* the last request's HTTP status; 0: none yet, or no answer
                               (last_transport_error then says why) */
    uint32_t requests_per_s; /* over the last 512 requests */
    uint32_t answer_p50_us; /* answer time over the answered ones of the last 512 requests,
                               in microseconds (a request with no answer is not counted) */
    uint32_t answer_p99_us;
    uint32_t reserved2;
    uint64_t quarantined;   /* poison events: the process died twice while this sink's code
                               delivered the event; dead-lettered for this sink (also in
                               dead_lettered) and never sent to it again automatically */
    /* Request-based sinks, appended (a library older than them leaves them as the
     * caller set them): */
    uint64_t transport_errors; /* requests of `requests` that ended with no HTTP answer (DNS,
                                  connect, TLS, timeout, a broken connection) */
    int32_t last_transport_error; /* LLMBILL_HTTP_E*: why the last request got no answer;
                                     0 when it had one (or none ended yet) */
    uint32_t reserved3;
    /* append only */
};

/* llmbill_stats.last_transport_error (the words `llmbill check` prints) */
#define LLMBILL_HTTP_ECONNECT 1 /* "connect failed": refused, unreachable */
#define LLMBILL_HTTP_EDNS     2 /* "name not resolved" (the host or the proxy) */
#define LLMBILL_HTTP_ETIMEOUT 3 /* "timed out" (connecting or waiting for the answer) */
#define LLMBILL_HTTP_ETLS     4 /* "TLS failed" (handshake, certificate) */
#define LLMBILL_HTTP_EBROKEN  5 /* "connection broke" (reset, closed, nothing received) */
#define LLMBILL_HTTP_EOTHER   6 /* "transfer failed" (anything else) */

/* Fills *out for the sink instance named instance, or the handle's totals
 * when instance is NULL. Returns 0, LLMBILL_ENOTFOUND or LLMBILL_EINVAL. */
LLMBILL_API int llmbill_get_stats(llmbill *h, const char *instance, struct llmbill_stats *out);

/* The backlog the journals of h's spool_dir hold for sinks h does not have
 * (removed from this config, or configured only in the process that wrote
 * an adopted journal j-<id>, which is kept for them): fn is called once
 * per such sink and journal with the sink's name, the journal's directory
 * and how many events that sink has not finished in it (only when some are
 * left). It reads the journals' files and delivers nothing; the strings are
 * valid during the call. Returns how many calls were made (0 without
 * spool_dir), LLMBILL_EINVAL or LLMBILL_EFORKED. */
LLMBILL_API int llmbill_spool_foreign(llmbill *h,
                                      void (*fn)(void *arg, const char *sink,
                                                 const char *journal, uint64_t backlog),
                                      void *arg);

/* llmbill_close(), which also fills per_sink[i] (for i < n; set each
 * struct_size first, all to sizeof(struct llmbill_stats) as the caller was
 * compiled: the array is walked in steps of per_sink[0].struct_size, so a
 * caller built against an older, shorter struct works) with the final
 * counters of sink instance i (the order
 * of llmbill_sink_name()): what close delivered, dead-lettered or left in
 * the journal included. For a summary printed after the outcome is known
 * (`llmbill send`, `replay`). Copy the sink names before: they go with the
 * handle. Returns what llmbill_close() returns. */
LLMBILL_API int llmbill_close_stats(llmbill *h, struct llmbill_stats *per_sink, size_t n);

/* The pricing a handle applies. Size-versioned; strings stay valid until
 * llmbill_close(). */
struct llmbill_pricing_info {
    uint32_t struct_size;
    uint32_t enabled;           /* 1 with a [pricing] or [price.MODEL] section */
    const char *file;           /* the price table loaded, or NULL */
    uint64_t models;            /* models in it, [price.MODEL] additions included */
    const char *unknown;        /* "error", "unpriced" or "zero" ([pricing] unknown) */
    /* append only */
};

/* Fills *out (set out->struct_size first). 0 or LLMBILL_EINVAL. */
LLMBILL_API int llmbill_get_pricing_info(llmbill *h, struct llmbill_pricing_info *out);

/* Where the installed "plugins" directory and "prices" table are: found
 * relative to where libllmbill was loaded from (so an install moved to
 * another prefix works), else at the configure-time prefix. NULL for any
 * other name. */
LLMBILL_API const char *llmbill_installed_path(const char *what);

/* Number of sink instances, and the name of the i-th (NULL when out of range).
 * The name stays valid until llmbill_close(). */
LLMBILL_API size_t llmbill_sink_count(llmbill *h);
LLMBILL_API const char *llmbill_sink_name(llmbill *h, size_t i);

/* What a sink instance is. Size-versioned; strings stay valid until
 * llmbill_close(), except last_error, which is copied. */
struct llmbill_sink_info {
    uint32_t struct_size;
    uint32_t batch_max;         /* effective batch size */
    const char *name;           /* instance name */
    const char *plugin;         /* plugin name from its descriptor */
    const char *plugin_version;
    const char *path;           /* the loaded .so */
    const char *events;         /* "all", "success" or "failure" */
    char last_error[256];       /* the last delivery error, or "" */
    const char *dead_letter_path; /* where this sink's dead letters go */
    /* append only */
};

/* Fills *out for the i-th sink instance. 0, LLMBILL_ENOTFOUND or _EINVAL. */
LLMBILL_API int llmbill_get_sink_info(llmbill *h, size_t i, struct llmbill_sink_info *out);

/* Asks the i-th sink to check its backend (one harmless request, such as an
 * authenticated read), on the sink's worker thread. msg receives what was
 * found, by a check begun after this call asked (calls waiting at once may
 * share one; the late result of a call that timed out goes to no one).
 * Returns 0 when the backend answered and accepted the credentials
 * (or the sink has no remote check), LLMBILL_ESINK when it did not,
 * LLMBILL_ETIMEDOUT, or LLMBILL_ENOTFOUND. */
LLMBILL_API int llmbill_check_sink(llmbill *h, size_t i, char *msg, size_t cap, int timeout_ms);

/* Checks a record as llmbill_record() would, without recording it. Returns
 * 0, or LLMBILL_EINVAL with the field and the problem in err. */
LLMBILL_API int llmbill_usage_validate(const struct llmbill_usage *u, char *err, size_t err_len);

/* The usage record's JSON form: one object, no newline. Writes at most cap
 * bytes (NUL included) and returns the length it needs (excluding NUL), like
 * snprintf, or LLMBILL_EINVAL. Strings are escaped; invalid UTF-8 is
 * replaced by U+FFFD. */
LLMBILL_API int llmbill_usage_to_json(const struct llmbill_usage *u, char *buf, size_t cap);

/* Parses one JSON object in the usage form into *u. Parsing is in place:
 * json is modified and u's strings point into it, so json must outlive u.
 * Metadata entries go to kv (capacity kv_cap). Unknown keys are ignored; a
 * key with the wrong type is an error. Returns 0, or LLMBILL_EINVAL with a
 * reason in err. */
LLMBILL_API int llmbill_usage_from_json(struct llmbill_usage *u, char *json, size_t len,
                                        struct llmbill_kv *kv, size_t kv_cap,
                                        char *err, size_t err_len);

/* Formats an exact decimal for a cost in LLMBILL_COST_SCALE units
 * ("0.005615"). Returns the length, or LLMBILL_EINVAL if cap is too small
 * (an older convention than snprintf's: a buffer of LLMBILL_COST_BUFSZ bytes
 * always suffices). */
LLMBILL_API int llmbill_cost_format(int64_t cost, char *buf, size_t cap);

/* Parses an exact decimal ("0.005615", "12", "1e-3") into LLMBILL_COST_SCALE
 * units, rounding half away from zero past 12 decimals. Returns 0 or
 * LLMBILL_EINVAL (syntax, or out of range). */
LLMBILL_API int llmbill_cost_parse(const char *s, size_t len, int64_t *out);

#ifdef __cplusplus
}
#endif
#endif /* LLMBILL_LLMBILL_H */
