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

/* dlopen()s the open descriptor fd through /proc/self/fd, so
 * the object loaded is the file that was checked. glibc matches a loaded
 * object by the name it was loaded under before anything else, and a plain
 * "/proc/self/fd/N" would name, once N is closed and reused, whatever was
 * loaded through N before: each load takes a name of its own, a counter
 * spelt in the path as 32 "/" or "/." steps ("/proc/self//./.../fd/N"),
 * which the kernel resolves to the same descriptor. (An object already loaded
 * from this very file, matched by its inode, is shared as usual.) The caller
 * keeps fd open while the object is loaded: the name stays in the object's
 * link map, and whatever reopens it by that name (sanitizer runtimes,
 * debuggers, profilers, dladdr's dli_fname) must find this file, not
 * whatever took descriptor N after it was closed. */
static void *dlopen_fd(int fd, char *name, size_t cap)
{
    static unsigned counter;
    unsigned c = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
    size_t k = (size_t)snprintf(name, cap, "/proc/self");
    void *dl;

    for (int bit = 31; bit >= 0 && k < cap; bit--)
        k += (size_t)snprintf(name + k, cap - k, "%s", (c >> bit) & 1 ? "/." : "/");
    if (k < cap)
        snprintf(name + k, cap - k, "/fd/%d", fd);
    dlerror();
    dl = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    return dl;
}

/* The name a plugin is asked for: name itself, or a path's file name
 * without ".so" (plugin = ./csv.so asks for csv). */
static void wanted_name(const char *name, char *out, size_t cap)
{
    const char *b = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    size_t n = strlen(b);

    if (n > 3 && strcmp(b + n - 3, ".so") == 0)
        n -= 3;
    snprintf(out, cap, "%.*s", (int)n, b);
}

/* Validates the descriptor of the loaded object dl into out (the sink
 * must call itself want) and copies path. 0, or an error with the reason
 * in err; the caller unloads dl then. */
static int load_checked(void *dl, const char *path, const char *want, struct lb_plugin *out,
                        char *err, size_t errlen)
{
    llmbill_sink_describe_fn describe;
    const struct llmbill_sink_desc *d;
    size_t n;
    int req;

    *(void **)(&describe) = dlsym(dl, LLMBILL_SINK_ENTRY);
    if (describe == NULL) {
        lb_errf(err, errlen, "plugin %s does not export %s() (is it an llmbill sink? "
                "use LLMBILL_SINK_DEFINE)", path, LLMBILL_SINK_ENTRY);
        return LLMBILL_ELOAD;
    }
    d = describe(LLMBILL_SINK_ABI);
    if (d == NULL) {
        lb_errf(err, errlen, "plugin %s refused host sink ABI %u.%u (it was built for another "
                "major version)", path, LLMBILL_SINK_ABI_MAJOR, LLMBILL_SINK_ABI_MINOR);
        return LLMBILL_EABI;
    }
    if ((d->abi >> 16) != LLMBILL_SINK_ABI_MAJOR) {
        lb_errf(err, errlen, "plugin %s was built for sink ABI %u.%u; this host speaks %u.%u",
                path, d->abi >> 16, d->abi & 0xffff, LLMBILL_SINK_ABI_MAJOR, LLMBILL_SINK_ABI_MINOR);
        return LLMBILL_EABI;
    }
    if (d->struct_size < DESC_MIN_SIZE) {
        lb_errf(err, errlen, "plugin %s has a descriptor of %u bytes; ABI %u needs at least %zu",
                path, d->struct_size, LLMBILL_SINK_ABI_MAJOR, DESC_MIN_SIZE);
        return LLMBILL_EABI;
    }
    memset(&out->desc, 0, sizeof out->desc);
    n = d->struct_size < sizeof out->desc ? d->struct_size : sizeof out->desc;
    memcpy(&out->desc, d, n);
    /* a request-based sink (ABI 1.2) has request() and response() and may
     * leave emit() NULL */
    req = out->desc.request != NULL && out->desc.response != NULL;
    if (out->desc.name == NULL || out->desc.create == NULL || (out->desc.emit == NULL && !req) ||
        out->desc.destroy == NULL || (out->desc.request == NULL) != (out->desc.response == NULL)) {
        lb_errf(err, errlen, "plugin %s: descriptor lacks %s", path,
                out->desc.name == NULL ? "a name" : out->desc.create == NULL ? "create()"
                : out->desc.destroy == NULL ? "destroy()"
                : out->desc.request == NULL && out->desc.response == NULL
                    ? "emit() (or request() and response())"
                : out->desc.request == NULL ? "request() beside response()"
                                            : "response() beside request()");
        return LLMBILL_EABI;
    }
    if (strcmp(out->desc.name, want) != 0) {
        lb_errf(err, errlen, "plugin %s calls itself '%s', not '%s' (the name it was loaded as)",
                path, out->desc.name, want);
        return LLMBILL_ELOAD;
    }
    out->path = lb_strdup(path);
    return out->path == NULL ? LLMBILL_ENOMEM : 0;
}

/* Opens path (trusted only: lb_plugin_open_trusted), dlopen()s that
 * descriptor and validates its descriptor into out; the sink must call
 * itself want. */
static int load_path(const char *path, const char *want, struct lb_plugin *out, char *err,
                     size_t errlen)
{
    struct stat st;
    char fdname[128];
    void *dl;
    int fd = lb_plugin_open_trusted(path, &st, err, errlen), rc;

    if (fd < 0)
        return fd;
    dl = dlopen_fd(fd, fdname, sizeof fdname);
    if (dl == NULL) {
        const char *e = dlerror();

        lb_errf(err, errlen, "cannot load plugin %s: %s", path, e ? e : "unknown dlopen error");
        close(fd);
        return LLMBILL_ELOAD;
    }
    rc = load_checked(dl, path, want, out, err, errlen);
    if (rc != 0) {
        dlclose(dl);
        close(fd);
        return rc;
    }
    out->dl = dl;
    out->fd = fd;
    return 0;
}

int lb_plugin_load(const char *name, const char *const *dirs, const char *base_dir,
                   struct lb_plugin *out, char *err, size_t errlen)
{
    char tried[1024] = "", want[256];
    size_t tl = 0;
    int rc;

    memset(out, 0, sizeof *out);
    out->fd = -1;
    wanted_name(name, want, sizeof want);
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
        rc = load_path(path, want, out, err, errlen);
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
            rc = load_path(path, want, out, err, errlen);
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
        if (p->fd >= 0)
            close(p->fd);
#endif
        /* without dlclose the object stays mapped under its /proc/self/fd
         * name, so its descriptor stays open too */
        p->dl = NULL;
    }
    p->fd = -1;
    free(p->path);
    p->path = NULL;
}
