/* A minimal service that embeds llmbill: open the config, record usage
 * after each (pretend) LLM call, flush, print what was delivered, close.
 *
 *   cc embed.c $(pkg-config --cflags --libs llmbill) -o embed
 *   ./embed llmbill.ini
 */
#include <stdio.h>
#include <string.h>

#include <llmbill/llmbill.h>

int main(int argc, char **argv)
{
    const char *config = argc > 1 ? argv[1] : "llmbill.ini";
    char err[1024] = "";
    struct llmbill_open_opts opts;
    llmbill *lb;
    int rc;

    memset(&opts, 0, sizeof opts);
    opts.struct_size = sizeof opts;
    opts.errbuf = err;
    opts.errbuf_len = sizeof err;
    rc = llmbill_open(&lb, config, &opts);
    if (rc != 0) {
        fprintf(stderr, "embed: %s\n", err);
        return 1;
    }

    for (int i = 0; i < 3; i++) {
        /* after the LLM call returns: who, which model, how many tokens */
        struct llmbill_usage u = LLMBILL_USAGE_INIT;
        struct llmbill_kv tags[] = { { "feature", "chat" } };
        char id[64];

        u.customer_id = "cust_42";
        u.provider = "openai";
        u.model = "gpt-4o";
        u.input_tokens = 1200 + (uint64_t)i;
        u.cached_input_tokens = 1000;
        u.output_tokens = 300;
        u.n_metadata = 1;
        u.metadata = tags;
        /* never blocks; on LLMBILL_EFULL the event was not taken: keep it */
        rc = llmbill_record_id(lb, &u, id, sizeof id);
        if (rc != 0)
            fprintf(stderr, "embed: record: %s\n", llmbill_strerror(rc));
        else
            printf("recorded %s\n", id);
    }

    rc = llmbill_flush(lb, 5000);
    for (size_t i = 0; i < llmbill_sink_count(lb); i++) {
        struct llmbill_stats st;

        memset(&st, 0, sizeof st);
        st.struct_size = sizeof st;
        llmbill_get_stats(lb, llmbill_sink_name(lb, i), &st);
        printf("sink %s: delivered %llu, pending %llu\n", llmbill_sink_name(lb, i),
               (unsigned long long)st.delivered, (unsigned long long)st.pending);
    }
    llmbill_close(lb);
    return rc == 0 ? 0 : 1;
}
