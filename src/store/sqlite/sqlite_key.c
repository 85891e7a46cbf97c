/* SQLite: the fingerprints of the keys every instance must share (key_checks,
 * migration 36), the first one stored under each name kept. Store thread. */
#include <string.h>

#include "store/sqlite/sqlite_internal.h"

int sqlite_key_check(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *name = sqlite_db_pstr(p, "name"), *fp = sqlite_db_pstr(p, "fingerprint");
  if (!name || !fp || !*name || !*fp || strlen(name) > 64 || strlen(fp) > 128) return STORE_EINVAL;
  int rc = sqlite_db_exec(d,
                          "INSERT INTO key_checks (name, fingerprint) VALUES (?, ?)"
                          " ON CONFLICT DO NOTHING",
                          "ss", name, fp);
  if (rc != STORE_OK) return rc;
  sqlite3_stmt *st =
      sqlite_db_query(d, "SELECT fingerprint FROM key_checks WHERE name = ?", "s", name);
  rc = st ? sqlite_db_step(d, st) : STORE_EUNAVAILABLE;
  if (rc < 0) return rc;
  if (rc == 0) return STORE_EUNAVAILABLE; /* inserted or there: never */
  *result = json_pack("{s:o}", "fingerprint", sqlite_db_col_str(st, 0));
  return *result ? STORE_OK : STORE_EUNAVAILABLE;
}
