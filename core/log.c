/* llmbill core: log lines, with every known secret redacted before output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"

#define REDACTED "[REDACTED]"

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int lb_logger_add_secret(struct lb_logger *lg, const char *value)
{
    char **n;

    if (value == NULL || strlen(value) < 4)
        return 0;
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

void lb_redact(const struct lb_logger *lg, char *buf, size_t cap)
{
    if (lg == NULL || cap == 0)
        return;
    for (size_t i = 0; i < lg->nsecrets; i++) {
        const char *sec = lg->secrets[i];
        size_t sl = strlen(sec), rl = strlen(REDACTED);
        char *p = buf;

        while ((p = strstr(p, sec)) != NULL) {
            size_t tail = strlen(p + sl);
            size_t off = (size_t)(p - buf);

            if (off + rl + tail + 1 > cap)
                tail = cap > off + rl + 1 ? cap - off - rl - 1 : 0;
            if (off + rl + 1 > cap) {
                /* no room for the marker: cut the line at the secret */
                *p = '\0';
                break;
            }
            memmove(p + rl, p + sl, tail);
            memcpy(p, REDACTED, rl);
            p[rl + tail] = '\0';
            p += rl;
        }
    }
}

void lb_logv(const struct lb_logger *lg, int level, const char *prefix, const char *fmt, va_list ap)
{
    char msg[2048];
    int n = 0;

    if (lg == NULL || level > lg->level)
        return;
    if (prefix != NULL)
        n = snprintf(msg, sizeof msg, "%s: ", prefix);
    if (n < 0 || (size_t)n >= sizeof msg)
        n = 0;
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
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
