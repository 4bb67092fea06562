/* llmbill: the sink plugin ABI.
 *
 * A sink is a shared object that exports one function, llmbill_sink_describe
 * (use LLMBILL_SINK_DEFINE). The host calls it with its ABI version and gets
 * back a descriptor with the sink's name, options and callbacks. The sink has
 * no link-time dependency on libllmbill: every host service it needs comes
 * through the struct llmbill_host table passed to create().
 *
 * Versioning:
 *   - LLMBILL_SINK_ABI_MAJOR changes on any incompatible change; the host
 *     refuses a sink whose major differs.
 *   - LLMBILL_SINK_ABI_MINOR grows when fields are appended to a struct here.
 *     Structs carry struct_size; a reader treats fields beyond the writer's
 *     struct_size as absent (use LLMBILL_HOST_HAS before calling a newer host
 *     function). Fields are never removed or reordered within a major.
 *
 * Threads:
 *   - create() and destroy() run on the thread that calls llmbill_open() and
 *     llmbill_close().
 *   - emit() and flush() of one instance run on that instance's own worker
 *     thread, one call at a time: an instance is never called concurrently
 *     with itself. Two instances of the same plugin run on two threads, so
 *     globals shared between instances need their own locking.
 *   - emit() may block (network I/O), but must bound its own time (timeouts):
 *     close waits for a running emit() to return.
 *   - A sink must not call llmbill_record() on the handle that runs it, must
 *     not install signal handlers, fork or exit.
 *
 * Ownership:
 *   - The descriptor and its option table have static lifetime.
 *   - Events passed to emit() and their strings are valid during that call only.
 *   - Strings returned by the host (config values, names) stay valid until
 *     destroy() returns.
 *   - Reason strings a sink stores in a batch stay the sink's; they must stay
 *     valid until emit() returns (the host copies them).
 *
 * Text into a caller's buffer: usage_to_json() and json_string() follow
 * snprintf's convention (write at most cap bytes, NUL included; return the
 * length the whole text needs, excluding NUL), as does every function added
 * from ABI 1.2 on (cost_text()). cost_format(), from ABI 1.0, is the one
 * exception: it returns -1 when cap is too small; LLMBILL_COST_BUFSZ bytes
 * always suffice for a cost.
 *
 * Events: an event's struct_size is the host's; a field the sink was not
 * built with is simply not read, and a sink built against a newer usage.h
 * checks LLMBILL_USAGE_HAS(u, field) before reading a field the host may not
 * have. Costs are never negative (credits are rejected at record time).
 */
#ifndef LLMBILL_SINK_H
#define LLMBILL_SINK_H

#include <stddef.h>
#include <stdint.h>
#include "llmbill/usage.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LLMBILL_SINK_ABI_MAJOR 1
#define LLMBILL_SINK_ABI_MINOR 2
#define LLMBILL_SINK_ABI (((uint32_t)LLMBILL_SINK_ABI_MAJOR << 16) | LLMBILL_SINK_ABI_MINOR)

#if defined(_WIN32)
#  define LLMBILL_PLUGIN_EXPORT __declspec(dllexport)
#else
#  define LLMBILL_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* Results of emit(), and per-event results in struct llmbill_sink_batch. */
#define LLMBILL_SINK_OK      0 /* delivered (an already-delivered duplicate is OK too) */
#define LLMBILL_SINK_RETRY   1 /* transient failure: the core retries with backoff */
#define LLMBILL_SINK_ERROR   2 /* permanent failure: the core dead-letters with the reason */
#define LLMBILL_SINK_PARTIAL 3 /* emit() only: see results[] for each event */
/* ABI 1.2, request-based sinks only (see "Request-based sinks" below): */
#define LLMBILL_SINK_AGAIN   4 /* per event: not sent, or rolled back with the request; the
                                  core sends it again at once (no backoff, not a retry;
                                  after 12 rounds in a row that settle none of the batch's
                                  events, a retry) */
#define LLMBILL_SINK_REQUEST 5 /* request() only: *req holds the request to send */

/* Log levels (same values as LLMBILL_LOG_* in llmbill.h). */
#define LLMBILL_SINK_LOG_ERROR 0
#define LLMBILL_SINK_LOG_WARN  1
#define LLMBILL_SINK_LOG_INFO  2
#define LLMBILL_SINK_LOG_DEBUG 3

typedef struct llmbill_sink_ctx llmbill_sink_ctx; /* opaque per-instance host handle */

/* ---- Request-based sinks (ABI 1.2) -------------------------------------
 *
 * An HTTP sink need not block in emit(): it describes a request for a batch
 * and later reads the answer, and the core runs the requests (libcurl's
 * multi interface on the instance's worker thread: HTTP/2 multiplexing when
 * the server offers it through ALPN, else a pool of kept-alive HTTP/1.1
 * connections; TLS always verified; no redirects; http and https only;
 * proxies from http_proxy / https_proxy / no_proxy; connect and request
 * timeouts; answers bounded). Up to max_in_flight batches of one instance
 * are in flight at once, while the next ones are assembled.
 *
 *   request(state, batch, req)    fills *req for batch->events and returns
 *       LLMBILL_SINK_REQUEST. Events it leaves out of this request it marks
 *       in batch->results: LLMBILL_SINK_ERROR (with batch->reasons[i]) or
 *       LLMBILL_SINK_AGAIN (e.g. more than the server takes at once: they
 *       go in the next request). It may instead return any emit() result
 *       (OK, RETRY, ERROR, PARTIAL) when no request is needed.
 *       The core copies url, headers and body before request() returns.
 *   response(state, batch, resp)  reads the answer into results, exactly
 *       as emit() would, and returns OK, RETRY, ERROR or PARTIAL. results[]
 *       arrives as request() left it: OK for each event sent, so the i-th
 *       event sent is the i-th OK in results[]. resp->status is 0 when no
 *       answer came (DNS, connect, TLS, timeout, reset); resp->error says
 *       why.
 *
 * Both run on the worker thread, never concurrently with each other or
 * with emit(), flush() or check() of the same instance; several batches
 * may be between request() and response() at once, so a sink keeps no
 * per-batch state in its instance between the two calls. The core owns
 * retries: per batch, exponential backoff with full jitter (retry_after_ms
 * as a floor); an answer of 429, 401 or 403 pauses the whole instance for
 * that time, not only its batch. Reasons a sink stores must stay valid
 * until the call returns (the core copies them). */

/* A request, filled by request(). */
struct llmbill_http_request {
    uint32_t struct_size;       /* set by the core */
    uint32_t reserved;
    const char *method;         /* "POST", "PUT", "GET", ...; NULL: POST with a body, else GET */
    const char *url;            /* http:// or https:// (see http_check_url) */
    const char *const *headers; /* "Name: value" lines, NULL-terminated, or NULL */
    const char *body;           /* or NULL */
    size_t body_len;
    int64_t timeout_ms;         /* whole request; 0: the instance's timeout_ms (10000) */
    /* append only */
};

/* An answer, read by response(). Strings are valid during that call only. */
struct llmbill_http_response {
    uint32_t struct_size;
    int status;                 /* HTTP status, 0 when no answer came */
    const char *error;          /* with status 0: what failed (no secrets), else "" */
    const char *body;           /* NUL-terminated, at most 1 MiB kept */
    size_t body_len;
    int body_truncated;         /* the body was longer than what is kept */
    int64_t retry_after_ms;     /* Retry-After or X-RateLimit-Reset, in ms; 0 when absent */
    const char *location;       /* a 3xx answer's Location, else NULL */
    int64_t elapsed_ms;         /* from the request's start to its answer */
    /* append only */
};

/* Host services. Append only; check LLMBILL_HOST_HAS() for anything newer
 * than ABI 1.0. Every function is safe to call from create(), emit(), flush()
 * and destroy() of the instance that owns ctx. */
struct llmbill_host {
    uint32_t struct_size;
    uint32_t abi;                                   /* the host's LLMBILL_SINK_ABI */
    const char *host_version;                       /* "0.1.0" */

    /* Logs a line tagged with the instance name. Secret config values are
     * redacted from the formatted text. */
    void (*log)(llmbill_sink_ctx *ctx, int level, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;
    /* From create() only: the reason create() failed, reported by
     * llmbill_open(). Redacted like log(). */
    void (*set_error)(llmbill_sink_ctx *ctx, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
        __attribute__((format(printf, 2, 3)))
#endif
        ;
    const char *(*instance_name)(llmbill_sink_ctx *ctx);

    /* The value of an option declared in the descriptor: the config's value
     * after ${ENV} expansion, else its default, else NULL. Types were checked
     * at open time, so the integer and bool getters cannot fail for declared
     * options: they return 0 and fill *out. They return -1 (and leave *out
     * alone) for an unset option with no default and for a key the
     * descriptor does not declare. Integer options have no declared range
     * in ABI 1.x: a sink checks its own bounds in create() and reports a bad
     * value with set_error() (the host then fails the open with it). */
    const char *(*config_get)(llmbill_sink_ctx *ctx, const char *key);
    int (*config_get_int)(llmbill_sink_ctx *ctx, const char *key, int64_t *out);
    int (*config_get_bool)(llmbill_sink_ctx *ctx, const char *key, int *out);
    /* A path option resolved against the config file's directory; NULL when unset. */
    const char *(*config_get_path)(llmbill_sink_ctx *ctx, const char *key);

    int64_t (*now_ms)(void);                        /* Unix time in ms */
    /* The canonical usage JSON form (see llmbill_usage_to_json): snprintf's
     * convention, or -1 (LLMBILL_EINVAL) for a NULL record. */
    int (*usage_to_json)(const struct llmbill_usage *u, char *buf, size_t cap);
    /* Exact decimal text of a cost (see llmbill_cost_format): the length
     * written, or -1 when cap is too small (use LLMBILL_COST_BUFSZ). */
    int (*cost_format)(int64_t cost, char *buf, size_t cap);

    /* ABI 1.1: writes s as a quoted JSON string (escaped; invalid UTF-8
     * becomes U+FFFD) into buf and returns the length it needs, like
     * snprintf. */
    size_t (*json_string)(const char *s, char *buf, size_t cap);

    /* ABI 1.2: exact decimal text of a cost with snprintf's convention (the
     * length it needs; at most LLMBILL_COST_BUFSZ - 1). */
    int (*cost_text)(int64_t cost, char *buf, size_t cap);
    /* ABI 1.2: the core's HTTP layer (see "Request-based sinks" below).
     * http_check_url: 0 when the core would send to url (http or https; plain
     * http only to a loopback host unless the instance sets
     * allow_insecure_http = true), else nonzero with the reason in err. A
     * sink calls it from create() on its configured URL so that a bad one
     * fails the open. */
    int (*http_check_url)(llmbill_sink_ctx *ctx, const char *url, char *err, size_t cap);
    /* http_perform: runs one request to its end on the calling thread, with
     * the same transport rules as request-based delivery (for check()).
     * Fills *resp, whose strings stay valid until the next http_perform()
     * of this instance or destroy(). Returns resp->status (0 on a transport
     * failure, resp->error says why). */
    int (*http_perform)(llmbill_sink_ctx *ctx, const struct llmbill_http_request *req,
                        struct llmbill_http_response *resp);
    /* append only */
};

#define LLMBILL_HOST_HAS(h, fn) \
    (offsetof(struct llmbill_host, fn) + sizeof((h)->fn) <= (h)->struct_size && (h)->fn != NULL)

/* Option schema. Keys not declared here (nor common to all sinks) are a
 * config error at open time. */
#define LLMBILL_OPT_STRING 1
#define LLMBILL_OPT_INT    2
#define LLMBILL_OPT_BOOL   3
#define LLMBILL_OPT_PATH   4   /* a string resolved against the config's directory */

#define LLMBILL_OPT_REQUIRED 0x1u
#define LLMBILL_OPT_SECRET   0x2u /* never printed; redacted from every log line */

struct llmbill_option {
    const char *name;
    uint32_t type;              /* LLMBILL_OPT_* */
    uint32_t flags;             /* LLMBILL_OPT_REQUIRED | LLMBILL_OPT_SECRET */
    const char *default_value;  /* NULL for none */
    const char *env;            /* environment variable that fills an unset option, or NULL */
    const char *description;
};

/* One emit() call. The host fills the inputs; the sink fills the outputs. */
struct llmbill_sink_batch {
    uint32_t struct_size;
    uint32_t attempt;                           /* in: 0 on the first try of these events */
    size_t n;                                   /* in: number of events, >= 1 */
    const struct llmbill_usage *const *events;  /* in */
    /* out, with LLMBILL_SINK_PARTIAL: one LLMBILL_SINK_OK/RETRY/ERROR per
     * event, pre-filled with LLMBILL_SINK_OK. Read only with PARTIAL. */
    int *results;
    /* out: an optional reason per event (for ERROR and RETRY), pre-filled
     * NULL. For each failed event, reasons[i] wins over reason when set,
     * with PARTIAL or with RETRY/ERROR for the whole batch. */
    const char **reasons;
    /* out: a reason for the whole batch (RETRY or ERROR), or NULL; with
     * PARTIAL, the reason of each failed event whose reasons[i] is NULL. */
    const char *reason;
    /* out: with RETRY, the least time to wait before the next try, in ms
     * (a server's Retry-After); 0 lets the core's backoff decide. With
     * PARTIAL it applies to the events marked RETRY (the core retries them
     * together). Ignored when nothing is to be retried. */
    int64_t retry_after_ms;
    /* ABI 1.2, in: the time by which emit() must return, as Unix ms on the
     * host's now_ms() clock. 0 while the handle is open (no deadline: the
     * sink's own timeouts apply); once llmbill_close() has started, every
     * emit() gets close's start + shutdown_timeout_ms. A sink caps its own
     * timeouts at it (the Lago sink caps its request timeout). A sink that
     * is still inside emit() (or flush(), check()) shutdown_timeout_ms + 1 s
     * after close began is left running: close returns without it, never
     * destroys or unloads it, and the handle's memory is not freed; when
     * emit() returns at last, the worker exits and its results are ignored.
     * Read it only when struct_size covers it (LLMBILL_BATCH_HAS). */
    int64_t deadline_ms;
    /* append only */
};

#define LLMBILL_BATCH_HAS(b, field) \
    (offsetof(struct llmbill_sink_batch, field) + sizeof((b)->field) <= (b)->struct_size)

/* The descriptor a sink returns. Static lifetime. */
struct llmbill_sink_desc {
    uint32_t struct_size;       /* sizeof(struct llmbill_sink_desc) at the sink's build */
    uint32_t abi;               /* LLMBILL_SINK_ABI at the sink's build */
    const char *name;           /* plugin name, e.g. "lago" */
    const char *version;        /* the sink's own version */
    const char *description;
    uint32_t flags;             /* reserved, 0 */
    uint32_t max_batch;         /* most events per emit(); 0 means 1 */
    const struct llmbill_option *options; /* terminated by an entry with name NULL */

    /* Creates an instance. Reads its options through host, stores its state
     * in *state. Returns 0, or nonzero after host->set_error(). */
    int (*create)(const struct llmbill_host *host, llmbill_sink_ctx *ctx, void **state);
    /* Delivers a batch: returns LLMBILL_SINK_OK, _RETRY, _ERROR or _PARTIAL. */
    int (*emit)(void *state, struct llmbill_sink_batch *batch);
    /* Optional: makes delivered events durable (fsync, drain buffers). Called
     * on the worker thread when the host flushes. Returns 0 or nonzero. A
     * nonzero return is logged as a warning; it does not fail
     * llmbill_flush() and does not un-deliver the events emit()
     * acknowledged, so a sink whose acknowledgement depends on durability
     * must make it so in emit(). */
    int (*flush)(void *state);
    /* Frees the instance. Required. */
    void (*destroy)(void *state);

    /* ABI 1.1, optional: makes one harmless request to the backend (for
     * `llmbill check`) and writes what it found to msg. Runs on the
     * instance's worker thread. Returns 0 when the backend answered and
     * accepted the credentials, nonzero otherwise. */
    int (*check)(void *state, char *msg, size_t cap);

    /* ABI 1.2, optional: request-based delivery (see "Request-based sinks").
     * When request and response are both set the core uses them and never
     * calls emit() (which may then be NULL). max_in_flight is the most
     * batches the sink allows in flight per instance (0: the core's
     * default); the instance's max_in_flight option may lower it. */
    uint32_t max_in_flight;
    uint32_t reserved2;
    int (*request)(void *state, struct llmbill_sink_batch *batch, struct llmbill_http_request *req);
    int (*response)(void *state, struct llmbill_sink_batch *batch,
                    const struct llmbill_http_response *resp);
    /* append only */
};

/* The one exported symbol. Returns NULL when the host's ABI is unacceptable. */
#define LLMBILL_SINK_ENTRY "llmbill_sink_describe"
typedef const struct llmbill_sink_desc *(*llmbill_sink_describe_fn)(uint32_t host_abi);

#ifdef __cplusplus
#  define LLMBILL_SINK_LINKAGE extern "C"
#else
#  define LLMBILL_SINK_LINKAGE
#endif

/* A sink writes LLMBILL_SINK_DEFINE(its_descriptor); once, at file scope. */
#define LLMBILL_SINK_DEFINE(desc)                                                    \
    LLMBILL_SINK_LINKAGE LLMBILL_PLUGIN_EXPORT const struct llmbill_sink_desc *      \
        llmbill_sink_describe(uint32_t host_abi);                                    \
    LLMBILL_SINK_LINKAGE LLMBILL_PLUGIN_EXPORT const struct llmbill_sink_desc *      \
        llmbill_sink_describe(uint32_t host_abi)                                     \
    {                                                                                \
        return ((host_abi >> 16) == LLMBILL_SINK_ABI_MAJOR) ? &(desc) : NULL;        \
    }

#ifdef __cplusplus
}
#endif
#endif /* LLMBILL_SINK_H */
