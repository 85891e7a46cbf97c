/* The messaging window Meta allows a business: 24 hours after the contact's
 * last message; with ig_human_agent_tag on, 7 days for a person's reply, sent
 * with the HUMAN_AGENT tag (never a flow's). The send path checks it; clients
 * read it from GET /api/instagram/status. Pure; loop thread. */
#ifndef PARLEY_INSTAGRAM_WINDOW_H
#define PARLEY_INSTAGRAM_WINDOW_H

#include <jansson.h>

#include "parley/app.h"

/* Whether a reply to contact (a store contact, borrowed) may go out now: agent
 * 1 for a person's reply, 0 for a flow. Returns 1 inside (*tag: NULL or
 * "HUMAN_AGENT", static), 0 outside. */
int ig_window_open(const app_t *app, const json_t *contact, int agent, const char **tag);

/* The windows for clients: {hours: 24, agent_hours: 24 or 168}. New reference. */
json_t *ig_window_json(const app_t *app);

#endif
