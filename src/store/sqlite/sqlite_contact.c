/* SQLite operations on contacts: the Instagram users an owner talks with, with
 * their profile (name, username, picture), tags and variables (JSON text) and
 * read position. Store thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/json_out.h"
#include "parley/util.h"
#include "store/sqlite/sqlite_internal.h"

#define CONTACT_COLS                                                                         \
  "id, owner_id, ig_user_id, username, tags, variables, last_inbound_at, name, profile_pic," \
  " profile_fetched_at, last_read_seq, automation_paused_until_ms"

/* automation_paused_until: the pause's end while it lasts, else null. */
static json_t *paused_until(sqlite3_stmt *st, int col) {
  int64_t until = sqlite3_column_int64(st, col);
  char iso[32];
  if (until <= util_now_ms()) return json_null();
  util_iso8601(until, iso);
  return json_string(iso);
}

/* tags or variables: the stored JSON text, with the common empty ones made
 * directly (json_loadb sets up a parser for each). */
static json_t *col_json(sqlite3_stmt *st, int col, json_t *(*empty)(void)) {
  const char *text = (const char *)sqlite3_column_text(st, col);
  if (text && (strcmp(text, "[]") == 0 || strcmp(text, "{}") == 0)) {
    json_t *j = empty();
    if ((text[0] == '[') == json_is_array(j)) return j;
    json_decref(j);
  }
  return sqlite_db_col_json(st, col, empty);
}

/* Built member by member: a row is read back on every Instagram event, and
 * json_pack would parse its format each time. */
static json_t *contact_row(sqlite3_stmt *st) {
  json_t *c = json_object();
  json_object_set_new_nocheck(c, "id", sqlite_db_col_str(st, 0));
  json_object_set_new_nocheck(c, "owner_id", sqlite_db_col_str(st, 1));
  json_object_set_new_nocheck(c, "ig_user_id", sqlite_db_col_str(st, 2));
  json_object_set_new_nocheck(c, "username", sqlite_db_col_str(st, 3));
  json_object_set_new_nocheck(c, "tags", col_json(st, 4, json_array));
  json_object_set_new_nocheck(c, "variables", col_json(st, 5, json_object));
  json_object_set_new_nocheck(c, "last_inbound_at", sqlite_db_col_str(st, 6));
  json_object_set_new_nocheck(c, "name", sqlite_db_col_str(st, 7));
  json_object_set_new_nocheck(c, "profile_pic", sqlite_db_col_str(st, 8));
  json_object_set_new_nocheck(c, "profile_fetched_at", sqlite_db_col_str(st, 9));
  json_object_set_new_nocheck(c, "last_read_seq", json_integer(sqlite3_column_int64(st, 10)));
  json_object_set_new_nocheck(c, "automation_paused_until", paused_until(st, 11));
  return c;
}

/* ---- the contacts CONTACT_UPSERT read (sqlite_db_t.contacts) ---- */

/* Bounds: entries (emptied when full), and the tags and variables text of a
 * contact worth keeping (a larger one is read each time). */
#define CACHED_MAX 4096
#define CACHED_BYTES_MAX 4096

typedef struct cached_s {
  json_t *contact;   /* never changed once cached: the loop thread reads it too */
  int64_t paused_ms; /* automation_paused_until_ms, 0 when none */
} cached_t;

static void cache_key(char *key, size_t len, const char *owner, const char *ig) {
  snprintf(key, len, "%s\n%s", owner ? owner : "", ig ? ig : "");
}

static int drop_cached(const char *key, void *value, void *arg) {
  cached_t *c = value;
  json_decref(c->contact);
  free(c);
  return 1;
}

void sqlite_contact_forget_all(sqlite_db_t *d) { strmap_sweep(&d->contacts, drop_cached, NULL); }

void sqlite_contact_rolled_back(sqlite_db_t *d, uint64_t contacts_written) {
  if (d->contacts_written != contacts_written) sqlite_contact_forget_all(d);
}

void sqlite_contact_sync(sqlite_db_t *d) {
  sqlite3_stmt *st = sqlite_db_query(d, "PRAGMA data_version", "");
  int64_t version = -1;
  if (st && sqlite_db_step(d, st) == 1) version = sqlite3_column_int64(st, 0);
  if (st) sqlite3_reset(st);
  if (version < 0 || version != d->contacts_version) {
    sqlite_contact_forget_all(d);
    d->contacts_version = version;
  }
}

/* Forgets the contact a write changed (contact as the write left it, or as
 * read before it: owner_id and ig_user_id never change). */
static void forget(sqlite_db_t *d, const json_t *contact) {
  char key[160];
  cache_key(key, sizeof(key), json_string_value(json_object_get(contact, "owner_id")),
            json_string_value(json_object_get(contact, "ig_user_id")));
  cached_t *c = strmap_del(&d->contacts, key);
  if (c) drop_cached(key, c, NULL);
}

static void remember(sqlite_db_t *d, const char *key, json_t *contact, int64_t paused_ms) {
  cached_t *c = strmap_del(&d->contacts, key);
  if (c) drop_cached(key, c, NULL);
  if (strmap_count(&d->contacts) >= CACHED_MAX) sqlite_contact_forget_all(d);
  if (!(c = malloc(sizeof(*c)))) return;
  c->contact = json_incref(contact);
  c->paused_ms = paused_ms;
  if (strmap_put(&d->contacts, key, c) != 0) drop_cached(key, c, NULL);
}

static int contact_by(sqlite_db_t *d, const char *owner, const char *id, const char *ig,
                      json_t **result) {
  sqlite3_stmt *st =
      id ? sqlite_db_query(d, "SELECT " CONTACT_COLS " FROM contacts WHERE id = ? AND owner_id = ?",
                           "ss", id, owner)
         : sqlite_db_query(
               d, "SELECT " CONTACT_COLS " FROM contacts WHERE ig_user_id = ? AND owner_id = ?",
               "ss", ig, owner);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  *result = contact_row(st);
  return STORE_OK;
}

json_t *sqlite_contact_load(sqlite_db_t *d, const char *id) {
  sqlite3_stmt *st =
      sqlite_db_query(d, "SELECT " CONTACT_COLS " FROM contacts WHERE id = ?", "s", id);
  if (!st || sqlite_db_step(d, st) != 1) return NULL;
  json_t *c = contact_row(st);
  sqlite3_reset(st);
  return c;
}

static int contact_upsert(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *owner = sqlite_db_pstr(p, "owner_id"), *ig = sqlite_db_pstr(p, "ig_user_id");
  if (!owner || !ig) return STORE_EINVAL;
  const char *username = sqlite_db_pstr(p, "username");
  const char *inbound = sqlite_db_pstr(p, "last_inbound_at");
  char id[25], key[160];
  cache_key(key, sizeof(key), owner, ig);
  cached_t *c = strmap_get(&d->contacts, key);
  int updated = 0, status;
  if (c) {
    /* A contact held here exists (or existed): a plain UPDATE, cheaper than
     * the upsert's insert attempt; gone meanwhile, the upsert follows. This
     * op's own writes leave the held contacts alone (contacts_known). */
    status = sqlite_db_exec(d,
                            "UPDATE contacts SET username = coalesce(?3, username),"
                            " last_inbound_at = coalesce(?4, last_inbound_at)"
                            " WHERE owner_id = ?1 AND ig_user_id = ?2",
                            "ssss", owner, ig, username, inbound);
    if (status != STORE_OK) return status;
    updated = sqlite3_changes(d->db) > 0;
  }
  if (!updated) {
    util_new_id(id);
    sqlite3_int64 rowid = sqlite3_last_insert_rowid(d->db);
    status =
        sqlite_db_exec(d,
                       "INSERT INTO contacts (id, owner_id, ig_user_id, username, last_inbound_at)"
                       " VALUES (?, ?, ?, ?, ?) ON CONFLICT (owner_id, ig_user_id) DO UPDATE SET"
                       " username = coalesce(excluded.username, username),"
                       " last_inbound_at = coalesce(excluded.last_inbound_at, last_inbound_at)",
                       "sssss", id, owner, ig, username, inbound);
    if (status != STORE_OK) return status;
    updated = sqlite3_last_insert_rowid(d->db) == rowid;
  }
  if (c && updated) {
    /* Updated, not inserted: the cached row with what was just written, as a
     * new object (the cached one may be in the loop thread's hands). */
    json_t *contact = json_copy(c->contact);
    if (!contact) return STORE_EUNAVAILABLE;
    if (username) json_object_set_new_nocheck(contact, "username", json_string(username));
    if (inbound) json_object_set_new_nocheck(contact, "last_inbound_at", json_string(inbound));
    if (c->paused_ms && c->paused_ms <= util_now_ms()) {
      json_object_set_new_nocheck(contact, "automation_paused_until", json_null());
      c->paused_ms = 0;
    }
    json_decref(c->contact);
    c->contact = json_incref(contact);
    *result = contact;
    return STORE_OK;
  }
  sqlite3_stmt *st = sqlite_db_query(
      d, "SELECT " CONTACT_COLS " FROM contacts WHERE ig_user_id = ? AND owner_id = ?", "ss", ig,
      owner);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  *result = contact_row(st);
  if (sqlite3_column_bytes(st, 4) + sqlite3_column_bytes(st, 5) <= CACHED_BYTES_MAX)
    remember(d, key, *result, sqlite3_column_int64(st, 11));
  else
    forget(d, *result);
  sqlite3_reset(st);
  return STORE_OK;
}

/* The owner of contact id when user may act on it: its owner, or an agent of
 * its owner (the team inbox). STORE_OK with owner set, ENOTFOUND otherwise. */
static int owner_for(sqlite_db_t *d, const char *id, const char *user, char owner[32]) {
  sqlite3_stmt *st =
      sqlite_db_query(d,
                      "SELECT owner_id FROM contacts WHERE id = ?1 AND (owner_id = ?2"
                      " OR owner_id IN (SELECT owner_id FROM ig_agents WHERE user_id = ?2))",
                      "ss", id, user);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  snprintf(owner, 32, "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_reset(st);
  return STORE_OK;
}

/* By id or ig_user_id under owner_id, or by id for user_id (the owner or one
 * of its agents). */
int sqlite_contact_get(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *owner = sqlite_db_pstr(p, "owner_id"), *id = sqlite_db_pstr(p, "id");
  const char *ig = sqlite_db_pstr(p, "ig_user_id"), *user = sqlite_db_pstr(p, "user_id");
  char found[32];
  if (!owner && user && id) {
    int status = owner_for(d, id, user, found);
    if (status != STORE_OK) return status;
    owner = found;
  }
  if (!owner || (!id && !ig)) return STORE_EINVAL;
  return contact_by(d, owner, id, ig, result);
}

/* Pages in id order (ids grow with time); the cursor is the last id given.
 * tag: contacts carrying it; q: a case-insensitive substring of the username
 * or the name. */
int sqlite_contact_list(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *owner = sqlite_db_pstr(p, "owner_id");
  int64_t limit = sqlite_db_pint(p, "limit", 1000);
  if (!owner || limit < 1) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(
      d,
      "SELECT " CONTACT_COLS
      " FROM contacts WHERE owner_id = ?1 AND (?2 IS NULL OR id > ?2)"
      " AND (?3 IS NULL OR EXISTS (SELECT 1 FROM json_each(contacts.tags) WHERE value = ?3))"
      " AND (?4 IS NULL OR instr(lower(coalesce(username, '')), lower(?4)) > 0"
      " OR instr(lower(coalesce(name, '')), lower(?4)) > 0)"
      " ORDER BY id LIMIT ?5",
      "ssssi", owner, sqlite_db_pstr(p, "cursor"), sqlite_db_pstr(p, "tag"), sqlite_db_pstr(p, "q"),
      limit + 1);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *list = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1) json_array_append_new(list, contact_row(st));
  if (rc < 0) {
    json_decref(list);
    return rc;
  }
  json_t *next = json_null();
  if ((int64_t)json_array_size(list) > limit) {
    json_array_remove(list, (size_t)limit);
    next = json_incref(json_object_get(json_array_get(list, (size_t)limit - 1), "id"));
  }
  *result = json_pack("{s:o, s:o}", "contacts", list, "next_cursor", next);
  return STORE_OK;
}

/* A copy of contact whose members, tags and variables are its own (the
 * values in them are shared, and never changed in place): what an update
 * changes, or the loop thread's run does with the contact it is given. */
static json_t *contact_copy(const json_t *contact) {
  json_t *c = json_copy((json_t *)contact);
  json_t *tags = json_object_get(contact, "tags"), *vars = json_object_get(contact, "variables");
  /* NULL rather than a copy still sharing a container (memory ran out). */
  if (c && tags && json_object_set_new_nocheck(c, "tags", json_copy(tags)) != 0) goto fail;
  if (c && vars && json_object_set_new_nocheck(c, "variables", json_copy(vars)) != 0) goto fail;
  return c;
fail:
  json_decref(c);
  return NULL;
}

/* Nobody but its one holder has v (or v is absent). Only this thread hands
 * out references to what is cached, so a count of 1 cannot rise meanwhile;
 * the acquire pairs with jansson's releasing decrement on the loop thread. */
static int held_alone(json_t *v) {
  return !v || __atomic_load_n(&v->refcount, __ATOMIC_ACQUIRE) == 1;
}

/* The contact to change: the cached row when ig (the caller's hint: the
 * contact's ig_user_id) names it, else read. The cached object itself when
 * the cache alone holds it and its tags and variables (the loop thread let
 * go of what it was given: the flow runner's updates answer a copy), else a
 * copy (the cached one may be in the loop thread's hands). The caller drops
 * the cache's entry (forget) before changing it. */
static int contact_to_change(sqlite_db_t *d, const char *owner, const char *id, const char *ig,
                             json_t **c) {
  char key[160];
  cached_t *hit = NULL;
  if (ig) {
    cache_key(key, sizeof(key), owner, ig);
    hit = strmap_get(&d->contacts, key);
  }
  const char *hit_id = hit ? json_string_value(json_object_get(hit->contact, "id")) : NULL;
  if (!hit_id || strcmp(hit_id, id) != 0) return contact_by(d, owner, id, NULL, c);
  if (held_alone(hit->contact) && held_alone(json_object_get(hit->contact, "tags")) &&
      held_alone(json_object_get(hit->contact, "variables")))
    *c = json_incref(hit->contact);
  else if (!(*c = contact_copy(hit->contact)))
    return STORE_EUNAVAILABLE;
  if (hit->paused_ms && hit->paused_ms <= util_now_ms())
    json_object_set_new_nocheck(*c, "automation_paused_until", json_null());
  return STORE_OK;
}

/* Caches the contact as an update wrote it (tags_len + vars_len: the bytes of
 * its tags and variables as stored) and answers a copy: the loop thread may
 * change what it is given. */
static json_t *remember_written(sqlite_db_t *d, json_t *c, size_t tags_len, size_t vars_len) {
  char key[160];
  int64_t paused_ms = 0;
  const char *until = json_string_value(json_object_get(c, "automation_paused_until"));
  if (tags_len + vars_len > CACHED_BYTES_MAX) return c;
  if (until && util_parse_iso8601(until, &paused_ms) != 0) return c;
  json_t *answer = contact_copy(c);
  if (!answer) return c;
  cache_key(key, sizeof(key), json_string_value(json_object_get(c, "owner_id")),
            json_string_value(json_object_get(c, "ig_user_id")));
  remember(d, key, c, paused_ms);
  json_decref(c);
  return answer;
}

/* Tags are a set kept in first-added order: add_tags adds, tags replaces the
 * list. Variables merge key by key; a null value deletes the variable. A
 * contact keeps at most CONTACT_TAGS_MAX tags and CONTACT_VARS_MAX variables:
 * a change past either is EINVAL and changes nothing. What is written is
 * cached (the contact's next message upserts it without a read), and
 * ig_user_id, when given, is a hint: the contact cached by (owner_id,
 * ig_user_id) is changed without reading its row if it is the contact id (the
 * flow runner's updates, between two messages of the contact). */
static int contact_update(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *owner = sqlite_db_pstr(p, "owner_id"), *id = sqlite_db_pstr(p, "id");
  const char *user = sqlite_db_pstr(p, "user_id");
  json_t *add = json_object_get(p, "add_tags"), *set = json_object_get(p, "set_variables"),
         *replace = json_object_get(p, "tags"), *c = NULL;
  char found[32];
  if (!owner && user && id) {
    int st = owner_for(d, id, user, found);
    if (st != STORE_OK) return st;
    owner = found;
  }
  if (!owner || !id || (add && !json_is_array(add)) || (set && !json_is_object(set)) ||
      (replace && !json_is_array(replace)))
    return STORE_EINVAL;
  int status = contact_to_change(d, owner, id, sqlite_db_pstr(p, "ig_user_id"), &c);
  if (status != STORE_OK) return status;
  forget(d, c);
  json_t *tags = replace ? json_array() : json_incref(json_object_get(c, "tags"));
  json_t *vars = json_object_get(c, "variables"), *t, *have, *v;
  const char *k;
  size_t i, n;
  if (!json_is_object(vars)) json_object_set_new(c, "variables", vars = json_object());
  if (!json_is_array(tags)) {
    json_decref(tags);
    tags = json_array();
  }
  for (n = 0; n < 2; n++) {
    json_array_foreach(n == 0 ? replace : add, i, t) {
      int dup = !json_is_string(t);
      size_t j;
      json_array_foreach(tags, j, have) dup = dup || json_equal(have, t);
      if (!dup) json_array_append(tags, t);
    }
  }
  json_object_foreach(set, k, v) {
    if (json_is_null(v))
      json_object_del(vars, k);
    else
      json_object_set(vars, k, v);
  }
  char *tags_text = NULL, *vars_text = NULL;
  size_t tags_len = 0, vars_len = 0;
  if (json_array_size(tags) > CONTACT_TAGS_MAX || json_object_size(vars) > CONTACT_VARS_MAX)
    status = STORE_EINVAL; /* bounded: the change is refused whole */
  else if (!(tags_text = json_out_dumps(tags, &tags_len)) ||
           !(vars_text = json_out_dumps(vars, &vars_len)))
    status = STORE_EUNAVAILABLE;
  else
    status = sqlite_db_exec(d, "UPDATE contacts SET tags = ?, variables = ? WHERE id = ?", "sss",
                            tags_text, vars_text, id);
  free(tags_text);
  free(vars_text);
  if (status != STORE_OK) {
    json_decref(tags);
    json_decref(c);
    return status;
  }
  /* The contact as written: the row read above with the tags and variables
   * just stored (vars was changed in place), not read and parsed a second time. */
  json_object_set_new(c, "tags", tags);
  *result = remember_written(d, c, tags_len, vars_len);
  return STORE_OK;
}

/* The profile Graph answered; the contact's instagram conversations take its
 * name (or username). */
static int contact_profile(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *owner = sqlite_db_pstr(p, "owner_id"), *id = sqlite_db_pstr(p, "id");
  const char *name = sqlite_db_pstr(p, "name"), *username = sqlite_db_pstr(p, "username");
  if (!owner || !id) return STORE_EINVAL;
  char now[32];
  sqlite_db_now(now);
  int status =
      sqlite_db_exec(d,
                     "UPDATE contacts SET name = ?, username = coalesce(?, username),"
                     " profile_pic = ?, profile_fetched_at = ? WHERE id = ? AND owner_id = ?",
                     "ssssss", name, username, sqlite_db_pstr(p, "profile_pic"), now, id, owner);
  if (status != STORE_OK) return status;
  json_t *contact = NULL;
  if ((status = contact_by(d, owner, id, NULL, &contact)) != STORE_OK) return status;
  forget(d, contact);
  const char *title =
      name && *name ? name : json_string_value(json_object_get(contact, "username"));
  /* The conversations to rename, collected before the statements that load them. */
  sqlite3_stmt *st = sqlite_db_query(
      d, "SELECT id FROM conversations WHERE contact_id = ? AND type = 'instagram'", "s", id);
  json_t *ids = json_array(), *convs = json_array(), *cid;
  int rc = st ? 0 : STORE_EUNAVAILABLE;
  while (st && (rc = sqlite_db_step(d, st)) == 1)
    json_array_append_new(ids, sqlite_db_col_str(st, 0));
  size_t i;
  json_array_foreach(ids, i, cid) {
    if (rc < 0) break;
    const char *conv_id = json_string_value(cid);
    if (title && *title)
      rc =
          sqlite_db_exec(d, "UPDATE conversations SET name = ? WHERE id = ?", "ss", title, conv_id);
    json_t *conv = rc < 0 ? NULL : sqlite_conv_load(d, conv_id);
    if (conv) json_array_append_new(convs, conv);
  }
  json_decref(ids);
  if (rc < 0) {
    json_decref(contact);
    json_decref(convs);
    return rc;
  }
  *result = json_pack("{s:o, s:o}", "contact", contact, "conversations", convs);
  return STORE_OK;
}

/* The contact's read position: the seq of the last message they saw, never
 * backwards. The contact is named by id or by ig_user_id. */
static int contact_mark_read(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *owner = sqlite_db_pstr(p, "owner_id"), *id = sqlite_db_pstr(p, "id");
  const char *ig = sqlite_db_pstr(p, "ig_user_id");
  int64_t seq = sqlite_db_pint(p, "seq", -1);
  if (!owner || (!id && !ig) || seq < 0) return STORE_EINVAL;
  int status = sqlite_db_exec(d,
                              "UPDATE contacts SET last_read_seq = max(last_read_seq, ?)"
                              " WHERE owner_id = ? AND (id = ? OR ig_user_id = ?)",
                              "isss", seq, owner, id, ig);
  if (status != STORE_OK) return status;
  if ((status = contact_by(d, owner, id, ig, result)) == STORE_OK) forget(d, *result);
  return status;
}

/* The owner of the contact a pause is about: the contact of an instagram
 * conversation, or a contact of the user's own or of an owner the user is an
 * agent of. Sets *id and *owner (copies); STORE_OK or ENOTFOUND. */
static int pause_target(sqlite_db_t *d, json_t *p, char id[32], char owner[32]) {
  const char *conv = sqlite_db_pstr(p, "conversation_id"), *user = sqlite_db_pstr(p, "user_id");
  const char *contact = sqlite_db_pstr(p, "id");
  if (!conv) {
    snprintf(id, 32, "%s", contact);
    return owner_for(d, contact, user, owner);
  }
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT contact_id, creator_id FROM conversations WHERE id = ?"
                                     " AND type = 'instagram' AND contact_id IS NOT NULL",
                                     "s", conv);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  snprintf(id, 32, "%s", (const char *)sqlite3_column_text(st, 0));
  snprintf(owner, 32, "%s", (const char *)sqlite3_column_text(st, 1));
  sqlite3_reset(st);
  return STORE_OK;
}

static int contact_pause(sqlite_db_t *d, json_t *p, json_t **result) {
  json_t *until = json_object_get(p, "until_ms");
  char id[32], owner[32];
  if ((!until || (!json_is_integer(until) && !json_is_null(until))) ||
      (!sqlite_db_pstr(p, "conversation_id") &&
       (!sqlite_db_pstr(p, "id") || !sqlite_db_pstr(p, "user_id"))))
    return STORE_EINVAL;
  int status = pause_target(d, p, id, owner);
  if (status != STORE_OK) return status;
  int64_t ms = json_is_integer(until) ? (int64_t)json_integer_value(until) : 0;
  status =
      json_is_integer(until)
          ? sqlite_db_exec(d, "UPDATE contacts SET automation_paused_until_ms = ? WHERE id = ?",
                           "is", ms, id)
          : sqlite_db_exec(d, "UPDATE contacts SET automation_paused_until_ms = NULL WHERE id = ?",
                           "s", id);
  /* Resumed: the steps the pause held are due now. */
  if (status == STORE_OK && !json_is_integer(until))
    status = sqlite_db_exec(
        d, "UPDATE scheduled_steps SET due_at_ms = ?, held_for = NULL WHERE held_for = ?", "is",
        util_now_ms(), id);
  if (status != STORE_OK) return status;
  if ((status = contact_by(d, owner, id, NULL, result)) != STORE_OK) return status;
  forget(d, *result);
  /* The conversations that show the pause, for their announcement. */
  sqlite3_stmt *st = sqlite_db_query(
      d, "SELECT id FROM conversations WHERE contact_id = ? AND type = 'instagram'", "s", id);
  json_t *ids = json_array();
  int rc = st ? 0 : STORE_EUNAVAILABLE;
  while (st && (rc = sqlite_db_step(d, st)) == 1)
    json_array_append_new(ids, sqlite_db_col_str(st, 0));
  json_object_set_new(*result, "conversation_ids", ids);
  if (rc < 0) {
    json_decref(*result);
    *result = NULL;
    return rc;
  }
  return STORE_OK;
}

/* The writes that keep the cache right themselves (see sqlite_db_t.contacts). */
static int known(sqlite_db_t *d, int (*op)(sqlite_db_t *, json_t *, json_t **), json_t *p,
                 json_t **result) {
  d->contacts_known = 1;
  int status = op(d, p, result);
  d->contacts_known = 0;
  return status;
}

int sqlite_contact_upsert(sqlite_db_t *d, json_t *p, json_t **result) {
  return known(d, contact_upsert, p, result);
}

int sqlite_contact_update(sqlite_db_t *d, json_t *p, json_t **result) {
  return known(d, contact_update, p, result);
}

int sqlite_contact_profile(sqlite_db_t *d, json_t *p, json_t **result) {
  return known(d, contact_profile, p, result);
}

int sqlite_contact_mark_read(sqlite_db_t *d, json_t *p, json_t **result) {
  return known(d, contact_mark_read, p, result);
}

int sqlite_contact_pause(sqlite_db_t *d, json_t *p, json_t **result) {
  return known(d, contact_pause, p, result);
}
