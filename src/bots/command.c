/* Commands in message text ("/name args", Telegram's shape): parsed once on
 * the way to a bot's webhook, so the bot reads fields instead of text. Pure;
 * any thread. */
#include <ctype.h>
#include <string.h>

#include "parley/bots.h"

static int blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int word_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* Copies [s, s+n) lower-cased into out (BOTS_COMMAND_NAME_MAX + 1 bytes):
 * 0, or -1 when it is empty, too long or holds anything but [A-Za-z0-9_]. */
static int copy_name(const char *s, size_t n, char *out) {
  if (n == 0 || n > BOTS_COMMAND_NAME_MAX) return -1;
  for (size_t i = 0; i < n; i++) {
    if (!word_char(s[i])) return -1;
    out[i] = (char)tolower((unsigned char)s[i]);
  }
  out[n] = 0;
  return 0;
}

int bots_command_parse(const char *text, size_t len, bots_command_t *out) {
  if (!text || len < 2 || text[0] != '/') return 0;
  size_t end = 1;
  while (end < len && !blank(text[end])) end++;
  const char *at = memchr(text + 1, '@', end - 1);
  size_t name_len = at ? (size_t)(at - text - 1) : end - 1;
  memset(out, 0, sizeof(*out));
  if (copy_name(text + 1, name_len, out->name) != 0) return 0;
  if (at && copy_name(at + 1, (size_t)(text + end - at - 1), out->bot) != 0) return 0;
  size_t a = end;
  while (a < len && blank(text[a])) a++;
  size_t z = len;
  while (z > a && blank(text[z - 1])) z--;
  out->args = text + a;
  out->args_len = z - a;
  return 1;
}

json_t *bots_command_json(const char *text) {
  bots_command_t c;
  if (!text || !bots_command_parse(text, strlen(text), &c)) return json_null();
  size_t n = c.args_len < BOTS_COMMAND_ARGS_MAX ? c.args_len : BOTS_COMMAND_ARGS_MAX;
  json_t *argv = json_array();
  for (size_t i = 0; i < n;) {
    while (i < n && blank(c.args[i])) i++;
    size_t j = i;
    while (j < n && !blank(c.args[j])) j++;
    if (j > i) json_array_append_new(argv, json_stringn(c.args + i, j - i));
    i = j;
  }
  json_t *cmd = json_pack("{s:s, s:s%, s:o}", "name", c.name, "args", c.args, n, "argv", argv);
  if (cmd && c.bot[0]) json_object_set_new(cmd, "bot", json_string(c.bot));
  return cmd ? cmd : json_null();
}
