// Single-use challenge nonces. consume() is one conditional UPDATE, so concurrent uses of a nonce
// (in this process or another one sharing the file) give exactly one 'ok'.
import crypto from 'node:crypto';
import type { Database } from 'better-sqlite3';

export type ConsumeResult = 'ok' | 'unknown' | 'used' | 'expired';

export const NONCE_BYTES = 32;
export const DEFAULT_NONCE_TTL_MS = 120_000;
// Used and expired nonces are kept this long after expiry so a late replay still reads 'used'/'expired'.
const RETAIN_MS = 24 * 3600 * 1000;

export class NonceStore {
  private issuedSincePurge = 0;

  constructor(private readonly db: Database) {}

  issue(ttlMs: number = DEFAULT_NONCE_TTL_MS, now: Date = new Date()): { nonce: Buffer; expiresAt: Date } {
    if (!(ttlMs > 0)) throw new RangeError('nonce lifetime must be positive');
    const nonce = crypto.randomBytes(NONCE_BYTES);
    const expiresAt = new Date(now.getTime() + ttlMs);
    this.db
      .prepare(`INSERT INTO nonces (nonce, issued_at, expires_at) VALUES (?, ?, ?)`)
      .run(nonce, now.getTime(), expiresAt.getTime());
    if (++this.issuedSincePurge >= 256) {
      this.issuedSincePurge = 0;
      this.purge(now);
    }
    return { nonce, expiresAt };
  }

  consume(nonce: Buffer, now: Date = new Date()): ConsumeResult {
    if (!Buffer.isBuffer(nonce) || nonce.length !== NONCE_BYTES) return 'unknown';
    const t = now.getTime();
    const run = this.db.transaction((): ConsumeResult => {
      // Expired when now >= expiresAt.
      const changed = this.db
        .prepare(`UPDATE nonces SET used_at = ? WHERE nonce = ? AND used_at IS NULL AND expires_at > ?`)
        .run(t, nonce, t).changes;
      if (changed === 1) return 'ok';
      const row = this.db.prepare(`SELECT used_at FROM nonces WHERE nonce = ?`).get(nonce) as
        | { used_at: number | null }
        | undefined;
      if (!row) return 'unknown';
      return row.used_at !== null ? 'used' : 'expired';
    });
    return run.immediate();
  }

  /** Drops nonces long past expiry; returns how many. */
  purge(now: Date = new Date()): number {
    return this.db.prepare(`DELETE FROM nonces WHERE expires_at < ?`).run(now.getTime() - RETAIN_MS).changes;
  }
}
