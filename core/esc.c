/* llmbill: control characters escaped in text shown to people (see esc.h). */
#include "esc.h"

char *lb_ctl_escape(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;

    if (cap == 0)
        return out;
    for (const unsigned char *p = (const unsigned char *)s; *p && k + 9 < cap; p++) {
        int c1 = p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;

        if (*p < 0x20 || *p == 0x7f || c1) {
            for (int j = 0; j <= c1; j++) {
                out[k++] = '\\';
                out[k++] = 'x';
                out[k++] = hex[p[j] >> 4];
                out[k++] = hex[p[j] & 15];
            }
            p += c1;
        } else {
            if (*p == '\\')
                out[k++] = '\\';
            out[k++] = (char)*p;
        }
    }
    out[k] = '\0';
    return out;
}
