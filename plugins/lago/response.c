/* llmbill sink "lago": reading Lago's 422 answers to /events/batch.
 *
 * Lago checks every event of a batch and answers 422 with error_details
 * mapping each failing index (as a string key) to its errors; nothing of the
 * batch is stored then. {"transaction_id":["value_already_exist"]} alone
 * means Lago already holds that event. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "lago.h"

#define MAX_TOKENS 8192
#define MAX_DEPTH 32            /* Lago's answers nest 4 deep */

/* 1 when body nests deeper than MAX_DEPTH: checked before jsmn runs, so
 * neither jsmn's walk back at each closing bracket nor skip()'s recursion
 * grows with a hostile answer's depth. */
static int too_deep(const char *js, size_t len)
{
    int depth = 0, in_str = 0;

    for (size_t i = 0; i < len && js[i] != '\0'; i++) {
        if (in_str) {
            if (js[i] == '\\')
                i++;
            else if (js[i] == '"')
                in_str = 0;
        } else if (js[i] == '"') {
            in_str = 1;
        } else if ((js[i] == '{' || js[i] == '[') && ++depth > MAX_DEPTH) {
            return 1;
        } else if (js[i] == '}' || js[i] == ']') {
            depth--;
        }
    }
    return 0;
}

static int tok_is(const char *js, const jsmntok_t *t, const char *s)
{
    size_t n = strlen(s);

    return (size_t)(t->end - t->start) == n && memcmp(js + t->start, s, n) == 0;
}

/* Index just past t[i] and its children, or -1 when the tokens run out. */
static int skip(const jsmntok_t *t, int i, int n)
{
    int count, type;

    if (i < 0 || i >= n)
        return -1;
    count = t[i].type == JSMN_OBJECT || t[i].type == JSMN_ARRAY ? t[i].size : 0;
    type = t[i].type;
    i++;
    while (count-- > 0) {
        if (type == JSMN_OBJECT && (i = skip(t, i, n)) < 0)
            return -1;
        if ((i = skip(t, i, n)) < 0)
            return -1;
    }
    return i;
}

/* Finds key in the object at t[obj]; returns the value's index or -1. */
static int get(const char *js, const jsmntok_t *t, int n, int obj, const char *key)
{
    int i = obj + 1, end = skip(t, obj, n);

    if (t[obj].type != JSMN_OBJECT || end < 0)
        return -1;
    while (i < end) {
        if (i + 1 >= n)
            return -1;
        if (tok_is(js, &t[i], key))
            return i + 1;
        i = skip(t, i + 1, n);
        if (i < 0)
            return -1;
    }
    return -1;
}

/* 1 when the value at t[v] is exactly {"transaction_id":["value_already_exist"]}. */
static int is_duplicate(const char *js, const jsmntok_t *t, int n, int v)
{
    return t[v].type == JSMN_OBJECT && t[v].size == 1 && v + 3 < n &&
           tok_is(js, &t[v + 1], "transaction_id") && t[v + 2].type == JSMN_ARRAY &&
           t[v + 2].size == 1 && tok_is(js, &t[v + 3], "value_already_exist");
}

/* Lago's errors for one index, flattened: "timestamp: invalid_format". */
static void describe(const char *js, const jsmntok_t *t, int n, int v, char *out, size_t cap)
{
    size_t len = 0;
    int end = skip(t, v, n);

#define ADD(...) do { if (len < cap) len += (size_t)snprintf(out + len, cap - len, __VA_ARGS__); } while (0)
    out[0] = '\0';
    if (t[v].type != JSMN_OBJECT) {
        ADD("%.*s", t[v].end - t[v].start, js + t[v].start);
        return;
    }
    for (int i = v + 1; i >= 0 && i + 1 < end;) {
        int val = i + 1, vend = skip(t, val, n);

        ADD("%s%.*s: ", len ? "; " : "", t[i].end - t[i].start, js + t[i].start);
        if (t[val].type == JSMN_ARRAY) {
            int first = 1;

            for (int j = val + 1; j >= 0 && j < vend; j = skip(t, j, n)) {
                ADD("%s%.*s", first ? "" : ", ", t[j].end - t[j].start, js + t[j].start);
                first = 0;
            }
        } else {
            ADD("%.*s", t[val].end - t[val].start, js + t[val].start);
        }
        i = vend;
    }
#undef ADD
    if (len >= cap)
        out[cap - 1] = '\0';
}

int lago_parse_422(const char *body, size_t len, size_t nev, int *item,
                   char (*reason)[LAGO_REASON_LEN])
{
    jsmn_parser p;
    jsmntok_t *t;
    int n, d, end, rc = LAGO_422_UNKNOWN, flagged = 0;

    for (size_t i = 0; i < nev; i++) {
        item[i] = LAGO_ITEM_NONE;
        reason[i][0] = '\0';
    }
    if (too_deep(body, len))
        return LAGO_422_UNKNOWN;
    jsmn_init(&p);
    n = jsmn_parse(&p, body, len, NULL, 0);
    if (n <= 0 || n > MAX_TOKENS)
        return LAGO_422_UNKNOWN;
    t = malloc((size_t)n * sizeof *t);
    if (t == NULL)
        return LAGO_422_UNKNOWN;
    jsmn_init(&p);
    if (jsmn_parse(&p, body, len, t, (unsigned)n) != n || t[0].type != JSMN_OBJECT ||
        skip(t, 0, n) != n)
        goto out;
    d = get(body, t, n, 0, "error_details");
    if (d < 0 || t[d].type != JSMN_OBJECT)
        goto out;
    {
        int ev = get(body, t, n, d, "events");

        if (ev >= 0) {
            rc = ev + 1 < n && t[ev].type == JSMN_ARRAY && t[ev].size >= 1 &&
                 tok_is(body, &t[ev + 1], "too_many_events") ? LAGO_422_TOO_MANY
                 : LAGO_422_NO_EVENTS;
            goto out;
        }
    }
    end = skip(t, d, n);
    for (int i = d + 1; i < end;) {
        char key[16];
        char *e;
        long idx;
        int v = i + 1;

        if (t[i].type != JSMN_STRING || t[i].end - t[i].start >= (int)sizeof key || v >= n)
            goto unknown;
        snprintf(key, sizeof key, "%.*s", t[i].end - t[i].start, body + t[i].start);
        idx = strtol(key, &e, 10);
        if (*e != '\0' || e == key || idx < 0 || (size_t)idx >= nev)
            goto unknown;
        if (is_duplicate(body, t, n, v)) {
            item[idx] = LAGO_ITEM_DUP;
        } else {
            item[idx] = LAGO_ITEM_ERROR;
            describe(body, t, n, v, reason[idx], LAGO_REASON_LEN);
        }
        flagged++;
        i = skip(t, v, n);
    }
    rc = flagged > 0 ? LAGO_422_PER_INDEX : LAGO_422_UNKNOWN;
    goto out;
unknown:
    for (size_t i = 0; i < nev; i++)
        item[i] = LAGO_ITEM_NONE;
    rc = LAGO_422_UNKNOWN;
out:
    free(t);
    return rc;
}
