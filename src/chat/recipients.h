/* recipients: the sessions a conversation's last message went to, kept so
 * that the next one is delivered without a hub look-up a recipient (230
 * instructions each, most of a delivery's walk in groups of 100). An entry is
 * valid only while the hub's generation is the one it was built at: any
 * session's arrival or departure anywhere on this instance drops every entry,
 * so a kept session is never gone (its memory outlives its removal from the
 * hub only until the loop's close callbacks) and a new one never missed. It is
 * built for the recipients it names (a reference to that array; another array
 * with the same ids, in the same order, matches too, and replaces it). One
 * direct-mapped table, by conversation: RECIPIENTS_SLOTS entries of at most
 * RECIPIENTS_MAX_USERS recipients and RECIPIENTS_MAX_SESSIONS sessions (9 KB
 * each at most, 2.3 MB in all, plus the recipients' arrays held, most often
 * the store's own kept ones); larger deliveries look up as before. Owner:
 * fanout.c, which walks an entry. Loop thread. */
#ifndef PARLEY_CHAT_RECIPIENTS_H
#define PARLEY_CHAT_RECIPIENTS_H

#include <jansson.h>
#include <stdint.h>

#include "parley/ws.h"

typedef struct recipients_s recipients_t;

/* What is kept of a conversation: users[i]'s sessions are
 * sessions[first[i] .. first[i + 1]). */
typedef struct recipients_entry_s {
  char *conv;
  json_t *users; /* the recipients, a reference; NULL: an empty slot */
  uint64_t gen;  /* hub_generation when built */
  int *first;
  ws_session_t **sessions;
  int nsessions, cap;
} recipients_entry_t;

/* An empty table; NULL when out of memory. */
recipients_t *recipients_new(void);
/* Frees the table and what its entries hold; rc may be NULL. */
void recipients_free(recipients_t *rc);
/* The sessions of users in conv: kept, or looked up in hub now and kept;
 * NULL when they cannot be (rc NULL, too many, out of memory), and the caller
 * looks them up itself. Valid until the next call or the hub's next change:
 * the caller that walks it makes no other call meanwhile. */
const recipients_entry_t *recipients_get(recipients_t *rc, hub_t *hub, const char *conv,
                                         json_t *users);

#endif
