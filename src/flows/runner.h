/* The flow runner: starts the owner's oldest matching active flow on every
 * incoming (non-echo) Instagram event and performs what the engine asks:
 * Graph API sends, tags and variables on the contact, api_call through the
 * loop's HTTP client behind net/'s address guard, and delays persisted as
 * scheduled steps that resume on time, also after a restart. Every run is
 * recorded with its trace and status. Loop thread. */
#ifndef PARLEY_FLOWS_RUNNER_H
#define PARLEY_FLOWS_RUNNER_H

#include <jansson.h>

#include "parley/app.h"

typedef struct flow_runner_s flow_runner_t;

flow_runner_t *flow_runner_new(app_t *app);
/* Stops the delay timer (closes its handle); in-flight runs finish. */
void flow_runner_stop(flow_runner_t *r);
void flow_runner_free(flow_runner_t *r);
/* Runs, due-step polls and claims in flight (shutdown waits for zero). */
int flow_runner_busy(const flow_runner_t *r);

/* An inbound event from contact (store record) to the account's owner
 * (account with token_cipher): event as ig_ingest_message_fn has it ({kind,
 * text?, payload?, ref?, comment_id?, media_id?}). A direct message first
 * answers an ask waiting for the contact; else the matching flow of highest
 * priority (ties: the oldest) that run once and cooldown allow starts, the
 * choice recorded in the run's state.start. Borrowed. */
void flow_runner_on_message(flow_runner_t *r, const json_t *account, const json_t *contact,
                            const json_t *event);

/* Counts a click on flow's button (or quick reply) whose payload this is,
 * when flow (as listed with its live graph and version) sent one; nothing
 * otherwise. The trigger code calls it for each postback and quick-reply
 * payload, with the flows it lists. Borrowed. */
void flow_runner_count_click(flow_runner_t *r, const json_t *flow, const char *payload);

/* The owner's flows changed (created, edited, published, restored, deleted):
 * the active flows this instance holds for the owner are dropped at once, and
 * every other instance's as FLOWS_CHANGED_CHANNEL brings it. Call it once the
 * change is stored. */
void flow_runner_flows_changed(flow_runner_t *r, const char *owner_id);
/* Drops what this instance holds of owner_id's active flows (NULL: every
 * owner's): the bus's hook (app_t.on_flows_changed). */
void flow_runner_forget_flows(flow_runner_t *r, const char *owner_id);
/* An ask may now wait for contact_id on another instance (NULL: for any
 * contact, when the bus went down or came back): the bus's hook
 * (app_t.on_flow_waiting). A direct message from a contact this instance
 * learned no ask waits for does not ask the store (SCHED_TAKE_WAIT) until
 * then. */
void flow_runner_forget_waits(flow_runner_t *r, const char *contact_id);
/* Sends the run counters waiting in memory to the store now (the stats view
 * asks it before reading them, so this instance's runs are in it). */
void flow_runner_flush_stats(flow_runner_t *r);

#endif
