/* llmbill CLI: `llmbill send`, one event end to end. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Exit codes beyond 0 (delivered), 1 (error) and 2 (usage). */
#define SEND_PENDING 3          /* kept in the journal */
#define SEND_DEAD_LETTERED 4

static void send_usage(FILE *f)
{
    fprintf(f,
        "usage: llmbill [-c FILE] send --customer ID --model M --input-tokens N --output-tokens N\n"
        "                        [options]\n\n"
        "Records one usage event, prints its id, waits until every sink has delivered it\n"
        "(--timeout-ms, then the close's shutdown_timeout_ms), and says what happened:\n"
        "  exit 0  delivered to every sink\n"
        "  exit 3  not delivered yet: kept in the journal (spool_dir), delivered at the next\n"
        "          start or by 'llmbill spool drain'\n"
        "  exit 4  dead-lettered by a sink (the file is named; resend it after the fix)\n"
        "  exit 1  an error (nothing recorded, or the event was lost: see the message)\n"
        "A resend MUST reuse the printed event id (--event-id ID): the billing system\n"
        "keeps one event per id, so a resend with a new id bills twice.\n\n"
        "  --customer ID                  customer to bill\n"
        "  --subscription ID, --user ID, --team ID\n"
        "  --model M                      model name (required)\n"
        "  --provider P                   openai, anthropic, ...\n"
        "  --input-tokens N               prompt tokens, cached ones included\n"
        "  --cached-input-tokens N\n"
        "  --cache-creation-input-tokens N\n"
        "  --output-tokens N              completion tokens, reasoning included\n"
        "  --reasoning-tokens N\n"
        "  --cost-usd X                   exact decimal cost in USD\n"
        "  --event-id ID                  idempotency key (default: a new UUIDv7)\n"
        "  --timestamp-ms MS              event time (default: now)\n"
        "  --request-id ID, --call-type T, --latency-ms N\n"
        "  --failure                      the LLM call failed (status failure)\n"
        "  --meta KEY=VALUE               metadata; repeatable\n"
        "  --timeout-ms N                 how long to wait for delivery (default 30000)\n");
}

int cmd_send(struct cli *c, int argc, char **argv)
{
    enum { O_CUST = 256, O_SUB, O_USER, O_TEAM, O_MODEL, O_PROV, O_IN, O_CACHED, O_CWRITE, O_OUT,
           O_REASON, O_COST, O_ID, O_TS, O_REQ, O_CALL, O_LAT, O_FAIL, O_META, O_TIMEOUT };
    static const struct option longopts[] = {
        { "customer", required_argument, NULL, O_CUST },
        { "subscription", required_argument, NULL, O_SUB },
        { "user", required_argument, NULL, O_USER },
        { "team", required_argument, NULL, O_TEAM },
        { "model", required_argument, NULL, O_MODEL },
        { "provider", required_argument, NULL, O_PROV },
        { "input-tokens", required_argument, NULL, O_IN },
        { "cached-input-tokens", required_argument, NULL, O_CACHED },
        { "cache-creation-input-tokens", required_argument, NULL, O_CWRITE },
        { "output-tokens", required_argument, NULL, O_OUT },
        { "reasoning-tokens", required_argument, NULL, O_REASON },
        { "cost-usd", required_argument, NULL, O_COST },
        { "event-id", required_argument, NULL, O_ID },
        { "timestamp-ms", required_argument, NULL, O_TS },
        { "request-id", required_argument, NULL, O_REQ },
        { "call-type", required_argument, NULL, O_CALL },
        { "latency-ms", required_argument, NULL, O_LAT },
        { "failure", no_argument, NULL, O_FAIL },
        { "meta", required_argument, NULL, O_META },
        { "timeout-ms", required_argument, NULL, O_TIMEOUT },
        { "config", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    struct llmbill_usage u = LLMBILL_USAGE_INIT;
    struct llmbill_kv meta[LLMBILL_METADATA_MAX];
    uint64_t v, timeout = 30000;
    int opt, have_in = 0, have_out = 0, rc;
    struct cli_outcome o;
    char err[256], id[LLMBILL_ID_MAX + 1];
    llmbill *h;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': c->config = optarg; break;
        case O_CUST: u.customer_id = optarg; break;
        case O_SUB: u.subscription_id = optarg; break;
        case O_USER: u.user_id = optarg; break;
        case O_TEAM: u.team_id = optarg; break;
        case O_MODEL: u.model = optarg; break;
        case O_PROV: u.provider = optarg; break;
        case O_ID: u.event_id = optarg; break;
        case O_REQ: u.request_id = optarg; break;
        case O_CALL: u.call_type = optarg; break;
        case O_FAIL: u.status = LLMBILL_STATUS_FAILURE; break;
        case O_IN: case O_CACHED: case O_CWRITE: case O_OUT: case O_REASON: case O_TS: case O_LAT:
        case O_TIMEOUT:
            if (cli_u64(longopts[opt - O_CUST].name, optarg, &v) != 0)
                return 2;
            if (opt == O_IN) { u.input_tokens = v; have_in = 1; }
            if (opt == O_CACHED) u.cached_input_tokens = v;
            if (opt == O_CWRITE) u.cache_creation_input_tokens = v;
            if (opt == O_OUT) { u.output_tokens = v; have_out = 1; }
            if (opt == O_REASON) u.reasoning_tokens = v;
            if (opt == O_TS) u.timestamp_ms = (int64_t)v;
            if (opt == O_LAT) { u.latency_ms = (uint32_t)v; u.flags |= LLMBILL_USAGE_HAS_LATENCY; }
            if (opt == O_TIMEOUT) timeout = v;
            break;
        case O_COST:
            if (llmbill_cost_parse(optarg, strlen(optarg), &u.cost) != 0 || u.cost < 0) {
                fprintf(stderr, "llmbill: --cost-usd: '%s' is not a non-negative decimal\n", optarg);
                return 2;
            }
            u.flags |= LLMBILL_USAGE_COST_KNOWN;
            break;
        case O_META: {
            char *eq = strchr(optarg, '=');

            if (eq == NULL || eq == optarg || u.n_metadata == LLMBILL_METADATA_MAX) {
                fprintf(stderr, "llmbill: --meta: expected KEY=VALUE (at most %d)\n",
                        LLMBILL_METADATA_MAX);
                return 2;
            }
            *eq = '\0';
            meta[u.n_metadata].key = optarg;
            meta[u.n_metadata].value = eq + 1;
            u.n_metadata++;
            u.metadata = meta;
            break;
        }
        case 'h':
            send_usage(stdout);
            return 0;
        default:
            send_usage(stderr);
            return 2;
        }
    }
    if (optind < argc || !have_in || !have_out || u.model == NULL) {
        fprintf(stderr, "llmbill: send needs --model, --input-tokens and --output-tokens%s\n",
                optind < argc ? " (and no positional arguments)" : "");
        send_usage(stderr);
        return 2;
    }
    if (llmbill_usage_validate(&u, err, sizeof err) != 0) {
        fprintf(stderr, "llmbill: invalid event: %s\n", err);
        return 2;
    }
    if ((h = cli_open(c, 0)) == NULL)
        return 1;
    rc = llmbill_record_id(h, &u, id, sizeof id);
    if (rc != 0) {
        fprintf(stderr, "llmbill: record failed: %s\n", llmbill_strerror(rc));
        llmbill_close(h);
        return 1;
    }
    /* the id first: whatever happens next, a resend must reuse it */
    printf("event %s\n", id);
    fflush(stdout);
    (void)llmbill_flush(h, (int)(timeout > 2000000000 ? 2000000000 : timeout));
    cli_close_report(h, stdout, &o);
    if (o.lost > 0) {
        printf("event %s LOST by %zu sink(s) (every dead-letter write failed; see the log)\n", id,
               o.sinks - o.delivered_all);
        return 1;
    }
    if (o.dead_lettered > 0) {
        printf("event %s dead-lettered by sink %s to %s (the reason is in that line); resend it "
               "after the fix with 'llmbill replay %s' or 'send --event-id %s', never with a new "
               "id\n", id, o.dead_letter_sink, o.dead_letter_path, o.dead_letter_path, id);
        return SEND_DEAD_LETTERED;
    }
    if (o.pending > 0) {
        printf("event %s NOT delivered yet: kept in the journal, delivered at the next start or "
               "by 'llmbill spool drain'; do not resend it, or only with --event-id %s\n", id, id);
        return SEND_PENDING;
    }
    printf("event %s delivered to %zu sink(s)\n", id, o.sinks);
    return 0;
}
