// The flow builder's calls, all through the SDK's client (web/sdk/parley.js,
// the app's only way to the server). Errors come back as plain objects with the
// envelope's fields: {status, code, message, field, node_id}.

function asError(e) {
  if (e && typeof e === 'object' && 'status' in e)
    return {
      status: e.status,
      code: e.code || 'error',
      message: e.message || 'The request failed',
      field: e.field || null,
      node_id: e.nodeId || null,
    };
  return { status: 0, code: 'error', message: String((e && e.message) || e), field: null, node_id: null };
}

function wrap(promise) {
  return promise.catch((e) => {
    throw asError(e);
  });
}

export function flowsApi(client) {
  return {
    list: () => wrap(client.listFlows()),
    get: (id) => wrap(client.getFlow(id)),
    create: (flow) => wrap(client.createFlow(flow)),
    update: (id, flow) => wrap(client.updateFlow(id, flow)),
    remove: (id) => wrap(client.deleteFlow(id)),
    test: (id, text, contact) => wrap(client.testFlow(id, text, contact || undefined)),
    runs: (id) => wrap(client.listFlowRuns(id)),
    publish: (id) => wrap(client.publishFlow(id)),
    versions: (id) => wrap(client.listFlowVersions(id)),
    restore: (id, n) => wrap(client.restoreFlowVersion(id, n)),
    stats: (id, version) => wrap(client.flowStats(id, version || undefined)),
    account: () => wrap(client.instagramStatus()),
    setTimezone: (zone) => wrap(client.setInstagramTimezone(zone)),
  };
}
