/* llmbill core: per-instance dead-letter files, opened (and checked
 * writable) at open, reopened when a rotation moved them away. Each line is the usage JSON
 * form plus a "dead_letter" object (sink, reason, attempts, at_ms); replay
 * ignores that key, so `llmbill replay FILE` resends a dead-letter file. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lb.h"

/* Opens (creating it and its directory) the dead-letter file, or reopens
 * it when its path no longer names the open file (a rotation tool renamed
 * or removed it: logrotate's create mode); one stat() per write. 0, or -1
 * with the reason in err (when err is NULL, logged). */
static int open_file(struct lb_sink *s, char *err, size_t errlen)
{
    char *dir, why[LB_ERRLEN];
    struct stat st;

    if (s->dl_fd >= 0) {
        if (stat(s->dead_letter_path, &st) == 0 && st.st_dev == s->dl_dev && st.st_ino == s->dl_ino)
            return 0;
        lb_log(&s->h->log, LLMBILL_LOG_INFO, "sink %s: dead-letter file %s was rotated; "
               "reopening it", s->name, s->dead_letter_path);
        lb_deadletter_close(s);
    }
    dir = lb_strdup(s->dead_letter_path);
    if (dir == NULL) {
        snprintf(why, sizeof why, "out of memory");
        goto fail;
    }
    if (lb_mkdirs(dirname(dir)) != 0) {
        snprintf(why, sizeof why, "cannot create its directory: %s", strerror(errno));
        free(dir);
        goto fail;
    }
    free(dir);
    s->dl_fd = open(s->dead_letter_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (s->dl_fd < 0 || fstat(s->dl_fd, &st) != 0) {
        snprintf(why, sizeof why, "cannot open it for appending: %s", strerror(errno));
        lb_deadletter_close(s);
        goto fail;
    }
    s->dl_dev = st.st_dev;
    s->dl_ino = st.st_ino;
    return 0;
fail:
    if (err != NULL)
        lb_errf(err, errlen, "sink %s: dead-letter file %s: %s", s->name, s->dead_letter_path, why);
    else
        lb_log(&s->h->log, LLMBILL_LOG_ERROR, "sink %s: dead-letter file %s: %s", s->name,
               s->dead_letter_path, why);
    return -1;
}

int lb_deadletter_open(struct lb_sink *s, char *err, size_t errlen)
{
    return open_file(s, err, errlen);
}

/* Appends one dead-letter line for ev to buf (grown as needed). */
static int append_line(struct lb_sink *s, const struct lb_event *ev, const char *reason,
                       uint32_t attempts, char **buf, size_t *len, size_t *cap)
{
    for (;;) {
        char *p = *buf + *len;
        size_t room = *cap - *len, l;
        int jl = llmbill_usage_to_json(&ev->u, p, room);

        if (jl < 0)
            return -1;
        l = (size_t)jl - 1; /* reopen the object: drop its closing brace */
        if (l < room)
            l += (size_t)snprintf(p + l, room - l, ",\"dead_letter\":{\"sink\":");
        if (l < room)
            l += lb_json_string(s->name, p + l, room - l);
        if (l < room)
            l += (size_t)snprintf(p + l, room - l, ",\"reason\":");
        if (l < room)
            l += lb_json_string(reason, p + l, room - l);
        if (l < room)
            l += (size_t)snprintf(p + l, room - l, ",\"attempts\":%u,\"at_ms\":%lld}}\n",
                                  attempts, (long long)lb_now_ms());
        if (l < room) {
            *len += l;
            return 0;
        }
        {
            size_t ncap = *cap * 2 + l;
            char *nb = realloc(*buf, ncap);

            if (nb == NULL)
                return -1;
            *buf = nb;
            *cap = ncap;
        }
    }
}

/* Appends one line per event, all or nothing (a short write is cut back).
 * 0 on success, -1 (logged) when nothing was written. */
int lb_deadletter_write(struct lb_sink *s, struct lb_event *const *evs, const char *const *reasons,
                        size_t n, uint32_t attempts)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    off_t start;
    ssize_t w;
    int rc = -1;

    if (buf == NULL || open_file(s, NULL, 0) != 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (append_line(s, evs[i], reasons[i], attempts, &buf, &len, &cap) != 0)
            goto out;
    start = lseek(s->dl_fd, 0, SEEK_END);
    w = write(s->dl_fd, buf, len);
    if (w != (ssize_t)len) {
        int e = w < 0 ? errno : ENOSPC;

        if (w > 0 && (start < 0 || ftruncate(s->dl_fd, start) != 0))
            lb_log(&s->h->log, LLMBILL_LOG_ERROR, "sink %s: dead-letter file %s has a partial "
                   "line", s->name, s->dead_letter_path);
        lb_log(&s->h->log, LLMBILL_LOG_ERROR, "sink %s: cannot write dead-letter file %s: %s; "
               "keeping the events queued", s->name, s->dead_letter_path, strerror(e));
        goto out;
    }
    if (fdatasync(s->dl_fd) != 0)
        lb_log(&s->h->log, LLMBILL_LOG_WARN, "sink %s: fdatasync(%s): %s", s->name,
               s->dead_letter_path, strerror(errno));
    if (atomic_load(&s->h->aborting))
        atomic_fetch_add(&s->dl_at_shutdown, n); /* one line per sink, at the end of close */
    else
        for (size_t i = 0; i < n; i++)
            lb_log(&s->h->log, LLMBILL_LOG_WARN, "sink %s: event %s dead-lettered to %s: %s",
                   s->name, evs[i]->u.event_id, s->dead_letter_path, reasons[i]);
    rc = 0;
out:
    free(buf);
    return rc;
}

void lb_deadletter_close(struct lb_sink *s)
{
    if (s->dl_fd >= 0)
        close(s->dl_fd);
    s->dl_fd = -1;
}
