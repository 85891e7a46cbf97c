/* Fuzz target: a message text read as a bot command (src/bots/command.c), the
 * outside input every bot delivery parses. Parsing must never crash or read out
 * of bounds; a command's name is 1 to 32 of [a-z0-9_], its arguments lie inside
 * the text, and its JSON form encodes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parley/bots.h"

static int name_ok(const char *s, int may_be_empty) {
  size_t n = strlen(s);
  if ((!may_be_empty && n == 0) || n > BOTS_COMMAND_NAME_MAX) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) return 0;
  return 1;
}

/* assert() is gone in release builds; these checks are not. */
#define CHECK(x)       \
  do {                 \
    if (!(x)) abort(); \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bots_command_t c;
  const char *text = (const char *)data;
  if (bots_command_parse(text, size, &c)) {
    CHECK(name_ok(c.name, 0) && name_ok(c.bot, 1));
    CHECK(c.args >= text && c.args + c.args_len <= text + size);
  }
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  json_t *j = bots_command_json(s);
  CHECK(j);
  /* A command (an object) or not (null); text that is not UTF-8 makes no command. */
  CHECK(json_is_null(j) || json_is_object(j));
  if (json_is_object(j)) {
    CHECK(name_ok(json_string_value(json_object_get(j, "name")), 0));
    char *out = json_dumps(j, 0);
    CHECK(out);
    free(out);
  }
  json_decref(j);
  free(s);
  return 0;
}
