/* window: the messaging window of a reply (see window.h). Reads the contact's
 * last_inbound_at and the configuration; owns nothing. Loop thread. */
#include "instagram/window.h"

#include <string.h>

#include "parley/util.h"

#define WINDOW_MS (24LL * 3600 * 1000)
#define TAGGED_WINDOW_MS (7LL * 24 * 3600 * 1000)

static int human_agent_tag(const app_t *app) {
  return app->cfg.ig_human_agent_tag && strcmp(app->cfg.ig_human_agent_tag, "on") == 0;
}

int ig_window_open(const app_t *app, const json_t *contact, int agent, const char **tag) {
  int64_t last = 0;
  const char *at = json_string_value(json_object_get(contact, "last_inbound_at"));
  *tag = NULL;
  if (!at || util_parse_iso8601(at, &last) != 0) return 0;
  int64_t age = util_now_ms() - last;
  if (age <= WINDOW_MS) return 1;
  if (!agent || !human_agent_tag(app) || age > TAGGED_WINDOW_MS) return 0;
  *tag = "HUMAN_AGENT";
  return 1;
}

json_t *ig_window_json(const app_t *app) {
  return json_pack("{s:i, s:i}", "hours", (int)(WINDOW_MS / 3600000), "agent_hours",
                   (int)((human_agent_tag(app) ? TAGGED_WINDOW_MS : WINDOW_MS) / 3600000));
}
