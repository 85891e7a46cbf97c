// The one error type the SDK throws: the server's error envelope, or a local
// failure (network, closed session) given the same shape.

/** An API error: `status` is the HTTP status (0 when the server was not reached),
 * `code` the envelope's snake_case code, `field` and `nodeId` what it names. */
export class ParleyError extends Error {
  /**
   * @param {number} status HTTP status, 0 for network failures
   * @param {string} code   e.g. "validation_failed", "network", "logged_out"
   * @param {string} message human-readable text
   * @param {{field?: string, nodeId?: string, retryAfter?: number}} [extra]
   */
  constructor(status, code, message, extra = {}) {
    super(message || code);
    this.name = 'ParleyError';
    this.status = status;
    this.code = code;
    if (extra.field !== undefined) this.field = extra.field;
    if (extra.nodeId !== undefined) this.nodeId = extra.nodeId;
    if (extra.retryAfter !== undefined) this.retryAfter = extra.retryAfter;
  }
}

/** Builds a ParleyError from a parsed envelope body (or anything else). */
export function errorFromEnvelope(status, body, retryAfter) {
  const e = body && typeof body === 'object' && body.error && typeof body.error === 'object'
    ? body.error : {};
  return new ParleyError(status, typeof e.code === 'string' ? e.code : `http_${status}`,
    typeof e.message === 'string' ? e.message : `HTTP ${status}`,
    { field: e.field, nodeId: e.node_id, retryAfter });
}
