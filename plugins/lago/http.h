/* llmbill sink "lago": the HTTP transport. */
#ifndef LAGO_HTTP_H
#define LAGO_HTTP_H

#include <curl/curl.h>

#include "lago.h"

struct lago_http_opts {
    const char *api_key;
    const char *user_agent;
    const char *ca_file;        /* NULL: the system's CA store */
    long timeout_ms, connect_timeout_ms;
};

struct lago_http {
    CURL *curl;
    struct curl_slist *headers;
    struct lago_buf body;       /* the last response body (at most 1 MiB) */
    int64_t retry_after_ms;     /* from Retry-After / X-RateLimit-Reset, else 0 */
    long timeout_ms, connect_timeout_ms; /* as configured */
    int64_t deadline_ms;        /* set per emit(): the batch's deadline (Unix ms), 0 for none */
    char errbuf[CURL_ERROR_SIZE];
};

/* Sets up the handle. 0, or -1 with the reason in err. */
int lago_http_init(struct lago_http *h, const struct lago_http_opts *o, char *err, size_t errlen);
/* POSTs body (GET when body is NULL) to url, within timeout_ms and before
 * deadline_ms (when set: at least 1 ms is left to try). Returns the HTTP status, or -1
 * on a transport failure (DNS, connect, TLS, timeout, reset) with
 * h->errbuf set. */
long lago_http_request(struct lago_http *h, const char *url, const char *body, size_t len);
void lago_http_free(struct lago_http *h);

#endif
