/* llmbill CLI: `llmbill replay FILE|-`: usage JSONL back through the sinks.
 * Events keep their event_id and timestamp, so a replay into a sink that
 * already has some of them does not bill them twice. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "llmbill/extract.h"

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void replay_usage(FILE *f)
{
    fprintf(f,
        "usage: llmbill [-c FILE] replay [--from PROVIDER [--customer-field PATH]\n"
        "                                [--customer ID] [--model M]] [--timeout-ms N] FILE|-\n\n"
        "Records every usage event of a JSON-lines file (the jsonl sink's format, or a\n"
        "dead-letter file), delivers them, and prints a summary per sink. A bad line is\n"
        "reported with its number and the rest go on. Exit status 1 if any line was bad\n"
        "or any event was not delivered.\n\n"
        "  --from PROVIDER  the file holds provider responses instead (openai, azure,\n"
        "                   anthropic, gemini, vertex_ai, bedrock, deepseek, mistral, groq,\n"
        "                   xai, openrouter, together_ai, fireworks_ai, azure_ai,\n"
        "                   perplexity); what it\n"
        "                   holds is detected and said: JSON lines of response bodies (or\n"
        "                   one pretty-printed body), a\n"
        "                   batch result file (OpenAI Batch output, Anthropic Message\n"
        "                   Batches results), captured SSE streams (several, one after\n"
        "                   another: one event each), one Gemini JSON-array\n"
        "                   stream, or one Bedrock AWS event stream (binary). Usage, model,\n"
        "                   request id and time come from each response, and the event id\n"
        "                   is PROVIDER-<response id> (or PROVIDER-<UUID of its SHA-256, or\n"
        "                   of the body's> when that id is missing, long or not id-safe),\n"
        "                   so replaying the same responses twice bills them once\n"
        "  --customer-field PATH   where each body names the customer (default: user)\n"
        "  --customer ID    the customer when the response names none (streams: always)\n"
        "  --model M        the model when the response names none (Bedrock Converse)\n"
        "                   A cost the provider reports (OpenRouter usage.cost, xAI\n"
        "                   cost_in_usd_ticks, Perplexity cost.total_cost) goes to the\n"
        "                   metadata as provider_cost_usd.\n"
        "  --timeout-ms N   how long to wait for delivery at the end, and for room in a\n"
        "                   full queue (default 60000)\n");
}

/* Records u, waiting (flushing) while the queue is full, up to timeout_ms. */
static int record_waiting(llmbill *h, const struct llmbill_usage *u, int64_t timeout_ms)
{
    int64_t start = 0;
    int rc;

    while ((rc = llmbill_record(h, u)) == LLMBILL_EFULL) {
        if (start == 0)
            start = mono_ms(); /* the clock only once the queue is full */
        else if (mono_ms() - start > timeout_ms)
            break;
        (void)llmbill_flush(h, 50);
    }
    return rc;
}

/* What a --from input holds. */
enum input { IN_JSONL, IN_SSE, IN_ARRAY, IN_BINARY };

/* the input's stdio buffer (replay runs once per process) */
static char in_buf[1 << 16];

static const char *const input_names[] = {
    "JSON lines of response bodies", "a captured SSE stream",
    "a Gemini streamGenerateContent JSON array", "an AWS event stream (binary)"
};

/* Looks at the first byte that is not white space, and leaves it unread;
 * *skipped: the white space before it. */
static enum input sniff(FILE *in, uint64_t *skipped)
{
    int ch;

    *skipped = 0;
    while ((ch = getc(in)) == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
        ++*skipped;
    if (ch == EOF)
        return IN_JSONL;
    ungetc(ch, in);
    if (ch == '{')
        return IN_JSONL;
    if (ch == '[')
        return IN_ARRAY;
    if (ch == 'd' || ch == 'e' || ch == ':' || ch == 'i' || ch == 'r')
        return IN_SSE; /* data:, event:, : comment, id:, retry: */
    return IN_BINARY;
}

/* Appends the rest of in to *buf (holding *len bytes, capacity *cap). */
static int slurp(FILE *in, char **buf, size_t *cap, size_t *len)
{
    size_t n;

    do {
        if (*cap - *len < 65536) {
            char *nb = realloc(*buf, *cap * 2 + 65536);

            if (nb == NULL)
                return -1;
            *buf = nb;
            *cap = *cap * 2 + 65536;
        }
        n = fread(*buf + *len, 1, *cap - *len - 1, in);
        *len += n;
    } while (n > 0);
    (*buf)[*len] = '\0';
    return 0;
}

/* Options of --from, and room for the metadata of one event. */
struct from_opts {
    const char *from, *field, *customer, *model;
    struct llmbill_kv kv;       /* provider_cost_usd */
    char cost[48];
    unsigned char stream_sha[32]; /* of the stream's bytes, for its event id */
};

/* The event id of a response: PROVIDER-<response id>, so that replaying the
 * same responses twice bills them once. When that does not make an id (no
 * response id, one too long, cut by the reader, or with bytes an event id
 * may not hold), PROVIDER-<UUID from the SHA-256 of the response id, or of
 * the whole body, or of the whole stream (body NULL: stream_sha), when there
 * is no whole response id>: as stable. */
static void event_id_of(const char *from, const char *rid, const char *body, size_t len,
                        const unsigned char *stream_sha, char *id, size_t idcap)
{
    size_t fl = strlen(from), rl = strlen(rid);
    int whole = rl > 0 && rl + 1 < sizeof ((struct llmbill_extracted *)0)->request_id;
    int clean = whole;
    char uuid[37];

    for (size_t k = 0; k < rl && clean; k++)
        clean = rid[k] > 0x20 && rid[k] < 0x7f;
    if (clean && fl + 1 + rl < idcap) {
        memcpy(id, from, fl);
        id[fl] = '-';
        memcpy(id + fl + 1, rid, rl + 1);
        return;
    }
    if (whole)
        lb_uuid_of(rid, rl, uuid);
    else if (body != NULL)
        lb_uuid_of(body, len, uuid);
    else
        lb_uuid_of_digest(stream_sha, uuid);
    snprintf(id, idcap, "%s-%s", from, uuid);
}

/* The usage record of one extracted response; body (may be NULL: a stream)
 * is where the customer field is looked up. */
static int from_extracted(struct from_opts *o, struct llmbill_extracted *x,
                          const char *body, size_t len, struct llmbill_usage *u, char *cust,
                          size_t custcap, char *id, size_t idcap, char *err, size_t errlen)
{
    struct llmbill_usage init = LLMBILL_USAGE_INIT;

    *u = init;
    if (x->model[0] == '\0' && o->model != NULL)
        snprintf(x->model, sizeof x->model, "%s", o->model);
    if (x->model[0] == '\0') {
        snprintf(err, errlen, "the response names no model (set --model)");
        return -1;
    }
    llmbill_extracted_to_usage(x, u);
    if ((x->flags & LLMBILL_EXTRACTED_REPORTED_COST) &&
        llmbill_cost_format(x->reported_cost, o->cost, sizeof o->cost) > 0) {
        /* what the provider says it charged, beside the table's price */
        o->kv.key = "provider_cost_usd";
        o->kv.value = o->cost;
        u->metadata = &o->kv;
        u->n_metadata = 1;
    }
    if (body != NULL && llmbill_json_string_at(body, len, o->field, cust, custcap) > 0) {
        u->customer_id = cust;
    } else if (o->customer != NULL) {
        u->customer_id = o->customer;
    } else {
        snprintf(err, errlen, body ? "no customer: the body has no '%s' (set --customer-field or "
                 "--customer)" : "no customer: a stream names none (set --customer)", o->field);
        return -1;
    }
    event_id_of(o->from, x->request_id, body, len, o->stream_sha, id, idcap);
    u->event_id = id;
    return 0;
}

/* A usage record from one provider response body (a JSONL line). */
static int from_response(struct from_opts *o, const char *body, size_t len,
                         struct llmbill_usage *u, struct llmbill_extracted *x, char *cust,
                         size_t custcap, char *id, size_t idcap, char *err, size_t errlen)
{
    memset(x, 0, sizeof *x);
    x->struct_size = sizeof *x;
    if (llmbill_extract(o->from, body, len, x, err, errlen) != 0)
        return -1;
    return from_extracted(o, x, body, len, u, cust, custcap, id, idcap, err, errlen);
}

/* A usage record from a whole stream read from in. */
static int from_stream(struct from_opts *o, FILE *in, struct llmbill_usage *u,
                       struct llmbill_extracted *x, char *cust, size_t custcap, char *id,
                       size_t idcap, char *err, size_t errlen)
{
    llmbill_stream *s;
    struct lb_sha256 sha;
    char buf[65536];
    size_t n;
    int rc = 0;

    lb_sha256_init(&sha);
    if (llmbill_stream_new_for(&s, o->from) != 0) {
        snprintf(err, errlen, "no stream reader for %s", o->from);
        return -1;
    }
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, in)) > 0) {
        lb_sha256_update(&sha, buf, n);
        rc = llmbill_stream_feed(s, buf, n, err, errlen);
    }
    lb_sha256_final(&sha, o->stream_sha);
    memset(x, 0, sizeof *x);
    x->struct_size = sizeof *x;
    if (rc == 0)
        rc = llmbill_stream_finish(s, x, err, errlen);
    llmbill_stream_free(s);
    if (rc != 0)
        return -1;
    return from_extracted(o, x, NULL, 0, u, cust, custcap, id, idcap, err, errlen);
}

/* Every captured SSE stream of in (replay_sse.c splits them), one event
 * each; a bad one is reported with its ordinal and byte offset (alone in
 * the file: as before, by the file's name) and the rest go on. Returns how
 * many streams there were; adds to *recorded and *bad. */
static uint64_t replay_streams(llmbill *h, struct from_opts *fo, FILE *in, const char *path,
                               uint64_t skipped, int64_t timeout_ms, uint64_t *recorded,
                               uint64_t *bad)
{
    struct sse_split sp;
    struct sse_stream st;
    struct llmbill_usage u;
    char err[256], cust[LLMBILL_ID_MAX + 1], id[LLMBILL_ID_MAX + 1], where[80];
    int got, rc;

    sse_split_init(&sp, in, fo->from, skipped);
    while ((got = sse_split_next(&sp, &st, err, sizeof err)) != 0) {
        if (st.ordinal == 1 && st.last)
            snprintf(where, sizeof where, "%s", "");
        else
            snprintf(where, sizeof where, " stream %llu (byte %llu):",
                     (unsigned long long)st.ordinal, (unsigned long long)st.offset);
        memcpy(fo->stream_sha, st.sha, sizeof st.sha);
        if (got < 0 || from_extracted(fo, &st.x, NULL, 0, &u, cust, sizeof cust, id, sizeof id,
                                      err, sizeof err) != 0 ||
            llmbill_usage_validate(&u, err, sizeof err) != 0) {
            fprintf(stderr, "%s:%s %s\n", path, where, err);
            ++*bad;
        } else if ((rc = record_waiting(h, &u, timeout_ms)) != 0) {
            fprintf(stderr, "%s:%s not recorded: %s\n", path, where, llmbill_strerror(rc));
            ++*bad;
        } else {
            ++*recorded;
        }
    }
    sse_split_free(&sp);
    if (sp.streams != 1)
        printf("replay %s: %llu SSE streams, one event each\n", path,
               (unsigned long long)sp.streams);
    return sp.streams;
}

int cmd_replay(struct cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "timeout-ms", required_argument, NULL, 't' }, { "config", required_argument, NULL, 'c' },
        { "from", required_argument, NULL, 'f' }, { "customer-field", required_argument, NULL, 'F' },
        { "customer", required_argument, NULL, 'C' }, { "model", required_argument, NULL, 'M' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
    };
    struct from_opts fo = { NULL, "user", NULL, NULL, { NULL, NULL }, "", { 0 } };
    enum input kind = IN_JSONL;
    int said_batch = 0;
    uint64_t timeout = 60000, lineno = 0, recorded = 0, bad = 0, skipped = 0;
    struct llmbill_kv kv[LLMBILL_METADATA_MAX];
    const char *path;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    FILE *in;
    llmbill *h;
    int opt, rc, tty = isatty(2);
    struct cli_outcome o;
    int64_t last_progress = 0;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        if (opt == 'c') {
            c->config = optarg;
        } else if (opt == 't') {
            if (cli_u64("--timeout-ms", optarg, &timeout) != 0)
                return 2;
        } else if (opt == 'f') {
            fo.from = optarg;
        } else if (opt == 'F') {
            fo.field = optarg;
        } else if (opt == 'C') {
            fo.customer = optarg;
        } else if (opt == 'M') {
            fo.model = optarg;
        } else {
            replay_usage(opt == 'h' ? stdout : stderr);
            return opt == 'h' ? 0 : 2;
        }
    }
    if (optind != argc - 1) {
        replay_usage(stderr);
        return 2;
    }
    path = argv[optind];
    if (fo.from != NULL) {
        llmbill_stream *probe = NULL;

        if (llmbill_stream_new_for(&probe, fo.from) != 0) {
            fprintf(stderr, "llmbill: replay: --from '%s': expected openai, azure, anthropic, "
                    "gemini, vertex_ai, bedrock, deepseek, mistral, groq, xai, openrouter, "
                    "together_ai, fireworks_ai, azure_ai or perplexity\n", fo.from);
            return 2;
        }
        llmbill_stream_free(probe);
    }
    in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (in == NULL) {
        fprintf(stderr, "llmbill: replay: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    /* 64 KiB reads, not 4 KiB ones: a usage line is ~170 bytes, so stdio's
     * default read 4 times per 100 events (a third of replay's system calls).
     * glibc ignores the size without a buffer; static: it outlives stdin */
    (void)setvbuf(in, in_buf, _IOFBF, sizeof in_buf);
    if ((h = cli_open(c, 0)) == NULL) {
        if (in != stdin)
            fclose(in);
        return 1;
    }
    if (fo.from != NULL) {
        kind = sniff(in, &skipped);
        if (kind != IN_JSONL)
            printf("replay %s: %s from %s\n", path, input_names[kind], fo.from);
    }
    if (kind == IN_SSE) {
        lineno = replay_streams(h, &fo, in, path, skipped, (int64_t)timeout, &recorded, &bad);
    } else if (kind != IN_JSONL) {
        /* one whole response: one event */
        struct llmbill_usage u;
        struct llmbill_extracted rx;
        char err[256], cust[LLMBILL_ID_MAX + 1], id[LLMBILL_ID_MAX + 1];

        lineno = 1;
        if (from_stream(&fo, in, &u, &rx, cust, sizeof cust, id, sizeof id, err, sizeof err) != 0 ||
            llmbill_usage_validate(&u, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", path, err);
            bad++;
        } else if ((rc = record_waiting(h, &u, (int64_t)timeout)) != 0) {
            fprintf(stderr, "%s: not recorded: %s\n", path, llmbill_strerror(rc));
            bad++;
        } else {
            recorded++;
        }
    }
    while (kind == IN_JSONL && (n = getline(&line, &cap, in)) >= 0) {
        struct llmbill_usage u;
        struct llmbill_extracted rx;
        char err[256], cust[LLMBILL_ID_MAX + 1], id[LLMBILL_ID_MAX + 1];
        size_t len = (size_t)n;

        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
            line[--len] = '\0';
        if (len == 0)
            continue;
        if (fo.from != NULL && !said_batch && len == 1 && line[0] == '{') {
            /* a pretty-printed body (jq's output, a saved response): the whole
             * file is that one body */
            if (slurp(in, &line, &cap, &len) != 0) {
                fprintf(stderr, "llmbill: replay: out of memory reading %s\n", path);
                bad++;
                break;
            }
            printf("replay %s: one response body (pretty-printed JSON) from %s\n", path,
                   fo.from);
            said_batch = 1;
        }
        if (fo.from != NULL && !said_batch++)
            printf("replay %s: %s from %s\n", path, strstr(line, "\"custom_id\"") != NULL
                   ? "a batch result file (JSON lines)" : input_names[IN_JSONL], fo.from);
        if ((fo.from != NULL ? from_response(&fo, line, len, &u, &rx, cust, sizeof cust, id,
                                             sizeof id, err, sizeof err)
                          : llmbill_usage_from_json(&u, line, len, kv, LLMBILL_METADATA_MAX, err,
                                                    sizeof err)) != 0 ||
            /* record() validates too: the reason is asked for only then */
            ((rc = record_waiting(h, &u, (int64_t)timeout)) == LLMBILL_EINVAL &&
             llmbill_usage_validate(&u, err, sizeof err) != 0)) {
            fprintf(stderr, "%s:%llu: %s\n", path, (unsigned long long)lineno, err);
            bad++;
            continue;
        }
        if (rc != 0) {
            fprintf(stderr, "%s:%llu: not recorded: %s\n", path, (unsigned long long)lineno,
                    llmbill_strerror(rc));
            bad++;
            continue;
        }
        recorded++;
        if (tty && mono_ms() - last_progress >= 250) {
            last_progress = mono_ms();
            fprintf(stderr, "\rreplay: %llu lines read, %llu recorded, %llu bad",
                    (unsigned long long)lineno, (unsigned long long)recorded,
                    (unsigned long long)bad);
        }
    }
    if (tty && last_progress != 0)
        fprintf(stderr, "\n");
    if (ferror(in)) {
        fprintf(stderr, "llmbill: replay: read error on %s: %s\n", path, strerror(errno));
        bad++;
    }
    free(line);
    if (in != stdin)
        fclose(in);
    rc = llmbill_flush(h, (int)(timeout > 2000000000 ? 2000000000 : timeout));
    printf("replay %s: %llu %s, %llu recorded, %llu bad%s\n", path, (unsigned long long)lineno,
           kind == IN_SSE && lineno != 1 ? "streams" : "lines",
           (unsigned long long)recorded, (unsigned long long)bad,
           rc == LLMBILL_ETIMEDOUT ? " (--timeout-ms reached; what close did follows)" : "");
    cli_close_report(h, stdout, &o); /* the summary from the final counts */
    return bad == 0 && o.delivered_all == o.sinks ? 0 : 1;
}
