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
        "                                [--customer ID]] [--timeout-ms N] FILE|-\n\n"
        "Records every usage event of a JSON-lines file (the jsonl sink's format, or a\n"
        "dead-letter file), delivers them, and prints a summary per sink. A bad line is\n"
        "reported with its number and the rest go on. Exit status 1 if any line was bad\n"
        "or any event was not delivered.\n\n"
        "  --from openai|anthropic|gemini   lines are provider response bodies instead;\n"
        "                   usage, model, request id and time come from each body, and\n"
        "                   the event id is PROVIDER-<response id>, so replaying the same\n"
        "                   responses twice bills them once\n"
        "  --customer-field PATH   where each body names the customer (default: user)\n"
        "  --customer ID    the customer when the body names none\n"
        "  --timeout-ms N   how long to wait for delivery at the end, and for room in a\n"
        "                   full queue (default 60000)\n");
}

/* Records u, waiting (flushing) while the queue is full, up to timeout_ms. */
static int record_waiting(llmbill *h, const struct llmbill_usage *u, int64_t timeout_ms)
{
    int64_t start = mono_ms();
    int rc;

    while ((rc = llmbill_record(h, u)) == LLMBILL_EFULL) {
        if (mono_ms() - start > timeout_ms)
            break;
        (void)llmbill_flush(h, 50);
    }
    return rc;
}

/* A usage record from one provider response body (--from). */
static int from_response(const char *from, const char *field, const char *customer, const char *body,
                         size_t len, struct llmbill_usage *u, struct llmbill_extracted *x,
                         char *cust, size_t custcap, char *id, size_t idcap, char *err, size_t errlen)
{
    struct llmbill_usage init = LLMBILL_USAGE_INIT;

    *u = init;
    memset(x, 0, sizeof *x);
    x->struct_size = sizeof *x;
    if (llmbill_extract(from, body, len, x, err, errlen) != 0)
        return -1;
    llmbill_extracted_to_usage(x, u);
    if (llmbill_json_string_at(body, len, field, cust, custcap) > 0) {
        u->customer_id = cust;
    } else if (customer != NULL) {
        u->customer_id = customer;
    } else {
        snprintf(err, errlen, "no customer: the body has no '%s' (set --customer-field or "
                 "--customer)", field);
        return -1;
    }
    if (x->request_id[0] != '\0' && strlen(from) + 1 + strlen(x->request_id) < idcap) {
        /* a stable id: the same response replayed twice is billed once */
        size_t fl = strlen(from);

        memcpy(id, from, fl);
        id[fl] = '-';
        memcpy(id + fl + 1, x->request_id, strlen(x->request_id) + 1);
        u->event_id = id;
    }
    return 0;
}

int cmd_replay(struct cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "timeout-ms", required_argument, NULL, 't' }, { "config", required_argument, NULL, 'c' },
        { "from", required_argument, NULL, 'f' }, { "customer-field", required_argument, NULL, 'F' },
        { "customer", required_argument, NULL, 'C' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
    };
    const char *from = NULL, *customer_field = "user", *customer = NULL;
    uint64_t timeout = 60000, lineno = 0, recorded = 0, bad = 0;
    struct llmbill_kv kv[LLMBILL_METADATA_MAX];
    const char *path;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    FILE *in;
    llmbill *h;
    int opt, rc, tty = isatty(2), undelivered;
    int64_t last_progress = 0;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        if (opt == 'c') {
            c->config = optarg;
        } else if (opt == 't') {
            if (cli_u64("--timeout-ms", optarg, &timeout) != 0)
                return 2;
        } else if (opt == 'f') {
            from = optarg;
        } else if (opt == 'F') {
            customer_field = optarg;
        } else if (opt == 'C') {
            customer = optarg;
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
    if (from != NULL && strcmp(from, "openai") != 0 && strcmp(from, "anthropic") != 0 &&
        strcmp(from, "gemini") != 0) {
        fprintf(stderr, "llmbill: replay: --from '%s': expected openai, anthropic or gemini\n", from);
        return 2;
    }
    in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (in == NULL) {
        fprintf(stderr, "llmbill: replay: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    if ((h = cli_open(c, 0)) == NULL) {
        if (in != stdin)
            fclose(in);
        return 1;
    }
    while ((n = getline(&line, &cap, in)) >= 0) {
        struct llmbill_usage u;
        struct llmbill_extracted rx;
        char err[256], cust[LLMBILL_ID_MAX + 1], id[LLMBILL_ID_MAX + 1];
        size_t len = (size_t)n;

        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
            line[--len] = '\0';
        if (len == 0)
            continue;
        if ((from != NULL ? from_response(from, customer_field, customer, line, len, &u, &rx, cust,
                                          sizeof cust, id, sizeof id, err, sizeof err)
                          : llmbill_usage_from_json(&u, line, len, kv, LLMBILL_METADATA_MAX, err,
                                                    sizeof err)) != 0 ||
            llmbill_usage_validate(&u, err, sizeof err) != 0) {
            fprintf(stderr, "%s:%llu: %s\n", path, (unsigned long long)lineno, err);
            bad++;
            continue;
        }
        rc = record_waiting(h, &u, (int64_t)timeout);
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
    printf("replay %s: %llu lines, %llu recorded, %llu bad%s\n", path, (unsigned long long)lineno,
           (unsigned long long)recorded, (unsigned long long)bad,
           rc == LLMBILL_ETIMEDOUT ? " (delivery timed out)" : "");
    undelivered = cli_print_stats(h, stdout);
    llmbill_close(h);
    return bad == 0 && undelivered == 0 && rc == 0 ? 0 : 1;
}
