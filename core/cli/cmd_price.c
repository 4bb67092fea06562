/* llmbill CLI: `llmbill price`, the cost of one call and its breakdown. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "llmbill/price.h"

static void price_usage(FILE *f)
{
    fprintf(f,
        "usage: llmbill [-c FILE] price --model M --input-tokens N --output-tokens N [options]\n\n"
        "Prints the exact cost of one LLM call and its breakdown.\n\n"
        "  --provider P                     tried as P/M when M alone is not in the table\n"
        "  --cached-input-tokens N          of the input tokens, cache reads\n"
        "  --cache-creation-input-tokens N  of the input tokens, cache writes\n"
        "  --cache-creation-1h-input-tokens N  of the cache writes, 1-hour ones\n"
        "  --reasoning-tokens N             of the output tokens, reasoning\n"
        "  --input-audio-tokens N           of the input tokens, audio (cached audio included)\n"
        "  --cached-audio-tokens N          of the cached and audio tokens, cached audio\n"
        "  --input-image-tokens N           of the input tokens, images\n"
        "  --input-video-tokens N           of the input tokens, video\n"
        "  --output-audio-tokens N          of the output tokens, audio\n"
        "  --output-image-tokens N          of the output tokens, images\n"
        "  --web-search-requests N          server-side web searches (per-request fee)\n"
        "  --service-tier flex|priority|batch\n"
        "  --prices FILE                    price table (default: $LLMBILL_PRICES, else\n"
        "                                   %s)\n",
        llmbill_installed_path("prices"));
}

static void line(const char *what, int64_t v)
{
    char num[48];

    llmbill_cost_format(v, num, sizeof num);
    printf("  %-12s %s USD\n", what, num);
}

int cmd_price(struct cli *c, int argc, char **argv)
{
    enum { O_MODEL = 256, O_PROV, O_IN, O_CACHED, O_CWRITE, O_CW1H, O_OUT, O_REASON, O_TIER,
           O_PRICES, O_COUNTS };
    /* the modality and tool counts: --input-audio-tokens ... --web-search-requests */
    static const size_t counts[] = {
#define COUNT_OFF(f) offsetof(struct llmbill_usage, f),
        LLMBILL_USAGE_COUNTS(COUNT_OFF)
#undef COUNT_OFF
    };
    static const struct option longopts[] = {
        { "model", required_argument, NULL, O_MODEL },
        { "provider", required_argument, NULL, O_PROV },
        { "input-tokens", required_argument, NULL, O_IN },
        { "cached-input-tokens", required_argument, NULL, O_CACHED },
        { "cache-creation-input-tokens", required_argument, NULL, O_CWRITE },
        { "cache-creation-1h-input-tokens", required_argument, NULL, O_CW1H },
        { "output-tokens", required_argument, NULL, O_OUT },
        { "reasoning-tokens", required_argument, NULL, O_REASON },
        { "service-tier", required_argument, NULL, O_TIER },
        { "prices", required_argument, NULL, O_PRICES },
        { "input-audio-tokens", required_argument, NULL, O_COUNTS + 0 },
        { "cached-audio-tokens", required_argument, NULL, O_COUNTS + 1 },
        { "input-image-tokens", required_argument, NULL, O_COUNTS + 2 },
        { "input-video-tokens", required_argument, NULL, O_COUNTS + 3 },
        { "output-audio-tokens", required_argument, NULL, O_COUNTS + 4 },
        { "output-image-tokens", required_argument, NULL, O_COUNTS + 5 },
        { "web-search-requests", required_argument, NULL, O_COUNTS + 6 },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    struct llmbill_usage u = LLMBILL_USAGE_INIT;
    struct llmbill_cost_breakdown b;
    const char *prices = getenv("LLMBILL_PRICES");
    llmbill_prices *table;
    char err[512];
    uint64_t v;
    int opt, rc;

    (void)c;
    u.customer_id = "-";
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case O_MODEL: u.model = optarg; break;
        case O_PROV: u.provider = optarg; break;
        case O_TIER: u.service_tier = optarg; break;
        case O_PRICES: prices = optarg; break;
        case O_IN: case O_CACHED: case O_CWRITE: case O_CW1H: case O_OUT: case O_REASON:
            if (cli_u64(longopts[opt - O_MODEL].name, optarg, &v) != 0)
                return 2;
            if (opt == O_IN) u.input_tokens = v;
            if (opt == O_CACHED) u.cached_input_tokens = v;
            if (opt == O_CWRITE) u.cache_creation_input_tokens = v;
            if (opt == O_CW1H) u.cache_creation_1h_input_tokens = v;
            if (opt == O_OUT) u.output_tokens = v;
            if (opt == O_REASON) u.reasoning_tokens = v;
            break;
        case O_COUNTS + 0: case O_COUNTS + 1: case O_COUNTS + 2: case O_COUNTS + 3:
        case O_COUNTS + 4: case O_COUNTS + 5: case O_COUNTS + 6:
            if (cli_u64(longopts[opt - O_MODEL].name, optarg, &v) != 0)
                return 2;
            *(uint64_t *)((char *)&u + counts[opt - O_COUNTS]) = v;
            break;
        case 'h':
            price_usage(stdout);
            return 0;
        default:
            price_usage(stderr);
            return 2;
        }
    }
    if (u.model == NULL || optind < argc) {
        fprintf(stderr, "llmbill: price needs --model (and no positional arguments)\n");
        price_usage(stderr);
        return 2;
    }
    rc = llmbill_prices_load(&table, prices, err, sizeof err); /* NULL: installed */
    if (rc != 0) {
        fprintf(stderr, "llmbill: %s\n", err);
        return 1;
    }
    memset(&b, 0, sizeof b);
    b.struct_size = sizeof b;
    rc = llmbill_price(table, &u, &b, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "llmbill: %s\n", err);
        llmbill_prices_free(table);
        return 1;
    }
    printf("%s: ", b.model);
    {
        char num[48];

        llmbill_cost_format(b.total, num, sizeof num);
        printf("%s USD", num);
    }
    if (b.threshold_tokens > 0)
        printf(" (rates above %llu input tokens)", (unsigned long long)b.threshold_tokens);
    if (u.service_tier)
        printf(" (service tier %s)", u.service_tier);
    printf("\n");
    line("input", b.input);
    line("cache reads", b.cache_read);
    line("cache writes", b.cache_write);
    line("output", b.output);
    line("reasoning", b.reasoning);
    if (b.audio)
        line("audio", b.audio);
    if (b.image)
        line("images", b.image);
    if (b.video)
        line("video", b.video);
    if (b.web_search)
        line("web search", b.web_search);
    llmbill_prices_free(table);
    return 0;
}
