/* Small helpers shared by every module: time, ids, strings, UTF-8, hex.
 * All are pure or thread-safe. */
#ifndef PARLEY_UTIL_H
#define PARLEY_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Wall-clock milliseconds since the epoch. */
int64_t util_now_ms(void);
/* Formats ms since the epoch as 2026-11-21T10:00:00.000Z into out (>= 25 bytes). */
void util_iso8601(int64_t ms, char out[32]);
/* Parses the format above; returns -1 if it is not one. */
int util_parse_iso8601(const char *s, int64_t *ms);

/* A new opaque id: 24 lowercase hex characters (12 random bytes, time-prefixed so
 * ids sort roughly by creation, like MongoDB ObjectIds). out has >= 25 bytes. */
void util_new_id(char out[25]);
/* A new id of the same form whose order follows its making: 4 bytes of seconds,
 * 5 random bytes fixed per thread, a 3-byte counter of the thread's (MongoDB's
 * ObjectId layout). One thread's ids only grow within a second and from one
 * second to the next, so rows keyed by them are appended to their index rather
 * than written all over it (messages, webhook events: a random id dirtied a
 * page of the id index a row, in the WAL and again at each checkpoint). The
 * next is guessable from one seen: for rows whose id is no secret. */
void util_new_ordered_id(char out[25]);
/* 16 lowercase hex characters of 8 random bytes: a request id. The bytes come
 * from a per-thread ChaCha20 stream keyed from the kernel (see util.c), not from
 * util_new_id's pool: fit for ids, not for secrets. out has >= 17 bytes. */
void util_random_hex16(char out[17]);
/* Fills out with n random bytes (libsodium). */
void util_random(void *out, size_t n);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void util_hex(const unsigned char *in, size_t n, char *out);
/* Parses exactly 2n hex characters; returns 0 or -1. */
int util_unhex(const char *in, unsigned char *out, size_t n);

/* 1 when [s, s+len) is valid UTF-8 with no NUL bytes. */
int util_utf8_valid(const char *s, size_t len);
/* Number of code points in valid UTF-8. */
size_t util_utf8_len(const char *s, size_t len);

/* Constant-time equality of two byte strings of the same length. */
int util_ct_equal(const void *a, const void *b, size_t n);

/* Percent-decodes [s, s+len) into out ('+' becomes a space when form is set).
 * Returns the decoded length, or -1 on a bad escape or when out is too small. */
long util_url_decode(const char *s, size_t len, char *out, size_t outlen, int form);

/* Reads a hex secret of n bytes from dir/name, or creates the file (mode 0600)
 * with n random bytes. Returns 1 when it was created, 0 when read, -1 on error
 * (logged). Start-up only: it does blocking file I/O. */
int util_secret_file(const char *dir, const char *name, unsigned char *out, size_t n);

/* Case-insensitive ASCII comparison of at most n bytes. */
int util_strncasecmp(const char *a, const char *b, size_t n);

#endif
