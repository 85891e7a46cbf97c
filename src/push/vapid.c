/* VAPID keys and tokens (RFC 8292). The key is an EVP_PKEY kept for the
 * process's life; each push signs a fresh JWT with it (ES256: ECDSA over
 * SHA-256, the DER signature rewritten as raw r || s). */
#include "push/vapid.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parley/log.h"
#include "push/push_crypto.h"

#define B64_65 88 /* unpadded base64url of 65 bytes, with its NUL */

struct vapid_s {
  EVP_PKEY *key;
  char pub_b64[B64_65];
};

static void b64url(const uint8_t *in, size_t n, char *out, size_t outlen) {
  sodium_bin2base64(out, outlen, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* Wraps a key, checking that it is a P-256 one, and keeps its public point. */
static vapid_t *vapid_wrap(EVP_PKEY *key) {
  char group[32] = "";
  uint8_t pub[PUSH_P256_PUBLIC_LEN];
  size_t publen = 0;
  vapid_t *v = NULL;
  if (!key ||
      EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) !=
          1 ||
      strcmp(group, "prime256v1") != 0)
    goto fail;
  EVP_PKEY_set_utf8_string_param(key, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "uncompressed");
  if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub), &publen) !=
          1 ||
      publen != sizeof(pub) || pub[0] != 0x04)
    goto fail;
  v = calloc(1, sizeof(*v));
  if (!v) goto fail;
  v->key = key;
  b64url(pub, sizeof(pub), v->pub_b64, sizeof(v->pub_b64));
  return v;
fail:
  EVP_PKEY_free(key);
  return NULL;
}

/* A key from the raw private scalar (what web-push tools print). */
static EVP_PKEY *key_from_scalar(const uint8_t d[32]) {
  uint8_t pub[PUSH_P256_PUBLIC_LEN];
  return push_p256_public(d, pub) == 0 ? push_p256_key(pub, d) : NULL;
}

vapid_t *vapid_parse(const char *text) {
  if (!text) return NULL;
  while (*text == ' ' || *text == '\n' || *text == '\r' || *text == '\t') text++;
  if (strncmp(text, "-----BEGIN", 10) == 0) {
    BIO *bio = BIO_new_mem_buf(text, -1);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return vapid_wrap(key);
  }
  uint8_t d[32];
  size_t got = 0, len = strcspn(text, " \r\n\t");
  if (sodium_base642bin(d, sizeof(d), text, len, NULL, &got, NULL,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      got != sizeof(d))
    return NULL;
  vapid_t *v = vapid_wrap(key_from_scalar(d));
  sodium_memzero(d, sizeof(d));
  return v;
}

/* Creates path (mode 0600, never over an existing file) with a new key's PEM. */
static vapid_t *generate(const char *path) {
  EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  vapid_t *v = NULL;
  int fd = -1;
  BIO *bio = BIO_new(BIO_s_mem());
  char *pem = NULL;
  long n = 0;
  if (!key || !bio || PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1) goto done;
  n = BIO_get_mem_data(bio, &pem);
  fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 || n <= 0 || write(fd, pem, (size_t)n) != (ssize_t)n || fsync(fd) != 0) goto done;
  v = vapid_wrap(key);
  key = NULL;
done:
  if (fd >= 0) close(fd);
  BIO_free(bio);
  EVP_PKEY_free(key);
  return v;
}

vapid_t *vapid_load(const char *key_text, const char *data_dir) {
  if (key_text && *key_text) {
    vapid_t *v = vapid_parse(key_text);
    if (!v) log_error("vapid_private_key is neither a P-256 PEM key nor a base64url scalar");
    return v;
  }
  char path[4096], text[8192];
  snprintf(path, sizeof(path), "%s/vapid_private_key.pem", data_dir);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    vapid_t *v = generate(path);
    if (v)
      log_warn("PARLEY_VAPID_PRIVATE_KEY_FILE is not set: Web Push signs with the new key in %s",
               path);
    else
      log_error("cannot create the VAPID key %s: %s", path, strerror(errno));
    return v;
  }
  ssize_t got = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
  if (fd >= 0) close(fd);
  vapid_t *v = got > 0 ? (text[got] = '\0', vapid_parse(text)) : NULL;
  sodium_memzero(text, sizeof(text));
  if (!v) log_error("cannot read the VAPID key %s", path);
  return v;
}

void vapid_free(vapid_t *v) {
  if (!v) return;
  EVP_PKEY_free(v->key);
  free(v);
}

const char *vapid_public_b64(const vapid_t *v) { return v->pub_b64; }

int vapid_der_to_raw(const uint8_t *der, size_t len, uint8_t raw[64]) {
  const unsigned char *p = der;
  ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
  if (!sig) return -1;
  const BIGNUM *r = NULL, *s = NULL;
  ECDSA_SIG_get0(sig, &r, &s);
  int ok = p == der + len && BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32;
  ECDSA_SIG_free(sig);
  return ok ? 0 : -1;
}

int vapid_origin(const char *url, char *out, size_t outlen) {
  const char *rest = NULL;
  if (strncmp(url, "https://", 8) == 0)
    rest = url + 8;
  else if (strncmp(url, "http://", 7) == 0)
    rest = url + 7;
  if (!rest) return -1;
  size_t host = strcspn(rest, "/?#");
  size_t n = (size_t)(rest - url) + host;
  if (host == 0 || n + 1 > outlen) return -1;
  memcpy(out, url, n);
  out[n] = '\0';
  return 0;
}

int vapid_authorization(const vapid_t *v, const char *endpoint, const char *subject, int64_t exp_s,
                        char *out, size_t outlen) {
  char origin[512], claims[1024], input[2048];
  uint8_t der[80], raw[64];
  size_t derlen = sizeof(der);
  if (vapid_origin(endpoint, origin, sizeof(origin)) != 0) return -1;
  /* The origin and subject are checked text (URLs, mailto:), but go through
   * an escaper all the same: neither may break the JSON. */
  char *aud = NULL, *sub = NULL;
  {
    json_t *a = json_string(origin), *s = json_string(subject ? subject : "");
    aud = a ? json_dumps(a, JSON_ENCODE_ANY) : NULL;
    sub = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
    json_decref(a);
    json_decref(s);
  }
  int n = aud && sub ? snprintf(claims, sizeof(claims), "{\"aud\":%s,\"exp\":%lld,\"sub\":%s}", aud,
                                (long long)exp_s, sub)
                     : -1;
  free(aud);
  free(sub);
  if (n < 0 || (size_t)n >= sizeof(claims)) return -1;
  static const char header[] = "{\"typ\":\"JWT\",\"alg\":\"ES256\"}";
  char h64[64], c64[1400], s64[90];
  b64url((const uint8_t *)header, sizeof(header) - 1, h64, sizeof(h64));
  b64url((const uint8_t *)claims, (size_t)n, c64, sizeof(c64));
  int in = snprintf(input, sizeof(input), "%s.%s", h64, c64);
  if (in < 0 || (size_t)in >= sizeof(input)) return -1;

  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, v->key) == 1 &&
           EVP_DigestSign(md, der, &derlen, (const uint8_t *)input, (size_t)in) == 1;
  EVP_MD_CTX_free(md);
  if (!ok || vapid_der_to_raw(der, derlen, raw) != 0) return -1;
  b64url(raw, sizeof(raw), s64, sizeof(s64));
  int len = snprintf(out, outlen, "vapid t=%s.%s, k=%s", input, s64, v->pub_b64);
  return len < 0 || (size_t)len >= outlen ? -1 : len;
}
