// How a released secret is sealed on the wire (v1): HPKE (RFC 9180) Auth mode with the suite below,
// recipient the enclave's fresh key pkE, sender the server's static HPKE key,
// info = "warden/v1 secret" + " " + UTF-8 name, aad = the 32 nonce bytes, plaintext = the secret's raw
// bytes. The code that seals and opens is src/secrets/sealing.ts; occlum-image/init opens the same, and
// the golden vectors pin it for both sides.
import { createHash } from 'node:crypto';

/** RFC 9180 identifiers of Warden's suite. */
export const HPKE_SUITE = {
  kem: 0x0010, // DHKEM(P-256, HKDF-SHA256)
  kdf: 0x0001, // HKDF-SHA256
  aead: 0x0002, // AES-256-GCM
  mode: 0x02, // Auth
  /** As GET /v1/server-keys names it. */
  name: 'DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM',
} as const;

/** The suite's name, as /v1/server-keys and `warden admin` print it. */
export const WARDEN_SUITE = HPKE_SUITE.name;

/**
 * `serverKeyId` of a server HPKE key: lowercase hex SHA-256 of its 65-byte uncompressed public key
 * (the enclave computes it from the key its image pinned and may name it in the attest request).
 */
export function serverKeyId(publicKey: Buffer): string {
  return createHash('sha256').update(publicKey).digest('hex');
}

/** The 17 ASCII bytes before the secret's name in the HPKE info (trailing space included). */
export const SECRET_INFO_PREFIX = 'warden/v1 secret ';

/** HPKE `info` for a released secret: `warden/v1 secret ` then the UTF-8 name. */
export function secretInfo(name: string): Buffer {
  return Buffer.concat([Buffer.from(SECRET_INFO_PREFIX, 'ascii'), Buffer.from(name, 'utf8')]);
}

/** HPKE `aad` of a release: the nonce bytes of the challenge it answers. */
export function secretAad(nonce: Buffer): Buffer {
  return nonce;
}
