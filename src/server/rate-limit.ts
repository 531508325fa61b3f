// Per-client token buckets: a burst allowance refilled at a steady rate, so one address cannot
// exhaust nonces or verification CPU for everyone else.

export interface RateLimitOptions {
  /** Bucket size: requests allowed at once. */
  burst: number;
  /** Tokens added per second. */
  perSecond: number;
  /** Upper bound on tracked clients; the stalest are dropped first. */
  maxClients?: number;
}

interface Bucket {
  tokens: number;
  updated: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly maxClients: number;

  constructor(private readonly opts: RateLimitOptions) {
    if (!(opts.burst >= 1) || !(opts.perSecond > 0)) throw new Error('rate limit: burst must be >= 1 and perSecond > 0');
    this.maxClients = opts.maxClients ?? 10_000;
  }

  /** Take one token for `key`. Returns 0 when allowed, else the seconds to wait. */
  take(key: string, nowMs: number = Date.now()): number {
    let b = this.buckets.get(key);
    if (b) {
      b.tokens = Math.min(this.opts.burst, b.tokens + ((nowMs - b.updated) / 1000) * this.opts.perSecond);
      b.updated = nowMs;
      // Re-insert so Map order stays least-recently-used first.
      this.buckets.delete(key);
    } else {
      b = { tokens: this.opts.burst, updated: nowMs };
    }
    this.buckets.set(key, b);
    if (this.buckets.size > this.maxClients) {
      const oldest = this.buckets.keys().next();
      if (!oldest.done) this.buckets.delete(oldest.value);
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.opts.perSecond));
  }
}
