/* llmbill core: AWS event-stream frames (Bedrock ConverseStream and
 * InvokeModelWithResponseStream), decoded without trusting any length:
 *
 *   u32 BE total length, u32 BE headers length, u32 BE prelude CRC32
 *   (of bytes 0..8), headers, payload, u32 BE message CRC32 (of every byte
 *   before it). CRC-32 is IEEE's (zlib's), not CRC-32C.
 *   A header is u8 name length, name, u8 type, value (types 0..9). */
#include <string.h>

#include "eventstream.h"
#include "lb.h"

uint32_t lb_crc32_ieee(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    while (n-- > 0) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads the headers in [p, end) into m; -1 on a malformed header. */
static int headers(const unsigned char *p, const unsigned char *end, struct lb_evs_msg *m)
{
    /* value sizes of the fixed-size types 0..5, 8, 9; -1: u16 length-prefixed */
    static const int fixed[10] = { 0, 0, 1, 2, 4, 8, -1, -1, 8, 16 };

    while (p < end) {
        size_t nl = *p++, vl;
        const unsigned char *name = p;
        unsigned type;

        if (nl == 0 || (size_t)(end - p) < nl + 1)
            return -1;
        p += nl;
        type = *p++;
        if (type > 9)
            return -1;
        if (fixed[type] >= 0) {
            vl = (size_t)fixed[type];
        } else {
            if (end - p < 2)
                return -1;
            vl = (size_t)p[0] << 8 | p[1];
            p += 2;
        }
        if ((size_t)(end - p) < vl)
            return -1;
        if (type == 7) {
            const char **dst = NULL;
            size_t *dlen = NULL;

            if (nl == 11 && memcmp(name, ":event-type", 11) == 0) {
                dst = &m->event_type;
                dlen = &m->event_type_len;
            } else if (nl == 13 && memcmp(name, ":message-type", 13) == 0) {
                dst = &m->message_type;
                dlen = &m->message_type_len;
            } else if (nl == 15 && memcmp(name, ":exception-type", 15) == 0) {
                dst = &m->exception_type;
                dlen = &m->exception_type_len;
            } else if (nl == 11 && memcmp(name, ":error-code", 11) == 0) {
                dst = &m->exception_type;
                dlen = &m->exception_type_len;
            }
            if (dst != NULL) {
                *dst = (const char *)p;
                *dlen = vl;
            }
        }
        p += vl;
    }
    return 0;
}

int lb_evs_decode(const unsigned char *buf, size_t len, struct lb_evs_msg *m, char *err,
                  size_t errlen)
{
    uint32_t total, hlen;

    memset(m, 0, sizeof *m);
    if (len < 12)
        return 0;
    total = be32(buf);
    hlen = be32(buf + 4);
    if (lb_crc32_ieee(0, buf, 8) != be32(buf + 8)) {
        lb_errf(err, errlen, "event-stream: prelude CRC mismatch (not an AWS event stream, or "
                "corrupt)");
        return -1;
    }
    if (total < 16 || total > LB_EVS_MAX || hlen > total - 16) {
        lb_errf(err, errlen, "event-stream: bad lengths (message %u bytes, headers %u)", total,
                hlen);
        return -1;
    }
    if (len < total)
        return 0;
    if (lb_crc32_ieee(0, buf, total - 4) != be32(buf + total - 4)) {
        lb_errf(err, errlen, "event-stream: message CRC mismatch");
        return -1;
    }
    if (headers(buf + 12, buf + 12 + hlen, m) != 0) {
        lb_errf(err, errlen, "event-stream: malformed header");
        return -1;
    }
    m->payload = buf + 12 + hlen;
    m->payload_len = total - 16 - hlen;
    return (int)total;
}

int lb_base64_decode(const char *in, size_t n, unsigned char *out, size_t cap, size_t *outlen)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0, pad = 0;

    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        int v;

        if (c == '=') {
            pad++;
            continue;
        }
        if (pad > 0)
            return -1; /* data after padding */
        v = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26
            : c >= '0' && c <= '9' ? c - '0' + 52 : c == '+' ? 62 : c == '/' ? 63 : -1;
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (pad > 2)
        return -1;
    *outlen = o;
    return 0;
}
