/* InstantChat compatibility (API.md, Flows): its React Flow JSON converted
 * into Parley's flow model, and the entry a flow saved without a trigger or a
 * start gets. Pure; any thread. */
#ifndef PARLEY_FLOWS_INSTANTCHAT_H
#define PARLEY_FLOWS_INSTANTCHAT_H

#include <jansson.h>
#include <stddef.h>

/* 1 when body is InstantChat's shape: a node typed messageNode, conditionNode
 * or actionNode, or an edge with source/target. Borrowed. */
int flow_is_instantchat(const json_t *body);

/* Converts InstantChat's {name, status?, nodes: [{id, type, position, data}],
 * edges: [{id, source, target, sourceHandle?}]} into Parley's {name, status?,
 * nodes, edges} (messageNode {content} -> message {text}, conditionNode
 * {keyword} -> condition {kind: keyword}, actionNode {action: tag_customer,
 * tag} -> action, sourceHandle -> label). Returns a new object, or NULL with a
 * message naming the node and field (as flow_validate_node) when a node or an
 * edge has a shape it cannot convert. The result still needs validating. */
json_t *flow_from_instantchat(const json_t *body, char *err, size_t errlen, char *field,
                              size_t fieldlen, char *node_id, size_t node_idlen);

/* Gives a flow without a trigger {type: any_message} and without a start the
 * first node (in the order given) that no edge leads to, as InstantChat's
 * engine starts; without edges, an empty list. Changes flow in place. */
void flow_default_entry(json_t *flow);

#endif
