/* Downloads of attachments (attachments.c): what its unit tests reach. Pure. */
#ifndef PARLEY_HANDLERS_ATTACHMENTS_H
#define PARLEY_HANDLERS_ATTACHMENTS_H

#include <stdint.h>

/* A single Range header ("bytes=a-b", "bytes=a-", "bytes=-n") against a file
 * of size > 0 bytes: 1 with the first and last byte in *from and *to; 0 to
 * send the whole file (no header, several ranges, or one not understood);
 * -1 when it starts beyond the end (416). */
int attachments_parse_range(const char *h, uint64_t size, uint64_t *from, uint64_t *to);

#endif
