/* llmbill CLI: the captured SSE streams of one file, one after another (a
 * proxy log that appended each streamed response), for `replay --from`.
 *
 * The file is read event by event (its lines up to a blank line). A stream
 * ends after its terminal event: `data: [DONE]` (Chat Completions),
 * message_stop (Anthropic), response.completed, .incomplete or .failed
 * (Responses), an error event; the next event that carries data begins the
 * next stream (blank lines, comments and a `data: [DONE]` after a Responses
 * terminal event stay with the stream they follow). A stream is also over,
 * cut short, when a new one begins before its terminal event: a
 * message_start or response.created, or a chunk whose top-level id (Chat
 * Completions) or responseId (Gemini) differs from the stream's. An event
 * cut before its blank line ends where a line begins another (begins_event). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* the longest event kept whole; a longer one makes its stream bad */
#define EVENT_MAX (8u << 20)

enum ev_kind { EV_NONE, EV_DONE, EV_START, EV_END, EV_DATA };

/* What an event is, from its `event:` name or its data's "type". */
static enum ev_kind classify(const char *name, size_t nlen, const char *data, size_t dlen,
                             char *id, size_t idcap)
{
    static const char *const starts[] = { "message_start", "response.created" };
    static const char *const ends[] = { "message_stop", "response.completed",
                                        "response.incomplete", "response.failed", "error" };
    char type[64];

    id[0] = '\0';
    if (dlen == 6 && memcmp(data, "[DONE]", 6) == 0)
        return EV_DONE;
    if (nlen == 0 && dlen > 0 && llmbill_json_string_at(data, dlen, "type", type,
                                                        sizeof type) > 0) {
        name = type;
        nlen = strlen(type);
    }
    for (size_t k = 0; k < sizeof starts / sizeof *starts; k++)
        if (nlen == strlen(starts[k]) && memcmp(name, starts[k], nlen) == 0)
            return EV_START;
    for (size_t k = 0; k < sizeof ends / sizeof *ends; k++)
        if (nlen == strlen(ends[k]) && memcmp(name, ends[k], nlen) == 0)
            return EV_END;
    if (nlen == 0 && dlen > 0 && llmbill_json_string_at(data, dlen, "id", id, idcap) <= 0 &&
        llmbill_json_string_at(data, dlen, "responseId", id, idcap) <= 0)
        id[0] = '\0';
    return dlen > 0 || nlen > 0 ? EV_DATA : EV_NONE;
}

/* The value of a field line "NAME:value" (one leading space dropped). */
static int field(const char *l, size_t n, const char *name, const char **v, size_t *vlen)
{
    size_t k = strlen(name);

    if (n < k + 1 || memcmp(l, name, k) != 0 || l[k] != ':')
        return 0;
    *v = l + k + 1;
    *vlen = n - k - 1;
    if (*vlen > 0 && **v == ' ') {
        (*v)++;
        (*vlen)--;
    }
    return 1;
}

static int grow(char **buf, size_t *cap, size_t need)
{
    char *nb;

    if (need <= *cap)
        return 0;
    if ((nb = realloc(*buf, need * 2)) == NULL)
        return -1;
    *buf = nb;
    *cap = need * 2;
    return 0;
}

/* Whether line l (n bytes, no line break) cannot belong to the event read
 * so far, which was cut before its blank line: a new `event:` line after
 * its name or data, or a data line that opens a JSON object after data
 * that closed one (in JSON, "}" then "{" is never one value). */
static int begins_event(const struct sse_split *sp, const char *l, size_t n, size_t nlen)
{
    const char *v;
    size_t vlen, e = sp->dlen;

    if (field(l, n, "event", &v, &vlen))
        return nlen > 0 || sp->dlen > 0;
    if (!field(l, n, "data", &v, &vlen) || vlen == 0 || v[0] != '{')
        return 0;
    while (e > 0 && (sp->data[e - 1] == ' ' || sp->data[e - 1] == '\t'))
        e--;
    return e > 0 && sp->data[e - 1] == '}';
}

/* Reads the next event (its lines and the blank line that ends it, or one
 * blank line) into sp->ev and classifies it. 0, or -1 at the end of the
 * file with nothing read. An event over EVENT_MAX is kept cut, marked; a
 * line that begins another event (begins_event) is kept for the next. */
static int read_event(struct sse_split *sp)
{
    const char *v;
    size_t name_at = 0, nlen = 0, vlen;
    ssize_t n;

    sp->ev_off = sp->off;
    sp->evlen = 0;
    sp->dlen = 0;
    sp->ev_long = 0;
    while ((n = sp->pend ? sp->plen : getline(&sp->line, &sp->lcap, sp->in)) > 0) {
        size_t len = (size_t)n, at = sp->evlen;

        sp->pend = 0;
        while (len > 0 && (sp->line[len - 1] == '\n' || sp->line[len - 1] == '\r'))
            len--;
        if (len > 0 && sp->evlen > 0 && !sp->ev_long && begins_event(sp, sp->line, len, nlen)) {
            sp->pend = 1;       /* read again by the next call */
            sp->plen = n;
            break;
        }
        sp->off += (size_t)n;
        if (sp->evlen + (size_t)n > EVENT_MAX ||
            grow(&sp->ev, &sp->evcap, sp->evlen + (size_t)n + 1) != 0) {
            sp->ev_long = 1;
        } else {
            memcpy(sp->ev + sp->evlen, sp->line, (size_t)n);
            sp->evlen += (size_t)n;
        }
        if (len == 0)
            break;              /* the blank line that ends the event */
        if (sp->ev_long)
            continue;
        if (field(sp->ev + at, len, "event", &v, &vlen)) {
            name_at = (size_t)(v - sp->ev); /* an offset: sp->ev may move */
            nlen = vlen;
        } else if (field(sp->ev + at, len, "data", &v, &vlen)) {
            if (grow(&sp->data, &sp->dcap, sp->dlen + vlen + 2) != 0) {
                sp->ev_long = 1;
                continue;
            }
            if (sp->dlen > 0)
                sp->data[sp->dlen++] = '\n';
            memcpy(sp->data + sp->dlen, v, vlen);
            sp->dlen += vlen;
            sp->data[sp->dlen] = '\0';
        }
    }
    if (sp->off == sp->ev_off)
        return -1;
    sp->kind = sp->ev_long ? EV_DATA : classify(sp->ev + name_at, nlen, sp->data, sp->dlen,
                                                sp->ev_id, sizeof sp->ev_id);
    return 0;
}

void sse_split_init(struct sse_split *sp, FILE *in, const char *from, uint64_t off)
{
    memset(sp, 0, sizeof *sp);
    sp->in = in;
    sp->from = from;
    sp->off = off;
    sp->have = read_event(sp) == 0;
}

void sse_split_free(struct sse_split *sp)
{
    free(sp->line);
    free(sp->ev);
    free(sp->data);
}

int sse_split_next(struct sse_split *sp, struct sse_stream *st, char *err, size_t errlen)
{
    llmbill_stream *s = NULL;
    struct lb_sha256 sha;
    char sid[256] = "";
    int rc = 0, content = 0, ended = 0;

    if (!sp->have)
        return 0;
    memset(&st->x, 0, sizeof st->x);
    st->x.struct_size = sizeof st->x;
    st->ordinal = ++sp->streams;
    st->offset = sp->ev_off;
    err[0] = '\0';
    if (llmbill_stream_new_for(&s, sp->from) != 0) {
        snprintf(err, errlen, "no stream reader for %s", sp->from);
        rc = -1;
    }
    lb_sha256_init(&sha);
    do {
        if (sp->kind != EV_NONE && (ended ? sp->kind != EV_DONE
                                    : content && (sp->kind == EV_START ||
                                                  (sp->ev_id[0] && sid[0] &&
                                                   strcmp(sp->ev_id, sid) != 0))))
            break;              /* the next stream begins here */
        lb_sha256_update(&sha, sp->ev, sp->evlen);
        if (rc == 0 && sp->ev_long) {
            snprintf(err, errlen, "an event is longer than %u bytes", EVENT_MAX);
            rc = -1;
        }
        if (rc == 0)
            rc = llmbill_stream_feed(s, sp->ev, sp->evlen, err, errlen);
        if (sp->kind == EV_START || sp->kind == EV_DATA || sp->kind == EV_END)
            content = 1;
        if (sid[0] == '\0' && sp->ev_id[0] != '\0')
            snprintf(sid, sizeof sid, "%s", sp->ev_id);
        if (sp->kind == EV_END || sp->kind == EV_DONE)
            ended = 1;
    } while ((sp->have = read_event(sp) == 0));
    lb_sha256_final(&sha, st->sha);
    st->last = !sp->have;
    if (rc == 0)
        rc = llmbill_stream_finish(s, &st->x, err, errlen);
    llmbill_stream_free(s);
    return rc == 0 ? 1 : -1;
}
