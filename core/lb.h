/* llmbill core: internal declarations shared by the core's files.
 * Internal non-static names carry the lb_ prefix; nothing here is exported. */
#ifndef LB_H
#define LB_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "llmbill/llmbill.h"
#include "llmbill/sink.h"
#include "journal.h"

#define LB_ERRLEN 512

/* ---- util.c ---------------------------------------------------------- */

/* snprintf into err (if err is not NULL); always NUL-terminates. */
void lb_errf(char *err, size_t errlen, const char *fmt, ...) LLMBILL_PRINTF(3, 4);
/* Escapes buf (a NUL-terminated message, cap bytes) in place with
 * lb_ctl_escape() (esc.h): no control character of it stays raw. Cut short
 * when the escaped text does not fit; when no memory is left for the copy,
 * each control character becomes '?'. */
void lb_ctl_escape_buf(char *buf, size_t cap);
/* A CLOCK_MONOTONIC deadline ms from now, for pthread_cond_timedwait(). */
void lb_deadline_ts(struct timespec *ts, int64_t ms_from_now);
char *lb_strdup(const char *s);
char *lb_strndup(const char *s, size_t n);
int64_t lb_now_ms(void);
int64_t lb_mono_ms(void);
/* Parses a decimal integer in [min, max]; 0 or -1. */
int lb_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
/* Parses true/false/yes/no/on/off/1/0; 0 or -1. */
int lb_parse_bool(const char *s, int *out);
/* Joins dir and path unless path is absolute; caller frees. */
char *lb_path_join(const char *dir, const char *path);
/* Creates dir and its parents (mode 0750); 0 or -1 with errno. */
int lb_mkdirs(const char *dir);
/* Checks that dir (when it exists) is a directory owned by the running user
 * and not writable by group or others: 0, or -1 with the reason, naming
 * `what` and the path, in err. A missing dir is 0 (its creator makes it 0750). */
int lb_dir_private(const char *dir, const char *what, char *err, size_t errlen);
/* A sink instance name as a file name part: bytes other than [A-Za-z0-9._-]
 * become %XX ('%' and '/' too), so distinct names give distinct files and
 * plain names stay as they are. lb_name_encode() writes into out (cap bytes,
 * NUL-terminated) and returns the length it needs; lb_name_encoded()
 * mallocs it (NULL when out of memory); lb_name_decode() reverses it: 0, or
 * -1 when enc is not an encoding or does not fit. */
size_t lb_name_encode(const char *name, char *out, size_t cap);
char *lb_name_encoded(const char *name);
int lb_name_decode(const char *enc, char *out, size_t cap);
/* 1 if s[0..n) is valid UTF-8 (no overlongs, no surrogates). */
int lb_utf8_valid(const char *s, size_t n);
/* The Levenshtein distance between a and b, for "did you mean"; (size_t)-1
 * when either is longer than LB_EDIT_MAX bytes. */
#define LB_EDIT_MAX 64
size_t lb_edit_distance(const char *a, const char *b);
/* A fast per-thread PRNG (xoshiro256**), seeded from getrandom(). */
uint64_t lb_rand64(void);
/* pthread_create() for the library's threads: the new thread blocks every
 * signal (they are the application's, delivered to its own threads). 0 or
 * the pthread_create() error. */
int lb_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

/* ---- fork.c: a handle belongs to the process that opened it ----------- */

/* Bumped in every child of fork() (a pthread_atfork() child handler). */
extern atomic_uint lb_fork_gen;
/* Registers the handler (once) and returns the generation of this process,
 * for struct llmbill.fork_gen. */
unsigned lb_fork_init(void);
/* Tracks a descriptor the child handler closes in the child (a journal's
 * lock, a sink's wake-up eventfd): 0, or -1 out of memory; untrack it
 * before closing it. */
int lb_fork_track_fd(int fd);
void lb_fork_untrack_fd(int fd);

/* ---- decimal.c: exact decimal <-> scaled integers ---------------------- */

/* Parses a JSON-style decimal ("12", "-0.5", "1.25e-06") into an integer
 * scaled by 10^scale, rounding half away from zero. 0 or -1. */
int lb_decimal_parse(const char *s, size_t len, int scale, int64_t *out);
/* Writes v / 10^scale as the shortest exact decimal; returns length or -1. */
int lb_decimal_format(int64_t v, int scale, char *buf, size_t cap);

/* ---- json_out.c -------------------------------------------------------- */

/* Writes s as a quoted, escaped JSON string (invalid UTF-8 becomes U+FFFD);
 * returns the length it needs, like snprintf. */
size_t lb_json_string(const char *s, char *buf, size_t cap);

/* ---- json_in.c --------------------------------------------------------- */

/* Decodes the JSON string escapes of buf[0..n) in place and NUL-terminates
 * it; NULL on a bad escape. */
char *lb_json_unescape(char *buf, size_t n);

/* ---- log.c: logging with secret redaction ------------------------------ */

struct lb_logger {
    void (*cb)(void *ud, int level, const char *msg);
    void *ud;
    int level;                 /* messages above this level are dropped */
    char **secrets;            /* values redacted from every message */
    size_t nsecrets;
};

void lb_log(const struct lb_logger *lg, int level, const char *fmt, ...) LLMBILL_PRINTF(3, 4);
void lb_logv(const struct lb_logger *lg, int level, const char *prefix, const char *fmt, va_list ap);
#define LB_SECRET_MIN 4        /* shorter values are not tracked as secrets */
/* Adds a secret (copied), with the forms a server may echo it in: JSON-
 * escaped ("/" as "\/" or not) and percent-encoded (either hex case), each
 * when it differs; values shorter than LB_SECRET_MIN are not tracked.
 * 0, or -1 when out of memory. Open time only (not thread-safe). */
int lb_logger_add_secret(struct lb_logger *lg, const char *value);
/* Adds the userinfo of every URL in value ("https://user:pass@host": the
 * "user:pass", the password alone and its base64, as an HTTP Basic header
 * carries it) as secrets. 0, or -1 when out of memory. */
int lb_logger_add_url_secrets(struct lb_logger *lg, const char *value);
/* Replaces every secret in buf (in place, NUL-terminated, cap bytes) by
 * "[REDACTED]", and a cut-off prefix of one (LB_SECRET_MIN bytes or more)
 * where the text ends or before a final "..." as well. Where a text is
 * stored, redact it whole before any cut (lb_redact_dup), so no piece of a
 * secret is left at the cut. */
void lb_redact(const struct lb_logger *lg, char *buf, size_t cap);
/* A malloc'ed, redacted copy of text, never cut; NULL when out of memory. */
char *lb_redact_dup(const struct lb_logger *lg, const char *text);
void lb_logger_free(struct lb_logger *lg);

/* ---- install.c: the installed plugin directory and price table --------- */

/* Found relative to where libllmbill was loaded from (dladdr), else at the
 * configure-time prefix. Static strings, computed once; any thread. */
const char *lb_installed_plugin_dir(void);
const char *lb_installed_prices(void);

/* ---- lasterr.c: the thread's last error (llmbill_last_error) ------------ */

/* Sets the calling thread's last error reason, redacted with lg's secrets
 * when lg is not NULL. */
void lb_set_last_error(const struct lb_logger *lg, const char *fmt, ...) LLMBILL_PRINTF(2, 3);
/* Sets the last error for a llmbill_record*() call on h that returned rc
 * (the field and the problem for LLMBILL_EINVAL). */
void lb_record_failed(const struct llmbill *h, const struct llmbill_usage *u, int rc);

/* ---- config.c: the INI model --------------------------------------------- */

struct lb_entry {
    char *key;
    char *value;               /* raw, before ${ENV} expansion */
    int line;
    int used;                  /* set when a consumer claims the key */
};

struct lb_section {
    char *name;
    int line;
    struct lb_entry *entries;
    size_t n, cap;
};

struct lb_config {
    char *file;                /* display name: the path, or "<string>" */
    char *dir;                 /* directory relative paths resolve against */
    struct lb_section *sections;
    size_t n, cap;
};

/* Parses INI text from a file or a string. Errors name file and line, with
 * control characters escaped (lb_ctl_escape_buf). The maximum line length is
 * LB_INI_MAX_LINE. 0, LLMBILL_ECONFIG, _EIO or _ENOMEM. */
#define LB_INI_MAX_LINE 196
int lb_config_load_file(const char *path, struct lb_config **out, char *err, size_t errlen);
int lb_config_load_string(const char *text, struct lb_config **out, char *err, size_t errlen);
void lb_config_free(struct lb_config *c);
struct lb_section *lb_config_section(const struct lb_config *c, const char *name);
struct lb_entry *lb_section_entry(const struct lb_section *s, const char *key);
/* Expands ${VAR}, ${VAR:-default} and $$ in raw; *out is malloc'd.
 * 0, or LLMBILL_ECONFIG with a reason in err (naming the variable). */
int lb_expand_env(const char *raw, char **out, char *err, size_t errlen);
/* 1 when a key name looks like it holds a secret (api_key, token, ...). */
int lb_key_looks_secret(const char *key);

/* ---- event.c: one recorded usage event ---------------------------------- */

/* An event is one block: the header, the copied record, its metadata array
 * and its string bytes. It lives inside a ring slot when it fits
 * (LB_SLOT_DATA bytes), else in its own allocation (heap = 1). */
struct lb_event {
    uint32_t size;
    uint16_t heap;
    uint16_t jsrc;              /* its journal: 0 the handle's own, 1 an adopted one */
    uint64_t jseq;              /* its journal seq, or 0 without a journal */
    struct llmbill_usage u;
    /* followed by struct llmbill_kv[n_metadata] and the string bytes */
};

#define LB_NSTR 11

/* The address of string field i (0 .. LB_NSTR-1) of u, in struct order:
 * event_id, customer_id, subscription_id, user_id, team_id, provider,
 * model, call_type, request_id, currency, service_tier. */
const char *const *lb_usage_str(const struct llmbill_usage *u, int i);

/* A validated record, measured and ready to be copied. */
struct lb_prepared {
    struct llmbill_usage u;     /* normalised to the current struct size */
    size_t lens[LB_NSTR];
    size_t total;               /* bytes the event needs */
    uint64_t jseq;              /* journal seq, set by the journal thread */
    uint32_t jsrc;              /* and its journal (struct lb_event) */
};

/* Validates *in and measures it. 0 or LLMBILL_EINVAL. No allocation. */
int lb_event_prepare(const struct llmbill_usage *in, struct lb_prepared *p);
/* Copies the prepared record into buf (p->total bytes), filling the event id
 * and timestamp when absent. Returns the event, which starts at buf. */
struct lb_event *lb_event_build(const struct lb_prepared *p, void *buf, uint32_t heap);
/* Validates a record without copying; 0 or LLMBILL_EINVAL with a reason. */
int lb_usage_validate(const struct llmbill_usage *u, char *err, size_t errlen);
/* journal_record.c: a record as journal frames hold it (see there). The
 * size of u encoded; encodes u into out (that many bytes); lens[i] is the
 * strlen of string field i (lb_usage_str order; not read for a NULL
 * field), as lb_event_prepare() measured them. Decodes in[len) into u,
 * whose strings then point into in, with up to kv_cap metadata pairs in
 * kv: 0, or -1 when it is not a well-formed record. */
size_t lb_jrec_size(const struct llmbill_usage *u, const size_t *lens);
void lb_jrec_encode(const struct llmbill_usage *u, const size_t *lens, unsigned char *out);
int lb_jrec_decode(const unsigned char *in, size_t len, struct llmbill_usage *u,
                   struct llmbill_kv *kv, size_t kv_cap);
/* Writes a UUIDv7 for ms into out[37]. */
void lb_uuidv7(int64_t ms, char out[37]);

/* ---- loader.c: plugins ------------------------------------------------------ */

struct lb_plugin {
    void *dl;                   /* dlopen handle */
    int fd;                     /* the checked file, loaded as /proc/self/fd/N: open while
                                 * the object may be mapped under that name; -1 when none */
    char *path;                 /* resolved path */
    struct llmbill_sink_desc desc; /* copy, zero-filled past the sink's struct_size */
};

/* Resolves name (see README "Loading sinks") and loads it. dirs is a
 * NULL-terminated list of directories searched in order. 0, LLMBILL_ELOAD or
 * LLMBILL_EABI with the reason in err. */
int lb_plugin_load(const char *name, const char *const *dirs, const char *base_dir,
                   struct lb_plugin *out, char *err, size_t errlen);
void lb_plugin_unload(struct lb_plugin *p);
/* trust.c: opens path (O_RDONLY | O_CLOEXEC) and checks the open file (*st,
 * fstat) and every directory above it as opened: a regular file owned by
 * root or the effective user, writable by neither group nor others, in such
 * directories (a root-owned sticky one excepted). The descriptor, or
 * LLMBILL_ELOAD with the path and the reason in err (LLMBILL_ENOMEM). */
struct stat;
int lb_plugin_open_trusted(const char *path, struct stat *st, char *err, size_t errlen);

/* ---- the handle ------------------------------------------------------------ */

#define LB_FILTER_ALL     0
#define LB_FILTER_SUCCESS 1
#define LB_FILTER_FAILURE 2

/* An option of a sink instance after validation. */
struct lb_opt_value {
    const struct llmbill_option *opt;
    char *value;                /* expanded value, default, or NULL */
    char *path;                 /* for LLMBILL_OPT_PATH: resolved */
};

struct lb_sink {
    struct llmbill *h;
    size_t index;
    char *name;                 /* instance name */
    int filter;                 /* LB_FILTER_* */
    struct lb_plugin plugin;
    void *state;
    int created;
    struct lb_opt_value *opts;
    size_t nopts;
    char create_error[LB_ERRLEN];

    /* settings */
    uint32_t batch_max;
    uint64_t wake_at;           /* a sleeping worker is woken at this backlog in a shard */
    int64_t linger_ms, retry_base_ms, retry_max_ms, retry_limit;
    char *dead_letter_path;
    int dl_fd;
    dev_t dl_dev;               /* the open dead-letter file, to see a rotation */
    ino_t dl_ino;

    /* worker */
    struct lb_batch *batch;     /* its events in flight; allocated at start */
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Alignas(64) atomic_int sleeping; /* the worker waits on cv */
    struct lb_cursor *cursor;   /* per shard: every seq below is released */
    atomic_uint_fast64_t flushed_gen;

    /* llmbill_check_sink(), by ticket: a caller takes ticket check_asked + 1;
     * the worker reads check_asked before it calls check() and, under
     * h->wait_mu, stores the result and sets check_served to what it read.
     * A caller takes a result only once check_served reaches its ticket (a
     * check that began after it asked): the late result of a caller that
     * timed out goes to no one. check_rc and check_msg: under h->wait_mu */
    atomic_uint_fast64_t check_asked, check_served;
    int check_rc;
    char check_msg[LB_ERRLEN];

    /* journal: every seq <= ack_seq is finished, every seq <= ack_disk is
     * so in the ack file; events up to ack_start were finished in an
     * earlier run */
    atomic_uint_fast64_t ack_seq, ack_disk;
    uint64_t ack_start;
    int abort_logged;           /* worker thread only */

    /* shutdown: the worker runs sink code (LB_IN_SINK_*), has returned */
    atomic_int in_sink, done;
    int abandoned;              /* close left its worker running in the sink (never freed) */

    /* request-based delivery (NULL for emit() sinks) and its settings */
    struct lb_async *async;
    struct lb_xfer *sync_xfer;  /* http_perform's transfer, made at first use */
    int64_t http_timeout_ms, http_connect_ms, max_in_flight;
    char *ca_file;
    int allow_insecure_http;

    /* stats */
    atomic_uint_fast64_t st_skipped, st_delivered, st_retried, st_dead;
    atomic_uint_fast64_t st_lost;        /* no dead-letter write succeeded, nowhere else to keep */
    atomic_uint_fast64_t st_quarantined; /* poison events (poison.c) */

    /* poison events (poison.c): the in-flight mark, a shared mapping of
     * the journal's inflight-<sink> file; the events of an emit() the
     * process died in, delivered one at a time; an event it died in twice */
    struct lb_mark *mark;
    uint64_t suspect_lo, suspect_hi, quarantine;
    int mark_single;            /* worker: delivering a suspect alone */
    int mark_locked;            /* worker: 1 shared, 2 exclusive hold of poison.c's sink-code lock */
    struct lb_event **suspect_ev; /* scratch, batch_max events */
    atomic_uint_fast64_t dl_at_shutdown; /* dead-lettered once close aborted (one log line) */
    char last_error[LB_ERRLEN];
};

/* ---- poison events (poison.c) ------------------------------------------------ */

struct lb_batch;

/* Opens each sink's in-flight mark in the journal and reads what a process
 * that died inside a sink's code left there (logged). Writer handles only.
 * 0 or LLMBILL_E* with err. */
int lb_poison_open(struct llmbill *h, char *err, size_t errlen);
void lb_poison_close(struct llmbill *h);
/* Around the call into a sink's emit(), request() or response(): the batch's journal seqs go to its
 * mark first (a store into a shared mapping, no system call), and are
 * cleared after; where (LB_IN_*) names the function for the log of the
 * next start. Worker thread of s. */
#define LB_IN_EMIT     0
#define LB_IN_REQUEST  1
#define LB_IN_RESPONSE 2
void lb_mark_enter(struct lb_sink *s, const struct lb_batch *b, unsigned where);
void lb_mark_leave(struct lb_sink *s);
/* Close left s inside its sink code for good (a stuck worker): releases
 * the hold on the sink-code lock that the worker will never release. */
void lb_mark_abandon(struct lb_sink *s);
/* Does s deliver b in recovery (one at a time, or a quarantine)? */
static inline int lb_poison_active(const struct lb_sink *s)
{
    return s->suspect_hi != 0 || s->quarantine != 0;
}
/* Delivers b in recovery: a quarantined event is dead-lettered, a suspect
 * one goes alone. As lb_deliver(). */
int lb_poison_deliver(struct lb_sink *s, struct lb_batch *b);
/* Request-based sinks in recovery: the worker takes one event at a time
 * with nothing else in flight; before b (that one event) is started, a
 * quarantined event is dead-lettered and taken out of b, a suspect one is
 * marked alone for its request() and response(). Worker thread of s. */
void lb_poison_request(struct lb_sink *s, struct lb_batch *b);

/* ---- delivery (deliver.c) ---------------------------------------------------- */

/* A worker's batch: the events it hands to emit() at once, and scratch
 * space for the answers, sized for batch_max. */
struct lb_batch {
    struct lb_event **ev;
    const struct llmbill_usage **u;
    int *results;
    const char **reasons;
    char **reason_copy;         /* the last reason per event, for dead letters */
    size_t *idx;                /* scratch: indices of events to dead-letter */
    struct lb_event **dl_ev;    /* scratch for lb_deadletter_write() */
    const char **dl_why;
    size_t n;
};

/* Allocates a batch for cap events (before the worker starts: running out
 * of memory fails the open, never a running worker). NULL when out of memory. */
struct lb_batch *lb_batch_new(size_t cap);
void lb_batch_free(struct lb_batch *b);
/* Is ev not for sink s (its status filter, or finished in an earlier run)? */
int lb_should_skip(const struct lb_sink *s, const struct lb_event *ev);
/* Delivers b->ev[0..n) until each is delivered or dead-lettered; empties b.
 * Returns 1 when a shutdown left events in the journal (ack no further). */
int lb_deliver(struct lb_sink *s, struct lb_batch *b);
/* The steps of one delivery attempt, shared by lb_deliver() and the
 * request-based path (inflight.c); worker thread only.
 * lb_sink_batch_fill: sb as the sink sees b (results OK, reasons NULL,
 *   close's deadline).
 * lb_normalise: the sink's answer rc into b->results / b->reason_copy
 *   (pre: the results request() left, or NULL for emit()).
 * lb_settle: dead-letters ERROR events, drops delivered ones, keeps RETRY
 *   and AGAIN in order; returns 1 when any RETRY is left.
 * lb_plan_retry: counts the retry, stores last_error, applies retry_limit;
 *   returns the backoff in ms, or -1 when the limit emptied b.
 * lb_abandon: a shutdown past its timeout: leaves b in the journal
 *   (returns 1: ack no further) or dead-letters it (returns 0); empties b. */
void lb_sink_batch_fill(struct lb_sink *s, struct lb_batch *b, uint32_t attempt,
                        struct llmbill_sink_batch *sb);
void lb_normalise(struct lb_sink *s, struct lb_batch *b, int rc, const struct llmbill_sink_batch *sb,
                  const int *pre);
/* Stores a redacted copy of reason r (if not NULL) as event i's last reason. */
void lb_set_reason(struct lb_sink *s, struct lb_batch *b, size_t i, const char *r);
int lb_settle(struct lb_sink *s, struct lb_batch *b, uint32_t attempt);
int64_t lb_plan_retry(struct lb_sink *s, struct lb_batch *b, uint32_t *attempt, int64_t retry_after);
int lb_abandon(struct lb_sink *s, struct lb_batch *b, uint32_t attempt);

/* ---- request-based delivery (inflight.c, on core/http) ---------------------- */

struct lb_async;
/* Batches in flight per request-based instance unless its sink or its
 * max_in_flight key says otherwise: at Lago Cloud's 50-150 ms answers, 8
 * batches of 100 carry 5,000-16,000 events/s (twice what
 * lago-javascript-client reaches with 4), while 8 HTTP/1.1 connections or
 * 8 HTTP/2 streams stay well inside any server's per-client limits. */
#define LB_DEFAULT_IN_FLIGHT 8
/* Sets up s->async for a sink with request()/response() (before its worker
 * starts). 0, or LLMBILL_ENOMEM with the reason in err. */
int lb_async_new(struct lb_sink *s, char *err, size_t errlen);
void lb_async_free(struct lb_sink *s);
/* Worker thread: can another batch be taken now? */
int lb_async_room(struct lb_sink *s);
/* Worker thread: the batch to fill next (lb_async_room() said yes). */
struct lb_batch *lb_async_batch(struct lb_sink *s);
/* Worker thread: starts the filled batch; end[] are the shard cursors
 * after its events, last_jseq its highest journal seq (or 0). */
void lb_async_start(struct lb_sink *s, const uint64_t *end, uint64_t last_jseq,
                    uint64_t last_adopted);
/* Worker thread: nothing in flight and nothing waiting to retire? */
int lb_async_idle(struct lb_sink *s);
/* Worker thread: waits for an answer, a wake-up or wait_ms (capped at the
 * next due retry), then handles answers, due retries, shutdown, and
 * releases finished positions in order (cursors, journal acks). */
void lb_async_wait(struct lb_sink *s, int64_t wait_ms, int sleep_ok);
/* Any thread: interrupts lb_async_wait(). */
void lb_async_wake(struct lb_sink *s);
/* Worker thread: events were left in the journal (a quarantine whose dead
 * letter failed): acknowledge no further. */
void lb_async_keep(struct lb_sink *s);
/* Worker thread (emit(), check()): host->http_perform. */
int lb_http_perform(struct lb_sink *s, const struct llmbill_http_request *req,
                    struct llmbill_http_response *resp);
/* Wakes flush waiters and blocked producers (dispatch.c). */
void lb_notify_waiters(struct llmbill *h);
/* Any thread: the instance's HTTP figures for stats. */
void lb_async_stats(struct lb_sink *s, struct llmbill_stats *out);

/* A ring slot is one 512-byte block: small events are built in place, so
 * recording allocates nothing. */
#define LB_SLOT_SIZE 512
#define LB_SLOT_DATA (LB_SLOT_SIZE - 16)

struct lb_slot {
    atomic_uint_fast64_t seq;   /* seq + 1 once published */
    struct lb_event *ev;        /* the event: inside data, or on the heap */
    _Alignas(16) unsigned char data[LB_SLOT_DATA];
};

/* ring.c: a ring's memory (zeroed, huge pages where the kernel has them);
 * NULL when out of memory. */
struct lb_slot *lb_ring_alloc(uint64_t n);
void lb_ring_free(struct lb_slot *ring, uint64_t n);

/* Set once by the first lb_ring_alloc(): the CPU has PREFETCHW. */
extern atomic_int lb_cpu_prefetchw;

/* Starts fetching the cache lines of [p, p + len): for writing (taken for
 * ownership) when own is set and the CPU can, else shared. A line fetched
 * shared costs a second trip to the core that last read it when it is
 * stored to. */
static inline void lb_prefetch_lines(const void *p, size_t len, int own)
{
    const char *c = p;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (own && atomic_load_explicit(&lb_cpu_prefetchw, memory_order_relaxed)) {
        for (size_t off = 0; off < len; off += 64)
            __asm__ volatile("prefetchw %0" : : "m"(c[off]));
        return;
    }
#endif
    (void)own;
    for (size_t off = 0; off < len; off += 64)
        __builtin_prefetch(c + off, 1, 3);
}

#define LB_HEAD_CLOSED (UINT64_C(1) << 63)
#define LB_SHARDS_MAX 16

/* One ring of the queue. Recording threads are spread over the shards
 * (each thread keeps to one while it has room), so that they do not
 * contend on one head. */
struct lb_shard {
    struct lb_slot *ring;
    _Alignas(64) atomic_uint_fast64_t head; /* next seq; LB_HEAD_CLOSED once closing */
    _Alignas(64) atomic_uint_fast64_t gate; /* cached minimum of the sinks' cursors */
};

/* A sink's position in one shard, alone on its cache line. */
struct lb_cursor {
    _Alignas(64) atomic_uint_fast64_t pos;
};

struct llmbill {
    struct lb_logger log;
    struct lb_config *cfg;
    struct lb_sink *sinks;
    size_t nsinks;

    /* settings */
    int64_t shutdown_timeout_ms;
    int overflow_block;
    int64_t overflow_block_ms;

    /* the queue: nshards broadcast rings of cap slots each; producers claim
     * seqs on a shard's head, each sink releases through its own cursor
     * per shard. With a journal, only the journal thread records, into
     * shard 0, so journal order is shard 0's order. */
    struct lb_shard *shards;
    unsigned nshards;
    uint64_t queue_max;         /* the configured total */
    uint64_t cap, mask;         /* per shard */
    _Alignas(64) atomic_int aborting;       /* close timed out: dead-letter the rest */
    atomic_int closing;         /* llmbill_close() started: records fail with ECLOSED */
    atomic_int_fast64_t close_deadline_ms; /* Unix ms emit() must return by once close started; 0 before */
    int abandoned;              /* close left a worker running in its sink: see lb_handle_free() */
    /* llmbill_record() calls under way through the counter gate, per shard
     * (the calling thread's), each on its own cache line: close waits until
     * they are all 0 before it frees anything (lb_record_enter()). */
    struct lb_gate {
        _Alignas(64) atomic_uint_fast64_t n;
    } gates[LB_SHARDS_MAX];

    pthread_mutex_t wait_mu;    /* flush waiters and blocked producers */
    pthread_cond_t wait_cv;
    atomic_int waiters;
    atomic_uint_fast64_t flush_gen;

    atomic_uint_fast64_t rejected_full, rejected_invalid, unpriced;

    /* the durable journal, with [llmbill] spool_dir (else NULL) */
    struct lb_journal *journal;
    unsigned fork_gen;          /* lb_fork_gen of the process that opened it */
    int paused;                 /* LLMBILL_OPEN_PAUSED: no threads */
    int spool_full_block;       /* spool_full = block */

    /* pricing: on with a [pricing] or [price.MODEL] section */
    struct llmbill_prices *prices;
    int unknown_price;          /* LB_UNKNOWN_* */
    char *prices_path;          /* the table loaded */
};

#define LB_UNKNOWN_UNPRICED 0
#define LB_UNKNOWN_ERROR    1
#define LB_UNKNOWN_ZERO     2

/* Is h used from a process other than the one that opened it (a child of
 * fork())? One relaxed load and a compare: cheap enough for every record. */
static inline int lb_forked(const struct llmbill *h)
{
    return atomic_load_explicit(&lb_fork_gen, memory_order_relaxed) != h->fork_gen;
}

/* dispatch.c */
/* Allocates the ring; starts one worker per sink unless threads is 0. */
int lb_dispatch_start(struct llmbill *h, int threads, char *err, size_t errlen);
/* Claims a slot, builds the event there (or in heap, when it does not fit;
 * heap is then owned by the ring) and publishes it. id_out receives the
 * event id. 0, LLMBILL_EFULL or LLMBILL_ECLOSED (heap untouched then).
 * Uses the calling thread's shard, or another one when it is full. */
int lb_dispatch_enqueue(struct llmbill *h, const struct lb_prepared *p, void *heap,
                        char *id_out, size_t id_cap);
/* The same for the journal thread: always shard 0, in journal order. */
int lb_dispatch_feed(struct llmbill *h, const struct lb_prepared *p, void *heap);
/* Events recorded into the queue so far (all shards). */
uint64_t lb_dispatch_recorded(struct llmbill *h);
int lb_dispatch_flush(struct llmbill *h, int timeout_ms);
void lb_dispatch_stop(struct llmbill *h);
/* Waits up to ms for a sink to release ring slots. */
void lb_dispatch_wait_room(struct llmbill *h, int ms);
/* llmbill_check_sink() of sink s: asks its worker for a check and waits up
 * to timeout_ms (< 0: no limit) for the result of a check that began after
 * this call asked (several waiting callers may share one). 0 or
 * LLMBILL_ESINK with the sink's message in msg, or LLMBILL_ETIMEDOUT (the
 * check's later result is then given to no one). */
int lb_dispatch_check(struct llmbill *h, struct lb_sink *s, char *msg, size_t cap, int timeout_ms);
void lb_sink_stats(struct lb_sink *s, struct llmbill_stats *out);

/* deadletter.c */
/* Opens (creates) sink s's dead-letter file at open: fails closed with
 * "sink X: dead-letter file PATH: why" in err. 0 or -1. */
int lb_deadletter_open(struct lb_sink *s, char *err, size_t errlen);
int lb_deadletter_write(struct lb_sink *s, struct lb_event *const *evs, const char *const *reasons,
                        size_t n, uint32_t attempts);
void lb_deadletter_close(struct lb_sink *s);

/* host.c: the table handed to sinks */
extern const struct llmbill_host lb_host_table;
/* Thread-locals of the hot path use the initial-exec model: no
 * __tls_get_addr call per access (glibc keeps room for it in libraries
 * loaded with dlopen). */
#define LB_TLS _Thread_local __attribute__((tls_model("initial-exec")))
extern LB_TLS struct llmbill *lb_tls_in_sink;

/* open.c: builds a handle from a parsed config (its error redacted, then
 * escaped: lb_ctl_escape_buf); lb_handle_free() frees all it holds but
 * struct llmbill itself, which stays mapped (lb_record_enter()) */
void lb_handle_free(struct llmbill *h);
int lb_open_config(struct llmbill **out, struct lb_config *cfg, const struct llmbill_open_opts *opts,
                   char *err, size_t errlen);

/* The shard of the calling thread: threads are dealt out round robin the
 * first time they record (dispatch.c). */
extern atomic_uint lb_next_shard_hint;
extern LB_TLS unsigned lb_tls_shard_hint; /* 0: not dealt yet */

static inline unsigned lb_my_shard(const struct llmbill *h)
{
    unsigned x = lb_tls_shard_hint;

    if (x == 0)
        lb_tls_shard_hint = x = atomic_fetch_add_explicit(&lb_next_shard_hint, 1,
                                                          memory_order_relaxed) + 1;
    return (x - 1) & (h->nshards - 1);
}

/* ---- record_gate.c: a llmbill_record() racing llmbill_close() ---------- *
 *
 * A record enters the handle before it touches anything close frees and
 * leaves after; llmbill_close() sets closing, then waits until no record is
 * inside (wait_records() in dispatch.c). Either the record sees closing (it
 * returns LLMBILL_ECLOSED, touching nothing close frees) or close sees the
 * record and waits for its leave. struct llmbill itself is never freed
 * (lb_handle_free()), so the flag, the gates and the handle pointer in a
 * slot name live memory whatever the interleaving.
 *
 * Fast path, no locked instruction: the calling thread's slot gets h (a
 * plain store), then the record loads closing (a plain load). The compiler
 * may not swap the two (atomic_signal_fence); the CPU may (the store waits
 * in its store buffer while the load goes ahead), and close pays for that:
 * it stores closing (seq_cst), then membarrier(PRIVATE_EXPEDITED) has every
 * other running thread of the process execute a full barrier (a thread not
 * running has had one at its context switch), and only then reads the
 * slots. Where that barrier falls in the recording thread decides: after
 * its load of closing, then its store to the slot, earlier in program order,
 * is drained by the barrier and close reads it (and waits); before the load,
 * then the load comes after close's store of closing was globally visible
 * (membarrier begins with a full barrier on close's side), and the record
 * sees closing. Leave is a release store of NULL that close reads with
 * acquire: what the record did happens before what close frees. That is
 * also the edge ThreadSanitizer sees; it does not know membarrier and needs
 * not: the one outcome it would miss (close reads NULL while the record
 * goes on) never happens, membarrier being as real under TSan as anywhere.
 *
 * Counter gate: without membarrier (registration failed at the first open:
 * old kernels, some sandboxes), on a nested record (the thread's slot holds
 * a handle already: a logger callback recording into another handle) and
 * on a thread without a slot (out of memory, thread exiting), the record
 * counts itself on its shard's gate with a seq_cst fetch_add and then loads
 * closing seq_cst: with close's seq_cst store of closing and loads of the
 * gates, one of the two sees the other. Close always waits for both. */

/* A thread's slot: heap, one cache line, never freed; in the process-wide
 * list from its first record on, reused by a later thread once its thread
 * exits (a pthread key destructor frees it). */
struct lb_rslot {
    _Alignas(64) _Atomic(struct llmbill *) h; /* the handle a record of this thread is inside */
    atomic_int busy;            /* owned by a live thread */
    struct lb_rslot *next;      /* the list; set once, before the slot is pushed */
};

/* How a record went in (lb_record_enter()): through slot, or gate. */
struct lb_inside {
    struct lb_rslot *slot;
    struct lb_gate *gate;
};

/* The calling thread's slot: NULL until its first record, then its own or
 * &lb_rslot_none (the counter gate only), whose h is never NULL. */
extern LB_TLS struct lb_rslot *lb_tls_rslot;
extern struct lb_rslot lb_rslot_none;
/* Sets lb_tls_rslot (a free slot taken, a new one pushed, or
 * &lb_rslot_none) and returns it. */
struct lb_rslot *lb_rslot_take(void);
/* llmbill_open(): chooses, once per process, slots (membarrier registered)
 * or the counter gate alone. The choice and the registration pass to a
 * child of fork(). */
void lb_rgate_init(void);
/* Close, after storing closing: the heavy side of the fence (membarrier,
 * when the process uses slots). 0, or -1 when membarrier failed (only when
 * the process forbade it after registering: close then waits a few ms). */
int lb_rgate_fence(void);
/* Slots holding h: records of h under way on the fast path. */
uint64_t lb_rgate_inside(const struct llmbill *h);
/* fork.c's child handler: the slots of the threads the child does not
 * have are free again (their handles are the parent's: EFORKED here). */
void lb_rgate_fork_child(void);
/* Tests only: before the first open, take the counter gate even where
 * membarrier works; the slots in the list (and how many are owned). */
void lb_rgate_force_gates(void);
int lb_rgate_uses_slots(void);
size_t lb_rgate_slots(size_t *busy);

/* Enters h (0) or finds it closing (-1: the record returns ECLOSED);
 * in says how, for lb_record_leave(). */
static inline int lb_record_enter(struct llmbill *h, struct lb_inside *in)
{
    struct lb_rslot *s = lb_tls_rslot;

    if (s == NULL)
        s = lb_rslot_take();
    if (atomic_load_explicit(&s->h, memory_order_relaxed) == NULL) {
        atomic_store_explicit(&s->h, h, memory_order_relaxed);
        atomic_signal_fence(memory_order_seq_cst);
        if (atomic_load_explicit(&h->closing, memory_order_relaxed)) {
            atomic_store_explicit(&s->h, NULL, memory_order_release);
            return -1;
        }
        in->slot = s;
        in->gate = NULL;
        return 0;
    }
    in->slot = NULL;
    in->gate = &h->gates[lb_my_shard(h)];
    atomic_fetch_add_explicit(&in->gate->n, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&h->closing, memory_order_seq_cst)) {
        atomic_fetch_sub_explicit(&in->gate->n, 1, memory_order_release);
        return -1;
    }
    return 0;
}

static inline void lb_record_leave(const struct lb_inside *in)
{
    if (in->slot != NULL)
        atomic_store_explicit(&in->slot->h, NULL, memory_order_release);
    else
        atomic_fetch_sub_explicit(&in->gate->n, 1, memory_order_release);
}

/* Sink code on a worker thread (emit, flush, check) runs between these.
 * llmbill_close() may give up on a worker stuck there past its bound: it
 * swaps IN (1) for ABANDONED (2), and the worker, when the sink returns at
 * last, finds it so and exits at once, touching nothing of the handle
 * (which close then never frees). */
/* How long close waits past shutdown_timeout_ms for the workers to finish
 * (dead-letter writes, a sink's emit() that honours its deadline late)
 * before it leaves one that is stuck inside its sink: llmbill_close()
 * returns within shutdown_timeout_ms + LB_CLOSE_MARGIN_MS (+ the time of
 * the dead-letter writes for what it left). */
#define LB_CLOSE_MARGIN_MS 1000

#define LB_IN_SINK_NO        0
#define LB_IN_SINK_YES       1
#define LB_IN_SINK_ABANDONED 2

static inline void lb_sink_code_enter(struct lb_sink *s)
{
    atomic_store_explicit(&s->in_sink, LB_IN_SINK_YES, memory_order_seq_cst);
}

static inline void lb_sink_code_leave(struct lb_sink *s)
{
    int expect = LB_IN_SINK_YES;

    if (!atomic_compare_exchange_strong(&s->in_sink, &expect, LB_IN_SINK_NO))
        pthread_exit(NULL); /* abandoned by close: nothing here is ours any more */
}

/* Around a call into a sink's emit(), request() or response() for batch b
 * (where: LB_IN_*): the thread's sink marker, the poison mark (poison.c:
 * which events are inside sink code) and the in-sink state close reads. */
static inline void lb_sink_call_enter(struct lb_sink *s, const struct lb_batch *b, unsigned where)
{
    lb_tls_in_sink = s->h;
    lb_mark_enter(s, b, where);
    lb_sink_code_enter(s);
}

static inline void lb_sink_call_leave(struct lb_sink *s)
{
    lb_sink_code_leave(s);
    lb_mark_leave(s);
    lb_tls_in_sink = NULL;
}

#endif /* LB_H */
