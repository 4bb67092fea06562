/* llmbill core: the HTTP layer every request-based sink runs on (libcurl).
 * One transfer (struct lb_xfer) is one reusable easy handle with its
 * request copy and its bounded answer; the rules of sink.h ("Request-based
 * sinks") are applied here, in one place: TLS verified, no redirects, http
 * and https only, plain http only to loopback unless allowed, timeouts,
 * answers bounded, Retry-After / X-RateLimit-Reset parsed. */
#ifndef LB_HTTP_H
#define LB_HTTP_H

#include <curl/curl.h>

#include "lb.h"

#define LB_HTTP_MAX_BODY (1u << 20)     /* answer bytes kept */
#define LB_HTTP_MAX_LOCATION 1024

struct lb_xfer {
    CURL *easy;
    struct curl_slist *hdrs;            /* the request's header lines */
    char *req_body;                     /* the request's body, copied */
    size_t req_cap;
    char *body;                         /* the answer, NUL-terminated */
    size_t len, cap;
    int truncated;
    int64_t retry_after_ms;
    char location[LB_HTTP_MAX_LOCATION];
    char errbuf[CURL_ERROR_SIZE];
    int64_t start_ms;                   /* lb_mono_ms() at the start */
};

/* curl_global_init(), once per process. 0 or -1. */
int lb_http_global_init(void);
/* Sets up x for sink s (its timeouts, CA file). 0, or -1 when out of memory. */
int lb_xfer_init(struct lb_sink *s, struct lb_xfer *x);
void lb_xfer_free(struct lb_xfer *x);
/* Copies *r into x (URL checked, headers and body copied) and makes x ready
 * to run, deadline_ms (Unix ms, 0 for none) capping its timeout. 0, or -1
 * with the reason in err (a refused URL, out of memory). */
int lb_xfer_prepare(struct lb_sink *s, struct lb_xfer *x, const struct llmbill_http_request *r,
                    int64_t deadline_ms, char *err, size_t errlen);
/* Fills *out from x after its transfer ended with rc. Strings point into x. */
void lb_xfer_answer(struct lb_xfer *x, CURLcode rc, struct llmbill_http_response *out);
/* What kind of failure a transfer's rc is: 0 for CURLE_OK (an answer came),
 * else LLMBILL_HTTP_E* (llmbill.h). */
int lb_http_failure(CURLcode rc);
/* 0 when the core sends to url for sink s, else -1 with the reason in err. */
int lb_http_check_url(const struct lb_sink *s, const char *url, char *err, size_t errlen);
/* Seconds, or an HTTP date when allow_date, to wait, in ms; -1 if unparsable. */
int64_t lb_http_parse_wait(const char *v, int allow_date);

#endif
