// The server's long-lived keys: the HPKE sender keys (pinned in enclave images) and the ES256 token keys
// (published in the JWKS). Generated on first use, stored encrypted under the master key, rotated only
// by an explicit operator action; retired token public keys stay published so issued tokens still verify.
// HPKE keys form a keyring: a rotation adds a current key and keeps the previous ones usable (images
// pin a key, and images built before the rotation must keep booting) until the operator retires them.
// Decrypted keys are kept in memory and dropped whenever any process or replica changes the keys
// (engine.onChange: at commit in this process, by notification or re-read elsewhere), so a rotation or
// retirement anywhere takes effect here within that bound. A key change commits with its audit entry.
import crypto from 'node:crypto';
import type { AuditInput, AuditLog } from './audit.ts';
import type { Engine, Queryable } from './engine.ts';
import { generateP256KeyPair, importP256Point } from '../crypto/p256.ts';
import { serverKeyId } from '../protocol/sealing.ts';
import { StoreError } from './errors.ts';
import { bindMasterKey, open, seal, subKey } from './keyring.ts';

type Purpose = 'hpke' | 'token';

export interface TokenKey {
  kid: string;
  privateKey?: crypto.KeyObject;
  publicKey: crypto.KeyObject;
  current: boolean;
  createdAt: string;
  retiredAt?: string;
}

interface Row {
  kid: string;
  purpose: Purpose;
  public_key: Buffer;
  sealed_private: Buffer | null;
  created_at: string;
  retired_at: string | null;
  current: number;
}

/** RFC 7638 JWK thumbprint (SHA-256, base64url) of a P-256 public key. */
export function jwkThumbprint(publicKey: crypto.KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return crypto.createHash('sha256').update(canonical).digest('base64url');
}

/** One HPKE key of the ring, with its private key: what the attest path seals with. */
export interface HpkeKey {
  /** `serverKeyId`: lowercase hex SHA-256 of the 65-byte public key. */
  id: string;
  kid: string;
  privateKey: crypto.KeyObject;
  publicKey: Buffer;
}

/** An active HPKE key as /v1/server-keys and `warden admin keys show` list it. */
export interface HpkeKeyInfo {
  id: string;
  publicKey: Buffer;
  current: boolean;
  createdAt: string;
}

interface Loaded {
  kid: string;
  purpose: Purpose;
  publicRaw: Buffer;
  publicKey: crypto.KeyObject;
  privateKey?: crypto.KeyObject;
}

/** Who made a key change; its audit entry commits with it. */
export interface KeyChangeBy {
  actor: string;
}

export class ServerKeys {
  private readonly key: Buffer;
  // Decrypted and imported keys by kid: opening and importing them on each request was a measurable
  // share of a release.
  private readonly loaded = new Map<string, Loaded>();
  /** The current key of each purpose, until a change to the keys is seen. */
  private readonly currentOf = new Map<Purpose, Promise<Loaded>>();
  /** Every row (HPKE and token), until a change to the keys is seen. */
  private rows: Promise<Row[]> | null = null;
  private readonly ready: Promise<void>;
  private readonly stopListening: () => void;

  constructor(
    private readonly engine: Engine,
    masterKey: Buffer,
    private readonly now: () => Date = () => new Date(),
    private readonly audit?: AuditLog,
  ) {
    this.key = subKey(masterKey, 'server-keys');
    this.ready = bindMasterKey(engine, masterKey);
    this.ready.catch(() => {});
    this.stopListening = engine.onChange((t) => {
      if (t === null || t === 'keys') this.forget();
    });
  }

  close(): void {
    this.stopListening();
  }

  private forget(): void {
    this.currentOf.clear();
    this.rows = null;
    // Rotation and retirement destroy private keys: no copy of them stays here either.
    this.loaded.clear();
  }

  private aad(purpose: Purpose, kid: string): Buffer {
    return Buffer.from(`warden/v1 server-key\0${purpose}\0${kid}`, 'utf8');
  }

  private load(r: Row, withPrivate: boolean): Loaded {
    const hit = this.loaded.get(r.kid);
    if (hit && (hit.privateKey || !withPrivate)) return hit;
    const k: Loaded = { kid: r.kid, purpose: r.purpose, publicRaw: Buffer.from(r.public_key), publicKey: hit?.publicKey ?? importP256Point(r.public_key) };
    if (withPrivate && r.sealed_private) {
      const der = open(this.key, this.aad(r.purpose, r.kid), r.sealed_private, `server ${r.purpose} key ${r.kid}`);
      k.privateKey = crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    }
    this.loaded.set(r.kid, k);
    return k;
  }

  private async insertNew(q: Queryable, purpose: Purpose): Promise<string> {
    const { privateKey, publicKey } = generateP256KeyPair();
    const kid = jwkThumbprint(importP256Point(publicKey));
    const der = privateKey.export({ format: 'der', type: 'pkcs8' });
    await q.run(`INSERT INTO server_keys (kid, purpose, public_key, sealed_private, created_at, current) VALUES (?, ?, ?, ?, ?, 1)`, [
      kid,
      purpose,
      publicKey,
      seal(this.key, this.aad(purpose, kid), der),
      this.now().toISOString(),
    ]);
    return kid;
  }

  private async currentRow(purpose: Purpose): Promise<Row> {
    await this.ready;
    const found = await this.engine.get<Row>(`SELECT * FROM server_keys WHERE purpose = ? AND current = 1`, [purpose]);
    if (found) return found;
    // First use: generate under the lock so two processes or replicas starting together agree on one key.
    return this.change(undefined, async (q) => {
      const again = await q.get<Row>(`SELECT * FROM server_keys WHERE purpose = ? AND current = 1`, [purpose]);
      if (again) return { result: again };
      await this.insertNew(q, purpose);
      return { result: (await q.get<Row>(`SELECT * FROM server_keys WHERE purpose = ? AND current = 1`, [purpose]))! };
    });
  }

  /** One write transaction under the audit lock: the change, its audit entry (with `by`), the change notice. */
  private async change<T>(by: KeyChangeBy | undefined, body: (q: Queryable) => Promise<{ result: T; audit?: Omit<AuditInput, 'actor'> }>): Promise<T> {
    await this.ready;
    return this.engine.tx(async (q) => {
      const { result, audit } = await body(q);
      if (by && audit && this.audit) await this.audit.appendWithin(q, { ...audit, actor: by.actor });
      await this.engine.notify(q, 'keys');
      return result;
    }, { lock: 'audit' });
  }

  /** Memoises a read until the keys change; a failed read (database down) is not remembered. */
  private current(purpose: Purpose): Promise<Loaded> {
    this.engine.poll();
    let p = this.currentOf.get(purpose);
    if (!p) {
      p = this.currentRow(purpose).then((r) => this.load(r, true));
      const mine = p;
      p.catch(() => this.currentOf.get(purpose) === mine && this.currentOf.delete(purpose));
      this.currentOf.set(purpose, p);
    }
    return p;
  }

  private allRows(): Promise<Row[]> {
    this.engine.poll();
    if (!this.rows) {
      const p = (async () => {
        await this.ready;
        return this.engine.all<Row>(`SELECT * FROM server_keys ORDER BY purpose, current DESC, created_at DESC, kid`);
      })();
      p.catch(() => this.rows === p && (this.rows = null));
      this.rows = p;
    }
    return this.rows;
  }

  private hpkeKeyOf(l: Loaded): HpkeKey {
    return { id: serverKeyId(l.publicRaw), kid: l.kid, privateKey: l.privateKey!, publicKey: Buffer.from(l.publicRaw) };
  }

  /**
   * An HPKE sender key: the current one, or the one whose `serverKeyId` an enclave names (the key its
   * image pinned). Throws `server_key_retired` for a retired key and `server_key_unknown` for an id that
   * was never in the ring.
   */
  async hpke(id?: string): Promise<HpkeKey> {
    if (id === undefined) return this.hpkeKeyOf(await this.current('hpke'));
    const r = (await this.allRows()).find((row) => row.purpose === 'hpke' && serverKeyIdOf(row) === id);
    if (!r) throw new StoreError('server_key_unknown', `no HPKE key with serverKeyId ${id} was ever in this server's keyring`);
    if (r.retired_at !== null || r.sealed_private === null) {
      throw new StoreError('server_key_retired', `HPKE key ${id} was retired${r.retired_at ? ` at ${r.retired_at}` : ''}; the image pinning it must be rebuilt with a current key (GET /v1/server-keys)`);
    }
    return this.hpkeKeyOf(this.load(r, true));
  }

  /** The active HPKE keys (every key not retired), current first. */
  async hpkeKeys(): Promise<HpkeKeyInfo[]> {
    await this.current('hpke'); // the first call creates the first key
    const out: HpkeKeyInfo[] = [];
    for (const r of await this.allRows()) {
      if (r.purpose !== 'hpke' || r.retired_at !== null || r.sealed_private === null) continue;
      out.push({ id: serverKeyIdOf(r), publicKey: Buffer.from(r.public_key), current: Number(r.current) === 1, createdAt: r.created_at });
    }
    return out;
  }

  /** All token keys, current first; only the current one carries its private key. */
  async tokenKeys(): Promise<TokenKey[]> {
    const cur = await this.current('token');
    return (await this.allRows())
      .filter((r) => r.purpose === 'token')
      .map((r) => {
        const isCurrent = r.kid === cur.kid;
        const l = isCurrent ? cur : this.load(r, false);
        const k: TokenKey = { kid: r.kid, publicKey: l.publicKey, current: isCurrent, createdAt: r.created_at };
        if (isCurrent) k.privateKey = cur.privateKey!;
        if (r.retired_at !== null) k.retiredAt = r.retired_at;
        return k;
      });
  }

  async currentTokenKey(): Promise<{ kid: string; privateKey: crypto.KeyObject; publicKey: crypto.KeyObject }> {
    const k = await this.current('token');
    return { kid: k.kid, privateKey: k.privateKey!, publicKey: k.publicKey };
  }

  /**
   * A new current HPKE key. The previous keys stay in the ring: an enclave that names one (the key its
   * image pinned) still gets its secrets sealed with it, until `retireHpke`.
   */
  async rotateHpke(by?: KeyChangeBy): Promise<HpkeKey> {
    await this.change(by, async (q) => {
      const previous = await q.get<Row>(`SELECT * FROM server_keys WHERE purpose = 'hpke' AND current = 1`);
      // The previous HPKE key stays active (and usable) until `warden admin keys retire`.
      await q.run(`UPDATE server_keys SET current = 0 WHERE purpose = 'hpke' AND current = 1`);
      const kid = await this.insertNew(q, 'hpke');
      const row = (await q.get<Row>(`SELECT * FROM server_keys WHERE kid = ?`, [kid]))!;
      return {
        result: undefined,
        audit: {
          type: 'admin',
          outcome: 'ok',
          data: { action: 'keys.rotate', key: 'hpke', publicKey: row.public_key.toString('base64'), serverKeyId: serverKeyIdOf(row), ...(previous ? { previous: serverKeyIdOf(previous) } : {}) },
        },
      };
    });
    return this.hpke();
  }

  /**
   * Retires a previous HPKE key: its private key is destroyed and enclaves naming it are refused with
   * `server_key_retired`. The current key cannot be retired (rotate first), so the ring is never empty.
   */
  async retireHpke(id: string, by?: KeyChangeBy): Promise<{ id: string; retiredAt: string }> {
    const retiredAt = this.now().toISOString();
    await this.change(by, async (q) => {
      const r = (await q.all<Row>(`SELECT * FROM server_keys WHERE purpose = 'hpke'`)).find((row) => serverKeyIdOf(row) === id);
      if (!r) throw new StoreError('server_key_unknown', `no HPKE key with serverKeyId ${id} (list them with 'warden admin keys show')`);
      if (r.retired_at !== null || r.sealed_private === null) throw new StoreError('server_key_retired', `HPKE key ${id} is already retired`);
      if (Number(r.current) === 1) throw new StoreError('server_key_current', `HPKE key ${id} is the current key; rotate first ('warden admin keys rotate --hpke'), then retire it`);
      await q.run(`UPDATE server_keys SET retired_at = ?, sealed_private = NULL WHERE kid = ?`, [retiredAt, r.kid]);
      return { result: undefined, audit: { type: 'admin', outcome: 'ok', data: { action: 'keys.retire', key: 'hpke', serverKeyId: id } } };
    });
    return { id, retiredAt };
  }

  /** New token key; the old public key stays in the JWKS, its private key is destroyed. */
  async rotateTokenKey(by?: KeyChangeBy): Promise<string> {
    return this.change(by, async (q) => {
      await q.run(`UPDATE server_keys SET current = 0, retired_at = ?, sealed_private = NULL WHERE purpose = 'token' AND current = 1`, [this.now().toISOString()]);
      const kid = await this.insertNew(q, 'token');
      return { result: kid, audit: { type: 'admin', outcome: 'ok', data: { action: 'keys.rotate', key: 'token', kid } } };
    });
  }
}

/** serverKeyId of a stored key, memoised by its public key bytes (a function of them, never stale). */
const idCache = new Map<string, string>();
function serverKeyIdOf(r: Row): string {
  const k = Buffer.from(r.public_key).toString('base64');
  let id = idCache.get(k);
  if (id === undefined) {
    id = serverKeyId(r.public_key);
    if (idCache.size >= 1024) idCache.delete(idCache.keys().next().value!);
    idCache.set(k, id);
  }
  return id;
}
