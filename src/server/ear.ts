// Claims of the result token, shaped as an EAT Attestation Result (draft-ietf-rats-ear) with the SGX facts.
import type { SgxVerification, TdxVerification, Verification } from '../dcap/types.ts';
import type { RootKind } from './deps.ts';

export const EAR_PROFILE = 'tag:github.com,2023:veraison/ear';
export const SUBMOD = 'sgx-enclave';
/** The submodule of a TDX trust domain's result. */
export const TDX_SUBMOD = 'tdx';
export const VERIFIER_ID = { developer: 'warden', build: 'warden/v1' } as const;

export type EarStatus = 'affirming' | 'warning' | 'contraindicated';

/** UpToDate is affirming; any other status a policy accepted is a warning the relying party can see. */
export function earStatus(v: Verification): EarStatus {
  if (v.status === 'Revoked') return 'contraindicated';
  return v.status === 'UpToDate' && v.report.debug === false ? 'affirming' : 'warning';
}

export interface EarInput {
  verification: Verification;
  nonce: string; // base64 as the challenge returned it
  /** Every policy that released a secret of this request. */
  policies: Array<{ name: string; version: number | string }>;
  policySetHash: string;
  /** Each released secret version with the policy (name, version) that released it. */
  released: Array<{ name: string; version: number; policy: string; policyVersion: number | string }>;
  /** The HPKE key the secrets were sealed with. */
  serverKeyId: string;
  root: RootKind;
  now: Date;
  ttlSeconds: number;
}

export function earClaims(i: EarInput): Record<string, unknown> {
  const v = i.verification;
  const iat = Math.floor(i.now.getTime() / 1000);
  return {
    eat_profile: EAR_PROFILE,
    iat,
    exp: iat + i.ttlSeconds,
    eat_nonce: i.nonce,
    'ear.verifier-id': { ...VERIFIER_ID },
    'warden.root': i.root,
    submods: {
      [v.teeType === 'TDX' ? TDX_SUBMOD : SUBMOD]: {
        'ear.status': earStatus(v),
        ...(v.teeType === 'TDX' ? { 'warden.tdx': tdxClaims(v) } : { 'warden.sgx': sgxClaims(v) }),
        'warden.policies': i.policies.map((p) => ({ name: p.name, version: p.version })),
        'warden.policy_set_hash': i.policySetHash,
        'warden.secrets': i.released.map((s) => ({ name: s.name, version: s.version, policy: s.policy, policy_version: s.policyVersion })),
        'warden.server_key_id': i.serverKeyId,
      },
    },
  };
}

function sgxClaims(v: SgxVerification): Record<string, unknown> {
  return {
    mrenclave: v.report.mrEnclave.toString('hex'),
    mrsigner: v.report.mrSigner.toString('hex'),
    isvprodid: v.report.isvProdId,
    isvsvn: v.report.isvSvn,
    debug: v.report.debug,
    tcb_status: v.status,
    advisory_ids: [...v.advisoryIds],
    tcb_date: v.tcbDate,
    fmspc: v.fmspc,
  };
}

/** The TD's measurements and the platform's and TDX module's verdicts. */
function tdxClaims(v: TdxVerification): Record<string, unknown> {
  const r = v.report;
  const h = (b: Buffer) => b.toString('hex');
  return {
    mrtd: h(r.mrTd),
    rtmr0: h(r.rtmr0),
    rtmr1: h(r.rtmr1),
    rtmr2: h(r.rtmr2),
    rtmr3: h(r.rtmr3),
    mrconfigid: h(r.mrConfigId),
    mrowner: h(r.mrOwner),
    mrownerconfig: h(r.mrOwnerConfig),
    mrseam: h(r.mrSeam),
    tee_tcb_svn: h(r.teeTcbSvn),
    td_attributes: h(r.tdAttributes),
    debug: r.debug,
    tcb_status: v.status,
    advisory_ids: [...v.advisoryIds],
    tcb_date: v.tcbDate,
    fmspc: v.fmspc,
    tdx_module: { identity: v.tdx.moduleIdentity, tcb_status: v.tdx.moduleStatus, tcb_date: v.tdx.moduleTcbDate, advisory_ids: [...v.tdx.moduleAdvisoryIds] },
  };
}
