// Versioned secrets, encrypted at rest with AES-256-GCM under a sub-key of the master key.
import crypto from 'node:crypto';
import { SECRET_NAME_RULE, isSecretName } from '../protocol/secret-name.ts';
import type { AuditInput, AuditLog } from './audit.ts';
import type { Engine, Queryable } from './engine.ts';
import { isUniqueViolation } from './engine.ts';
import { StoreError } from './errors.ts';
import { bindMasterKey, open, seal, subKey } from './keyring.ts';

export type SecretKind = 'sefs-key' | 'bytes';

export interface SecretMeta {
  name: string;
  kind: SecretKind;
  version: number;
  /** When this version was created. */
  createdAt: string;
  /** When this version was replaced by a newer one (absent for the current version). */
  rotatedAt?: string;
  /** Until when a replaced version is still released alongside the current one. */
  releasedUntil?: string;
}

export const MAX_SECRET_BYTES = 64 * 1024;
/** How long the previous version stays releasable after a rotation, unless ended earlier. */
export const DEFAULT_ROTATION_GRACE_MS = 7 * 24 * 3600 * 1000;

export function assertSecretName(name: string): void {
  if (!isSecretName(name)) {
    throw new StoreError('invalid_secret_name', `invalid secret name: ${SECRET_NAME_RULE}`);
  }
}

interface Row {
  name: string;
  version: number;
  kind: SecretKind;
  sealed: Buffer;
  created_at: string;
  rotated_at: string | null;
  released_until: string | null;
}

function toMeta(r: Row): SecretMeta {
  const m: SecretMeta = { name: r.name, kind: r.kind, version: r.version, createdAt: r.created_at };
  if (r.rotated_at) m.rotatedAt = r.rotated_at;
  if (r.released_until) m.releasedUntil = r.released_until;
  return m;
}

function aad(name: string, version: number, kind: SecretKind): Buffer {
  // Binds a value to its row so ciphertexts cannot be swapped between names, versions or kinds.
  return Buffer.from(`warden/v1 secret\0${name}\0${version}\0${kind}`, 'utf8');
}

/** Who made a change, recorded in the audit entry committed with it; extra fields are added to its data. */
export interface AuditedBy {
  actor: string;
  extra?: Record<string, unknown>;
}

interface Cached {
  rows: Row[];
  values: Buffer[];
}

const CACHE_MAX = 4096;

/**
 * Secret writes commit together with their audit entry (one transaction, the audit lock held), so a
 * crash can never leave a change without its entry. Releasable versions are cached decrypted per name and
 * dropped on any change to secrets, by this process (at commit) or another one (engine.onChange).
 */

/** One stored version as `secret list` shows it: never a value, and whether it is released now. */
export interface SecretVersionInfo extends SecretMeta {
  current: boolean;
  releasable: boolean;
}

/**
 * Every version of every secret, newest first per name, read without the master key (names and dates
 * are not encrypted). Releasable follows `releasable()` below: the current version, and the one it
 * replaced while that one's grace period runs.
 */
export async function listSecretVersions(engine: Queryable, now: Date = new Date()): Promise<SecretVersionInfo[]> {
  const rows = await engine.all<Row>(`SELECT name, version, kind, created_at, rotated_at, released_until FROM secrets ORDER BY name, version DESC`);
  const currentOf = new Map<string, number>();
  for (const r of rows) if (!currentOf.has(r.name)) currentOf.set(r.name, r.version);
  const at = now.toISOString();
  return rows.map((r) => {
    const current = currentOf.get(r.name) === r.version;
    const inGrace = r.version === (currentOf.get(r.name) ?? 0) - 1 && r.released_until !== null && r.released_until > at;
    return { ...toMeta(r), current, releasable: current || inGrace };
  });
}

export class SecretStore {
  private readonly key: Buffer;
  private readonly graceMs: number;
  private readonly now: () => Date;
  private readonly cache = new Map<string, Cached>();
  private readonly stopListening: () => void;
  private readonly ready: Promise<void>;

  constructor(
    private readonly engine: Engine,
    masterKey: Buffer,
    opts: { rotationGraceMs?: number; now?: () => Date; audit?: AuditLog } = {},
  ) {
    this.key = subKey(masterKey, 'secrets');
    this.ready = bindMasterKey(engine, masterKey);
    // Unhandled until awaited by the first call: avoid an unhandledRejection crash in between.
    this.ready.catch(() => {});
    this.graceMs = opts.rotationGraceMs ?? DEFAULT_ROTATION_GRACE_MS;
    this.now = opts.now ?? (() => new Date());
    this.audit = opts.audit;
    this.stopListening = engine.onChange((t) => {
      if (t === null || t === 'secrets') this.cache.clear();
    });
  }

  private readonly audit: AuditLog | undefined;

  /** Stops listening for other processes' changes. */
  close(): void {
    this.stopListening();
  }

  private checkValue(kind: SecretKind, value: Buffer): void {
    if (kind === 'sefs-key' && value.length !== 16) {
      throw new StoreError('invalid_secret_value', 'a sefs-key is exactly 16 bytes');
    }
    if (value.length === 0 || value.length > MAX_SECRET_BYTES) {
      throw new StoreError('invalid_secret_value', `a secret value is 1 to ${MAX_SECRET_BYTES} bytes`);
    }
  }

  private fresh(kind: SecretKind, value: Buffer | undefined): Buffer {
    const v = value ?? crypto.randomBytes(kind === 'sefs-key' ? 16 : 32);
    this.checkValue(kind, v);
    return v;
  }

  private currentRow(q: Queryable, name: string): Promise<Row | undefined> {
    return q.get<Row>(`SELECT * FROM secrets WHERE name = ? ORDER BY version DESC LIMIT 1`, [name]);
  }

  /** One write transaction under the audit lock: the change, its audit entry (if `by`), the change notice. */
  private async write<T>(by: AuditedBy | undefined, body: (q: Queryable) => Promise<{ result: T; audit?: AuditInput }>): Promise<T> {
    await this.ready;
    return this.engine.tx(async (q) => {
      const { result, audit } = await body(q);
      if (audit && by) {
        if (!this.audit) throw new Error('SecretStore was built without an AuditLog but asked to audit a change');
        await this.audit.appendWithin(q, { ...audit, actor: by.actor, data: { ...audit.data, ...by.extra } });
      }
      await this.engine.notify(q, 'secrets');
      return result;
    }, { lock: 'audit' });
  }

  async create(name: string, kind: SecretKind, value?: Buffer, by?: AuditedBy): Promise<SecretMeta> {
    assertSecretName(name);
    if (kind !== 'sefs-key' && kind !== 'bytes') throw new StoreError('invalid_secret_value', "kind is 'sefs-key' or 'bytes'");
    const v = this.fresh(kind, value);
    const createdAt = this.now().toISOString();
    try {
      return await this.write(by, async (q) => {
        if (await this.currentRow(q, name)) throw new StoreError('secret_exists', `secret '${name}' already exists`);
        await q.run(`INSERT INTO secrets (name, version, kind, sealed, created_at) VALUES (?, 1, ?, ?, ?)`, [name, kind, seal(this.key, aad(name, 1, kind), v), createdAt]);
        const result: SecretMeta = { name, kind, version: 1, createdAt };
        return { result, audit: { type: 'admin', outcome: 'ok', data: { action: 'secret.create', name, kind, version: 1 } } };
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw new StoreError('secret_exists', `secret '${name}' already exists`);
      throw e;
    }
  }

  /** Adds a new version; the one it replaces stays releasable for the grace period. */
  async rotate(name: string, value?: Buffer, by?: AuditedBy): Promise<SecretMeta> {
    assertSecretName(name);
    const nowDate = this.now();
    const now = nowDate.toISOString();
    const until = new Date(nowDate.getTime() + this.graceMs).toISOString();
    return this.write(by, async (q) => {
      const cur = await this.currentRow(q, name);
      if (!cur) throw new StoreError('secret_not_found', `no secret named '${name}'`);
      const v = this.fresh(cur.kind, value);
      const version = cur.version + 1;
      // Only the version just replaced is released alongside the new one.
      await q.run(`UPDATE secrets SET released_until = NULL WHERE name = ? AND version < ?`, [name, cur.version]);
      await q.run(`UPDATE secrets SET rotated_at = ?, released_until = ? WHERE name = ? AND version = ?`, [now, until, name, cur.version]);
      await q.run(`INSERT INTO secrets (name, version, kind, sealed, created_at) VALUES (?, ?, ?, ?, ?)`, [
        name,
        version,
        cur.kind,
        seal(this.key, aad(name, version, cur.kind), v),
        now,
      ]);
      const result: SecretMeta = { name, kind: cur.kind, version, createdAt: now };
      return { result, audit: { type: 'admin', outcome: 'ok', data: { action: 'secret.rotate', name, version } } };
    });
  }

  /** Ends the grace period of a rotation: only the current version is released from now on. */
  async endRotation(name: string, by?: AuditedBy): Promise<boolean> {
    assertSecretName(name);
    return this.write(by, async (q) => {
      const changed = (await q.run(`UPDATE secrets SET released_until = NULL WHERE name = ? AND released_until IS NOT NULL`, [name])).changes > 0;
      return { result: changed, audit: { type: 'admin', outcome: changed ? 'ok' : 'noop', data: { action: 'secret.finish-rotation', name } } };
    });
  }

  /** The current version of every secret (never values). */
  async list(): Promise<SecretMeta[]> {
    await this.ready;
    const rows = await this.engine.all<Row>(
      `SELECT s.* FROM secrets s
       JOIN (SELECT name, MAX(version) AS v FROM secrets GROUP BY name) c ON c.name = s.name AND c.v = s.version
       ORDER BY s.name`,
    );
    return rows.map(toMeta);
  }

  /** Every version of one secret, newest first (never values). */
  async versions(name: string): Promise<SecretMeta[]> {
    assertSecretName(name);
    await this.ready;
    return (await this.engine.all<Row>(`SELECT * FROM secrets WHERE name = ? ORDER BY version DESC`, [name])).map(toMeta);
  }

  /** Deletes every version; false (and no audit entry) when there was no such secret. */
  async delete(name: string, by?: AuditedBy): Promise<boolean> {
    assertSecretName(name);
    return this.write(by, async (q) => {
      const deleted = (await q.run(`DELETE FROM secrets WHERE name = ?`, [name])).changes > 0;
      return deleted ? { result: true, audit: { type: 'admin', outcome: 'ok', data: { action: 'secret.delete', name } } } : { result: false };
    });
  }

  private decrypt(r: Row): Buffer {
    return open(this.key, aad(r.name, r.version, r.kind), r.sealed, `secret '${r.name}' version ${r.version}`);
  }

  /** One version (the current one by default), or null when it does not exist. */
  async get(name: string, version?: number): Promise<{ meta: SecretMeta; value: Buffer } | null> {
    assertSecretName(name);
    await this.ready;
    const r =
      version === undefined
        ? await this.currentRow(this.engine, name)
        : await this.engine.get<Row>(`SELECT * FROM secrets WHERE name = ? AND version = ?`, [name, version]);
    if (!r) return null;
    return { meta: toMeta(r), value: this.decrypt(r) };
  }

  /** What may be released for a name: the current version, and the previous one while its rotation is in grace. */
  async releasable(name: string): Promise<Array<{ meta: SecretMeta; value: Buffer }>> {
    if (!isSecretName(name)) return [];
    this.engine.poll();
    let c = this.cache.get(name);
    if (!c) {
      await this.ready;
      // The two newest versions are all a release can need.
      const rows = await this.engine.all<Row>(`SELECT * FROM secrets WHERE name = ? ORDER BY version DESC LIMIT 2`, [name]);
      c = { rows, values: rows.map((r) => this.decrypt(r)) };
      if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(name, c);
    }
    const [cur, prev] = c.rows;
    if (!cur) return [];
    const out = [{ meta: toMeta(cur), value: Buffer.from(c.values[0]!) }];
    // The grace period is a time: decided at each release, not when the cache was filled.
    const now = this.now().toISOString();
    if (prev && prev.version === cur.version - 1 && prev.released_until !== null && prev.released_until > now) {
      out.push({ meta: toMeta(prev), value: Buffer.from(c.values[1]!) });
    }
    return out;
  }
}
