// Rate-limited summary entries for refusals that deserve no audit row each. Anyone can send an attest
// with a made-up nonce, as fast as the rate limit allows; one permanent row per such request let
// unauthenticated traffic grow the trail without bound (issue #14, finding 2). Such refusals are
// counted here (and in /metrics) and written as at most one summary entry per interval: how many, for
// which reasons, from how many client addresses, and the busiest ones.
import type { AuditLogLike } from './deps.ts';

export const SUMMARY_INTERVAL_MS = 60_000;
/** Client addresses named in one summary (the busiest); the rest are only counted. */
const TOP_CLIENTS = 10;
/** Distinct addresses tracked per interval; past this, requests are counted without their address. */
const MAX_TRACKED = 10_000;

export interface AuditSummaryOptions {
  /** The audit entry's type and what the summary is about. */
  type: string;
  what: string;
  intervalMs?: number;
  now?: () => Date;
  /** Told when writing a summary failed (the counts are kept for the next one). */
  onError?: (e: unknown) => void;
}

export class AuditSummary {
  private since: Date;
  private total = 0;
  private readonly reasons = new Map<string, number>();
  private readonly clients = new Map<string, number>();
  private untracked = 0;
  private readonly timer: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();
  private readonly now: () => Date;

  constructor(
    private readonly audit: AuditLogLike,
    private readonly opts: AuditSummaryOptions,
  ) {
    this.now = opts.now ?? (() => new Date());
    this.since = this.now();
    this.timer = setInterval(() => void this.flush(), opts.intervalMs ?? SUMMARY_INTERVAL_MS);
    this.timer.unref();
  }

  /** Counts one refusal; nothing is written now. */
  note(reason: string, client: string): void {
    this.total++;
    this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1);
    const n = this.clients.get(client);
    if (n !== undefined) this.clients.set(client, n + 1);
    else if (this.clients.size < MAX_TRACKED) this.clients.set(client, 1);
    else this.untracked++;
  }

  /** Writes one summary entry for what was counted since the last one; nothing when nothing was. */
  flush(): Promise<void> {
    this.writing = this.writing.then(() => this.write());
    return this.writing;
  }

  private async write(): Promise<void> {
    if (this.total === 0) return;
    const to = this.now();
    const top = [...this.clients].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, TOP_CLIENTS);
    const data = {
      what: this.opts.what,
      from: this.since.toISOString(),
      to: to.toISOString(),
      count: this.total,
      reasons: Object.fromEntries([...this.reasons].sort()),
      clients: this.clients.size + (this.untracked ? 1 : 0),
      top: top.map(([client, count]) => ({ client, count })),
      ...(this.untracked ? { untracked: this.untracked } : {}),
    };
    const counted = { total: this.total, reasons: new Map(this.reasons), clients: new Map(this.clients), untracked: this.untracked };
    this.reset(to);
    try {
      await this.audit.append({ type: this.opts.type, outcome: 'summary', data });
    } catch (e) {
      // Nothing counted is dropped: put it back for the next summary.
      this.total += counted.total;
      for (const [r, n] of counted.reasons) this.reasons.set(r, (this.reasons.get(r) ?? 0) + n);
      for (const [c, n] of counted.clients) this.clients.set(c, (this.clients.get(c) ?? 0) + n);
      this.untracked += counted.untracked;
      this.since = new Date(Math.min(this.since.getTime(), new Date(data.from).getTime()));
      this.opts.onError?.(e);
    }
  }

  private reset(at: Date): void {
    this.since = at;
    this.total = 0;
    this.untracked = 0;
    this.reasons.clear();
    this.clients.clear();
  }

  /** Stops the timer and writes what is left. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
