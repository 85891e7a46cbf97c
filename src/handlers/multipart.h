/* A streamed multipart/form-data parser (RFC 7578) for POST /api/uploads: the
 * body is fed in pieces as they arrive, split anywhere (a boundary may straddle
 * two pieces), and each part's headers and bytes go to callbacks; nothing but
 * a part's headers (bounded) is held. Pure, no I/O; one parser per body. */
#ifndef PARLEY_HANDLERS_MULTIPART_H
#define PARLEY_HANDLERS_MULTIPART_H

#include <stddef.h>

#define MULTIPART_BOUNDARY_MAX 70        /* RFC 2046 */
#define MULTIPART_HEADERS_MAX (8 * 1024) /* a part's headers at most */
#define MULTIPART_FIELD_MAX 512          /* name, filename, content type at most */

typedef struct multipart_cbs_s {
  /* A part begins: its form name, filename (NULL when none) and Content-Type
   * (NULL when none), borrowed for the call. Returns 1 to receive its bytes
   * through on_data, 0 to skip them, -1 to stop parsing (an error). */
  int (*on_part)(void *ctx, const char *name, const char *filename, const char *content_type);
  /* Bytes of a part that on_part took, borrowed for the call. */
  void (*on_data)(void *ctx, const char *data, size_t len);
  /* The part that on_part took has ended. */
  void (*on_part_end)(void *ctx);
} multipart_cbs_t;

typedef struct multipart_s {
  const multipart_cbs_t *cbs;
  void *ctx;
  char delim[MULTIPART_BOUNDARY_MAX + 5]; /* "\r\n--" boundary */
  size_t dlen;
  size_t fail[MULTIPART_BOUNDARY_MAX + 5]; /* KMP failure function of delim */
  size_t k;                                /* bytes of delim matched so far */
  int state;
  int taking; /* the current part's bytes go to on_data */
  int dash;   /* after a delimiter: a first '-' seen */
  char hdr[MULTIPART_HEADERS_MAX];
  size_t hlen;
  char out[16 * 1024]; /* bytes of a part gathered for one on_data */
  size_t olen;
} multipart_t;

/* Reads the boundary from a Content-Type header ("multipart/form-data;
 * boundary=..." with the boundary plain or quoted, 1 to 70 characters).
 * Returns 0, or -1 when the header is not multipart/form-data with one. */
int multipart_init(multipart_t *m, const char *content_type, const multipart_cbs_t *cbs, void *ctx);
/* Parses the next piece of the body. Returns 0, or -1 when it is malformed or
 * a callback stopped it (the parser is then dead). */
int multipart_feed(multipart_t *m, const char *data, size_t len);
/* The body has ended: 0 when the closing boundary was seen, -1 when it was
 * cut short (or broken). */
int multipart_finish(const multipart_t *m);

#endif
