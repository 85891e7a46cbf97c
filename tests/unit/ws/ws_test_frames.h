/* Shared by the WebSocket unit tests: builds client frames (masked unless told
 * otherwise) and splits the server's output into frames, so tests script bytes
 * in and read frames out, as a client on the wire would. */
#ifndef WS_TEST_FRAMES_H
#define WS_TEST_FRAMES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10 };

typedef struct frame_s {
  int fin, opcode, masked;
  size_t len;
  unsigned char *payload; /* points into the parsed buffer */
} frame_t;

/* Writes one client frame into out (large enough: len + 14); returns its size. */
static inline size_t make_frame(unsigned char *out, int fin, int opcode, int masked,
                                const void *payload, size_t len) {
  static const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
  size_t n = 0;
  out[n++] = (unsigned char)((fin ? 0x80 : 0) | opcode);
  unsigned char m = masked ? 0x80 : 0;
  if (len < 126) {
    out[n++] = (unsigned char)(m | len);
  } else if (len < 65536) {
    out[n++] = m | 126;
    out[n++] = (unsigned char)(len >> 8);
    out[n++] = (unsigned char)len;
  } else {
    out[n++] = m | 127;
    for (int i = 7; i >= 0; i--) out[n++] = (unsigned char)((uint64_t)len >> (8 * i));
  }
  if (masked) {
    memcpy(out + n, key, 4);
    n += 4;
  }
  const unsigned char *p = payload;
  for (size_t i = 0; i < len; i++) out[n + i] = masked ? p[i] ^ key[i % 4] : p[i];
  return n + len;
}

/* A close frame's payload: the code in network order and the reason. */
static inline size_t close_payload(unsigned char *out, uint16_t code, const char *reason) {
  out[0] = (unsigned char)(code >> 8);
  out[1] = (unsigned char)code;
  size_t r = reason ? strlen(reason) : 0;
  if (r) memcpy(out + 2, reason, r);
  return 2 + r;
}

/* Splits server output into up to max frames; returns how many, or -1 when the
 * bytes are not a whole number of well-formed frames. */
static inline int parse_frames(unsigned char *data, size_t len, frame_t *frames, int max) {
  size_t off = 0;
  int n = 0;
  while (off < len) {
    if (n == max || len - off < 2) return -1;
    frame_t *f = &frames[n++];
    f->fin = data[off] >> 7;
    f->opcode = data[off] & 0x0f;
    f->masked = data[off + 1] >> 7;
    uint64_t plen = data[off + 1] & 0x7f;
    off += 2;
    if (plen == 126) {
      if (len - off < 2) return -1;
      plen = ((uint64_t)data[off] << 8) | data[off + 1];
      off += 2;
    } else if (plen == 127) {
      if (len - off < 8) return -1;
      plen = 0;
      for (int i = 0; i < 8; i++) plen = (plen << 8) | data[off + i];
      off += 8;
    }
    if (f->masked || len - off < plen) return -1; /* servers never mask */
    f->len = (size_t)plen;
    f->payload = data + off;
    off += (size_t)plen;
  }
  return n;
}

static inline uint16_t close_code_of(const frame_t *f) {
  return f->len >= 2 ? (uint16_t)((f->payload[0] << 8) | f->payload[1]) : 0;
}

#endif
