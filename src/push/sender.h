/* The push sender's queue (inside the push module): a push handed over is
 * encrypted and signed when its turn comes. Loop thread. */
#ifndef PARLEY_PUSH_SENDER_H
#define PARLEY_PUSH_SENDER_H

#include <jansson.h>

#include "parley/absent.h"
#include "parley/push.h"

/* Queues payload (taken) for sub (a store subscription, borrowed); topic
 * (the conversation) collapses its pushes at the push service, seq (the
 * message's, in the conversation) orders them (queue.h: an older one than
 * queued or sent is dropped, a newer one replaces one waiting), urgent asks
 * for Urgency: high (a mention: a push that stands for it also says so in
 * its payload, push_payload_mentioning). Returns 0 (queued, coalesced or stale: counted), or -1
 * when the queue is full or sub is bad (dropped, logged). */
int push_enqueue(push_t *p, const json_t *sub, json_t *payload, const char *topic, int64_t seq,
                 int urgent);
/* The users a store read found without a subscription (notify.c asks the
 * store for the others only). Borrowed from p. */
absent_t *push_sub_absent(push_t *p);
/* Whether the operator lets pushes carry text (push_preview). */
int push_preview_on(const push_t *p);

#endif
