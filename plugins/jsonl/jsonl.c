/* llmbill sink "jsonl": appends each usage event, in the usage JSON form, as
 * one line to a file. A batch is written with one write(2) on an O_APPEND
 * descriptor; a short write is cut back so the file never holds half a
 * line, and the batch is retried. With fsync = true every batch is
 * fdatasync'ed before it counts as delivered. When a rotation renames or
 * removes the file (logrotate's create mode), the next batch goes to a new
 * file at the configured path. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmbill/sink.h"

struct jsonl {
    const struct llmbill_host *host;
    llmbill_sink_ctx *ctx;
    const char *path;
    int fsync;
    int fd;
    dev_t dev;                  /* the open file, to see a rotation */
    ino_t ino;
    char *buf;
    size_t cap;
    char reason[256];
};

static const struct llmbill_option jsonl_options[] = {
    { "path", LLMBILL_OPT_PATH, LLMBILL_OPT_REQUIRED, NULL, NULL,
      "file to append to (relative to the config file)" },
    { "fsync", LLMBILL_OPT_BOOL, 0, "false", NULL, "fdatasync after every batch" },
    { NULL, 0, 0, NULL, NULL, NULL }
};

/* Creates the parent directories of path (mkdir -p of its dirname). */
static void make_parents(const char *path)
{
    char *p = strdup(path);

    if (p == NULL)
        return;
    for (char *s = p + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            (void)mkdir(p, 0750);
            *s = '/';
        }
    }
    free(p);
}

/* Opens the file, or reopens it when its path no longer names the open file
 * (a rotation tool renamed or removed it: logrotate's create mode); one
 * stat() per batch. 0, or -1 with the reason in j->reason. */
static int jsonl_open(struct jsonl *j)
{
    struct stat st;

    if (j->fd >= 0) {
        if (stat(j->path, &st) == 0 && st.st_dev == j->dev && st.st_ino == j->ino)
            return 0;
        if (j->fsync)
            (void)fdatasync(j->fd);
        close(j->fd);
        j->fd = -1;
    }
    make_parents(j->path);
    j->fd = open(j->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (j->fd < 0 || fstat(j->fd, &st) != 0) {
        snprintf(j->reason, sizeof j->reason, "cannot open %s: %s", j->path, strerror(errno));
        if (j->fd >= 0)
            close(j->fd);
        j->fd = -1;
        return -1;
    }
    j->dev = st.st_dev;
    j->ino = st.st_ino;
    return 0;
}

static int jsonl_create(const struct llmbill_host *host, llmbill_sink_ctx *ctx, void **state)
{
    struct jsonl *j = calloc(1, sizeof *j);

    if (j == NULL) {
        host->set_error(ctx, "out of memory");
        return -1;
    }
    j->host = host;
    j->ctx = ctx;
    j->fd = -1;
    j->path = host->config_get_path(ctx, "path");
    host->config_get_bool(ctx, "fsync", &j->fsync);
    if (jsonl_open(j) != 0) {
        host->set_error(ctx, "%s", j->reason);
        free(j);
        return -1;
    }
    *state = j;
    return 0;
}

static int jsonl_emit(void *state, struct llmbill_sink_batch *b)
{
    struct jsonl *j = state;
    size_t len = 0;
    off_t start;
    ssize_t w;

    if (jsonl_open(j) != 0) {
        b->reason = j->reason;
        return LLMBILL_SINK_RETRY;
    }
    for (size_t i = 0; i < b->n; i++) {
        for (;;) {
            int n = j->host->usage_to_json(b->events[i], j->buf + len,
                                           j->cap > len ? j->cap - len : 0);

            if (n < 0) {
                b->results[i] = LLMBILL_SINK_ERROR;
                b->reasons[i] = "record cannot be encoded as JSON";
                break;
            }
            if (len + (size_t)n + 2 <= j->cap) {
                len += (size_t)n;
                j->buf[len++] = '\n';
                break;
            }
            {
                size_t ncap = (j->cap + (size_t)n + 2) * 2;
                char *nb = realloc(j->buf, ncap);

                if (nb == NULL) {
                    b->reason = "out of memory";
                    return LLMBILL_SINK_RETRY;
                }
                j->buf = nb;
                j->cap = ncap;
            }
        }
    }
    start = lseek(j->fd, 0, SEEK_END);
    w = write(j->fd, j->buf, len);
    if (w != (ssize_t)len) {
        int e = w < 0 ? errno : ENOSPC;

        if (w > 0 && start >= 0 && ftruncate(j->fd, start) != 0)
            j->host->log(j->ctx, LLMBILL_SINK_LOG_ERROR, "%s: could not cut back a partial "
                         "write: %s", j->path, strerror(errno));
        snprintf(j->reason, sizeof j->reason, "write %s: %s", j->path, strerror(e));
        b->reason = j->reason;
        return LLMBILL_SINK_RETRY;
    }
    if (j->fsync && fdatasync(j->fd) != 0) {
        snprintf(j->reason, sizeof j->reason, "fdatasync %s: %s", j->path, strerror(errno));
        b->reason = j->reason;
        return LLMBILL_SINK_RETRY;
    }
    for (size_t i = 0; i < b->n; i++)
        if (b->results[i] != LLMBILL_SINK_OK)
            return LLMBILL_SINK_PARTIAL;
    return LLMBILL_SINK_OK;
}

static int jsonl_flush(void *state)
{
    struct jsonl *j = state;

    return j->fd >= 0 && fdatasync(j->fd) != 0 ? -1 : 0;
}

static void jsonl_destroy(void *state)
{
    struct jsonl *j = state;

    if (j->fd >= 0)
        close(j->fd);
    free(j->buf);
    free(j);
}

static const struct llmbill_sink_desc jsonl_desc = {
    .struct_size = sizeof(struct llmbill_sink_desc),
    .abi = LLMBILL_SINK_ABI,
    .name = "jsonl",
    .version = "0.1.0",
    .description = "append usage events as JSON lines to a file",
    .max_batch = 1000,
    .options = jsonl_options,
    .create = jsonl_create,
    .emit = jsonl_emit,
    .flush = jsonl_flush,
    .destroy = jsonl_destroy,
};

LLMBILL_SINK_DEFINE(jsonl_desc)
