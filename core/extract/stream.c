/* llmbill core: usage from streamed responses (server-sent events), fed in
 * chunks split anywhere. Lines are assembled, "data:" fields joined per
 * event, and each event's JSON goes to its shape's reader. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extract_int.h"
#include "lb.h"

#define MAX_LINE (1u << 20)

struct llmbill_stream {
    uint32_t shape;             /* LLMBILL_SHAPE_*; OPENAI_CHAT also reads Responses events */
    char *line, *data;
    size_t llen, lcap, dlen, dcap;
    int has_data;
    struct llmbill_extracted x;
    struct lb_anthropic a;
    int have_usage, failed;
};

int llmbill_stream_new(llmbill_stream **out, uint32_t shape)
{
    llmbill_stream *s;

    if (out == NULL || shape < LLMBILL_SHAPE_OPENAI_CHAT || shape > LLMBILL_SHAPE_GEMINI)
        return LLMBILL_EINVAL;
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return LLMBILL_ENOMEM;
    s->shape = shape;
    s->x.struct_size = sizeof s->x;
    s->x.shape = shape;
    snprintf(s->x.provider, sizeof s->x.provider, "%s", shape == LLMBILL_SHAPE_ANTHROPIC
             ? "anthropic" : shape == LLMBILL_SHAPE_GEMINI ? "gemini" : "openai");
    *out = s;
    return 0;
}

int llmbill_stream_new_for(llmbill_stream **out, const char *provider)
{
    uint32_t shape = lb_shape_for(provider);

    if (out != NULL)
        *out = NULL;
    return shape == 0 ? LLMBILL_ENOTFOUND : llmbill_stream_new(out, shape);
}

void llmbill_stream_free(llmbill_stream *s)
{
    if (s == NULL)
        return;
    free(s->line);
    free(s->data);
    free(s);
}

static int append(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
    if (*len + n + 1 > MAX_LINE)
        return -1;
    if (*len + n + 1 > *cap) {
        size_t ncap = (*len + n + 1) * 2;
        char *nb = realloc(*buf, ncap);

        if (nb == NULL)
            return -1;
        *buf = nb;
        *cap = ncap;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

/* One event's JSON, read by the stream's shape. */
static int on_event(llmbill_stream *s, char *err, size_t errlen)
{
    struct lb_jdoc d;
    int rc, typ;

    if (s->dlen == 6 && memcmp(s->data, "[DONE]", 6) == 0)
        return 0;
    if ((rc = lb_jdoc_parse(&d, s->data, s->dlen, err, errlen)) != 0)
        return rc;
    typ = lb_json_get(d.js, d.t, d.n, 0, "type");
    rc = 1;
    if (s->shape == LLMBILL_SHAPE_ANTHROPIC) {
        int m = lb_json_get(d.js, d.t, d.n, 0, "message");

        if (typ >= 0 && lb_json_eq(d.js, &d.t[typ], "error", 5)) {
            lb_errf(err, errlen, "the stream reported an error: %.*s", d.t[0].end - d.t[0].start,
                    d.js + d.t[0].start);
            rc = LLMBILL_EINVAL;
        } else if (m >= 0 && d.t[m].type == JSMN_OBJECT) {   /* message_start */
            rc = lb_extract_anthropic_message(&d, m, &s->a, &s->x, err, errlen);
        } else {                                             /* message_delta */
            int u = lb_json_get(d.js, d.t, d.n, 0, "usage");

            if (u >= 0 && d.t[u].type == JSMN_OBJECT)
                rc = lb_extract_anthropic_usage(&d, u, &s->a, err, errlen);
        }
    } else if (s->shape == LLMBILL_SHAPE_GEMINI) {
        rc = lb_extract_gemini(&d, 0, &s->x, err, errlen);
    } else if (typ >= 0 && d.t[typ].type == JSMN_STRING && d.t[typ].end - d.t[typ].start > 9 &&
               memcmp(d.js + d.t[typ].start, "response.", 9) == 0) {
        /* Responses API: the usage is in response.completed (or .incomplete) */
        int r = lb_json_get(d.js, d.t, d.n, 0, "response");

        s->x.shape = LLMBILL_SHAPE_OPENAI_RESPONSES;
        if (r >= 0 && d.t[r].type == JSMN_OBJECT)
            rc = lb_extract_openai_responses(&d, r, &s->x, err, errlen);
    } else {
        rc = lb_extract_openai_chat(&d, 0, &s->x, err, errlen);
    }
    lb_jdoc_free(&d);
    if (rc == 0)
        s->have_usage = 1;
    return rc < 0 ? rc : 0;
}

/* One complete line of the stream (without its line break). */
static int on_line(llmbill_stream *s, const char *l, size_t n, char *err, size_t errlen)
{
    if (n == 0) {                       /* blank line: the event is complete */
        int rc = s->has_data ? on_event(s, err, errlen) : 0;

        s->dlen = 0;
        s->has_data = 0;
        return rc;
    }
    if (n >= 5 && memcmp(l, "data:", 5) == 0) {
        l += 5;
        n -= 5;
        if (n > 0 && *l == ' ') {
            l++;
            n--;
        }
        if ((s->has_data && append(&s->data, &s->dlen, &s->dcap, "\n", 1) != 0) ||
            append(&s->data, &s->dlen, &s->dcap, l, n) != 0) {
            lb_errf(err, errlen, "an event is longer than %u bytes", MAX_LINE);
            return LLMBILL_EINVAL;
        }
        s->has_data = 1;
    }
    /* "event:", "id:", "retry:" and ": comments" carry nothing we need */
    return 0;
}

int llmbill_stream_feed(llmbill_stream *s, const char *data, size_t len, char *err, size_t errlen)
{
    size_t i = 0;

    if (s == NULL || (data == NULL && len > 0))
        return LLMBILL_EINVAL;
    if (s->failed) {
        lb_errf(err, errlen, "the stream already failed");
        return LLMBILL_EINVAL;
    }
    while (i < len) {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (data + i)) : len - i;
        int rc;

        if (append(&s->line, &s->llen, &s->lcap, data + i, n) != 0) {
            lb_errf(err, errlen, "a line is longer than %u bytes", MAX_LINE);
            s->failed = 1;
            return LLMBILL_EINVAL;
        }
        i += n;
        if (nl == NULL)
            break;
        i++;
        if (s->llen > 0 && s->line[s->llen - 1] == '\r')
            s->line[--s->llen] = '\0';
        rc = on_line(s, s->line ? s->line : "", s->llen, err, errlen);
        s->llen = 0;
        if (rc != 0) {
            s->failed = 1;
            return rc;
        }
    }
    return 0;
}

int llmbill_stream_finish(llmbill_stream *s, struct llmbill_extracted *out, char *err, size_t errlen)
{
    int rc;

    if (s == NULL || out == NULL)
        return LLMBILL_EINVAL;
    if (s->failed) {
        lb_errf(err, errlen, "the stream failed earlier");
        return LLMBILL_EINVAL;
    }
    /* a last line or event without its terminating blank line */
    if (s->llen > 0 && (rc = on_line(s, s->line, s->llen, err, errlen)) != 0)
        return rc;
    s->llen = 0;
    if (s->has_data && (rc = on_line(s, "", 0, err, errlen)) != 0)
        return rc;
    if (!s->have_usage) {
        lb_errf(err, errlen, "the stream carried no usage%s", s->shape == LLMBILL_SHAPE_OPENAI_CHAT
                ? " (request it with stream_options.include_usage)" : "");
        return LLMBILL_EINVAL;
    }
    if (s->shape == LLMBILL_SHAPE_ANTHROPIC)
        lb_anthropic_finish(&s->a, &s->x);
    if ((rc = lb_extract_check(&s->x, err, errlen)) != 0)
        return rc;
    {
        uint32_t size = out->struct_size ? out->struct_size : sizeof *out;

        memcpy(out, &s->x, size < sizeof s->x ? size : sizeof s->x);
        out->struct_size = size;
    }
    return 0;
}
