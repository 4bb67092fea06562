/* Starts tests/lago_server.py on a free port and talks to its control API.
 * Shared by the Lago integration tests and the Lago benchmark. */
#ifndef LAGO_HARNESS_H
#define LAGO_HARNESS_H

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define HARNESS_MAX (1u << 26) /* the largest answer kept (/_events of a big run) */

struct lago_server {
    pid_t pid;
    int port;
    char base[64];
};

/* Every server started and not yet stopped: killed at exit and on a fatal
 * signal, so that no test leaves one running (holding ctest's output pipe). */
#define HARNESS_SERVERS 8
static pid_t harness_pids[HARNESS_SERVERS];
static pid_t harness_owner; /* a forked child of the test leaves them alone */

static void harness_kill_all(void)
{
    if (getpid() != harness_owner)
        return;
    for (int i = 0; i < HARNESS_SERVERS; i++) {
        if (harness_pids[i] > 0) {
            kill(-harness_pids[i], SIGKILL); /* its process group: the server and anything it started */
            waitpid(harness_pids[i], NULL, 0);
            harness_pids[i] = 0;
        }
    }
}

static inline void lago_server_stop(struct lago_server *s)
{
    if (s->pid > 0) {
        kill(-s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
        for (int i = 0; i < HARNESS_SERVERS; i++)
            if (harness_pids[i] == s->pid)
                harness_pids[i] = 0;
        s->pid = 0;
    }
}

static void harness_on_signal(int sig)
{
    harness_kill_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Spawns the server script in a process group of its own; returns 0 once it
 * printed its port. The server dies with this process however it ends: at
 * exit() (atexit), on SIGTERM/SIGINT/SIGHUP (a handler) and on anything
 * else, SIGKILL from ctest's timeout included (PR_SET_PDEATHSIG). */
static inline int lago_server_start(struct lago_server *s, const char *script, const char *key)
{
    static int hooked;
    int fds[2], slot;
    pid_t parent = getpid();
    FILE *f;
    char line[64];

    for (slot = 0; slot < HARNESS_SERVERS && harness_pids[slot] != 0; slot++)
        ;
    if (slot == HARNESS_SERVERS || pipe(fds) != 0)
        return -1;
    if (!hooked) {
        hooked = 1;
        harness_owner = parent;
        atexit(harness_kill_all);
        signal(SIGTERM, harness_on_signal);
        signal(SIGINT, harness_on_signal);
        signal(SIGHUP, harness_on_signal);
    }
    s->pid = fork();
    if (s->pid < 0)
        return -1;
    if (s->pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) /* the parent died before prctl() */
            _exit(127);
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execlp("python3", "python3", script, "--port", "0", "--api-key", key, (char *)NULL);
        _exit(127);
    }
    setpgid(s->pid, s->pid); /* also here: no race with a kill of the group */
    harness_pids[slot] = s->pid;
    close(fds[1]);
    f = fdopen(fds[0], "r");
    if (f == NULL || fgets(line, sizeof line, f) == NULL || sscanf(line, "PORT %d", &s->port) != 1) {
        if (f)
            fclose(f);
        lago_server_stop(s);
        return -1;
    }
    fclose(f);
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
    return 0;
}

static size_t harness_write(char *d, size_t size, size_t n, void *ud)
{
    size_t *len = ud, k = size * n;
    char *buf = (char *)(len + 1);

    if (*len + k < HARNESS_MAX - sizeof(size_t) - 1) {
        memcpy(buf + *len, d, k);
        *len += k;
        buf[*len] = '\0';
    }
    return k;
}

/* GET (body NULL) or POST path on the server; returns a malloc'd body. */
static inline char *lago_server_call(const struct lago_server *s, const char *path, const char *body,
                                     const char *key)
{
    CURL *c = curl_easy_init();
    size_t *mem = calloc(1, HARNESS_MAX);
    char url[256], auth[128];
    struct curl_slist *h = NULL;
    char *out;

    snprintf(url, sizeof url, "%s%s", s->base, path);
    if (key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        h = curl_slist_append(h, auth);
    }
    h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, harness_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, mem);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_perform(c);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    out = strdup((char *)(mem + 1));
    free(mem);
    return out;
}

static inline void lago_server_control(const struct lago_server *s, const char *json)
{
    free(lago_server_call(s, "/_control", json, NULL));
}

/* An integer field of /_stats ("stored", "posts", ...). */
static inline long lago_server_stat(const struct lago_server *s, const char *name)
{
    char *body = lago_server_call(s, "/_stats", NULL, NULL), key[64], *p;
    long v = -1;

    snprintf(key, sizeof key, "\"%s\": ", name);
    p = strstr(body, key);
    if (p)
        v = strtol(p + strlen(key), NULL, 10);
    free(body);
    return v;
}

#endif
