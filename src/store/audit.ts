// The audit trail: an append-only hash chain. Each entry's hash covers the previous entry's hash and
// the canonical JSON of its own fields, and the chain head is kept in `meta`, so editing, removing,
// reordering or truncating entries is detected by verify().
//
// Appends commit in groups: every entry appended during one turn of the event loop goes into one
// transaction, and each append's promise settles only when that transaction has committed. A caller
// that awaits append() therefore never answers before its entry is durable (see README, "What is
// audited"). Across processes and replicas the chain stays one: the head is read and extended under the
// audit lock (SQLite's write lock; a PostgreSQL advisory lock).
import crypto from 'node:crypto';
import type { Engine, Queryable } from './engine.ts';
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

export interface AuditInput {
  type: string;
  actor?: string;
  outcome?: string;
  data: Record<string, unknown>;
}

export type AuditVerifyResult = { ok: true; count: number; from?: number } | { ok: false; firstBadId: number; reason: string };

export const GENESIS = '0'.repeat(64);
/** Most entries committed in one group. */
const MAX_GROUP = 1000;
/** Rows verified between two yields to the event loop. */
const VERIFY_CHUNK = 500;

/** An audit row as stored (data is the canonical JSON text its hash covers). */
export interface AuditRow {
  id: number;
  ts: string;
  type: string;
  actor: string | null;
  outcome: string | null;
  data: string;
  prev_hash: string;
  hash: string;
}

/** The last entry that left the live store (archived), from which the live chain continues. */
export interface Checkpoint {
  id: number;
  hash: string;
  archivedAt: string;
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

export function entryHash(prevHash: string, e: { id: number; ts: string; type: string; actor: string | null; outcome: string | null; data: unknown }): string {
  const body = canonicalJson({ id: e.id, ts: e.ts, type: e.type, actor: e.actor, outcome: e.outcome, data: e.data });
  return crypto.createHash('sha256').update(Buffer.from(prevHash, 'hex')).update(body, 'utf8').digest('hex');
}

function toEntry(r: AuditRow): AuditEntry {
  const e: AuditEntry = { id: Number(r.id), ts: r.ts, type: r.type, data: JSON.parse(r.data) as Record<string, unknown>, prevHash: r.prev_hash, hash: r.hash };
  if (r.actor !== null) e.actor = r.actor;
  if (r.outcome !== null) e.outcome = r.outcome;
  return e;
}

/** Checks one stored row against the hash before it; a reason when it does not link or was altered. */
export function checkRow(r: AuditRow, prev: string): string | null {
  if (r.prev_hash !== prev) return 'previous-hash link does not match the entry before it (removed, reordered or altered)';
  let data: unknown;
  try {
    data = JSON.parse(r.data);
  } catch {
    return 'entry data is not valid JSON (altered)';
  }
  const h = entryHash(prev, { id: Number(r.id), ts: r.ts, type: r.type, actor: r.actor, outcome: r.outcome, data });
  return h === r.hash ? null : 'entry contents do not match its hash (altered)';
}

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

interface Pending {
  input: AuditInput;
  dataJson: string;
  resolve: (e: AuditEntry) => void;
  reject: (e: unknown) => void;
}

export class AuditLog {
  private queue: Pending[] = [];
  private scheduled = false;
  private flushing: Promise<void> | null = null;
  private groups = 0;
  private grouped = 0;

  constructor(
    private readonly engine: Engine,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Appends one entry; resolves once the group it joined has committed. */
  append(entry: AuditInput): Promise<AuditEntry> {
    let dataJson: string;
    try {
      dataJson = canonicalJson(entry.data ?? {});
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<AuditEntry>((resolve, reject) => {
      this.queue.push({ input: entry, dataJson, resolve, reject });
      this.schedule();
    });
  }

  /** Groups committed and entries in them since start (for metrics and the benchmark). */
  stats(): { groups: number; entries: number } {
    return { groups: this.groups, entries: this.grouped };
  }

  /** Settles once everything appended so far has been committed (or has failed). */
  async flushed(): Promise<void> {
    while (this.queue.length || this.flushing || this.scheduled) {
      if (this.flushing) await this.flushing;
      else await yieldToLoop();
    }
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    // setImmediate, not a microtask: the appends of every request handled in this turn join the group.
    setImmediate(() => {
      this.scheduled = false;
      this.flushing = this.flush().finally(() => {
        this.flushing = null;
        if (this.queue.length) this.schedule();
      });
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, MAX_GROUP);
    if (!batch.length) return;
    try {
      const entries = await this.engine.tx((q) => this.insert(q, batch), { lock: 'audit' });
      this.groups++;
      this.grouped += batch.length;
      batch.forEach((p, i) => p.resolve(entries[i]!));
    } catch (e) {
      for (const p of batch) p.reject(e);
    }
  }

  /**
   * Appends within a transaction the caller holds with `{ lock: 'audit' }`, so the entry commits (or not)
   * together with the caller's other writes.
   */
  async appendWithin(q: Queryable, entry: AuditInput): Promise<AuditEntry> {
    const dataJson = canonicalJson(entry.data ?? {});
    const [e] = await this.insert(q, [{ input: entry, dataJson }]);
    return e!;
  }

  private async head(q: Queryable): Promise<{ id: number; hash: string }> {
    const row = await q.get<{ value: string }>(`SELECT value FROM meta WHERE key = 'audit_head'`);
    if (!row) return { id: 0, hash: GENESIS };
    const h = JSON.parse(row.value) as { id: number; hash: string };
    return { id: Number(h.id), hash: h.hash };
  }

  private async insert(q: Queryable, items: ReadonlyArray<Pick<Pending, 'input' | 'dataJson'>>): Promise<AuditEntry[]> {
    let { id, hash: prevHash } = await this.head(q);
    const ts = this.now().toISOString();
    const rows: Array<[number, string, string, string | null, string | null, string, string, string]> = [];
    const out: AuditEntry[] = [];
    for (const { input, dataJson } of items) {
      id++;
      const data = JSON.parse(dataJson) as Record<string, unknown>;
      const row = { id, ts, type: input.type, actor: input.actor ?? null, outcome: input.outcome ?? null, data };
      const hash = entryHash(prevHash, row);
      rows.push([id, ts, row.type, row.actor, row.outcome, dataJson, prevHash, hash]);
      out.push(toEntry({ ...row, data: dataJson, prev_hash: prevHash, hash }));
      prevHash = hash;
    }
    await q.insertMany('audit', ['id', 'ts', 'type', 'actor', 'outcome', 'data', 'prev_hash', 'hash'], rows);
    await q.run(`INSERT INTO meta (key, value) VALUES ('audit_head', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [JSON.stringify({ id, hash: prevHash })]);
    return out;
  }

  /** Entries in id order, after `afterId` (default from the start), at most `limit` (default 100, max 1000). */
  async list(opts: { limit?: number; afterId?: number; type?: string } = {}): Promise<AuditEntry[]> {
    const limit = Math.min(Math.max(Math.trunc(opts.limit ?? 100), 1), 1000);
    const afterId = Math.max(Math.trunc(opts.afterId ?? 0), 0);
    const rows =
      opts.type === undefined
        ? await this.engine.all<AuditRow>(`SELECT * FROM audit WHERE id > ? ORDER BY id LIMIT ?`, [afterId, limit])
        : await this.engine.all<AuditRow>(`SELECT * FROM audit WHERE id > ? AND type = ? ORDER BY id LIMIT ?`, [afterId, opts.type, limit]);
    return rows.map(toEntry);
  }

  /** The newest entries, newest first. */
  async recent(limit = 50, type?: string): Promise<AuditEntry[]> {
    const n = Math.min(Math.max(Math.trunc(limit), 1), 1000);
    const rows =
      type === undefined
        ? await this.engine.all<AuditRow>(`SELECT * FROM audit ORDER BY id DESC LIMIT ?`, [n])
        : await this.engine.all<AuditRow>(`SELECT * FROM audit WHERE type = ? ORDER BY id DESC LIMIT ?`, [type, n]);
    return rows.map(toEntry);
  }

  /** Where the live chain starts: after the last archived entry, or at the beginning. */
  async checkpoint(q: Queryable = this.engine): Promise<Checkpoint | null> {
    const row = await q.get<{ value: string }>(`SELECT value FROM meta WHERE key = 'audit_checkpoint'`);
    return row ? (JSON.parse(row.value) as Checkpoint) : null;
  }

  /**
   * Verifies the live chain from its checkpoint to the head recorded when verification started (later
   * appends are left for the next run). Reads and checks VERIFY_CHUNK rows at a time and yields to the
   * event loop between chunks, so a long chain never stops the server from answering.
   */
  async verify(): Promise<AuditVerifyResult> {
    const headRow = await this.engine.get<{ value: string }>(`SELECT value FROM meta WHERE key = 'audit_head'`);
    const cp = await this.checkpoint();
    let head: { id?: unknown; hash?: unknown } | null = null;
    if (headRow) {
      try {
        head = JSON.parse(headRow.value) as { id?: unknown; hash?: unknown };
      } catch {
        return { ok: false, firstBadId: (cp?.id ?? 0) + 1, reason: 'chain head record is corrupt' };
      }
    }
    const start = cp?.id ?? 0;
    let prev = cp?.hash ?? GENESIS;
    let expectedId = start + 1;
    const lastId = head && typeof head.id === 'number' ? head.id : null;
    for (;;) {
      const upTo = lastId ?? Number.MAX_SAFE_INTEGER;
      const rows = await this.engine.all<AuditRow>(`SELECT * FROM audit WHERE id >= ? AND id <= ? ORDER BY id LIMIT ?`, [expectedId === start + 1 ? 0 : expectedId, upTo, VERIFY_CHUNK]);
      for (const r of rows) {
        const id = Number(r.id);
        if (id <= start) return { ok: false, firstBadId: id, reason: `entry ${id} is at or before the archive checkpoint ${start} (restored or inserted)` };
        if (id !== expectedId) return { ok: false, firstBadId: id, reason: `entries ${expectedId}..${id - 1} before this one were removed` };
        const bad = checkRow(r, prev);
        if (bad) return { ok: false, firstBadId: id, reason: bad };
        prev = r.hash;
        expectedId++;
      }
      if (rows.length < VERIFY_CHUNK) break;
      await yieldToLoop();
    }
    const count = expectedId - 1 - start;
    if (!head) {
      if (count === 0) return { ok: true, count, ...(cp ? { from: start + 1 } : {}) };
      return { ok: false, firstBadId: start + 1, reason: 'chain head record is missing' };
    }
    if (head.id !== expectedId - 1 || head.hash !== prev) {
      const id = typeof head.id === 'number' && head.id > expectedId - 1 ? expectedId : Math.max(expectedId - 1, 1);
      return { ok: false, firstBadId: id, reason: 'the chain ends before its recorded head (entries at the end were removed or altered)' };
    }
    return { ok: true, count, ...(cp ? { from: start + 1 } : {}) };
  }
}
