// The server's long-lived keys: the HPKE sender key (pinned in enclave images) and the ES256 token keys
// (published in the JWKS). Generated on first use, stored encrypted under the master key, rotated only
// by an explicit operator action; retired token public keys stay published so issued tokens still verify.
import crypto from 'node:crypto';
import type { Database } from 'better-sqlite3';
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

export class ServerKeys {
  private readonly key: Buffer;
  private readonly cache = new Map<string, crypto.KeyObject>();

  constructor(
    private readonly db: Database,
    masterKey: Buffer,
    private readonly now: () => Date = () => new Date(),
  ) {
    bindMasterKey(db, masterKey);
    this.key = subKey(masterKey, 'server-keys');
  }

  private aad(purpose: Purpose, kid: string): Buffer {
    return Buffer.from(`warden/v1 server-key\0${purpose}\0${kid}`, 'utf8');
  }

  private privateOf(r: Row): crypto.KeyObject | undefined {
    if (!r.sealed_private) return undefined;
    const hit = this.cache.get(r.kid);
    if (hit) return hit;
    const der = open(this.key, this.aad(r.purpose, r.kid), r.sealed_private, `server ${r.purpose} key ${r.kid}`);
    const k = crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    this.cache.set(r.kid, k);
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

  private current(purpose: Purpose): Row {
    const get = () => this.db.prepare(`SELECT * FROM server_keys WHERE purpose = ? AND current = 1`).get(purpose) as Row | undefined;
    const found = get();
    if (found) return found;
    // First use: generate inside a write transaction so two processes starting together agree on one key.
    const create = this.db.transaction((): Row => {
      const again = get();
      if (again) return again;
      this.insertNew(purpose);
      return get()!;
    });
    return create.immediate();
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
    const r = this.current('hpke');
    return { kid: r.kid, privateKey: this.privateOf(r)!, publicKey: Buffer.from(r.public_key) };
  }

  /** All token keys, current first; only the current one carries its private key. */
  tokenKeys(): TokenKey[] {
    this.current('token');
    const rows = this.db
      .prepare(`SELECT * FROM server_keys WHERE purpose = 'token' ORDER BY current DESC, created_at DESC`)
      .all() as Row[];
    return rows.map((r) => {
      const k: TokenKey = { kid: r.kid, publicKey: importP256PublicKey(r.public_key), current: r.current === 1, createdAt: r.created_at };
      if (r.current === 1) k.privateKey = this.privateOf(r)!;
      if (r.retired_at !== null) k.retiredAt = r.retired_at;
      return k;
    });
  }

  currentTokenKey(): { kid: string; privateKey: crypto.KeyObject; publicKey: crypto.KeyObject } {
    const r = this.current('token');
    return { kid: r.kid, privateKey: this.privateOf(r)!, publicKey: importP256PublicKey(r.public_key) };
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
