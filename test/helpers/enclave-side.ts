// The enclave's side of the protocol, written apart from the server's code: the test enclaves (e2e
// harness, bench-free tests) bind the report data and open sealed secrets with this, so a change to the
// server's wire format cannot hide by changing both sides at once. The protocol constants come from the
// golden vectors (test/vectors/protocol-v1.json); HPKE Auth mode open follows RFC 9180 §4-§5 with
// @noble/curves for the P-256 Diffie-Hellman (an implementation independent of src/crypto/hpke.ts, which
// uses node:crypto's ECDH) and node:crypto for HMAC-SHA256 and AES-256-GCM.
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { p256 } from '@noble/curves/nist.js';
import { REPO_ROOT } from './fixtures.ts';

export interface GoldenVectors {
  protocol: string;
  bindingLabel: string;
  secretInfoPrefix: string;
  aad: string;
  suite: { kem: number; kdf: number; aead: number; mode: number; name: string };
  nonce: string;
  enclaveKey: { privateKey: string; publicKey: string };
  serverKey: { privateKey: string; publicKey: string; serverKeyId: string };
  reportData: string;
  secrets: Array<{ name: string; value: string; info: string; aad: string; ephemeralPrivateKey: string; enc: string; ciphertext: string }>;
  /** The POST /v1/attest body for this nonce, enclave key, pinned server key and secrets (base64 as on the wire). */
  attestRequest: { nonce: string; quote: string; publicKey: string; serverKeyId: string; secrets: string[] };
}

export const VECTORS_FILE = join(REPO_ROOT, 'test/vectors/protocol-v1.json');
export const VECTORS: GoldenVectors = JSON.parse(readFileSync(VECTORS_FILE, 'utf8')) as GoldenVectors;

const hex = (s: string) => Buffer.from(s, 'hex');

/** Report data for a challenge and the enclave's public key: SHA-256(label ‖ nonce ‖ pkE) ‖ 32 zero bytes. */
export function reportDataFor(nonce: Buffer, publicKey: Buffer): Buffer {
  const h = crypto.createHash('sha256').update(Buffer.from(VECTORS.bindingLabel, 'ascii')).update(nonce).update(publicKey).digest();
  return Buffer.concat([h, Buffer.alloc(32)]);
}

/** An enclave key pair: 32-byte scalar and 65-byte uncompressed point. */
export function enclaveKeyPair(privateKey: Buffer = Buffer.from(p256.utils.randomSecretKey())): { privateKey: Buffer; publicKey: Buffer } {
  return { privateKey, publicKey: Buffer.from(p256.getPublicKey(privateKey, false)) };
}

// ---- RFC 9180, DHKEM(P-256, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM, Auth mode, receiver side ----

const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const hmac = (key: Buffer, ...data: Buffer[]) => {
  const h = crypto.createHmac('sha256', key);
  for (const d of data) h.update(d);
  return h.digest();
};
const extract = (salt: Buffer, ikm: Buffer) => hmac(salt.length ? salt : Buffer.alloc(32), ikm);
function expand(prk: Buffer, info: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  let t = Buffer.alloc(0);
  for (let i = 1; Buffer.concat(out).length < length; i++) out.push((t = hmac(prk, t, info, Buffer.from([i]))));
  return Buffer.concat(out).subarray(0, length);
}
const V1 = Buffer.from('HPKE-v1');
const labeledExtract = (suite: Buffer, salt: Buffer, label: string, ikm: Buffer) => extract(salt, Buffer.concat([V1, suite, Buffer.from(label), ikm]));
const labeledExpand = (suite: Buffer, prk: Buffer, label: string, info: Buffer, l: number) => expand(prk, Buffer.concat([u16(l), V1, suite, Buffer.from(label), info]), l);

function dh(sk: Buffer, pk: Buffer): Buffer {
  return Buffer.from(p256.getSharedSecret(sk, pk, true)).subarray(1); // the x coordinate
}

/** Opens one secret sealed to `recipient` by the server key `senderPublicKey` (HPKE Auth mode, single shot). */
export function openSealedSecret(o: { recipientPrivateKey: Buffer; senderPublicKey: Buffer; name: string; nonce: Buffer; enc: Buffer; ciphertext: Buffer }): Buffer {
  const s = VECTORS.suite;
  const kemSuite = Buffer.concat([Buffer.from('KEM'), u16(s.kem)]);
  const hpkeSuite = Buffer.concat([Buffer.from('HPKE'), u16(s.kem), u16(s.kdf), u16(s.aead)]);
  const pkR = Buffer.from(p256.getPublicKey(o.recipientPrivateKey, false));
  const dhValue = Buffer.concat([dh(o.recipientPrivateKey, o.enc), dh(o.recipientPrivateKey, o.senderPublicKey)]);
  const kemContext = Buffer.concat([o.enc, pkR, o.senderPublicKey]);
  const shared = labeledExpand(kemSuite, labeledExtract(kemSuite, Buffer.alloc(0), 'eae_prk', dhValue), 'shared_secret', kemContext, 32);
  const info = Buffer.concat([Buffer.from(VECTORS.secretInfoPrefix, 'ascii'), Buffer.from(o.name, 'utf8')]);
  const context = Buffer.concat([
    Buffer.from([s.mode]),
    labeledExtract(hpkeSuite, Buffer.alloc(0), 'psk_id_hash', Buffer.alloc(0)),
    labeledExtract(hpkeSuite, Buffer.alloc(0), 'info_hash', info),
  ]);
  const secret = labeledExtract(hpkeSuite, shared, 'secret', Buffer.alloc(0));
  const key = labeledExpand(hpkeSuite, secret, 'key', context, 32);
  const nonce = labeledExpand(hpkeSuite, secret, 'base_nonce', context, 12); // sequence 0: the base nonce itself
  const d = crypto.createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
  d.setAAD(o.nonce); // the aad is the challenge nonce (VECTORS.aad says so)
  d.setAuthTag(o.ciphertext.subarray(o.ciphertext.length - 16));
  return Buffer.concat([d.update(o.ciphertext.subarray(0, o.ciphertext.length - 16)), d.final()]);
}

export function vectorBytes(s: string): Buffer {
  return hex(s);
}
