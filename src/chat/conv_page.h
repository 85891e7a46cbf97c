/* The first page of a user's conversations (GET /api/conversations) as the
 * text of its answer, {"conversations":[views...],"next_cursor":...}, with
 * avatars' and attachments' URLs signed: from the store's CONV_LIST result
 * (conv_page_text) or written straight from the store's rows
 * (conv_page_rows, store_call_rows), byte for byte the same
 * (tests/unit/handlers/test_rest_conv_page.c proves it). Pure; the store's
 * worker thread (the app is read only). */
#ifndef PARLEY_CHAT_CONV_PAGE_H
#define PARLEY_CHAT_CONV_PAGE_H

#include <jansson.h>

#include "parley/app.h"
#include "parley/store.h"

/* A store_then_fn for CONV_LIST (arg: the app; params' user_id is the
 * caller): the page's text as a JSON string from the store's result, which it
 * signs and frees; a result conv_page_rows already wrote (a string) is passed
 * through. NULL without memory. */
json_t *conv_page_text(void *arg, const json_t *params, json_t *result);

/* The row writer of store_call_rows, for rows_arg the app: its end gives the
 * same string conv_page_text would have made of the tree. */
extern const store_conv_rows_t conv_page_rows;

#endif
