/* A message sent into a conversation over REST (POST /api/conversations/:id/
 * messages) or WebSocket (message.send): when the conversation is an Instagram
 * one, it is checked (the account's health, the messaging window), stored
 * pending and sent through the outbox; any other conversation takes the chat
 * path. Which conversations are chat is remembered (a type never changes), so
 * chat sends cost nothing extra after their conversation's first. Loop thread. */
#ifndef PARLEY_INSTAGRAM_REPLY_H
#define PARLEY_INSTAGRAM_REPLY_H

#include <jansson.h>
#include <stdint.h>

#include "parley/app.h"

typedef struct ig_replies_s ig_replies_t;

ig_replies_t *ig_replies_new(void);
void ig_replies_free(ig_replies_t *r);

/* 1 when conv_id is known to be a chat (direct or group) conversation. */
int ig_reply_is_chat(app_t *app, const char *conv_id);

typedef struct ig_reply_req_s {
  const char *conversation_id;
  const char *sender_id;
  const char *text;             /* NULL: a message with files (attachment_ids) */
  const json_t *attachment_ids; /* the files (borrowed), or NULL: an Instagram conversation
                                   takes one image, video or audio file, sent by URL */
  const char *client_id;        /* may be NULL */
  const char *ack_user;         /* WebSocket: the session that gets message.ack for a new message */
  uint64_t ack_session;         /* 0: none (REST) */
} ig_reply_req_t;

typedef struct ig_reply_res_s {
  int chat;            /* 1: not an Instagram conversation, send it as chat */
  int http;            /* 201: stored (and sent on), 200: an earlier send of this client_id
                          (claimed again when it had failed), else an error status */
  const char *code;    /* error code (API.md), or NULL */
  const char *message; /* error sentence */
  const char *field;   /* the field the error names, or NULL */
  int store_status;    /* an error from the store (code NULL) */
  json_t *msg;         /* on 200/201: the message, borrowed */
  int created;         /* 1: new (message.new went out, with the ack) */
  int sending;         /* 1: the message is going out now */
} ig_reply_res_t;
typedef void (*ig_reply_fn)(void *ctx, const ig_reply_res_t *r);

/* Starts the send described by req (copied). cb runs once; returns 0, or -1
 * when out of memory (cb not called). */
int ig_reply_send(app_t *app, const ig_reply_req_t *req, ig_reply_fn cb, void *ctx);

#endif
