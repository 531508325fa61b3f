// HPKE (RFC 9180) for DHKEM(P-256, HKDF-SHA256) / HKDF-SHA256 / AES-GCM, on node:crypto: the RFC's
// primitives, nothing of Warden's wire format (that is src/protocol/sealing.ts). All four modes and both
// AES-GCM sizes are here so the key schedule can be checked against the RFC's published test vectors.
// Pure: node:crypto only.
import crypto from 'node:crypto';
import { WardenError } from '../protocol/errors.ts';
import { KeyError, SCALAR_BYTES, assertPointEncoding, importP256PrivateKey, privateKeyBytes, publicKeyBytes } from './p256.ts';

/** Bad keys are KeyError (code invalid_key); these are the HPKE-specific failures. */
export class HpkeError extends WardenError<'hpke_open_failed' | 'hpke_bad_input'> {
  override name = 'HpkeError';
}

export const MODE_BASE = 0x00;
export const MODE_PSK = 0x01;
export const MODE_AUTH = 0x02;
export const MODE_AUTH_PSK = 0x03;
export type HpkeMode = 0 | 1 | 2 | 3;

export const KEM_P256_HKDF_SHA256 = 0x0010;
export const KDF_HKDF_SHA256 = 0x0001;
export const AEAD_AES_128_GCM = 0x0001;
export const AEAD_AES_256_GCM = 0x0002;
export type AeadId = typeof AEAD_AES_128_GCM | typeof AEAD_AES_256_GCM;

const N_SECRET = 32; // DHKEM(P-256) Nsecret
const N_SK = SCALAR_BYTES;
const N_H = 32; // SHA-256
const N_N = 12; // AES-GCM nonce
const N_T = 16; // AES-GCM tag
const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

const VERSION_LABEL = Buffer.from('HPKE-v1', 'ascii');

function i2osp(n: number, w: number): Buffer {
  const b = Buffer.alloc(w);
  b.writeUIntBE(n, 0, w);
  return b;
}

const KEM_SUITE_ID = Buffer.concat([Buffer.from('KEM', 'ascii'), i2osp(KEM_P256_HKDF_SHA256, 2)]);

function hpkeSuiteId(aeadId: AeadId): Buffer {
  return Buffer.concat([
    Buffer.from('HPKE', 'ascii'),
    i2osp(KEM_P256_HKDF_SHA256, 2),
    i2osp(KDF_HKDF_SHA256, 2),
    i2osp(aeadId, 2),
  ]);
}

function nk(aeadId: AeadId): number {
  return aeadId === AEAD_AES_256_GCM ? 32 : 16;
}

// HKDF-Extract and HKDF-Expand separately: HPKE labels each step, and node:crypto only offers
// the combined hkdf(), so each step is written out with node:crypto's HMAC (RFC 5869 §2.2/2.3).
function hkdfExtract(salt: Buffer, ikm: Buffer): Buffer {
  return crypto.createHmac('sha256', salt.length ? salt : Buffer.alloc(N_H)).update(ikm).digest();
}

function hkdfExpand(prk: Buffer, info: Buffer, length: number): Buffer {
  if (length > 255 * N_H) throw new HpkeError('hpke_bad_input', 'HKDF-Expand length too large');
  const out: Buffer[] = [];
  let t: Buffer = Buffer.alloc(0);
  for (let i = 1; out.length * N_H < length; i++) {
    t = crypto.createHmac('sha256', prk).update(t).update(info).update(Buffer.of(i)).digest();
    out.push(t);
  }
  return Buffer.concat(out).subarray(0, length);
}

function labeledExtract(suiteId: Buffer, salt: Buffer, label: string, ikm: Buffer): Buffer {
  return hkdfExtract(salt, Buffer.concat([VERSION_LABEL, suiteId, Buffer.from(label, 'ascii'), ikm]));
}

function labeledExpand(suiteId: Buffer, prk: Buffer, label: string, info: Buffer, length: number): Buffer {
  const labeledInfo = Buffer.concat([i2osp(length, 2), VERSION_LABEL, suiteId, Buffer.from(label, 'ascii'), info]);
  return hkdfExpand(prk, labeledInfo, length);
}

// ---------- keys ----------

/** RFC 9180 §7.1.3 DeriveKeyPair for P-256. */
export function deriveKeyPair(ikm: Buffer): { privateKey: crypto.KeyObject; publicKey: Buffer } {
  const dkpPrk = labeledExtract(KEM_SUITE_ID, Buffer.alloc(0), 'dkp_prk', ikm);
  for (let counter = 0; counter < 256; counter++) {
    const bytes = labeledExpand(KEM_SUITE_ID, dkpPrk, 'candidate', i2osp(counter, 1), N_SK);
    const sk = BigInt('0x' + bytes.toString('hex')); // bitmask for P-256 is 0xff: no masking
    if (sk !== 0n && sk < P256_ORDER) {
      const privateKey = importP256PrivateKey(bytes);
      return { privateKey, publicKey: publicKeyBytes(privateKey) };
    }
  }
  throw new HpkeError('hpke_bad_input', 'DeriveKeyPair failed');
}

// Diffie-Hellman runs on crypto.ECDH objects and raw points: no KeyObject import (and its costly key
// check) per peer key. computeSecret refuses points off the curve.
interface EcdhKey {
  ecdh: crypto.ECDH;
  /** 04 || X || Y */
  pub: Buffer;
}

// KeyObjects are immutable, so the ECDH form of a long-lived private key (the server's HPKE key) is
// derived once per object.
const ecdhOfKey = new WeakMap<crypto.KeyObject, EcdhKey>();

function ecdhFromKeyObject(sk: crypto.KeyObject): EcdhKey {
  const hit = ecdhOfKey.get(sk);
  if (hit) return hit;
  const ecdh = crypto.createECDH('prime256v1');
  try {
    ecdh.setPrivateKey(privateKeyBytes(sk));
  } catch (e) {
    if (e instanceof KeyError) throw e;
    throw new KeyError('private key is not a valid P-256 scalar');
  }
  const k = { ecdh, pub: ecdh.getPublicKey() };
  ecdhOfKey.set(sk, k);
  return k;
}

function freshEphemeral(): EcdhKey {
  const ecdh = crypto.createECDH('prime256v1');
  return { ecdh, pub: ecdh.generateKeys() };
}

function dh(sk: EcdhKey, pkRaw: Buffer): Buffer {
  assertPointEncoding(pkRaw);
  try {
    return sk.ecdh.computeSecret(pkRaw);
  } catch {
    throw new KeyError('Diffie-Hellman failed (public key not on P-256)');
  }
}

function extractAndExpand(dhValue: Buffer, kemContext: Buffer): Buffer {
  const eaePrk = labeledExtract(KEM_SUITE_ID, Buffer.alloc(0), 'eae_prk', dhValue);
  return labeledExpand(KEM_SUITE_ID, eaePrk, 'shared_secret', kemContext, N_SECRET);
}

// ---------- key schedule and context ----------

export interface KeySchedule {
  sharedSecret: Buffer;
  keyScheduleContext: Buffer;
  secret: Buffer;
  key: Buffer;
  baseNonce: Buffer;
  exporterSecret: Buffer;
}

function keySchedule(
  mode: HpkeMode,
  aeadId: AeadId,
  sharedSecret: Buffer,
  info: Buffer,
  psk: Buffer,
  pskId: Buffer,
): KeySchedule {
  const gotPsk = psk.length > 0;
  const gotPskId = pskId.length > 0;
  if (gotPsk !== gotPskId) throw new HpkeError('hpke_bad_input', 'inconsistent PSK inputs');
  const pskMode = mode === MODE_PSK || mode === MODE_AUTH_PSK;
  if (gotPsk !== pskMode) throw new HpkeError('hpke_bad_input', pskMode ? 'missing PSK input' : 'PSK input provided when not needed');
  const suiteId = hpkeSuiteId(aeadId);
  const pskIdHash = labeledExtract(suiteId, Buffer.alloc(0), 'psk_id_hash', pskId);
  const infoHash = labeledExtract(suiteId, Buffer.alloc(0), 'info_hash', info);
  const ctx = Buffer.concat([Buffer.of(mode), pskIdHash, infoHash]);
  const secret = labeledExtract(suiteId, sharedSecret, 'secret', psk);
  return {
    sharedSecret,
    keyScheduleContext: ctx,
    secret,
    key: labeledExpand(suiteId, secret, 'key', ctx, nk(aeadId)),
    baseNonce: labeledExpand(suiteId, secret, 'base_nonce', ctx, N_N),
    exporterSecret: labeledExpand(suiteId, secret, 'exp', ctx, N_H),
  };
}

/** An HPKE encryption context (RFC 9180 §5.2): sequence-numbered AEAD plus the secret exporter. */
export class HpkeContext {
  private seq = 0n;
  constructor(
    readonly aeadId: AeadId,
    readonly schedule: KeySchedule,
  ) {}

  private nonce(): Buffer {
    const n = Buffer.from(this.schedule.baseNonce);
    const seqBytes = Buffer.from(this.seq.toString(16).padStart(N_N * 2, '0'), 'hex');
    for (let i = 0; i < N_N; i++) n[i] = n[i]! ^ seqBytes[i]!;
    return n;
  }

  private increment(): void {
    if (this.seq >= (1n << 96n) - 1n) throw new HpkeError('hpke_bad_input', 'message limit reached');
    this.seq += 1n;
  }

  private cipher(): crypto.CipherGCMTypes {
    return this.aeadId === AEAD_AES_256_GCM ? 'aes-256-gcm' : 'aes-128-gcm';
  }

  seal(aad: Buffer, plaintext: Buffer): Buffer {
    const c = crypto.createCipheriv(this.cipher(), this.schedule.key, this.nonce(), { authTagLength: N_T });
    c.setAAD(aad);
    const out = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
    this.increment();
    return out;
  }

  open(aad: Buffer, ciphertext: Buffer): Buffer {
    if (ciphertext.length < N_T) throw new HpkeError('hpke_open_failed', 'ciphertext too short');
    try {
      const d = crypto.createDecipheriv(this.cipher(), this.schedule.key, this.nonce(), { authTagLength: N_T });
      d.setAAD(aad);
      d.setAuthTag(ciphertext.subarray(ciphertext.length - N_T));
      const out = Buffer.concat([d.update(ciphertext.subarray(0, ciphertext.length - N_T)), d.final()]);
      this.increment();
      return out;
    } catch {
      throw new HpkeError('hpke_open_failed', 'HPKE decryption failed');
    }
  }

  export(exporterContext: Buffer, length: number): Buffer {
    return labeledExpand(hpkeSuiteId(this.aeadId), this.schedule.exporterSecret, 'sec', exporterContext, length);
  }
}

export interface SetupSenderInput {
  mode: HpkeMode;
  aeadId: AeadId;
  recipientPublicKey: Buffer;
  info: Buffer;
  /** Fixed ephemeral key, as the RFC's test vectors (and Warden's golden vectors) are defined; fresh random when absent. Never reuse one. */
  ephemeralPrivateKey?: crypto.KeyObject;
  senderPrivateKey?: crypto.KeyObject;
  psk?: Buffer;
  pskId?: Buffer;
}

export function setupSender(o: SetupSenderInput): { enc: Buffer; context: HpkeContext } {
  assertPointEncoding(o.recipientPublicKey);
  const eph = o.ephemeralPrivateKey ? ecdhFromKeyObject(o.ephemeralPrivateKey) : freshEphemeral();
  const enc = Buffer.from(eph.pub);
  const auth = o.mode === MODE_AUTH || o.mode === MODE_AUTH_PSK;
  let dhValue = dh(eph, o.recipientPublicKey);
  let kemContext = Buffer.concat([enc, o.recipientPublicKey]);
  if (auth) {
    if (!o.senderPrivateKey) throw new HpkeError('hpke_bad_input', 'Auth mode needs the sender private key');
    const sender = ecdhFromKeyObject(o.senderPrivateKey);
    dhValue = Buffer.concat([dhValue, dh(sender, o.recipientPublicKey)]);
    kemContext = Buffer.concat([kemContext, sender.pub]);
  }
  const shared = extractAndExpand(dhValue, kemContext);
  const ks = keySchedule(o.mode, o.aeadId, shared, o.info, o.psk ?? Buffer.alloc(0), o.pskId ?? Buffer.alloc(0));
  return { enc, context: new HpkeContext(o.aeadId, ks) };
}

export interface SetupRecipientInput {
  mode: HpkeMode;
  aeadId: AeadId;
  enc: Buffer;
  recipientPrivateKey: crypto.KeyObject;
  info: Buffer;
  senderPublicKey?: Buffer;
  psk?: Buffer;
  pskId?: Buffer;
}

export function setupRecipient(o: SetupRecipientInput): HpkeContext {
  assertPointEncoding(o.enc);
  const recipient = ecdhFromKeyObject(o.recipientPrivateKey);
  const auth = o.mode === MODE_AUTH || o.mode === MODE_AUTH_PSK;
  let dhValue = dh(recipient, o.enc);
  let kemContext = Buffer.concat([o.enc, recipient.pub]);
  if (auth) {
    if (!o.senderPublicKey) throw new HpkeError('hpke_bad_input', 'Auth mode needs the sender public key');
    dhValue = Buffer.concat([dhValue, dh(recipient, o.senderPublicKey)]);
    kemContext = Buffer.concat([kemContext, o.senderPublicKey]);
  }
  const shared = extractAndExpand(dhValue, kemContext);
  const ks = keySchedule(o.mode, o.aeadId, shared, o.info, o.psk ?? Buffer.alloc(0), o.pskId ?? Buffer.alloc(0));
  return new HpkeContext(o.aeadId, ks);
}

// ---------- single-shot Auth mode (RFC 9180 §6.1) ----------

export function sealAuth(o: {
  aeadId: AeadId;
  recipientPublicKey: Buffer;
  senderPrivateKey: crypto.KeyObject;
  info: Buffer;
  aad: Buffer;
  plaintext: Buffer;
  ephemeralPrivateKey?: crypto.KeyObject;
}): { enc: Buffer; ciphertext: Buffer } {
  const { enc, context } = setupSender({ mode: MODE_AUTH, ...o });
  return { enc, ciphertext: context.seal(o.aad, o.plaintext) };
}

export function openAuth(o: {
  aeadId: AeadId;
  recipientPrivateKey: crypto.KeyObject;
  senderPublicKey: Buffer;
  enc: Buffer;
  info: Buffer;
  aad: Buffer;
  ciphertext: Buffer;
}): Buffer {
  return setupRecipient({ mode: MODE_AUTH, ...o }).open(o.aad, o.ciphertext);
}
