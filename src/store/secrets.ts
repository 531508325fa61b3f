// Versioned secrets, encrypted at rest with AES-256-GCM under a sub-key of the master key.
import crypto from 'node:crypto';
import type { Database, Statement } from 'better-sqlite3';
import { SECRET_NAME_RULE, isSecretName } from '../protocol/secret-name.ts';
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

export class SecretStore {
  private readonly key: Buffer;
  private readonly graceMs: number;
  private readonly now: () => Date;
  // The two reads of a release, prepared once (preparing per call showed in the release profile).
  private readonly current: Statement<[string], Row>;
  private readonly inGrace: Statement<[string, number, string], Row>;

  constructor(
    private readonly db: Database,
    masterKey: Buffer,
    opts: { rotationGraceMs?: number; now?: () => Date } = {},
  ) {
    bindMasterKey(db, masterKey);
    this.key = subKey(masterKey, 'secrets');
    this.graceMs = opts.rotationGraceMs ?? DEFAULT_ROTATION_GRACE_MS;
    this.now = opts.now ?? (() => new Date());
    this.current = db.prepare(`SELECT * FROM secrets WHERE name = ? ORDER BY version DESC LIMIT 1`);
    this.inGrace = db.prepare(`SELECT * FROM secrets WHERE name = ? AND version = ? AND released_until IS NOT NULL AND released_until > ?`);
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

  private currentRow(name: string): Row | undefined {
    return this.current.get(name);
  }

  create(name: string, kind: SecretKind, value?: Buffer): SecretMeta {
    assertSecretName(name);
    if (kind !== 'sefs-key' && kind !== 'bytes') throw new StoreError('invalid_secret_value', "kind is 'sefs-key' or 'bytes'");
    const v = this.fresh(kind, value);
    const createdAt = this.now().toISOString();
    const run = this.db.transaction(() => {
      if (this.currentRow(name)) throw new StoreError('secret_exists', `secret '${name}' already exists`);
      this.db
        .prepare(`INSERT INTO secrets (name, version, kind, sealed, created_at) VALUES (?, 1, ?, ?, ?)`)
        .run(name, kind, seal(this.key, aad(name, 1, kind), v), createdAt);
    });
    run.immediate();
    return { name, kind, version: 1, createdAt };
  }

  /** Adds a new version; the one it replaces stays releasable for the grace period. */
  rotate(name: string, value?: Buffer): SecretMeta {
    assertSecretName(name);
    const nowDate = this.now();
    const now = nowDate.toISOString();
    const until = new Date(nowDate.getTime() + this.graceMs).toISOString();
    const run = this.db.transaction((): SecretMeta => {
      const cur = this.currentRow(name);
      if (!cur) throw new StoreError('secret_not_found', `no secret named '${name}'`);
      const v = this.fresh(cur.kind, value);
      const version = cur.version + 1;
      // Only the version just replaced is released alongside the new one.
      this.db.prepare(`UPDATE secrets SET released_until = NULL WHERE name = ? AND version < ?`).run(name, cur.version);
      this.db
        .prepare(`UPDATE secrets SET rotated_at = ?, released_until = ? WHERE name = ? AND version = ?`)
        .run(now, until, name, cur.version);
      this.db
        .prepare(`INSERT INTO secrets (name, version, kind, sealed, created_at) VALUES (?, ?, ?, ?, ?)`)
        .run(name, version, cur.kind, seal(this.key, aad(name, version, cur.kind), v), now);
      return { name, kind: cur.kind, version, createdAt: now };
    });
    return run.immediate();
  }

  /** Ends the grace period of a rotation: only the current version is released from now on. */
  endRotation(name: string): boolean {
    assertSecretName(name);
    return this.db.prepare(`UPDATE secrets SET released_until = NULL WHERE name = ? AND released_until IS NOT NULL`).run(name).changes > 0;
  }

  /** The current version of every secret (never values). */
  list(): SecretMeta[] {
    const rows = this.db
      .prepare(
        `SELECT s.* FROM secrets s
         JOIN (SELECT name, MAX(version) AS v FROM secrets GROUP BY name) c ON c.name = s.name AND c.v = s.version
         ORDER BY s.name`,
      )
      .all() as Row[];
    return rows.map(toMeta);
  }

  /** Every version of one secret, newest first (never values). */
  versions(name: string): SecretMeta[] {
    assertSecretName(name);
    return (this.db.prepare(`SELECT * FROM secrets WHERE name = ? ORDER BY version DESC`).all(name) as Row[]).map(toMeta);
  }

  delete(name: string): boolean {
    assertSecretName(name);
    return this.db.prepare(`DELETE FROM secrets WHERE name = ?`).run(name).changes > 0;
  }

  private decrypt(r: Row): Buffer {
    return open(this.key, aad(r.name, r.version, r.kind), r.sealed, `secret '${r.name}' version ${r.version}`);
  }

  /** One version (the current one by default), or null when it does not exist. */
  get(name: string, version?: number): { meta: SecretMeta; value: Buffer } | null {
    assertSecretName(name);
    const r =
      version === undefined
        ? this.currentRow(name)
        : (this.db.prepare(`SELECT * FROM secrets WHERE name = ? AND version = ?`).get(name, version) as Row | undefined);
    if (!r) return null;
    return { meta: toMeta(r), value: this.decrypt(r) };
  }

  /** What may be released for a name: the current version, and the previous one while its rotation is in grace. */
  releasable(name: string): Array<{ meta: SecretMeta; value: Buffer }> {
    if (!isSecretName(name)) return [];
    const cur = this.currentRow(name);
    if (!cur) return [];
    const out = [{ meta: toMeta(cur), value: this.decrypt(cur) }];
    const now = this.now().toISOString();
    const prev = this.inGrace.get(name, cur.version - 1, now);
    if (prev) out.push({ meta: toMeta(prev), value: this.decrypt(prev) });
    return out;
  }
}
