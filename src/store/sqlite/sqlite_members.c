/* The members of conversations that messages were stored in, kept from one
 * batch to the next so that MSG_INSERT does not read them for every batch. Only
 * MSG_INSERT and the read ops leave them: any other op may change who is in a
 * conversation (members, agents, a conversation's type), so it forgets them all
 * before it runs, and so do a rollback and another connection's commit (another
 * instance sharing the file, seen by PRAGMA data_version when a batch begins).
 * Store thread. */
#include <stdlib.h>

#include "store/sqlite/sqlite_internal.h"

/* Bounds: conversations held, and member ids over all of them. */
#define MEMBERS_CONVS_MAX 4096
#define MEMBERS_IDS_MAX 65536

static int drop(const char *key, void *value, void *arg) {
  (void)key;
  (void)arg;
  json_decref(value);
  return 1;
}

void sqlite_members_forget_all(sqlite_db_t *d) {
  if (strmap_count(&d->members) == 0) return;
  strmap_sweep(&d->members, drop, NULL);
  d->members_ids = 0;
}

void sqlite_members_sync(sqlite_db_t *d) {
  /* sqlite_contact_sync read the data version just before (-1: unknown). */
  if (d->contacts_version < 0 || d->contacts_version != d->members_version)
    sqlite_members_forget_all(d);
  d->members_version = d->contacts_version;
}

json_t *sqlite_members_get(sqlite_db_t *d, const char *conv_id, const char *type,
                           const char *creator_id) {
  json_t *ids = strmap_get(&d->members, conv_id);
  if (ids) return json_incref(ids);
  if (!(ids = sqlite_conv_member_ids(d, conv_id, type, creator_id, 1))) return NULL;
  size_t n = json_array_size(ids);
  if (strmap_count(&d->members) >= MEMBERS_CONVS_MAX || d->members_ids + n > MEMBERS_IDS_MAX)
    sqlite_members_forget_all(d);
  if (n > MEMBERS_IDS_MAX) return ids; /* read at each batch, never held */
  if (strmap_put(&d->members, conv_id, ids) != 0) return ids;
  d->members_ids += n;
  return json_incref(ids); /* one reference the map's, one the caller's */
}
