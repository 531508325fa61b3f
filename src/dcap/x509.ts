// X.509 certificates and PEM chains, parsed with the DER reader and cached by their bytes.
import { createPublicKey, createHash, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { importP256Point } from '../crypto/p256.ts';
import { BoundedCache } from '../util/bounded-cache.ts';
import { DerError, TAG, children, content, expectTag, integerBytes, readOid, readName, readTime, readTlv, whole, type Tlv } from './der.ts';

export const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

export interface Certificate {
  der: Buffer;
  /** Hex SHA-256 of the DER: the cache key and a stable identity. */
  fingerprint: string;
  tbs: Buffer;
  serial: Buffer;
  issuer: string;
  subject: string;
  issuerCn: string;
  subjectCn: string;
  notBefore: Date;
  notAfter: Date;
  spki: Buffer;
  /** Raw uncompressed EC point (65 bytes) of the subject key. */
  publicKeyRaw: Buffer;
  publicKey: KeyObject;
  signatureAlgorithm: string;
  signature: Buffer; // DER ECDSA-Sig-Value
  extensions: Map<string, Buffer>; // OID -> extnValue content (the inner DER)
}

export class CertificateError extends Error {
  override name = 'CertificateError';
}

const CERT_CACHE_LIMIT = 50_000;
const certCache = new BoundedCache<string, Certificate>(CERT_CACHE_LIMIT);

/** SubjectPublicKeyInfo header of an uncompressed P-256 key (id-ecPublicKey, prime256v1), up to the point. */
const SPKI_P256_HEADER = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');


/** Parses a DER certificate, or returns the one parsed before from the same bytes. */
export function parseCertificate(der: Buffer): Certificate {
  const key = der.toString('base64');
  const hit = certCache.get(key);
  if (hit) return hit;
  const cert = parseCertificateUncached(Buffer.from(der));
  certCache.set(key, cert);
  return cert;
}

function parseCertificateUncached(der: Buffer): Certificate {
  try {
    const top = readTlv(der, 0);
    if (top.end !== der.length) throw new DerError('trailing bytes after certificate');
    const [tbsT, algT, sigT] = children(der, expectTag(top, TAG.SEQUENCE, 'Certificate'));
    const tbsParts = children(der, expectTag(tbsT, TAG.SEQUENCE, 'TBSCertificate'));
    let i = 0;
    if (tbsParts[0]?.tag === 0xa0) i++; // [0] version
    const serial = integerBytes(der, tbsParts[i++]);
    i++; // inner signature AlgorithmIdentifier
    const issuer = readName(der, tbsParts[i++]);
    const validity = children(der, expectTag(tbsParts[i++], TAG.SEQUENCE, 'Validity'));
    const notBefore = readTime(der, validity[0]);
    const notAfter = readTime(der, validity[1]);
    const subject = readName(der, tbsParts[i++]);
    const spkiT = expectTag(tbsParts[i++], TAG.SEQUENCE, 'SubjectPublicKeyInfo');
    const spki = whole(der, spkiT);
    const [, keyBits] = children(der, spkiT);
    const bits = content(der, expectTag(keyBits, TAG.BIT_STRING, 'subjectPublicKey'));
    const publicKeyRaw = bits.subarray(1);
    const extensions = new Map<string, Buffer>();
    for (; i < tbsParts.length; i++) {
      const t = tbsParts[i]!;
      if (t.tag !== 0xa3) continue;
      const list = readTlv(der, t.contentStart, t.end);
      for (const ext of children(der, expectTag(list, TAG.SEQUENCE, 'Extensions'))) {
        const parts = children(der, expectTag(ext, TAG.SEQUENCE, 'Extension'));
        const oid = readOid(der, parts[0]);
        const valueT = parts[parts.length - 1];
        extensions.set(oid, content(der, expectTag(valueT, TAG.OCTET_STRING, 'extnValue')));
      }
    }
    const signatureAlgorithm = readOid(der, children(der, expectTag(algT, TAG.SEQUENCE, 'AlgorithmIdentifier'))[0]);
    const sigBits = content(der, expectTag(sigT, TAG.BIT_STRING, 'signature'));
    let publicKey: KeyObject;
    try {
      publicKey =
        spki.length === 91 && spki.subarray(0, 26).equals(SPKI_P256_HEADER)
          ? importP256Point(publicKeyRaw)
          : createPublicKey({ key: spki, format: 'der', type: 'spki' });
    } catch {
      throw new CertificateError('certificate public key cannot be imported');
    }
    return {
      der,
      fingerprint: createHash('sha256').update(der).digest('hex'),
      tbs: whole(der, tbsT as Tlv),
      serial,
      issuer: issuer.text,
      subject: subject.text,
      issuerCn: issuer.cn,
      subjectCn: subject.cn,
      notBefore,
      notAfter,
      spki,
      publicKeyRaw,
      publicKey,
      signatureAlgorithm,
      signature: sigBits.subarray(1),
      extensions,
    };
  } catch (e) {
    if (e instanceof DerError) throw new CertificateError(`malformed certificate: ${e.message}`);
    throw e;
  }
}

const signedByCache = new BoundedCache<string, boolean>(CERT_CACHE_LIMIT);

/** Whether `cert` carries a valid ECDSA-SHA256 signature by `issuer`'s key. Cached by both identities. */
export function isSignedBy(cert: Certificate, issuer: Certificate): boolean {
  const key = cert.fingerprint + issuer.fingerprint;
  const hit = signedByCache.get(key);
  if (hit !== undefined) return hit;
  const ok = cert.signatureAlgorithm === OID_ECDSA_WITH_SHA256 && safeVerify(cert.tbs, issuer.publicKey, cert.signature, 'der');
  signedByCache.set(key, ok);
  return ok;
}

/** ECDSA P-256 / SHA-256 verification that never throws (a malformed signature is simply invalid). */
export function safeVerify(data: Buffer, key: KeyObject, signature: Buffer, encoding: 'der' | 'ieee-p1363'): boolean {
  try {
    return cryptoVerify('sha256', data, { key, dsaEncoding: encoding }, signature);
  } catch {
    return false;
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*?)-----END CERTIFICATE-----/g;

/**
 * Splits a PEM chain into DER certificates. Tolerates what real data holds between and after
 * the blocks (white space, a trailing NUL); anything else outside the blocks is an error.
 */
export function pemChainToDer(pem: string): Buffer[] {
  const out: Buffer[] = [];
  let last = 0;
  for (const m of pem.matchAll(PEM_CERT)) {
    if (!/^[\s\0]*$/.test(pem.slice(last, m.index))) throw new CertificateError('unexpected text in PEM chain');
    const b64 = m[1]!.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) throw new CertificateError('bad base64 in PEM certificate');
    out.push(Buffer.from(b64, 'base64'));
    last = m.index + m[0].length;
  }
  if (!/^[\s\0]*$/.test(pem.slice(last))) throw new CertificateError('unexpected text in PEM chain');
  if (out.length === 0) throw new CertificateError('no certificate in PEM chain');
  return out;
}

export function parsePemChain(pem: string): Certificate[] {
  return pemChainToDer(pem).map(parseCertificate);
}

/** A root given as PEM text or DER bytes (or PEM bytes). */
export function parseRoot(root: string | Buffer): Certificate {
  if (typeof root === 'string') {
    const [der] = pemChainToDer(root);
    return parseCertificate(der!);
  }
  const text = root.toString('latin1');
  if (text.includes('-----BEGIN CERTIFICATE-----')) return parseRoot(text);
  return parseCertificate(root);
}

export function toPem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/**
 * A chain in issuing order (leaf first, self-issued root last), whatever order it was given in, as
 * Intel's QVL finds certificates by their role. A set that is not one linear chain is returned as
 * given, and the checks that follow reject it.
 */
export function orderChain(certs: Certificate[]): Certificate[] {
  const leaves = certs.filter((c) => !certs.some((other) => other !== c && other.issuer === c.subject && other.subject !== other.issuer));
  if (leaves.length !== 1) return certs;
  const ordered = [leaves[0]!];
  while (ordered.length < certs.length) {
    const last = ordered[ordered.length - 1]!;
    if (last.issuer === last.subject) return certs;
    const issuers = certs.filter((c) => c.subject === last.issuer && !ordered.includes(c));
    if (issuers.length !== 1) return certs;
    ordered.push(issuers[0]!);
  }
  return ordered;
}
