// X.509 CRLs: parsed once per byte string into an index of revoked serials.
import { hash } from 'node:crypto';
import { DerError, TAG, children, content, expectTag, integerBytes, readOid, readName, readTime, readTlv, whole } from './der.ts';
import { BoundedCache } from '../util/bounded-cache.ts';
import { OID_ECDSA_WITH_SHA256, safeVerify, type Certificate } from './x509.ts';

const OID_CRL_NUMBER = '2.5.29.20';
const OID_AUTHORITY_KEY_ID = '2.5.29.35';

export interface Crl {
  der: Buffer;
  /** Hex SHA-256 of the whole DER (signed contents, algorithm and signature): the key of any verdict on it. */
  fingerprint: string;
  tbs: Buffer;
  issuer: string;
  issuerCn: string;
  thisUpdate: Date;
  nextUpdate: Date | null;
  /** Hex of each revoked serial (leading zeros stripped). */
  revoked: Set<string>;
  extensionOids: Set<string>;
  signatureAlgorithm: string;
  signature: Buffer;
}

export class CrlError extends Error {
  override name = 'CrlError';
}

const crlCache = new BoundedCache<string, Crl>(10_000);

export function parseCrl(der: Buffer): Crl {
  const key = der.toString('base64');
  const hit = crlCache.get(key);
  if (hit) return hit;
  const crl = parseCrlUncached(Buffer.from(der));
  crlCache.set(key, crl);
  return crl;
}

function parseCrlUncached(der: Buffer): Crl {
  try {
    const top = readTlv(der, 0);
    if (top.end !== der.length) throw new DerError('trailing bytes after CRL');
    const [tbsT, algT, sigT] = children(der, expectTag(top, TAG.SEQUENCE, 'CertificateList'));
    const parts = children(der, expectTag(tbsT, TAG.SEQUENCE, 'TBSCertList'));
    let i = 0;
    if (parts[0]?.tag === TAG.INTEGER) i++; // version
    i++; // signature AlgorithmIdentifier
    const issuer = readName(der, parts[i++]);
    const thisUpdate = readTime(der, parts[i++]);
    let nextUpdate: Date | null = null;
    if (parts[i] && (parts[i]!.tag === TAG.UTC_TIME || parts[i]!.tag === TAG.GENERALIZED_TIME)) nextUpdate = readTime(der, parts[i++]);
    const revoked = new Set<string>();
    if (parts[i]?.tag === TAG.SEQUENCE) {
      for (const entry of children(der, parts[i++]!)) {
        const [serialT] = children(der, expectTag(entry, TAG.SEQUENCE, 'revoked certificate'));
        revoked.add(integerBytes(der, serialT).toString('hex'));
      }
    }
    const extensionOids = new Set<string>();
    if (parts[i]?.tag === 0xa0) {
      const t = parts[i]!;
      const list = readTlv(der, t.contentStart, t.end);
      for (const ext of children(der, expectTag(list, TAG.SEQUENCE, 'Extensions'))) {
        extensionOids.add(readOid(der, children(der, expectTag(ext, TAG.SEQUENCE, 'Extension'))[0]));
      }
    }
    const signatureAlgorithm = readOid(der, children(der, expectTag(algT, TAG.SEQUENCE, 'AlgorithmIdentifier'))[0]);
    const sig = content(der, expectTag(sigT, TAG.BIT_STRING, 'signature')).subarray(1);
    return { der, fingerprint: hash('sha256', der, 'hex'), tbs: whole(der, tbsT!), issuer: issuer.text, issuerCn: issuer.cn, thisUpdate, nextUpdate, revoked, extensionOids, signatureAlgorithm, signature: sig };
  } catch (e) {
    if (e instanceof DerError) throw new CrlError(`malformed CRL: ${e.message}`);
    throw e;
  }
}

export function hasRequiredCrlExtensions(crl: Crl): boolean {
  return crl.extensionOids.has(OID_CRL_NUMBER) && crl.extensionOids.has(OID_AUTHORITY_KEY_ID);
}

const crlSigCache = new BoundedCache<string, boolean>(10_000);

/**
 * Whether the CRL carries a valid ECDSA-SHA256 signature by `issuer`'s key. The verdict is cached under
 * the digest of the whole CRL and of the issuer certificate: keyed by the signature alone, a genuine
 * CRL's signature bytes once made any contents pass.
 */
export function isCrlSignedBy(crl: Crl, issuer: Certificate): boolean {
  const key = `${crl.fingerprint}:${issuer.fingerprint}`;
  const hit = crlSigCache.get(key);
  if (hit !== undefined) return hit;
  const ok = crl.signatureAlgorithm === OID_ECDSA_WITH_SHA256 && safeVerify(crl.tbs, issuer.publicKey, crl.signature, 'der');
  crlSigCache.set(key, ok);
  return ok;
}

export function isRevoked(crl: Crl, cert: Certificate): boolean {
  return crl.revoked.has(cert.serial.toString('hex'));
}

/** Accepts a CRL as DER, PEM (text or bytes) or hex text of the DER, as PCS and PCCS variously serve it. */
export function normaliseCrl(input: Buffer | string): Buffer {
  const text = typeof input === 'string' ? input : input.subarray(0, 64).toString('latin1').includes('-----BEGIN') || /^[0-9a-fA-F\s]+$/.test(input.toString('latin1')) ? input.toString('latin1') : null;
  if (text === null) return input as Buffer;
  const pem = /-----BEGIN X509 CRL-----([A-Za-z0-9+/=\s]+)-----END X509 CRL-----/.exec(text);
  if (pem) return Buffer.from(pem[1]!.replace(/\s+/g, ''), 'base64');
  const hex = text.trim();
  if (/^(?:[0-9a-fA-F]{2})+$/.test(hex)) return Buffer.from(hex, 'hex');
  throw new CrlError('CRL is neither DER, PEM nor hex');
}
