/* SQLite operations on Instagram media (ATTACH_MEDIA_*): the records of an
 * incoming message's attachments, fetched from Meta's URLs into files storage
 * in the background (instagram/media.c), and their message's copies. Store
 * thread. */
#include <stdio.h>
#include <string.h>

#include "parley/util.h"
#include "store/sqlite/sqlite_internal.h"

int sqlite_attach_media_add(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *msg = sqlite_db_pstr(p, "message_id"), *user = sqlite_db_pstr(p, "user_id");
  json_t *items = json_object_get(p, "items"), *it;
  if (!msg || !user || !json_is_array(items)) return STORE_EINVAL;
  char now[32];
  sqlite_db_clock(d, now);
  size_t i;
  int added = 0;
  json_array_foreach(items, i, it) {
    const char *id = json_string_value(json_object_get(it, "id"));
    const char *type = json_string_value(json_object_get(it, "type"));
    const char *name = json_string_value(json_object_get(it, "name"));
    const char *url = json_string_value(json_object_get(it, "source_url"));
    if (!id || !type || !name || !url) return STORE_EINVAL;
    int rc =
        sqlite_db_exec(d,
                       "INSERT INTO attachments (id, user_id, type, content_type, size, name,"
                       " created_at, sent, refs, source_url, message_id, fetch_state,"
                       " fetch_after_ms) VALUES (?, ?, ?, '', 0, ?, ?, 1, 1, ?, ?, 'pending', 0)"
                       " ON CONFLICT DO NOTHING",
                       "sssssss", id, user, type, name, now, url, msg);
    if (rc != STORE_OK) return rc;
    added += sqlite3_changes(d->db);
  }
  *result = json_pack("{s:i}", "added", added);
  return STORE_OK;
}

int sqlite_attach_media_claim(sqlite_db_t *d, json_t *p, json_t **result) {
  int64_t now = sqlite_db_pint(p, "now_ms", -1), lease = sqlite_db_pint(p, "lease_ms", -1);
  int64_t limit = sqlite_db_pint(p, "limit", 0);
  if (now < 0 || lease < 1 || limit < 1 || limit > 100) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(
      d,
      "UPDATE attachments SET fetch_after_ms = ? WHERE id IN (SELECT id FROM attachments"
      " WHERE fetch_state = 'pending' AND fetch_after_ms <= ? ORDER BY fetch_after_ms LIMIT ?)"
      " RETURNING id, type, source_url, message_id, fetch_attempts",
      "iii", now + lease, now, limit);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *media = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1)
    json_array_append_new(
        media,
        json_pack("{s:o, s:o, s:o, s:o, s:I}", "id", sqlite_db_col_str(st, 0), "type",
                  sqlite_db_col_str(st, 1), "source_url", sqlite_db_col_str(st, 2), "message_id",
                  sqlite_db_col_str(st, 3), "attempts", (json_int_t)sqlite3_column_int64(st, 4)));
  if (rc < 0) {
    json_decref(media);
    return rc;
  }
  st = sqlite_db_query(d,
                       "SELECT min(fetch_after_ms) FROM attachments WHERE fetch_state = 'pending'"
                       " AND fetch_after_ms > ?",
                       "i", now);
  rc = st ? sqlite_db_step(d, st) : STORE_EUNAVAILABLE;
  if (rc < 0) {
    json_decref(media);
    return rc;
  }
  json_t *next = rc == 1 && sqlite3_column_type(st, 0) == SQLITE_INTEGER
                     ? json_integer(sqlite3_column_int64(st, 0))
                     : json_null();
  *result = json_pack("{s:o, s:o}", "media", media, "next_ms", next);
  return STORE_OK;
}

/* The message's copy of attachment id: failed (fetch "failed"), or the
 * stored file's fields from p. */
static void update_copy(json_t *list, const char *id, json_t *p, int failed) {
  size_t i;
  json_t *a;
  json_array_foreach(list, i, a) {
    const char *aid = json_string_value(json_object_get(a, "id"));
    if (!aid || strcmp(aid, id) != 0) continue;
    if (failed) {
      json_object_set_new(a, "fetch", json_string("failed"));
      continue;
    }
    json_object_del(a, "fetch");
    json_object_set(a, "content_type", json_object_get(p, "content_type"));
    json_object_set(a, "size", json_object_get(p, "size"));
    if (sqlite_db_pint(p, "width", 0) > 0 && sqlite_db_pint(p, "height", 0) > 0) {
      json_object_set(a, "width", json_object_get(p, "width"));
      json_object_set(a, "height", json_object_get(p, "height"));
    }
    if (sqlite_db_pstr(p, "thumbnail_key"))
      json_object_set(a, "thumbnail_key", json_object_get(p, "thumbnail_key"));
  }
}

/* The record's message (the row st stepped to names it in column 0) takes
 * the change; *result: the message with its participants. A deleted or
 * absent message: ENOTFOUND. */
static int update_message(sqlite_db_t *d, sqlite3_stmt *st, const char *id, json_t *p, int failed,
                          json_t **result) {
  char mid[25];
  snprintf(mid, sizeof(mid), "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_reset(st); /* done with it before the next writes */
  json_t *msg = sqlite_msg_load(d, mid);
  if (!msg || json_is_true(json_object_get(msg, "deleted"))) {
    json_decref(msg);
    return STORE_ENOTFOUND;
  }
  json_t *list = json_object_get(msg, "attachments");
  update_copy(list, id, p, failed);
  int rc = sqlite_db_exec(d, "UPDATE messages SET attachments = ? WHERE id = ?", "js", list, mid);
  if (rc != STORE_OK) {
    json_decref(msg);
    return rc;
  }
  return sqlite_msg_answer(d, msg, -1, result);
}

/* A failed fetch: due again at retry_at_ms ({}), or failed for good (null:
 * the message, its copy marked failed). */
static int media_failed(sqlite_db_t *d, const char *id, json_t *retry, json_t **result) {
  int rc;
  if (json_is_integer(retry)) {
    rc = sqlite_db_exec(d,
                        "UPDATE attachments SET fetch_attempts = fetch_attempts + 1,"
                        " fetch_after_ms = ? WHERE id = ? AND fetch_state = 'pending'",
                        "is", (int64_t)json_integer_value(retry), id);
    if (rc != STORE_OK) return rc;
    if (sqlite3_changes(d->db) == 0) return STORE_ENOTFOUND;
    *result = json_object();
    return STORE_OK;
  }
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "UPDATE attachments SET fetch_attempts = fetch_attempts + 1,"
                                     " fetch_state = 'failed', fetch_after_ms = NULL"
                                     " WHERE id = ? AND fetch_state = 'pending'"
                                     " RETURNING message_id",
                                     "s", id);
  rc = st ? sqlite_db_step(d, st) : STORE_EUNAVAILABLE;
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  return update_message(d, st, id, NULL, 1, result);
}

int sqlite_attach_media_done(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id");
  if (!id) return STORE_EINVAL;
  if (json_object_get(p, "retry_at_ms"))
    return media_failed(d, id, json_object_get(p, "retry_at_ms"), result);
  const char *ctype = sqlite_db_pstr(p, "content_type"), *tkey = sqlite_db_pstr(p, "thumbnail_key");
  const char *tctype = sqlite_db_pstr(p, "thumbnail_content_type");
  int64_t size = sqlite_db_pint(p, "size", -1), w = sqlite_db_pint(p, "width", 0),
          h = sqlite_db_pint(p, "height", 0), tsize = sqlite_db_pint(p, "thumbnail_size", 0);
  if (!ctype || size < 0 || w < 0 || h < 0 || (tkey && !tctype)) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "UPDATE attachments SET fetch_state = 'stored',"
                                     " fetch_after_ms = NULL, content_type = ?, size = ?,"
                                     " width = ?, height = ?, thumbnail_key = ?,"
                                     " thumbnail_size = ?, thumbnail_content_type = ?"
                                     " WHERE id = ? AND fetch_state = 'pending'"
                                     " RETURNING message_id",
                                     "siiisiss", ctype, size, w, h, tkey, tsize, tctype, id);
  int rc = st ? sqlite_db_step(d, st) : STORE_EUNAVAILABLE;
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  return update_message(d, st, id, p, 0, result);
}
