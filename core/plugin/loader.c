/* llmbill core: finding, loading and checking sink plugins. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lb.h"

/* The smallest descriptor a 1.x sink can have: up to and including destroy. */
#define DESC_MIN_SIZE (offsetof(struct llmbill_sink_desc, destroy) + sizeof(void (*)(void *)))

static int is_regular_file(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* dlopen()s path and validates its descriptor into out. */
static int load_path(const char *path, struct lb_plugin *out, char *err, size_t errlen)
{
    llmbill_sink_describe_fn describe;
    const struct llmbill_sink_desc *d;
    struct stat st;
    void *dl;
    size_t n;

    if (stat(path, &st) == 0 && (st.st_mode & S_IWOTH)) {
        lb_errf(err, errlen, "plugin %s is world-writable; refusing to load it", path);
        return LLMBILL_ELOAD;
    }
    dlerror();
    dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        const char *e = dlerror();

        lb_errf(err, errlen, "cannot load plugin %s: %s", path, e ? e : "unknown dlopen error");
        return LLMBILL_ELOAD;
    }
    *(void **)(&describe) = dlsym(dl, LLMBILL_SINK_ENTRY);
    if (describe == NULL) {
        lb_errf(err, errlen, "plugin %s does not export %s() (is it an llmbill sink? "
                "use LLMBILL_SINK_DEFINE)", path, LLMBILL_SINK_ENTRY);
        dlclose(dl);
        return LLMBILL_ELOAD;
    }
    d = describe(LLMBILL_SINK_ABI);
    if (d == NULL) {
        lb_errf(err, errlen, "plugin %s refused host sink ABI %u.%u (it was built for another "
                "major version)", path, LLMBILL_SINK_ABI_MAJOR, LLMBILL_SINK_ABI_MINOR);
        dlclose(dl);
        return LLMBILL_EABI;
    }
    if ((d->abi >> 16) != LLMBILL_SINK_ABI_MAJOR) {
        lb_errf(err, errlen, "plugin %s was built for sink ABI %u.%u; this host speaks %u.%u",
                path, d->abi >> 16, d->abi & 0xffff, LLMBILL_SINK_ABI_MAJOR, LLMBILL_SINK_ABI_MINOR);
        dlclose(dl);
        return LLMBILL_EABI;
    }
    if (d->struct_size < DESC_MIN_SIZE) {
        lb_errf(err, errlen, "plugin %s has a descriptor of %u bytes; ABI %u needs at least %zu",
                path, d->struct_size, LLMBILL_SINK_ABI_MAJOR, DESC_MIN_SIZE);
        dlclose(dl);
        return LLMBILL_EABI;
    }
    memset(&out->desc, 0, sizeof out->desc);
    n = d->struct_size < sizeof out->desc ? d->struct_size : sizeof out->desc;
    memcpy(&out->desc, d, n);
    if (out->desc.name == NULL || out->desc.create == NULL || out->desc.emit == NULL ||
        out->desc.destroy == NULL) {
        lb_errf(err, errlen, "plugin %s: descriptor lacks %s", path,
                out->desc.name == NULL ? "a name" : out->desc.create == NULL ? "create()"
                : out->desc.emit == NULL ? "emit()" : "destroy()");
        dlclose(dl);
        return LLMBILL_EABI;
    }
    out->dl = dl;
    out->path = lb_strdup(path);
    if (out->path == NULL) {
        dlclose(dl);
        return LLMBILL_ENOMEM;
    }
    return 0;
}

int lb_plugin_load(const char *name, const char *const *dirs, const char *base_dir,
                   struct lb_plugin *out, char *err, size_t errlen)
{
    char tried[1024] = "";
    size_t tl = 0;
    int rc;

    memset(out, 0, sizeof *out);
    if (strchr(name, '/') != NULL) {
        char *path = lb_path_join(base_dir, name);

        if (path == NULL)
            return LLMBILL_ENOMEM;
        if (!is_regular_file(path)) {
            lb_errf(err, errlen, "plugin file %s: %s", path,
                    access(path, F_OK) == 0 ? "not a regular file" : strerror(errno));
            free(path);
            return LLMBILL_ELOAD;
        }
        rc = load_path(path, out, err, errlen);
        free(path);
        return rc;
    }
    for (size_t i = 0; dirs[i] != NULL; i++) {
        char *path;
        size_t need = strlen(dirs[i]) + strlen(name) + 5;

        if (dirs[i][0] == '\0')
            continue;
        path = malloc(need);
        if (path == NULL)
            return LLMBILL_ENOMEM;
        snprintf(path, need, "%s/%s.so", dirs[i], name);
        if (is_regular_file(path)) {
            rc = load_path(path, out, err, errlen);
            free(path);
            return rc;
        }
        if (tl + strlen(path) + 3 < sizeof tried)
            tl += (size_t)snprintf(tried + tl, sizeof tried - tl, "%s%s", tl ? ", " : "", path);
        free(path);
    }
    lb_errf(err, errlen, "plugin '%s' not found (searched: %s)", name, tl ? tried : "no directories");
    return LLMBILL_ELOAD;
}

void lb_plugin_unload(struct lb_plugin *p)
{
    if (p->dl != NULL) {
#ifndef LLMBILL_NO_DLCLOSE
        dlclose(p->dl);
#endif
        p->dl = NULL;
    }
    free(p->path);
    p->path = NULL;
}
