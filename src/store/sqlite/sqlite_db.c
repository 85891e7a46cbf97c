/* The SQLite connection of the store: opening it with its pragmas, the cache of
 * prepared statements, parameter binding and row/JSON helpers. Owned by the store
 * thread once it runs (opened on the loop thread at start-up, before the thread). */
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "parley/json_out.h"
#include "parley/log.h"
#include "parley/util.h"
#include "store/sqlite/sqlite_internal.h"

static int apply_pragmas(sqlite_db_t *d) {
  /* WAL lets readers of other connections proceed during a commit; NORMAL syncs at
   * checkpoints only, which in WAL mode still survives a process crash. */
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(d->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK) return -1;
  int ok = sqlite3_step(st) == SQLITE_ROW &&
           strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
  sqlite3_finalize(st);
  if (!ok) {
    log_error("store: sqlite could not enter WAL mode");
    return -1;
  }
  /* 64 MiB of page cache (the default is 2 MiB; the store sets sqlite_cache_mb
   * after opening): a group commit of thousands of messages dirties more than
   * 2 MiB, and a full cache spills pages into the WAL mid-transaction and reads
   * them back. Pages are allocated as they are used and kept until it is full. */
  return sqlite_db_exec_plain(d,
                              "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                              "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-65536") == 0
             ? 0
             : -1;
}

/* Process-wide settings that must precede sqlite3_initialize(): without memory
 * statistics, SQLite's allocator takes no global mutex per allocation; the page
 * cache is SQLite's own without its empty truncates (sqlite_pcache.c). */
static void configure_once(void) {
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  if (sqlite_pcache_install() != 0) log_warn("store: sqlite's page cache left as it was");
  sqlite3_initialize();
}

/* Every row written: a contact written elsewhere than sqlite_contact.c may be
 * cached there. */
static void on_update(void *arg, int op, const char *db, const char *table, sqlite3_int64 rowid) {
  sqlite_db_t *d = arg;
  if (strcmp(table, "contacts") != 0) return;
  d->contacts_written++;
  if (!d->contacts_known) sqlite_contact_forget_all(d);
}

sqlite_db_t *sqlite_db_open(const char *path) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, configure_once);
  sqlite_db_t *d = calloc(1, sizeof(*d));
  if (!d) return NULL;
  strmap_init(&d->contacts);
  strmap_init(&d->members);
  /* NOMUTEX: the connection is used by one thread at a time (the store thread). */
  int rc = sqlite3_open_v2(path, &d->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    log_error("store: cannot open sqlite database %s: %s", path,
              d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc));
    goto fail;
  }
  sqlite3_busy_timeout(d->db, 5000);
  sqlite3_update_hook(d->db, on_update, d);
  /* A larger lookaside serves SQLite's small per-statement allocations without malloc,
   * where SQLite has one: Debian's is built with SQLITE_OMIT_LOOKASIDE, and this does
   * nothing there (every such allocation is a malloc). */
  sqlite3_db_config(d->db, SQLITE_DBCONFIG_LOOKASIDE, NULL, 512, 1024);
  if (apply_pragmas(d) != 0) goto fail;
  return d;
fail:
  sqlite_db_close(d);
  return NULL;
}

void sqlite_db_close(sqlite_db_t *d) {
  if (!d) return;
  for (int i = 0; i < SQLITE_DB_CACHE; i++) sqlite3_finalize(d->cache[i].stmt);
  sqlite_contact_forget_all(d);
  strmap_free(&d->contacts);
  sqlite_msg_insert_discard(d);
  free(d->pending_spare);
  sqlite_members_forget_all(d);
  strmap_free(&d->members);
  if (d->db && sqlite3_close(d->db) != SQLITE_OK)
    log_error("store: sqlite close: %s", sqlite3_errmsg(d->db));
  free(d);
}

int sqlite_db_status(sqlite_db_t *d, int rc, const char *what) {
  switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
      return STORE_OK;
    case SQLITE_CONSTRAINT:
      return STORE_ECONFLICT;
    default:
      log_error("store: sqlite %s: %s (%d)", what, sqlite3_errmsg(d->db), rc);
      return STORE_EUNAVAILABLE;
  }
}

int sqlite_db_exec_plain(sqlite_db_t *d, const char *sql) {
  char *err = NULL;
  int rc = sqlite3_exec(d->db, sql, NULL, NULL, &err);
  if (rc != SQLITE_OK) {
    log_error("store: sqlite exec failed: %s (%.60s)", err ? err : sqlite3_errstr(rc), sql);
    sqlite3_free(err);
    return (rc & 0xff) == SQLITE_CONSTRAINT ? STORE_ECONFLICT : STORE_EUNAVAILABLE;
  }
  return 0;
}

/* The statement, reset and unbound, with its slot in *slot. A statement that
 * sqlite_db_exec left clean is not reset and unbound again (each use of the
 * hot path's statements did both twice). */
static sqlite3_stmt *cached(sqlite_db_t *d, const char *sql, size_t *slot) {
  size_t h = ((uintptr_t)sql >> 3) * 2654435761u;
  for (size_t n = 0; n < SQLITE_DB_CACHE; n++) {
    size_t i = (h + n) & (SQLITE_DB_CACHE - 1);
    *slot = i;
    if (d->cache[i].sql == sql) {
      if (!d->cache[i].clean) {
        sqlite3_reset(d->cache[i].stmt);
        sqlite3_clear_bindings(d->cache[i].stmt);
      }
      d->cache[i].clean = 0;
      return d->cache[i].stmt;
    }
    if (!d->cache[i].sql) {
      sqlite3_stmt *st = NULL;
      int rc = sqlite3_prepare_v3(d->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
      if (rc != SQLITE_OK) {
        log_error("store: sqlite prepare: %s (%.80s)", sqlite3_errmsg(d->db), sql);
        return NULL;
      }
      d->cache[i].sql = sql;
      d->cache[i].stmt = st;
      return st;
    }
  }
  log_error("store: sqlite statement cache full");
  return NULL;
}

/* strings: SQLITE_TRANSIENT (copied: the statement outlives the call) or
 * SQLITE_STATIC (used in place: sqlite_db_exec steps, resets and clears the
 * statement before its caller's strings can go). */
static int bind_one(sqlite3_stmt *st, int i, char kind, va_list *ap,
                    sqlite3_destructor_type strings) {
  switch (kind) {
    case 's': {
      const char *s = va_arg(*ap, const char *);
      return s ? sqlite3_bind_text(st, i, s, -1, strings) : sqlite3_bind_null(st, i);
    }
    case 'i':
      return sqlite3_bind_int64(st, i, va_arg(*ap, int64_t));
    case 'd':
      return sqlite3_bind_int(st, i, va_arg(*ap, int));
    case 'j': {
      json_t *j = va_arg(*ap, json_t *);
      if (!j) return sqlite3_bind_null(st, i);
      /* json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY)'s text, faster. */
      size_t len;
      char *text = json_out_dumps(j, &len);
      if (!text) return SQLITE_NOMEM;
      return sqlite3_bind_text(st, i, text, (int)len, free);
    }
    default:
      return SQLITE_MISUSE;
  }
}

static sqlite3_stmt *vquery(sqlite_db_t *d, const char *sql, const char *fmt, va_list *ap,
                            sqlite3_destructor_type strings, size_t *slot) {
  sqlite3_stmt *st = cached(d, sql, slot);
  if (!st) return NULL;
  for (int i = 0; fmt && fmt[i]; i++) {
    if (bind_one(st, i + 1, fmt[i], ap, strings) != SQLITE_OK) {
      log_error("store: sqlite bind %d: %s (%.80s)", i + 1, sqlite3_errmsg(d->db), sql);
      return NULL;
    }
  }
  return st;
}

sqlite3_stmt *sqlite_db_query(sqlite_db_t *d, const char *sql, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t slot;
  sqlite3_stmt *st = vquery(d, sql, fmt, &ap, SQLITE_TRANSIENT, &slot);
  va_end(ap);
  return st;
}

sqlite3_stmt *sqlite_db_query_static(sqlite_db_t *d, const char *sql, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  /* In place, as sqlite_db_exec binds them: a statement's next use clears
   * its bindings before anything else (cached()), so none is read after its
   * caller's strings go. */
  size_t slot;
  sqlite3_stmt *st = vquery(d, sql, fmt, &ap, SQLITE_STATIC, &slot);
  va_end(ap);
  return st;
}

int sqlite_db_exec(sqlite_db_t *d, const char *sql, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  /* The strings are bound in place (no copy each): the statement is done
   * with them, and they are unbound, before this returns. (After a failed
   * bind some stay bound, unread: every use starts by clearing them.) */
  size_t slot;
  sqlite3_stmt *st = vquery(d, sql, fmt, &ap, SQLITE_STATIC, &slot);
  va_end(ap);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite3_step(st);
  int status = rc == SQLITE_DONE || rc == SQLITE_ROW ? STORE_OK : sqlite_db_status(d, rc, "exec");
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  d->cache[slot].clean = 1;
  return status;
}

int sqlite_db_step(sqlite_db_t *d, sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) return 1;
  if (rc == SQLITE_DONE) return 0;
  int status = sqlite_db_status(d, rc, "step");
  sqlite3_reset(st);
  return status;
}

json_t *sqlite_db_col_str(sqlite3_stmt *st, int col) {
  if (sqlite3_column_type(st, col) == SQLITE_NULL) return json_null();
  return json_stringn((const char *)sqlite3_column_text(st, col),
                      (size_t)sqlite3_column_bytes(st, col));
}

store_str_t sqlite_db_col_text(sqlite3_stmt *st, int col) {
  /* sqlite3_column_text is NULL for SQL NULL (and when memory runs out), so
   * no sqlite3_column_type first: two calls a column, not three. */
  store_str_t s = {(const char *)sqlite3_column_text(st, col), 0};
  s.n = s.p ? (size_t)sqlite3_column_bytes(st, col) : 0;
  return s;
}

json_t *sqlite_db_col_json(sqlite3_stmt *st, int col, json_t *(*fallback)(void)) {
  if (sqlite3_column_type(st, col) != SQLITE_NULL) {
    json_t *j = json_loadb((const char *)sqlite3_column_text(st, col),
                           (size_t)sqlite3_column_bytes(st, col), JSON_DECODE_ANY, NULL);
    if (j) return j;
  }
  return fallback ? fallback() : json_null();
}

const char *sqlite_db_pstr(json_t *params, const char *key) {
  return json_string_value(json_object_get(params, key));
}

int64_t sqlite_db_pint(json_t *params, const char *key, int64_t def) {
  json_t *v = json_object_get(params, key);
  return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

void sqlite_db_now(char out[32]) { util_iso8601(util_now_ms(), out); }

void sqlite_db_clock(sqlite_db_t *d, char out[32]) {
  int64_t ms = util_now_ms();
  if (ms < 0) {
    util_iso8601(ms, out);
    return;
  }
  if (ms / 1000 != d->clock_sec || !d->clock_text[0]) {
    util_iso8601(ms, d->clock_text);
    d->clock_sec = ms / 1000;
  }
  /* "YYYY-MM-DDTHH:MM:SS." is 20 characters, then three digits of ms and "Z". */
  memcpy(out, d->clock_text, 20);
  int frac = (int)(ms % 1000);
  out[20] = (char)('0' + frac / 100);
  out[21] = (char)('0' + frac / 10 % 10);
  out[22] = (char)('0' + frac % 10);
  out[23] = 'Z';
  out[24] = '\0';
}
