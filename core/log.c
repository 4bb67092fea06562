/* llmbill core: log lines, with every known secret redacted before output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdint.h>

#include "lb.h"

#define REDACTED "[REDACTED]"

static const char *const level_names[] = { "error", "warn", "info", "debug" };

/* Adds value as it is (nothing when it is there already). */
static int add_one(struct lb_logger *lg, const char *value)
{
    char **n;

    for (size_t i = 0; i < lg->nsecrets; i++)
        if (strcmp(lg->secrets[i], value) == 0)
            return 0;
    n = realloc(lg->secrets, (lg->nsecrets + 1) * sizeof *n);
    if (n == NULL)
        return -1;
    lg->secrets = n;
    if ((n[lg->nsecrets] = lb_strdup(value)) == NULL)
        return -1;
    lg->nsecrets++;
    return 0;
}

/* value as a server may echo it back: JSON-escaped (with "/" as "\/" or
 * not) and percent-encoded (upper- or lower-case hex); each form that
 * differs from value is a secret too. */
static int add_encodings(struct lb_logger *lg, const char *value)
{
    static const char hex[2][17] = { "0123456789ABCDEF", "0123456789abcdef" };
    size_t n = strlen(value);
    char *e = malloc(n * 6 + 1);
    int rc = 0;

    if (e == NULL)
        return -1;
    for (int slash = 0; slash < 2 && rc == 0; slash++) {
        size_t k = 0;

        for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
            if (*p == '"' || *p == '\\' || (*p == '/' && slash)) {
                e[k++] = '\\';
                e[k++] = (char)*p;
            } else if (*p < 0x20) {
                k += (size_t)sprintf(e + k, "\\u%04x", *p);
            } else {
                e[k++] = (char)*p;
            }
        }
        e[k] = '\0';
        if (strcmp(e, value) != 0)
            rc = add_one(lg, e);
    }
    for (int lower = 0; lower < 2 && rc == 0; lower++) {
        size_t k = 0;

        for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
            if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                *p == '-' || *p == '.' || *p == '_' || *p == '~') {
                e[k++] = (char)*p;
            } else {
                e[k++] = '%';
                e[k++] = hex[lower][*p >> 4];
                e[k++] = hex[lower][*p & 15];
            }
        }
        e[k] = '\0';
        if (strcmp(e, value) != 0)
            rc = add_one(lg, e);
    }
    memset(e, 0, n * 6 + 1);
    free(e);
    return rc;
}

int lb_logger_add_secret(struct lb_logger *lg, const char *value)
{
    if (value == NULL || strlen(value) < LB_SECRET_MIN)
        return 0;
    return add_one(lg, value) != 0 || add_encodings(lg, value) != 0 ? -1 : 0;
}

/* Replaces buf[off, off + n) by the marker then the rest of buf, within cap
 * (the tail is cut to fit; with no room for the marker, buf ends at off). */
static void splice(char *buf, size_t cap, size_t off, size_t n)
{
    size_t rl = strlen(REDACTED), tail = strlen(buf + off + n);

    if (off + rl + 1 > cap) {
        buf[off] = '\0';
        return;
    }
    if (off + rl + tail + 1 > cap)
        tail = cap - off - rl - 1;
    memmove(buf + off + rl, buf + off + n, tail);
    memcpy(buf + off, REDACTED, rl);
    buf[off + rl + tail] = '\0';
}

/* The start of a cut-off prefix of sec (at least LB_SECRET_MIN bytes of it)
 * that ends buf[0, end), or -1. */
static long cut_prefix(const char *buf, size_t end, const char *sec)
{
    size_t sl = strlen(sec);

    for (size_t k = sl - 1 < end ? sl - 1 : end; k >= LB_SECRET_MIN; k--)
        if (memcmp(buf + end - k, sec, k) == 0)
            return (long)(end - k);
    return -1;
}

void lb_redact(const struct lb_logger *lg, char *buf, size_t cap)
{
    if (lg == NULL || cap == 0)
        return;
    for (size_t i = 0; i < lg->nsecrets; i++) {
        const char *sec = lg->secrets[i];
        size_t sl = strlen(sec);
        char *p = buf;

        while ((p = strstr(p, sec)) != NULL) {
            splice(buf, cap, (size_t)(p - buf), sl);
            p += strlen(p) < strlen(REDACTED) ? strlen(p) : strlen(REDACTED);
        }
    }
    /* a secret cut short where the text ends, or before a "..." or "\u2026"
     * that marks an excerpt's cut */
    for (size_t i = 0; i < lg->nsecrets; i++) {
        size_t len = strlen(buf), end = len;
        long at;

        if (len >= 3 && (memcmp(buf + len - 3, "...", 3) == 0 ||
                         memcmp(buf + len - 3, "\xe2\x80\xa6", 3) == 0))
            end = len - 3;
        if ((at = cut_prefix(buf, end, lg->secrets[i])) >= 0)
            splice(buf, cap, (size_t)at, end - (size_t)at);
    }
}

char *lb_redact_dup(const struct lb_logger *lg, const char *text)
{
    /* each secret is at least LB_SECRET_MIN (4) bytes and its marker 10, so
     * the redacted text is at most 2.5 times as long */
    size_t len = strlen(text), cap = len * 3 + strlen(REDACTED) + 1;
    char *out = malloc(cap);

    if (out == NULL)
        return NULL;
    memcpy(out, text, len + 1);
    lb_redact(lg, out, cap);
    return out;
}

/* Appends the standard base64 of s[0, n) to out (cap bytes), NUL-ended. */
static void base64(const char *s, size_t n, char *out, size_t cap)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;

    for (size_t i = 0; i < n && o + 5 <= cap; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)s[i] << 16;

        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)s[i + 1] << 8;
        if (i + 2 < n)
            v |= (uint32_t)(unsigned char)s[i + 2];
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
}

int lb_logger_add_url_secrets(struct lb_logger *lg, const char *value)
{
    const char *p = value;

    while (p != NULL && (p = strstr(p, "://")) != NULL) {
        const char *auth = p + 3, *end = auth + strcspn(auth, "/?#"), *at = NULL;
        char ui[1024], b64[1400];
        size_t n;

        for (const char *q = auth; q < end; q++)
            if (*q == '@')
                at = q;
        p = end;
        if (at == NULL || (n = (size_t)(at - auth)) == 0)
            continue;
        if (n >= sizeof ui)
            n = sizeof ui - 1;
        memcpy(ui, auth, n);
        ui[n] = '\0';
        base64(ui, n, b64, sizeof b64);
        if (lb_logger_add_secret(lg, ui) != 0 || lb_logger_add_secret(lg, b64) != 0 ||
            (strchr(ui, ':') != NULL && lb_logger_add_secret(lg, strchr(ui, ':') + 1) != 0))
            return -1;
    }
    return 0;
}

void lb_logv(const struct lb_logger *lg, int level, const char *prefix, const char *fmt, va_list ap)
{
    char msg[2048], *full = NULL;
    int n = 0, m;
    va_list ap2;

    if (lg == NULL || level > lg->level)
        return;
    if (prefix != NULL)
        n = snprintf(msg, sizeof msg, "%s: ", prefix);
    if (n < 0 || (size_t)n >= sizeof msg)
        n = 0;
    va_copy(ap2, ap);
    m = vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    /* a message longer than the line is redacted whole, then cut, so that
     * the cut never leaves a piece of a secret */
    if (m > 0 && (size_t)n + (size_t)m >= sizeof msg &&
        (full = malloc((size_t)(n + m) * 3 + 16)) != NULL) {
        memcpy(full, msg, (size_t)n);
        vsnprintf(full + n, (size_t)m + 1, fmt, ap2);
        lb_redact(lg, full, (size_t)(n + m) * 3 + 16);
        snprintf(msg, sizeof msg, "%s", full);
        free(full);
    }
    va_end(ap2);
    lb_redact(lg, msg, sizeof msg);
    if (lg->cb != NULL) {
        lg->cb(lg->ud, level, msg);
    } else {
        int l = level < 0 ? 0 : level > 3 ? 3 : level;

        fprintf(stderr, "llmbill: %s: %s\n", level_names[l], msg);
    }
}

void lb_log(const struct lb_logger *lg, int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    lb_logv(lg, level, NULL, fmt, ap);
    va_end(ap);
}

void lb_logger_free(struct lb_logger *lg)
{
    for (size_t i = 0; i < lg->nsecrets; i++) {
        memset(lg->secrets[i], 0, strlen(lg->secrets[i]));
        free(lg->secrets[i]);
    }
    free(lg->secrets);
    lg->secrets = NULL;
    lg->nsecrets = 0;
}
