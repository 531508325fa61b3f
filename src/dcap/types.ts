// Domain types of DCAP quote verification. Byte strings are Buffers; hex only at the edges.

export const TCB_STATUSES = [
  'UpToDate',
  'SWHardeningNeeded',
  'ConfigurationNeeded',
  'ConfigurationAndSWHardeningNeeded',
  'OutOfDate',
  'OutOfDateConfigurationNeeded',
  'Revoked',
] as const;
export type TcbStatus = (typeof TCB_STATUSES)[number];

export type TeeType = 'SGX' | 'TDX';
export type PckCaKind = 'processor' | 'platform';

/** SGX REPORT body (384 bytes): the enclave's identity as the CPU measured it. */
export interface ReportBody {
  raw: Buffer;
  cpuSvn: Buffer; // 16
  miscSelect: number;
  isvExtProdId: Buffer; // 16
  attributes: Buffer; // 16: FLAGS (u64 LE) || XFRM (u64 LE)
  flags: bigint;
  xfrm: bigint;
  debug: boolean; // FLAGS bit 1
  mrEnclave: Buffer; // 32
  mrSigner: Buffer; // 32
  configId: Buffer; // 64
  isvProdId: number;
  isvSvn: number;
  configSvn: number;
  isvFamilyId: Buffer; // 16
  reportData: Buffer; // 64
}

/**
 * TD report (TDX 1.0: 584 bytes; TDX 1.5: 648 bytes): the trust domain's identity as the TDX module
 * measured it. Offsets in ../shared/docs/dcap-verification.md §2.2; names of ../shared/fixtures/dcap/README.md.
 */
export interface TdReport {
  raw: Buffer;
  /** '1.0' (quote v4, or v5 body type 2) or '1.5' (v5 body type 3). */
  version: '1.0' | '1.5';
  teeTcbSvn: Buffer; // 16: [0] module ISVSVN, [1] module major version, [2] late microcode SVN, ...
  mrSeam: Buffer; // 48
  mrSignerSeam: Buffer; // 48
  seamAttributes: Buffer; // 8
  tdAttributes: Buffer; // 8 (u64 LE): bit 0 DEBUG, bits 1-7 reserved (TUD), 8-31 SEC, 32-63 OTHER
  debug: boolean; // TD_ATTRIBUTES bit 0
  xfam: Buffer; // 8
  mrTd: Buffer; // 48
  mrConfigId: Buffer; // 48
  mrOwner: Buffer; // 48
  mrOwnerConfig: Buffer; // 48
  rtmr0: Buffer; // 48
  rtmr1: Buffer; // 48
  rtmr2: Buffer; // 48
  rtmr3: Buffer; // 48
  reportData: Buffer; // 64
  /** TD report 1.5 only. */
  teeTcbSvn2?: Buffer; // 16
  mrServiceTd?: Buffer; // 48
}

export interface QuoteHeader {
  version: 3 | 4 | 5;
  attestationKeyType: number;
  teeType: TeeType;
  qeSvn: number;
  pceSvn: number;
  qeVendorId: Buffer; // 16
  userData: Buffer; // 20
}

/** Certification data as carried in the quote: type 1..5 (type 6 is unwrapped by the parser). */
export interface CertificationData {
  type: number;
  data: Buffer;
}

export interface QuoteSignatureData {
  isvSignature: Buffer; // 64, r||s
  attestationKey: Buffer; // 64, X||Y
  qeReport: ReportBody;
  qeReportSignature: Buffer; // 64, r||s
  qeAuthData: Buffer;
  certification: CertificationData;
}

interface QuoteParts {
  raw: Buffer;
  header: QuoteHeader;
  /** Bytes covered by the ISV signature: header (+ v5 body type/size) + body. */
  signedBytes: Buffer;
  signature: QuoteSignatureData;
}

/** An SGX quote: the body is an enclave's SGX report. */
export interface SgxQuote extends QuoteParts {
  teeType: 'SGX';
  body: ReportBody;
}

/** A TDX quote: the body is a TD report. */
export interface TdxQuote extends QuoteParts {
  teeType: 'TDX';
  body: TdReport;
}

/** A TDX quote never passes for an SGX one: code that reads an enclave's identity narrows on teeType. */
export type Quote = SgxQuote | TdxQuote;

/**
 * Collateral for one quote. Signed JSON is kept as the exact text that was signed.
 * CRLs are DER. Issuer chains are PEM (any order: the checks put them in issuing order).
 *
 * The caching contract, in one place:
 * - A Collateral object is immutable once built (the builders freeze it: collateral/item.ts toCollateral,
 *   dcap/collateral-json.ts parseCollateralJson). Never change one; build a new one.
 * - verifyQuote prepares each object once per pinned root (issuer chains, CRL parsing, signed-JSON
 *   signatures), keyed weakly by the object, and replays that work for every quote verified with it.
 * - So a collateral source hands out the same object for a platform while the bytes behind it are the
 *   same: the provider (collateral/provider.ts) until the stored bytes change, re-reading its store at
 *   most every COLLATERAL_REUSE_MS and never past the items' nextUpdate; the development source
 *   (server/sim-collateral.ts) for an hour. A new object costs one preparation, never a wrong verdict:
 *   every validity window is still checked at each verification's time.
 * - Facts that do not depend on the collateral are cached where they are computed, keyed by every byte
 *   they depend on: proven PCK chains (dcap/pck-route.ts), certificates and their signatures (x509.ts),
 *   CRLs and their signatures (crl.ts), signed JSON (checks.ts), valid QE-report signatures (verify.ts).
 *   All bounded (util/bounded-cache.ts).
 */
export interface Collateral {
  pckCrlIssuerChain: string;
  rootCaCrl: Buffer;
  pckCrl: Buffer;
  tcbInfoIssuerChain: string;
  tcbInfo: string;
  tcbInfoSignature: Buffer; // 64, r||s
  qeIdentityIssuerChain: string;
  qeIdentity: string;
  qeIdentitySignature: Buffer; // 64, r||s
  /** PEM chain (leaf, CA, root) for quotes whose certification data carries no chain (types 1-4). */
  pckCertificateChain?: string;
}

/** SGX extension (OID 1.2.840.113741.1.13.1) of a PCK leaf certificate. */
export interface SgxExtension {
  ppid: Buffer;
  tcbComponents: number[]; // 16 SVNs: the TCB the certificate was issued for
  pceSvn: number;
  cpuSvn: Buffer;
  pceId: Buffer; // 2
  fmspc: Buffer; // 6
  sgxType: number;
}

export interface VerifyOptions {
  /** Verification time. */
  at: Date;
  /** The pinned root certificate (PEM or DER). Default: the Intel SGX Root CA. */
  trustedRoot?: string | Buffer;
}

/**
 * The TDX-only outcomes of Intel's TD relaunch check (TD report 1.5, Verifiers/Checks/TDRelaunchCheck.cpp):
 * the TD runs on an out-of-date TDX module although a current one is already loaded; relaunching the TD
 * brings it up to date.
 */
export const TD_RELAUNCH_STATUSES = ['TDRelaunchAdvised', 'TDRelaunchAdvisedConfigurationNeeded'] as const;
export type TdRelaunchStatus = (typeof TD_RELAUNCH_STATUSES)[number];

/** Every status a verified quote can have: a TCB level status, or (TDX) a relaunch advice. */
export const VERIFIED_STATUSES = [...TCB_STATUSES, ...TD_RELAUNCH_STATUSES] as const;
export type VerifiedStatus = (typeof VERIFIED_STATUSES)[number];

interface VerificationParts {
  /** Intel's converged status (QE, platform and, for TDX, the TDX module). */
  status: VerifiedStatus;
  /** The matched platform TCB level's status (for TDX: the level matched with the TDX components too). */
  platformStatus: TcbStatus;
  qeStatus: TcbStatus;
  /** Advisory IDs of the matched platform TCB level (as Intel's QvE reports them). */
  advisoryIds: string[];
  tcbDate: string;
  tcbEvaluationDataNumber: number;
  /** Earliest moment any collateral item or certificate stops being valid. */
  collateralExpiresAt: Date;
  /** Earlier issue date of TCB Info and QE Identity (CRLs not included: the root CA CRL is yearly): how old the collateral is. */
  collateralIssuedAt: Date;
  fmspc: string; // lower-case hex
  pceId: string; // lower-case hex
  pckCa: PckCaKind;
  /** True when the pinned root is the Intel SGX Root CA. */
  intelRoot: boolean;
}

/** An SGX quote that verified: the platform's TCB verdict and the enclave's identity. */
export interface SgxVerification extends VerificationParts {
  teeType: 'SGX';
  quote: SgxQuote;
  report: ReportBody;
}

/** What Intel's TDX path decided besides the platform level. */
export interface TdxModuleVerdict {
  /** The SGX-only TCB level's status (the first level the PCK certificate meets). */
  sgxStatus: TcbStatus;
  /** TDX module identity used ("TDX_03"), or null for module major version 0 (TCB Info's tdxModule). */
  moduleIdentity: string | null;
  /** The module's TCB level status; null when Intel evaluates none (major version 0). */
  moduleStatus: TcbStatus | null;
  moduleTcbDate: string | null;
  /** Advisory IDs of the module's TCB level (the platform level's are in advisoryIds). */
  moduleAdvisoryIds: string[];
}

/** A TDX quote that verified: the platform's and the TDX module's verdict, and the TD's identity. */
export interface TdxVerification extends VerificationParts {
  teeType: 'TDX';
  quote: TdxQuote;
  report: TdReport;
  tdx: TdxModuleVerdict;
}

export type Verification = SgxVerification | TdxVerification;
