/* llmbill core: little-endian integers in byte buffers (journal frames and
 * records). Each put returns the byte after what it wrote. */
#ifndef LB_LE_H
#define LB_LE_H

#include <stdint.h>

static inline unsigned char *lb_put16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    return p + 2;
}

static inline unsigned char *lb_put32(unsigned char *p, uint32_t v)
{
    return lb_put16(lb_put16(p, v & 0xffffu), v >> 16);
}

static inline unsigned char *lb_put64(unsigned char *p, uint64_t v)
{
    return lb_put32(lb_put32(p, (uint32_t)v), (uint32_t)(v >> 32));
}

static inline uint32_t lb_get16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static inline uint32_t lb_get32(const unsigned char *p)
{
    return lb_get16(p) | lb_get16(p + 2) << 16;
}

static inline uint64_t lb_get64(const unsigned char *p)
{
    return (uint64_t)lb_get32(p) | (uint64_t)lb_get32(p + 4) << 32;
}

#endif
