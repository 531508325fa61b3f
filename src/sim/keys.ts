// P-256 key handling for the sim: node:crypto KeyObjects everywhere, WebCrypto keys only for @peculiar/x509.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, webcrypto, type KeyObject } from 'node:crypto';

export type WebCryptoKey = webcrypto.CryptoKey;

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
/** The algorithm object @peculiar/x509 needs to sign certificates and CRLs. */
export const ECDSA_SHA256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export function newP256Key(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

export function privateKeyToPem(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }).toString();
}

export function privateKeyFromPem(pem: string): KeyObject {
  const key = createPrivateKey({ key: pem, format: 'pem' });
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error('sim PKI key is not an EC P-256 private key');
  }
  return key;
}

export function publicOf(key: KeyObject): KeyObject {
  return key.type === 'public' ? key : createPublicKey(key);
}

/** Raw X||Y (64 bytes), the form quotes carry the attestation key in. */
export function rawPublicKey(key: KeyObject): Buffer {
  const jwk = publicOf(key).export({ format: 'jwk' });
  if (typeof jwk.x !== 'string' || typeof jwk.y !== 'string') throw new Error('not an EC key');
  return Buffer.concat([Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
}

/** RFC 5280 method-1 key identifier: SHA-1 of the subjectPublicKey bits (0x04 || X || Y). */
export function keyIdentifier(key: KeyObject): Buffer {
  return createHash('sha1').update(Buffer.concat([Buffer.from([4]), rawPublicKey(key)])).digest();
}

/** ECDSA P-256 / SHA-256 signature as raw r||s (64 bytes), as Intel uses in quotes and signed JSON. */
export function signRaw(data: Buffer | string, key: KeyObject): Buffer {
  return sign('sha256', typeof data === 'string' ? Buffer.from(data, 'utf8') : data, { key, dsaEncoding: 'ieee-p1363' });
}

export async function toWebCryptoPrivate(key: KeyObject): Promise<WebCryptoKey> {
  const der = key.export({ format: 'der', type: 'pkcs8' });
  return webcrypto.subtle.importKey('pkcs8', der, EC_P256, false, ['sign']);
}

export async function toWebCryptoPublic(key: KeyObject): Promise<WebCryptoKey> {
  const der = publicOf(key).export({ format: 'der', type: 'spki' });
  return webcrypto.subtle.importKey('spki', der, EC_P256, true, ['verify']);
}
