/* llmbill core: jsmn, configured once for the core's parsers. */
#ifndef LB_JSMN_UTIL_H
#define LB_JSMN_UTIL_H

#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

/* Index of the token after t[i] and all its children, or -1 when the tokens
 * run out (jsmn accepts a few malformed shapes, such as a key without a
 * value) or an object key is not a string. */
static inline int lb_json_skip(const jsmntok_t *t, int i, int n)
{
    int count, type;

    if (i < 0 || i >= n)
        return -1;
    count = t[i].size;
    type = t[i].type;
    i++;
    if (type == JSMN_OBJECT) {
        while (count-- > 0) {
            if (i >= n || t[i].type != JSMN_STRING)
                return -1;
            i = lb_json_skip(t, lb_json_skip(t, i, n), n);
            if (i < 0)
                return -1;
        }
    } else if (type == JSMN_ARRAY) {
        while (count-- > 0)
            if ((i = lb_json_skip(t, i, n)) < 0)
                return -1;
    }
    return i;
}

#endif
