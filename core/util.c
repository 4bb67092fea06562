/* llmbill core: small helpers (strings, time, numbers, paths, UTF-8, PRNG). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "esc.h"
#include "lb.h"

void lb_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void lb_ctl_escape_buf(char *buf, size_t cap)
{
    char *copy;

    if (buf == NULL || cap == 0)
        return;
    if ((copy = lb_strdup(buf)) == NULL) {
        for (unsigned char *p = (unsigned char *)buf; *p; p++) {
            if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
                p[0] = p[1] = '?'; /* C1, as UTF-8: both bytes */
                p++;
            } else if (*p < 0x20 || *p == 0x7f) {
                *p = '?';
            }
        }
        return;
    }
    lb_ctl_escape(copy, buf, cap);
    free(copy);
}

char *lb_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *lb_strdup(const char *s)
{
    return s ? lb_strndup(s, strlen(s)) : NULL;
}

int64_t lb_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t lb_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int lb_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    long long v;

    if (s == NULL || *s == '\0')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || end == s || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int lb_parse_bool(const char *s, int *out)
{
    static const char *const yes[] = { "true", "yes", "on", "1" };
    static const char *const no[] = { "false", "no", "off", "0" };

    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

char *lb_path_join(const char *dir, const char *path)
{
    size_t dl, pl;
    char *p;

    if (path == NULL)
        return NULL;
    if (path[0] == '/' || dir == NULL || dir[0] == '\0')
        return lb_strdup(path);
    dl = strlen(dir);
    pl = strlen(path);
    p = malloc(dl + pl + 2);
    if (p == NULL)
        return NULL;
    memcpy(p, dir, dl);
    p[dl] = '/';
    memcpy(p + dl + 1, path, pl + 1);
    return p;
}

int lb_mkdirs(const char *dir)
{
    char *p = lb_strdup(dir);
    int rc = 0;

    if (p == NULL) {
        errno = ENOMEM;
        return -1;
    }
    for (char *s = p + 1; ; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;

            *s = '\0';
            if (mkdir(p, 0750) != 0 && errno != EEXIST) {
                rc = -1;
                break;
            }
            *s = c;
            if (c == '\0')
                break;
        }
    }
    free(p);
    return rc;
}

int lb_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < n) {
        unsigned c;
        size_t len;
        uint32_t cp;
        uint64_t w;

        /* ASCII, eight bytes at a time */
        if (i + 8 <= n && (memcpy(&w, s + i, 8), (w & UINT64_C(0x8080808080808080)) == 0)) {
            i += 8;
            continue;
        }
        c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

static LB_TLS uint64_t rng_state[4];
static LB_TLS int rng_seeded;
static pthread_once_t rng_once = PTHREAD_ONCE_INIT;

/* A forked child starts with its parent's generator state: without a new
 * seed, parent and child would make the same event ids. */
static void rng_reseed_child(void)
{
    rng_seeded = 0;
}

static void rng_register_fork(void)
{
    pthread_atfork(NULL, NULL, rng_reseed_child);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t lb_rand64(void)
{
    uint64_t *s = rng_state;
    uint64_t r, t;

    if (!rng_seeded) {
        if (getrandom(s, sizeof rng_state, 0) != (ssize_t)sizeof rng_state) {
            /* No entropy source: mix time and addresses; ids stay unique
             * in practice because the timestamp leads them. */
            s[0] = (uint64_t)lb_now_ms() ^ (uint64_t)(uintptr_t)&r;
            s[1] = (uint64_t)lb_mono_ms() * 0x9e3779b97f4a7c15ULL;
            s[2] = (uint64_t)(uintptr_t)s;
            s[3] = 0x5851f42d4c957f2dULL;
        }
        rng_seeded = 1;
        pthread_once(&rng_once, rng_register_fork);
    }
    r = rotl(s[1] * 5, 7) * 9;
    t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

void lb_deadline_ts(struct timespec *ts, int64_t ms_from_now)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms_from_now / 1000;
    ts->tv_nsec += (ms_from_now % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

size_t lb_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[LB_EDIT_MAX + 1];

    if (la > LB_EDIT_MAX || lb > LB_EDIT_MAX)
        return (size_t)-1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];

        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);

            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

int lb_dir_private(const char *dir, const char *what, char *err, size_t errlen)
{
    struct stat st;

    if (stat(dir, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        lb_errf(err, errlen, "%s %s: %s", what, dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        lb_errf(err, errlen, "%s %s: not a directory", what, dir);
        return -1;
    }
    if (st.st_uid != geteuid()) {
        lb_errf(err, errlen, "%s %s: owned by uid %u, not by the user running llmbill (uid %u): "
                "refusing a directory another user controls (chown it, or choose another)", what,
                dir, (unsigned)st.st_uid, (unsigned)geteuid());
        return -1;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        lb_errf(err, errlen, "%s %s: writable by %s (mode %03o): others could plant or change "
                "its files (chmod go-w %s)", what, dir,
                (st.st_mode & S_IWOTH) ? "others" : "its group", (unsigned)(st.st_mode & 0777), dir);
        return -1;
    }
    return 0;
}

/* Bytes kept as they are in an encoded name; every other byte is %XX. */
static int name_plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

size_t lb_name_encode(const char *name, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (name_plain(*p)) {
            if (n + 1 < cap)
                out[n] = (char)*p;
            n++;
        } else {
            if (n + 3 < cap) {
                out[n] = '%';
                out[n + 1] = hex[*p >> 4];
                out[n + 2] = hex[*p & 15];
            }
            n += 3;
        }
    }
    if (cap > 0)
        out[n < cap ? n : cap - 1] = '\0';
    return n;
}

char *lb_name_encoded(const char *name)
{
    size_t n = lb_name_encode(name, NULL, 0);
    char *out = malloc(n + 1);

    if (out != NULL)
        lb_name_encode(name, out, n + 1);
    return out;
}

int lb_name_decode(const char *enc, char *out, size_t cap)
{
    size_t n = 0;

    for (const char *p = enc; *p; n++) {
        unsigned v;

        if (n + 1 >= cap)
            return -1;
        if (*p == '%') {
            if (sscanf(p + 1, "%2x", &v) != 1 || p[1] == '\0' || p[2] == '\0')
                return -1;
            out[n] = (char)v;
            p += 3;
        } else {
            out[n] = *p++;
        }
    }
    if (cap == 0)
        return -1;
    out[n] = '\0';
    return 0;
}

int lb_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    int rc;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the new thread inherits it */
    rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}
