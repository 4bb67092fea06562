/* llmbill sink "lago": the HTTP transport (libcurl). One easy handle per
 * instance, reused for every request so the connection stays alive. Used
 * only from the instance's worker thread. */
#define _GNU_SOURCE
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http.h"

#define MAX_BODY (1u << 20)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void global_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct lago_http *h = ud;
    size_t n = size * nmemb;
    long status = 0;

    /* a 2xx body (Lago echoes every event) is not needed: skip the copy */
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    if ((status < 200 || status >= 300) && h->body.len + n <= MAX_BODY)
        lago_buf_put(&h->body, data, n);
    return n;
}

/* Seconds (or an HTTP date, for Retry-After) to wait, in ms; -1 if unparsable. */
static int64_t parse_wait(const char *v, int allow_date)
{
    char *end;
    long long secs;

    while (*v == ' ' || *v == '\t')
        v++;
    secs = strtoll(v, &end, 10);
    if (end != v && (*end == '\0' || *end == '\r' || *end == '\n' || *end == ' ')) {
        if (secs < 0)
            return -1;
        return secs > 86400 ? 86400000 : secs * 1000;
    }
    if (allow_date) {
        char date[128];
        size_t n = strcspn(v, "\r\n");
        time_t when;

        snprintf(date, sizeof date, "%.*s", (int)(n < sizeof date ? n : sizeof date - 1), v);
        when = curl_getdate(date, NULL);
        if (when > 0) {
            int64_t d = ((int64_t)when - (int64_t)time(NULL)) * 1000;

            return d < 0 ? 0 : d;
        }
    }
    return -1;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct lago_http *h = ud;
    size_t n = size * nmemb;
    char line[256];
    int64_t w = -1;

    if (n >= sizeof line)
        return n;
    memcpy(line, data, n);
    line[n] = '\0';
    if (strncasecmp(line, "Retry-After:", 12) == 0)
        w = parse_wait(line + 12, 1);
    else if (strncasecmp(line, "X-RateLimit-Reset:", 18) == 0)
        w = parse_wait(line + 18, 0);
    if (w > h->retry_after_ms)
        h->retry_after_ms = w;
    return n;
}

int lago_http_init(struct lago_http *h, const struct lago_http_opts *o, char *err, size_t errlen)
{
    char auth[1024];

    memset(h, 0, sizeof *h);
    pthread_once(&curl_once, global_init);
    if (curl_init_rc != CURLE_OK) {
        snprintf(err, errlen, "curl_global_init: %s", curl_easy_strerror(curl_init_rc));
        return -1;
    }
    h->curl = curl_easy_init();
    if (h->curl == NULL) {
        snprintf(err, errlen, "curl_easy_init failed");
        return -1;
    }
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", o->api_key);
    h->headers = curl_slist_append(h->headers, auth);
    memset(auth, 0, sizeof auth);
    h->headers = curl_slist_append(h->headers, "Content-Type: application/json");
    h->headers = curl_slist_append(h->headers, "Accept: application/json");
    h->headers = curl_slist_append(h->headers, "Expect:"); /* no 100-continue round trip */
    if (h->headers == NULL) {
        snprintf(err, errlen, "out of memory");
        lago_http_free(h);
        return -1;
    }
    curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(h->curl, CURLOPT_USERAGENT, o->user_agent);
    h->timeout_ms = o->timeout_ms;
    h->connect_timeout_ms = o->connect_timeout_ms;
    curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, o->timeout_ms);
    curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    curl_easy_setopt(h->curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h->curl, CURLOPT_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (o->ca_file != NULL)
        curl_easy_setopt(h->curl, CURLOPT_CAINFO, o->ca_file);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->errbuf);
    /* proxies: libcurl reads http_proxy, https_proxy and no_proxy itself */
    return 0;
}

long lago_http_request(struct lago_http *h, const char *url, const char *body, size_t len)
{
    CURLcode rc;
    long status = 0;

    h->body.len = 0;
    if (h->body.p != NULL)
        h->body.p[0] = '\0';
    h->body.oom = 0;
    h->retry_after_ms = 0;
    h->errbuf[0] = '\0';
    {
        /* the host's deadline for this emit() caps the configured timeout */
        long t = h->timeout_ms;

        if (h->deadline_ms > 0) {
            struct timespec ts;
            int64_t left;

            clock_gettime(CLOCK_REALTIME, &ts);
            left = h->deadline_ms - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
            if (left < t)
                t = left > 0 ? (long)left : 1;
        }
        curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, t);
        curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS,
                         t < h->connect_timeout_ms ? t : h->connect_timeout_ms);
    }
    curl_easy_setopt(h->curl, CURLOPT_URL, url);
    if (body != NULL) {
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else {
        curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
    }
    rc = curl_easy_perform(h->curl);
    if (rc != CURLE_OK) {
        if (h->errbuf[0] == '\0')
            snprintf(h->errbuf, sizeof h->errbuf, "%s", curl_easy_strerror(rc));
        return -1;
    }
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

void lago_http_free(struct lago_http *h)
{
    if (h->curl != NULL)
        curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->headers); /* holds the key: freed, not logged */
    free(h->body.p);
    memset(h, 0, sizeof *h);
}
