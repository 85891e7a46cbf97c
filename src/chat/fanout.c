/* fanout: delivers WebSocket events to this instance's sessions and carries them
 * to the other instances in bus envelopes (envelope.h). Owns the reorder buffer
 * and two timers; it stops itself once the app shuts down. Loop thread.
 *
 * Why one channel: every envelope names its recipients, so an instance that
 * receives it delivers to its own sessions with hub lookups only, never a store
 * read, and a message is published exactly once whatever the number of
 * participants. Per-user channels would publish once per recipient; per-
 * conversation channels would need every instance to track which conversations
 * its users are in. The price is that each instance parses every envelope,
 * which is cheap next to the socket writes for a handful of instances.
 *
 * A channel is the exception to named recipients: its results name none (it
 * may have 100,000 members), and each instance delivers to the members
 * connected to it (chat/channel_subs.h), found by the conversation id every
 * envelope of a conversation carries. */
#include "chat/fanout.h"
#include "chat/attach_url.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "chat/channel_subs.h"
#include "chat/conv_view.h"
#include "chat/envelope.h"
#include "chat/recipients.h"
#include "chat/sequencer.h"
#include "chat/sessions.h"
#include "parley/json_out.h"
#include "parley/metrics.h"
#include "parley/util.h"
#include "parley/ws.h"

#define FANOUT_HOLD_MS 250       /* how long a seq gap is waited for */
#define FANOUT_FIRST_HOLD_MS 100 /* the wait of a conversation's first message seen */
#define FANOUT_MAX_HELD 512      /* held messages per conversation before giving up */
#define FANOUT_IDLE_MS 600000    /* reorder state of a quiet conversation is kept this long */
#define FANOUT_TICK_MS 1000

struct fanout_s {
  app_t *app;
  uv_timer_t seq_timer;  /* the next gap deadline of the reorder buffer */
  uv_timer_t tick_timer; /* idle sweeps, noticing shutdown */
  int handles_open;
  int closing;
  sequencer_t *seq;
  int walking;        /* a delivery walks a kept entry: no other may use the table */
  recipients_t *kept; /* NULL: every delivery looks its recipients up */
  /* Recipients' texts for the envelopes (NULL: each encodes them). */
  envelope_users_t *users_text;
};

/* The app's fan-out while it runs, or NULL. */
static fanout_t *fanout_of(app_t *app) {
  return app->fanout && !app->fanout->closing ? app->fanout : NULL;
}

/* Who of a message's recipients had a session here when it was delivered,
 * for the on_message_stored hook (push), filled by a delivery that happens
 * within fanout_message_new; on its stack. */
typedef struct reach_s {
  unsigned char *here; /* here[i]: users[i] had a session here */
  size_t n;
  int filled; /* the delivery walked the recipients */
  int freed;  /* the delivery is gone (delivered or dropped) */
} reach_t;

/* A message.new on its way through the reorder buffer. */
typedef struct delivery_s {
  app_t *app;
  reach_t *reach; /* set while fanout_message_new runs, or NULL */
  json_t *users;  /* recipient ids, a reference */
  char *frame;
  size_t len;
  char *ack_user; /* the sending session gets ack instead of frame */
  uint64_t ack_session;
  char *ack;
  size_t ack_len;
} delivery_t;

static void delivery_free(delivery_t *d) {
  if (!d) return;
  if (d->reach) d->reach->freed = 1;
  json_decref(d->users);
  free(d->frame);
  free(d->ack_user);
  free(d->ack);
  free(d);
}

/* ---- message.new to this instance's sessions ---- */

typedef struct send_ctx_s {
  const char *text;
  size_t len;
  const delivery_t *d; /* who gets the ack */
  const char *user;
  int sent;
  int acked;
  int found; /* the user's sessions here */
} send_ctx_t;

static void send_one(ws_session_t *s, void *arg) {
  send_ctx_t *c = arg;
  const delivery_t *d = c->d;
  c->found++;
  if (d->ack && s->id == d->ack_session && strcmp(c->user, d->ack_user) == 0) {
    if (ws_session_send(s, d->ack, d->ack_len) == 0) c->sent++;
    c->acked = 1;
    return;
  }
  if (ws_session_send(s, c->text, c->len) == 0) c->sent++;
}

static void send_ack_one(ws_session_t *s, void *arg) {
  send_ctx_t *c = arg;
  const delivery_t *d = c->d;
  if (s->id == d->ack_session && ws_session_send(s, d->ack, d->ack_len) == 0) c->sent++;
}

/* Sends the ack to the sending session alone; returns 1 if it went out. */
static int send_ack(const delivery_t *d) {
  send_ctx_t c = {NULL, 0, d, d->ack_user, 0, 0, 0};
  if (d->app->hub) hub_foreach(d->app->hub, d->ack_user, send_ack_one, &c);
  return c.sent;
}

/* Delivers to the recipients' sessions as kept in e (chat/recipients.h). A send
 * may drop a session, which leaves the hub meanwhile: its memory lasts until
 * the loop's close callbacks, and the send finds it closed, as hub_foreach's
 * copy of a list would. */
static void deliver_kept(const delivery_t *d, const recipients_entry_t *e, reach_t *r, int *sent,
                         int *acked) {
  size_t n = json_array_size(d->users);
  for (size_t i = 0; i < n; i++) {
    int k = e->first[i], end = e->first[i + 1];
    if (r) r->here[i] = k < end;
    for (; k < end; k++) {
      ws_session_t *s = e->sessions[k];
      /* The user's id is read only for a session that may be the sender's. */
      if (d->ack && s->id == d->ack_session &&
          strcmp(json_string_value(json_array_get(d->users, i)), d->ack_user) == 0) {
        if (ws_session_send(s, d->ack, d->ack_len) == 0) (*sent)++;
        *acked = 1;
      } else if (ws_session_send(s, d->frame, d->len) == 0) {
        (*sent)++;
      }
    }
  }
}

/* The reorder buffer released a message: every local session of its
 * recipients gets the same bytes; the sending session gets its ack. */
static void deliver_message(void *ctx, const char *conv_id, int64_t seq, void *item) {
  fanout_t *f = ctx;
  delivery_t *d = item;
  app_t *app = d->app;
  size_t i;
  json_t *u;
  int sent = 0, acked = 0;
  if (!d->frame) { /* nobody was here to send it to (fanout_message_new) */
    delivery_free(d);
    return;
  }
  reach_t *r = d->reach && d->reach->n == json_array_size(d->users) ? d->reach : NULL;
  const recipients_entry_t *e = NULL;
  if (app->hub && !f->walking && !f->closing)
    e = recipients_get(f->kept, app->hub, conv_id, d->users);
  if (e) {
    f->walking = 1;
    deliver_kept(d, e, r, &sent, &acked);
    f->walking = 0;
  } else {
    json_array_foreach(d->users, i, u) {
      const char *id = json_string_value(u);
      if (!id || !app->hub) continue;
      send_ctx_t c = {d->frame, d->len, d, id, 0, 0, 0};
      hub_foreach(app->hub, id, send_one, &c);
      sent += c.sent;
      acked |= c.acked;
      if (r) r->here[i] = c.found > 0;
    }
  }
  if (r && app->hub) r->filled = 1;
  /* A channel's members connected here (none for other conversations). */
  const char *member;
  json_object_foreach(channel_subs_members(app->channel_subs, conv_id), member, u) {
    if (!app->hub) break;
    send_ctx_t c = {d->frame, d->len, d, member, 0, 0, 0};
    hub_foreach(app->hub, member, send_one, &c);
    sent += c.sent;
    acked |= c.acked;
  }
  /* A sender who left the conversation meanwhile still gets the answer to
   * their send. */
  if (d->ack && !acked) sent += send_ack(d);
  app->metrics->messages_delivered += (uint64_t)sent;
  delivery_free(d);
}

/* A message that arrived after its gap was passed over is not delivered (the
 * clients sync), but the sender's ack is an answer it still owes. */
static void drop_message(void *ctx, void *item) {
  delivery_t *d = item;
  if (d->ack) d->app->metrics->messages_delivered += (uint64_t)send_ack(d);
  delivery_free(d);
}

/* ---- the reorder buffer and other instances' envelopes ---- */

static void on_seq_timer(uv_timer_t *t);

/* Something is held: make sure a timer will look at it. The first look comes
 * after the shorter of the two waits; sequencer_tick() then gives the exact
 * next deadline. */
static void schedule(fanout_t *f) {
  if (f->closing || sequencer_held(f->seq) == 0) return;
  if (!uv_is_active((uv_handle_t *)&f->seq_timer))
    uv_timer_start(&f->seq_timer, on_seq_timer,
                   FANOUT_FIRST_HOLD_MS < FANOUT_HOLD_MS ? FANOUT_FIRST_HOLD_MS : FANOUT_HOLD_MS,
                   0);
}

static void on_seq_timer(uv_timer_t *t) {
  fanout_t *f = t->data;
  int64_t next = sequencer_tick(f->seq, (int64_t)uv_now(f->app->loop));
  if (next >= 0 && !f->closing) uv_timer_start(&f->seq_timer, on_seq_timer, (uint64_t)next, 0);
}

static void push_message(fanout_t *f, const char *conv_id, int64_t seq, delivery_t *d) {
  sequencer_push(f->seq, conv_id, seq, d, (int64_t)uv_now(f->app->loop));
  schedule(f);
}

static void on_remote_message(fanout_t *f, json_t *hdr, const char *body, size_t len) {
  const char *conv = json_string_value(json_object_get(hdr, "c"));
  json_int_t seq = json_integer_value(json_object_get(hdr, "s"));
  json_t *users = json_object_get(hdr, "u");
  if (!conv || seq <= 0 || !json_is_array(users)) return;
  delivery_t *d = calloc(1, sizeof(*d));
  if (!d) return;
  d->app = f->app;
  d->users = json_incref(users);
  d->frame = malloc(len ? len : 1);
  if (!d->frame) {
    delivery_free(d);
    return;
  }
  memcpy(d->frame, body, len);
  d->len = len;
  push_message(f, conv, (int64_t)seq, d);
}

/* A frame to the members of the channel conv connected here but exclude_user;
 * nothing for other conversations. Returns the sessions reached. */
static int send_channel(app_t *app, const char *conv, const char *exclude_user, const char *text,
                        size_t len) {
  const char *member;
  json_t *v;
  int sent = 0;
  json_object_foreach(channel_subs_members(app->channel_subs, conv), member, v) {
    if (!exclude_user || strcmp(member, exclude_user) != 0)
      sent += sessions_send(app, member, text, len, 0);
  }
  return sent;
}

static void count_session(ws_session_t *s, void *arg) { (*(int *)arg)++; }

/* 1 when user has a session on this instance. */
static int here(app_t *app, const char *user) {
  int n = 0;
  if (app->hub) hub_foreach(app->hub, user, count_session, &n);
  return n > 0;
}

/* 1 when one of users has a session here. */
static int anyone_here(app_t *app, const json_t *users) {
  const json_t *u;
  size_t i;
  json_array_foreach(users, i, u) {
    if (json_string_value(u) && here(app, json_string_value(u))) return 1;
  }
  return 0;
}

/* The view is rendered only for a user with a session here: a conversation an
 * Instagram contact renames (its profile) reaches owners and agents who are
 * mostly offline, and its view with the contact is the costly part. */
static void send_conversation(app_t *app, const json_t *conv, const char *user) {
  if (!user || !here(app, user)) return;
  json_t *view = attach_url_conv_view(app, conv, user);
  json_t *frame = json_pack("{s:s, s:o}", "type", "conversation.updated", "conversation", view);
  char *text = frame ? json_dumps(frame, JSON_COMPACT) : NULL;
  if (text) sessions_send(app, user, text, strlen(text), 0);
  free(text);
  json_decref(frame);
}

/* Renders the conversation for each recipient who has a session here: its
 * participants, or a channel's members connected here. */
static void deliver_conversation(app_t *app, const json_t *conv, const char *also_user) {
  json_t *ids = conv_view_participant_ids(conv), *v;
  size_t i;
  json_array_foreach(ids, i, v) {
    const char *id = json_string_value(v);
    if (id && (!also_user || strcmp(id, also_user) != 0)) send_conversation(app, conv, id);
  }
  json_decref(ids);
  const char *member;
  json_object_foreach(
      channel_subs_members(app->channel_subs, json_string_value(json_object_get(conv, "id"))),
      member, v) if (!also_user || strcmp(member, also_user) != 0)
      send_conversation(app, conv, member);
  send_conversation(app, conv, also_user);
}

static void on_remote_conversation(fanout_t *f, json_t *hdr, const char *body, size_t len) {
  json_t *conv = json_loadb(body, len, 0, NULL);
  if (!conv) return;
  deliver_conversation(f->app, conv, json_string_value(json_object_get(hdr, "x")));
  json_decref(conv);
}

void fanout_on_envelope(app_t *app, const char *kind, json_t *header, const char *body,
                        size_t len) {
  fanout_t *f = fanout_of(app);
  if (!f) return;
  if (strcmp(kind, "m") == 0) {
    on_remote_message(f, header, body, len);
  } else if (strcmp(kind, "e") == 0) {
    const char *x = json_string_value(json_object_get(header, "x"));
    sessions_send_users(app, json_object_get(header, "u"), x, body, len);
    send_channel(app, json_string_value(json_object_get(header, "c")), x, body, len);
  } else if (strcmp(kind, "c") == 0) {
    on_remote_conversation(f, header, body, len);
  }
}

/* ---- life ---- */

static void on_handle_closed(uv_handle_t *h) {
  fanout_t *f = h->data;
  assert(f->handles_open > 0);
  if (--f->handles_open > 0) return;
  free(f);
}

void fanout_close(fanout_t *f) {
  if (!f || f->closing) return;
  f->closing = 1;
  if (f->app->fanout == f) f->app->fanout = NULL;
  sequencer_free(f->seq);
  f->seq = NULL;
  recipients_free(f->kept);
  f->kept = NULL;
  envelope_users_free(f->users_text);
  f->users_text = NULL;
  /* closing guards these: each handle is closed exactly once */
  assert(!uv_is_closing((uv_handle_t *)&f->seq_timer));
  uv_close((uv_handle_t *)&f->seq_timer, on_handle_closed);
  uv_close((uv_handle_t *)&f->tick_timer, on_handle_closed);
}

static void on_tick(uv_timer_t *t) {
  fanout_t *f = t->data;
  if (f->app->shutting_down || !f->app->bus) {
    fanout_close(f);
    return;
  }
  int64_t next = sequencer_tick(f->seq, (int64_t)uv_now(f->app->loop));
  if (next >= 0 && !uv_is_active((uv_handle_t *)&f->seq_timer))
    uv_timer_start(&f->seq_timer, on_seq_timer, (uint64_t)next, 0);
}

fanout_t *fanout_new(app_t *app) {
  fanout_t *f = calloc(1, sizeof(*f));
  if (!f) return NULL;
  f->app = app;
  f->kept = recipients_new(); /* without it, deliveries look their recipients up */
  f->users_text = envelope_users_new();
  sequencer_opts_t o = {FANOUT_HOLD_MS,
                        FANOUT_FIRST_HOLD_MS,
                        FANOUT_MAX_HELD,
                        FANOUT_IDLE_MS,
                        deliver_message,
                        drop_message,
                        f};
  f->seq = sequencer_new(&o);
  if (!f->seq) {
    recipients_free(f->kept);
    envelope_users_free(f->users_text);
    free(f);
    return NULL;
  }
  uv_timer_init(app->loop, &f->seq_timer);
  uv_timer_init(app->loop, &f->tick_timer);
  f->seq_timer.data = f->tick_timer.data = f;
  f->handles_open = 2;
  uv_timer_start(&f->tick_timer, on_tick, FANOUT_TICK_MS, FANOUT_TICK_MS);
  return f;
}

size_t fanout_held(const fanout_t *f) { return f && f->seq ? sequencer_held(f->seq) : 0; }

/* ---- what handlers call ---- */

/* The frame's text (jansson's compact text, written by json_out: a fifth of
 * jansson's instructions for a message) and its length; takes frame. */
static char *encode(json_t *frame, size_t *len) {
  char *text = json_out_dumps(frame, len);
  json_decref(frame);
  return text;
}

/* head (an object's start without its closing brace) + ,"message": + msg +
 * the brace: a frame around an already encoded message. NULL when out of
 * memory. */
static char *frame_around(const char *head, const char *msg, size_t mlen, size_t *len) {
  static const char key[] = ",\"message\":";
  size_t hlen = strlen(head), klen = sizeof(key) - 1;
  char *text = malloc(hlen + klen + mlen + 2);
  if (!text) return NULL;
  memcpy(text, head, hlen);
  memcpy(text + hlen, key, klen);
  memcpy(text + hlen + klen, msg, mlen);
  text[hlen + klen + mlen] = '}';
  text[hlen + klen + mlen + 1] = '\0';
  *len = hlen + klen + mlen + 1;
  return text;
}

/* The sender's ack around the encoded message, written directly: json_pack of
 * its head, the head's encoding, its free and a second copy cost 4,300
 * instructions a message more than this (callgrind). The bytes are json_pack("{s:s, s:s?}")'s as
 * json_out_dumps wrote them: "client_id" null when there is none; a client id
 * that is not UTF-8, which json_pack refused, has no ack (and so, as before,
 * no delivery). NULL then or when out of memory. */
static char *ack_around(const char *client_id, const char *msg, size_t mlen, size_t *len) {
  static const char head[] = "{\"type\":\"message.ack\",\"client_id\":";
  static const char key[] = ",\"message\":";
  size_t clen = client_id ? strlen(client_id) : 0;
  if (client_id && !util_utf8_valid(client_id, clen)) return NULL;
  buf_t b;
  buf_init(&b);
  /* Room for the id's quotes and a few escapes; json_out_string grows it for more. */
  if (buf_reserve(&b, sizeof(head) + clen + 8 + sizeof(key) + mlen + 1) != 0 ||
      buf_append(&b, head, sizeof(head) - 1) != 0 ||
      (client_id ? json_out_string(&b, client_id, clen) : buf_append(&b, "null", 4)) != 0 ||
      buf_append(&b, key, sizeof(key) - 1) != 0 || buf_append(&b, msg, mlen) != 0 ||
      buf_append(&b, "}", 1) != 0) {
    buf_free(&b);
    return NULL;
  }
  *len = b.len;
  return buf_steal(&b);
}

/* The delivery of a new message: encoded once for the frame and the ack,
 * published, and handed to the reorder buffer, which most often delivers it
 * at once (filling r). */
static void deliver_new(app_t *app, fanout_t *f, const json_t *message,
                        const json_t *participant_ids, const char *ack_user, uint64_t ack_session,
                        const char *client_id, const char *conv, json_int_t seq, reach_t *r) {
  delivery_t *d = calloc(1, sizeof(*d));
  if (!d) return;
  d->app = app;
  /* The frame is encoded only when someone may get it: a session here, a
   * channel's member here, another instance, or the sender's ack. Otherwise
   * the empty delivery only keeps the conversation's seq order (a session that
   * connects meanwhile reads the message when it syncs). */
  int wanted = (ack_user && ack_session) || envelope_remote(app) ||
               json_object_size(channel_subs_members(app->channel_subs, conv)) > 0 ||
               anyone_here(app, participant_ids);
  /* The store's array by reference: a message's recipients are never changed
   * in place (no reader appends to or removes from them), and jansson counts
   * references atomically. A deep copy and its free were 64,000 instructions
   * a message in groups of 100, the shallow copy after it 7,700 (callgrind). */
  d->users = wanted ? json_incref((json_t *)participant_ids) : json_array();
  /* Signed for the conversation: one frame for every participant. The
   * message is encoded once, for the frame and the ack. */
  json_t *view = wanted ? attach_url_message_copy(app, message) : NULL;
  size_t mlen = 0;
  char *msg = view ? encode(json_incref(view), &mlen) : NULL;
  if (msg) d->frame = frame_around("{\"type\":\"message.new\"", msg, mlen, &d->len);
  if (ack_user && ack_session) {
    d->ack_user = strdup(ack_user);
    d->ack_session = ack_session;
    if (msg) d->ack = ack_around(client_id, msg, mlen, &d->ack_len);
  }
  free(msg);
  json_decref(view);
  if (!d->users || (wanted && !d->frame) ||
      (ack_user && ack_session && (!d->ack_user || !d->ack))) {
    delivery_free(d);
    return;
  }
  envelope_publish_message(app, f->users_text, conv, seq, d->users, d->frame, d->len);
  d->reach = r;
  push_message(f, conv, (int64_t)seq, d);
  if (!r->freed) d->reach = NULL; /* held for a gap: r is about to go */
}

#define REACH_STACK 256

void fanout_message_new(app_t *app, const json_t *message, const json_t *participant_ids,
                        const char *ack_user, uint64_t ack_session, const char *client_id) {
  app->metrics->messages_stored++;
  fanout_t *f = fanout_of(app);
  const char *conv = json_string_value(json_object_get(message, "conversation_id"));
  json_int_t seq = json_integer_value(json_object_get(message, "seq"));
  if (!f || !conv || seq <= 0 || !json_is_array(participant_ids)) return;
  /* The delivery's walk of the recipients tells the hook who has a session
   * here, so that push does not look each of them up in the hub again (40,000
   * instructions a message in groups of 100). A message held for a gap, or
   * encoded for nobody, leaves r unfilled: the hook looks them up itself. */
  unsigned char stack[REACH_STACK];
  size_t n = json_array_size(participant_ids);
  reach_t r = {n <= REACH_STACK ? stack : calloc(n, 1), n, 0, 0};
  if (!r.here) r.n = (size_t)-1; /* matches no array: nothing filled */
  if (r.here == stack) memset(stack, 0, n);
  deliver_new(app, f, message, participant_ids, ack_user, ack_session, client_id, conv, seq, &r);
  if (app->on_message_stored)
    app->on_message_stored(app, message, participant_ids, r.filled ? r.here : NULL);
  if (r.here != stack) free(r.here);
}

/* Delivers here and publishes; returns the sessions reached here. conv (may
 * be NULL) also reaches a channel's members. */
int fanout_wanted(app_t *app, const json_t *recipients, const char *conv) {
  return (fanout_of(app) && envelope_remote(app)) ||
         (conv && json_object_size(channel_subs_members(app->channel_subs, conv)) > 0) ||
         anyone_here(app, recipients);
}

static int send_event(app_t *app, const json_t *frame, const json_t *recipients,
                      const char *exclude_user, const char *conv) {
  /* Encoded only when someone may get it (a flow's replies reach an owner
   * who is mostly offline). */
  if (!fanout_wanted(app, recipients, conv)) return 0;
  size_t len;
  char *text = encode(json_incref((json_t *)frame), &len);
  if (!text) return 0;
  int sent = sessions_send_users(app, recipients, exclude_user, text, len);
  sent += send_channel(app, conv, exclude_user, text, len);
  if (fanout_of(app) && envelope_remote(app)) {
    json_t *h = json_pack("{s:s, s:O, s:s?, s:s?}", "k", "e", "u", recipients, "x", exclude_user,
                          "c", conv);
    if (h) envelope_publish(app, h, text, len);
    json_decref(h);
  }
  free(text);
  return sent;
}

void fanout_event(app_t *app, const json_t *frame, const json_t *recipients,
                  const char *exclude_user) {
  send_event(app, frame, recipients, exclude_user, NULL);
}

void fanout_message_updated(app_t *app, const json_t *message, const json_t *participant_ids) {
  const char *conv = json_string_value(json_object_get(message, "conversation_id"));
  if (!fanout_wanted(app, participant_ids, conv)) return;
  json_t *frame = json_pack("{s:s, s:o}", "type", "message.updated", "message",
                            attach_url_message_copy(app, message));
  if (!frame) return;
  app->metrics->messages_delivered += (uint64_t)send_event(app, frame, participant_ids, NULL, conv);
  json_decref(frame);
}

void fanout_conversation(app_t *app, const json_t *conv, const char *also_user) {
  deliver_conversation(app, conv, also_user);
  if (!fanout_of(app) || !envelope_remote(app)) return;
  size_t len;
  char *body = encode(json_deep_copy(conv), &len);
  json_t *h = json_pack("{s:s, s:s?}", "k", "c", "x", also_user);
  if (body && h) envelope_publish(app, h, body, len);
  json_decref(h);
  free(body);
}
