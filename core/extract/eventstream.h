/* llmbill core: AWS event-stream frames and base64 (eventstream.c). */
#ifndef LB_EVENTSTREAM_H
#define LB_EVENTSTREAM_H

#include <stddef.h>
#include <stdint.h>

#define LB_EVS_MAX (4u << 20)  /* the largest message read (PayloadPart.bytes <= 1 MB) */

/* One decoded message: its string headers of interest (pointers into the
 * buffer, not NUL-terminated; NULL when absent) and its payload. */
struct lb_evs_msg {
    const char *message_type, *event_type, *exception_type;
    size_t message_type_len, event_type_len, exception_type_len;
    const unsigned char *payload;
    size_t payload_len;
};

/* CRC-32 (IEEE 802.3, zlib's), continuing from crc (0 to start). */
uint32_t lb_crc32_ieee(uint32_t crc, const unsigned char *p, size_t n);
/* Decodes the message at the start of buf. Returns its length (> 0), 0 when
 * buf holds less than one whole message, or -1 (reason in err) for a bad
 * frame: CRC mismatch, impossible lengths, a malformed header. */
int lb_evs_decode(const unsigned char *buf, size_t len, struct lb_evs_msg *m, char *err,
                  size_t errlen);
/* Standard base64 (padding optional) into out; 0, or -1 when malformed or
 * longer than cap. */
int lb_base64_decode(const char *in, size_t n, unsigned char *out, size_t cap, size_t *outlen);

#endif
