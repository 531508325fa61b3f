// The server's long-lived keys: the HPKE sender keys (pinned in enclave images) and the ES256 token keys
// (published in the JWKS). Generated on first use, stored encrypted under the master key, rotated only
// by an explicit operator action; retired token public keys stay published so issued tokens still verify.
// HPKE keys form a keyring: a rotation adds a current key and keeps the previous ones usable (images
// pin a key, and images built before the rotation must keep booting) until the operator retires them.
import crypto from 'node:crypto';
import type Database from 'better-sqlite3';
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

export class ServerKeys {
  private readonly key: Buffer;
  // Decrypted and imported keys by kid: the attest path needs both current keys on every request, and
  // opening and importing them each time was a measurable share of a release. Only the current keys
  // (and the token public keys the JWKS publishes) are kept.
  private readonly loaded = new Map<string, Loaded>();
  private readonly stmt: {
    currentKid: Database.Statement<[Purpose], { kid: string }>;
    current: Database.Statement<[Purpose], Row>;
    tokenRows: Database.Statement<[], Row>;
    byKid: Database.Statement<[string], Row>;
    hpkeRows: Database.Statement<[], Row>;
  };
  /** serverKeyId -> kid of every HPKE key seen: both are functions of the public key, so never stale. */
  private readonly kidOfId = new Map<string, string>();

  constructor(
    private readonly db: Database.Database,
    masterKey: Buffer,
    private readonly now: () => Date = () => new Date(),
  ) {
    bindMasterKey(db, masterKey);
    this.key = subKey(masterKey, 'server-keys');
    this.stmt = {
      currentKid: db.prepare(`SELECT kid FROM server_keys WHERE purpose = ? AND current = 1`),
      current: db.prepare(`SELECT * FROM server_keys WHERE purpose = ? AND current = 1`),
      tokenRows: db.prepare(`SELECT * FROM server_keys WHERE purpose = 'token' ORDER BY current DESC, created_at DESC`),
      byKid: db.prepare(`SELECT * FROM server_keys WHERE kid = ?`),
      hpkeRows: db.prepare(`SELECT * FROM server_keys WHERE purpose = 'hpke' ORDER BY current DESC, created_at DESC, kid`),
    };
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

  private insertNew(purpose: Purpose): void {
    const { privateKey, publicKey } = generateP256KeyPair();
    const kid = jwkThumbprint(importP256Point(publicKey));
    const der = privateKey.export({ format: 'der', type: 'pkcs8' });
    this.db
      .prepare(`INSERT INTO server_keys (kid, purpose, public_key, sealed_private, created_at, current) VALUES (?, ?, ?, ?, ?, 1)`)
      .run(kid, purpose, publicKey, seal(this.key, this.aad(purpose, kid), der), this.now().toISOString());
  }

  private currentRow(purpose: Purpose): Row {
    const found = this.stmt.current.get(purpose);
    if (found) return found;
    // First use: generate inside a write transaction so two processes starting together agree on one key.
    const create = this.db.transaction((): Row => {
      const again = this.stmt.current.get(purpose);
      if (again) return again;
      this.insertNew(purpose);
      return this.stmt.current.get(purpose)!;
    });
    return create.immediate();
  }

  /**
   * The current key of a purpose, with its private key. Which key is current is read from the database
   * on every call (one indexed lookup), so a rotation by another process (a `warden admin` command, a
   * sibling worker) takes effect on the next request; only the decrypted, imported key is cached.
   */
  private current(purpose: Purpose): Loaded {
    const kid = this.stmt.currentKid.get(purpose)?.kid;
    const hit = kid === undefined ? undefined : this.loaded.get(kid);
    if (hit?.privateKey) return hit;
    const r = this.currentRow(purpose);
    // A token rotation destroys the old private key: drop it here too (its public key stays, for the
    // JWKS). Previous HPKE keys stay in the ring until retired (see hpke()).
    if (purpose === 'token') {
      for (const [k, l] of this.loaded) if (k !== r.kid && l.purpose === 'token') delete l.privateKey;
    }
    return this.load(r, true);
  }

  private rotate(purpose: Purpose): void {
    const run = this.db.transaction(() => {
      if (purpose === 'token') {
        this.db
          .prepare(`UPDATE server_keys SET current = 0, retired_at = ?, sealed_private = NULL WHERE purpose = 'token' AND current = 1`)
          .run(this.now().toISOString());
      } else {
        // The previous HPKE key stays active (and usable) until `warden admin keys retire`.
        this.db.prepare(`UPDATE server_keys SET current = 0 WHERE purpose = 'hpke' AND current = 1`).run();
      }
      this.insertNew(purpose);
    });
    run.immediate();
  }

  private hpkeKeyOf(l: Loaded): HpkeKey {
    return { id: serverKeyId(l.publicRaw), kid: l.kid, privateKey: l.privateKey!, publicKey: Buffer.from(l.publicRaw) };
  }

  private rememberId(r: Row): string {
    const id = serverKeyId(r.public_key);
    this.kidOfId.set(id, r.kid);
    return id;
  }

  /**
   * An HPKE sender key: the current one, or the one whose `serverKeyId` an enclave names (the key its
   * image pinned). A named key is looked up in the database on every call (one indexed read), so a
   * retirement by another process takes effect on the next request. Throws `server_key_retired` for a
   * retired key and `server_key_unknown` for an id that was never in the ring.
   */
  hpke(id?: string): HpkeKey {
    if (id === undefined) return this.hpkeKeyOf(this.current('hpke'));
    let kid = this.kidOfId.get(id);
    if (kid === undefined) {
      for (const r of this.stmt.hpkeRows.all()) this.rememberId(r);
      kid = this.kidOfId.get(id);
      if (kid === undefined) throw new StoreError('server_key_unknown', `no HPKE key with serverKeyId ${id} was ever in this server's keyring`);
    }
    const r = this.stmt.byKid.get(kid);
    if (!r) throw new StoreError('server_key_unknown', `no HPKE key with serverKeyId ${id} was ever in this server's keyring`);
    if (r.retired_at !== null || r.sealed_private === null) {
      this.loaded.delete(kid);
      throw new StoreError('server_key_retired', `HPKE key ${id} was retired${r.retired_at ? ` at ${r.retired_at}` : ''}; the image pinning it must be rebuilt with a current key (GET /v1/server-keys)`);
    }
    return this.hpkeKeyOf(this.load(r, true));
  }

  /** The active HPKE keys (every key not retired), current first. */
  hpkeKeys(): HpkeKeyInfo[] {
    this.current('hpke'); // the first call creates the first key
    const out: HpkeKeyInfo[] = [];
    for (const r of this.stmt.hpkeRows.all()) {
      const id = this.rememberId(r);
      if (r.retired_at !== null || r.sealed_private === null) {
        this.loaded.delete(r.kid);
        continue;
      }
      out.push({ id, publicKey: Buffer.from(r.public_key), current: r.current === 1, createdAt: r.created_at });
    }
    return out;
  }

  /** All token keys, current first; only the current one carries its private key. */
  tokenKeys(): TokenKey[] {
    const cur = this.current('token');
    return this.stmt.tokenRows.all().map((r) => {
      const isCurrent = r.kid === cur.kid;
      const l = isCurrent ? cur : this.load(r, false);
      const k: TokenKey = { kid: r.kid, publicKey: l.publicKey, current: isCurrent, createdAt: r.created_at };
      if (isCurrent) k.privateKey = cur.privateKey!;
      if (r.retired_at !== null) k.retiredAt = r.retired_at;
      return k;
    });
  }

  currentTokenKey(): { kid: string; privateKey: crypto.KeyObject; publicKey: crypto.KeyObject } {
    const k = this.current('token');
    return { kid: k.kid, privateKey: k.privateKey!, publicKey: k.publicKey };
  }

  /**
   * A new current HPKE key. The previous keys stay in the ring: an enclave that names one (the key its
   * image pinned) still gets its secrets sealed with it, until `retireHpke`.
   */
  rotateHpke(): HpkeKey {
    this.rotate('hpke');
    return this.hpke();
  }

  /**
   * Retires a previous HPKE key: its private key is destroyed and enclaves naming it are refused with
   * `server_key_retired`. The current key cannot be retired (rotate first), so the ring is never empty.
   */
  retireHpke(id: string): { id: string; retiredAt: string } {
    const retiredAt = this.now().toISOString();
    const run = this.db.transaction(() => {
      const r = this.stmt.hpkeRows.all().find((row) => this.rememberId(row) === id);
      if (!r) throw new StoreError('server_key_unknown', `no HPKE key with serverKeyId ${id} (list them with 'warden admin keys show')`);
      if (r.retired_at !== null || r.sealed_private === null) throw new StoreError('server_key_retired', `HPKE key ${id} is already retired`);
      if (r.current === 1) throw new StoreError('server_key_current', `HPKE key ${id} is the current key; rotate first ('warden admin keys rotate --hpke'), then retire it`);
      this.db.prepare(`UPDATE server_keys SET retired_at = ?, sealed_private = NULL WHERE kid = ?`).run(retiredAt, r.kid);
      return r.kid;
    });
    const kid = run.immediate();
    this.loaded.delete(kid);
    return { id, retiredAt };
  }

  /** New token key; the old public key stays in the JWKS, its private key is destroyed. */
  rotateTokenKey(): void {
    this.rotate('token');
  }
}
