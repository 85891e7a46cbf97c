/* The HS256 signing key: PARLEY_JWT_SECRET when configured, otherwise 32 random
 * bytes kept as hex in <data_dir>/jwt_secret (mode 0600, util_secret_file) so
 * tokens survive a restart. Start-up only, on the main thread. */
#include <stdlib.h>
#include <string.h>

#include "auth/auth_internal.h"
#include "parley/log.h"
#include "parley/util.h"

#define SECRET_BYTES 32

static int set_key(auth_t *a, const unsigned char *key, size_t len) {
  a->key = malloc(len);
  if (!a->key) return -1;
  memcpy(a->key, key, len);
  a->keylen = len;
  return 0;
}

int auth_secret_load(auth_t *a, const char *configured, const char *data_dir) {
  if (configured && configured[0]) {
    if (strlen(configured) < SECRET_BYTES)
      log_warn("jwt_secret is shorter than %d bytes: use a longer random value", SECRET_BYTES);
    return set_key(a, (const unsigned char *)configured, strlen(configured));
  }
  unsigned char key[SECRET_BYTES];
  int rc = util_secret_file(data_dir, "jwt_secret", key, sizeof(key));
  if (rc < 0) return -1;
  log_warn(
      "PARLEY_JWT_SECRET is not set: signing tokens with the %s key in %s/jwt_secret; "
      "set the same secret on every instance in production",
      rc == 1 ? "newly generated" : "generated", data_dir);
  rc = set_key(a, key, sizeof(key));
  sodium_memzero(key, sizeof(key));
  return rc;
}
