// DCAP quote verification: the checks of ../shared/docs/dcap-verification.md §4, in its order,
// each a named function. Pure: no I/O; the time and the trusted root are inputs.
// Fails closed where Intel's QvE only warns: expired collateral and not-yet-valid items reject.
import { hash, type KeyObject } from 'node:crypto';
import { hasRequiredCrlExtensions, isCrlSignedBy, isRevoked, parseCrl, CrlError, type Crl } from './crl.ts';
import { fail, VerificationError } from './errors.ts';
import { INTEL_SGX_ROOT_CA_PEM, INTEL_SGX_ROOT_PUBLIC_KEY } from './intel-root.ts';
import { pckCaKind, pckChainOf, parseSgxExtension } from './pck.ts';
import { CERT_DATA_PCK_CHAIN, parseQuote } from './quote.ts';
import { matchQeLevel, parseQeIdentity, qeIdentityMismatch, type QeIdentity, type QeTcbLevel } from './qe-identity.ts';
import { convergeStatus } from './status.ts';
import { matchTcbLevel, parseTcbInfo, type TcbInfo, type TcbLevel } from './tcb-info.ts';
import type { Collateral, Quote, SgxExtension, Verification, VerifyOptions } from './types.ts';
import { importP256Point } from '../crypto/p256.ts';
import { CertificateError, isSignedBy, orderChain, parsePemChain, parseRoot, safeVerify, type Certificate } from './x509.ts';

// ---- caches (by bytes): parsed roots, signed JSON, imported attestation keys ----

const rootCache = new Map<string, Certificate>();
function trustedRootOf(root: string | Buffer | undefined): Certificate {
  const input = root ?? INTEL_SGX_ROOT_CA_PEM;
  const key = typeof input === 'string' ? input : input.toString('base64');
  let cert = rootCache.get(key);
  if (!cert) {
    try {
      cert = parseRoot(input);
    } catch (e) {
      if (!(e instanceof CertificateError)) throw e;
      throw new VerificationError('untrusted_root', `the trusted root given is not a certificate: ${e.message}`);
    }
    if (rootCache.size > 100) rootCache.clear();
    rootCache.set(key, cert);
  }
  return cert;
}

const attestationKeyCache = new Map<string, KeyObject | null>();
function importAttestationKey(raw: Buffer): KeyObject | null {
  const id = raw.toString('base64');
  let key = attestationKeyCache.get(id);
  if (key === undefined) {
    try {
      key = importP256Point(Buffer.concat([Buffer.from([4]), raw]));
    } catch {
      key = null; // not a point on P-256
    }
    if (attestationKeyCache.size >= 100_000) attestationKeyCache.clear();
    attestationKeyCache.set(id, key);
  }
  return key;
}

const signedJsonCache = new Map<string, TcbInfo | QeIdentity>();

/** A computation run once; its value or its error is replayed on every later call. */
function once<T>(fn: () => T): () => T {
  let done: { value: T } | { error: unknown } | null = null;
  return () => {
    if (!done) {
      try {
        done = { value: fn() };
      } catch (error) {
        done = { error };
      }
    }
    if ('error' in done) throw done.error;
    return done.value;
  };
}

/**
 * What can be checked of a collateral set without the quote, done once per collateral object and
 * trusted root (collateral objects are treated as immutable). The checks still run in their order
 * for every quote; a memoised failure is rethrown at its own step.
 */
class PreparedCollateral {
  constructor(
    private readonly c: Collateral,
    private readonly trusted: Certificate,
  ) {}
  readonly tcbChain = once(() => checkSigningChain(this.c.tcbInfoIssuerChain, this.trusted, 'TCB Info'));
  readonly qeChain = once(() => checkSigningChain(this.c.qeIdentityIssuerChain, this.trusted, 'QE Identity'));
  readonly rootCrl = once(() => loadCrl(this.c.rootCaCrl, 'root CA CRL'));
  readonly pckCrl = once(() => loadCrl(this.c.pckCrl, 'PCK CRL'));
  readonly tcbInfo = once(() => checkSignedJson(this.c.tcbInfo, this.c.tcbInfoSignature, this.tcbChain()[0]!, 'TCB Info', parseTcbInfo));
  readonly qeIdentity = once(() => checkSignedJson(this.c.qeIdentity, this.c.qeIdentitySignature, this.qeChain()[0]!, 'QE Identity', parseQeIdentity));
}

const preparedCache = new WeakMap<Collateral, Map<string, PreparedCollateral>>();
function prepare(collateral: Collateral, trusted: Certificate): PreparedCollateral {
  let byRoot = preparedCache.get(collateral);
  if (!byRoot) preparedCache.set(collateral, (byRoot = new Map()));
  let p = byRoot.get(trusted.fingerprint);
  if (!p) byRoot.set(trusted.fingerprint, (p = new PreparedCollateral(collateral, trusted)));
  return p;
}

interface PckChain {
  leaf: Certificate;
  ca: Certificate;
  root: Certificate;
  extension: () => SgxExtension;
}
const pckChainCache = new Map<string, () => PckChain>();
/** The chain last seen with each attestation key, confirmed byte for byte: no 4 KB string key to hash. */
const pckChainByAttestationKey = new Map<string, { data: Buffer; chain: () => PckChain }>();

// ---- the checks ----

/** §4.2 The PCK chain from the quote (type 5) or from the collateral (types 1-4); cached by its text. */
function extractPckChain(quote: Quote, collateral: Collateral): PckChain {
  const cd = quote.signature.certification;
  const ak = quote.signature.attestationKey.toString('latin1');
  if (cd.type === CERT_DATA_PCK_CHAIN) {
    const seen = pckChainByAttestationKey.get(ak);
    if (seen && seen.data.equals(cd.data)) return seen.chain();
  }
  const key = `${cd.type}:${cd.type === CERT_DATA_PCK_CHAIN ? cd.data.toString('latin1') : collateral.pckCertificateChain ?? ''}`;
  let chain = pckChainCache.get(key);
  if (!chain) {
    chain = once(() => {
      const [leaf, ca, root] = pckChainOf(quote, collateral.pckCertificateChain) as [Certificate, Certificate, Certificate];
      return { leaf, ca, root, extension: once(() => parseSgxExtension(leaf, pckCaKind(ca))) };
    });
    if (pckChainCache.size >= 50_000) pckChainCache.clear();
    pckChainCache.set(key, chain);
  }
  const value = chain();
  if (cd.type === CERT_DATA_PCK_CHAIN) {
    if (pckChainByAttestationKey.size >= 50_000) pckChainByAttestationKey.clear();
    pckChainByAttestationKey.set(ak, { data: Buffer.from(cd.data), chain });
  }
  return value;
}

/** §4.3 The chain's root must be the pinned root: same key, and a valid self-signature. */
function checkPinnedRoot(chainRoot: Certificate, trusted: Certificate, what: string): void {
  if (!chainRoot.publicKeyRaw.equals(trusted.publicKeyRaw)) fail('untrusted_root', `${what} does not lead to the pinned root ('${chainRoot.subjectCn}' has another key)`);
  if (chainRoot.issuer !== chainRoot.subject || !isSignedBy(chainRoot, chainRoot)) fail('invalid_certificate_chain', `${what} root is not a valid self-signed certificate`);
}

function checkIssuedBy(cert: Certificate, issuer: Certificate, what: string): void {
  if (cert.issuer !== issuer.subject) fail('invalid_certificate_chain', `${what} '${cert.subjectCn}' is not issued by '${issuer.subjectCn}'`);
  if (!isSignedBy(cert, issuer)) fail('invalid_certificate_chain', `${what} '${cert.subjectCn}' is not signed by '${issuer.subjectCn}'`);
}

/** §4.4 Root CA -> Processor/Platform CA -> PCK certificate, each signed by the one above. */
function checkPckChain(leaf: Certificate, ca: Certificate, root: Certificate): void {
  if (!root.subjectCn.includes('SGX Root CA')) fail('invalid_certificate_chain', `PCK chain root '${root.subjectCn}' is not an SGX Root CA`);
  if (!ca.subjectCn.includes('CA')) fail('invalid_certificate_chain', `PCK chain intermediate '${ca.subjectCn}' is not a CA`);
  if (!leaf.subjectCn.includes('SGX PCK Certificate')) fail('invalid_certificate_chain', `PCK leaf '${leaf.subjectCn}' is not an SGX PCK Certificate`);
  checkIssuedBy(ca, root, 'PCK CA');
  checkIssuedBy(leaf, ca, 'PCK certificate');
}

/** §4.6/§4.7 The TCB Signing chain of a signed JSON item: exactly signer and pinned root. */
function checkSigningChain(pem: string, trusted: Certificate, what: string): Certificate[] {
  let chain: Certificate[];
  try {
    chain = parsePemChain(pem);
  } catch (e) {
    if (!(e instanceof CertificateError)) throw e;
    fail('malformed_collateral', `${what} issuer chain: ${e.message}`);
  }
  if (chain.length !== 2) fail('invalid_certificate_chain', `${what} issuer chain must hold 2 certificates (TCB Signing, root), it holds ${chain.length}`);
  chain = orderChain(chain);
  const [signer, root] = chain as [Certificate, Certificate];
  checkPinnedRoot(root, trusted, `${what} issuer chain`);
  if (!signer.subjectCn.includes('SGX TCB Signing')) fail('invalid_certificate_chain', `${what} is signed by '${signer.subjectCn}', not the SGX TCB Signing certificate`);
  checkIssuedBy(signer, root, `${what} signer`);
  return chain;
}

function loadCrl(der: Buffer, what: string): Crl {
  try {
    return parseCrl(der);
  } catch (e) {
    if (e instanceof CrlError) fail('malformed_collateral', `${what}: ${e.message}`);
    throw e;
  }
}

/** §4.5 Root CA CRL and the PCK CRL of the leaf's own CA; nothing in the chains revoked. */
function checkCrls(rootCrl: Crl, pckCrl: Crl, root: Certificate, pckCa: Certificate, leaf: Certificate, tcbSigners: Certificate[]): void {
  if (rootCrl.issuer !== root.subject) fail('crl_mismatch', `root CA CRL is issued by '${rootCrl.issuerCn}', not the root CA`);
  if (pckCrl.issuer !== pckCa.subject) fail('crl_mismatch', `PCK CRL is issued by '${pckCrl.issuerCn}', but the PCK certificate was issued by '${pckCa.subjectCn}'`);
  if (!hasRequiredCrlExtensions(rootCrl)) fail('malformed_collateral', 'root CA CRL lacks the CRL Number or Authority Key Identifier extension');
  if (!hasRequiredCrlExtensions(pckCrl)) fail('malformed_collateral', 'PCK CRL lacks the CRL Number or Authority Key Identifier extension');
  if (!isCrlSignedBy(rootCrl, root)) fail('signature_invalid', 'root CA CRL signature does not verify with the root key');
  if (!isCrlSignedBy(pckCrl, pckCa)) fail('signature_invalid', `PCK CRL signature does not verify with the key of '${pckCa.subjectCn}'`);
  if (isRevoked(rootCrl, pckCa)) fail('revoked', `PCK CA '${pckCa.subjectCn}' is revoked by the root CA CRL`);
  for (const signer of tcbSigners) if (isRevoked(rootCrl, signer)) fail('revoked', `TCB Signing certificate (serial ${signer.serial.toString('hex')}) is revoked by the root CA CRL`);
  if (isRevoked(pckCrl, leaf)) fail('revoked', `PCK certificate (serial ${leaf.serial.toString('hex')}) is revoked by the PCK CRL`);
}

/** §4.6/§4.7 A signature (r||s) by the TCB Signing key over the exact bytes received. */
function checkSignedJson<T extends TcbInfo | QeIdentity>(text: string, signature: Buffer, signer: Certificate, what: string, parse: (t: string) => T): T {
  const key = `${signer.fingerprint}:${signature.toString('base64')}:${text}`;
  const hit = signedJsonCache.get(key);
  if (hit) return hit as T;
  if (signature.length !== 64 || !safeVerify(Buffer.from(text, 'utf8'), signer.publicKey, signature, 'ieee-p1363')) {
    fail('signature_invalid', `${what} signature does not verify with the TCB Signing key`);
  }
  const parsed = parse(text);
  if (signedJsonCache.size >= 10_000) signedJsonCache.clear();
  signedJsonCache.set(key, parsed);
  return parsed;
}

interface Validity {
  what: string;
  from: Date;
  until: Date;
  code: 'certificate_expired' | 'collateral_expired';
}

/** §4.8 Everything must be valid at `at` (fail closed); returns the earliest expiry. */
function checkValidityAt(at: Date, items: Validity[]): Date {
  const t = at.getTime();
  let earliest = Infinity;
  for (const item of items) {
    if (t < item.from.getTime()) fail(item.code, `${item.what} is not valid until ${item.from.toISOString()} (verification time ${at.toISOString()})`);
    // Expired at its own end time, certificates included: Intel's QvE flags expiry when the earliest
    // expiration of any item is <= t, and Warden rejects what QvE flags.
    if (t >= item.until.getTime()) fail(item.code, `${item.what} expired at ${item.until.toISOString()} (verification time ${at.toISOString()})`);
    earliest = Math.min(earliest, item.until.getTime());
  }
  return new Date(earliest);
}

function certValidity(cert: Certificate, what: string): Validity {
  return { what: `${what} '${cert.subjectCn}'`, from: cert.notBefore, until: cert.notAfter, code: 'certificate_expired' };
}

function crlValidity(crl: Crl, what: string): Validity {
  if (!crl.nextUpdate) fail('malformed_collateral', `${what} has no nextUpdate`);
  return { what, from: crl.thisUpdate, until: crl.nextUpdate, code: 'collateral_expired' };
}

/** §4.9 TCB Info must be for this TEE and this platform; QE Identity for the SGX QE. */
function checkCollateralIsForQuote(tcbInfo: TcbInfo, qeIdentity: QeIdentity, ext: SgxExtension): void {
  if (tcbInfo.id !== null && tcbInfo.id !== 'SGX') fail('tcb_info_mismatch', `TCB Info is for ${tcbInfo.id}, the quote is SGX`);
  const fmspc = ext.fmspc.toString('hex');
  if (tcbInfo.fmspc !== fmspc) fail('tcb_info_mismatch', `TCB Info is for FMSPC ${tcbInfo.fmspc}, the PCK certificate is for ${fmspc}`);
  const pceId = ext.pceId.toString('hex');
  if (tcbInfo.pceId !== pceId) fail('tcb_info_mismatch', `TCB Info is for PCE-ID ${tcbInfo.pceId}, the PCK certificate has ${pceId}`);
  if (qeIdentity.id !== 'QE') fail('qe_identity_mismatch', `QE Identity is for '${qeIdentity.id}', an SGX quote needs 'QE'`);
}

/** §4.10 The QE report is signed by the PCK key. */
function checkQeReportSignature(quote: Quote, leaf: Certificate): void {
  if (!safeVerify(quote.signature.qeReport.raw, leaf.publicKey, quote.signature.qeReportSignature, 'ieee-p1363')) {
    fail('signature_invalid', 'QE report signature does not verify with the PCK certificate key');
  }
}

/** §4.11 QE REPORTDATA = SHA-256(attestation key || QE auth data) || 32 zero bytes. */
function checkQeReportData(quote: Quote): void {
  const { attestationKey, qeAuthData, qeReport } = quote.signature;
  // One-shot hash (node >= 20.12): cheaper than a Hash object on the hot path; 'buffer' returns bytes.
  const expected = hash('sha256', Buffer.concat([attestationKey, qeAuthData]), 'buffer') as unknown as Buffer;
  const rd = qeReport.reportData;
  if (!rd.subarray(0, 32).equals(expected) || rd.subarray(32).some((b) => b !== 0)) {
    fail('qe_report_data_mismatch', 'QE report data does not bind the attestation key and QE auth data');
  }
}

/** §4.12 The QE is the one QE Identity describes; its TCB level by ISVSVN. */
function checkQeIdentity(quote: Quote, identity: QeIdentity): QeTcbLevel {
  const mismatch = qeIdentityMismatch(identity, quote.signature.qeReport);
  if (mismatch) fail('qe_identity_mismatch', mismatch);
  const level = matchQeLevel(identity, quote.signature.qeReport.isvSvn);
  if (!level) fail('tcb_not_supported', `QE ISVSVN ${quote.signature.qeReport.isvSvn} is below every QE Identity TCB level`);
  if (level.status === 'Revoked') fail('revoked', `QE TCB level (ISVSVN ${level.isvSvn}) is Revoked`);
  return level;
}

/** §4.13 The quote (header + body) is signed by the attestation key. */
function checkIsvSignature(quote: Quote): void {
  const key = importAttestationKey(quote.signature.attestationKey);
  if (!key) fail('signature_invalid', 'attestation key is not a valid P-256 point');
  if (!safeVerify(quote.signedBytes, key, quote.signature.isvSignature, 'ieee-p1363')) fail('signature_invalid', 'quote signature does not verify with the attestation key');
}

/** §4.14 The platform's TCB level from the PCK certificate's SVNs, component by component. */
function checkPlatformTcb(tcbInfo: TcbInfo, ext: SgxExtension): TcbLevel {
  const level = matchTcbLevel(tcbInfo, ext.tcbComponents, ext.pceSvn);
  if (!level) fail('tcb_not_supported', `platform TCB (${ext.tcbComponents.join(',')}; PCESVN ${ext.pceSvn}) is below every TCB level of FMSPC ${tcbInfo.fmspc}`);
  if (level.status === 'Revoked') fail('revoked', `platform TCB level (tcbDate ${level.tcbDate}) is Revoked`);
  return level;
}

export function verifyQuote(input: Buffer | Quote, collateral: Collateral, opts: VerifyOptions): Verification {
  const at = opts.at;
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) throw new TypeError('verifyQuote: opts.at must be a valid Date');
  const trusted = trustedRootOf(opts.trustedRoot);
  try {
    const quote = Buffer.isBuffer(input) ? parseQuote(input) : input; // §4.1
    const { leaf, ca: pckCa, root: pckRoot, extension } = extractPckChain(quote, collateral); // §4.2
    checkPinnedRoot(pckRoot, trusted, 'PCK certificate chain'); // §4.3
    checkPckChain(leaf, pckCa, pckRoot); // §4.4
    const pckCa_ = pckCaKind(pckCa);
    const ext = extension();
    const p = prepare(collateral, trusted);
    const tcbChain = p.tcbChain();
    const qeChain = p.qeChain();
    const rootCrl = p.rootCrl();
    const pckCrl = p.pckCrl();
    checkCrls(rootCrl, pckCrl, pckRoot, pckCa, leaf, [tcbChain[0]!, qeChain[0]!]); // §4.5
    const tcbInfo = p.tcbInfo(); // §4.6
    const qeIdentity = p.qeIdentity(); // §4.7
    const collateralExpiresAt = checkValidityAt(at, [
      // §4.8
      certValidity(leaf, 'PCK certificate'),
      certValidity(pckCa, 'PCK CA certificate'),
      certValidity(pckRoot, 'root CA certificate'),
      ...tcbChain.map((c) => certValidity(c, 'TCB Info signing chain certificate')),
      ...qeChain.map((c) => certValidity(c, 'QE Identity signing chain certificate')),
      crlValidity(rootCrl, 'root CA CRL'),
      crlValidity(pckCrl, 'PCK CRL'),
      { what: 'TCB Info', from: tcbInfo.issueDate, until: tcbInfo.nextUpdate, code: 'collateral_expired' },
      { what: 'QE Identity', from: qeIdentity.issueDate, until: qeIdentity.nextUpdate, code: 'collateral_expired' },
    ]);
    checkCollateralIsForQuote(tcbInfo, qeIdentity, ext); // §4.9
    checkQeReportSignature(quote, leaf); // §4.10
    checkQeReportData(quote); // §4.11
    const qeLevel = checkQeIdentity(quote, qeIdentity); // §4.12
    checkIsvSignature(quote); // §4.13
    const platformLevel = checkPlatformTcb(tcbInfo, ext); // §4.14
    const status = convergeStatus(qeLevel.status, platformLevel.status); // §4.16
    return {
      status,
      platformStatus: platformLevel.status,
      qeStatus: qeLevel.status,
      advisoryIds: [...platformLevel.advisoryIds],
      tcbDate: platformLevel.tcbDate,
      tcbEvaluationDataNumber: Math.min(tcbInfo.tcbEvaluationDataNumber, qeIdentity.tcbEvaluationDataNumber),
      collateralExpiresAt,
      collateralIssuedAt: new Date(Math.min(tcbInfo.issueDate.getTime(), qeIdentity.issueDate.getTime())),
      fmspc: tcbInfo.fmspc,
      pceId: tcbInfo.pceId,
      pckCa: pckCa_,
      intelRoot: trusted.publicKeyRaw.equals(INTEL_SGX_ROOT_PUBLIC_KEY),
      quote,
      report: quote.body,
    };
  } catch (e) {
    if (e instanceof CertificateError) throw new VerificationError('invalid_certificate_chain', e.message);
    // Anything else (a TypeError, a RangeError) is a bug of ours, not a bad quote: it is not renamed, so
    // callers report it as internal_error and the fuzz tests can see it.
    throw e;
  }
}
