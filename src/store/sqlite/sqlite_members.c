/* The members of conversations that messages were stored in, kept from one
 * batch to the next so that MSG_INSERT does not read them for every batch, and
 * with them the conversation's last_seq and type: MSG_INSERT's flush is the only
 * writer of last_seq and notes what it wrote (sqlite_members_seq), and an op
 * that could change a type forgets them all (below), so neither is read again
 * either. Only
 * MSG_INSERT, the read ops and the writes that touch none of those tables leave
 * them (sqlite.c, keeps_members: a flow run's and an Instagram message's own
 * writes); any other op may change who is in a conversation (members, agents, a
 * conversation's type), so it forgets them all before it runs, and so do a
 * rollback and another connection's commit (another instance sharing the file,
 * seen by PRAGMA data_version when a batch begins). A brief MSG_SET_DELIVERY
 * answers them as its participants. Store thread. */
#include <stdlib.h>
#include <string.h>

#include "store/sqlite/sqlite_internal.h"

/* Bounds: conversations held, and member ids over all of them. */
#define MEMBERS_CONVS_MAX 4096
#define MEMBERS_IDS_MAX 65536

static int drop(const char *key, void *value, void *arg) {
  (void)key;
  (void)arg;
  sqlite_kept_conv_t *k = value;
  json_decref(k->ids);
  free(k);
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

const sqlite_kept_conv_t *sqlite_members_kept(sqlite_db_t *d, const char *conv_id) {
  return strmap_get(&d->members, conv_id);
}

json_t *sqlite_members_get(sqlite_db_t *d, const char *conv_id, const char *type,
                           const char *creator_id, int64_t last_seq) {
  sqlite_kept_conv_t *k = strmap_get(&d->members, conv_id);
  if (k) return json_incref(k->ids);
  json_t *ids = sqlite_conv_member_ids(d, conv_id, type, creator_id, 1);
  if (!ids) return NULL;
  size_t n = json_array_size(ids);
  if (strmap_count(&d->members) >= MEMBERS_CONVS_MAX || d->members_ids + n > MEMBERS_IDS_MAX)
    sqlite_members_forget_all(d);
  if (n > MEMBERS_IDS_MAX) return ids; /* read at each batch, never held */
  if (!(k = malloc(sizeof(*k)))) return ids;
  k->ids = ids;
  k->last_seq = last_seq;
  k->channel = strcmp(type, "channel") == 0;
  k->secret = strcmp(type, "secret") == 0;
  if (strmap_put(&d->members, conv_id, k) != 0) {
    free(k);
    return ids;
  }
  d->members_ids += n;
  return json_incref(ids); /* one reference the map's, one the caller's */
}

void sqlite_members_seq(sqlite_db_t *d, const char *conv_id, int64_t last_seq) {
  sqlite_kept_conv_t *k = strmap_get(&d->members, conv_id);
  if (k) k->last_seq = last_seq;
}
