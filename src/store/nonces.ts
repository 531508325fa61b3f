// Single-use challenge nonces. consume() is one conditional UPDATE, so concurrent uses of a nonce
// (in this process or another one sharing the file) give exactly one 'ok'.
import crypto from 'node:crypto';
import type { Database, Statement } from 'better-sqlite3';
import { NONCE_BYTES, NONCE_TTL_SECONDS } from '../protocol/defaults.ts';

export type ConsumeResult = 'ok' | 'unknown' | 'used' | 'expired';

export { NONCE_BYTES } from '../protocol/defaults.ts';
export const DEFAULT_NONCE_TTL_MS = NONCE_TTL_SECONDS * 1000;
// Used and expired nonces are kept this long after expiry so a late replay still reads 'used'/'expired'.
const RETAIN_MS = 24 * 3600 * 1000;

export class NonceStore {
  private issuedSincePurge = 0;
  // Prepared once: preparing on every call was a measurable share of a key release.
  private readonly insert: Statement<[Buffer, number, number]>;
  private readonly use: Statement<[number, Buffer, number]>;
  private readonly state: Statement<[Buffer], { used_at: number | null }>;
  private readonly drop: Statement<[number]>;

  constructor(db: Database) {
    this.insert = db.prepare(`INSERT INTO nonces (nonce, issued_at, expires_at) VALUES (?, ?, ?)`);
    this.use = db.prepare(`UPDATE nonces SET used_at = ? WHERE nonce = ? AND used_at IS NULL AND expires_at > ?`);
    this.state = db.prepare(`SELECT used_at FROM nonces WHERE nonce = ?`);
    this.drop = db.prepare(`DELETE FROM nonces WHERE expires_at < ?`);
  }

  issue(ttlMs: number = DEFAULT_NONCE_TTL_MS, now: Date = new Date()): { nonce: Buffer; expiresAt: Date } {
    if (!(ttlMs > 0)) throw new RangeError('nonce lifetime must be positive');
    const nonce = crypto.randomBytes(NONCE_BYTES);
    const expiresAt = new Date(now.getTime() + ttlMs);
    this.insert.run(nonce, now.getTime(), expiresAt.getTime());
    if (++this.issuedSincePurge >= 256) {
      this.issuedSincePurge = 0;
      this.purge(now);
    }
    return { nonce, expiresAt };
  }

  consume(nonce: Buffer, now: Date = new Date()): ConsumeResult {
    if (!Buffer.isBuffer(nonce) || nonce.length !== NONCE_BYTES) return 'unknown';
    const t = now.getTime();
    // One conditional UPDATE is atomic on its own (SQLite holds the write lock for the statement, across
    // processes too): exactly one caller changes the row. Expired when now >= expiresAt.
    if (this.use.run(t, nonce, t).changes === 1) return 'ok';
    // Why not: a refused nonce never becomes usable again, so reading after the UPDATE is race-free.
    const row = this.state.get(nonce);
    if (!row) return 'unknown';
    return row.used_at !== null ? 'used' : 'expired';
  }

  /** Drops nonces long past expiry; returns how many. */
  purge(now: Date = new Date()): number {
    return this.drop.run(now.getTime() - RETAIN_MS).changes;
  }
}
