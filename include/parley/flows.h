/* Automation flows (API.md, Flows): the model (validation, triggers, template
 * filling) and the engine, a pure step function from (flow, run state, event)
 * to (next state, actions) with no I/O. The runner (src/flows/runner.c)
 * performs the actions. Pure; any thread. */
#ifndef PARLEY_FLOWS_H
#define PARLEY_FLOWS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define FLOW_MAX_STEPS 100
#define FLOW_MAX_DELAY_S 86400
/* Bounds on what a run may produce, enforced by the engine so that the live
 * runner and the dry run share them: one filled-in template (a message, a
 * variable's value, a URL), and everything a run renders in all its steps
 * together. A run that would pass either ends with status "output_limit". */
#define FLOW_MAX_RENDER_BYTES 8192
#define FLOW_MAX_RUN_OUTPUT (64 * 1024)
#define FLOW_MAX_POSITION 1000000 /* a node's position: |x|, |y| at most */
#define FLOW_MAX_PRIORITY 1000    /* settings.priority: -1000..1000 */
#define FLOW_MAX_COOLDOWN_S (30 * 86400)

typedef struct flow_limits_s {
  size_t max_nodes;      /* 200 */
  size_t max_text_bytes; /* 4000: message text, keywords, values */
} flow_limits_t;

/* Checks a flow definition (the body of POST/PUT without id): name, status,
 * trigger, nodes (unique ids, known types, valid data), edges (both ends exist,
 * labels), start, conditions with both a "true" and a "false" edge, delays of at
 * most 86400 s, sizes. Returns 0, or -1 with a message naming the node (or
 * field) in err and the field name in field. */
int flow_validate(const json_t *flow, const flow_limits_t *limits, char *err, size_t errlen,
                  char *field, size_t fieldlen);
/* As flow_validate, and writes the id of the node the error is about into
 * node_id ("" when it is about the flow as a whole), for the error envelope's
 * node_id. A node's optional position must be {x, y}, numbers within
 * FLOW_MAX_POSITION. */
int flow_validate_node(const json_t *flow, const flow_limits_t *limits, char *err, size_t errlen,
                       char *field, size_t fieldlen, char *node_id, size_t node_idlen);

/* 1 when an inbound event fires the flow's trigger. event = {kind, text?,
 * payload?, ref?, comment_id?, media_id?} as the Instagram ingest reports it
 * (kind "message", "story_reply", "story_mention", "postback", "referral" or
 * "comment"). keyword (contains, exact or starts_with; case-insensitive with
 * Unicode case folding) and any_message fire on direct messages, story
 * replies and mentions included; postback on one of its payloads (a button or
 * a quick reply, never a keyword); referral on one of its refs (none: any);
 * comment on a comment, filtered by media_ids and keywords when given;
 * story_reply and story_mention on their kind. */
int flow_trigger_matches(const json_t *trigger, const json_t *event);
/* 1 when haystack contains needle, case-insensitively (Unicode-aware). */
int flow_text_contains(const char *haystack, const char *needle);

/* How flow_fill writes the values it inserts: as they are (message text,
 * variables), or percent-encoded as one URL component (every byte but RFC 3986's
 * unreserved ones, and a value of only dots, so that a value can add neither a
 * path segment, a query parameter nor a fragment). */
typedef enum { FLOW_FILL_TEXT, FLOW_FILL_URL } flow_fill_mode_t;

/* Fills {{contact.username}}, {{message.text}} and {{vars.NAME}} (NAME may be a
 * dotted path into a saved JSON object) from ctx = {contact: {...}, message:
 * {text}, vars: {...}}. Unknown or missing values become empty; the result is
 * never scanned again. Returns a malloc'd string, or NULL when the result would
 * be longer than max bytes (the work stops there) or memory ran out. */
char *flow_fill(const char *tmpl, const json_t *ctx, flow_fill_mode_t mode, size_t max);
/* flow_fill with {{vars.NAME}} read from vars instead of ctx's "vars" (ctx with
 * "vars" set to vars fills alike): a run's step fills its templates without a
 * copy of its context. */
char *flow_fill_vars(const char *tmpl, const json_t *ctx, const json_t *vars, flow_fill_mode_t mode,
                     size_t max);

/* The fixed part of an api_call URL template: scheme, host and port, up to the
 * first '/', '?' or '#' after "://". Returns its length, or 0 when the template
 * is not absolute http(s) or a placeholder stands inside it (a value must never
 * choose where a request goes). */
size_t flow_url_authority_len(const char *tmpl);

/* The run state: {node, steps, output, status, vars, tags, trace, seed?,
 * comment_replied?, start?}. status is "running", "waiting" (for an api_call
 * result, a delay or an ask's answer), "completed", "step_limit",
 * "output_limit" or "failed"; output counts the bytes rendered; seed drives
 * the randomizer (the runner sets it; the engine stays replayable). ctx as for
 * flow_fill (contact, message) plus event (what started the run, as for
 * flow_trigger_matches) and local {weekday (0 = Sunday), minute}: the time in
 * the account's time zone, for time conditions. vars and tags live in the
 * state and start from the contact's. */
json_t *flow_state_new(const json_t *flow, const json_t *contact);

/* Advances the run by one node. Appends to *actions (a JSON array) what the
 * runner must do, in order:
 *   {type: "send", text, message?, comment_id?}: message is Meta's message
 *     object when the send is more than text (quick_replies, a button
 *     template, an image or video attachment); comment_id makes it the
 *     private reply to that comment (the first send of a comment's run);
 *   {type: "comment_reply", comment_id, text}: the public reply to a comment;
 *   {type: "tag" | "untag", tag}; {type: "set_variable", name, value} (value
 *     null clears it); {type: "notify", text}; {type: "handover", seconds}
 *     (0: the configured pause);
 *   {type: "api_call", url, method, body?, headers?: ["Name: value"], save_as?};
 *   {type: "delay", seconds}; {type: "wait", seconds}: an ask waits for the
 *     contact's next message at most that long.
 * A trace entry {node_id, type, result} is appended to state.trace (a
 * randomizer's result names its branch). Returns the new status. Call again
 * while it returns "running". */
const char *flow_step(const json_t *flow, json_t *state, const json_t *ctx, json_t *actions);

/* Resumes a run that waits. For an api_call, result is the response JSON (or
 * null on failure, which fails the run unless the node has a "false" edge);
 * values of the node's map are saved as variables. For an ask, result is the
 * answer as a JSON string (checked, saved, then the unlabelled edge, or the
 * "invalid" one) or anything else for the timeout (the "timeout" edge). For a
 * delay, result is ignored. Appends set_variable actions to actions (may be
 * NULL). Without the edge to follow, the run completes. */
void flow_resume(const json_t *flow, json_t *state, json_t *result, json_t *actions);

/* A flow's nodes and edges indexed once (flow_step and flow_resume look each
 * up in the JSON tree on every step): for a runner that steps one flow many
 * times. The graph holds a reference to flow, which must not change while it
 * lives. NULL when memory ran out. Any thread; a graph is used by one at a time. */
typedef struct flow_graph_s flow_graph_t;
flow_graph_t *flow_graph_new(const json_t *flow);
void flow_graph_free(flow_graph_t *g);

/* flow_step and flow_resume on an indexed flow: the same results. */
const char *flow_graph_step(const flow_graph_t *g, json_t *state, const json_t *ctx,
                            json_t *actions);
void flow_graph_resume(const flow_graph_t *g, json_t *state, json_t *result, json_t *actions);

/* Run once and cooldown (flow.settings): 1 when the flow may start for a
 * contact whose newest run of it (a stored run, or NULL for none) began at
 * its created_at; else 0 with *why "run_once" or "cooldown". now_ms: the
 * clock, passed in. */
int flow_settings_allow(const json_t *flow, const json_t *last_run, int64_t now_ms,
                        const char **why);
/* settings.priority (0 when unset). */
int flow_priority(const json_t *flow);

#endif
