/* Web Push message encryption (RFC 8291 over RFC 8188's aes128gcm content
 * coding): one record, an ephemeral P-256 key per message, HKDF-SHA-256 and
 * AES-128-GCM, all with OpenSSL's EVP. Pure; any thread. */
#ifndef PARLEY_PUSH_CRYPTO_H
#define PARLEY_PUSH_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define PUSH_P256_PUBLIC_LEN 65 /* an uncompressed point: 0x04 || x || y */
#define PUSH_AUTH_LEN 16        /* the subscription's auth secret */
#define PUSH_SALT_LEN 16
#define PUSH_RECORD_SIZE 4096
/* The header (salt, rs, idlen, keyid) and the record's padding delimiter and tag. */
#define PUSH_OVERHEAD (PUSH_SALT_LEN + 4 + 1 + PUSH_P256_PUBLIC_LEN + 1 + 16)
/* The largest plaintext a push service must take (RFC 8291, section 4: 4096
 * bytes of body). */
#define PUSH_PLAINTEXT_MAX (PUSH_RECORD_SIZE - PUSH_OVERHEAD)

/* 1 when key is an uncompressed point on P-256 (a subscription's p256dh). */
int push_p256_valid(const uint8_t key[PUSH_P256_PUBLIC_LEN]);

/* The public point of a P-256 private scalar (32 bytes, big-endian): 0, or -1
 * when priv is not a valid scalar. */
int push_p256_public(const uint8_t priv[32], uint8_t pub[PUSH_P256_PUBLIC_LEN]);

/* An OpenSSL key (EVP_PKEY) of the public point pub and, when priv is set,
 * its private scalar; NULL when they are no P-256 key. The caller frees it. */
struct evp_pkey_st *push_p256_key(const uint8_t pub[PUSH_P256_PUBLIC_LEN], const uint8_t *priv);

/* Encrypts plain (at most PUSH_PLAINTEXT_MAX bytes) for the user agent whose
 * key is ua_public and auth secret auth; out (PUSH_OVERHEAD + len bytes) gets
 * the aes128gcm body and *outlen its length. as_private and salt are the
 * sender's ephemeral key and the salt: NULL for fresh random ones (always, but
 * in tests that reproduce RFC 8291's example). Returns 0 or -1. */
int push_encrypt(const uint8_t ua_public[PUSH_P256_PUBLIC_LEN], const uint8_t auth[PUSH_AUTH_LEN],
                 const uint8_t *plain, size_t len, const uint8_t *as_private, const uint8_t *salt,
                 uint8_t *out, size_t *outlen);

#endif
