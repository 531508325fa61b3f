// The audit trail: an append-only hash chain. Each entry's hash covers the previous entry's hash and
// the canonical JSON of its own fields, and the chain head is kept in `meta`, so editing, removing,
// reordering or truncating entries is detected by verify().
import crypto from 'node:crypto';
import type { Database, Statement, Transaction } from 'better-sqlite3';
import { StoreError } from './errors.ts';

export interface AuditEntry {
  id: number;
  ts: string;
  type: string;
  actor?: string;
  outcome?: string;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export type AuditVerifyResult = { ok: true; count: number } | { ok: false; firstBadId: number; reason: string };

const GENESIS = '0'.repeat(64);

interface Row {
  id: number;
  ts: string;
  type: string;
  actor: string | null;
  outcome: string | null;
  data: string;
  prev_hash: string;
  hash: string;
}

/** JSON with object keys sorted at every level, so the same entry always hashes the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(normalize(value, '$'));
}

function normalize(v: unknown, where: string): unknown {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new StoreError('audit_invalid_entry', `audit data ${where} is not a finite number`);
    return v;
  }
  if (v === undefined) return null;
  // Binary values are how key material travels; refusing them keeps it out of the trail.
  if (Buffer.isBuffer(v) || ArrayBuffer.isView(v) || v instanceof ArrayBuffer) {
    throw new StoreError('audit_invalid_entry', `audit data ${where} is binary; record an identifier, not bytes`);
  }
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map((x, i) => normalize(x, `${where}[${i}]`));
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = normalize(x, `${where}.${k}`);
    }
    return out;
  }
  throw new StoreError('audit_invalid_entry', `audit data ${where} has an unsupported type (${typeof v})`);
}

function entryHash(prevHash: string, e: { id: number; ts: string; type: string; actor: string | null; outcome: string | null; data: unknown }): string {
  const body = canonicalJson({ id: e.id, ts: e.ts, type: e.type, actor: e.actor, outcome: e.outcome, data: e.data });
  return crypto.createHash('sha256').update(Buffer.from(prevHash, 'hex')).update(body, 'utf8').digest('hex');
}

function toEntry(r: Row): AuditEntry {
  const e: AuditEntry = { id: r.id, ts: r.ts, type: r.type, data: JSON.parse(r.data) as Record<string, unknown>, prevHash: r.prev_hash, hash: r.hash };
  if (r.actor !== null) e.actor = r.actor;
  if (r.outcome !== null) e.outcome = r.outcome;
  return e;
}

export class AuditLog {
  // Prepared once, and the append transaction built once: both were per-call costs on the attest path.
  private readonly last: Statement<[], { id: number; hash: string }>;
  private readonly insert: Statement<[number, string, string, string | null, string | null, string, string, string]>;
  private readonly setHead: Statement<[string]>;
  private readonly appendTx: Transaction<(entry: { type: string; actor?: string; outcome?: string }, dataJson: string, data: Record<string, unknown>) => AuditEntry>;

  constructor(
    private readonly db: Database,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.last = db.prepare(`SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1`);
    this.insert = db.prepare(`INSERT INTO audit (id, ts, type, actor, outcome, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    this.setHead = db.prepare(`INSERT INTO meta (key, value) VALUES ('audit_head', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`);
    // The head is read and extended inside one write transaction, so processes sharing the file
    // extend one chain.
    this.appendTx = db.transaction((entry, dataJson, data): AuditEntry => {
      const last = this.last.get();
      const id = (last?.id ?? 0) + 1;
      const prevHash = last?.hash ?? GENESIS;
      const row = { id, ts: this.now().toISOString(), type: entry.type, actor: entry.actor ?? null, outcome: entry.outcome ?? null, data };
      const hash = entryHash(prevHash, row);
      this.insert.run(id, row.ts, row.type, row.actor, row.outcome, dataJson, prevHash, hash);
      this.setHead.run(JSON.stringify({ id, hash }));
      return toEntry({ ...row, data: dataJson, prev_hash: prevHash, hash });
    });
  }

  append(entry: { type: string; actor?: string; outcome?: string; data: Record<string, unknown> }): AuditEntry {
    const dataJson = canonicalJson(entry.data ?? {});
    const data = JSON.parse(dataJson) as Record<string, unknown>;
    return this.appendTx.immediate(entry, dataJson, data);
  }

  /** Entries in id order, after `afterId` (default from the start), at most `limit` (default 100, max 1000). */
  list(opts: { limit?: number; afterId?: number; type?: string } = {}): AuditEntry[] {
    const limit = Math.min(Math.max(Math.trunc(opts.limit ?? 100), 1), 1000);
    const afterId = Math.max(Math.trunc(opts.afterId ?? 0), 0);
    const rows = (
      opts.type === undefined
        ? this.db.prepare(`SELECT * FROM audit WHERE id > ? ORDER BY id LIMIT ?`).all(afterId, limit)
        : this.db.prepare(`SELECT * FROM audit WHERE id > ? AND type = ? ORDER BY id LIMIT ?`).all(afterId, opts.type, limit)
    ) as Row[];
    return rows.map(toEntry);
  }

  /** The newest entries, newest first. */
  recent(limit = 50, type?: string): AuditEntry[] {
    const n = Math.min(Math.max(Math.trunc(limit), 1), 1000);
    const rows = (
      type === undefined
        ? this.db.prepare(`SELECT * FROM audit ORDER BY id DESC LIMIT ?`).all(n)
        : this.db.prepare(`SELECT * FROM audit WHERE type = ? ORDER BY id DESC LIMIT ?`).all(type, n)
    ) as Row[];
    return rows.map(toEntry);
  }

  verify(): AuditVerifyResult {
    const read = this.db.transaction((): AuditVerifyResult => {
      let expectedId = 1;
      let prev = GENESIS;
      let count = 0;
      for (const r of this.db.prepare(`SELECT * FROM audit ORDER BY id`).iterate() as IterableIterator<Row>) {
        if (r.id !== expectedId) {
          return { ok: false, firstBadId: r.id, reason: `entries ${expectedId}..${r.id - 1} before this one were removed` };
        }
        if (r.prev_hash !== prev) {
          return { ok: false, firstBadId: r.id, reason: 'previous-hash link does not match the entry before it (removed, reordered or altered)' };
        }
        let data: unknown;
        try {
          data = JSON.parse(r.data);
        } catch {
          return { ok: false, firstBadId: r.id, reason: 'entry data is not valid JSON (altered)' };
        }
        const h = entryHash(prev, { id: r.id, ts: r.ts, type: r.type, actor: r.actor, outcome: r.outcome, data });
        if (h !== r.hash) return { ok: false, firstBadId: r.id, reason: 'entry contents do not match its hash (altered)' };
        prev = r.hash;
        expectedId++;
        count++;
      }
      const headRow = this.db.prepare(`SELECT value FROM meta WHERE key = 'audit_head'`).get() as { value: string } | undefined;
      if (!headRow) {
        if (count === 0) return { ok: true, count };
        return { ok: false, firstBadId: 1, reason: 'chain head record is missing' };
      }
      let head: { id?: unknown; hash?: unknown };
      try {
        head = JSON.parse(headRow.value) as { id?: unknown; hash?: unknown };
      } catch {
        return { ok: false, firstBadId: count + 1, reason: 'chain head record is corrupt' };
      }
      if (head.id !== count || head.hash !== prev) {
        const id = typeof head.id === 'number' && head.id > count ? count + 1 : Math.max(count, 1);
        return { ok: false, firstBadId: id, reason: 'the chain ends before its recorded head (entries at the end were removed or altered)' };
      }
      return { ok: true, count };
    });
    return read();
  }
}
