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
import { convergeStatus, convergeWithModule } from './status.ts';
import { findTdxModuleIdentity, matchTcbLevel, matchTdxTcbLevels, parseTcbInfo, type TcbInfo, type TcbLevel, type TdxModuleIdentity, type TdxModuleTcbLevel } from './tcb-info.ts';
import type { Collateral, Quote, SgxExtension, TcbStatus, TdxQuote, TdxModuleVerdict, Verification, VerifiedStatus, VerifyOptions } from './types.ts';
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

/**
 * §4.9 TCB Info must be for this TEE (v3 id "SGX" or "TDX"; a TDX quote needs v3) and this platform; QE
 * Identity for this TEE's QE ("QE", or "TD_QE" for TDX). QuoteVerifier.cpp 4.1.2.4.9, .10 and .14.
 */
function checkCollateralIsForQuote(tcbInfo: TcbInfo, qeIdentity: QeIdentity, ext: SgxExtension, quote: Quote): void {
  const tee = quote.teeType;
  if (tcbInfo.id === null && tee === 'TDX') fail('tcb_info_mismatch', `TCB Info v${tcbInfo.version} has no id and cannot describe a TDX platform; a TDX quote needs TCB Info v3 with id "TDX"`);
  if (tcbInfo.id !== null && tcbInfo.id !== tee) fail('tcb_info_mismatch', `TCB Info is for ${tcbInfo.id}, the quote is ${tee}`);
  const fmspc = ext.fmspc.toString('hex');
  if (tcbInfo.fmspc !== fmspc) fail('tcb_info_mismatch', `TCB Info is for FMSPC ${tcbInfo.fmspc}, the PCK certificate is for ${fmspc}`);
  const pceId = ext.pceId.toString('hex');
  if (tcbInfo.pceId !== pceId) fail('tcb_info_mismatch', `TCB Info is for PCE-ID ${tcbInfo.pceId}, the PCK certificate has ${pceId}`);
  const qeId = tee === 'TDX' ? 'TD_QE' : 'QE';
  if (qeIdentity.id !== qeId) fail('qe_identity_mismatch', `QE Identity is for '${qeIdentity.id}', ${tee === 'TDX' ? 'a TDX' : 'an SGX'} quote needs '${qeId}'`);
}

/**
 * §4.15 (first part, QuoteVerifier.cpp 4.1.2.4.11) The TDX module is the one TCB Info vouches for: `tdxModule`,
 * or for a module major version above 0 the `tdxModuleIdentities` entry "TDX_<major>". MRSIGNERSEAM must
 * equal its mrsigner, and SEAMATTRIBUTES must be all zero and equal its attributes (Intel compares bytewise
 * and requires zero, so the mask cannot widen what passes).
 */
function checkTdxModuleIdentity(tcbInfo: TcbInfo, quote: TdxQuote): TdxModuleIdentity | null {
  const major = quote.body.teeTcbSvn[1]!;
  let expected = tcbInfo.tdxModule!;
  let identity: TdxModuleIdentity | null = null;
  if (major > 0) {
    if (!tcbInfo.tdxModuleIdentities) fail('tcb_info_mismatch', `the TDX module has major version ${major}, and TCB Info has no tdxModuleIdentities`);
    identity = findTdxModuleIdentity(tcbInfo, major);
    if (!identity) fail('tdx_module_mismatch', `TCB Info has no TDX module identity TDX_${major.toString(16).padStart(2, '0').toUpperCase()} for the module's major version ${major}`);
    expected = identity;
  }
  const what = identity ? `TDX module identity ${identity.id}` : 'TCB Info tdxModule';
  if (!quote.body.mrSignerSeam.equals(expected.mrSigner)) fail('tdx_module_mismatch', `MRSIGNERSEAM ${quote.body.mrSignerSeam.toString('hex')} is not the mrsigner of ${what}`);
  const attrs = quote.body.seamAttributes;
  if (attrs.some((b) => b !== 0) || !attrs.equals(expected.attributes)) fail('tdx_module_mismatch', `SEAMATTRIBUTES ${attrs.toString('hex')} are not zero and equal to the attributes of ${what} (${expected.attributes.toString('hex')})`);
  return identity;
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

interface TdxPlatform {
  /** The first level the PCK certificate meets (SGX components and PCESVN): the relaunch check reads its status. */
  sgx: TcbLevel;
  /** The first level that TEE_TCB_SVN also meets: the platform level of a TDX quote. */
  tdx: TcbLevel;
}

/** §4.14 (TDX) The SGX level of the PCK certificate, then the level TEE_TCB_SVN meets too; either missing is terminal. */
function checkTdxPlatformTcb(tcbInfo: TcbInfo, ext: SgxExtension, quote: TdxQuote): TdxPlatform {
  const svn = quote.body.teeTcbSvn;
  const { sgx, tdx } = matchTdxTcbLevels(tcbInfo, ext.tcbComponents, ext.pceSvn, svn);
  if (!sgx) fail('tcb_not_supported', `platform TCB (${ext.tcbComponents.join(',')}; PCESVN ${ext.pceSvn}) is below every TCB level of FMSPC ${tcbInfo.fmspc}`);
  if (!tdx) fail('tcb_not_supported', `TEE_TCB_SVN ${svn.toString('hex')} is below the TDX components of every TCB level the platform meets (FMSPC ${tcbInfo.fmspc})`);
  return { sgx, tdx };
}

/**
 * §4.15 (TdxModuleCheck.cpp checkTdxModuleTcbStatus) The module's TCB level: the first (highest) whose ISVSVN
 * TEE_TCB_SVN[0] meets. A module of major version 0 has no levels to meet: Intel counts it UpToDate.
 */
function checkTdxModuleTcb(identity: TdxModuleIdentity | null, quote: TdxQuote): TdxModuleTcbLevel | null {
  if (!identity) return null;
  const isvSvn = quote.body.teeTcbSvn[0]!;
  const level = identity.levels.find((l) => isvSvn >= l.isvSvn);
  if (!level) fail('tcb_not_supported', `TDX module ISVSVN ${isvSvn} is below every TCB level of ${identity.id}`);
  return level;
}

const isConfigurationNeeded = (s: VerifiedStatus): boolean =>
  s === 'ConfigurationNeeded' || s === 'OutOfDateConfigurationNeeded' || s === 'ConfigurationAndSWHardeningNeeded' || s === 'TDRelaunchAdvisedConfigurationNeeded';

/**
 * §4.15 (TDRelaunchCheck.cpp checkForRelaunch, TD report 1.5 only) A TD whose only out-of-date part is its TDX
 * module, on a platform where TEE_TCB_SVN_2 (the module already loaded) reaches the newest level, is advised
 * to relaunch instead of being called OutOfDate.
 */
function checkTdRelaunch(tcbInfo: TcbInfo, quote: TdxQuote, qe: QeVerdict, sgxStatus: TcbStatus, tdxStatus: TcbStatus, moduleStatus: TcbStatus): VerifiedStatus {
  const svn2 = quote.body.teeTcbSvn2;
  if (!svn2) return tdxStatus;
  if (qe.status !== 'UpToDate') return tdxStatus;
  if (sgxStatus !== 'UpToDate' && sgxStatus !== 'SWHardeningNeeded' && sgxStatus !== 'ConfigurationNeeded' && sgxStatus !== 'ConfigurationAndSWHardeningNeeded') return tdxStatus;
  if (tdxStatus !== 'OutOfDate' && tdxStatus !== 'OutOfDateConfigurationNeeded') return tdxStatus;
  if (moduleStatus !== 'OutOfDate') return tdxStatus;
  const latest = tcbInfo.levels[0]!;
  let latestModuleSvn: number;
  if (svn2[1] === 0) {
    latestModuleSvn = latest.tdxComponents![0]!;
  } else {
    const identity2 = findTdxModuleIdentity(tcbInfo, svn2[1]!);
    if (!identity2) fail('tdx_module_mismatch', `TCB Info has no TDX module identity for TEE_TCB_SVN_2's major version ${svn2[1]}`);
    latestModuleSvn = identity2.levels[0]!.isvSvn;
  }
  if (svn2[0]! >= latestModuleSvn && svn2[2]! >= latest.tdxComponents![2]!) {
    return isConfigurationNeeded(sgxStatus) || isConfigurationNeeded(tdxStatus) ? 'TDRelaunchAdvisedConfigurationNeeded' : 'TDRelaunchAdvised';
  }
  return tdxStatus;
}

/**
 * §4.14-§4.16 for TDX, in the order of Intel's checkTcbLevel: the platform levels, the module's level, the
 * TDX level converged with the module (Revoked ends here, before the QE is folded in), the relaunch advice,
 * then the QE.
 */
function checkTdxStatus(tcbInfo: TcbInfo, ext: SgxExtension, quote: TdxQuote, qe: QeVerdict, identity: TdxModuleIdentity | null): { status: VerifiedStatus; platform: TdxPlatform; module: TdxModuleTcbLevel | null } {
  const platform = checkTdxPlatformTcb(tcbInfo, ext, quote);
  const module = checkTdxModuleTcb(identity, quote);
  const moduleStatus: TcbStatus = module?.status ?? 'UpToDate';
  const tdxStatus = convergeWithModule(platform.tdx.status, moduleStatus);
  if (tdxStatus === 'Revoked') {
    if (module?.status === 'Revoked') fail('revoked', `TDX module TCB level (${identity!.id}, ISVSVN ${module.isvSvn}) is Revoked`);
    fail('revoked', `platform TCB level (tcbDate ${platform.tdx.tcbDate}) is Revoked`);
  }
  const relaunch = checkTdRelaunch(tcbInfo, quote, qe, platform.sgx.status, tdxStatus, moduleStatus);
  return { status: checkConvergedStatus(qe, quote, platform.tdx, relaunch), platform, module };
}

/** §4.16 The QE's and the platform's statuses converged by Intel's rule; Revoked and NotSupported end here. */
function checkConvergedStatus(qe: QeVerdict, quote: Quote, platform: TcbLevel, platformStatus: VerifiedStatus = platform.status): VerifiedStatus {
  const status = convergeStatus(qe.status, platformStatus);
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
    checkCollateralIsForQuote(tcbInfo, qeIdentity, ext, quote); // §4.9
    const moduleIdentity = quote.teeType === 'TDX' ? checkTdxModuleIdentity(tcbInfo, quote) : null; // §4.15 (identity)
    checkQeReportSignature(quote, leaf); // §4.10
    checkQeReportData(quote); // §4.11
    const qe = checkQeIdentity(quote, qeIdentity); // §4.12
    checkIsvSignature(quote); // §4.13
    const common = {
      qeStatus: qe.status as 'UpToDate' | 'OutOfDate', // Revoked and NotSupported ended at §4.16
      tcbEvaluationDataNumber: Math.min(tcbInfo.tcbEvaluationDataNumber, qeIdentity.tcbEvaluationDataNumber),
      collateralExpiresAt,
      collateralIssuedAt: new Date(Math.min(tcbInfo.issueDate.getTime(), qeIdentity.issueDate.getTime())),
      fmspc: tcbInfo.fmspc,
      pceId: tcbInfo.pceId,
      pckCa: pckCa_,
      intelRoot: trusted.publicKeyRaw.equals(INTEL_SGX_ROOT_PUBLIC_KEY),
    };
    if (quote.teeType === 'TDX') {
      const { status, platform, module } = checkTdxStatus(tcbInfo, ext, quote, qe, moduleIdentity); // §4.14-§4.16
      const tdx: TdxModuleVerdict = {
        sgxStatus: platform.sgx.status,
        moduleIdentity: moduleIdentity?.id ?? null,
        moduleStatus: module?.status ?? null,
        moduleTcbDate: module?.tcbDate ?? null,
        moduleAdvisoryIds: module ? [...module.advisoryIds] : [],
      };
      return {
        teeType: 'TDX',
        status,
        platformStatus: platform.tdx.status,
        advisoryIds: [...platform.tdx.advisoryIds],
        tcbDate: platform.tdx.tcbDate,
        ...common,
        quote,
        report: quote.body,
        tdx,
      };
    }
    const platformLevel = checkPlatformTcb(tcbInfo, ext); // §4.14
    const status = checkConvergedStatus(qe, quote, platformLevel) as TcbStatus; // §4.16 (relaunch advice is TDX only)
    return {
      teeType: 'SGX',
      status,
      platformStatus: platformLevel.status,
      advisoryIds: [...platformLevel.advisoryIds],
      tcbDate: platformLevel.tcbDate,
      ...common,
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
