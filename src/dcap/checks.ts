// The named checks of DCAP verification that do not need a quote: the pinned root, certificate chains,
// CRLs, signed JSON and the time rule. verify.ts runs them for a quote, in Intel's order; the collateral
// edge (src/collateral/validate.ts) runs the same functions on each item it fetches, so an item the cache
// accepts is one the verifier accepts, by construction. Pure: no I/O.
import { BoundedCache } from '../util/bounded-cache.ts';
import { hasRequiredCrlExtensions, isCrlSignedBy, parseCrl, CrlError, type Crl } from './crl.ts';
import { fail, VerificationError } from './errors.ts';
import { INTEL_SGX_ROOT_CA_PEM } from './intel-root.ts';
import { pckCaKind } from './pck.ts';
import type { PckCaKind } from './types.ts';
import { CertificateError, isSignedBy, orderChain, parsePemChain, parseRoot, safeVerify, type Certificate } from './x509.ts';

const rootCache = new BoundedCache<string, Certificate>(100);

/** The pinned root: the certificate given (PEM or DER), or Intel's SGX Root CA. Throws untrusted_root when it is not one. */
export function trustedRootOf(root?: string | Buffer): Certificate {
  const input = root ?? INTEL_SGX_ROOT_CA_PEM;
  const key = typeof input === 'string' ? input : input.toString('base64');
  return rootCache.getOrSet(key, () => {
    try {
      return parseRoot(input);
    } catch (e) {
      if (!(e instanceof CertificateError)) throw e;
      throw new VerificationError('untrusted_root', `the trusted root given is not a certificate: ${e.message}`);
    }
  });
}

/** §4.3 A chain's root must be the pinned root: same key, and a valid self-signature. */
export function checkPinnedRoot(chainRoot: Certificate, trusted: Certificate, what: string): void {
  if (!chainRoot.publicKeyRaw.equals(trusted.publicKeyRaw)) fail('untrusted_root', `${what} does not lead to the pinned root ('${chainRoot.subjectCn}' has another key)`);
  if (chainRoot.issuer !== chainRoot.subject || !isSignedBy(chainRoot, chainRoot)) fail('invalid_certificate_chain', `${what} root is not a valid self-signed certificate`);
}

export function checkIssuedBy(cert: Certificate, issuer: Certificate, what: string): void {
  if (cert.issuer !== issuer.subject) fail('invalid_certificate_chain', `${what} '${cert.subjectCn}' is not issued by '${issuer.subjectCn}'`);
  if (!isSignedBy(cert, issuer)) fail('invalid_certificate_chain', `${what} '${cert.subjectCn}' is not signed by '${issuer.subjectCn}'`);
}

function checkRootCn(root: Certificate, what: string): void {
  if (!root.subjectCn.includes('SGX Root CA')) fail('invalid_certificate_chain', `${what} root '${root.subjectCn}' is not an SGX Root CA`);
}

/** A PCK CA (Processor or Platform) issued by the pinned root: the top of every PCK chain and the PCK CRL's issuer. */
function checkPckCa(ca: Certificate, root: Certificate, what: string): PckCaKind {
  checkRootCn(root, what);
  if (!ca.subjectCn.includes('CA')) fail('invalid_certificate_chain', `${what} intermediate '${ca.subjectCn}' is not a CA`);
  checkIssuedBy(ca, root, `${what} CA`);
  return pckCaKind(ca);
}

/** §4.3/§4.4 Root CA -> Processor/Platform CA -> PCK certificate, each signed by the one above, the root pinned. */
export function checkPckChain(leaf: Certificate, ca: Certificate, root: Certificate, trusted: Certificate): PckCaKind {
  checkPinnedRoot(root, trusted, 'PCK certificate chain');
  const kind = checkPckCa(ca, root, 'PCK chain');
  if (!leaf.subjectCn.includes('SGX PCK Certificate')) fail('invalid_certificate_chain', `PCK leaf '${leaf.subjectCn}' is not an SGX PCK Certificate`);
  checkIssuedBy(leaf, ca, 'PCK certificate');
  return kind;
}

function readIssuerChain(pem: string, what: string, length: number, holds: string): Certificate[] {
  let chain: Certificate[];
  try {
    chain = parsePemChain(pem);
  } catch (e) {
    if (!(e instanceof CertificateError)) throw e;
    fail('malformed_collateral', `${what} issuer chain: ${e.message}`);
  }
  if (chain.length !== length) fail('invalid_certificate_chain', `${what} issuer chain must hold ${length} certificates (${holds}), it holds ${chain.length}`);
  // In issuing order whatever order it came in (a PCCS may send it root first), as Intel's QVL finds
  // certificates by their role.
  return orderChain(chain);
}

/** §4.6/§4.7 The signing chain of TCB Info or QE Identity: exactly the TCB Signing certificate and the pinned root. */
export function checkSigningChain(pem: string, trusted: Certificate, what: string): [signer: Certificate, root: Certificate] {
  const [signer, root] = readIssuerChain(pem, what, 2, 'TCB Signing, root') as [Certificate, Certificate];
  checkPinnedRoot(root, trusted, `${what} issuer chain`);
  if (!signer.subjectCn.includes('SGX TCB Signing')) fail('invalid_certificate_chain', `${what} is signed by '${signer.subjectCn}', not the SGX TCB Signing certificate`);
  checkIssuedBy(signer, root, `${what} signer`);
  return [signer, root];
}

/** The issuer chain of a PCK CRL: exactly a PCK CA (Processor or Platform) and the pinned root. */
export function checkPckCrlIssuerChain(pem: string, trusted: Certificate, what: string): { ca: Certificate; root: Certificate; kind: PckCaKind } {
  const [ca, root] = readIssuerChain(pem, what, 2, 'PCK CA, root') as [Certificate, Certificate];
  checkPinnedRoot(root, trusted, `${what} issuer chain`);
  return { ca, root, kind: checkPckCa(ca, root, `${what} issuer chain`) };
}

export function loadCrl(der: Buffer, what: string): Crl {
  try {
    return parseCrl(der);
  } catch (e) {
    if (e instanceof CrlError) fail('malformed_collateral', `${what}: ${e.message}`);
    throw e;
  }
}

/** §4.5 A CRL must come from the CA it is for, carry the extensions Intel's CRLs carry, and be signed by that CA. */
export function checkCrlIssuedBy(crl: Crl, issuer: Certificate, what: string): void {
  if (crl.issuer !== issuer.subject) fail('crl_mismatch', `${what} is issued by '${crl.issuerCn}', not by '${issuer.subjectCn}'`);
  if (!hasRequiredCrlExtensions(crl)) fail('malformed_collateral', `${what} lacks the CRL Number or Authority Key Identifier extension`);
  if (!isCrlSignedBy(crl, issuer)) fail('signature_invalid', `${what} signature does not verify with the key of '${issuer.subjectCn}'`);
}

const signedJsonCache = new BoundedCache<string, unknown>(10_000);

/** §4.6/§4.7 A signature (r||s) by the TCB Signing key over the exact bytes received, then the strict parse. */
export function checkSignedJson<T>(text: string, signature: Buffer, signer: Certificate, what: string, parse: (t: string) => T): T {
  const key = `${signer.fingerprint}:${signature.toString('base64')}:${text}`;
  const hit = signedJsonCache.get(key);
  if (hit !== undefined) return hit as T;
  if (signature.length !== 64 || !safeVerify(Buffer.from(text, 'utf8'), signer.publicKey, signature, 'ieee-p1363')) {
    fail('signature_invalid', `${what} signature does not verify with the TCB Signing key`);
  }
  const parsed = parse(text);
  signedJsonCache.set(key, parsed);
  return parsed;
}

// ---- §4.8 the time rule ----

export interface Validity {
  what: string;
  from: Date;
  until: Date;
  code: 'certificate_expired' | 'collateral_expired';
}

/** The one time rule: valid from `from` (inclusive) until `until` (exclusive). No skew either way. */
export function isValidAt(at: Date, v: Pick<Validity, 'from' | 'until'>): boolean {
  const t = at.getTime();
  return v.from.getTime() <= t && t < v.until.getTime();
}

/** Everything must be valid at `at` (fail closed); returns the earliest expiry. */
export function checkValidityAt(at: Date, items: Validity[]): Date {
  let earliest = Infinity;
  for (const item of items) {
    if (at.getTime() < item.from.getTime()) fail(item.code, `${item.what} is not valid until ${item.from.toISOString()} (verification time ${at.toISOString()})`);
    // Expired at its own end time, certificates included: Intel's QvE flags expiry when the earliest
    // expiration of any item is <= t, and Warden rejects what QvE flags.
    if (!isValidAt(at, item)) fail(item.code, `${item.what} expired at ${item.until.toISOString()} (verification time ${at.toISOString()})`);
    earliest = Math.min(earliest, item.until.getTime());
  }
  return new Date(earliest);
}

export function certValidity(cert: Certificate, what: string): Validity {
  return { what: `${what} '${cert.subjectCn}'`, from: cert.notBefore, until: cert.notAfter, code: 'certificate_expired' };
}

export function crlValidity(crl: Crl, what: string): Validity {
  if (!crl.nextUpdate) fail('malformed_collateral', `${what} has no nextUpdate`);
  return { what, from: crl.thisUpdate, until: crl.nextUpdate, code: 'collateral_expired' };
}

export function signedJsonValidity(item: { issueDate: Date; nextUpdate: Date }, what: string): Validity {
  return { what, from: item.issueDate, until: item.nextUpdate, code: 'collateral_expired' };
}
