// Challenge nonces that cost no database write to issue. A nonce is self-authenticating:
//
//   nonce (32 bytes) = expiresAt (6 bytes, ms since the epoch, big-endian) ‖ random (10 bytes) ‖ MAC (16 bytes)
//   MAC = HMAC-SHA-256(K, "warden/v1 nonce" ‖ expiresAt ‖ random), truncated to 16 bytes
//
// K is derived from the master key, which every worker and replica shares, so any of them can check a
// nonce any other one issued. Single use is enforced by recording each consumed nonce until it expires:
// one INSERT … ON CONFLICT DO NOTHING, atomic on both engines, so concurrent uses of a nonce by any
// processes or replicas give exactly one 'ok'. The table holds at most (consumption rate × lifetime)
// rows: expired ones are useless (the MAC'd expiry refuses them) and are purged.
//
// The consumes of one event-loop turn are written in one transaction (as audit appends are), and each
// consume answers only once that transaction has committed: under load a commit (a WAL append and its
// locks on SQLite, a WAL flush on PostgreSQL) serves several releases instead of one each. The rows are
// inserted one by one (in byte order), so two consumes of one nonce in one group still give one 'ok'.
import crypto from 'node:crypto';
import { NONCE_BYTES, NONCE_TTL_SECONDS } from '../protocol/defaults.ts';
import type { Engine } from './engine.ts';
import { subKey } from './keyring.ts';

export type ConsumeResult = 'ok' | 'unknown' | 'used' | 'expired';

export { NONCE_BYTES } from '../protocol/defaults.ts';
export const DEFAULT_NONCE_TTL_MS = NONCE_TTL_SECONDS * 1000;
const EXPIRY_BYTES = 6;
const RANDOM_BYTES = 10;
const MAC_BYTES = 16;
const MAC_LABEL = Buffer.from('warden/v1 nonce\0', 'utf8');
/** This process purges expired consumed nonces once per this many consumptions. */
export const PURGE_EVERY = 1024;

interface PendingConsume {
  nonce: Buffer;
  expiresAt: number;
  resolve: (inserted: boolean) => void;
  reject: (e: unknown) => void;
}

const INSERT_CONSUMED = `INSERT INTO consumed_nonces (nonce, expires_at) VALUES (?, ?) ON CONFLICT (nonce) DO NOTHING`;
/** Random bytes drawn from the CSPRNG this many at a time: randomFillSync costs about 7 µs a call, whatever its size. */
const RANDOM_POOL_BYTES = 4096;

/** Most consumes written in one transaction. */
const MAX_GROUP = 256;

export class NonceStore {
  private readonly key: Buffer;
  private consumedSincePurge = 0;
  private purging: Promise<unknown> | null = null;
  private queue: PendingConsume[] = [];
  private scheduled = false;
  private readonly pool = Buffer.alloc(RANDOM_POOL_BYTES);
  private poolAt = RANDOM_POOL_BYTES;

  constructor(
    private readonly engine: Engine,
    masterKey: Buffer,
  ) {
    this.key = subKey(masterKey, 'nonces');
  }

  private mac(head: Buffer): Buffer {
    return crypto.createHmac('sha256', this.key).update(MAC_LABEL).update(head).digest().subarray(0, MAC_BYTES);
  }

  /** A fresh nonce; no database work. */
  issue(ttlMs: number = DEFAULT_NONCE_TTL_MS, now: Date = new Date()): { nonce: Buffer; expiresAt: Date } {
    if (!(ttlMs > 0)) throw new RangeError('nonce lifetime must be positive');
    const expiresAt = new Date(now.getTime() + ttlMs);
    const head = Buffer.alloc(EXPIRY_BYTES + RANDOM_BYTES);
    head.writeUIntBE(expiresAt.getTime(), 0, EXPIRY_BYTES);
    // Each pool byte is used once, then the pool is refilled from the CSPRNG.
    if (this.poolAt + RANDOM_BYTES > this.pool.length) {
      crypto.randomFillSync(this.pool);
      this.poolAt = 0;
    }
    this.pool.copy(head, EXPIRY_BYTES, this.poolAt, this.poolAt + RANDOM_BYTES);
    this.pool.fill(0, this.poolAt, this.poolAt + RANDOM_BYTES);
    this.poolAt += RANDOM_BYTES;
    return { nonce: Buffer.concat([head, this.mac(head)]), expiresAt };
  }

  /** The expiry a nonce carries if its MAC is ours, else null. Constant-time MAC comparison. */
  private expiryOf(nonce: Buffer): number | null {
    if (!Buffer.isBuffer(nonce) || nonce.length !== NONCE_BYTES) return null;
    const head = nonce.subarray(0, EXPIRY_BYTES + RANDOM_BYTES);
    if (!crypto.timingSafeEqual(this.mac(head), nonce.subarray(EXPIRY_BYTES + RANDOM_BYTES))) return null;
    return nonce.readUIntBE(0, EXPIRY_BYTES);
  }

  /** 'ok' exactly once per nonce, across every process sharing the database. Expired when now >= expiresAt. */
  async consume(nonce: Buffer, now: Date = new Date()): Promise<ConsumeResult> {
    const expiresAt = this.expiryOf(nonce);
    if (expiresAt === null) return 'unknown';
    if (now.getTime() >= expiresAt) return 'expired';
    const inserted = await new Promise<boolean>((resolve, reject) => {
      this.queue.push({ nonce: Buffer.from(nonce), expiresAt, resolve, reject });
      this.schedule();
    });
    if (++this.consumedSincePurge >= PURGE_EVERY) {
      this.consumedSincePurge = 0;
      this.purgeSoon(now);
    }
    return inserted ? 'ok' : 'used';
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate, not a microtask: the consumes of every request handled in this turn join the group.
    setImmediate(() => {
      this.scheduled = false;
      while (this.queue.length) void this.write(this.queue.splice(0, MAX_GROUP));
    });
  }

  /** One group: alone, one autocommit statement; several, one transaction. Each learns whether its row was new. */
  private async write(group: PendingConsume[]): Promise<void> {
    try {
      let inserted: boolean[];
      if (group.length === 1) {
        inserted = [(await this.engine.run(INSERT_CONSUMED, [group[0]!.nonce, group[0]!.expiresAt])).changes === 1];
      } else {
        // In byte order, so every process takes the rows' locks in the same order: on PostgreSQL two replicas'
        // groups holding the same nonces in opposite orders would otherwise deadlock, and the whole group (other
        // clients' consumes with it) would fail. A repeat in the group sorts next to its first, which gets 'ok'.
        const order = group.map((_, i) => i).sort((a, b) => Buffer.compare(group[a]!.nonce, group[b]!.nonce) || a - b);
        inserted = await this.engine.tx(async (q) => {
          const out: boolean[] = new Array<boolean>(group.length);
          for (const i of order) out[i] = (await q.run(INSERT_CONSUMED, [group[i]!.nonce, group[i]!.expiresAt])).changes === 1;
          return out;
        });
      }
      group.forEach((p, i) => p.resolve(inserted[i]!));
    } catch (e) {
      for (const p of group) p.reject(e);
    }
  }

  private purgeSoon(now: Date): void {
    if (this.purging) return;
    this.purging = this.purge(now)
      .catch(() => 0)
      .finally(() => (this.purging = null));
  }

  /** Drops consumed nonces that have expired (no longer accepted anyway); returns how many. */
  async purge(now: Date = new Date()): Promise<number> {
    return (await this.engine.run(`DELETE FROM consumed_nonces WHERE expires_at <= ?`, [now.getTime()])).changes;
  }

  /** Consumed nonces still stored (the benchmark reports it). */
  async stored(): Promise<number> {
    return Number((await this.engine.get<{ n: number }>(`SELECT COUNT(*) AS n FROM consumed_nonces`))?.n ?? 0);
  }
}
