/* SQLite operations on bots (store_ops.h, "bots"): the bot rows beside their
 * users, and their outbox of deliveries. The store thread runs each in a
 * transaction that BEGIN IMMEDIATE keeps other processes out of, so a bot's
 * lease is taken by one instance only. Store thread. */
#include <string.h>

#include "parley/util.h"
#include "store/sqlite/sqlite_internal.h"

#define BOT_COLS                                                                 \
  "b.id, u.name, b.owner_id, b.webhook_url, b.status, b.failures, b.last_error," \
  " b.disabled_at, b.queued, b.created_at, b.secret_cipher, b.next_at_ms, b.lease_until_ms"

static json_t *bot_row(sqlite3_stmt *st, int with_secret) {
  json_t *b = json_pack(
      "{s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:I, s:o}", "id", sqlite_db_col_str(st, 0), "name",
      sqlite_db_col_str(st, 1), "owner_id", sqlite_db_col_str(st, 2), "webhook_url",
      sqlite_db_col_str(st, 3), "status", sqlite_db_col_str(st, 4), "failures",
      (json_int_t)sqlite3_column_int64(st, 5), "last_error", sqlite_db_col_str(st, 6),
      "disabled_at", sqlite_db_col_str(st, 7), "queued", (json_int_t)sqlite3_column_int64(st, 8),
      "created_at", sqlite_db_col_str(st, 9));
  if (b && with_secret) json_object_set_new(b, "secret_cipher", sqlite_db_col_str(st, 10));
  return b;
}

/* The bot id of owner (owner NULL: anyone's) into *out. */
static int bot_load(sqlite_db_t *d, const char *id, const char *owner, int with_secret,
                    json_t **out) {
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT " BOT_COLS
                                     " FROM bots b JOIN users u ON u.id = b.id"
                                     " WHERE b.id = ? AND (? IS NULL OR b.owner_id = ?)",
                                     "sss", id, owner, owner);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc < 0) return rc;
  if (rc == 0) return STORE_ENOTFOUND;
  *out = bot_row(st, with_secret);
  sqlite3_reset(st);
  return *out ? STORE_OK : STORE_EUNAVAILABLE;
}

int sqlite_bot_create(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *owner = sqlite_db_pstr(p, "owner_id"), *name = sqlite_db_pstr(p, "name");
  const char *url = sqlite_db_pstr(p, "webhook_url"), *hash = sqlite_db_pstr(p, "token_hash");
  const char *secret = sqlite_db_pstr(p, "secret_cipher");
  int64_t max = sqlite_db_pint(p, "max", 0);
  if (!owner || !name || !url || !hash || !secret || max < 1) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(d, "SELECT count(*) FROM bots WHERE owner_id = ?", "s", owner);
  int rc = st ? sqlite_db_step(d, st) : STORE_EUNAVAILABLE;
  if (rc < 0) return rc;
  int full = rc == 1 && sqlite3_column_int64(st, 0) >= max;
  sqlite3_reset(st);
  if (full) return STORE_ECONFLICT;
  char id[25], now[32];
  util_new_id(id);
  sqlite_db_now(now);
  rc = sqlite_db_exec(d,
                      "INSERT INTO users (id, email, name, password_hash, created_at, status,"
                      " email_verified, kind) VALUES (?, NULL, ?, NULL, ?, 'online', 1, 'bot')",
                      "sss", id, name, now);
  if (rc == STORE_OK)
    rc = sqlite_db_exec(d,
                        "INSERT INTO bots (id, owner_id, webhook_url, token_hash, secret_cipher,"
                        " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                        "ssssss", id, owner, url, hash, secret, now);
  if (rc != STORE_OK) return rc;
  return bot_load(d, id, NULL, 0, result);
}

int sqlite_bot_list(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *owner = sqlite_db_pstr(p, "owner_id");
  if (!owner) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT " BOT_COLS
                                     " FROM bots b JOIN users u ON u.id = b.id"
                                     " WHERE b.owner_id = ? ORDER BY b.created_at, b.id",
                                     "s", owner);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *bots = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1) json_array_append_new(bots, bot_row(st, 0));
  if (rc < 0) {
    json_decref(bots);
    return rc;
  }
  *result = json_pack("{s:o}", "bots", bots);
  return STORE_OK;
}

int sqlite_bot_get(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *owner = sqlite_db_pstr(p, "owner_id");
  if (!id || !owner) return STORE_EINVAL;
  return bot_load(d, id, owner, 0, result);
}

int sqlite_bot_update(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *owner = sqlite_db_pstr(p, "owner_id");
  const char *name = sqlite_db_pstr(p, "name"), *url = sqlite_db_pstr(p, "webhook_url");
  if (!id || !owner) return STORE_EINVAL;
  json_t *bot = NULL;
  int rc = bot_load(d, id, owner, 0, &bot);
  json_decref(bot);
  if (rc != STORE_OK) return rc;
  if (name && (rc = sqlite_db_exec(d, "UPDATE users SET name = ? WHERE id = ?", "ss", name, id)) !=
                  STORE_OK)
    return rc;
  if (url && (rc = sqlite_db_exec(d, "UPDATE bots SET webhook_url = ? WHERE id = ?", "ss", url,
                                  id)) != STORE_OK)
    return rc;
  if ((url || json_is_true(json_object_get(p, "enable"))) &&
      (rc = sqlite_db_exec(d,
                           "UPDATE bots SET status = 'active', failures = 0, last_error = NULL,"
                           " disabled_at = NULL, next_at_ms = 0 WHERE id = ?",
                           "s", id)) != STORE_OK)
    return rc;
  return bot_load(d, id, owner, 0, result);
}

int sqlite_bot_token(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *owner = sqlite_db_pstr(p, "owner_id");
  const char *hash = sqlite_db_pstr(p, "token_hash");
  if (!id || !owner || !hash) return STORE_EINVAL;
  int rc = sqlite_db_exec(d, "UPDATE bots SET token_hash = ? WHERE id = ? AND owner_id = ?", "sss",
                          hash, id, owner);
  if (rc != STORE_OK) return rc;
  if (sqlite3_changes(d->db) == 0) return STORE_ENOTFOUND;
  return bot_load(d, id, owner, 0, result);
}

/* The bot leaves every conversation it is in, as a member leaving (a
 * channel's count moves; being its admin holds nothing back); each other
 * conversation, loaded after, goes to convs for its members'
 * conversation.updated. */
static int leave_all(sqlite_db_t *d, const char *id, json_t *convs) {
  sqlite3_stmt *st =
      sqlite_db_query(d,
                      "SELECT p.conversation_id, c.type = 'channel' FROM participants p"
                      " JOIN conversations c ON c.id = p.conversation_id"
                      " WHERE p.user_id = ?",
                      "s", id);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *in = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1)
    json_array_append_new(in,
                          json_pack("[o, b]", sqlite_db_col_str(st, 0), sqlite3_column_int(st, 1)));
  size_t i;
  json_t *v;
  json_array_foreach(in, i, v) {
    if (rc < 0) break;
    const char *conv = json_string_value(json_array_get(v, 0));
    if (!conv) continue;
    if (json_is_true(json_array_get(v, 1))) {
      rc = sqlite_channel_remove(d, conv, id, 0);
      continue;
    }
    rc = sqlite_db_exec(d, "DELETE FROM participants WHERE conversation_id = ? AND user_id = ?",
                        "ss", conv, id);
    json_t *loaded = rc == STORE_OK ? sqlite_conv_load(d, conv) : NULL;
    if (rc == STORE_OK && !loaded) rc = STORE_EUNAVAILABLE;
    if (loaded) json_array_append_new(convs, loaded);
  }
  json_decref(in);
  return rc < 0 ? rc : STORE_OK;
}

int sqlite_bot_delete(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *owner = sqlite_db_pstr(p, "owner_id");
  if (!id || !owner) return STORE_EINVAL;
  int rc = sqlite_db_exec(d, "DELETE FROM bots WHERE id = ? AND owner_id = ?", "ss", id, owner);
  if (rc != STORE_OK) return rc;
  if (sqlite3_changes(d->db) == 0) return STORE_ENOTFOUND;
  json_t *convs = json_array();
  rc = leave_all(d, id, convs);
  if (rc != STORE_OK) {
    json_decref(convs);
    return rc;
  }
  rc = sqlite_db_exec(d, "DELETE FROM bot_deliveries WHERE bot_id = ?", "s", id);
  if (rc == STORE_OK)
    rc = sqlite_db_exec(d,
                        "UPDATE users SET name = 'Deleted user', avatar_url = NULL,"
                        " status = 'offline', deleted = 1 WHERE id = ?",
                        "s", id);
  if (rc == STORE_OK)
    *result = json_pack("{s:o}", "conversations", convs);
  else
    json_decref(convs);
  return rc;
}

int sqlite_bot_auth(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *hash = sqlite_db_pstr(p, "token_hash");
  if (!hash) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT " BOT_COLS
                                     " FROM bots b JOIN users u ON u.id = b.id"
                                     " WHERE b.token_hash = ?",
                                     "s", hash);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc < 0) return rc;
  if (rc == 0) return STORE_ENOTFOUND;
  *result = bot_row(st, 0);
  sqlite3_reset(st);
  return STORE_OK;
}

int sqlite_bot_ids(sqlite_db_t *d, json_t *p, json_t **result) {
  (void)p;
  sqlite3_stmt *st = sqlite_db_query(d, "SELECT id FROM bots", "");
  if (!st) return STORE_EUNAVAILABLE;
  json_t *ids = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1) json_array_append_new(ids, sqlite_db_col_str(st, 0));
  if (rc < 0) {
    json_decref(ids);
    return rc;
  }
  *result = json_pack("{s:o}", "ids", ids);
  return STORE_OK;
}

/* The bots among a channel's members (participants.bot, kept by migration
 * 35's trigger, found through its partial index) but except, appended to ids. */
static int channel_bots(sqlite_db_t *d, const char *channel, const char *except, json_t *ids) {
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT user_id FROM participants"
                                     " WHERE conversation_id = ? AND bot = 1 AND user_id != ?",
                                     "ss", channel, except ? except : "");
  if (!st) return STORE_EUNAVAILABLE;
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1) json_array_append_new(ids, sqlite_db_col_str(st, 0));
  return rc < 0 ? rc : STORE_OK;
}

/* One event of BOT_ENQUEUE: the bots it was queued for to queued, those
 * whose queue is full to full. */
static int enqueue_item(sqlite_db_t *d, json_t *p, json_t *queued, json_t *full) {
  json_t *given = json_object_get(p, "bot_ids");
  const char *msg = sqlite_db_pstr(p, "message_id"), *payload = sqlite_db_pstr(p, "payload");
  const char *key = sqlite_db_pstr(p, "key"), *channel = sqlite_db_pstr(p, "channel_id");
  int64_t max = sqlite_db_pint(p, "queue_max", 0);
  if (!json_is_array(given) || !msg || !payload || max < 1) return STORE_EINVAL;
  /* The delivery's key (column message_id): the message id for a new
   * message, "<message id>:<fresh id>" for a change, so a retried call
   * queues nothing twice. */
  if (!key) key = msg;
  json_t *ids = json_copy(given);
  int rc = ids ? STORE_OK : STORE_EUNAVAILABLE;
  if (rc == STORE_OK && channel) rc = channel_bots(d, channel, sqlite_db_pstr(p, "except"), ids);
  if (rc != STORE_OK) {
    json_decref(ids);
    return rc;
  }
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) {
    const char *id = json_string_value(v);
    if (!id) continue;
    sqlite3_stmt *st =
        sqlite_db_query(d, "SELECT queued FROM bots WHERE id = ? AND status = 'active'", "s", id);
    if (!st || (rc = sqlite_db_step(d, st)) < 0) {
      rc = st ? rc : STORE_EUNAVAILABLE;
      break;
    }
    rc = STORE_OK;
    if (sqlite3_column_type(st, 0) == SQLITE_NULL) { /* no row: not an active bot */
      sqlite3_reset(st);
      continue;
    }
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (n >= max) {
      json_array_append_new(full, json_string(id));
      continue;
    }
    rc = sqlite_db_exec(d,
                        "INSERT INTO bot_deliveries (bot_id, message_id, payload) VALUES (?, ?, ?)"
                        " ON CONFLICT DO NOTHING",
                        "sss", id, key, payload);
    if (rc != STORE_OK) break;
    if (sqlite3_changes(d->db) == 0) continue;
    rc = sqlite_db_exec(d, "UPDATE bots SET queued = queued + 1 WHERE id = ?", "s", id);
    if (rc != STORE_OK) break;
    json_array_append_new(queued, json_string(id));
  }
  json_decref(ids);
  return rc;
}

int sqlite_bot_enqueue(sqlite_db_t *d, json_t *p, json_t **result) {
  /* {items: [event]} queues each in turn (one transaction), else p is one. */
  json_t *items = json_object_get(p, "items");
  if (items && (!json_is_array(items) || json_array_size(items) > BOTS_ENQUEUE_BATCH))
    return STORE_EINVAL;
  json_t *queued = json_array(), *full = json_array();
  int rc = STORE_OK;
  size_t i;
  json_t *item;
  if (items) {
    json_array_foreach(items, i, item) {
      if ((rc = enqueue_item(d, item, queued, full)) != STORE_OK) break;
    }
  } else {
    rc = enqueue_item(d, p, queued, full);
  }
  if (rc != STORE_OK) {
    json_decref(queued);
    json_decref(full);
    return rc;
  }
  *result = json_pack("{s:o, s:o}", "queued", queued, "full", full);
  return STORE_OK;
}

/* The oldest delivery of bot into out (1), none (0), or a negative status. */
static int head(sqlite_db_t *d, const char *bot, json_t *out) {
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT id, message_id, payload, attempts FROM bot_deliveries"
                                     " WHERE bot_id = ? ORDER BY id LIMIT 1",
                                     "s", bot);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc <= 0) return rc;
  char id[32];
  snprintf(id, sizeof(id), "%lld", (long long)sqlite3_column_int64(st, 0));
  json_object_set_new(out, "id", json_string(id));
  json_object_set_new(out, "message_id", sqlite_db_col_str(st, 1));
  json_object_set_new(out, "payload", sqlite_db_col_str(st, 2));
  json_object_set_new(out, "attempts", json_integer(sqlite3_column_int64(st, 3)));
  sqlite3_reset(st);
  return 1;
}

int sqlite_bot_claim(sqlite_db_t *d, json_t *p, json_t **result) {
  int64_t now = sqlite_db_pint(p, "now_ms", -1), lease = sqlite_db_pint(p, "lease_ms", -1);
  int64_t limit = sqlite_db_pint(p, "limit", 0);
  if (now < 0 || lease < 1 || limit < 1 || limit > 1000) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT id, webhook_url, secret_cipher FROM bots"
                                     " WHERE status = 'active' AND queued > 0 AND next_at_ms <= ?"
                                     " AND lease_until_ms <= ? ORDER BY next_at_ms LIMIT ?",
                                     "iii", now, now, limit);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *due = json_array(), *out = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1)
    json_array_append_new(
        due, json_pack("{s:o, s:o, s:o}", "bot_id", sqlite_db_col_str(st, 0), "webhook_url",
                       sqlite_db_col_str(st, 1), "secret_cipher", sqlite_db_col_str(st, 2)));
  size_t i;
  json_t *b;
  json_array_foreach(due, i, b) {
    if (rc < 0) break;
    const char *bot = json_string_value(json_object_get(b, "bot_id"));
    rc = head(d, bot, b);
    if (rc == 0) { /* the count drifted: nothing is queued after all */
      rc = sqlite_db_exec(d, "UPDATE bots SET queued = 0 WHERE id = ?", "s", bot);
      continue;
    }
    if (rc < 0) break;
    rc = sqlite_db_exec(d, "UPDATE bots SET lease_until_ms = ? WHERE id = ?", "is", now + lease,
                        bot);
    json_object_set_new(b, "lease_until_ms", json_integer(now + lease));
    json_array_append(out, b);
  }
  json_decref(due);
  if (rc >= 0) {
    st = sqlite_db_query(d,
                         "SELECT min(max(next_at_ms, lease_until_ms)) FROM bots"
                         " WHERE status = 'active' AND queued > 0",
                         "");
    rc = st ? sqlite_db_step(d, st) : STORE_EUNAVAILABLE;
  }
  if (rc < 0) {
    json_decref(out);
    return rc;
  }
  json_t *next = rc == 1 && sqlite3_column_type(st, 0) != SQLITE_NULL
                     ? json_integer(sqlite3_column_int64(st, 0))
                     : json_null();
  if (rc == 1) sqlite3_reset(st);
  *result = json_pack("{s:o, s:o}", "deliveries", out, "next_due_ms", next);
  return STORE_OK;
}

int sqlite_bot_done(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *bot = sqlite_db_pstr(p, "bot_id"), *did = sqlite_db_pstr(p, "delivery_id");
  int64_t lease = sqlite_db_pint(p, "lease_until_ms", -1), now = sqlite_db_pint(p, "now_ms", 0);
  int64_t next = sqlite_db_pint(p, "next_at_ms", 0), max = sqlite_db_pint(p, "max_failures", 0);
  const char *error = sqlite_db_pstr(p, "error");
  int ok = json_is_true(json_object_get(p, "ok"));
  if (!bot || !did || lease < 0 || max < 1) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(
      d, "SELECT failures FROM bots WHERE id = ? AND lease_until_ms = ?", "si", bot, lease);
  int rc = st ? sqlite_db_step(d, st) : STORE_EUNAVAILABLE;
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  int64_t failures = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  int disabled = 0;
  if (ok) {
    rc =
        sqlite_db_exec(d, "DELETE FROM bot_deliveries WHERE id = ? AND bot_id = ?", "ss", did, bot);
    if (rc == STORE_OK)
      rc = sqlite_db_exec(d,
                          "UPDATE bots SET queued = max(queued - ?, 0), failures = 0,"
                          " last_error = NULL, next_at_ms = 0, lease_until_ms = 0 WHERE id = ?",
                          "is", (int64_t)sqlite3_changes(d->db), bot);
  } else {
    disabled = failures + 1 >= max;
    char at[32];
    util_iso8601(now, at);
    rc = sqlite_db_exec(d, "UPDATE bot_deliveries SET attempts = attempts + 1 WHERE id = ?", "s",
                        did);
    if (rc == STORE_OK)
      rc = sqlite_db_exec(d,
                          "UPDATE bots SET failures = failures + 1, last_error = ?,"
                          " next_at_ms = ?, lease_until_ms = 0,"
                          " status = CASE WHEN ? THEN 'disabled' ELSE status END,"
                          " disabled_at = CASE WHEN ? THEN ? ELSE disabled_at END WHERE id = ?",
                          "siddss", error ? error : "failed", next, disabled, disabled, at, bot);
  }
  if (rc != STORE_OK) return rc;
  json_t *b = NULL;
  if ((rc = bot_load(d, bot, NULL, 0, &b)) != STORE_OK) return rc;
  *result = json_pack("{s:o, s:b}", "bot", b, "disabled", disabled);
  return STORE_OK;
}
