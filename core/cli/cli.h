/* llmbill CLI: shared declarations. */
#ifndef LLMBILL_CLI_H
#define LLMBILL_CLI_H

#include <stdint.h>
#include <sys/types.h>
#include <stdio.h>

#include "llmbill/extract.h"
#include "llmbill/llmbill.h"

struct cli {
    const char *config;         /* -c FILE, LLMBILL_CONFIG, or ./llmbill.ini */
    int verbose;
};

/* Opens the configured handle (flags: LLMBILL_OPEN_*); prints the reason and
 * returns NULL on error. */
llmbill *cli_open(const struct cli *c, uint32_t flags);
/* Parses a non-negative integer option value; prints an error and returns -1. */
int cli_u64(const char *opt, const char *v, uint64_t *out);
/* What close left, from the final counts (cli_close_report()). */
struct cli_outcome {
    size_t sinks, delivered_all;        /* sinks; those that delivered everything */
    uint64_t pending, dead_lettered, lost;
    char dead_letter_sink[128];         /* the first sink that dead-lettered, and its file */
    char dead_letter_path[512];
};
/* Closes h and then prints one line per sink from its final counts (what
 * close delivered, dead-lettered or left in the journal included); fills *o.
 * Returns what llmbill_close() returned. */
int cli_close_report(llmbill *h, FILE *f, struct cli_outcome *o);
/* A request-based sink's HTTP line (requests, those with no answer, in
 * flight, requests/s, answer p50/p99, last status or transport error);
 * nothing for a sink that made no request. */
void cli_print_http(FILE *f, const char *name, const struct llmbill_stats *st);
/* sha256.c: SHA-256, at once or over pieces (init, update..., final). */
struct lb_sha256 {
    uint32_t h[8];
    unsigned char buf[64];
    size_t n;
    uint64_t len;
};
void lb_sha256_init(struct lb_sha256 *c);
void lb_sha256_update(struct lb_sha256 *c, const void *data, size_t len);
void lb_sha256_final(struct lb_sha256 *c, unsigned char out[32]);
void lb_sha256(const void *data, size_t len, unsigned char out[32]);
/* A UUID-shaped id (version 8, RFC 9562 variant) from a SHA-256 digest, or
 * from the SHA-256 of data[0, len): the same bytes give the same id. */
void lb_uuid_of_digest(const unsigned char digest[32], char out[37]);
void lb_uuid_of(const void *data, size_t len, char out[37]);
/* replay_sse.c: the captured SSE streams of one file, one after another
 * (a stream ends after its terminal event: replay_sse.c says which). */
struct sse_split {
    FILE *in;
    const char *from;           /* the provider, for llmbill_stream_new_for() */
    uint64_t off, ev_off;       /* file offsets: the next byte, the read-ahead event */
    char *line, *ev, *data;     /* getline's buffer; the event's bytes; its data */
    size_t lcap, evlen, evcap, dlen, dcap;
    int ev_long, kind, have;    /* event over the limit; its kind; one is read ahead */
    int pend;                   /* line holds a line read ahead, plen bytes */
    ssize_t plen;
    char ev_id[256];            /* its top-level id or responseId, or "" */
    uint64_t streams;           /* streams begun so far */
};
struct sse_stream {
    struct llmbill_extracted x; /* the usage, when sse_split_next() returned 1 */
    unsigned char sha[32];      /* of the stream's bytes (for an event id) */
    uint64_t ordinal, offset;   /* 1, 2, ...; the byte offset of its first event */
    int last;                   /* no stream follows it */
};
/* Starts reading in (off: the bytes already consumed before it, for offsets). */
void sse_split_init(struct sse_split *sp, FILE *in, const char *from, uint64_t off);
/* The next stream, fed through a stream reader for sp->from: 1 with st->x,
 * -1 with the reason in err (st says which stream and where: its events are
 * consumed either way), 0 when the file has no more. */
int sse_split_next(struct sse_split *sp, struct sse_stream *st, char *err, size_t errlen);
void sse_split_free(struct sse_split *sp);
/* 1 if argv[i] is -h or --help. */
int cli_is_help(const char *a);

int cmd_check(struct cli *c, int argc, char **argv);
int cmd_send(struct cli *c, int argc, char **argv);
int cmd_replay(struct cli *c, int argc, char **argv);
int cmd_price(struct cli *c, int argc, char **argv);
int cmd_spool(struct cli *c, int argc, char **argv);

#endif
