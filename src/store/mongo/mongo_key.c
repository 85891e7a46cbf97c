/* MongoDB: the fingerprints of the keys every instance must share, in
 * "key_checks" (_id the key's name): the first insert under a name wins, a
 * later one is a duplicate key and reads the winner's. Worker thread. */
#include <string.h>

#include "store/mongo/mongo_internal.h"

int mongo_key_check(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *name = mongo_param_str(p, "name"), *fp = mongo_param_str(p, "fingerprint");
  if (!name || !fp || !*name || !*fp || strlen(name) > 64 || strlen(fp) > 128) return STORE_EINVAL;
  bson_t *doc = BCON_NEW("_id", BCON_UTF8(name), "fingerprint", BCON_UTF8(fp));
  int rc = mongo_query_insert(c, MC_KEY_CHECKS, doc);
  bson_destroy(doc);
  if (rc < 0 && rc != STORE_ECONFLICT) return rc;
  bson_t *q = BCON_NEW("_id", BCON_UTF8(name)), got;
  rc = mongo_query_one(c, MC_KEY_CHECKS, q, NULL, &got);
  bson_destroy(q);
  if (rc < 0) return rc;
  if (rc == 0) return STORE_EUNAVAILABLE; /* inserted or there: never */
  const char *stored = mongo_bson_str(&got, "fingerprint");
  *r = stored ? json_pack("{s:s}", "fingerprint", stored) : NULL;
  bson_destroy(&got);
  return *r ? STORE_OK : STORE_EUNAVAILABLE;
}
