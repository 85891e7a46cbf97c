/* SQLite operations of the end-to-end key directory: devices and their
 * one-time prekeys (public keys only, as the handler checked them). A claim
 * deletes the prekey it hands out in the store thread's transaction, so no two
 * callers get the same one. Store thread. */
#include "store/sqlite/sqlite_internal.h"

#define DEVICE_COLS                                                                      \
  "id, user_id, name, identity_key, signed_prekey, signed_prekey_signature, created_at," \
  " updated_at"

/* How many one-time prekeys the device holds, or a negative status. */
static int64_t prekey_count(sqlite_db_t *d, const char *id) {
  sqlite3_stmt *st =
      sqlite_db_query(d, "SELECT count(*) FROM device_prekeys WHERE device_id = ?", "s", id);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc < 0) return rc;
  return rc == 1 ? sqlite3_column_int64(st, 0) : 0;
}

/* The device row of id (user_id given: only that user's) into *out with its
 * prekey count; ENOTFOUND when absent. */
static int device_load(sqlite_db_t *d, const char *id, const char *user, json_t **out) {
  sqlite3_stmt *st =
      user ? sqlite_db_query(d, "SELECT " DEVICE_COLS " FROM devices WHERE id = ? AND user_id = ?",
                             "ss", id, user)
           : sqlite_db_query(d, "SELECT " DEVICE_COLS " FROM devices WHERE id = ?", "s", id);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc < 0) return rc;
  if (rc == 0) return STORE_ENOTFOUND;
  json_t *dev =
      json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", sqlite_db_col_str(st, 0),
                "user_id", sqlite_db_col_str(st, 1), "name", sqlite_db_col_str(st, 2),
                "identity_key", sqlite_db_col_str(st, 3), "signed_prekey", sqlite_db_col_str(st, 4),
                "signed_prekey_signature", sqlite_db_col_str(st, 5), "created_at",
                sqlite_db_col_str(st, 6), "updated_at", sqlite_db_col_str(st, 7));
  int64_t n = prekey_count(d, id);
  if (!dev || n < 0) {
    json_decref(dev);
    return n < 0 ? (int)n : STORE_EUNAVAILABLE;
  }
  json_object_set_new(dev, "one_time_prekeys", json_integer(n));
  *out = dev;
  return STORE_OK;
}

/* Adds keys (strings) to the device, a key it holds already once. */
static int add_prekeys(sqlite_db_t *d, const char *id, json_t *keys) {
  size_t i;
  json_t *k;
  json_array_foreach(keys, i, k) {
    if (!json_is_string(k)) return STORE_EINVAL;
    int rc =
        sqlite_db_exec(d, "INSERT OR IGNORE INTO device_prekeys (device_id, key) VALUES (?, ?)",
                       "ss", id, json_string_value(k));
    if (rc != STORE_OK) return rc;
  }
  int64_t n = prekey_count(d, id);
  if (n < 0) return (int)n;
  return n > DEVICE_PREKEYS_MAX ? STORE_ECONFLICT : STORE_OK;
}

int sqlite_device_create(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *user = sqlite_db_pstr(p, "user_id");
  const char *ik = sqlite_db_pstr(p, "identity_key"), *spk = sqlite_db_pstr(p, "signed_prekey");
  const char *sig = sqlite_db_pstr(p, "signed_prekey_signature");
  json_t *keys = json_object_get(p, "one_time_prekeys");
  if (!id || !user || !ik || !spk || !sig || (keys && !json_is_array(keys))) return STORE_EINVAL;
  if (keys && json_array_size(keys) > DEVICE_PREKEYS_MAX) return STORE_ECONFLICT;
  sqlite3_stmt *st =
      sqlite_db_query(d, "SELECT count(*) FROM devices WHERE user_id = ?", "s", user);
  int rc = st ? sqlite_db_step(d, st) : STORE_EUNAVAILABLE;
  if (rc < 0) return rc;
  if (rc == 1 && sqlite3_column_int64(st, 0) >= DEVICES_MAX) return STORE_ECONFLICT;
  char now[32];
  sqlite_db_clock(d, now);
  rc = sqlite_db_exec(d, "INSERT INTO devices (" DEVICE_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      "ssssssss", id, user, sqlite_db_pstr(p, "name"), ik, spk, sig, now, now);
  if (rc == STORE_OK && keys) rc = add_prekeys(d, id, keys);
  if (rc != STORE_OK) return rc;
  return device_load(d, id, user, result);
}

static json_t *row_device_id(sqlite3_stmt *st) { return sqlite_db_col_str(st, 0); }

int sqlite_device_list(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *user = sqlite_db_pstr(p, "user_id");
  if (!user) return STORE_EINVAL;
  sqlite3_stmt *st =
      sqlite_db_query(d, "SELECT id FROM devices WHERE user_id = ? ORDER BY rowid LIMIT ?", "si",
                      user, (int64_t)DEVICES_MAX);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *ids = json_array(), *list = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1) json_array_append_new(ids, row_device_id(st));
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) {
    if (rc < 0) break;
    json_t *dev = NULL;
    rc = device_load(d, json_string_value(v), user, &dev);
    if (rc == STORE_OK) json_array_append_new(list, dev);
  }
  json_decref(ids);
  if (rc < 0) {
    json_decref(list);
    return rc;
  }
  *result = json_pack("{s:o}", "devices", list);
  return STORE_OK;
}

int sqlite_device_get(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *user = sqlite_db_pstr(p, "user_id");
  if (!id || !user) return STORE_EINVAL;
  return device_load(d, id, user, result);
}

int sqlite_device_update(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *user = sqlite_db_pstr(p, "user_id");
  const char *spk = sqlite_db_pstr(p, "signed_prekey");
  const char *sig = sqlite_db_pstr(p, "signed_prekey_signature");
  json_t *keys = json_object_get(p, "add_prekeys");
  if (!id || !user || (!spk != !sig) || (keys && !json_is_array(keys))) return STORE_EINVAL;
  json_t *dev = NULL;
  int rc = device_load(d, id, user, &dev);
  if (rc != STORE_OK) return rc;
  json_decref(dev);
  char now[32];
  sqlite_db_clock(d, now);
  rc = spk ? sqlite_db_exec(d,
                            "UPDATE devices SET signed_prekey = ?, signed_prekey_signature = ?,"
                            " updated_at = ? WHERE id = ?",
                            "ssss", spk, sig, now, id)
           : sqlite_db_exec(d, "UPDATE devices SET updated_at = ? WHERE id = ?", "ss", now, id);
  if (rc == STORE_OK && keys) rc = add_prekeys(d, id, keys);
  if (rc != STORE_OK) return rc;
  return device_load(d, id, user, result);
}

int sqlite_device_delete(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *user = sqlite_db_pstr(p, "user_id");
  if (!id || !user) return STORE_EINVAL;
  int rc = sqlite_db_exec(d, "DELETE FROM devices WHERE id = ? AND user_id = ?", "ss", id, user);
  if (rc != STORE_OK) return rc;
  if (sqlite3_changes(d->db) == 0) return STORE_ENOTFOUND;
  rc = sqlite_db_exec(d, "DELETE FROM device_prekeys WHERE device_id = ?", "s", id);
  if (rc != STORE_OK) return rc;
  *result = json_object();
  return STORE_OK;
}

/* The bundle of one device (a row of DEVICE_COLS), taking its oldest prekey. */
static int claim_one(sqlite_db_t *d, json_t *dev, json_t *bundles) {
  const char *id = json_string_value(json_object_get(dev, "id"));
  sqlite3_stmt *st =
      sqlite_db_query(d,
                      "DELETE FROM device_prekeys WHERE id = (SELECT min(id) FROM device_prekeys"
                      " WHERE device_id = ?) RETURNING key",
                      "s", id);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc < 0) return rc;
  json_t *key = rc == 1 ? sqlite_db_col_str(st, 0) : json_null();
  /* RETURNING's statement must run to its end before the next one. */
  while (rc == 1) rc = sqlite_db_step(d, st);
  int64_t left = prekey_count(d, id);
  if (rc < 0 || left < 0) {
    json_decref(key);
    return rc < 0 ? rc : (int)left;
  }
  json_array_append_new(
      bundles, json_pack("{s:O, s:O, s:O, s:O, s:O, s:o, s:I}", "device_id",
                         json_object_get(dev, "id"), "user_id", json_object_get(dev, "user_id"),
                         "identity_key", json_object_get(dev, "identity_key"), "signed_prekey",
                         json_object_get(dev, "signed_prekey"), "signed_prekey_signature",
                         json_object_get(dev, "signed_prekey_signature"), "one_time_prekey", key,
                         "remaining", (json_int_t)left));
  return STORE_OK;
}

int sqlite_device_claim(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *user = sqlite_db_pstr(p, "user_id"), *id = sqlite_db_pstr(p, "id");
  if (!user) return STORE_EINVAL;
  json_t *devs = NULL;
  int rc;
  if (id) {
    json_t *dev = NULL;
    rc = device_load(d, id, user, &dev);
    if (rc != STORE_OK) return rc;
    devs = json_pack("{s:[o]}", "devices", dev);
  } else {
    json_t *q = json_pack("{s:s}", "user_id", user);
    rc = sqlite_device_list(d, q, &devs);
    json_decref(q);
    if (rc != STORE_OK) return rc;
  }
  json_t *bundles = json_array();
  size_t i;
  json_t *dev;
  json_array_foreach(json_object_get(devs, "devices"), i, dev) {
    rc = claim_one(d, dev, bundles);
    if (rc != STORE_OK) break;
  }
  json_decref(devs);
  if (rc != STORE_OK) {
    json_decref(bundles);
    return rc;
  }
  *result = json_pack("{s:o}", "bundles", bundles);
  return STORE_OK;
}
