/* llmbill sink "lago": a growable byte buffer. */
#define _POSIX_C_SOURCE 200809L
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

void lago_buf_json(struct lago_buf *b, const struct llmbill_host *host, const char *s)
{
    /* one pass: room for the worst case (every byte escaped as \u00XX) */
    size_t worst = strlen(s) * 6 + 2;

    if (lago_buf_reserve(b, worst) != 0)
        return;
    b->len += host->json_string(s, b->p + b->len, worst + 1);
}
