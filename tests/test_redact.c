/* Redaction (issue 11 §1) at the unit level: whole secrets, a secret cut
 * short at the end of a text or before an excerpt's "...", a log line longer
 * than its buffer (redacted before the cut), URL userinfo, and a secret
 * echoed JSON-escaped or percent-encoded. */
#include "t.h"
#include "lb.h"

#define KEY "sk_live_Zq7XvT93pLm2Rk8wQe4"

static void whole_and_cut(void)
{
    struct lb_logger lg;
    char buf[256];
    char *d;

    memset(&lg, 0, sizeof lg);
    CHECK_EQ_INT(lb_logger_add_secret(&lg, KEY), 0);
    snprintf(buf, sizeof buf, "a %s b %s", KEY, KEY);
    lb_redact(&lg, buf, sizeof buf);
    CHECK(strcmp(buf, "a [REDACTED] b [REDACTED]") == 0);
    /* cut at the end of the text, and before "..." */
    snprintf(buf, sizeof buf, "Bearer %.6s", KEY);
    lb_redact(&lg, buf, sizeof buf);
    CHECK(strcmp(buf, "Bearer [REDACTED]") == 0);
    snprintf(buf, sizeof buf, "Bearer %.10s...", KEY);
    lb_redact(&lg, buf, sizeof buf);
    CHECK(strcmp(buf, "Bearer [REDACTED]...") == 0);
    /* three bytes are not a piece of it */
    snprintf(buf, sizeof buf, "x sk_");
    lb_redact(&lg, buf, sizeof buf);
    CHECK(strcmp(buf, "x sk_") == 0);
    /* a small buffer: the marker does not fit, the text ends before the secret */
    snprintf(buf, sizeof buf, "abcdefg %.3s", KEY);
    lb_redact(&lg, buf, 12);
    CHECK(strcmp(buf, "abcdefg sk_") == 0);
    memcpy(buf, "abcdefg " KEY, sizeof "abcdefg " KEY);
    lb_redact(&lg, buf, 12);
    CHECK(strcmp(buf, "abcdefg ") == 0);
    d = lb_redact_dup(&lg, KEY KEY KEY);
    CHECK(d != NULL && strcmp(d, "[REDACTED][REDACTED][REDACTED]") == 0);
    free(d);
    lb_logger_free(&lg);
}

static char logged[4096];

/* A secret echoed back re-encoded: JSON-escaped (with and without "\/")
 * and percent-encoded (either hex case) is redacted like the secret. */
static void re_encoded(void)
{
    struct lb_logger lg;
    char buf[256];
    static const char *const echoes[] = {
        "key=ab/c+d\\\"e=f&x",   /* JSON: the quote and backslash escaped */
        "key=ab\\/c+d\\\"e=f&x", /* JSON with "\/" */
        "key=ab%2Fc%2Bd%22e%3Df&x", /* percent, upper-case hex */
        "key=ab%2fc%2bd%22e%3df&x", /* percent, lower-case hex */
    };

    memset(&lg, 0, sizeof lg);
    CHECK_EQ_INT(lb_logger_add_secret(&lg, "ab/c+d\"e=f"), 0);
    for (size_t i = 0; i < sizeof echoes / sizeof echoes[0]; i++) {
        snprintf(buf, sizeof buf, "%s", echoes[i]);
        lb_redact(&lg, buf, sizeof buf);
        if (strcmp(buf, "key=[REDACTED]&x") != 0) {
            fprintf(stderr, "'%s' -> '%s'\n", echoes[i], buf);
            exit(1);
        }
    }
    /* a plain key has no other form: one secret, not five */
    lb_logger_free(&lg);
    memset(&lg, 0, sizeof lg);
    CHECK_EQ_INT(lb_logger_add_secret(&lg, KEY), 0);
    CHECK_EQ_INT(lg.nsecrets, 1);
    lb_logger_free(&lg);
}

static void on_log(void *ud, int level, const char *msg)
{
    (void)ud;
    (void)level;
    snprintf(logged, sizeof logged, "%s", msg);
}

/* A log line whose secret straddles the 2048-byte line: redacted whole
 * first, so nothing of the key is left at the cut. */
static void long_log_line(void)
{
    struct lb_logger lg;
    char pad[2100];

    memset(&lg, 0, sizeof lg);
    lg.cb = on_log;
    lg.level = LLMBILL_LOG_DEBUG;
    CHECK_EQ_INT(lb_logger_add_secret(&lg, KEY), 0);
    for (int at = 2030; at < 2050; at++) {
        memset(pad, 'x', (size_t)at);
        pad[at] = '\0';
        lb_log(&lg, LLMBILL_LOG_ERROR, "%s%s tail", pad, KEY);
        CHECK(strstr(logged, "sk_l") == NULL);
        CHECK_EQ_INT(strlen(logged), at + 15 < 2047 ? at + 15 : 2047);
    }
    lb_logger_free(&lg);
}

static void url_userinfo(void)
{
    struct lb_logger lg;
    char buf[256];

    memset(&lg, 0, sizeof lg);
    CHECK_EQ_INT(lb_logger_add_url_secrets(&lg, "x https://lbuser:hunter2Pw9xVb@h/p?q http://a@b"), 0);
    snprintf(buf, sizeof buf, "at https://lbuser:hunter2Pw9xVb@h/p; pw hunter2Pw9xVb; "
             "Basic bGJ1c2VyOmh1bnRlcjJQdzl4VmI=");
    lb_redact(&lg, buf, sizeof buf);
    CHECK(strcmp(buf, "at https://[REDACTED]@h/p; pw [REDACTED]; Basic [REDACTED]") == 0);
    lb_logger_free(&lg);
}

int main(void)
{
    RUN(whole_and_cut);
    RUN(long_log_line);
    RUN(url_userinfo);
    RUN(re_encoded);
    printf("test_redact: ok\n");
    return 0;
}
