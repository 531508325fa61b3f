// Sealing released secrets to an enclave, and opening them: Warden's use of HPKE (the wire rules are
// src/protocol/sealing.ts, the RFC 9180 primitives src/crypto/hpke.ts).
import type { KeyObject } from 'node:crypto';
import { AEAD_AES_256_GCM, KEM_P256_HKDF_SHA256, KDF_HKDF_SHA256, MODE_AUTH, openAuth, sealAuth } from '../crypto/hpke.ts';
import { HPKE_SUITE, secretAad, secretInfo } from '../protocol/sealing.ts';

// The wire names one suite; the primitives must implement exactly that one.
if (HPKE_SUITE.kem !== KEM_P256_HKDF_SHA256 || HPKE_SUITE.kdf !== KDF_HKDF_SHA256 || HPKE_SUITE.aead !== AEAD_AES_256_GCM || HPKE_SUITE.mode !== MODE_AUTH) {
  throw new Error('src/protocol/sealing.ts names a suite src/crypto/hpke.ts does not implement');
}

export interface SealedSecret {
  /** The encapsulated key (65 bytes). */
  enc: Buffer;
  /** AES-256-GCM ciphertext with its 16-byte tag. */
  ciphertext: Buffer;
}

/** Seals one secret value to the enclave key `recipientPublicKey` (a raw point the caller has checked). */
export function sealSecret(o: {
  recipientPublicKey: Buffer;
  senderPrivateKey: KeyObject;
  name: string;
  nonce: Buffer;
  value: Buffer;
  /** Golden vectors only: a fixed ephemeral key makes the output reproducible. Never in production. */
  ephemeralPrivateKey?: KeyObject;
}): SealedSecret {
  return sealAuth({
    aeadId: AEAD_AES_256_GCM,
    recipientPublicKey: o.recipientPublicKey,
    senderPrivateKey: o.senderPrivateKey,
    info: secretInfo(o.name),
    aad: secretAad(o.nonce),
    plaintext: o.value,
    ...(o.ephemeralPrivateKey ? { ephemeralPrivateKey: o.ephemeralPrivateKey } : {}),
  });
}

/** Opens one sealed secret (the enclave's side); throws HpkeError('hpke_open_failed') when it does not open. */
export function openSecret(o: { recipientPrivateKey: KeyObject; senderPublicKey: Buffer; name: string; nonce: Buffer } & SealedSecret): Buffer {
  return openAuth({
    aeadId: AEAD_AES_256_GCM,
    recipientPrivateKey: o.recipientPrivateKey,
    senderPublicKey: o.senderPublicKey,
    enc: o.enc,
    info: secretInfo(o.name),
    aad: secretAad(o.nonce),
    ciphertext: o.ciphertext,
  });
}
