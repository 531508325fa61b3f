// Domain types of attestation policies: what an operator wrote, and the explained verdict on one enclave.
import type { VerifiedStatus } from '../dcap/types.ts';

/**
 * Statuses a policy may accept. Revoked is not among them: a revoked platform is never acceptable. The two
 * TDRelaunchAdvised statuses only ever come with TDX quotes.
 */
export type AcceptableStatus = Exclude<VerifiedStatus, 'Revoked'>;

/** One enclave identity. Hex fields are lower-case. Either mrEnclave, or mrSigner + isvProdId, is set. */
export interface Identity {
  mrEnclave?: string; // 32 bytes
  mrSigner?: string; // 32 bytes
  isvProdId?: number;
  minIsvSvn?: number;
  isvFamilyId?: string; // 16 bytes (KSS)
  isvExtProdId?: string; // 16 bytes (KSS)
  configId?: string; // 64 bytes (KSS)
  minConfigSvn?: number; // KSS
  /** 1-based line of this identity in its file, for messages. */
  line?: number;
}

/** One TDX trust domain (tee: tdx). Hex fields are lower-case, 48 bytes. mrTd or mrConfigId is set. */
export interface TdIdentity {
  mrTd?: string;
  rtmr0?: string;
  rtmr1?: string;
  rtmr2?: string;
  rtmr3?: string;
  mrConfigId?: string;
  mrOwner?: string;
  mrOwnerConfig?: string;
  /** The TDX module's measurement. */
  mrSeam?: string;
  line?: number;
}

/** The measurements a TD identity may name: policy key, TdIdentity field, and the TD report field. */
export const TD_IDENTITY_FIELDS = [
  ['mrtd', 'mrTd'],
  ['rtmr0', 'rtmr0'],
  ['rtmr1', 'rtmr1'],
  ['rtmr2', 'rtmr2'],
  ['rtmr3', 'rtmr3'],
  ['mrconfigid', 'mrConfigId'],
  ['mrowner', 'mrOwner'],
  ['mrownerconfig', 'mrOwnerConfig'],
  ['mrseam', 'mrSeam'],
] as const;

export interface AllowedAdvisory {
  id: string;
  /** Exclusive end of the allowance; absent = no expiry (a lint warning). */
  expires?: Date;
  line?: number;
}

/** How many versions of a secret the server may hand out: only the current one, or also the previous one during rotation. */
export type SecretVersions = 'current' | 'current+previous';

export interface SecretGrant {
  name: string;
  versions: SecretVersions;
}

export interface Policy {
  name: string;
  version: number | string;
  description?: string;
  /** The one TEE type this policy covers: a policy never matches a quote of the other type. */
  tee: 'SGX' | 'TDX';
  /** SGX identities (empty for a TDX policy). */
  match: Identity[];
  /** TDX identities (empty for an SGX policy). */
  tdMatch: TdIdentity[];
  debug: 'deny' | 'allow';
  tcb: {
    statuses: AcceptableStatus[];
    advisories: AllowedAdvisory[];
    /** ISO date (YYYY-MM-DD or full timestamp): the platform's TCB date must be at or after it. */
    minTcbDate?: string;
  };
  collateral: {
    /** Maximum collateral age in seconds, and the text the operator wrote. */
    maxAgeSeconds?: number;
    maxAge?: string;
  };
  secrets: SecretGrant[];
  /** Where the policy came from (for messages only; not part of the set hash). */
  source?: { file: string; line?: number };
}

export interface PolicySet {
  policies: Policy[]; // sorted by name
  /** Lower-case hex SHA-256 of the canonical serialisation of the policies (sorted by name). */
  hash: string;
}

export interface Check {
  name: string;
  ok: boolean;
  expected: unknown;
  actual: unknown;
  message: string;
}

export interface PolicyResult {
  name: string;
  version: number | string;
  /** The enclave's MRENCLAVE, or MRSIGNER + ISVPRODID, is one this policy names. */
  matched: boolean;
  /** Matched and every check passed. */
  ok: boolean;
  checks: Check[];
}

export interface Decision {
  allowed: boolean;
  /** Released secret names, sorted. Empty when denied. */
  secrets: string[];
  /** The policy that released them (the first by name when several did), or null. */
  policy: string | null;
  /** Which policy (name and version) releases each released secret, and with which secret versions. */
  releasedBy: Record<string, { policy: string; policyVersion: number | string; versions: SecretVersions }>;
  policySetHash: string;
  policies: PolicyResult[];
  /** Human sentences for each failure. */
  reasons: string[];
}

/** A policy file problem that prevents loading. */
export interface PolicyIssue {
  code: string;
  file: string;
  line?: number;
  column?: number;
  message: string;
}

/** A lint finding: printed, never blocks loading. */
export interface LintWarning {
  code: LintCode;
  file: string;
  line?: number;
  policy: string;
  message: string;
}

export const LINT_CODES = {
  debug_allowed: 'the policy accepts debug enclaves, whose memory the host can read',
  status_outofdate_accepted: 'the policy accepts an OutOfDate* TCB status: a platform missing security updates',
  status_configuration_accepted: 'the policy accepts a Configuration* TCB status: a platform whose configuration has known weaknesses',
  advisory_without_expiry: 'an advisory is allowed forever; give it an expiry date so the exception is revisited',
  min_isvsvn_missing: 'no min_isvsvn (or 0): older, possibly vulnerable builds of the enclave are accepted',
  occlum_default_signer: "MRSIGNER is Occlum's default development key, which anyone can sign with",
  identity_conflict: 'the same identity is matched by two policies that release different secrets',
  rtmrs_unchecked: 'a TD identity pins MRTD only: the firmware, kernel and command line (RTMR0-2) the TD booted are not checked',
  secret_missing: 'the policy releases a secret that does not exist in the data directory; the server would refuse every enclave asking for it',
} as const;
export type LintCode = keyof typeof LINT_CODES;
