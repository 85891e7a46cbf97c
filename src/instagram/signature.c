/* Meta's webhook signature: X-Hub-Signature-256 = "sha256=" + hex HMAC-SHA256
 * of the raw body with the app secret. Checked before the body is parsed, in
 * constant time. Pure; any thread. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "parley/instagram.h"
#include "parley/util.h"

int ig_signature_valid(const char *secret, const char *header, const char *body, size_t len) {
  if (!secret || !header || strncmp(header, "sha256=", 7) != 0) return 0;
  const char *hex = header + 7;
  unsigned char given[32];
  if (util_unhex(hex, given, sizeof(given)) != 0) return 0;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, mac,
            &mac_len) ||
      mac_len != sizeof(given))
    return 0;
  return util_ct_equal(mac, given, sizeof(given));
}
