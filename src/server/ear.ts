// Claims of the result token, shaped as an EAT Attestation Result (draft-ietf-rats-ear) with the SGX facts.
import type { SgxVerification } from '../dcap/types.ts';
import type { RootKind } from './deps.ts';

export const EAR_PROFILE = 'tag:github.com,2023:veraison/ear';
export const SUBMOD = 'sgx-enclave';
export const VERIFIER_ID = { developer: 'warden', build: 'warden/v1' } as const;

export type EarStatus = 'affirming' | 'warning' | 'contraindicated';

/** UpToDate is affirming; any other status a policy accepted is a warning the relying party can see. */
export function earStatus(v: SgxVerification): EarStatus {
  if (v.status === 'Revoked') return 'contraindicated';
  return v.status === 'UpToDate' && v.report.debug === false ? 'affirming' : 'warning';
}

export interface EarInput {
  verification: SgxVerification;
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
      [SUBMOD]: {
        'ear.status': earStatus(v),
        'warden.sgx': {
          mrenclave: v.report.mrEnclave.toString('hex'),
          mrsigner: v.report.mrSigner.toString('hex'),
          isvprodid: v.report.isvProdId,
          isvsvn: v.report.isvSvn,
          debug: v.report.debug,
          tcb_status: v.status,
          advisory_ids: [...v.advisoryIds],
          tcb_date: v.tcbDate,
          fmspc: v.fmspc,
        },
        'warden.policies': i.policies.map((p) => ({ name: p.name, version: p.version })),
        'warden.policy_set_hash': i.policySetHash,
        'warden.secrets': i.released.map((s) => ({ name: s.name, version: s.version, policy: s.policy, policy_version: s.policyVersion })),
        'warden.server_key_id': i.serverKeyId,
      },
    },
  };
}
