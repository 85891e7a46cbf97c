/* conv_page: the list's answer from the store's tree or from its rows (see
 * conv_page.h). The row writer writes each chat's view as conv_view_write
 * would write the signed record: the keys in the record's order, the
 * participants without their private keys, the caller's own unread and
 * mention counts and mute at the end. It owns one page's buffer, the caller's
 * entry while a conversation is written and the avatars signed so far. Store
 * worker thread. */
#include "chat/conv_page.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "chat/attach_url.h"
#include "chat/conv_view.h"
#include "parley/buf.h"
#include "parley/util.h"

json_t *conv_page_text(void *arg, const json_t *params, json_t *result) {
  const app_t *app = arg;
  if (json_is_string(result)) return result;
  const char *user = json_string_value(json_object_get(params, "user_id"));
  json_t *convs = json_object_get(result, "conversations"), *c, *text = NULL;
  size_t i;
  json_array_foreach(convs, i, c) attach_url_message(app, json_object_get(c, "last_message"));
  attach_url_convs(app, convs);
  buf_t b;
  buf_init(&b);
  if (conv_view_write_page(&b, result, user) == 0) text = json_stringn_nocheck(b.data, b.len);
  buf_free(&b);
  json_decref(result);
  return text;
}

/* Avatars signed for one page, by owner and avatar: a user in every
 * conversation of the page costs one signature (attach_url_convs' memo). */
#define MEMO_SLOTS 32

typedef struct page_s {
  const app_t *app;
  buf_t b;
  const char *user;
  int64_t exp; /* the avatars' expiry, read once for the page */
  int convs;   /* conversations written */
  int members; /* participants written of the current one */
  long long last_seq;
  int own;     /* the caller's entry seen in the current conversation */
  int written; /* its last message written (message) */
  long long own_read, own_mentions;
  char *own_muted; /* NULL: not muted */
  size_t own_muted_n;
  int has_avatar;
  char avatar[ATTACH_URL_MAX];
  int memo_n, memo_next;
  struct {
    char owner[32], avatar[32], url[ATTACH_URL_MAX];
  } memo[MEMO_SLOTS];
} page_t;

/* Appends a NUL-terminated piece (most are a key or a byte): in place
 * when the buffer has room, else through buf_append. 0 or -1. */
static inline int put(buf_t *b, const char *s) {
  size_t n = strlen(s);
  if (b->len + n + 1 > b->cap) return buf_append(b, s, n);
  memcpy(b->data + b->len, s, n + 1);
  b->len += n;
  return 0;
}

static int put_str(buf_t *b, store_str_t s) {
  return s.p ? conv_view_put_string(b, s.p, s.n) : put(b, "null");
}

/* The URL of owner's avatar (its thumbnail, scope 'a'), or NULL when it
 * cannot be signed (an id that is not ours): the record then keeps what it
 * had. */
static const char *sign_avatar(page_t *w, const char *avatar, const char *owner) {
  for (int i = 0; i < w->memo_n; i++)
    if (strcmp(w->memo[i].owner, owner) == 0 && strcmp(w->memo[i].avatar, avatar) == 0)
      return w->memo[i].url;
  int slot = w->memo_next;
  if (strlen(owner) >= sizeof(w->memo[0].owner) || strlen(avatar) >= sizeof(w->memo[0].avatar) ||
      attach_url_sign(&w->app->url_key, avatar, 1, 'a', owner, w->exp, w->memo[slot].url,
                      sizeof(w->memo[slot].url)) != 0)
    return NULL;
  strcpy(w->memo[slot].owner, owner);
  strcpy(w->memo[slot].avatar, avatar);
  w->memo_next = (slot + 1) % MEMO_SLOTS;
  if (w->memo_n < MEMO_SLOTS) w->memo_n++;
  return w->memo[slot].url;
}

static void *page_begin(void *arg, const json_t *params) {
  /* The memo's 8 KiB are written as they fill (memo_n), never cleared. */
  page_t *w = malloc(sizeof(*w));
  if (!w) return NULL;
  memset(w, 0, offsetof(page_t, memo));
  w->app = arg;
  w->user = json_string_value(json_object_get(params, "user_id"));
  w->exp = attach_url_expiry(util_now_ms() / 1000, ATTACH_AVATAR_TTL_S);
  buf_init(&w->b);
  if (buf_reserve(&w->b, 16384) != 0 || put(&w->b, "{\"conversations\":[") != 0) {
    buf_free(&w->b);
    free(w);
    return NULL;
  }
  return w;
}

static int page_conv(void *arg, const store_conv_row_t *c) {
  page_t *w = arg;
  buf_t *b = &w->b;
  w->members = 0;
  w->own = w->written = 0;
  w->own_read = w->own_mentions = 0;
  free(w->own_muted);
  w->own_muted = NULL;
  w->last_seq = c->last_seq;
  const char *url = c->avatar_id.p && c->id.p ? sign_avatar(w, c->avatar_id.p, c->id.p) : NULL;
  w->has_avatar = url != NULL;
  if (url) strcpy(w->avatar, url);
  if ((w->convs++ && put(b, ",") != 0) || put(b, "{\"id\":") != 0 || put_str(b, c->id) != 0 ||
      put(b, ",\"type\":") != 0 || put_str(b, c->type) != 0 || put(b, ",\"name\":") != 0 ||
      put_str(b, c->name) != 0 || put(b, ",\"last_seq\":") != 0 ||
      conv_view_put_int(b, c->last_seq) != 0 || put(b, ",\"created_at\":") != 0 ||
      put_str(b, c->created_at) != 0 || put(b, ",\"updated_at\":") != 0 ||
      put_str(b, c->updated_at) != 0)
    return -1;
  return put(b, ",\"participants\":[");
}

static int page_member(void *arg, const store_member_row_t *m) {
  page_t *w = arg;
  buf_t *b = &w->b;
  if (!w->own && m->id.p && w->user && strcmp(m->id.p, w->user) == 0) {
    w->own = 1;
    w->own_read = m->last_read_seq;
    w->own_mentions = m->mention_count;
    if (m->muted_until.p) {
      if (!(w->own_muted = malloc(m->muted_until.n + 1))) return -1;
      memcpy(w->own_muted, m->muted_until.p, m->muted_until.n);
      w->own_muted_n = m->muted_until.n;
    }
  }
  const char *url = m->avatar_id.p && m->id.p ? sign_avatar(w, m->avatar_id.p, m->id.p) : NULL;
  if ((w->members++ && put(b, ",") != 0) || put(b, "{\"id\":") != 0 || put_str(b, m->id) != 0 ||
      put(b, ",\"name\":") != 0 || put_str(b, m->name) != 0 || put(b, ",\"avatar_url\":") != 0 ||
      (url ? conv_view_put_string(b, url, strlen(url)) : put_str(b, m->avatar_url)) != 0 ||
      put(b, ",\"role\":") != 0 || put_str(b, m->role) != 0 || put(b, ",\"last_read_seq\":") != 0 ||
      conv_view_put_int(b, m->last_read_seq) != 0 || put(b, ",\"last_delivered_seq\":") != 0 ||
      conv_view_put_int(b, m->last_delivered_seq) != 0)
    return -1;
  return put(b, "}");
}

/* A plain last message as sqlite's msg_row() and json_dumps would give it,
 * its keys in the record's order, its attachments signed as
 * attach_url_message signs a record's. */
static int page_message(void *arg, const store_msg_row_t *m) {
  page_t *w = arg;
  buf_t *b = &w->b;
  w->written = 1;
  size_t i;
  json_t *a;
  if (m->conversation_id.p)
    json_array_foreach(m->attachments, i, a) attach_url_view(w->app, a, 'c', m->conversation_id.p);
  if (put(b, "],\"last_message\":{\"id\":") != 0 || put_str(b, m->id) != 0 ||
      put(b, ",\"conversation_id\":") != 0 || put_str(b, m->conversation_id) != 0 ||
      put(b, ",\"seq\":") != 0 || conv_view_put_int(b, m->seq) != 0 ||
      put(b, ",\"sender_id\":") != 0 || put_str(b, m->sender_id) != 0 ||
      put(b, ",\"text\":") != 0 || put_str(b, m->text) != 0 || put(b, ",\"client_id\":") != 0 ||
      put_str(b, m->client_id) != 0 || put(b, ",\"source\":") != 0 || put_str(b, m->source) != 0 ||
      put(b, ",\"created_at\":") != 0 || put_str(b, m->created_at) != 0 ||
      put(b, ",\"edited_at\":") != 0 || put_str(b, m->edited_at) != 0 ||
      put(b, m->deleted ? ",\"deleted\":true" : ",\"deleted\":false") != 0 ||
      put(b, ",\"attachments\":") != 0 ||
      (m->attachments ? conv_view_put_value(b, m->attachments) : put(b, "[]")) != 0 ||
      put(b, ",\"reactions\":") != 0 || conv_view_put_value(b, m->reactions) != 0)
    return -1;
  return put(b, "}");
}

/* unread_count, mention_count and muted_until as conv_view's own entry gives
 * them: 0, 0 and null for a user who is not a participant. */
static int page_conv_end(void *arg, json_t *last_message) {
  page_t *w = arg;
  buf_t *b = &w->b;
  long long unread = w->own && w->own_read >= 0 ? w->last_seq - w->own_read : 0;
  if (last_message) attach_url_message(w->app, last_message);
  if ((!w->written &&
       (put(b, "],\"last_message\":") != 0 ||
        (last_message ? conv_view_put_value(b, last_message) : put(b, "null")) != 0)) ||
      put(b, ",\"avatar_url\":") != 0 ||
      (w->has_avatar ? conv_view_put_string(b, w->avatar, strlen(w->avatar)) : put(b, "null")) !=
          0 ||
      put(b, ",\"unread_count\":") != 0 || conv_view_put_int(b, unread > 0 ? unread : 0) != 0 ||
      put(b, ",\"mention_count\":") != 0 ||
      conv_view_put_int(b, w->own_mentions > 0 ? w->own_mentions : 0) != 0 ||
      put(b, ",\"muted_until\":") != 0 ||
      (w->own_muted ? conv_view_put_string(b, w->own_muted, w->own_muted_n) : put(b, "null")) != 0)
    return -1;
  return put(b, "}");
}

/* A channel or an Instagram conversation: the record, signed as
 * conv_page_text signs the tree's, through conv_view_write. */
static int page_record(void *arg, json_t *conv) {
  page_t *w = arg;
  attach_url_message(w->app, json_object_get(conv, "last_message"));
  attach_url_conv(w->app, conv);
  if (w->convs++ && put(&w->b, ",") != 0) return -1;
  return conv_view_write(&w->b, conv, w->user);
}

static void page_abort(void *arg) {
  page_t *w = arg;
  buf_free(&w->b);
  free(w->own_muted);
  free(w);
}

static json_t *page_end(void *arg, const char *next_cursor) {
  page_t *w = arg;
  buf_t *b = &w->b;
  json_t *text = NULL;
  if (put(b, "],\"next_cursor\":") == 0 &&
      (next_cursor ? conv_view_put_string(b, next_cursor, strlen(next_cursor)) : put(b, "null")) ==
          0 &&
      put(b, "}") == 0)
    text = json_stringn_nocheck(b->data, b->len);
  page_abort(w);
  return text;
}

const store_conv_rows_t conv_page_rows = {page_begin,    page_conv,   page_member, page_message,
                                          page_conv_end, page_record, page_end,    page_abort};
