// The flow builder's calls, all through the SDK's client (web/sdk/parley.js):
// the app reaches the server only through it. Errors come back as the API's
// envelope fields {status, code, message, field, node_id}.

function asError(e) {
  if (e && typeof e === 'object' && ('code' in e || 'status' in e)) {
    const body = e.body && e.body.error ? e.body.error : {};
    return {
      status: e.status,
      code: e.code || body.code || 'error',
      message: e.message || body.message || 'The request failed',
      field: e.field || body.field || null,
      node_id: e.node_id || e.nodeId || body.node_id || null,
    };
  }
  return { status: 0, code: 'network', message: (e && e.message) || String(e), field: null, node_id: null };
}

async function call(client, method, path, body) {
  try {
    return await client.request(method, path, body);
  } catch (e) {
    throw asError(e);
  }
}

export function flowsApi(client) {
  return {
    list: () => call(client, 'GET', '/api/flows').then((r) => r.flows),
    get: (id) => call(client, 'GET', `/api/flows/${encodeURIComponent(id)}`).then((r) => r.flow),
    create: (flow) => call(client, 'POST', '/api/flows', flow).then((r) => r.flow),
    update: (id, flow) =>
      call(client, 'PUT', `/api/flows/${encodeURIComponent(id)}`, flow).then((r) => r.flow),
    remove: (id) => call(client, 'DELETE', `/api/flows/${encodeURIComponent(id)}`),
    test: (id, text, contact) =>
      call(client, 'POST', `/api/flows/${encodeURIComponent(id)}/test`, contact ? { text, contact } : { text }),
    runs: (id) => call(client, 'GET', `/api/flows/${encodeURIComponent(id)}/runs`).then((r) => r.runs),
  };
}
