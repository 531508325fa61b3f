// DCAP quote verification: the checks of ../shared/docs/dcap-verification.md §4, in its order,
// each a named function (the ones that need no quote are in checks.ts, shared with the collateral edge).
// Pure: no I/O; the time and the trusted root are inputs.
// Fails closed where Intel's QvE only warns: expired collateral and not-yet-valid items reject.
import { hash, type KeyObject } from 'node:crypto';
import { importP256Point } from '../crypto/p256.ts';
import { BoundedCache, once } from '../util/bounded-cache.ts';
import {
  certValidity,
  checkCrlIssuedBy,
  checkPckCrlIssuerChain,
  checkSignedJson,
  checkSigningChain,
  checkValidityAt,
  crlValidity,
  loadCrl,
  signedJsonValidity,
  trustedRootOf,
} from './checks.ts';
import { isRevoked, type Crl } from './crl.ts';
import { fail, VerificationError } from './errors.ts';
import { INTEL_SGX_ROOT_PUBLIC_KEY } from './intel-root.ts';
import { routePck } from './pck-route.ts';
import { parseQuote } from './quote.ts';
import { matchQeLevel, parseQeIdentity, qeIdentityMismatch, qeStatusOf, type QeIdentity, type QeStatus, type QeTcbLevel } from './qe-identity.ts';
import { convergeStatus } from './status.ts';
import { matchTcbLevel, parseTcbInfo, type TcbInfo, type TcbLevel } from './tcb-info.ts';
import type { Collateral, Quote, SgxExtension, TcbStatus, Verification, VerifyOptions } from './types.ts';
import { CertificateError, safeVerify, type Certificate } from './x509.ts';

const attestationKeys = new BoundedCache<string, KeyObject | null>(100_000);
function importAttestationKey(raw: Buffer): KeyObject | null {
  return attestationKeys.getOrSet(raw.toString('base64'), () => {
    try {
      return importP256Point(Buffer.concat([Buffer.from([4]), raw]));
    } catch {
      return null; // not a point on P-256
    }
  });
}

/**
 * What can be checked of a collateral set without the quote, done once per collateral object and
 * trusted root (see the contract on Collateral in types.ts: the objects are immutable). The checks still
 * run in their order for every quote; a memoised failure is rethrown at its own step.
 */
class PreparedCollateral {
  constructor(
    private readonly c: Collateral,
    private readonly trusted: Certificate,
  ) {}
  readonly tcbChain = once(() => checkSigningChain(this.c.tcbInfoIssuerChain, this.trusted, 'TCB Info'));
  readonly qeChain = once(() => checkSigningChain(this.c.qeIdentityIssuerChain, this.trusted, 'QE Identity'));
  readonly pckCrlChain = once(() => checkPckCrlIssuerChain(this.c.pckCrlIssuerChain, this.trusted, 'PCK CRL'));
  readonly rootCrl = once(() => loadCrl(this.c.rootCaCrl, 'root CA CRL'));
  readonly pckCrl = once(() => loadCrl(this.c.pckCrl, 'PCK CRL'));
  readonly tcbInfo = once(() => checkSignedJson(this.c.tcbInfo, this.c.tcbInfoSignature, this.tcbChain()[0], 'TCB Info', parseTcbInfo));
  readonly qeIdentity = once(() => checkSignedJson(this.c.qeIdentity, this.c.qeIdentitySignature, this.qeChain()[0], 'QE Identity', parseQeIdentity));
}

// Weakly keyed: an entry lives exactly as long as its collateral object, so it needs no bound.
const preparedCache = new WeakMap<Collateral, Map<string, PreparedCollateral>>();
function prepare(collateral: Collateral, trusted: Certificate): PreparedCollateral {
  let byRoot = preparedCache.get(collateral);
  if (!byRoot) preparedCache.set(collateral, (byRoot = new Map()));
  let p = byRoot.get(trusted.fingerprint);
  if (!p) byRoot.set(trusted.fingerprint, (p = new PreparedCollateral(collateral, trusted)));
  return p;
}

// ---- the checks that need the quote ----

/**
 * §4.5 Root CA CRL and the PCK CRL of the leaf's own CA, the PCK CRL also issued by the CA of its issuer
 * chain (pck_crl_issuer_chain, which Intel's QvE reads: qve.cpp counts its certificates in the earliest
 * expiration date); nothing in the chains revoked.
 */
function checkCrls(rootCrl: Crl, pckCrl: Crl, root: Certificate, pckCa: Certificate, leaf: Certificate, pckCrlCa: Certificate, tcbSigners: Certificate[]): void {
  checkCrlIssuedBy(rootCrl, root, 'root CA CRL');
  checkCrlIssuedBy(pckCrl, pckCa, 'PCK CRL');
  checkCrlIssuedBy(pckCrl, pckCrlCa, 'PCK CRL (by its issuer chain)');
  if (isRevoked(rootCrl, pckCa)) fail('revoked', `PCK CA '${pckCa.subjectCn}' is revoked by the root CA CRL`);
  if (isRevoked(rootCrl, pckCrlCa)) fail('revoked', `PCK CRL issuer '${pckCrlCa.subjectCn}' (serial ${pckCrlCa.serial.toString('hex')}) is revoked by the root CA CRL`);
  for (const signer of tcbSigners) if (isRevoked(rootCrl, signer)) fail('revoked', `TCB Signing certificate (serial ${signer.serial.toString('hex')}) is revoked by the root CA CRL`);
  if (isRevoked(pckCrl, leaf)) fail('revoked', `PCK certificate (serial ${leaf.serial.toString('hex')}) is revoked by the PCK CRL`);
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

/**
 * QE-report signatures found valid. Every quote of a platform carries the same QE report signed by the same PCK key,
 * so the ECDSA verification is done once per (QE report, signature, PCK public key), keyed by all of those bytes
 * verbatim with their lengths (the key as its whole SubjectPublicKeyInfo): a verdict keyed by less once let a forged
 * CRL pass. Only valid ones are kept, so bytes that fail are checked again every time and a flood of junk cannot fill
 * the cache; a fleet fills one entry per platform and QE version.
 */
const validQeReportSignatures = new BoundedCache<string, true>(50_000);
const qeReportSignatureStats = { hits: 0, misses: 0 };

/** Hits and misses of the QE-report signature cache since start (for the benchmark's hit rate). */
export function qeReportSignatureCacheStats(): { hits: number; misses: number } {
  return { ...qeReportSignatureStats };
}

/** §4.10 The QE report is signed by the PCK key. */
function checkQeReportSignature(quote: Quote, leaf: Certificate): void {
  const { qeReport, qeReportSignature } = quote.signature;
  // The whole SubjectPublicKeyInfo (algorithm, curve and point): the key object is made from it and nothing else.
  const covered = [qeReport.raw, qeReportSignature, leaf.spki];
  const key = `${covered.map((b) => b.length).join(',')}:${Buffer.concat(covered).toString('latin1')}`;
  if (validQeReportSignatures.get(key)) {
    qeReportSignatureStats.hits++;
    return;
  }
  qeReportSignatureStats.misses++;
  if (!safeVerify(qeReport.raw, leaf.publicKey, qeReportSignature, 'ieee-p1363')) {
    fail('signature_invalid', 'QE report signature does not verify with the PCK certificate key');
  }
  validQeReportSignatures.set(key, true);
}

/**
 * §4.11 QE REPORTDATA[0..32] = SHA-256(attestation key || QE auth data). Only the 32 hash bytes, as Intel's
 * QuoteVerifier.cpp (step 4.1.2.4.13) compares them: the other 32 are the QE's to fill (zeros by Intel's
 * QE) and are covered by the QE report signature, so they cannot be altered in transit.
 */
function checkQeReportData(quote: Quote): void {
  const { attestationKey, qeAuthData, qeReport } = quote.signature;
  // One-shot hash (node >= 20.12): cheaper than a Hash object on the hot path; 'buffer' returns bytes.
  const expected = hash('sha256', Buffer.concat([attestationKey, qeAuthData]), 'buffer') as unknown as Buffer;
  if (!qeReport.reportData.subarray(0, 32).equals(expected)) {
    fail('qe_report_data_mismatch', 'QE report data does not bind the attestation key and QE auth data');
  }
}

interface QeVerdict {
  level: QeTcbLevel | null;
  status: QeStatus;
}

/**
 * §4.12 The QE is the one QE Identity describes (a mismatch is terminal), and its TCB status by ISVSVN.
 * The status is not terminal here: Intel (QuoteVerifier.cpp 4.1.2.4.15) checks the quote signature and
 * the platform's TCB level first, and folds the QE status in at §4.16.
 */
function checkQeIdentity(quote: Quote, identity: QeIdentity): QeVerdict {
  const mismatch = qeIdentityMismatch(identity, quote.signature.qeReport);
  if (mismatch) fail('qe_identity_mismatch', mismatch);
  const level = matchQeLevel(identity, quote.signature.qeReport.isvSvn);
  return { level, status: qeStatusOf(level) };
}

/** §4.13 The quote (header + body) is signed by the attestation key. */
function checkIsvSignature(quote: Quote): void {
  const key = importAttestationKey(quote.signature.attestationKey);
  if (!key) fail('signature_invalid', 'attestation key is not a valid P-256 point');
  if (!safeVerify(quote.signedBytes, key, quote.signature.isvSignature, 'ieee-p1363')) fail('signature_invalid', 'quote signature does not verify with the attestation key');
}

/**
 * §4.14 The platform's TCB level from the PCK certificate's SVNs, component by component. None is terminal;
 * a Revoked level is not yet (Intel's checkTcbLevel goes on to the convergence).
 */
function checkPlatformTcb(tcbInfo: TcbInfo, ext: SgxExtension): TcbLevel {
  const level = matchTcbLevel(tcbInfo, ext.tcbComponents, ext.pceSvn);
  if (!level) fail('tcb_not_supported', `platform TCB (${ext.tcbComponents.join(',')}; PCESVN ${ext.pceSvn}) is below every TCB level of FMSPC ${tcbInfo.fmspc}`);
  return level;
}

/** §4.16 The QE's and the platform's statuses converged by Intel's rule; Revoked and NotSupported end here. */
function checkConvergedStatus(qe: QeVerdict, quote: Quote, platform: TcbLevel): TcbStatus {
  const status = convergeStatus(qe.status, platform.status);
  if (status === 'NotSupported') fail('tcb_not_supported', `QE ISVSVN ${quote.signature.qeReport.isvSvn} is below every QE Identity TCB level`);
  if (status === 'Revoked') {
    if (qe.level?.status === 'Revoked') fail('revoked', `QE TCB level (ISVSVN ${qe.level.isvSvn}) is Revoked`);
    fail('revoked', `platform TCB level (tcbDate ${platform.tcbDate}) is Revoked`);
  }
  return status;
}

export function verifyQuote(input: Buffer | Quote, collateral: Collateral, opts: VerifyOptions): Verification {
  const at = opts.at;
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) throw new TypeError('verifyQuote: opts.at must be a valid Date');
  const trusted = trustedRootOf(opts.trustedRoot);
  try {
    const quote = Buffer.isBuffer(input) ? parseQuote(input) : input; // §4.1
    const { leaf, ca: pckCa, root: pckRoot, kind: pckCa_, extension: ext } = routePck(quote, trusted, collateral.pckCertificateChain); // §4.2-§4.4
    const p = prepare(collateral, trusted);
    const tcbChain = p.tcbChain();
    const qeChain = p.qeChain();
    const pckCrlChain = p.pckCrlChain();
    const rootCrl = p.rootCrl();
    const pckCrl = p.pckCrl();
    checkCrls(rootCrl, pckCrl, pckRoot, pckCa, leaf, pckCrlChain.ca, [tcbChain[0]!, qeChain[0]!]); // §4.5
    const tcbInfo = p.tcbInfo(); // §4.6
    const qeIdentity = p.qeIdentity(); // §4.7
    const collateralExpiresAt = checkValidityAt(at, [
      // §4.8
      certValidity(leaf, 'PCK certificate'),
      certValidity(pckCa, 'PCK CA certificate'),
      certValidity(pckRoot, 'root CA certificate'),
      ...tcbChain.map((c) => certValidity(c, 'TCB Info signing chain certificate')),
      ...qeChain.map((c) => certValidity(c, 'QE Identity signing chain certificate')),
      certValidity(pckCrlChain.ca, 'PCK CRL issuer chain certificate'),
      certValidity(pckCrlChain.root, 'PCK CRL issuer chain root'),
      crlValidity(rootCrl, 'root CA CRL'),
      crlValidity(pckCrl, 'PCK CRL'),
      signedJsonValidity(tcbInfo, 'TCB Info'),
      signedJsonValidity(qeIdentity, 'QE Identity'),
    ]);
    checkCollateralIsForQuote(tcbInfo, qeIdentity, ext); // §4.9
    checkQeReportSignature(quote, leaf); // §4.10
    checkQeReportData(quote); // §4.11
    const qe = checkQeIdentity(quote, qeIdentity); // §4.12
    checkIsvSignature(quote); // §4.13
    const platformLevel = checkPlatformTcb(tcbInfo, ext); // §4.14
    const status = checkConvergedStatus(qe, quote, platformLevel); // §4.16
    return {
      status,
      platformStatus: platformLevel.status,
      qeStatus: qe.status as 'UpToDate' | 'OutOfDate', // Revoked and NotSupported ended at §4.16
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
