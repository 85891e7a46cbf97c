/* Automation flows (API.md, Flows): the model (validation, triggers, template
 * filling) and the engine, a pure step function from (flow, run state, event)
 * to (next state, actions) with no I/O. The runner (src/flows/runner.c)
 * performs the actions. Pure; any thread. */
#ifndef PARLEY_FLOWS_H
#define PARLEY_FLOWS_H

#include <jansson.h>
#include <stddef.h>

#define FLOW_MAX_STEPS 100
#define FLOW_MAX_DELAY_S 86400
/* Bounds on what a run may produce, enforced by the engine so that the live
 * runner and the dry run share them: one filled-in template (a message, a
 * variable's value, a URL), and everything a run renders in all its steps
 * together. A run that would pass either ends with status "output_limit". */
#define FLOW_MAX_RENDER_BYTES 8192
#define FLOW_MAX_RUN_OUTPUT (64 * 1024)
#define FLOW_MAX_POSITION 1000000 /* a node's position: |x|, |y| at most */

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

/* 1 when an incoming text fires the flow's trigger: keyword (contains, exact or
 * starts_with; case-insensitive with Unicode case folding) or any_message. */
int flow_trigger_matches(const json_t *trigger, const char *text);
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

/* The fixed part of an api_call URL template: scheme, host and port, up to the
 * first '/', '?' or '#' after "://". Returns its length, or 0 when the template
 * is not absolute http(s) or a placeholder stands inside it (a value must never
 * choose where a request goes). */
size_t flow_url_authority_len(const char *tmpl);

/* The run state: {node, steps, output, status, vars, tags, trace}. status is
 * "running", "waiting" (for an api_call result or a delay), "completed",
 * "step_limit", "output_limit" or "failed"; output counts the bytes rendered. ctx as for flow_fill
 * (contact, message); vars and tags live in the state and start from the contact's. */
json_t *flow_state_new(const json_t *flow, const json_t *contact);

/* Advances the run by one node. Appends to *actions (a JSON array) what the
 * runner must do: {type: "send", text}, {type: "tag", tag}, {type: "set_variable",
 * name, value}, {type: "api_call", url, method, body, save_as}, {type: "delay",
 * seconds}. A trace entry {node_id, type, result} is appended to state.trace.
 * Returns the new status. Call again while it returns "running". */
const char *flow_step(const json_t *flow, json_t *state, const json_t *ctx, json_t *actions);

/* Resumes a run that waits: for an api_call, result is the saved JSON (or null
 * on failure, which fails the run unless the node has a "false" edge); for a
 * delay, result is ignored. Moves to the next node and sets status running. */
void flow_resume(const json_t *flow, json_t *state, json_t *result);

#endif
