/* llmbill core: the one entry point through which the core parses JSON
 * (provider bodies, stream events, usage lines, the price table), with a
 * depth cap checked before jsmn runs and a token cap, so any input of N bytes
 * is parsed in O(N) time (jsmn's walk back to the open container at each
 * closing bracket is bounded by the depth) and bounded memory. */
#include <stdlib.h>
#include <string.h>

#include "jsmn_util.h"
#include "lb.h"


/* The deepest bracket nesting of js[0..len), stopping early once it passes
 * LB_JSON_MAX_DEPTH. Strings are skipped as jsmn reads them (a backslash
 * takes the next byte; the scan, like jsmn, stops at a NUL). */
static int depth_of(const char *js, size_t len)
{
    int depth = 0, max = 0, in_str = 0;

    for (size_t i = 0; i < len && js[i] != '\0'; i++) {
        char c = js[i];

        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max && (max = depth) > LB_JSON_MAX_DEPTH)
                break;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return max;
}

/* Frees t unless it is the caller's buffer. */
static void drop(jsmntok_t *t, jsmntok_t *mine)
{
    if (t != mine)
        free(t);
}

int lb_json_parse_into(const char *js, size_t len, int max_tokens, jsmntok_t *first,
                       jsmntok_t **out, char *err, size_t errlen)
{
    jsmn_parser p;
    jsmntok_t *t;
    const char *nul;
    int n;

    *out = NULL;
    if (len > (size_t)INT32_MAX) {
        lb_errf(err, errlen, "JSON text longer than %d bytes", INT32_MAX);
        return LLMBILL_EINVAL;
    }
    /* a usage line of the common shape: tokenized without jsmn (it holds
     * no NUL, and its structure is what lb_json_skip() checks below) */
    if (first != NULL &&
        (n = lb_json_flat(js, (int)len, first, LB_JSON_FIRST_TOKENS < max_tokens
                                                   ? LB_JSON_FIRST_TOKENS : max_tokens)) > 0) {
        *out = first;
        return n;
    }
    /* jsmn stops at a NUL: what follows one would be ignored unseen */
    if (len > 0 && (nul = memchr(js, '\0', len)) != NULL) {
        lb_errf(err, errlen, "a NUL byte in the JSON text (at byte %zu of %zu)",
                (size_t)(nul - js), len);
        return LLMBILL_EINVAL;
    }
    /* one pass when the tokens fit a first guess (a usage line holds ~20):
     * jsmn's walk back to the open container at a closing bracket is then
     * bounded by those few tokens, and they cannot nest past the cap;
     * else the depth check, a counting pass, then the filling one */
    _Static_assert(LB_JSON_FIRST_TOKENS <= LB_JSON_MAX_DEPTH, "a first parse cannot nest too deep");
    if ((t = first) == NULL && (t = malloc(LB_JSON_FIRST_TOKENS * sizeof *t)) == NULL)
        return LLMBILL_ENOMEM;
    jsmn_init(&p);
    n = jsmn_parse(&p, js, len, t, LB_JSON_FIRST_TOKENS);
    if (n == JSMN_ERROR_NOMEM || (n < 0 && depth_of(js, len) > LB_JSON_MAX_DEPTH)) {
        drop(t, first);
        if (depth_of(js, len) > LB_JSON_MAX_DEPTH) {
            lb_errf(err, errlen, "JSON nested deeper than %d levels", LB_JSON_MAX_DEPTH);
            return LLMBILL_EINVAL;
        }
        jsmn_init(&p);
        n = jsmn_parse(&p, js, len, NULL, 0);
        if (n < 0) {
            lb_errf(err, errlen, "%s", n == JSMN_ERROR_PART ? "truncated JSON" : "malformed JSON");
            return LLMBILL_EINVAL;
        }
        if (n > max_tokens) {
            lb_errf(err, errlen, "too many JSON values (more than %d)", max_tokens);
            return LLMBILL_EINVAL;
        }
        if ((t = malloc((size_t)n * sizeof *t)) == NULL)
            return LLMBILL_ENOMEM;
        jsmn_init(&p);
        if (jsmn_parse(&p, js, len, t, (unsigned)n) != n) {
            lb_errf(err, errlen, "malformed JSON");
            free(t);
            return LLMBILL_EINVAL;
        }
    } else if (n <= 0 || n > max_tokens) {
        if (n < 0)
            lb_errf(err, errlen, "%s", n == JSMN_ERROR_PART ? "truncated JSON" : "malformed JSON");
        else if (n > 0)
            lb_errf(err, errlen, "too many JSON values (more than %d)", max_tokens);
        drop(t, first);
        return n == 0 ? 0 : LLMBILL_EINVAL;
    }
    if (t[0].type != JSMN_OBJECT) {
        lb_errf(err, errlen, "expected a JSON object");
        drop(t, first);
        return LLMBILL_EINVAL;
    }
    if (lb_json_skip(t, 0, n) != n) {
        lb_errf(err, errlen, "malformed JSON (or trailing data after the object)");
        drop(t, first);
        return LLMBILL_EINVAL;
    }
    *out = t;
    return n;
}

int lb_json_parse(const char *js, size_t len, int max_tokens, jsmntok_t **out, char *err,
                  size_t errlen)
{
    return lb_json_parse_into(js, len, max_tokens, NULL, out, err, errlen);
}
