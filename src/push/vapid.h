/* VAPID (RFC 8292): the server's P-256 key pair, read from the configuration
 * (vapid_private_key, a PEM key or the base64url private scalar) or generated
 * once into <data_dir>/vapid_private_key.pem, and the ES256 JWT that
 * authenticates each push request. Loading does blocking file I/O (start-up
 * only); signing is pure and any thread may use a loaded key. */
#ifndef PARLEY_PUSH_VAPID_H
#define PARLEY_PUSH_VAPID_H

#include <stddef.h>
#include <stdint.h>

typedef struct vapid_s vapid_t;

/* Loads the key: from key_text when it is set, else from the data directory's
 * file, created when absent. Returns a new key, or NULL after logging why. */
vapid_t *vapid_load(const char *key_text, const char *data_dir);
/* Parses key_text (PEM, or unpadded base64url of the 32-byte private scalar);
 * NULL when it is neither. */
vapid_t *vapid_parse(const char *key_text);
void vapid_free(vapid_t *v);

/* The public key as unpadded base64url of its 65-byte uncompressed point
 * (what a browser's applicationServerKey takes). Borrowed from v. */
const char *vapid_public_b64(const vapid_t *v);

/* The Authorization header's value for a push to endpoint:
 * "vapid t=<JWT>, k=<public key>", the JWT {"typ":"JWT","alg":"ES256"} over
 * {"aud": endpoint's origin, "exp": exp_s, "sub": subject}. Returns the length
 * written to out (NUL-terminated), or -1 (bad endpoint, out too small). */
int vapid_authorization(const vapid_t *v, const char *endpoint, const char *subject, int64_t exp_s,
                        char *out, size_t outlen);

/* An ECDSA signature in DER (as OpenSSL makes it) as JOSE's raw r || s, each
 * 32 bytes big-endian. Returns 0, or -1 when der is not one. */
int vapid_der_to_raw(const uint8_t *der, size_t len, uint8_t raw[64]);

/* The origin (scheme://host[:port]) of an http(s) URL into out. 0 or -1. */
int vapid_origin(const char *url, char *out, size_t outlen);

#endif
