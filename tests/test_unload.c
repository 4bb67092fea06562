/* A host that unloads libllmbill (dlclose) while a thread that recorded is
 * still alive: the thread's exit must not call into the unloaded library
 * (the record gate's thread-exit destructor lives there). The library is
 * linked -z nodelete: dlclose leaves it mapped. Loads the built shared
 * library by path, as a plugin host or an FFI would. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmbill/llmbill.h"

/* the types of the header's own prototypes: a call through dlsym() that
 * does not match them does not compile */
typedef __typeof__(llmbill_open_string) *open_fn;
typedef __typeof__(llmbill_record) *record_fn;
typedef __typeof__(llmbill_close) *close_fn;

static record_fn rec;
static llmbill *h;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int recorded, may_exit;

static void *recorder(void *arg)
{
    struct llmbill_usage u;
    int rc;

    (void)arg;
    memset(&u, 0, sizeof u);
    u.struct_size = sizeof u;
    u.customer_id = "acme";
    u.model = "gpt-4o";
    u.input_tokens = 10;
    rc = rec(h, &u);
    pthread_mutex_lock(&mu);
    recorded = rc == 0 ? 1 : -1;
    pthread_cond_broadcast(&cv);
    while (!may_exit)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    return NULL; /* thread-specific data destructors run now */
}

int main(void)
{
    char err[512] = "", ini[1024];
    struct llmbill_open_opts opts;
    void *lib = dlopen(LIBLLMBILL_PATH, RTLD_NOW | RTLD_LOCAL);
    open_fn op;
    close_fn cl;
    pthread_t t;

    if (lib == NULL) {
        fprintf(stderr, "dlopen %s: %s\n", LIBLLMBILL_PATH, dlerror());
        return 1;
    }
    op = (open_fn)dlsym(lib, "llmbill_open_string");
    rec = (record_fn)dlsym(lib, "llmbill_record");
    cl = (close_fn)dlsym(lib, "llmbill_close");
    if (op == NULL || rec == NULL || cl == NULL) {
        fprintf(stderr, "dlsym: %s\n", dlerror());
        return 1;
    }
    snprintf(ini, sizeof ini, "[llmbill]\nplugin_dir = %s\ncallbacks = j\n"
             "[j]\nplugin = jsonl\npath = unload.jsonl\n", PLUGIN_DIR);
    memset(&opts, 0, sizeof opts);
    opts.struct_size = sizeof opts;
    opts.errbuf = err;
    opts.errbuf_len = sizeof err;
    if (op(&h, ini, &opts) != 0) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    pthread_create(&t, NULL, recorder, NULL);
    pthread_mutex_lock(&mu);
    while (recorded == 0)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    if (recorded != 1 || cl(h) != 0) {
        fprintf(stderr, "record or close failed\n");
        return 1;
    }
    dlclose(lib);
    pthread_mutex_lock(&mu);
    may_exit = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(t, NULL); /* crashed here while dlclose unmapped the library */
    printf("test_unload: ok\n");
    return 0;
}
