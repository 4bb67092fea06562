/* llmbill core: exact decimal text <-> integers scaled by a power of ten.
 * Money never goes through a double: "1.25e-06" at scale 12 is exactly
 * 1250000. */
#include <string.h>

#include "lb.h"

int lb_decimal_parse(const char *s, size_t len, int scale, int64_t *out)
{
    size_t i = 0;
    int neg = 0, any = 0, round_up = 0, seen_dot = 0;
    long exp10 = 0, frac_digits = 0;
    char digits[64];
    size_t nd = 0;
    uint64_t v = 0;
    long shift, k;

    if (len == 0)
        return -1;
    if (s[i] == '-' || s[i] == '+') {
        neg = s[i] == '-';
        i++;
    }
    for (; i < len; i++) {
        char c = s[i];

        if (c >= '0' && c <= '9') {
            any = 1;
            if (nd == 0 && c == '0') {      /* skip leading zeros */
                if (seen_dot)
                    frac_digits++;
                continue;
            }
            if (nd < sizeof digits) {
                digits[nd++] = c;
                if (seen_dot)
                    frac_digits++;
            } else if (!seen_dot) {
                return -1;                  /* too large */
            }
            /* extra fractional digits past 64 significant ones are dropped */
        } else if (c == '.' && !seen_dot) {
            seen_dot = 1;
        } else {
            break;
        }
    }
    if (!any)
        return -1;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        int eneg = 0, eany = 0;

        i++;
        if (i < len && (s[i] == '-' || s[i] == '+')) {
            eneg = s[i] == '-';
            i++;
        }
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            eany = 1;
            if (exp10 < 10000)
                exp10 = exp10 * 10 + (s[i] - '0');
        }
        if (!eany)
            return -1;
        if (eneg)
            exp10 = -exp10;
    }
    if (i != len)
        return -1;
    /* value = digits * 10^(exp10 - frac_digits); we want value * 10^scale */
    shift = exp10 - frac_digits + scale;
    if (nd == 0) {
        *out = 0;
        return 0;
    }
    if (shift < 0) {
        long keep = (long)nd + shift;

        if (keep < 0) {
            *out = 0;                       /* far below one unit */
            return 0;
        }
        round_up = keep < (long)nd && digits[keep] >= '5';
        nd = (size_t)keep;
        shift = 0;
    }
    for (size_t d = 0; d < nd; d++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(digits[d] - '0');
    }
    for (k = 0; k < shift; k++) {
        if (v > UINT64_MAX / 10)
            return -1;
        v *= 10;
    }
    v += (uint64_t)round_up;
    if (v > (uint64_t)INT64_MAX)
        return -1;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

int lb_decimal_format(int64_t v, int scale, char *buf, size_t cap)
{
    char tmp[48];
    char *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int nfrac = 0;
    size_t len;

    *--p = '\0';
    /* fractional digits, without trailing zeros */
    for (int k = 0; k < scale; k++) {
        unsigned d = (unsigned)(u % 10);

        u /= 10;
        if (d != 0 || nfrac > 0) {
            *--p = (char)('0' + d);
            nfrac++;
        }
    }
    if (nfrac > 0)
        *--p = '.';
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--p = '-';
    len = strlen(p);
    if (len + 1 > cap)
        return -1;
    memcpy(buf, p, len + 1);
    return (int)len;
}

int llmbill_cost_format(int64_t cost, char *buf, size_t cap)
{
    int n = lb_decimal_format(cost, 12, buf, cap);

    return n < 0 ? LLMBILL_EINVAL : n;
}

int llmbill_cost_parse(const char *s, size_t len, int64_t *out)
{
    if (s == NULL || out == NULL)
        return LLMBILL_EINVAL;
    return lb_decimal_parse(s, len, 12, out) == 0 ? 0 : LLMBILL_EINVAL;
}
