/* The full-text index of messages (messages_fts), kept off the insert path:
 * MSG_INSERT writes no index entry. Messages above the high-water mark
 * messages_fts_state.indexed (schema migration 12) wait, and are indexed here in
 * batches: by the store thread when its queue stays empty a moment, after a
 * batch once too many wait, and always before a search reads the index, so a
 * search never misses a stored message. The triggers of migration 12 keep edits
 * and deletions of indexed messages in step in the writing statement's own
 * transaction; a waiting message needs nothing, since it is read as it is when
 * its turn comes. Store thread. */
#include <stdint.h>

#include "parley/log.h"
#include "store/sqlite/sqlite_internal.h"

/* Rowids are assigned as max(rowid) + 1 (no AUTOINCREMENT), so every message
 * above the mark is newer than every message below it; the delete trigger
 * lowers the mark when deletions take the largest rowids away, so a rowid
 * handed out again is above the mark too. A range of max rowids then holds at
 * most max messages. */
int sqlite_msg_index(sqlite_db_t *d, int64_t max, int64_t *left) {
  sqlite3_stmt *st = sqlite_db_query(
      d, "SELECT indexed, (SELECT coalesce(max(rowid), 0) FROM messages) FROM messages_fts_state",
      "");
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc <= 0) return rc < 0 ? rc : STORE_EUNAVAILABLE;
  int64_t from = sqlite3_column_int64(st, 0), top = sqlite3_column_int64(st, 1);
  sqlite3_reset(st);
  int64_t to = top - from > max ? from + max : top;
  *left = top > to ? top - to : 0;
  if (to <= from) return STORE_OK;
  int status =
      sqlite_db_exec(d,
                     "INSERT INTO messages_fts (rowid, text, conversation_id, sender_id)"
                     " SELECT rowid, text, conversation_id, sender_id FROM messages"
                     " WHERE rowid > ? AND rowid <= ? AND text IS NOT NULL AND deleted = 0",
                     "ii", from, to);
  if (status == STORE_OK)
    status = sqlite_db_exec(d, "UPDATE messages_fts_state SET indexed = ?", "i", to);
  return status;
}

void sqlite_msg_index_step(sqlite_db_t *d, int64_t max) {
  int64_t left = 0;
  if (max <= 0 || max > SQLITE_INDEX_CHUNK) max = SQLITE_INDEX_CHUNK;
  if (sqlite_db_exec_plain(d, "BEGIN IMMEDIATE") != 0) goto fail;
  if (sqlite_msg_index(d, max, &left) != STORE_OK || sqlite_db_exec_plain(d, "COMMIT") != 0) {
    sqlite_db_exec_plain(d, "ROLLBACK");
    goto fail;
  }
  d->unindexed = left;
  return;
fail:
  /* Searches still index what they need; the next insert tries again here. */
  log_error("store: sqlite could not index new messages for search");
  d->unindexed = 0;
}
