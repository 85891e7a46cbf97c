/* Human takeover: when a person (the account's owner or one of its agents)
 * replies in an instagram conversation, automation for that contact pauses for
 * cfg.automation_pause_seconds: flows do not start for it and its delayed steps
 * wait (flows/runner.c reads contact.automation_paused_until). The send path
 * calls ig_takeover_on_reply once a person's message is stored; the pause is
 * then announced to the conversation's people as conversation.updated.
 * Loop thread. */
#ifndef PARLEY_INSTAGRAM_TAKEOVER_H
#define PARLEY_INSTAGRAM_TAKEOVER_H

#include <jansson.h>

#include "parley/app.h"

/* A person's message (a store message, borrowed) was stored in the instagram
 * conversation it names: pauses its contact. Fire and forget; a store refusal
 * is logged. Never call it for flow messages, echoes or the contact's own. */
void ig_takeover_on_reply(app_t *app, const json_t *message);

/* A pause or resume by hand (POST /api/contacts/:id/automation) changed the
 * contact of these instagram conversations (a JSON array of ids, borrowed):
 * each is reloaded and announced as conversation.updated, as a reply's pause. */
void ig_takeover_announce(app_t *app, const json_t *conversation_ids);

/* The pause's end for a contact paused now, in ms since the epoch. */
int64_t ig_takeover_until_ms(const app_t *app);

#endif
