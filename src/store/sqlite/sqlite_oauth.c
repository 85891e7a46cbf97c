/* SQLite: the "Continue with Instagram" states used so far (oauth_states,
 * migration 29), each once; a state's record goes once the state expired.
 * Store thread. */
#include <string.h>

#include "store/sqlite/sqlite_internal.h"

#define SWEEP_MAX 100

int sqlite_oauth_state_use(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *key = sqlite_db_pstr(p, "key");
  int64_t expires = sqlite_db_pint(p, "expires_at_ms", 0), now = sqlite_db_pint(p, "now_ms", 0);
  if (!key || strlen(key) > 128 || expires <= 0) return STORE_EINVAL;
  int rc = sqlite_db_exec(d,
                          "DELETE FROM oauth_states WHERE rowid IN (SELECT rowid FROM oauth_states"
                          " WHERE expires_at_ms <= ? LIMIT ?)",
                          "ii", now, (int64_t)SWEEP_MAX);
  if (rc != STORE_OK) return rc;
  rc = sqlite_db_exec(d,
                      "INSERT INTO oauth_states (key, expires_at_ms) VALUES (?, ?)"
                      " ON CONFLICT DO NOTHING",
                      "si", key, expires);
  if (rc != STORE_OK) return rc;
  if (sqlite3_changes(d->db) == 0) return STORE_ECONFLICT;
  *result = json_object();
  return STORE_OK;
}
