// The server's long-lived keys: the HPKE sender key (pinned in enclave images) and the ES256 token keys
// (published in the JWKS). Generated on first use, stored encrypted under the master key, rotated only
// by an explicit operator action; retired token public keys stay published so issued tokens still verify.
import crypto from 'node:crypto';
import type Database from 'better-sqlite3';
import { generateP256KeyPair, importP256PublicKey } from '../secrets/hpke.ts';
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
  };

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
    };
  }

  private aad(purpose: Purpose, kid: string): Buffer {
    return Buffer.from(`warden/v1 server-key\0${purpose}\0${kid}`, 'utf8');
  }

  private load(r: Row, withPrivate: boolean): Loaded {
    const hit = this.loaded.get(r.kid);
    if (hit && (hit.privateKey || !withPrivate)) return hit;
    const k: Loaded = { kid: r.kid, purpose: r.purpose, publicRaw: Buffer.from(r.public_key), publicKey: hit?.publicKey ?? importP256PublicKey(r.public_key) };
    if (withPrivate && r.sealed_private) {
      const der = open(this.key, this.aad(r.purpose, r.kid), r.sealed_private, `server ${r.purpose} key ${r.kid}`);
      k.privateKey = crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    }
    this.loaded.set(r.kid, k);
    return k;
  }

  private insertNew(purpose: Purpose): void {
    const { privateKey, publicKey } = generateP256KeyPair();
    const kid = jwkThumbprint(importP256PublicKey(publicKey));
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
    // Rotation destroys old private keys: drop them here too. Old token public keys stay (the JWKS).
    for (const [k, l] of this.loaded) {
      if (k === r.kid || l.purpose !== purpose) continue;
      if (purpose === 'hpke') this.loaded.delete(k);
      else delete l.privateKey;
    }
    return this.load(r, true);
  }

  private rotate(purpose: Purpose, dropOldPrivate: boolean): void {
    const run = this.db.transaction(() => {
      this.db
        .prepare(
          `UPDATE server_keys SET current = 0, retired_at = ?${dropOldPrivate ? ', sealed_private = NULL' : ''}
           WHERE purpose = ? AND current = 1`,
        )
        .run(this.now().toISOString(), purpose);
      this.insertNew(purpose);
    });
    run.immediate();
  }

  /** The HPKE sender key; its 65-byte public key is what operators pin in enclave images. */
  hpke(): { kid: string; privateKey: crypto.KeyObject; publicKey: Buffer } {
    const k = this.current('hpke');
    return { kid: k.kid, privateKey: k.privateKey!, publicKey: Buffer.from(k.publicRaw) };
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

  /** New HPKE key; the old private key is destroyed (the server only ever seals with the current one). */
  rotateHpke(): void {
    this.rotate('hpke', true);
  }

  /** New token key; the old public key stays in the JWKS, its private key is destroyed. */
  rotateTokenKey(): void {
    this.rotate('token', true);
  }
}
