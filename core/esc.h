/* llmbill: control characters escaped in text shown to people. Shared by
 * the core (error messages) and the stdout sink (its lines): esc.c needs
 * nothing but the C library, so the plugin compiles it in as well. */
#ifndef LB_ESC_H
#define LB_ESC_H

#include <stddef.h>

/* Writes s to out (cap bytes, NUL-terminated, cut short when it does not
 * fit) with every control character written as \xNN (C0, DEL, and C1 as its
 * UTF-8 bytes \xc2\x80-\x9f) and every backslash doubled, so that the text
 * can neither forge a line nor reach a terminal as an escape sequence. Four
 * bytes per byte of s and the NUL always suffice. Returns out. */
char *lb_ctl_escape(const char *s, char *out, size_t cap);

#endif
