/* Flow definitions: validation with errors that name the node, trigger
 * matching with Unicode case folding, and template filling. Pure; any thread. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flows/verr.h"
#include "parley/buf.h"
#include "parley/flows.h"
#include "parley/util.h"

/* ---- validation ---- */

int flow_verr(verr_t *v, const char *f, const char *node, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v->err, v->errlen, fmt, ap);
  va_end(ap);
  snprintf(v->field, v->fieldlen, "%s", f);
  if (v->node && v->nodelen) snprintf(v->node, v->nodelen, "%s", node ? node : "");
  return -1;
}

static int str_ok(const json_t *v, size_t max) {
  if (!json_is_string(v)) return 0;
  size_t len = json_string_length(v);
  return len > 0 && len <= max && util_utf8_valid(json_string_value(v), len);
}

static const char *sget(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static int is_one_of(const char *s, const char *const *set) {
  for (; s && *set; set++)
    if (strcmp(s, *set) == 0) return 1;
  return 0;
}

/* An error about the flow as a whole, and one about the node `at`. */
#define FAIL(fld, ...) return flow_verr(v, fld, NULL, __VA_ARGS__)
#define FAIL_AT(fld, at, ...) return flow_verr(v, fld, at, __VA_ARGS__)

/* A list of 1..max (or, with allow_empty, 0..max) strings of 1..len bytes. */
static int strings_ok(const json_t *a, size_t max, size_t len, int allow_empty) {
  const json_t *k;
  size_t i;
  if (!json_is_array(a) || json_array_size(a) > max || (!allow_empty && json_array_size(a) == 0))
    return 0;
  json_array_foreach(a, i, k) if (!str_ok(k, len)) return 0;
  return 1;
}

static int check_keywords(const json_t *t, int required, verr_t *v) {
  const json_t *kw = json_object_get(t, "keywords");
  if ((required || kw) && !strings_ok(kw, 100, 200, !required))
    FAIL("trigger", "trigger.keywords: %s100 non-empty strings of at most 200 bytes",
         required ? "1 to " : "at most ");
  static const char *const matches[] = {"contains", "exact", "starts_with", NULL};
  const json_t *m = json_object_get(t, "match");
  if (m && !is_one_of(json_string_value(m), matches))
    FAIL("trigger", "trigger.match must be contains, exact or starts_with");
  return 0;
}

/* The trigger types (API.md, Flows): what each filters on. */
static int check_trigger(const json_t *t, verr_t *v) {
  const char *type = sget(t, "type");
  if (!json_is_object(t) || !type) FAIL("trigger", "trigger must be an object with a type");
  if (strcmp(type, "any_message") == 0 || strcmp(type, "story_reply") == 0 ||
      strcmp(type, "story_mention") == 0)
    return 0;
  if (strcmp(type, "keyword") == 0) return check_keywords(t, 1, v);
  if (strcmp(type, "comment") == 0) {
    const json_t *media = json_object_get(t, "media_ids"),
                 *reply = json_object_get(t, "public_reply");
    if (media && !strings_ok(media, 50, 64, 1))
      FAIL("trigger", "trigger.media_ids: at most 50 media ids");
    if (reply && !str_ok(reply, 1000))
      FAIL("trigger", "trigger.public_reply: text of 1 to 1000 bytes");
    return check_keywords(t, 0, v);
  }
  if (strcmp(type, "postback") == 0) {
    if (!strings_ok(json_object_get(t, "payloads"), 50, 1000, 0))
      FAIL("trigger", "trigger.payloads: 1 to 50 payloads of 1 to 1000 bytes");
    return 0;
  }
  if (strcmp(type, "referral") == 0) {
    const json_t *refs = json_object_get(t, "refs");
    if (refs && !strings_ok(refs, 50, 200, 1))
      FAIL("trigger", "trigger.refs: at most 50 refs of 1 to 200 bytes");
    return 0;
  }
  FAIL("trigger", "unknown trigger type %s", type);
}

/* settings {priority?, run_once?, cooldown_seconds?}: optional. */
static int check_settings(const json_t *s, verr_t *v) {
  if (!s) return 0;
  if (!json_is_object(s)) FAIL("settings", "settings must be an object");
  const json_t *p = json_object_get(s, "priority"), *once = json_object_get(s, "run_once");
  const json_t *cool = json_object_get(s, "cooldown_seconds");
  if (p && (!json_is_integer(p) || json_integer_value(p) < -FLOW_MAX_PRIORITY ||
            json_integer_value(p) > FLOW_MAX_PRIORITY))
    FAIL("settings", "settings.priority must be an integer from %d to %d", -FLOW_MAX_PRIORITY,
         FLOW_MAX_PRIORITY);
  if (once && !json_is_boolean(once)) FAIL("settings", "settings.run_once must be true or false");
  if (cool && (!json_is_integer(cool) || json_integer_value(cool) < 0 ||
               json_integer_value(cool) > FLOW_MAX_COOLDOWN_S))
    FAIL("settings", "settings.cooldown_seconds must be from 0 to %d", FLOW_MAX_COOLDOWN_S);
  return 0;
}

/* position {x, y}: where the builder draws the node; optional, numbers only. */
static int position_ok(const json_t *p) {
  if (!p) return 1;
  const json_t *x = json_object_get(p, "x"), *y = json_object_get(p, "y");
  return json_is_object(p) && json_object_size(p) == 2 && json_is_number(x) && json_is_number(y) &&
         json_number_value(x) >= -FLOW_MAX_POSITION && json_number_value(x) <= FLOW_MAX_POSITION &&
         json_number_value(y) >= -FLOW_MAX_POSITION && json_number_value(y) <= FLOW_MAX_POSITION;
}

/* Meta's limits on what a message carries (Instagram Messaging API): 13
 * quick replies and 3 buttons, each title at most 20 characters, a button
 * template's text at most 640. */
#define QUICK_REPLIES_MAX 13
#define BUTTONS_MAX 3
#define TITLE_MAX_CHARS 20
#define BUTTON_TEXT_MAX 640
#define PAYLOAD_MAX 1000
#define URL_MAX 2000
#define FLOW_MAX_WAIT_S (7 * 86400)

static size_t utf8_chars(const char *s) {
  size_t n = 0;
  for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

static int title_ok(const json_t *t) {
  return str_ok(t, 200) && utf8_chars(json_string_value(t)) <= TITLE_MAX_CHARS;
}

static int http_url_ok(const json_t *u) {
  const char *url = json_string_value(u);
  return str_ok(u, URL_MAX) &&
         (strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0) &&
         !strpbrk(url, " \r\n\t\"<>");
}

/* A message's (or an ask's) text, media, quick replies and buttons. */
static int check_message(const char *id, const json_t *d, const flow_limits_t *lim, verr_t *v) {
  const json_t *text = json_object_get(d, "text"), *media = json_object_get(d, "media");
  const json_t *qr = json_object_get(d, "quick_replies"), *bt = json_object_get(d, "buttons"), *x;
  size_t i;
  if (text && !str_ok(text, lim->max_text_bytes))
    FAIL_AT("nodes", id, "node %s: text must be 1 to %zu bytes", id, lim->max_text_bytes);
  if (media) {
    static const char *const kinds[] = {"image", "video", NULL};
    if (!json_is_object(media) || !is_one_of(sget(media, "type"), kinds))
      FAIL_AT("nodes", id, "node %s: media.type must be image or video", id);
    if (!http_url_ok(json_object_get(media, "url")))
      FAIL_AT("nodes", id, "node %s: media.url must be an http(s) URL of at most %d bytes", id,
              URL_MAX);
  }
  if (!text && !media) FAIL_AT("nodes", id, "node %s: a message needs text or media", id);
  if ((qr || bt) && !text)
    FAIL_AT("nodes", id, "node %s: quick_replies and buttons go with text", id);
  if (qr && bt)
    FAIL_AT("nodes", id,
            "node %s: quick_replies and buttons cannot be sent in one message (use two)", id);
  if (qr) {
    if (!json_is_array(qr) || json_array_size(qr) < 1 || json_array_size(qr) > QUICK_REPLIES_MAX)
      FAIL_AT("nodes", id, "node %s: quick_replies: 1 to %d (Meta's limit)", id, QUICK_REPLIES_MAX);
    json_array_foreach(qr, i, x) {
      if (!title_ok(json_object_get(x, "title")))
        FAIL_AT("nodes", id, "node %s: quick_replies[%zu].title: 1 to %d characters", id, i,
                TITLE_MAX_CHARS);
      if (!str_ok(json_object_get(x, "payload"), PAYLOAD_MAX))
        FAIL_AT("nodes", id, "node %s: quick_replies[%zu].payload: 1 to %d bytes", id, i,
                PAYLOAD_MAX);
    }
  }
  if (bt) {
    if (!json_is_array(bt) || json_array_size(bt) < 1 || json_array_size(bt) > BUTTONS_MAX)
      FAIL_AT("nodes", id, "node %s: buttons: 1 to %d (Meta's limit)", id, BUTTONS_MAX);
    if (json_string_length(text) > BUTTON_TEXT_MAX)
      FAIL_AT("nodes", id, "node %s: text: at most %d bytes with buttons", id, BUTTON_TEXT_MAX);
    json_array_foreach(bt, i, x) {
      const char *type = sget(x, "type");
      if (!title_ok(json_object_get(x, "title")))
        FAIL_AT("nodes", id, "node %s: buttons[%zu].title: 1 to %d characters", id, i,
                TITLE_MAX_CHARS);
      if (type && strcmp(type, "postback") == 0) {
        if (!str_ok(json_object_get(x, "payload"), PAYLOAD_MAX))
          FAIL_AT("nodes", id, "node %s: buttons[%zu].payload: 1 to %d bytes", id, i, PAYLOAD_MAX);
      } else if (type && strcmp(type, "url") == 0) {
        if (!http_url_ok(json_object_get(x, "url")))
          FAIL_AT("nodes", id, "node %s: buttons[%zu].url must be an http(s) URL", id, i);
      } else {
        FAIL_AT("nodes", id, "node %s: buttons[%zu].type must be postback or url", id, i);
      }
    }
  }
  return 0;
}

static int check_ask(const char *id, const json_t *d, const flow_limits_t *lim, verr_t *v) {
  static const char *const checks[] = {"text", "number", "email", "phone", NULL};
  if (!json_object_get(d, "text"))
    FAIL_AT("nodes", id, "node %s: an ask needs the question's text", id);
  if (json_object_get(d, "media") || json_object_get(d, "buttons"))
    FAIL_AT("nodes", id, "node %s: an ask sends text (and quick replies) only", id);
  if (check_message(id, d, lim, v)) return -1;
  if (json_object_get(d, "check") && !is_one_of(sget(d, "check"), checks))
    FAIL_AT("nodes", id, "node %s: check must be text, number, email or phone", id);
  if (!str_ok(json_object_get(d, "variable"), 100))
    FAIL_AT("nodes", id, "node %s: variable: the name to save the answer as", id);
  const json_t *t = json_object_get(d, "timeout_seconds");
  if (!json_is_integer(t) || json_integer_value(t) < 1 || json_integer_value(t) > FLOW_MAX_WAIT_S)
    FAIL_AT("nodes", id, "node %s: timeout_seconds must be from 1 to %d", id, FLOW_MAX_WAIT_S);
  return 0;
}

static int check_randomizer(const char *id, const json_t *d, verr_t *v) {
  const json_t *br = json_object_get(d, "branches"), *b;
  size_t i, k;
  json_int_t sum = 0;
  if (!json_is_array(br) || json_array_size(br) < 2 || json_array_size(br) > 10)
    FAIL_AT("nodes", id, "node %s: branches: 2 to 10", id);
  json_array_foreach(br, i, b) {
    const json_t *w = json_object_get(b, "weight");
    if (!str_ok(json_object_get(b, "name"), 32))
      FAIL_AT("nodes", id, "node %s: branches[%zu].name: 1 to 32 bytes", id, i);
    if (!json_is_integer(w) || json_integer_value(w) < 0 || json_integer_value(w) > 100)
      FAIL_AT("nodes", id, "node %s: branches[%zu].weight: an integer from 0 to 100", id, i);
    sum += json_integer_value(w);
    for (k = 0; k < i; k++)
      if (strcmp(sget(json_array_get(br, k), "name"), sget(b, "name")) == 0)
        FAIL_AT("nodes", id, "node %s: branches[%zu].name repeats %s", id, i, sget(b, "name"));
  }
  if (sum != 100)
    FAIL_AT("nodes", id, "node %s: branches: the weights sum to %lld, not 100", id, (long long)sum);
  return 0;
}

static int hhmm_ok(const char *s) {
  return s && strlen(s) == 5 && s[2] == ':' && s[0] >= '0' && s[0] <= '2' && s[1] >= '0' &&
         s[1] <= '9' && (s[0] < '2' || s[1] <= '3') && s[3] >= '0' && s[3] <= '5' && s[4] >= '0' &&
         s[4] <= '9';
}

static int check_condition(const char *id, const json_t *d, verr_t *v) {
  const char *kind = sget(d, "kind");
  if (!kind) FAIL_AT("nodes", id, "node %s: a condition needs a kind", id);
  if (strcmp(kind, "keyword") == 0) {
    if (!str_ok(json_object_get(d, "keyword"), 200))
      FAIL_AT("nodes", id, "node %s: keyword is missing", id);
  } else if (strcmp(kind, "tag") == 0) {
    static const char *const ops[] = {"has", "lacks", NULL};
    if (!str_ok(json_object_get(d, "tag"), 100))
      FAIL_AT("nodes", id, "node %s: tag is missing", id);
    if (json_object_get(d, "op") && !is_one_of(sget(d, "op"), ops))
      FAIL_AT("nodes", id, "node %s: op must be has or lacks", id);
  } else if (strcmp(kind, "variable") == 0) {
    static const char *const ops[] = {"equals", "not_equals", "contains",   "gt",
                                      "lt",     "is_set",     "is_not_set", NULL};
    const char *op = sget(d, "op");
    if (!str_ok(json_object_get(d, "name"), 100))
      FAIL_AT("nodes", id, "node %s: a variable condition needs name", id);
    if (json_object_get(d, "op") && !is_one_of(op, ops))
      FAIL_AT("nodes", id,
              "node %s: op must be equals, not_equals, contains, gt, lt, is_set or is_not_set", id);
    int unary = op && (strcmp(op, "is_set") == 0 || strcmp(op, "is_not_set") == 0);
    if (!op && !json_object_get(d, "equals"))
      FAIL_AT("nodes", id, "node %s: a variable condition needs op and value (or equals)", id);
    if (op && !unary && !json_object_get(d, "value"))
      FAIL_AT("nodes", id, "node %s: op %s needs a value", id, op);
  } else if (strcmp(kind, "time") == 0) {
    const json_t *from = json_object_get(d, "from"), *to = json_object_get(d, "to"), *x;
    const json_t *days = json_object_get(d, "weekdays");
    size_t i;
    if ((from || to) && (!hhmm_ok(json_string_value(from)) || !hhmm_ok(json_string_value(to))))
      FAIL_AT("nodes", id, "node %s: from and to must both be HH:MM (24-hour)", id);
    if (days) {
      if (!json_is_array(days) || json_array_size(days) > 7)
        FAIL_AT("nodes", id, "node %s: weekdays: at most 7 days, 0 (Sunday) to 6", id);
      json_array_foreach(days, i, x) if (!json_is_integer(x) || json_integer_value(x) < 0 ||
                                         json_integer_value(x) > 6)
          FAIL_AT("nodes", id, "node %s: weekdays: days are 0 (Sunday) to 6", id);
    }
    if (!from && !days)
      FAIL_AT("nodes", id, "node %s: a time condition needs from/to or weekdays", id);
  } else {
    FAIL_AT("nodes", id, "node %s: unknown condition kind %s", id, kind);
  }
  return 0;
}

/* An api_call's headers [{name, value}]: at most 10, a token name (not one
 * the client sets itself), a value without CR, LF or NUL. */
static int check_headers(const char *id, const json_t *h, verr_t *v) {
  static const char *const own[] = {"host",       "content-length", "transfer-encoding",
                                    "connection", "content-type",   NULL};
  const json_t *x;
  size_t i;
  if (!h) return 0;
  if (!json_is_array(h) || json_array_size(h) > 10)
    FAIL_AT("nodes", id, "node %s: headers: at most 10", id);
  json_array_foreach(h, i, x) {
    const char *name = sget(x, "name"), *value = sget(x, "value");
    if (!str_ok(json_object_get(x, "name"), 64) ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") !=
            strlen(name))
      FAIL_AT("nodes", id, "node %s: headers[%zu].name must be a header name", id, i);
    char lower[65];
    size_t k;
    for (k = 0; name[k] && k < 64; k++)
      lower[k] = (char)(name[k] >= 'A' && name[k] <= 'Z' ? name[k] + 32 : name[k]);
    lower[k] = '\0';
    if (is_one_of(lower, own))
      FAIL_AT("nodes", id, "node %s: headers[%zu]: %s is set by Parley", id, i, name);
    if (!json_is_string(json_object_get(x, "value")) ||
        json_string_length(json_object_get(x, "value")) > 1000 || strpbrk(value, "\r\n"))
      FAIL_AT("nodes", id, "node %s: headers[%zu].value: at most 1000 bytes on one line", id, i);
  }
  return 0;
}

static int check_action(const char *id, const json_t *d, const flow_limits_t *lim, verr_t *v) {
  const char *a = sget(d, "action");
  if (!a) FAIL_AT("nodes", id, "node %s: action is missing", id);
  if (strcmp(a, "tag_customer") == 0 || strcmp(a, "remove_tag") == 0) {
    if (!str_ok(json_object_get(d, "tag"), 100))
      FAIL_AT("nodes", id, "node %s: tag is missing", id);
  } else if (strcmp(a, "set_variable") == 0) {
    if (!str_ok(json_object_get(d, "variable"), 100) ||
        !json_is_string(json_object_get(d, "value")) ||
        json_string_length(json_object_get(d, "value")) > lim->max_text_bytes)
      FAIL_AT("nodes", id, "node %s: set_variable needs variable and a string value", id);
  } else if (strcmp(a, "clear_variable") == 0) {
    if (!str_ok(json_object_get(d, "variable"), 100))
      FAIL_AT("nodes", id, "node %s: clear_variable needs variable", id);
  } else if (strcmp(a, "notify_agent") == 0) {
    if (!str_ok(json_object_get(d, "text"), lim->max_text_bytes))
      FAIL_AT("nodes", id, "node %s: notify_agent needs text of 1 to %zu bytes", id,
              lim->max_text_bytes);
  } else if (strcmp(a, "handover") == 0) {
    const json_t *s = json_object_get(d, "seconds");
    if (s && (!json_is_integer(s) || json_integer_value(s) < 0 ||
              json_integer_value(s) > FLOW_MAX_COOLDOWN_S))
      FAIL_AT("nodes", id, "node %s: seconds must be from 0 to %d", id, FLOW_MAX_COOLDOWN_S);
  } else if (strcmp(a, "api_call") == 0) {
    const char *url = sget(d, "url");
    static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", NULL};
    if (!url || strlen(url) > 2048 ||
        (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
      FAIL_AT("nodes", id, "node %s: api_call needs an http(s) url", id);
    if (flow_url_authority_len(url) == 0)
      FAIL_AT("nodes", id,
              "node %s: api_call url: the scheme, host and port cannot hold a {{value}}", id);
    if (json_object_get(d, "method") && !is_one_of(sget(d, "method"), methods))
      FAIL_AT("nodes", id, "node %s: unknown method", id);
    if (json_object_get(d, "save_as") && !str_ok(json_object_get(d, "save_as"), 100))
      FAIL_AT("nodes", id, "node %s: save_as must be a name", id);
    if (check_headers(id, json_object_get(d, "headers"), v)) return -1;
    const json_t *map = json_object_get(d, "map"), *path;
    const char *var;
    if (map && (!json_is_object(map) || json_object_size(map) > 20))
      FAIL_AT("nodes", id, "node %s: map: at most 20 {variable: \"path\"}", id);
    json_object_foreach((json_t *)map, var, path) {
      if (!*var || strlen(var) > 100 || !str_ok(path, 255))
        FAIL_AT("nodes", id, "node %s: map.%s: a variable name and a path of 1 to 255 bytes", id,
                var);
    }
  } else {
    FAIL_AT("nodes", id, "node %s: unknown action %s", id, a);
  }
  return 0;
}

static int check_node(const json_t *n, const flow_limits_t *lim, verr_t *v) {
  const char *id = sget(n, "id"), *type = sget(n, "type");
  const json_t *d = json_object_get(n, "data");
  if (!json_is_object(n) || !str_ok(json_object_get(n, "id"), 64))
    FAIL("nodes", "every node needs an id");
  if (!json_is_object(d)) FAIL_AT("nodes", id, "node %s: data must be an object", id);
  if (!type) FAIL_AT("nodes", id, "node %s: type is missing", id);
  if (!position_ok(json_object_get(n, "position")))
    FAIL_AT("nodes", id, "node %s: position must be {x, y} with numbers within %d", id,
            FLOW_MAX_POSITION);
  if (strcmp(type, "message") == 0) return check_message(id, d, lim, v);
  if (strcmp(type, "ask") == 0) return check_ask(id, d, lim, v);
  if (strcmp(type, "randomizer") == 0) return check_randomizer(id, d, v);
  if (strcmp(type, "condition") == 0) return check_condition(id, d, v);
  if (strcmp(type, "action") == 0) return check_action(id, d, lim, v);
  if (strcmp(type, "delay") == 0) {
    const json_t *s = json_object_get(d, "seconds");
    if (!json_is_integer(s) || json_integer_value(s) < 1 ||
        json_integer_value(s) > FLOW_MAX_DELAY_S)
      FAIL_AT("nodes", id, "node %s: a delay needs seconds from 1 to %d", id, FLOW_MAX_DELAY_S);
    return 0;
  }
  FAIL_AT("nodes", id, "node %s: unknown node type %s", id, type);
}

static const json_t *node_by_id(const json_t *nodes, const char *id) {
  const json_t *n;
  size_t i;
  json_array_foreach(nodes, i,
                     n) if (id && sget(n, "id") && strcmp(sget(n, "id"), id) == 0) return n;
  return NULL;
}

/* The labels a node's edges may carry: a condition "true" and "false" (both,
 * exactly once); an api_call "true"/"false"; an ask "invalid" and "timeout"
 * (beside its unlabelled "answered" edge); a randomizer its branch names. */
static int label_allowed(const json_t *n, const char *label) {
  const char *type = sget(n, "type");
  const json_t *d = json_object_get(n, "data");
  if (strcmp(type, "condition") == 0)
    return strcmp(label, "true") == 0 || strcmp(label, "false") == 0;
  if (strcmp(type, "action") == 0 && strcmp(sget(d, "action"), "api_call") == 0)
    return strcmp(label, "true") == 0 || strcmp(label, "false") == 0;
  if (strcmp(type, "ask") == 0)
    return strcmp(label, "invalid") == 0 || strcmp(label, "timeout") == 0;
  if (strcmp(type, "randomizer") == 0) {
    const json_t *b;
    size_t i;
    json_array_foreach(json_object_get(d, "branches"), i,
                       b) if (strcmp(sget(b, "name"), label) == 0) return 1;
  }
  return 0;
}

static int check_edges(const json_t *nodes, const json_t *edges, verr_t *v) {
  const json_t *e, *n;
  size_t i, k;
  if (!json_is_array(edges)) FAIL("edges", "edges must be an array");
  json_array_foreach(edges, i, e) {
    const char *from = sget(e, "from"), *to = sget(e, "to"), *label = sget(e, "label");
    const json_t *src = node_by_id(nodes, from), *l = json_object_get(e, "label");
    if (!src) FAIL("edges", "edge %zu: from %s is not a node", i, from ? from : "(missing)");
    if (!node_by_id(nodes, to))
      FAIL_AT("edges", from, "node %s: edge to %s, which is not a node", from,
              to ? to : "(missing)");
    if (l && !json_is_null(l) && (!label || !label_allowed(src, label))) {
      const char *type = sget(src, "type");
      if (strcmp(type, "ask") == 0)
        FAIL_AT("edges", from, "node %s: an ask's edge label must be \"invalid\" or \"timeout\"",
                from);
      if (strcmp(type, "randomizer") == 0)
        FAIL_AT("edges", from, "node %s: a randomizer's edge label must name a branch", from);
      if (strcmp(type, "condition") == 0 || strcmp(type, "action") == 0)
        FAIL_AT("edges", from, "node %s: edge label must be \"true\" or \"false\"", from);
      FAIL_AT("edges", from,
              "node %s: only conditions, api_call actions, asks and randomizers"
              " have labelled edges",
              from);
    }
  }
  json_array_foreach(nodes, k, n) {
    const char *id = sget(n, "id"), *type = sget(n, "type");
    int t = 0, f = 0, plain = 0;
    json_array_foreach(edges, i, e) {
      if (strcmp(sget(e, "from"), id) != 0) continue;
      const char *label = sget(e, "label");
      if (label && strcmp(label, "true") == 0)
        t++;
      else if (label && strcmp(label, "false") == 0)
        f++;
      else if (!label)
        plain++;
      /* The same label twice: two next nodes for one outcome. */
      size_t j;
      const json_t *e2;
      json_array_foreach(edges, j, e2) {
        if (j >= i) break;
        const char *l2 = sget(e2, "label");
        if (strcmp(sget(e2, "from"), id) == 0 && label && l2 && strcmp(label, l2) == 0)
          FAIL_AT("edges", id, "node %s: two edges labelled %s", id, label);
      }
    }
    int cond = strcmp(type, "condition") == 0;
    if (cond && (t != 1 || f != 1 || plain))
      FAIL_AT("edges", id, "node %s: a condition needs exactly one \"true\" and one \"false\" edge",
              id);
    if (strcmp(type, "randomizer") == 0 && plain)
      FAIL_AT("edges", id, "node %s: a randomizer's edges are labelled with its branches", id);
    if (strcmp(type, "action") == 0 &&
        strcmp(sget(json_object_get(n, "data"), "action"), "handover") == 0 && (plain || t || f))
      FAIL_AT("edges", id, "node %s: a handover ends the run (no next node)", id);
    if (!cond && plain > 1) FAIL_AT("edges", id, "node %s: more than one next node", id);
  }
  return 0;
}

int flow_validate_node(const json_t *flow, const flow_limits_t *lim, char *err, size_t errlen,
                       char *field, size_t fieldlen, char *node_id, size_t node_idlen) {
  static const char *const statuses[] = {"draft", "active", "archived", NULL};
  verr_t ctx = {err, errlen, field, fieldlen, node_id, node_idlen}, *v = &ctx;
  if (node_id && node_idlen) node_id[0] = '\0';
  if (!json_is_object(flow)) FAIL("flow", "the flow must be an object");
  if (!str_ok(json_object_get(flow, "name"), 100)) FAIL("name", "name must be 1 to 100 characters");
  if (json_object_get(flow, "status") && !is_one_of(sget(flow, "status"), statuses))
    FAIL("status", "status must be draft, active or archived");
  if (check_trigger(json_object_get(flow, "trigger"), v)) return -1;
  if (check_settings(json_object_get(flow, "settings"), v)) return -1;
  const json_t *nodes = json_object_get(flow, "nodes"), *n;
  size_t i, k;
  if (!json_is_array(nodes) || json_array_size(nodes) == 0 ||
      json_array_size(nodes) > lim->max_nodes)
    FAIL("nodes", "nodes must be an array of 1 to %zu nodes", lim->max_nodes);
  json_array_foreach(nodes, i, n) {
    if (check_node(n, lim, v)) return -1;
    for (k = 0; k < i; k++)
      if (strcmp(sget(json_array_get(nodes, k), "id"), sget(n, "id")) == 0)
        FAIL_AT("nodes", sget(n, "id"), "node %s: duplicate node id", sget(n, "id"));
  }
  const json_t *edges = json_object_get(flow, "edges");
  if (!edges) FAIL("edges", "edges are missing");
  if (check_edges(nodes, edges, v)) return -1;
  const char *start = sget(flow, "start");
  if (!start) FAIL("start", "start is missing");
  if (!node_by_id(nodes, start)) FAIL("start", "start node %s is not a node", start);
  return 0;
}

int flow_validate(const json_t *flow, const flow_limits_t *lim, char *err, size_t errlen,
                  char *field, size_t fieldlen) {
  return flow_validate_node(flow, lim, err, errlen, field, fieldlen, NULL, 0);
}

/* ---- Unicode case folding (simple, one code point to one) ---- */

static uint32_t fold(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0x80) return c;
  if ((c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 32; /* Latin-1 */
  if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 &&
      c != 0x17F) { /* Latin Extended-A */
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) ? c + 1 : c;
    return (c & 1) ? c : c + 1;
  }
  if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 32; /* Greek */
  if (c == 0x3C2) return 0x3C3;                              /* final sigma */
  if (c >= 0x410 && c <= 0x42F) return c + 32;               /* Cyrillic */
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}

/* Decodes valid UTF-8 and folds it into code points; returns the count. */
static size_t folded(const char *s, uint32_t **out) {
  size_t len = strlen(s), n = 0;
  uint32_t *cp = malloc((len + 1) * sizeof(*cp));
  if (!cp) {
    *out = NULL;
    return 0;
  }
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < len;) {
    uint32_t c = p[i];
    size_t extra = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : 3;
    if (extra) c &= 0x3F >> extra;
    for (size_t k = 1; k <= extra && i + k < len; k++) c = c << 6 | (p[i + k] & 0x3F);
    i += extra + 1;
    cp[n++] = fold(c);
  }
  *out = cp;
  return n;
}

enum match_mode { M_CONTAINS, M_EXACT, M_PREFIX };

static int text_match(const char *text, const char *needle, enum match_mode mode) {
  uint32_t *h, *nd;
  size_t hn = folded(text, &h), nn = folded(needle, &nd);
  int found = 0;
  if (h && nd) {
    if (mode == M_EXACT)
      found = hn == nn && memcmp(h, nd, hn * sizeof(*h)) == 0;
    else if (mode == M_PREFIX)
      found = hn >= nn && memcmp(h, nd, nn * sizeof(*h)) == 0;
    else
      for (size_t i = 0; !found && nn <= hn && i + nn <= hn; i++)
        found = memcmp(h + i, nd, nn * sizeof(*h)) == 0;
  }
  free(h);
  free(nd);
  return found;
}

int flow_text_contains(const char *haystack, const char *needle) {
  return text_match(haystack, needle, M_CONTAINS);
}

/* 1 when text matches one of the trigger's keywords (none: every text). */
static int keywords_match(const json_t *trigger, const char *text) {
  const json_t *kws = json_object_get(trigger, "keywords");
  if (json_array_size(kws) == 0) return 1;
  if (!text) return 0;
  const char *m = sget(trigger, "match");
  enum match_mode mode = !m || strcmp(m, "contains") == 0 ? M_CONTAINS
                         : strcmp(m, "exact") == 0        ? M_EXACT
                                                          : M_PREFIX;
  /* "exact" ignores surrounding spaces, as people type them. */
  const json_t *k;
  size_t i;
  json_array_foreach(kws, i, k) {
    const char *kw = json_string_value(k);
    if (!kw) continue;
    if (mode == M_EXACT) {
      size_t a = 0, b = strlen(text);
      while (text[a] == ' ') a++;
      while (b > a && text[b - 1] == ' ') b--;
      char *trimmed = strndup(text + a, b - a);
      int hit = trimmed && text_match(trimmed, kw, M_EXACT);
      free(trimmed);
      if (hit) return 1;
    } else if (text_match(text, kw, mode)) {
      return 1;
    }
  }
  return 0;
}

/* 1 when s is one of the strings of list (exactly, as Meta sends payloads). */
static int listed(const json_t *list, const char *s) {
  const json_t *k;
  size_t i;
  json_array_foreach(
      list, i, k) if (s && json_is_string(k) && strcmp(json_string_value(k), s) == 0) return 1;
  return 0;
}

int flow_trigger_matches(const json_t *trigger, const json_t *event) {
  const char *type = sget(trigger, "type"), *kind = sget(event, "kind");
  const char *text = sget(event, "text");
  if (!type || !kind) return 0;
  /* Keyword and any-message triggers answer direct messages (a story reply
   * is one); a postback, a comment or a referral fires only its own type. */
  int dm = strcmp(kind, "message") == 0 || strcmp(kind, "story_reply") == 0 ||
           strcmp(kind, "story_mention") == 0;
  if (strcmp(type, "any_message") == 0) return dm;
  if (strcmp(type, "keyword") == 0) return dm && text && keywords_match(trigger, text);
  if (strcmp(type, kind) != 0) return 0;
  if (strcmp(type, "postback") == 0)
    return listed(json_object_get(trigger, "payloads"), sget(event, "payload"));
  if (strcmp(type, "referral") == 0)
    return json_array_size(json_object_get(trigger, "refs")) == 0 ||
           listed(json_object_get(trigger, "refs"), sget(event, "ref"));
  if (strcmp(type, "comment") == 0) {
    const json_t *media = json_object_get(trigger, "media_ids");
    if (json_array_size(media) && !listed(media, sget(event, "media_id"))) return 0;
    return keywords_match(trigger, text);
  }
  return 1; /* story_reply, story_mention */
}

/* ---- templates ---- */

static const json_t *lookup(const json_t *ctx, const char *path, size_t len) {
  char key[256];
  if (len >= sizeof(key)) return NULL;
  memcpy(key, path, len);
  key[len] = '\0';
  const json_t *cur = ctx;
  char *save = NULL;
  for (char *part = strtok_r(key, ".", &save); part && cur; part = strtok_r(NULL, ".", &save))
    cur = json_object_get(cur, part);
  return cur;
}

/* Appends v as one URL component: RFC 3986's unreserved bytes stay, every other
 * byte is %XX, and so is a value made only of dots ("." and ".." would be path
 * segments of their own). */
static int append_url_encoded(buf_t *out, const char *v, size_t len) {
  static const char hex[] = "0123456789ABCDEF";
  size_t dots = 0;
  while (dots < len && v[dots] == '.') dots++;
  int only_dots = len > 0 && dots == len;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)v[i];
    int keep =
        !only_dots && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '.' || c == '_' || c == '~');
    char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
    if (keep ? buf_append(out, &v[i], 1) : buf_append(out, enc, 3)) return -1;
  }
  return 0;
}

/* Appends one value, failing once the output would pass max: the check comes
 * before the copy, so an oversized value costs no more than its own length. */
static int append_value(buf_t *out, const char *v, size_t len, flow_fill_mode_t mode, size_t max) {
  if (out->len + len > max) return -1;
  if (mode == FLOW_FILL_URL) return append_url_encoded(out, v, len) || out->len > max ? -1 : 0;
  return buf_append(out, v, len);
}

char *flow_fill(const char *tmpl, const json_t *ctx, flow_fill_mode_t mode, size_t max) {
  return flow_fill_vars(tmpl, ctx, json_object_get(ctx, "vars"), mode, max);
}

char *flow_fill_vars(const char *tmpl, const json_t *ctx, const json_t *vars, flow_fill_mode_t mode,
                     size_t max) {
  buf_t out;
  buf_init(&out);
  const char *p = tmpl ? tmpl : "";
  int rc = 0;
  while (*p && rc == 0) {
    const char *open = strstr(p, "{{");
    const char *close = open ? strstr(open + 2, "}}") : NULL;
    if (!open || !close) {
      size_t rest = strlen(p);
      rc = out.len + rest > max ? -1 : buf_append(&out, p, rest);
      break;
    }
    size_t lit = (size_t)(open - p);
    rc = out.len + lit > max ? -1 : buf_append(&out, p, lit);
    const char *name = open + 2;
    size_t len = (size_t)(close - name);
    while (len && *name == ' ') name++, len--;
    while (len && name[len - 1] == ' ') len--;
    int known = (len > 8 && strncmp(name, "contact.", 8) == 0) ||
                (len > 8 && strncmp(name, "message.", 8) == 0);
    int var = len > 5 && strncmp(name, "vars.", 5) == 0;
    /* "vars.a.b" is a.b in vars (lookup skips empty parts, as from ctx). */
    const json_t *v = known ? lookup(ctx, name, len) : var ? lookup(vars, name + 5, len - 5) : NULL;
    if (rc == 0 && json_is_string(v)) {
      rc = append_value(&out, json_string_value(v), json_string_length(v), mode, max);
    } else if (rc == 0 && v && !json_is_null(v)) {
      /* A JSON value is written compactly; json_dumpb reports the size it needs
       * without writing past max + 1 bytes, so a huge object is refused, not built. */
      size_t room = max - out.len + 1;
      char *tmp = malloc(room);
      size_t need = tmp ? json_dumpb(v, tmp, room, JSON_COMPACT | JSON_ENCODE_ANY) : 0;
      rc = !tmp || need == 0 || need >= room ? -1 : append_value(&out, tmp, need, mode, max);
      free(tmp);
    }
    p = close + 2;
  }
  if (rc != 0) {
    buf_free(&out);
    return NULL;
  }
  char *s = buf_steal(&out);
  return s ? s : strdup("");
}

size_t flow_url_authority_len(const char *tmpl) {
  const char *rest;
  if (strncmp(tmpl, "https://", 8) == 0) {
    rest = tmpl + 8;
  } else if (strncmp(tmpl, "http://", 7) == 0) {
    rest = tmpl + 7;
  } else {
    return 0;
  }
  size_t host = strcspn(rest, "/?#");
  size_t len = (size_t)(rest - tmpl) + host;
  if (host == 0 || memchr(tmpl, '{', len) || memchr(tmpl, '}', len)) return 0;
  return len;
}

/* ---- flow settings ---- */

int flow_priority(const json_t *flow) {
  return (int)json_integer_value(json_object_get(json_object_get(flow, "settings"), "priority"));
}

int flow_settings_allow(const json_t *flow, const json_t *last_run, int64_t now_ms,
                        const char **why) {
  const json_t *st = json_object_get(flow, "settings");
  int64_t started = 0;
  *why = NULL;
  if (!last_run) return 1;
  if (json_is_true(json_object_get(st, "run_once"))) {
    *why = "run_once";
    return 0;
  }
  json_int_t cool = json_integer_value(json_object_get(st, "cooldown_seconds"));
  const char *at = sget(last_run, "created_at");
  if (cool > 0 && at && util_parse_iso8601(at, &started) == 0 &&
      now_ms - started < (int64_t)cool * 1000) {
    *why = "cooldown";
    return 0;
  }
  return 1;
}
