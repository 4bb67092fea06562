/* A pre-fork server (as nginx, gunicorn, uWSGI, PHP-FPM and Apache prefork
 * run): the master forks N workers, and each worker opens its own handle
 * on the same llmbill.ini, after the fork. With [llmbill] spool_dir, each
 * handle gets its own journal in that directory; a worker that dies (even
 * kill -9) leaves its journal, and a live worker adopts it and delivers its
 * backlog (docs/journal.md). A handle opened before fork() cannot be used
 * in the children: every call there returns LLMBILL_EFORKED.
 *
 *   cc prefork.c $(pkg-config --cflags --libs llmbill) -o prefork
 *   ./prefork llmbill.ini 4
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <llmbill/llmbill.h>

/* One worker: its own handle, a few requests, close. */
static int worker(const char *config, int n)
{
    char err[1024] = "";
    struct llmbill_open_opts opts;
    llmbill *lb;
    int rc;

    memset(&opts, 0, sizeof opts);
    opts.struct_size = sizeof opts;
    opts.errbuf = err;
    opts.errbuf_len = sizeof err;
    if (llmbill_open(&lb, config, &opts) != 0) {
        fprintf(stderr, "worker %d: %s\n", n, err);
        return 1;
    }
    for (int i = 0; i < 5; i++) {
        /* after each (pretend) LLM call this worker served */
        struct llmbill_usage u = LLMBILL_USAGE_INIT;

        u.customer_id = "cust_42";
        u.provider = "openai";
        u.model = "gpt-4o";
        u.input_tokens = 1000 + (uint64_t)(n * 100 + i);
        u.output_tokens = 200;
        rc = llmbill_record(lb, &u);
        if (rc != 0)
            fprintf(stderr, "worker %d: record: %s\n", n, llmbill_strerror(rc));
    }
    rc = llmbill_close(lb); /* delivers, or keeps the rest in its journal */
    if (rc != 0)
        fprintf(stderr, "worker %d: close: %s\n", n, llmbill_strerror(rc));
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *config = argc > 1 ? argv[1] : "llmbill.ini";
    int workers = argc > 2 ? atoi(argv[2]) : 4, failed = 0;

    if (workers < 1 || workers > 64) {
        fprintf(stderr, "usage: prefork [CONFIG] [WORKERS (1-64)]\n");
        return 2;
    }
    for (int n = 0; n < workers; n++) {
        pid_t pid = fork();

        if (pid < 0) {
            perror("prefork: fork");
            return 1;
        }
        if (pid == 0)
            _exit(worker(config, n)); /* the handle is opened in the worker */
    }
    for (int n = 0; n < workers; n++) {
        int st;

        if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed++;
    }
    printf("prefork: %d worker(s), %d failed\n", workers, failed);
    return failed ? 1 : 0;
}
