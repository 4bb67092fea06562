/* llmbill core: usage from streamed responses, fed in chunks split
 * anywhere. Three framings:
 *   - server-sent events: lines assembled, "data:" fields joined per event,
 *     each event's JSON to its shape's reader;
 *   - Gemini's streamGenerateContent without alt=sse: one JSON array whose
 *     elements arrive one by one; each complete element is read at once;
 *   - Bedrock's AWS event-stream binary frames (eventstream.c).
 * A stream counts only once its final usage arrived: an Anthropic
 * message_delta, a Gemini chunk with a finishReason, a Responses terminal
 * event, a Bedrock metadata event or invocation metrics. Cut short before
 * that, it is an error that says so (its running counts are not final). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eventstream.h"
#include "extract_int.h"
#include "lb.h"

#define MAX_LINE (1u << 20)

enum { FRAME_UNKNOWN, FRAME_SSE, FRAME_ARRAY, FRAME_BINARY };

struct llmbill_stream {
    uint32_t shape;             /* LLMBILL_SHAPE_*; OPENAI_CHAT also reads Responses events */
    int frame;                  /* FRAME_* */
    char *line, *data;
    size_t llen, lcap, dlen, dcap;
    int has_data;
    /* JSON array framing: nesting depth inside the array, string state */
    int depth, in_str, esc, array_open, array_closed;
    struct llmbill_extracted x;
    struct lb_anthropic a;
    int have_usage, final, failed, responses;
    int raw;                    /* inside plain JSON lines (a Gemini error) */
    int reported;               /* the stream reported an error */
    int searched;               /* a Chat chunk cited the web (url_citation) */
};

int llmbill_stream_new(llmbill_stream **out, uint32_t shape)
{
    llmbill_stream *s;

    if (out == NULL || shape < LLMBILL_SHAPE_OPENAI_CHAT || shape > LLMBILL_SHAPE_BEDROCK)
        return LLMBILL_EINVAL;
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return LLMBILL_ENOMEM;
    s->shape = shape;
    s->frame = shape == LLMBILL_SHAPE_BEDROCK ? FRAME_BINARY : shape == LLMBILL_SHAPE_GEMINI
               ? FRAME_UNKNOWN : FRAME_SSE;
    s->x.struct_size = sizeof s->x;
    s->x.shape = shape;
    snprintf(s->x.provider, sizeof s->x.provider, "%s", lb_shape_provider(shape));
    *out = s;
    return 0;
}

int llmbill_stream_new_for(llmbill_stream **out, const char *provider)
{
    uint32_t shape = lb_shape_for(provider);
    int rc;

    if (out != NULL)
        *out = NULL;
    if (shape == 0)
        return LLMBILL_ENOTFOUND;
    if ((rc = llmbill_stream_new(out, shape)) == 0 && shape == LLMBILL_SHAPE_OPENAI_CHAT)
        snprintf((*out)->x.provider, sizeof (*out)->x.provider, "%s", provider);
    return rc;
}

void llmbill_stream_free(llmbill_stream *s)
{
    if (s == NULL)
        return;
    free(s->line);
    free(s->data);
    free(s);
}

static int append(char **buf, size_t *len, size_t *cap, const char *p, size_t n, size_t max)
{
    if (*len + n + 1 > max)
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

/* An error event's text, quoted in the reason. */
static int reported_error(llmbill_stream *s, const struct lb_jdoc *d, int obj, char *err,
                          size_t errlen)
{
    s->reported = 1;
    lb_errf(err, errlen, "the stream reported an error: %.*s", d->t[obj].end - d->t[obj].start,
            d->js + d->t[obj].start);
    return LLMBILL_EINVAL;
}

/* One Anthropic event (SSE, or a Bedrock InvokeModel chunk). */
static int anthropic_event(llmbill_stream *s, const struct lb_jdoc *d, int typ, char *err,
                           size_t errlen)
{
    int m = lb_json_get(d->js, d->t, d->n, 0, "message"), rc = 1;
    int metrics = lb_json_get(d->js, d->t, d->n, 0, "amazon-bedrock-invocationMetrics");

    if (typ >= 0 && lb_json_eq(d->js, &d->t[typ], "error", 5))
        return reported_error(s, d, 0, err, errlen);
    if (m >= 0 && d->t[m].type == JSMN_OBJECT) {            /* message_start */
        rc = lb_extract_anthropic_message(d, m, &s->a, &s->x, err, errlen);
    } else if (typ >= 0 && lb_json_eq(d->js, &d->t[typ], "message_delta", 13)) {
        int u = lb_json_get(d->js, d->t, d->n, 0, "usage");

        if (u >= 0 && d->t[u].type == JSMN_OBJECT &&
            (rc = lb_extract_anthropic_usage(d, u, &s->a, err, errlen)) == 0)
            s->final = 1; /* the output count is known only now */
    }
    if (rc >= 0 && metrics >= 0 && d->t[metrics].type == JSMN_OBJECT) {
        /* Bedrock's own count on message_stop: input excludes the cache */
        uint64_t v[4] = { 0, 0, 0, 0 };
        static const char *const keys[4] = { "inputTokenCount", "outputTokenCount",
                                             "cacheReadInputTokenCount",
                                             "cacheWriteInputTokenCount" };

        for (int k = 0; k < 4; k++) {
            int t = lb_json_get(d->js, d->t, d->n, metrics, keys[k]);

            if (t >= 0 && lb_json_u64(d->js, &d->t[t], &v[k]) != 0) {
                lb_errf(err, errlen, "invocationMetrics.%s: expected a non-negative integer",
                        keys[k]);
                return LLMBILL_EINVAL;
            }
        }
        s->a.input = v[0];
        s->a.output = v[1];
        s->a.cache_read = v[2];
        s->a.cache_write = v[3];
        s->final = 1;
        rc = 0;
    }
    return rc;
}

/* Responses API events: usage in the terminal response.completed,
 * response.incomplete or response.failed. */
static int responses_event(llmbill_stream *s, const struct lb_jdoc *d, int typ, char *err,
                           size_t errlen)
{
    int r = lb_json_get(d->js, d->t, d->n, 0, "response"), rc = 1;
    int failed = lb_json_eq(d->js, &d->t[typ], "response.failed", 15);

    s->x.shape = LLMBILL_SHAPE_OPENAI_RESPONSES;
    s->responses = 1;
    if (r >= 0 && d->t[r].type == JSMN_OBJECT)
        rc = lb_extract_openai_responses(d, r, &s->x, err, errlen);
    if (failed || lb_json_eq(d->js, &d->t[typ], "response.completed", 18) ||
        lb_json_eq(d->js, &d->t[typ], "response.incomplete", 19)) {
        if (rc == 1) {
            int msg = lb_json_get(d->js, d->t, d->n, r, "error.message");

            lb_errf(err, errlen, "%.*s carried no usage%s%.*s", d->t[typ].end - d->t[typ].start,
                    d->js + d->t[typ].start, msg >= 0 ? ": " : "",
                    msg >= 0 ? d->t[msg].end - d->t[msg].start : 0,
                    msg >= 0 ? d->js + d->t[msg].start : "");
            return LLMBILL_EINVAL;
        }
        if (failed)
            s->x.status = LLMBILL_STATUS_FAILURE;
        s->final = 1;
    }
    return rc;
}

/* One event's (or array element's) JSON, read by the stream's shape. */
static int on_json(llmbill_stream *s, const char *js, size_t len, char *err, size_t errlen)
{
    struct lb_jdoc d;
    int rc, typ;

    if (len == 6 && memcmp(js, "[DONE]", 6) == 0)
        return 0;
    if ((rc = lb_jdoc_parse(&d, js, len, err, errlen)) != 0)
        return rc;
    typ = lb_json_get(d.js, d.t, d.n, 0, "type");
    if (typ >= 0 && d.t[typ].type != JSMN_STRING)
        typ = -1;
    rc = 1;
    if (s->shape == LLMBILL_SHAPE_ANTHROPIC || s->shape == LLMBILL_SHAPE_BEDROCK) {
        rc = anthropic_event(s, &d, typ, err, errlen);
    } else if (lb_json_get(d.js, d.t, d.n, 0, "error") >= 0 ||
               (typ >= 0 && lb_json_eq(d.js, &d.t[typ], "error", 5))) {
        rc = reported_error(s, &d, 0, err, errlen);     /* mid-stream error, any API */
    } else if (s->shape == LLMBILL_SHAPE_GEMINI) {
        rc = lb_extract_gemini(&d, 0, &s->x, err, errlen);
        if (rc >= 0 && lb_gemini_final(&d, 0))
            s->final = 1;
    } else if (typ >= 0 && d.t[typ].end - d.t[typ].start > 9 &&
               memcmp(d.js + d.t[typ].start, "response.", 9) == 0) {
        rc = responses_event(s, &d, typ, err, errlen);
    } else {
        if (lb_chat_searched(&d, 0))
            s->searched = 1; /* citations come in chunks before the usage */
        rc = lb_extract_openai_chat(&d, 0, &s->x, err, errlen);
        if (rc == 0)
            s->final = 1; /* the include_usage chunk (xAI, Groq: the last one seen) */
    }
    lb_jdoc_free(&d);
    if (rc == 0)
        s->have_usage = 1;
    return rc < 0 ? rc : 0;
}

/* One complete line of an SSE stream (without its line break). */
static int on_line(llmbill_stream *s, const char *l, size_t n, char *err, size_t errlen)
{
    if (n == 0) {                       /* blank line: the event is complete */
        int rc = s->has_data ? on_json(s, s->data, s->dlen, err, errlen) : 0;

        s->dlen = 0;
        s->has_data = 0;
        s->raw = 0;
        return rc;
    }
    if (s->shape == LLMBILL_SHAPE_GEMINI && (s->raw || l[0] == '{')) {
        /* Gemini sends a mid-stream error as plain JSON lines without
         * "data:": they are joined into one event like data lines */
        s->raw = 1;
    } else if (n >= 5 && memcmp(l, "data:", 5) == 0) {
        l += 5;
        n -= 5;
        if (n > 0 && *l == ' ') {
            l++;
            n--;
        }
    } else {
        return 0; /* "event:", "id:", "retry:" and ": comments" carry nothing we need */
    }
    if ((s->has_data && append(&s->data, &s->dlen, &s->dcap, "\n", 1, MAX_LINE) != 0) ||
        append(&s->data, &s->dlen, &s->dcap, l, n, MAX_LINE) != 0) {
        lb_errf(err, errlen, "an event is longer than %u bytes", MAX_LINE);
        return LLMBILL_EINVAL;
    }
    s->has_data = 1;
    return 0;
}

static int feed_sse(llmbill_stream *s, const char *data, size_t len, char *err, size_t errlen)
{
    size_t i = 0;

    while (i < len) {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (data + i)) : len - i;
        int rc;

        if (append(&s->line, &s->llen, &s->lcap, data + i, n, MAX_LINE) != 0) {
            lb_errf(err, errlen, "a line is longer than %u bytes", MAX_LINE);
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
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Gemini's JSON array: each top-level element is read once complete. */
static int feed_array(llmbill_stream *s, const char *data, size_t len, char *err, size_t errlen)
{
    for (size_t i = 0; i < len; i++) {
        char c = data[i];

        if (s->depth == 0) {
            if (c == ' ' || c == '\n' || c == '\r' || c == '\t' || (c == ',' && s->array_open &&
                                                                    !s->array_closed))
                continue;
            if (c == '[' && !s->array_open) {
                s->array_open = 1;
                continue;
            }
            if (c == ']' && s->array_open && !s->array_closed) {
                s->array_closed = 1;
                continue;
            }
            if (c != '{' || !s->array_open || s->array_closed) {
                lb_errf(err, errlen, "JSON array stream: unexpected '%c' between elements", c);
                return LLMBILL_EINVAL;
            }
            s->llen = 0;
        }
        if (append(&s->line, &s->llen, &s->lcap, &c, 1, MAX_LINE) != 0) {
            lb_errf(err, errlen, "an array element is longer than %u bytes", MAX_LINE);
            return LLMBILL_EINVAL;
        }
        if (s->in_str) {
            if (s->esc)
                s->esc = 0;
            else if (c == '\\')
                s->esc = 1;
            else if (c == '"')
                s->in_str = 0;
            continue;
        }
        if (c == '"') {
            s->in_str = 1;
        } else if (c == '{' || c == '[') {
            s->depth++;
        } else if (c == '}' || c == ']') {
            int rc;

            if (--s->depth > 0)
                continue;
            rc = on_json(s, s->line, s->llen, err, errlen);
            s->llen = 0;
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* One Bedrock event-stream message. */
static int on_message(llmbill_stream *s, const struct lb_evs_msg *m, char *err, size_t errlen)
{
    const char *p = (const char *)m->payload;

    if (m->message_type != NULL && !(m->message_type_len == 5 &&
                                     memcmp(m->message_type, "event", 5) == 0)) {
        lb_errf(err, errlen, "the stream reported an exception: %.*s: %.*s",
                (int)m->exception_type_len, m->exception_type ? m->exception_type : "",
                (int)(m->payload_len > 200 ? 200 : m->payload_len), p);
        return LLMBILL_EINVAL;
    }
    if (m->event_type == NULL)
        return 0;
    if (m->event_type_len == 8 && memcmp(m->event_type, "metadata", 8) == 0) {
        struct lb_jdoc d;
        int rc;

        if ((rc = lb_jdoc_parse(&d, p, m->payload_len, err, errlen)) != 0)
            return rc;
        rc = lb_extract_bedrock(&d, 0, &s->x, err, errlen);
        lb_jdoc_free(&d);
        if (rc == 0)
            s->have_usage = s->final = 1;
        return rc < 0 ? rc : 0;
    }
    if (m->event_type_len == 5 && memcmp(m->event_type, "chunk", 5) == 0) {
        /* InvokeModelWithResponseStream: {"bytes":"<base64 of one Anthropic event>"} */
        struct lb_jdoc d;
        unsigned char *raw;
        size_t rawlen = 0;
        int rc, b;

        if ((rc = lb_jdoc_parse(&d, p, m->payload_len, err, errlen)) != 0)
            return rc;
        b = lb_json_get(d.js, d.t, d.n, 0, "bytes");
        if (b < 0 || d.t[b].type != JSMN_STRING) {
            lb_jdoc_free(&d);
            lb_errf(err, errlen, "chunk event without bytes");
            return LLMBILL_EINVAL;
        }
        raw = malloc((size_t)(d.t[b].end - d.t[b].start) / 4 * 3 + 4);
        if (raw == NULL) {
            lb_jdoc_free(&d);
            return LLMBILL_ENOMEM;
        }
        if (lb_base64_decode(d.js + d.t[b].start, (size_t)(d.t[b].end - d.t[b].start), raw,
                             (size_t)(d.t[b].end - d.t[b].start) / 4 * 3 + 4, &rawlen) != 0) {
            lb_errf(err, errlen, "chunk event: bytes is not base64");
            rc = LLMBILL_EINVAL;
        } else {
            rc = on_json(s, (const char *)raw, rawlen, err, errlen);
        }
        free(raw);
        lb_jdoc_free(&d);
        return rc;
    }
    return 0; /* messageStart, contentBlockDelta, messageStop, ... */
}

static int feed_binary(llmbill_stream *s, const char *data, size_t len, char *err, size_t errlen)
{
    size_t off = 0;

    if (append(&s->line, &s->llen, &s->lcap, data, len, LB_EVS_MAX + (size_t)1) != 0 &&
        len > 0) {
        lb_errf(err, errlen, "event-stream: a message is longer than %u bytes", LB_EVS_MAX);
        return LLMBILL_EINVAL;
    }
    for (;;) {
        struct lb_evs_msg m;
        int n = lb_evs_decode((const unsigned char *)s->line + off, s->llen - off, &m, err, errlen);
        int rc;

        if (n < 0)
            return LLMBILL_EINVAL;
        if (n == 0)
            break;
        if ((rc = on_message(s, &m, err, errlen)) != 0)
            return rc;
        off += (size_t)n;
    }
    memmove(s->line, s->line + off, s->llen - off);
    s->llen -= off;
    return 0;
}

int llmbill_stream_feed(llmbill_stream *s, const char *data, size_t len, char *err, size_t errlen)
{
    int rc;

    if (s == NULL || (data == NULL && len > 0))
        return LLMBILL_EINVAL;
    if (s->failed) {
        lb_errf(err, errlen, "the stream already failed");
        return LLMBILL_EINVAL;
    }
    if (s->frame == FRAME_UNKNOWN) {
        /* Gemini: a JSON array (no alt=sse) starts with '[' */
        size_t i = 0;

        while (i < len && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t'))
            i++;
        if (i == len)
            return 0;
        s->frame = data[i] == '[' ? FRAME_ARRAY : FRAME_SSE;
    }
    rc = s->frame == FRAME_ARRAY ? feed_array(s, data, len, err, errlen)
         : s->frame == FRAME_BINARY ? feed_binary(s, data, len, err, errlen)
         : feed_sse(s, data, len, err, errlen);
    if (rc != 0)
        s->failed = 1;
    return rc;
}

/* Why a stream without its final usage is incomplete. */
static int incomplete(const llmbill_stream *s, char *err, size_t errlen)
{
    if (s->shape == LLMBILL_SHAPE_ANTHROPIC)
        lb_errf(err, errlen, "incomplete stream: it ended before a message_delta with the output "
                "count (the counts so far are not final)");
    else if (s->shape == LLMBILL_SHAPE_GEMINI)
        lb_errf(err, errlen, "incomplete stream: no chunk with a finishReason (the running "
                "totals so far are not final)");
    else if (s->shape == LLMBILL_SHAPE_BEDROCK)
        lb_errf(err, errlen, "incomplete stream: no metadata event or invocation metrics with "
                "the usage (it was cut short)");
    else if (s->responses)
        lb_errf(err, errlen, "incomplete stream: it ended before response.completed, "
                "response.incomplete or response.failed");
    else
        lb_errf(err, errlen, "the stream carried no usage (request it with "
                "stream_options.include_usage, or the stream was cut short)");
    return LLMBILL_EINVAL;
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
    if (s->frame == FRAME_SSE || s->frame == FRAME_UNKNOWN) {
        /* a last line or event without its terminating blank line: read it
         * if it is whole; if it is not, the stream was cut inside it, and
         * says so whatever the byte it was cut at */
        int cut = s->llen > 0 || s->has_data;

        rc = s->llen > 0 ? on_line(s, s->line, s->llen, err, errlen) : 0;
        s->llen = 0;
        if (rc == 0 && s->has_data)
            rc = on_line(s, "", 0, err, errlen);
        if (rc != 0 && cut && !s->final && !s->reported) {
            lb_errf(err, errlen, "incomplete stream: it ends inside an event");
            return LLMBILL_EINVAL;
        }
        if (rc != 0)
            return rc;
    } else if (s->llen > 0) {
        lb_errf(err, errlen, "incomplete stream: it ends inside %s",
                s->frame == FRAME_ARRAY ? "an array element" : "an event-stream message");
        return LLMBILL_EINVAL;
    }
    if (!s->have_usage || !s->final)
        return incomplete(s, err, errlen);
    if (s->shape == LLMBILL_SHAPE_ANTHROPIC || (s->shape == LLMBILL_SHAPE_BEDROCK &&
                                                s->a.output + s->a.input > 0))
        lb_anthropic_finish(&s->a, &s->x);
    if (s->searched && s->x.web_search_requests == 0 && !s->responses)
        s->x.web_search_requests = 1;
    if ((rc = lb_extract_check(&s->x, err, errlen)) != 0)
        return rc;
    {
        uint32_t size = out->struct_size ? out->struct_size : sizeof *out;

        memcpy(out, &s->x, size < sizeof s->x ? size : sizeof s->x);
        out->struct_size = size;
    }
    return 0;
}
