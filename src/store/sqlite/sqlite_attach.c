/* SQLite operations on attachment records (the files' bytes live in files
 * storage). Store thread. */
#include <string.h>

#include "parley/util.h"
#include "store/sqlite/sqlite_internal.h"

#define ATTACH_COLS                                                                        \
  "id, user_id, type, content_type, size, name, created_at, width, height, thumbnail_key," \
  " thumbnail_size, thumbnail_content_type"

/* An image's size (both present, or neither) and its thumbnail (storage key,
 * size, type; the type only on the record, not a message's copy), on a (a
 * record, or a message's copy of one) when it has them. */
static void add_image(json_t *a, int64_t w, int64_t h, const char *tkey, int64_t tsize,
                      const char *tctype) {
  if (w > 0 && h > 0) {
    json_object_set_new(a, "width", json_integer(w));
    json_object_set_new(a, "height", json_integer(h));
  }
  if (!tkey || !*tkey) return;
  json_object_set_new(a, "thumbnail_key", json_string(tkey));
  if (tctype) {
    json_object_set_new(a, "thumbnail_size", json_integer(tsize));
    json_object_set_new(a, "thumbnail_content_type", json_string(tctype));
  }
}

static json_t *attach_row(sqlite3_stmt *st) {
  json_t *a =
      json_pack("{s:o, s:o, s:o, s:o, s:I, s:o, s:o}", "id", sqlite_db_col_str(st, 0), "user_id",
                sqlite_db_col_str(st, 1), "type", sqlite_db_col_str(st, 2), "content_type",
                sqlite_db_col_str(st, 3), "size", (json_int_t)sqlite3_column_int64(st, 4), "name",
                sqlite_db_col_str(st, 5), "created_at", sqlite_db_col_str(st, 6));
  add_image(a, sqlite3_column_int64(st, 7), sqlite3_column_int64(st, 8),
            (const char *)sqlite3_column_text(st, 9), sqlite3_column_int64(st, 10),
            (const char *)sqlite3_column_text(st, 11));
  return a;
}

int sqlite_attach_create(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *user = sqlite_db_pstr(p, "user_id");
  const char *type = sqlite_db_pstr(p, "type"), *ctype = sqlite_db_pstr(p, "content_type");
  const char *name = sqlite_db_pstr(p, "name");
  const char *tkey = sqlite_db_pstr(p, "thumbnail_key");
  const char *tctype = sqlite_db_pstr(p, "thumbnail_content_type");
  int64_t size = sqlite_db_pint(p, "size", -1), tsize = sqlite_db_pint(p, "thumbnail_size", 0);
  int64_t w = sqlite_db_pint(p, "width", 0), h = sqlite_db_pint(p, "height", 0);
  if (!id || !user || !type || !ctype || !name || size < 0 || w < 0 || h < 0 || tsize < 0 ||
      (tkey && !tctype))
    return STORE_EINVAL;
  char now[32];
  sqlite_db_clock(d, now);
  int rc = sqlite_db_exec(
      d, "INSERT INTO attachments (" ATTACH_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      "ssssissiisis", id, user, type, ctype, size, name, now, w, h, tkey, tsize, tctype);
  if (rc != STORE_OK) return rc;
  *result =
      json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s}", "id", id, "user_id", user, "type", type,
                "content_type", ctype, "size", (json_int_t)size, "name", name, "created_at", now);
  add_image(*result, w, h, tkey, tsize, tctype);
  return STORE_OK;
}

int sqlite_attach_get(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id");
  if (!id) return STORE_EINVAL;
  sqlite3_stmt *st =
      sqlite_db_query(d, "SELECT " ATTACH_COLS " FROM attachments WHERE id = ?", "s", id);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc < 0) return rc;
  if (rc == 0) return STORE_ENOTFOUND;
  *result = attach_row(st);
  return STORE_OK;
}

int sqlite_attach_resolve(sqlite_db_t *d, const char *user_id, json_t *ids, json_t **out) {
  json_t *list = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) {
    sqlite3_stmt *st = sqlite_db_query(d,
                                       "SELECT id, type, content_type, size, name, width, height,"
                                       " thumbnail_key"
                                       " FROM attachments WHERE id = ? AND user_id = ?",
                                       "ss", json_string_value(v), user_id);
    int rc = st ? sqlite_db_step(d, st) : STORE_EUNAVAILABLE;
    if (rc <= 0) {
      json_decref(list);
      return rc < 0 ? rc : STORE_ENOTFOUND;
    }
    /* Taken by a message: never swept (see ATTACH_SWEEP). The message's copy
     * has the thumbnail's key, which its view turns into thumbnail_url
     * (chat/attach_url.c) and leaves out. */
    json_t *entry =
        json_pack("{s:o, s:o, s:o, s:I, s:o}", "id", sqlite_db_col_str(st, 0), "type",
                  sqlite_db_col_str(st, 1), "content_type", sqlite_db_col_str(st, 2), "size",
                  (json_int_t)sqlite3_column_int64(st, 3), "name", sqlite_db_col_str(st, 4));
    add_image(entry, sqlite3_column_int64(st, 5), sqlite3_column_int64(st, 6),
              (const char *)sqlite3_column_text(st, 7), 0, NULL);
    json_array_append_new(list, entry);
    rc = sqlite_db_exec(d, "UPDATE attachments SET sent = 1 WHERE id = ? AND sent = 0", "s",
                        json_string_value(v));
    if (rc != STORE_OK) {
      json_decref(list);
      return rc;
    }
  }
  *out = list;
  return STORE_OK;
}

int sqlite_attach_usage(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *user = sqlite_db_pstr(p, "user_id");
  if (!user) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(
      d, "SELECT coalesce(sum(size), 0), count(*) FROM attachments WHERE user_id = ?", "s", user);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc < 0) return rc;
  *result = json_pack("{s:I, s:I}", "bytes", (json_int_t)sqlite3_column_int64(st, 0), "count",
                      (json_int_t)sqlite3_column_int64(st, 1));
  return STORE_OK;
}

int sqlite_attach_sweep(sqlite_db_t *d, json_t *p, json_t **result) {
  int64_t before = sqlite_db_pint(p, "before_ms", -1), limit = sqlite_db_pint(p, "limit", 100);
  if (before < 0 || limit < 1 || limit > 1000) return STORE_EINVAL;
  char iso[32];
  util_iso8601(before, iso);
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "DELETE FROM attachments WHERE id IN (SELECT id FROM"
                                     " attachments WHERE sent = 0 AND created_at < ? LIMIT ?)"
                                     " RETURNING id, thumbnail_key",
                                     "si", iso, limit);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *removed = json_array(), *thumbs = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1) {
    json_array_append_new(removed, sqlite_db_col_str(st, 0));
    if (sqlite3_column_type(st, 1) == SQLITE_TEXT)
      json_array_append_new(thumbs, sqlite_db_col_str(st, 1));
  }
  if (rc < 0) {
    json_decref(removed);
    json_decref(thumbs);
    return rc;
  }
  /* thumbnails: the storage keys of the removed records' thumbnails. */
  *result = json_pack("{s:o, s:o}", "removed", removed, "thumbnails", thumbs);
  return STORE_OK;
}

int sqlite_attach_count(sqlite_db_t *d, json_t *ids) {
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) {
    int rc = sqlite_db_exec(d, "UPDATE attachments SET refs = refs + 1 WHERE id = ?", "s",
                            json_string_value(v));
    if (rc != STORE_OK) return rc;
  }
  return STORE_OK;
}

/* 1 when id is some user's or group's avatar (its bytes stay). */
static int is_avatar(sqlite_db_t *d, const char *id) {
  sqlite3_stmt *st =
      sqlite_db_query(d,
                      "SELECT 1 WHERE EXISTS (SELECT 1 FROM users WHERE avatar_id = ?)"
                      " OR EXISTS (SELECT 1 FROM conversations WHERE avatar_id = ?)",
                      "ss", id, id);
  int rc = st ? sqlite_db_step(d, st) : STORE_EUNAVAILABLE;
  if (st) sqlite3_reset(st);
  return rc;
}

int sqlite_attach_release(sqlite_db_t *d, json_t *attachments, json_t *removed) {
  size_t i;
  json_t *a;
  json_array_foreach(attachments, i, a) {
    const char *id = json_string_value(json_object_get(a, "id"));
    if (!id || strlen(id) != 24) continue; /* Meta's {type, url} of old messages */
    sqlite3_stmt *st = sqlite_db_query(
        d, "UPDATE attachments SET refs = refs - 1 WHERE id = ? AND refs > 0 RETURNING refs", "s",
        id);
    int rc = st ? sqlite_db_step(d, st) : STORE_EUNAVAILABLE;
    if (rc < 0) return rc;
    int64_t left = rc == 1 ? sqlite3_column_int64(st, 0) : 1;
    sqlite3_reset(st); /* done with it: the table is written again below */
    if (left > 0) continue;
    rc = is_avatar(d, id);
    if (rc < 0) return rc;
    if (rc == 1) continue;
    st = sqlite_db_query(
        d, "DELETE FROM attachments WHERE id = ? AND refs = 0 RETURNING thumbnail_key", "s", id);
    rc = st ? sqlite_db_step(d, st) : STORE_EUNAVAILABLE;
    if (rc < 0) return rc;
    if (rc == 0) continue;
    json_array_append_new(removed, json_string(id));
    if (sqlite3_column_type(st, 0) == SQLITE_TEXT)
      json_array_append_new(removed, sqlite_db_col_str(st, 0));
    sqlite3_reset(st);
  }
  return STORE_OK;
}
