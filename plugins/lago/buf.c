/* llmbill sink "lago": a growable byte buffer. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lago.h"

int lago_buf_reserve(struct lago_buf *b, size_t need)
{
    size_t cap = b->cap ? b->cap : 4096;
    char *p;

    if (b->oom)
        return -1;
    while (cap < b->len + need + 1)
        cap *= 2;
    if (cap == b->cap)
        return 0;
    p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void lago_buf_puts(struct lago_buf *b, const char *s)
{
    lago_buf_put(b, s, strlen(s));
}

void lago_buf_printf(struct lago_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || lago_buf_reserve(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}
