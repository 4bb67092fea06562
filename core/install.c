/* llmbill core: where the installed plugins and price table are. Each is
 * looked for relative to where libllmbill itself was loaded from (dladdr),
 * so a tree installed under any prefix, or moved after installing, works
 * with no variables; else at the configure-time prefix. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lb.h"

#ifndef LLMBILL_PLUGIN_INSTALL_DIR
#define LLMBILL_PLUGIN_INSTALL_DIR "/usr/local/lib/llmbill/plugins"
#endif
#ifndef LLMBILL_PRICES_DEFAULT
#define LLMBILL_PRICES_DEFAULT "/usr/local/share/llmbill/model_prices.json"
#endif
/* the data directory as seen from the library directory ("../share") */
#ifndef LLMBILL_LIB_TO_DATA
#define LLMBILL_LIB_TO_DATA "../share"
#endif

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char plugin_dir[PATH_MAX], prices[PATH_MAX];

/* Sets out to dir/rel when that exists (as a directory when want_dir),
 * else to fallback. */
static void pick(char *out, const char *dir, const char *rel, int want_dir, const char *fallback)
{
    struct stat st;
    char path[PATH_MAX];
    int n = dir ? snprintf(path, sizeof path, "%s/%s", dir, rel) : -1;

    /* canonical (no "lib/../share"), as messages and `llmbill check` show it */
    if (n > 0 && n < PATH_MAX && stat(path, &st) == 0 &&
        (want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)) && realpath(path, out) != NULL)
        return;
    snprintf(out, PATH_MAX, "%s", fallback);
}

static void find_install(void)
{
    Dl_info info;
    char lib[PATH_MAX], *dir = NULL, *slash;

    /* the library's own file: libllmbill.so (or the program, when linked statically) */
    if (dladdr((void *)&find_install, &info) != 0 && info.dli_fname != NULL &&
        realpath(info.dli_fname, lib) != NULL && (slash = strrchr(lib, '/')) != NULL) {
        *slash = '\0';
        dir = lib;
    }
    pick(plugin_dir, dir, "llmbill/plugins", 1, LLMBILL_PLUGIN_INSTALL_DIR);
    pick(prices, dir, LLMBILL_LIB_TO_DATA "/llmbill/model_prices.json", 0, LLMBILL_PRICES_DEFAULT);
}

const char *lb_installed_plugin_dir(void)
{
    pthread_once(&once, find_install);
    return plugin_dir;
}

const char *lb_installed_prices(void)
{
    pthread_once(&once, find_install);
    return prices;
}

const char *llmbill_installed_path(const char *what)
{
    if (what != NULL && strcmp(what, "plugins") == 0)
        return lb_installed_plugin_dir();
    if (what != NULL && strcmp(what, "prices") == 0)
        return lb_installed_prices();
    return NULL;
}
