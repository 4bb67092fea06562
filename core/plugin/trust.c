/* llmbill core: whether a plugin file may be loaded, decided on the open
 * descriptor that is then loaded (no window to swap the file in between).
 * A file is trusted when it is a regular file owned by root or the effective
 * user, writable by neither group nor others, in directories that are all
 * owned by root or the effective user and writable by neither group nor
 * others, a root-owned sticky directory such as /tmp excepted (the rule of
 * sshd's StrictModes and sudo's plugin loader). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lb.h"

/* The reason st (of a file or directory) is not trusted, or NULL. */
static const char *untrusted(const struct stat *st, uid_t euid)
{
    if (st->st_uid != 0 && st->st_uid != euid)
        return "owned by neither root nor the effective user";
    if (S_ISDIR(st->st_mode) && st->st_uid == 0 && (st->st_mode & S_ISVTX))
        return NULL;
    if (st->st_mode & S_IWOTH)
        return "world-writable";
    if (st->st_mode & S_IWGRP)
        return "group-writable";
    return NULL;
}

int lb_plugin_open_trusted(const char *path, struct stat *st, char *err, size_t errlen)
{
    char link[64], real[PATH_MAX];
    const char *why;
    uid_t euid = geteuid();
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        lb_errf(err, errlen, "cannot open plugin %s: %s", path, strerror(errno));
        return errno == ENOMEM ? LLMBILL_ENOMEM : LLMBILL_ELOAD;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        lb_errf(err, errlen, "plugin file %s: not a regular file", path);
        goto refuse;
    }
    if ((why = untrusted(st, euid)) != NULL) {
        lb_errf(err, errlen, "plugin %s is %s; refusing to load it (owner uid %u, mode %04o)", path, why,
                (unsigned)st->st_uid, (unsigned)(st->st_mode & 07777));
        goto refuse;
    }
    /* the directories of the file as opened (a symlink's target) */
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    if ((n = readlink(link, real, sizeof real - 1)) <= 0 || real[0] != '/') {
        lb_errf(err, errlen, "plugin %s: cannot tell where the opened file lies (%s)", path,
                n < 0 ? strerror(errno) : "not a path");
        goto refuse;
    }
    real[n] = '\0';
    for (char *slash = strrchr(real, '/'); slash != NULL; slash = strrchr(real, '/')) {
        struct stat ds;

        slash[slash == real] = '\0';          /* "/a/b" -> "/a", "/a" -> "/" */
        if (stat(real, &ds) != 0) {
            lb_errf(err, errlen, "plugin %s: directory %s: %s", path, real, strerror(errno));
            goto refuse;
        }
        if ((why = untrusted(&ds, euid)) != NULL) {
            lb_errf(err, errlen, "plugin %s: its directory %s is %s; refusing to load it "
                    "(owner uid %u, mode %04o)", path, real, why, (unsigned)ds.st_uid,
                    (unsigned)(ds.st_mode & 07777));
            goto refuse;
        }
        if (slash == real)
            break;
    }
    return fd;
refuse:
    close(fd);
    return LLMBILL_ELOAD;
}
