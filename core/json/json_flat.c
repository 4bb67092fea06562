/* llmbill core: a fast tokenizer for the common shape of a usage line: one
 * object of string keys whose values are strings without escapes or
 * primitives, with at most one level of such objects inside (metadata).
 * It produces exactly the tokens jsmn (JSMN_STRICT, JSMN_PARENT_LINKS)
 * produces for such a text, and gives up (-1) on anything else, before
 * jsmn runs: so it never accepts what jsmn refuses nor reads a text
 * differently, and lb_json_parse_into() stays the one way in. It writes
 * nothing into the text. fuzz_usage_json checks the agreement. */
#include "jsmn_util.h"

/* 1 for the bytes that end a plain run of a string: the quote, the
 * backslash (an escape: left to jsmn) and control characters. */
static const unsigned char string_stop[256] = {
#define R16 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
    R16, R16, 0, 0, 1, /* 0x00-0x1f, then ' ', '!', '"' */
#undef R16
    ['\\'] = 1,
};

/* What a byte is to a primitive: 0 part of it (printable ASCII), 1 the
 * delimiter that ends it (jsmn's strict ones), 2 a byte jsmn refuses in it
 * (control characters, DEL and above). */
static const unsigned char prim_class[256] = {
#define R16 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2
    2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 2, 2, 1, 2, 2, /* 0x00-0x0f: \t \n \r end it */
    R16,                                            /* 0x10-0x1f */
    [' '] = 1, [','] = 1, [']'] = 1, ['}'] = 1,
    [0x7f] = 2, R16, R16, R16, R16, R16, R16, R16, R16,
#undef R16
};

struct flat {
    const unsigned char *s;
    int len, n, cap;
    jsmntok_t *t;
};

static int ws(const struct flat *f, int i)
{
    while (i < f->len && (f->s[i] == ' ' || f->s[i] == '\t' || f->s[i] == '\n' || f->s[i] == '\r'))
        i++;
    return i;
}

/* A new token as jsmn fills it; its index, or -1 when the tokens run out. */
static int tok(struct flat *f, jsmntype_t type, int start, int end, int parent)
{
    jsmntok_t *t;

    if (f->n == f->cap)
        return -1;
    t = &f->t[f->n];
    t->type = type;
    t->start = start;
    t->end = end;
    t->size = 0;
    t->parent = parent;
    return f->n++;
}

/* The string at s[*i] == '"', without escapes or control characters;
 * *i moves past its closing quote. Its token index, or -1. */
static int string(struct flat *f, int *i, int parent)
{
    int start = *i + 1, j = start;

    while (j < f->len && !string_stop[f->s[j]])
        j++;
    if (j >= f->len || f->s[j] != '"')
        return -1;
    *i = j + 1;
    return tok(f, JSMN_STRING, start, j, parent);
}

/* The primitive at s[*i] (jsmn strict: it starts with - 0-9 t f n and runs
 * to a delimiter over printable ASCII); *i moves to the delimiter. */
static int primitive(struct flat *f, int *i, int parent)
{
    int start = *i, j = start;
    unsigned char c = f->s[j];

    if (!(c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n'))
        return -1;
    while (j < f->len && prim_class[f->s[j]] == 0)
        j++;
    /* jsmn strict: a primitive must be followed by a delimiter */
    if (j >= f->len || prim_class[f->s[j]] != 1)
        return -1;
    *i = j;
    return tok(f, JSMN_PRIMITIVE, start, j, parent);
}

/* The object at s[*i] == '{' (its keys' values may be objects only when
 * nested is 1); *i moves past its '}'. 0, or -1. */
static int object(struct flat *f, int *i, int parent, int nested)
{
    int o = tok(f, JSMN_OBJECT, *i, -1, parent), p = ws(f, *i + 1);

    if (o < 0)
        return -1;
    if (p < f->len && f->s[p] == '}')
        goto close;
    for (;;) {
        int k, v;

        if (p >= f->len || f->s[p] != '"' || (k = string(f, &p, o)) < 0)
            return -1;
        f->t[o].size++;
        p = ws(f, p);
        if (p >= f->len || f->s[p] != ':')
            return -1;
        if ((p = ws(f, p + 1)) >= f->len)
            return -1;
        if (f->s[p] == '"')
            v = string(f, &p, k);
        else if (f->s[p] == '{' && nested)
            v = object(f, &p, k, 0);
        else
            v = primitive(f, &p, k);
        if (v < 0)
            return -1;
        f->t[k].size = 1;
        p = ws(f, p);
        if (p < f->len && f->s[p] == ',') {
            p = ws(f, p + 1);
            continue;
        }
        if (p < f->len && f->s[p] == '}')
            break;
        return -1;
    }
close:
    f->t[o].end = p + 1;
    *i = p + 1;
    return 0;
}

int lb_json_flat(const char *js, int len, jsmntok_t *t, int cap)
{
    struct flat f = { (const unsigned char *)js, len, 0, cap, t };
    int i = ws(&f, 0);

    if (i >= len || js[i] != '{' || object(&f, &i, -1, 1) != 0 || ws(&f, i) != len)
        return -1;
    return f.n;
}
