// GENERATED from openapi.yaml by test/helpers/openapi-types.ts: do not edit. The wire types of the HTTP
// API, exactly the component schemas the server validates requests and responses against (schema Error
// is ErrorResponse here).
// Regenerate after changing openapi.yaml: node --import tsx test/helpers/openapi-types.ts --write

/** Stable error codes. HTTP status in brackets. */
export type ErrorCode = 'bad_request' | 'body_too_large' | 'unsupported_media_type' | 'request_timeout' | 'headers_too_large' | 'not_found' | 'rate_limited' | 'nonce_unknown' | 'nonce_used' | 'nonce_expired' | 'malformed_quote' | 'unsupported_quote' | 'unsupported_tee' | 'malformed_collateral' | 'untrusted_root' | 'invalid_certificate_chain' | 'certificate_expired' | 'collateral_expired' | 'revoked' | 'crl_mismatch' | 'signature_invalid' | 'qe_report_data_mismatch' | 'qe_identity_mismatch' | 'tcb_info_mismatch' | 'tcb_not_supported' | 'tdx_module_mismatch' | 'collateral_unavailable' | 'binding_mismatch' | 'policy_denied' | 'unauthorized' | 'forbidden' | 'invalid_secret_name' | 'secret_exists' | 'secret_not_found' | 'server_key_unknown' | 'server_key_retired' | 'policy_load_failed' | 'not_ready' | 'store_unavailable' | 'internal_error';

export interface ErrorResponse {
  error: {
    code: ErrorCode;
    message: string;
    /** For `policy_denied`, the failed checks as `policy/check` codes (never secret material). */
    checks?: Array<string>;
  };
}

/** Standard base64 with padding (RFC 4648 section 4), canonical: the unused bits of the last character are zero. In request bodies the server checks this where it decodes the value (decode, re-encode, compare: once), not with the pattern (`x-warden-decoded`), which costs 5 times as much on a 6 KB quote. */
export type Base64 = string;

/** base64 of exactly 32 bytes. */
export type Nonce = string;

/** base64 of a 65-byte uncompressed P-256 point (04 || X || Y). */
export type PublicKey = string;

/** Lowercase hex SHA-256 of the server HPKE key's 65-byte uncompressed public key. */
export type ServerKeyId = string;

export type SecretName = string;

/** Intel's converged TCB status; the two TDRelaunch statuses occur for TDX quotes with a TD report 1.5 only */
export type TcbStatus = 'UpToDate' | 'SWHardeningNeeded' | 'ConfigurationNeeded' | 'ConfigurationAndSWHardeningNeeded' | 'OutOfDate' | 'OutOfDateConfigurationNeeded' | 'Revoked' | 'TDRelaunchAdvised' | 'TDRelaunchAdvisedConfigurationNeeded';

export type ChallengeRequest = Record<string, never>;

export interface ChallengeResponse {
  nonce: Nonce;
  /** RFC 3339 UTC; the nonce is expired when now >= expiresAt */
  expiresAt: string;
}

export interface AttestRequest {
  nonce: Nonce;
  quote: Base64;
  publicKey: PublicKey;
  secrets: Array<SecretName>;
  /** the server HPKE key the enclave pinned, which then seals the secrets while it is active; retired: 410 `server_key_retired`, never held: 400 `server_key_unknown`; absent: the current key */
  serverKeyId?: ServerKeyId;
}

/** The policy file's `version`. */
export type PolicyVersion = number | string;

export interface SealedSecret {
  name: SecretName;
  version: number;
  /** the policy that released this secret */
  policy: string;
  policyVersion: PolicyVersion;
  /** HPKE encapsulated key (65 bytes) */
  enc: Base64;
  /** AES-256-GCM ciphertext with 16-byte tag */
  ciphertext: Base64;
}

export interface AttestResponse {
  /** the HPKE key that sealed the secrets */
  serverKeyId: ServerKeyId;
  /** ES256 JWT (EAR claims), verify with /.well-known/jwks.json */
  token: string;
  /** Every requested secret; during a rotation grace period both the current and the previous version. */
  secrets: Array<SealedSecret>;
  /** the policy that released the first requested secret (older clients); each secret names its own */
  policy: string;
  /** Every policy that released a secret of this request, each once. The token says the same (warden.policies, and warden.secrets[].policy). */
  policies: Array<{
    name: string;
    version: PolicyVersion;
  }>;
  tcbStatus: TcbStatus;
}

export interface ServerKeys {
  /** The current HPKE key (pin this one in new images). */
  hpke: {
    suite: 'DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM';
    publicKey: PublicKey;
    serverKeyId: ServerKeyId;
  };
  /** Every active HPKE key (the current one first); attest seals with any of them on request. */
  hpkeKeys: Array<{
    serverKeyId: ServerKeyId;
    publicKey: PublicKey;
    current: boolean;
    createdAt: string;
  }>;
  jwksUri: '/.well-known/jwks.json';
}

export interface Jwks {
  keys: Array<{
    kty: 'EC';
    crv: 'P-256';
    x: string;
    y: string;
    kid: string;
    alg?: 'ES256';
    use?: 'sig';
  }>;
}

export interface Health {
  /** `degraded` (still 200): no collateral source answers and the cache serves until `collateral.earliestExpiry`. */
  status: 'ok' | 'degraded' | 'not_ready';
  checks?: Record<string, boolean>;
  /** Hash of the policy set this server enforces (readyz only); replicas that differ have drifted. */
  policySetHash?: string;
  /** Present when collateral comes from sources (not the built-in simulated PKI). The sources are probed at most every 30 s; a probe that takes over 2 s counts as unreachable for that answer. */
  collateral?: {
    state: 'ok' | 'degraded' | 'unavailable';
    sourcesReachable: boolean;
    /** the first nextUpdate among the usable cached items */
    earliestExpiry?: string;
    expiresInSeconds?: number;
  };
}

export interface SecretMeta {
  name: SecretName;
  kind: 'sefs-key' | 'bytes';
  version: number;
  createdAt: string;
  rotatedAt?: string | null;
}

export interface SecretList {
  secrets: Array<SecretMeta>;
}

export interface SecretCreate {
  name: SecretName;
  kind?: 'sefs-key' | 'bytes';
  value?: Base64;
}

export interface SecretRotate {
  value?: Base64;
}

export interface Deleted {
  deleted: boolean;
}

export interface PolicyList {
  policySetHash: string;
  policies: Array<{
    name: string;
    version?: string | number | null;
    secrets?: Array<string>;
  }>;
}

export interface AuditEntry {
  id: number;
  type: string;
  at: string;
  actor?: string | null;
  outcome?: string | null;
  data: Record<string, unknown>;
  prevHash?: string;
  hash: string;
}

export interface AuditList {
  entries: Array<AuditEntry>;
}

export interface AuditVerify {
  ok: boolean;
  /** entries verified */
  count?: number;
  /** first live entry id when older entries were archived (warden audit archive) */
  from?: number;
  firstBadId?: number;
  reason?: string;
}
