// Reconnect delays and the client's own frame pacing.

/**
 * Exponential backoff with "equal jitter": the cap doubles with each attempt
 * (base, 2 base, 4 base ... up to max) and the delay is uniformly drawn from
 * [cap / 2, cap], so clients that lost the same server do not return together.
 * @param {number} attempt 0 for the first retry
 * @param {{baseMs?: number, maxMs?: number}} [opts]
 * @param {() => number} [random] uniform in [0, 1)
 * @returns {number} milliseconds
 */
export function backoffDelay(attempt, opts = {}, random = Math.random) {
  const base = opts.baseMs ?? 500;
  const max = opts.maxMs ?? 30000;
  const cap = Math.min(max, base * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.round(cap / 2 + random() * (cap / 2));
}

/**
 * A token bucket in front of the socket: at most `rate` frames a second with
 * bursts of `burst`, kept below the server's own limit (docs/API.md: 20 a
 * second, bursts of 40) so that recovery never draws `rate_limited`.
 * Frames wait in a bounded queue; clear() drops them (on disconnect).
 */
export class Pacer {
  constructor({ rate, burst, maxQueue = 2000, now, setTimeout, clearTimeout }, send) {
    this.rate = rate;
    this.burst = burst;
    this.maxQueue = maxQueue;
    this._now = now;
    this._setTimeout = setTimeout;
    this._clearTimeout = clearTimeout;
    this._send = send;
    this._tokens = burst;
    this._at = now();
    this._queue = [];
    this._timer = null;
  }

  _fill() {
    const t = this._now();
    this._tokens = Math.min(this.burst, this._tokens + ((t - this._at) * this.rate) / 1000);
    this._at = t;
  }

  /** Takes one token now if there is one (for frames that cannot wait). */
  take() {
    this._fill();
    if (this._tokens < 1) return false;
    this._tokens -= 1;
    return true;
  }

  /** Queues a frame; returns false when the queue is full. */
  push(frame) {
    if (this._queue.length >= this.maxQueue) return false;
    this._queue.push(frame);
    this._pump();
    return true;
  }

  get queued() {
    return this._queue.length;
  }

  _pump() {
    while (this._queue.length && this.take()) this._send(this._queue.shift());
    if (this._queue.length && !this._timer) {
      const wait = Math.max(1, Math.ceil(((1 - this._tokens) * 1000) / this.rate));
      this._timer = this._setTimeout(() => {
        this._timer = null;
        this._pump();
      }, wait);
    }
  }

  clear() {
    this._queue = [];
    if (this._timer) this._clearTimeout(this._timer);
    this._timer = null;
  }
}
