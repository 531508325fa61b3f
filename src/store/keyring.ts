// At-rest encryption under the master key: purpose-separated AES-256-GCM sub-keys, and a check value
// so a wrong master key is reported as such instead of as tampered data.
import crypto from 'node:crypto';
import type { Engine, Queryable } from './engine.ts';
import { StoreError } from './errors.ts';

export type Purpose = 'secrets' | 'server-keys' | 'key-check' | 'nonces';

export function subKey(masterKey: Buffer, purpose: Purpose): Buffer {
  if (masterKey.length !== 32) throw new StoreError('master_key_invalid');
  return Buffer.from(crypto.hkdfSync('sha256', masterKey, Buffer.alloc(0), `warden/v1 at-rest ${purpose}`, 32));
}

/** nonce(12) ‖ ciphertext ‖ tag(16); `aad` binds the value to its row. */
export function seal(key: Buffer, aad: Buffer, plaintext: Buffer): Buffer {
  const iv = crypto.randomBytes(12);
  const c = crypto.createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(aad);
  return Buffer.concat([iv, c.update(plaintext), c.final(), c.getAuthTag()]);
}

export function open(key: Buffer, aad: Buffer, sealed: Buffer, what: string): Buffer {
  if (sealed.length < 28) throw new StoreError('secret_decrypt_failed', `${what}: stored value is truncated`);
  try {
    const d = crypto.createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
    d.setAAD(aad);
    d.setAuthTag(sealed.subarray(sealed.length - 16));
    return Buffer.concat([d.update(sealed.subarray(12, sealed.length - 16)), d.final()]);
  } catch {
    throw new StoreError('secret_decrypt_failed', `${what}: stored value failed authentication (tampered, or another master key)`);
  }
}

/**
 * Records a MAC of a constant under the master key on first use and checks it afterwards.
 * The MAC reveals nothing about the key; the key itself never enters the database.
 */
function keyCheck(masterKey: Buffer): string {
  return crypto.createHmac('sha256', subKey(masterKey, 'key-check')).update('warden/v1 master key check').digest('hex');
}

/**
 * A short public name for a master key: the start of its check value (a MAC of a constant under a
 * derived key), so two keys can be told apart in messages without revealing anything about either.
 */
export function masterKeyFingerprint(masterKey: Buffer): string {
  return keyCheck(masterKey).slice(0, 16);
}

/** The fingerprint of the key a database was created with, or null before any key was bound. */
export async function storedMasterKeyFingerprint(engine: Queryable): Promise<string | null> {
  const row = await engine.get<{ value: string }>(`SELECT value FROM meta WHERE key = 'master_key_check'`);
  return row ? row.value.slice(0, 16) : null;
}

export async function bindMasterKey(engine: Engine, masterKey: Buffer): Promise<void> {
  const check = keyCheck(masterKey);
  const row = await engine.get<{ value: string }>(`SELECT value FROM meta WHERE key = 'master_key_check'`);
  // Two processes binding a new database at once: the first insert wins, the other compares with it.
  if (!row) await engine.run(`INSERT INTO meta (key, value) VALUES ('master_key_check', ?) ON CONFLICT (key) DO NOTHING`, [check]);
  const stored = row ?? (await engine.get<{ value: string }>(`SELECT value FROM meta WHERE key = 'master_key_check'`));
  const a = Buffer.from(stored?.value ?? '', 'hex');
  const b = Buffer.from(check, 'hex');
  if (a.length !== b.length || !crypto.timingSafeEqual(a, b)) {
    throw new StoreError(
      'master_key_mismatch',
      `the master key given (fingerprint ${check.slice(0, 16)}) is not the one this database was created with (fingerprint ${(stored?.value ?? '').slice(0, 16) || 'unknown'})`,
    );
  }
}
