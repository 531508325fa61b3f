// ES256 JWTs (RFC 7515/7519) with node:crypto: JOSE signatures are raw r ‖ s, not DER.
import crypto from 'node:crypto';
import { WardenError } from '../protocol/errors.ts';

export class JwtError extends WardenError<'jwt_malformed' | 'jwt_unsupported_alg' | 'jwt_unknown_kid' | 'jwt_bad_signature' | 'jwt_expired' | 'jwt_not_yet_valid'> {
  override name = 'JwtError';
}

export interface Jwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid: string;
  alg: 'ES256';
  use: 'sig';
}

export interface Jwks {
  keys: Jwk[];
}

const b64u = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** Order of the P-256 group. */
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const P256_HALF_N = P256_N >> 1n;

/**
 * ECDSA signatures are malleable: (r, s) and (r, n - s) both verify, so anyone holding a token can mint a second,
 * different string for the same claims. Warden issues only the low-S form (s <= n/2, as Bitcoin's BIP 62 and
 * @noble/curves' default) and its verifier accepts only that form, so each token has exactly one valid encoding
 * and a token string can serve as an identifier (revocation lists, replay caches).
 */
function toLowS(sig: Buffer): Buffer {
  const s = BigInt(`0x${sig.subarray(32).toString('hex')}`);
  if (s <= P256_HALF_N) return sig;
  return Buffer.concat([sig.subarray(0, 32), Buffer.from((P256_N - s).toString(16).padStart(64, '0'), 'hex')]);
}

function isHighS(sig: Buffer): boolean {
  return BigInt(`0x${sig.subarray(32).toString('hex')}`) > P256_HALF_N;
}

export function signJwtEs256(claims: object, key: { kid: string; privateKey: crypto.KeyObject }): string {
  const header = { alg: 'ES256', typ: 'JWT', kid: key.kid };
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
  const sig = crypto.sign('sha256', Buffer.from(input, 'ascii'), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64u(toLowS(sig))}`;
}

export function jwksFromKeys(keys: ReadonlyArray<{ kid: string; publicKey: crypto.KeyObject }>): Jwks {
  return {
    keys: keys.map(({ kid, publicKey }) => {
      const j = publicKey.export({ format: 'jwk' });
      if (j.kty !== 'EC' || j.crv !== 'P-256' || !j.x || !j.y) throw new TypeError(`key ${kid} is not a P-256 public key`);
      return { kty: 'EC', crv: 'P-256', x: j.x, y: j.y, kid, alg: 'ES256', use: 'sig' };
    }),
  };
}

function decodePart(part: string, what: string): Record<string, unknown> {
  if (!/^[A-Za-z0-9_-]+$/.test(part)) throw new JwtError('jwt_malformed', `JWT ${what} is not base64url`);
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch {
    throw new JwtError('jwt_malformed', `JWT ${what} is not a JSON object`);
  }
}

/**
 * Verifies signature (by `kid` in `jwks`), then `exp`/`nbf` against `now` (seconds since the epoch). Only the one
 * canonical encoding of a signature is accepted: low-S, canonical base64url (see toLowS).
 */
export function verifyJwtEs256(
  token: string,
  jwks: Jwks,
  opts: { now?: Date; clockSkewSeconds?: number } = {},
): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  if (typeof token !== 'string' || token.length > 64 * 1024) throw new JwtError('jwt_malformed', 'JWT is not a string of sane length');
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtError('jwt_malformed', 'JWT must have three parts');
  const [h, p, s] = parts as [string, string, string];
  const header = decodePart(h, 'header');
  const claims = decodePart(p, 'payload');
  if (header['alg'] !== 'ES256') throw new JwtError('jwt_unsupported_alg', 'only ES256 is accepted');
  const jwk = jwks.keys.find((k) => k.kid === header['kid']);
  if (!jwk) throw new JwtError('jwt_unknown_kid', 'no key in the JWKS has this kid');
  const sig = Buffer.from(s, 'base64url');
  // Re-encoding must give back the same text: base64url's last character has spare bits that would make a second spelling.
  if (sig.length !== 64 || sig.toString('base64url') !== s) throw new JwtError('jwt_bad_signature', 'ES256 signature must be 64 bytes in canonical base64url');
  if (isHighS(sig)) throw new JwtError('jwt_bad_signature', 'ES256 signature is not in low-S form (Warden issues only low-S signatures)');
  const key = crypto.createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, format: 'jwk' });
  const ok = crypto.verify('sha256', Buffer.from(`${h}.${p}`, 'ascii'), { key, dsaEncoding: 'ieee-p1363' }, sig);
  if (!ok) throw new JwtError('jwt_bad_signature', 'JWT signature does not verify');
  const now = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  const skew = opts.clockSkewSeconds ?? 0;
  if (typeof claims['exp'] === 'number' && now >= claims['exp'] + skew) throw new JwtError('jwt_expired', 'JWT has expired');
  if (typeof claims['nbf'] === 'number' && now + skew < claims['nbf']) throw new JwtError('jwt_not_yet_valid', 'JWT is not valid yet');
  return { header, claims };
}
