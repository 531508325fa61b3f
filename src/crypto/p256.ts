// P-256 keys as Warden meets them on the wire and in certificates: the 65-byte uncompressed point
// 04 || X || Y and the 32-byte scalar. The one place raw points are imported (certificates, attestation
// keys, HPKE keys, trust anchors). Pure: node:crypto only.
import crypto, { type KeyObject } from 'node:crypto';
import { WardenError } from '../protocol/errors.ts';

/** A key that is not a valid P-256 key (off the curve, wrong length or encoding). */
export class KeyError extends WardenError<'invalid_key'> {
  override name = 'KeyError';
  constructor(message: string) {
    super('invalid_key', message);
  }
}

export const POINT_BYTES = 65;
export const SCALAR_BYTES = 32;

/** The encoding alone (65 bytes, 0x04 first); whether the point is on the curve is checked where it is used. */
export function assertPointEncoding(raw: Buffer): void {
  if (!Buffer.isBuffer(raw) || raw.length !== POINT_BYTES || raw[0] !== 0x04) throw new KeyError('public key must be a 65-byte uncompressed P-256 point');
}

/**
 * Imports a raw uncompressed P-256 point. As a JWK, which node:crypto imports about 1.5x faster than
 * SPKI DER; OpenSSL checks the point is on the curve either way. Throws KeyError.
 */
export function importP256Point(raw: Buffer): KeyObject {
  assertPointEncoding(raw);
  try {
    return crypto.createPublicKey({
      key: { kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33, 65).toString('base64url') },
      format: 'jwk',
    });
  } catch {
    throw new KeyError('public key is not a valid P-256 point');
  }
}

// P-256 (SEC 2 §2.4.2): y^2 = x^3 - 3x + b over the prime field p.
const P256_P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const P256_B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;

/**
 * Checks that `raw` is a 65-byte uncompressed point on P-256 without building a KeyObject: OpenSSL's key
 * check on import costs about as much as a Diffie-Hellman, and the HPKE path needs only the bytes.
 * The curve equation on the coordinates, each below p (so no coordinate has two encodings): P-256 has
 * cofactor 1 and the point at infinity has no uncompressed encoding, so this is full validation (SEC 1
 * §3.2.2.1). About 1.5 µs, where decoding the point through ECDH.convertKey took 13. Throws KeyError.
 */
export function assertP256Point(raw: Buffer): void {
  assertPointEncoding(raw);
  const x = BigInt(`0x${raw.toString('hex', 1, 33)}`);
  const y = BigInt(`0x${raw.toString('hex', 33, 65)}`);
  if (x >= P256_P || y >= P256_P || (y * y - ((((x * x) % P256_P) * x) % P256_P) + 3n * x - P256_B) % P256_P !== 0n) {
    throw new KeyError('public key is not a valid P-256 point');
  }
}

function pad32(b: Buffer): Buffer {
  if (b.length === 32) return b;
  if (b.length > 32) throw new KeyError('coordinate longer than 32 bytes');
  return Buffer.concat([Buffer.alloc(32 - b.length), b]);
}

/** The 65-byte uncompressed point 04 ‖ X ‖ Y of a P-256 public (or private) key. */
export function publicKeyBytes(k: KeyObject): Buffer {
  const jwk = k.export({ format: 'jwk' });
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.x || !jwk.y) throw new KeyError('not a P-256 key');
  return Buffer.concat([Buffer.of(4), pad32(Buffer.from(jwk.x, 'base64url')), pad32(Buffer.from(jwk.y, 'base64url'))]);
}

/** The 32-byte big-endian scalar of a P-256 private key. */
export function privateKeyBytes(k: KeyObject): Buffer {
  if (k.type !== 'private') throw new KeyError('not a private key');
  const jwk = k.export({ format: 'jwk' });
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.d) throw new KeyError('not a P-256 private key');
  return pad32(Buffer.from(jwk.d, 'base64url'));
}

/** Builds a private KeyObject from a 32-byte big-endian scalar. */
export function importP256PrivateKey(sk: Buffer): KeyObject {
  if (sk.length !== SCALAR_BYTES) throw new KeyError('private key must be 32 bytes');
  try {
    const ecdh = crypto.createECDH('prime256v1');
    ecdh.setPrivateKey(sk);
    const pub = ecdh.getPublicKey();
    return crypto.createPrivateKey({
      key: { kty: 'EC', crv: 'P-256', d: sk.toString('base64url'), x: pub.subarray(1, 33).toString('base64url'), y: pub.subarray(33, 65).toString('base64url') },
      format: 'jwk',
    });
  } catch {
    throw new KeyError('private key is not a valid P-256 scalar');
  }
}

export function generateP256KeyPair(): { privateKey: KeyObject; publicKey: Buffer } {
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicKey: publicKeyBytes(privateKey) };
}
