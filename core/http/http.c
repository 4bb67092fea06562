/* llmbill core: the HTTP layer's transfers (see http.h). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void global_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int lb_http_global_init(void)
{
    pthread_once(&curl_once, global_init);
    return curl_init_rc == CURLE_OK ? 0 : -1;
}

/* Grows *p to hold n bytes and a NUL. 0 or -1. */
static int grow(char **p, size_t *cap, size_t n)
{
    size_t c = *cap ? *cap : 4096;
    char *q;

    if (n + 1 <= *cap)
        return 0;
    while (c < n + 1)
        c *= 2;
    if ((q = realloc(*p, c)) == NULL)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* The answer body, kept up to LB_HTTP_MAX_BODY bytes; the rest is read and
 * dropped so that the connection stays usable. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct lb_xfer *x = ud;
    size_t n = size * nmemb, take = n;

    if (x->len + take > LB_HTTP_MAX_BODY) {
        take = LB_HTTP_MAX_BODY - x->len;
        x->truncated = 1;
    }
    if (take > 0) {
        if (grow(&x->body, &x->cap, x->len + take) != 0) {
            x->truncated = 1;
            return n;
        }
        memcpy(x->body + x->len, data, take);
        x->len += take;
        x->body[x->len] = '\0';
    }
    return n;
}

int64_t lb_http_parse_wait(const char *v, int allow_date)
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

/* Header lines of the answer: Retry-After, X-RateLimit-Reset and Location
 * are read; a new status line (after a 1xx) starts over. Lines longer than
 * 1 KiB are skipped (curl bounds the whole header block). */
static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct lb_xfer *x = ud;
    size_t n = size * nmemb;
    char line[LB_HTTP_MAX_LOCATION + 16];
    int64_t w = -1;

    if (n >= sizeof line)
        return n;
    memcpy(line, data, n);
    line[n] = '\0';
    if (strncmp(line, "HTTP/", 5) == 0) {
        x->retry_after_ms = 0;
        x->location[0] = '\0';
    } else if (strncasecmp(line, "Retry-After:", 12) == 0) {
        w = lb_http_parse_wait(line + 12, 1);
    } else if (strncasecmp(line, "X-RateLimit-Reset:", 18) == 0) {
        w = lb_http_parse_wait(line + 18, 0);
    } else if (strncasecmp(line, "Location:", 9) == 0) {
        const char *v = line + 9;
        size_t k;

        while (*v == ' ' || *v == '\t')
            v++;
        k = strcspn(v, "\r\n");
        snprintf(x->location, sizeof x->location, "%.*s", (int)k, v);
    }
    if (w > x->retry_after_ms)
        x->retry_after_ms = w;
    return n;
}

int lb_xfer_init(struct lb_sink *s, struct lb_xfer *x)
{
    memset(x, 0, sizeof *x);
    if (lb_http_global_init() != 0 || (x->easy = curl_easy_init()) == NULL)
        return -1;
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYHOST, 2L);
    if (s->ca_file != NULL)
        curl_easy_setopt(x->easy, CURLOPT_CAINFO, s->ca_file);
    /* HTTP/2 over TLS when ALPN offers it (see lb_xfer_prepare for PIPEWAIT) */
    curl_easy_setopt(x->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)s->http_connect_ms);
    curl_easy_setopt(x->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(x->easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
    /* proxies: libcurl reads http_proxy, https_proxy and no_proxy itself */
    return 0;
}

void lb_xfer_free(struct lb_xfer *x)
{
    if (x->easy != NULL)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->hdrs); /* may hold a key: freed, never logged */
    free(x->req_body);
    free(x->body);
    memset(x, 0, sizeof *x);
}

static int is_loopback(const char *host)
{
    return strcasecmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
           strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0;
}

int lb_http_check_url(const struct lb_sink *s, const char *url, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int rc = -1;

    if (u == NULL) {
        lb_errf(err, errlen, "out of memory");
        return -1;
    }
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        lb_errf(err, errlen, "not a valid http:// or https:// URL");
    } else if (strcasecmp(scheme, "https") != 0 && strcasecmp(scheme, "http") != 0) {
        lb_errf(err, errlen, "the scheme '%s' is not http or https", scheme);
    } else if (strcasecmp(scheme, "http") == 0 && !is_loopback(host) && !s->allow_insecure_http) {
        lb_errf(err, errlen, "plain http:// to %s would send the API key in cleartext; use "
                "https://, or set allow_insecure_http = true in the sink's section", host);
    } else {
        rc = 0;
    }
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

/* Rebuilds x's header list from the request's lines. 0 or -1. */
static int set_headers(struct lb_xfer *x, const char *const *lines)
{
    struct curl_slist *l = NULL, *t;

    for (size_t i = 0; lines != NULL && lines[i] != NULL; i++) {
        if ((t = curl_slist_append(l, lines[i])) == NULL) {
            curl_slist_free_all(l);
            return -1;
        }
        l = t;
    }
    /* no 100-continue round trip before a body */
    if ((t = curl_slist_append(l, "Expect:")) == NULL) {
        curl_slist_free_all(l);
        return -1;
    }
    curl_slist_free_all(x->hdrs);
    x->hdrs = t;
    return 0;
}

int lb_xfer_prepare(struct lb_sink *s, struct lb_xfer *x, const struct llmbill_http_request *r,
                    int64_t deadline_ms, char *err, size_t errlen)
{
    int64_t timeout = r->timeout_ms > 0 ? r->timeout_ms : s->http_timeout_ms;
    const char *method = r->method ? r->method : r->body ? "POST" : "GET";

    if (r->url == NULL || lb_http_check_url(s, r->url, err, errlen) != 0)
        return -1;
    if (set_headers(x, r->headers) != 0 ||
        (r->body != NULL && grow(&x->req_body, &x->req_cap, r->body_len) != 0)) {
        lb_errf(err, errlen, "out of memory preparing a request");
        return -1;
    }
    if (deadline_ms > 0) {
        int64_t left = deadline_ms - lb_now_ms();

        if (left < timeout)
            timeout = left > 1 ? left : 1;
    }
    x->len = 0;
    x->truncated = 0;
    x->retry_after_ms = 0;
    x->location[0] = '\0';
    x->errbuf[0] = '\0';
    if (x->body != NULL)
        x->body[0] = '\0';
    curl_easy_setopt(x->easy, CURLOPT_URL, r->url);
    /* https: wait for a connection being set up to say (ALPN) whether it
     * multiplexes, rather than open another; plain http is HTTP/1.1 here,
     * so waiting would only hold a request back until an answer comes */
    curl_easy_setopt(x->easy, CURLOPT_PIPEWAIT, strncasecmp(r->url, "https:", 6) == 0 ? 1L : 0L);
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)timeout);
    curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, NULL);
    if (r->body != NULL) {
        memcpy(x->req_body, r->body, r->body_len);
        curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->req_body);
    } else {
        curl_easy_setopt(x->easy, CURLOPT_HTTPGET, 1L);
    }
    if (strcmp(method, r->body ? "POST" : "GET") != 0)
        curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, method);
    x->start_ms = lb_mono_ms();
    return 0;
}

int lb_http_failure(CURLcode rc)
{
    switch (rc) {
    case CURLE_OK:
        return 0;
    case CURLE_COULDNT_CONNECT:
        return LLMBILL_HTTP_ECONNECT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return LLMBILL_HTTP_EDNS;
    case CURLE_OPERATION_TIMEDOUT:
        return LLMBILL_HTTP_ETIMEOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
        return LLMBILL_HTTP_ETLS;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return LLMBILL_HTTP_EBROKEN;
    default:
        return LLMBILL_HTTP_EOTHER;
    }
}

void lb_xfer_answer(struct lb_xfer *x, CURLcode rc, struct llmbill_http_response *out)
{
    long status = 0;

    memset(out, 0, sizeof *out);
    out->struct_size = sizeof *out;
    if (rc == CURLE_OK)
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    else if (x->errbuf[0] == '\0')
        snprintf(x->errbuf, sizeof x->errbuf, "%s", curl_easy_strerror(rc));
    out->status = rc == CURLE_OK ? (int)status : 0;
    out->error = rc == CURLE_OK ? "" : x->errbuf;
    out->body = x->body ? x->body : "";
    out->body_len = x->len;
    out->body_truncated = x->truncated;
    out->retry_after_ms = x->retry_after_ms;
    out->location = x->location[0] ? x->location : NULL;
    out->elapsed_ms = lb_mono_ms() - x->start_ms;
}
