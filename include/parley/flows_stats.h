/* Flow analytics (API.md, Flows: analytics): the counters a piece of a run
 * adds, the view GET /api/flows/:id/stats answers from the counters, and the
 * message node whose button a postback's payload names. Pure; any thread. */
#ifndef PARLEY_FLOWS_STATS_H
#define PARLEY_FLOWS_STATS_H

#include <jansson.h>
#include <stddef.h>

/* The increments for a piece of a run whose trace grew from entry `from` on:
 * "node:<id>" for each node reached for the first time in the run,
 * "sent:<id>" for each message (or ask's question) sent, "started" and "day:<day>" when started
 * (day "YYYY-MM-DD"), and the final status's key ("completed", "failed",
 * "step_limit", "output_limit") when status is final. A new object ({} when
 * nothing counts). Borrowed arguments. */
json_t *flow_stats_delta(const json_t *trace, size_t from, int started, const char *day,
                         const char *status);

/* {version, runs: {started, completed, failed, step_limit, output_limit},
 * nodes: [{node_id, type, reached, runs, sent, clicks, click_through}] in the
 * flow's order (reached: distinct contacts, "contacts:<id>" of the version
 * when version is an integer, else "contacts_all:<id>"; runs: "node:<id>") (click_through = clicks
 * / sent, null before a send), days:
 * [{date, started}] oldest first} from the counters of FLOW_STATS_GET and the
 * flow's graph. A new object. */
json_t *flow_stats_view(const json_t *flow, const json_t *counters, const json_t *version);

/* The id of the message (or ask) node of flow whose buttons or quick replies carry
 * payload (data.buttons[].payload, data.quick_replies[].payload), or NULL.
 * Borrowed from flow. */
const char *flow_stats_click_node(const json_t *flow, const char *payload);

#endif
