/* llmbill core: the INI model. inih does the tokenising; this file keeps
 * every section and key with its line number so that later validation can
 * say "file:line: [section] key: problem". */
#define _GNU_SOURCE
#include <errno.h>
#include <ini.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"

struct reader {
    const char *text;
    size_t pos, len;
    int line;                   /* number of the line last handed to inih */
    int too_long;               /* line number of an over-long line, or 0 */
    int section_line;           /* line of the last [section] header */
    struct lb_config *cfg;      /* where a header's section is added, keys or not */
    int oom;
    int nul;                    /* line number of a line with a NUL byte, or 0 */
};

static struct lb_section *add_section(struct lb_config *c, const char *name, int line);

struct parse {
    struct lb_config *cfg;
    struct reader *rd;
    char *err;
    size_t errlen;
    int failed;                 /* first error already reported */
    int fail_line;              /* its line */
    int oom;
};

/* inih's reader callback: hands inih one line and counts lines, so the
 * handler knows which line it is on. A line that does not fit inih's buffer
 * stops the parse (inih would silently split it). */
static char *read_line(char *str, int num, void *stream)
{
    struct reader *rd = stream;
    const char *start, *nl;
    size_t n, content;

    if (rd->pos >= rd->len || rd->too_long || rd->nul)
        return NULL;
    start = rd->text + rd->pos;
    nl = memchr(start, '\n', rd->len - rd->pos);
    n = nl ? (size_t)(nl - start) + 1 : rd->len - rd->pos;
    content = n;
    while (content > 0 && (start[content - 1] == '\n' || start[content - 1] == '\r'))
        content--;
    rd->line++;
    /* inih's buffer holds num bytes: the whole line, its terminators and a NUL
     * must fit (a line of stray \r's counts too) */
    if (num < 4 || content + 3 > (size_t)num || n + 1 > (size_t)num) {
        rd->too_long = rd->line;
        return NULL;
    }
    /* inih would read the line up to the NUL and drop the rest unseen */
    if (memchr(start, '\0', n) != NULL) {
        rd->nul = rd->line;
        return NULL;
    }
    memcpy(str, start, n);
    str[n] = '\0';
    rd->pos += n;
    {
        const char *q = str;

        const char *close;

        while (*q == ' ' || *q == '\t')
            q++;
        if (*q == '[') {
            rd->section_line = rd->line;
            /* a section with no keys is kept too (inih reports only keys),
             * so that a bare [pricing] or a misspelt empty section is seen */
            close = strchr(q + 1, ']');
            if (close != NULL) {
                char name[256];

                snprintf(name, sizeof name, "%.*s", (int)(close - q - 1), q + 1);
                if (lb_config_section(rd->cfg, name) == NULL &&
                    add_section(rd->cfg, name, rd->line) == NULL) {
                    rd->oom = 1;
                    return NULL;
                }
            }
        }
    }
    return str;
}

static struct lb_section *add_section(struct lb_config *c, const char *name, int line)
{
    struct lb_section *s;

    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 8;
        struct lb_section *ns = realloc(c->sections, ncap * sizeof *ns);

        if (ns == NULL)
            return NULL;
        c->sections = ns;
        c->cap = ncap;
    }
    s = &c->sections[c->n];
    memset(s, 0, sizeof *s);
    if ((s->name = lb_strdup(name)) == NULL)
        return NULL;
    s->line = line;
    c->n++;
    return s;
}

static int add_entry(struct lb_section *s, const char *key, const char *value, int line)
{
    struct lb_entry *e;

    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 8;
        struct lb_entry *ne = realloc(s->entries, ncap * sizeof *ne);

        if (ne == NULL)
            return -1;
        s->entries = ne;
        s->cap = ncap;
    }
    e = &s->entries[s->n];
    memset(e, 0, sizeof *e);
    e->key = lb_strdup(key);
    e->value = lb_strdup(value);
    e->line = line;
    if (e->key == NULL || e->value == NULL) {
        free(e->key);
        free(e->value);
        return -1;
    }
    s->n++;
    return 0;
}

static int on_pair(void *user, const char *section, const char *name, const char *value)
{
    struct parse *p = user;
    struct lb_config *c = p->cfg;
    int line = p->rd->line;
    struct lb_section *s;
    struct lb_entry *prev;

    if (p->failed)
        return 1;
    if (section[0] == '\0') {
        lb_errf(p->err, p->errlen, "%s:%d: key '%s' is outside any section (start with [llmbill])",
                c->file, line, name);
        p->failed = 1;
        p->fail_line = line;
        return 0;
    }
    s = lb_config_section(c, section);
    if (s == NULL && (s = add_section(c, section, p->rd->section_line)) == NULL)
        goto oom;
    prev = lb_section_entry(s, name);
    if (prev != NULL) {
        lb_errf(p->err, p->errlen,
                "%s:%d: [%s] %s: key set twice (first at line %d; an indented line continues "
                "the previous value)", c->file, line, section, name, prev->line);
        p->failed = 1;
        p->fail_line = line;
        return 0;
    }
    if (add_entry(s, name, value, line) != 0)
        goto oom;
    return 1;
oom:
    p->oom = 1;
    p->failed = 1;
    lb_errf(p->err, p->errlen, "%s: out of memory", c->file);
    return 0;
}

/* Parses text (len bytes) into a new config named file, relative to dir. */
static int parse_text(const char *text, size_t len, const char *file, const char *dir,
                      struct lb_config **out, char *err, size_t errlen)
{
    struct lb_config *c = calloc(1, sizeof *c);
    struct reader rd = { text, 0, len, 0, 0, 0, c, 0, 0 };
    struct parse p = { c, &rd, err, errlen, 0, 0, 0 };
    int rc;

    *out = NULL;
    if (c == NULL || (c->file = lb_strdup(file)) == NULL || (c->dir = lb_strdup(dir)) == NULL) {
        lb_config_free(c);
        lb_errf(err, errlen, "%s: out of memory", file);
        return LLMBILL_ENOMEM;
    }
    rc = ini_parse_stream(read_line, &rd, on_pair, &p);
    if (p.oom || rd.oom) {
        if (rd.oom)
            lb_errf(err, errlen, "%s: out of memory", file);
        lb_config_free(c);
        return LLMBILL_ENOMEM;
    }
    if (rd.too_long && (!p.failed || rd.too_long < rc)) {
        lb_errf(err, errlen, "%s:%d: line too long (at most %d characters)", file, rd.too_long,
                ini_max_line - 3);
        lb_config_free(c);
        return LLMBILL_ECONFIG;
    }
    if (rd.nul && (!p.failed || rd.nul < p.fail_line)) {
        lb_errf(err, errlen, "%s:%d: a NUL byte in the line (a config file is text)", file,
                rd.nul);
        lb_config_free(c);
        return LLMBILL_ECONFIG;
    }
    if (p.failed && (rc <= 0 || rc >= p.fail_line)) {
        lb_config_free(c);
        return LLMBILL_ECONFIG;
    }
    if (rc == -2) {
        lb_config_free(c);
        lb_errf(err, errlen, "%s: out of memory", file);
        return LLMBILL_ENOMEM;
    }
    if (rc != 0) {
        lb_errf(err, errlen, "%s:%d: syntax error (expected [section], key = value, or a ; comment)",
                file, rc);
        lb_config_free(c);
        return LLMBILL_ECONFIG;
    }
    *out = c;
    return 0;
}

int lb_config_load_string(const char *text, struct lb_config **out, char *err, size_t errlen)
{
    int rc = parse_text(text, strlen(text), "<string>", ".", out, err, errlen);

    if (rc != 0)
        lb_ctl_escape_buf(err, errlen); /* names and values from the text, escaped */
    return rc;
}

static int load_file(const char *path, struct lb_config **out, char *err, size_t errlen);

int lb_config_load_file(const char *path, struct lb_config **out, char *err, size_t errlen)
{
    int rc = load_file(path, out, err, errlen);

    if (rc != 0)
        lb_ctl_escape_buf(err, errlen); /* the path, names and values from the file, escaped */
    return rc;
}

/* lb_config_load_file() before its error is escaped. */
static int load_file(const char *path, struct lb_config **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL, *dcopy;
    size_t len = 0, cap = 0;
    int rc;

    *out = NULL;
    if (f == NULL) {
        lb_errf(err, errlen, "%s: cannot open config: %s", path, strerror(errno));
        return LLMBILL_ECONFIG;
    }
    for (;;) {
        size_t n;

        if (cap - len < 4096) {
            char *nb = realloc(buf, cap ? cap * 2 : 8192);

            if (nb == NULL) {
                free(buf);
                fclose(f);
                lb_errf(err, errlen, "%s: out of memory", path);
                return LLMBILL_ENOMEM;
            }
            buf = nb;
            cap = cap ? cap * 2 : 8192;
        }
        n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        lb_errf(err, errlen, "%s: read error: %s", path, strerror(errno));
        free(buf);
        fclose(f);
        return LLMBILL_EIO;
    }
    fclose(f);
    buf[len] = '\0';
    dcopy = lb_strdup(path);
    if (dcopy == NULL) {
        free(buf);
        return LLMBILL_ENOMEM;
    }
    rc = parse_text(buf, len, path, dirname(dcopy), out, err, errlen);
    free(dcopy);
    free(buf);
    return rc;
}

void lb_config_free(struct lb_config *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++) {
        struct lb_section *s = &c->sections[i];

        for (size_t k = 0; k < s->n; k++) {
            free(s->entries[k].key);
            if (s->entries[k].value != NULL) {
                memset(s->entries[k].value, 0, strlen(s->entries[k].value));
                free(s->entries[k].value);
            }
        }
        free(s->entries);
        free(s->name);
    }
    free(c->sections);
    free(c->file);
    free(c->dir);
    free(c);
}

struct lb_section *lb_config_section(const struct lb_config *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->sections[i].name, name) == 0)
            return &c->sections[i];
    return NULL;
}

struct lb_entry *lb_section_entry(const struct lb_section *s, const char *key)
{
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->entries[i].key, key) == 0)
            return &s->entries[i];
    return NULL;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

int lb_key_looks_secret(const char *key)
{
    static const char *const anywhere[] = { "secret", "password", "passwd", "credential" };

    for (size_t i = 0; i < sizeof anywhere / sizeof anywhere[0]; i++)
        if (strcasestr(key, anywhere[i]) != NULL)
            return 1;
    /* api_key, access_token, auth; not input_cost_per_token or auth_retry_ms */
    return ends_with(key, "key") || (ends_with(key, "token") && !ends_with(key, "per_token")) ||
           strcasecmp(key, "auth") == 0 || ends_with(key, "_auth") ||
           strcasecmp(key, "authorization") == 0;
}

int lb_expand_env(const char *raw, char **out, char *err, size_t errlen)
{
    size_t cap = strlen(raw) + 64, len = 0;
    char *buf = malloc(cap);
    const char *p = raw;

    *out = NULL;
    if (buf == NULL)
        return LLMBILL_ENOMEM;
    while (*p) {
        const char *add = p;
        size_t addlen = 1;
        char name[128];

        if (p[0] == '$' && p[1] == '$') {
            addlen = 1;
            p += 2;
        } else if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            const char *def = NULL, *val;
            size_t nl;

            if (end == NULL) {
                lb_errf(err, errlen, "unterminated ${ (expected ${NAME})");
                free(buf);
                return LLMBILL_ECONFIG;
            }
            nl = (size_t)(end - (p + 2));
            for (size_t k = 0; k + 1 < nl; k++) {
                if (p[2 + k] == ':' && p[3 + k] == '-') {
                    def = p + 4 + k;
                    nl = k;
                    break;
                }
            }
            if (nl == 0 || nl >= sizeof name) {
                lb_errf(err, errlen, "bad variable reference (expected ${NAME} or ${NAME:-default})");
                free(buf);
                return LLMBILL_ECONFIG;
            }
            memcpy(name, p + 2, nl);
            name[nl] = '\0';
            for (size_t k = 0; k < nl; k++) {
                char ch = name[k];

                if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_' ||
                      (k > 0 && ch >= '0' && ch <= '9'))) {
                    lb_errf(err, errlen, "bad variable name '%s' in ${...}", name);
                    free(buf);
                    return LLMBILL_ECONFIG;
                }
            }
            val = getenv(name);
            if (val != NULL && val[0] != '\0') {
                add = val;
                addlen = strlen(val);
            } else if (def != NULL) {
                add = def;
                addlen = (size_t)(end - def);
            } else {
                lb_errf(err, errlen, "environment variable %s is not set", name);
                free(buf);
                return LLMBILL_ECONFIG;
            }
            p = end + 1;
        } else {
            p++;
        }
        if (len + addlen + 1 > cap) {
            char *nb;

            cap = (len + addlen + 1) * 2;
            nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                return LLMBILL_ENOMEM;
            }
            buf = nb;
        }
        memcpy(buf + len, add, addlen);
        len += addlen;
    }
    buf[len] = '\0';
    *out = buf;
    return 0;
}
