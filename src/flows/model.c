/* Flow definitions: validation with errors that name the node, trigger
 * matching with Unicode case folding, and template filling. Pure; any thread. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/buf.h"
#include "parley/flows.h"
#include "parley/util.h"

/* ---- validation ---- */

/* Where a validation error goes: the message, the top-level field it is
 * about, and the node it names ("" when none). */
typedef struct verr_s {
  char *err;
  size_t errlen;
  char *field;
  size_t fieldlen;
  char *node;
  size_t nodelen;
} verr_t;

static int verr(verr_t *v, const char *f, const char *node, const char *fmt, ...) {
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
#define FAIL(fld, ...) return verr(v, fld, NULL, __VA_ARGS__)
#define FAIL_AT(fld, at, ...) return verr(v, fld, at, __VA_ARGS__)

static int check_trigger(const json_t *t, verr_t *v) {
  const char *type = sget(t, "type");
  if (!json_is_object(t) || !type) FAIL("trigger", "trigger must be an object with a type");
  if (strcmp(type, "any_message") == 0) return 0;
  if (strcmp(type, "keyword") != 0) FAIL("trigger", "unknown trigger type %s", type);
  const json_t *kw = json_object_get(t, "keywords"), *k;
  size_t i;
  if (!json_is_array(kw) || json_array_size(kw) == 0 || json_array_size(kw) > 100)
    FAIL("trigger", "a keyword trigger needs 1 to 100 keywords");
  json_array_foreach(kw, i, k) if (!str_ok(k, 200))
      FAIL("trigger", "keywords must be non-empty strings");
  static const char *const matches[] = {"contains", "exact", "starts_with", NULL};
  const json_t *m = json_object_get(t, "match");
  if (m && !is_one_of(json_string_value(m), matches))
    FAIL("trigger", "match must be contains, exact or starts_with");
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
  if (strcmp(type, "message") == 0) {
    if (!str_ok(json_object_get(d, "text"), lim->max_text_bytes))
      FAIL_AT("nodes", id, "node %s: a message needs text of 1 to %zu bytes", id,
              lim->max_text_bytes);
  } else if (strcmp(type, "condition") == 0) {
    const char *kind = sget(d, "kind");
    if (!kind) FAIL_AT("nodes", id, "node %s: a condition needs a kind", id);
    if (strcmp(kind, "keyword") == 0) {
      if (!str_ok(json_object_get(d, "keyword"), 200))
        FAIL_AT("nodes", id, "node %s: keyword is missing", id);
    } else if (strcmp(kind, "tag") == 0) {
      if (!str_ok(json_object_get(d, "tag"), 100))
        FAIL_AT("nodes", id, "node %s: tag is missing", id);
    } else if (strcmp(kind, "variable") == 0) {
      if (!str_ok(json_object_get(d, "name"), 100) || !json_object_get(d, "equals"))
        FAIL_AT("nodes", id, "node %s: a variable condition needs name and equals", id);
    } else {
      FAIL_AT("nodes", id, "node %s: unknown condition kind %s", id, kind);
    }
  } else if (strcmp(type, "action") == 0) {
    const char *a = sget(d, "action");
    if (!a) FAIL_AT("nodes", id, "node %s: action is missing", id);
    if (strcmp(a, "tag_customer") == 0) {
      if (!str_ok(json_object_get(d, "tag"), 100))
        FAIL_AT("nodes", id, "node %s: tag is missing", id);
    } else if (strcmp(a, "set_variable") == 0) {
      if (!str_ok(json_object_get(d, "variable"), 100) ||
          !json_is_string(json_object_get(d, "value")) ||
          json_string_length(json_object_get(d, "value")) > lim->max_text_bytes)
        FAIL_AT("nodes", id, "node %s: set_variable needs variable and a string value", id);
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
    } else {
      FAIL_AT("nodes", id, "node %s: unknown action %s", id, a);
    }
  } else if (strcmp(type, "delay") == 0) {
    const json_t *s = json_object_get(d, "seconds");
    if (!json_is_integer(s) || json_integer_value(s) < 1 ||
        json_integer_value(s) > FLOW_MAX_DELAY_S)
      FAIL_AT("nodes", id, "node %s: a delay needs seconds from 1 to %d", id, FLOW_MAX_DELAY_S);
  } else {
    FAIL_AT("nodes", id, "node %s: unknown node type %s", id, type);
  }
  return 0;
}

static const json_t *node_by_id(const json_t *nodes, const char *id) {
  const json_t *n;
  size_t i;
  json_array_foreach(nodes, i,
                     n) if (id && sget(n, "id") && strcmp(sget(n, "id"), id) == 0) return n;
  return NULL;
}

static int check_edges(const json_t *nodes, const json_t *edges, verr_t *v) {
  const json_t *e, *n;
  size_t i, k;
  if (!json_is_array(edges)) FAIL("edges", "edges must be an array");
  json_array_foreach(edges, i, e) {
    const char *from = sget(e, "from"), *to = sget(e, "to"), *label = sget(e, "label");
    const json_t *src = node_by_id(nodes, from);
    if (!src) FAIL("edges", "edge %zu: from %s is not a node", i, from ? from : "(missing)");
    if (!node_by_id(nodes, to))
      FAIL_AT("edges", from, "node %s: edge to %s, which is not a node", from,
              to ? to : "(missing)");
    if (json_object_get(e, "label") && !json_is_null(json_object_get(e, "label")) &&
        (!label || (strcmp(label, "true") != 0 && strcmp(label, "false") != 0)))
      FAIL_AT("edges", from, "node %s: edge label must be \"true\" or \"false\"", from);
  }
  json_array_foreach(nodes, k, n) {
    const char *id = sget(n, "id");
    int t = 0, f = 0, plain = 0;
    json_array_foreach(edges, i, e) {
      if (strcmp(sget(e, "from"), id) != 0) continue;
      const char *label = sget(e, "label");
      if (label && strcmp(label, "true") == 0)
        t++;
      else if (label && strcmp(label, "false") == 0)
        f++;
      else
        plain++;
    }
    int cond = strcmp(sget(n, "type"), "condition") == 0;
    if (cond && (t != 1 || f != 1 || plain))
      FAIL_AT("edges", id, "node %s: a condition needs exactly one \"true\" and one \"false\" edge",
              id);
    if (!cond && strcmp(sget(n, "type"), "action") != 0 && (t || f))
      FAIL_AT("edges", id, "node %s: only conditions and api_call actions have labelled edges", id);
    if (!cond && (plain > 1 || t > 1 || f > 1))
      FAIL_AT("edges", id, "node %s: more than one next node", id);
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

int flow_trigger_matches(const json_t *trigger, const char *text) {
  const char *type = sget(trigger, "type");
  if (!type) return 0;
  if (strcmp(type, "any_message") == 0) return 1;
  if (strcmp(type, "keyword") != 0 || !text) return 0;
  const char *m = sget(trigger, "match");
  enum match_mode mode = !m || strcmp(m, "contains") == 0 ? M_CONTAINS
                         : strcmp(m, "exact") == 0        ? M_EXACT
                                                          : M_PREFIX;
  /* "exact" ignores surrounding spaces, as people type them. */
  const json_t *k;
  size_t i;
  json_array_foreach(json_object_get(trigger, "keywords"), i, k) {
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
                (len > 8 && strncmp(name, "message.", 8) == 0) ||
                (len > 5 && strncmp(name, "vars.", 5) == 0);
    const json_t *v = known ? lookup(ctx, name, len) : NULL;
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
