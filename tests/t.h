/* Minimal test helpers: CHECK macros, temp dirs, file helpers. Each test
 * program runs its cases in order and exits non-zero on the first failure. */
#ifndef LLMBILL_T_H
#define LLMBILL_T_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "llmbill/llmbill.h"


#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                           \
    do {                                                                             \
        long long a_ = (long long)(a), b_ = (long long)(b);                          \
        if (a_ != b_) {                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n",        \
                    __FILE__, __LINE__, #a, #b, a_, b_);                             \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                                  \
    do {                                                                             \
        const char *h_ = (hay), *n_ = (needle);                                      \
        if (h_ == NULL || strstr(h_, n_) == NULL) {                                  \
            fprintf(stderr, "%s:%d: CHECK failed: \"%s\" does not contain \"%s\"\n", \
                    __FILE__, __LINE__, h_ ? h_ : "(null)", n_);                     \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

#define CHECK_NOT_CONTAINS(hay, needle)                                              \
    do {                                                                             \
        const char *h_ = (hay), *n_ = (needle);                                      \
        if (h_ != NULL && strstr(h_, n_) != NULL) {                                  \
            fprintf(stderr, "%s:%d: CHECK failed: \"%s\" contains \"%s\"\n",         \
                    __FILE__, __LINE__, h_, n_);                                     \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

#define RUN(fn)                                                                      \
    do {                                                                             \
        fprintf(stderr, "-- %s\n", #fn);                                             \
        fn();                                                                        \
    } while (0)

/* A fresh temporary directory (static buffer). */
static inline const char *t_tmpdir(void)
{
    static char dir[256];

    snprintf(dir, sizeof dir, "/tmp/llmbill-test-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    return dir;
}

/* dir/name in one of 8 rotating static buffers (so a few can be used at once). */
static inline const char *t_path(const char *dir, const char *name)
{
    static char p[8][512];
    static int k;

    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static inline void t_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
}

/* Reads a whole file into a malloc'd string ("" if missing). */
static inline char *t_read(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;

    if (f == NULL)
        return strdup("");
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    CHECK(buf != NULL);
    buf[fread(buf, 1, (size_t)n, f)] = '\0';
    fclose(f);
    return buf;
}

static inline int t_count_lines(const char *s)
{
    int n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static inline long long t_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Opens a handle from INI text with the error captured. */
static inline int t_open(llmbill **h, const char *ini, char *err, size_t errlen)
{
    struct llmbill_open_opts o;

    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.errbuf = err;
    o.errbuf_len = errlen;
    err[0] = '\0';
    return llmbill_open_string(h, ini, &o);
}

/* The stats of sink (NULL: the totals); fails the test on error. */
static inline struct llmbill_stats t_stats(llmbill *h, const char *sink)
{
    struct llmbill_stats st;

    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    CHECK_EQ_INT(llmbill_get_stats(h, sink, &st), 0);
    return st;
}

/* A usage record for customer c with an explicit id. */
static inline struct llmbill_usage t_usage(const char *customer, const char *id)
{
    struct llmbill_usage u = LLMBILL_USAGE_INIT;

    u.customer_id = customer;
    u.event_id = id;
    u.model = "gpt-4o";
    u.provider = "openai";
    u.input_tokens = 100;
    u.output_tokens = 20;
    return u;
}

/* A set of strings with a count each (open addressing, FNV-1a): linear
 * checks of "every id exactly once" over large id lists. Keys are copied. */
struct t_idset {
    char **key;
    int *count;
    size_t cap, n;
};

static inline uint64_t t_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static inline void t_idset_init(struct t_idset *set, size_t expected)
{
    set->cap = 64;
    while (set->cap < expected * 2)
        set->cap *= 2;
    set->key = calloc(set->cap, sizeof *set->key);
    set->count = calloc(set->cap, sizeof *set->count);
    set->n = 0;
    CHECK(set->key != NULL && set->count != NULL);
}

/* The count slot of s[0..len), inserted (count 0) when absent and add is set;
 * NULL when absent and not added. */
static inline int *t_idset_slot(struct t_idset *set, const char *s, size_t len, int add)
{
    size_t i = (size_t)t_hash(s, len) & (set->cap - 1);

    for (; set->key[i] != NULL; i = (i + 1) & (set->cap - 1))
        if (strlen(set->key[i]) == len && memcmp(set->key[i], s, len) == 0)
            return &set->count[i];
    if (!add)
        return NULL;
    CHECK(set->n * 2 < set->cap); /* sized for what t_idset_init() was told */
    set->key[i] = strndup(s, len);
    CHECK(set->key[i] != NULL);
    set->n++;
    return &set->count[i];
}

static inline void t_idset_add(struct t_idset *set, const char *s, size_t len)
{
    (*t_idset_slot(set, s, len, 1))++;
}

static inline int t_idset_count(struct t_idset *set, const char *s)
{
    int *c = t_idset_slot(set, s, strlen(s), 0);

    return c ? *c : 0;
}

static inline void t_idset_free(struct t_idset *set)
{
    for (size_t i = 0; i < set->cap; i++)
        free(set->key[i]);
    free(set->key);
    free(set->count);
}

/* Adds to set the value of every `"field": "VALUE"` in text. */
static inline void t_idset_add_field(struct t_idset *set, const char *text, const char *field)
{
    char key[128];
    size_t kl;
    const char *p = text;

    snprintf(key, sizeof key, "\"%s\": \"", field);
    kl = strlen(key);
    while ((p = strstr(p, key)) != NULL) {
        const char *v = p + kl, *end = strchr(v, '"');

        CHECK(end != NULL);
        t_idset_add(set, v, (size_t)(end - v));
        p = end;
    }
}

/* Records ids "t0-<first>" .. "t0-<first+n-1>" (testsink's per_thread
 * form) for customer acme; each must be accepted. */
static inline void t_record_ids(llmbill *h, int first, int n)
{
    for (int i = first; i < first + n; i++) {
        char id[32];
        struct llmbill_usage u = t_usage("acme", id);

        snprintf(id, sizeof id, "t0-%d", i);
        CHECK_EQ_INT(llmbill_record(h, &u), 0);
    }
}

/* The number after key in file (testsink's summary: "received="), or -1. */
static inline long t_count_in(const char *file, const char *key)
{
    char *s = t_read(file), *p = strstr(s, key);
    long v = p ? strtol(p + strlen(key), NULL, 10) : -1;

    free(s);
    return v;
}

/* Log capture: pass t_capture_log as llmbill_open_opts.log_cb; the lines
 * collect in t_logs()->buf (take t_logs()->mu to read it from a test while
 * the handle is open). */
struct t_logs {
    pthread_mutex_t mu;
    char buf[65536];
};

static inline struct t_logs *t_logs(void)
{
    static struct t_logs logs = { PTHREAD_MUTEX_INITIALIZER, "" };

    return &logs;
}

static inline void t_capture_log(void *ud, int level, const char *msg)
{
    struct t_logs *l = t_logs();

    (void)ud;
    (void)level;
    pthread_mutex_lock(&l->mu);
    if (strlen(l->buf) + strlen(msg) + 2 < sizeof l->buf) {
        strcat(l->buf, msg);
        strcat(l->buf, "\n");
    }
    pthread_mutex_unlock(&l->mu);
}

/* Opens a handle from INI text, its log going to t_capture_log; exits
 * the test, with the error and the text, when that fails. */
static inline llmbill *t_open_logged(const char *ini)
{
    struct llmbill_open_opts o;
    char err[2048] = "";
    llmbill *h;

    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.errbuf = err;
    o.errbuf_len = sizeof err;
    o.log_cb = t_capture_log;
    if (llmbill_open_string(&h, ini, &o) != 0) {
        fprintf(stderr, "open: %s\n%s", err, ini);
        exit(1);
    }
    return h;
}

#endif
