// The one error table: every code Warden reports, with the HTTP status it answers, the CLI exit status
// it ends a command with, and what the audit trail records. A new code is added here (and, if the API
// can answer it, to openapi.yaml's ErrorCode); the types below make a missing column a compile error,
// and test/errors-table.test.ts compares the API codes with openapi.yaml.
// Pure: imports nothing, so every module (dcap and policy included) may use it.

/** The verifier's rejections (src/dcap), answered by the API under their own names. */
export const VERIFICATION_CODES = [
  'malformed_quote',
  'unsupported_quote',
  'unsupported_tee',
  'malformed_collateral',
  'untrusted_root',
  'invalid_certificate_chain',
  'certificate_expired',
  'collateral_expired',
  'revoked',
  'crl_mismatch',
  'signature_invalid',
  'qe_report_data_mismatch',
  'qe_identity_mismatch',
  'tcb_info_mismatch',
  'tcb_not_supported',
  'tdx_module_mismatch',
] as const;
export type VerificationErrorCode = (typeof VERIFICATION_CODES)[number];

/** Codes the HTTP API answers with, exactly openapi.yaml's ErrorCode enum. */
export const API_ERROR_CODES = [
  'bad_request',
  'body_too_large',
  'unsupported_media_type',
  'request_timeout',
  'headers_too_large',
  'not_found',
  'rate_limited',
  'nonce_unknown',
  'nonce_used',
  'nonce_expired',
  ...VERIFICATION_CODES,
  'collateral_unavailable',
  'binding_mismatch',
  'policy_denied',
  'unauthorized',
  'forbidden',
  'invalid_secret_name',
  'secret_exists',
  'secret_not_found',
  'server_key_unknown',
  'server_key_retired',
  'policy_load_failed',
  'not_ready',
  'store_unavailable',
  'internal_error',
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

/**
 * Codes that never leave the server under their own name: the CLI prints them, and the API answers
 * with the code in `answeredAs` (a stored secret that fails decryption is the server's fault: 500).
 */
export const INTERNAL_ERROR_CODES = [
  // store
  'invalid_secret_value',
  'secret_decrypt_failed',
  'master_key_mismatch',
  'master_key_missing',
  'master_key_invalid',
  'key_file_insecure',
  'audit_invalid_entry',
  'audit_archive_invalid',
  'token_not_found',
  'invalid_role',
  'server_key_current',
  'schema_too_new',
  'database_url_invalid',
  // collateral edge
  'bundle_invalid',
  'bad_config',
  // warden verify --batch
  'invalid_batch_line',
  // enclave inspection (SIGSTRUCT)
  'not_an_enclave',
  'malformed_elf',
  'no_sgx_metadata',
  'malformed_sigstruct',
  // keys, HPKE and tokens (library errors: on the server they are bugs)
  'invalid_key',
  'hpke_open_failed',
  'hpke_bad_input',
  'jwt_malformed',
  'jwt_unsupported_alg',
  'jwt_unknown_kid',
  'jwt_bad_signature',
  'jwt_expired',
  'jwt_not_yet_valid',
  // the CLI (never answered by the server)
  'no_database',
  'no_sim_pki',
  'no_token',
  'file_exists',
  'write_failed',
  'server_unreachable',
  'tls_error',
  'bad_response',
  'server_key_mismatch',
  'quote_failed',
  'token_invalid',
] as const;
export type InternalErrorCode = (typeof INTERNAL_ERROR_CODES)[number];

export type ErrorCode = ApiErrorCode | InternalErrorCode;

export type HttpStatus = 400 | 401 | 403 | 404 | 408 | 409 | 410 | 413 | 415 | 422 | 429 | 431 | 500 | 503;

/** CLI exit statuses (one contract for every command): 1 refused or failed, 2 the command was called wrongly. */
export type ExitStatus = 1 | 2;

interface ApiRow {
  status: HttpStatus;
  exit: ExitStatus;
  /** The reason an audit entry records; null: never audited (no decision was made about anyone). */
  audit: ApiErrorCode | null;
  meaning: string;
}

interface InternalRow {
  answeredAs: ApiErrorCode;
  exit: ExitStatus;
  meaning: string;
}

const REQ = { exit: 1, audit: null } as const;
const DECIDED = (code: ApiErrorCode, status: HttpStatus, meaning: string): ApiRow => ({ status, exit: 1, audit: code, meaning });

export const API_ERRORS: { readonly [C in ApiErrorCode]: ApiRow } = {
  bad_request: { ...REQ, status: 400, meaning: 'malformed JSON, schema violation, bad base64, invalid public key' },
  body_too_large: { ...REQ, status: 413, meaning: 'the request body is over the limit' },
  unsupported_media_type: { ...REQ, status: 415, meaning: 'the request body is not application/json in UTF-8' },
  request_timeout: { ...REQ, status: 408, meaning: 'the request (headers and body) did not arrive within the request timeout; the connection is closed' },
  headers_too_large: { ...REQ, status: 431, meaning: 'the request headers are over the HTTP parser limit' },
  not_found: { ...REQ, status: 404, meaning: 'unknown route' },
  rate_limited: { ...REQ, status: 429, meaning: 'too many requests from this client address' },
  nonce_unknown: DECIDED('nonce_unknown', 401, 'the nonce was never issued (or is long gone)'),
  nonce_used: DECIDED('nonce_used', 401, 'the nonce was used before'),
  nonce_expired: DECIDED('nonce_expired', 401, 'the nonce expired before it was used'),
  malformed_quote: DECIDED('malformed_quote', 400, 'the quote bytes are not a well-formed DCAP quote'),
  unsupported_quote: DECIDED('unsupported_quote', 400, 'the quote is well-formed but of a kind Warden does not verify (version, key type, vendor, certification data)'),
  unsupported_tee: DECIDED('unsupported_tee', 400, 'the quote is for a TEE other than SGX (0) and TDX (0x81)'),
  malformed_collateral: DECIDED('malformed_collateral', 403, 'the collateral is not well-formed (JSON, PEM, DER, fields)'),
  untrusted_root: DECIDED('untrusted_root', 403, 'a certificate chain does not lead to the pinned root'),
  invalid_certificate_chain: DECIDED('invalid_certificate_chain', 403, 'a certificate chain is malformed or not signed as it claims'),
  certificate_expired: DECIDED('certificate_expired', 403, 'a certificate is outside its validity period at the verification time'),
  collateral_expired: DECIDED('collateral_expired', 403, 'a CRL, TCB Info or QE Identity is outside its validity period at the verification time'),
  revoked: DECIDED('revoked', 403, 'a certificate is revoked, or the TCB level or QE level is Revoked'),
  crl_mismatch: DECIDED('crl_mismatch', 403, 'a CRL was not issued by the CA it must come from'),
  signature_invalid: DECIDED('signature_invalid', 403, 'a signature does not verify'),
  qe_report_data_mismatch: DECIDED('qe_report_data_mismatch', 403, 'the QE report does not bind the attestation key and QE auth data'),
  qe_identity_mismatch: DECIDED('qe_identity_mismatch', 403, 'the quoting enclave is not the one QE Identity describes'),
  tcb_info_mismatch: DECIDED('tcb_info_mismatch', 403, 'TCB Info is for another platform (FMSPC, PCE-ID or TEE)'),
  tcb_not_supported: DECIDED('tcb_not_supported', 403, 'no TCB level matches, or TCB Info holds a level Warden cannot evaluate'),
  tdx_module_mismatch: DECIDED('tdx_module_mismatch', 403, 'the TDX module (MRSIGNERSEAM, SEAMATTRIBUTES, major version) is not one TCB Info vouches for'),
  collateral_unavailable: DECIDED('collateral_unavailable', 503, 'no valid collateral can be had for the quote (sources down, nothing valid cached)'),
  binding_mismatch: DECIDED('binding_mismatch', 403, 'report data does not bind nonce and public key, or bytes 32-63 are not zero'),
  policy_denied: DECIDED('policy_denied', 403, 'no policy releases every requested secret to this enclave'),
  unauthorized: { ...REQ, status: 401, meaning: 'admin route without a valid bearer token' },
  forbidden: { ...REQ, status: 403, meaning: "the token's role may not do this" },
  invalid_secret_name: { ...REQ, status: 400, meaning: 'not a valid secret name' },
  secret_exists: { ...REQ, status: 409, meaning: 'a secret with this name already exists' },
  secret_not_found: { ...REQ, status: 404, meaning: 'no secret (or secret version) with this name' },
  server_key_unknown: DECIDED('server_key_unknown', 400, 'attest names a serverKeyId this server never had'),
  server_key_retired: DECIDED('server_key_retired', 410, 'attest names a serverKeyId an operator retired; the image must be rebuilt with a current key'),
  policy_load_failed: DECIDED('policy_load_failed', 422, 'reload found invalid policy files; the old set stays in force'),
  not_ready: { ...REQ, status: 503, meaning: 'readiness check failed, or the server is shutting down' },
  // Not audited: the audit trail is in the database that cannot be reached.
  store_unavailable: { ...REQ, status: 503, meaning: 'the database cannot be reached or is not answering; retry (the server recovers by itself)' },
  internal_error: DECIDED('internal_error', 500, "a bug or a broken server state: never the client's fault; logged with its stack"),
};

export const INTERNAL_ERRORS: { readonly [C in InternalErrorCode]: InternalRow } = {
  invalid_secret_value: { answeredAs: 'bad_request', exit: 1, meaning: 'the secret value is not acceptable for its kind' },
  secret_decrypt_failed: { answeredAs: 'internal_error', exit: 1, meaning: 'a stored value failed authenticated decryption (tampered or wrong master key)' },
  master_key_mismatch: { answeredAs: 'internal_error', exit: 1, meaning: 'the master key is not the one this database was created with' },
  master_key_missing: { answeredAs: 'internal_error', exit: 1, meaning: 'no master key is configured' },
  master_key_invalid: { answeredAs: 'internal_error', exit: 1, meaning: 'the master key is not 32 bytes (64 hex characters or base64)' },
  key_file_insecure: { answeredAs: 'internal_error', exit: 1, meaning: 'a private key file (master key, TLS key) is accessible to other users; chmod 600 it or pass --allow-insecure-key-permissions' },
  audit_invalid_entry: { answeredAs: 'internal_error', exit: 1, meaning: 'an audit entry holds a value that may not be recorded (binary data)' },
  audit_archive_invalid: { answeredAs: 'internal_error', exit: 1, meaning: 'an audit archive segment does not verify, or the segments do not link up to the live chain; or the live chain to archive does not verify' },
  token_not_found: { answeredAs: 'not_found', exit: 1, meaning: 'no admin token with this id' },
  invalid_role: { answeredAs: 'bad_request', exit: 1, meaning: "a role is 'admin' or 'auditor'" },
  server_key_current: { answeredAs: 'bad_request', exit: 1, meaning: 'the current HPKE key cannot be retired; rotate first' },
  schema_too_new: { answeredAs: 'internal_error', exit: 1, meaning: 'the database schema is newer than this Warden; run a Warden of that version or newer' },
  database_url_invalid: { answeredAs: 'internal_error', exit: 2, meaning: 'the database URL is not a postgres:// or postgresql:// URL' },
  bundle_invalid: { answeredAs: 'bad_request', exit: 1, meaning: 'a collateral bundle that cannot be imported; nothing from it is stored' },
  bad_config: { answeredAs: 'internal_error', exit: 2, meaning: 'a configuration file (e.g. a TLS CA file) is missing or unusable' },
  invalid_batch_line: { answeredAs: 'bad_request', exit: 1, meaning: 'a line of `warden verify --batch` is not a JSON object with the fields it needs, or names a file that cannot be read' },
  not_an_enclave: { answeredAs: 'bad_request', exit: 1, meaning: 'the file is neither a signed enclave nor a SIGSTRUCT' },
  malformed_elf: { answeredAs: 'bad_request', exit: 1, meaning: 'the enclave ELF is malformed' },
  no_sgx_metadata: { answeredAs: 'bad_request', exit: 1, meaning: 'the ELF has no .note.sgxmeta section (not signed)' },
  malformed_sigstruct: { answeredAs: 'bad_request', exit: 1, meaning: 'the SIGSTRUCT is malformed' },
  invalid_key: { answeredAs: 'internal_error', exit: 1, meaning: 'a key is not a valid P-256 key (off the curve, wrong length or encoding)' },
  hpke_open_failed: { answeredAs: 'internal_error', exit: 1, meaning: 'an HPKE ciphertext does not open' },
  hpke_bad_input: { answeredAs: 'internal_error', exit: 1, meaning: 'HPKE was called with inconsistent inputs' },
  jwt_malformed: { answeredAs: 'internal_error', exit: 1, meaning: 'the token is not a well-formed JWT' },
  jwt_unsupported_alg: { answeredAs: 'internal_error', exit: 1, meaning: 'the token is not ES256' },
  jwt_unknown_kid: { answeredAs: 'internal_error', exit: 1, meaning: 'no published key has the token kid' },
  jwt_bad_signature: { answeredAs: 'internal_error', exit: 1, meaning: 'the token signature does not verify' },
  jwt_expired: { answeredAs: 'internal_error', exit: 1, meaning: 'the token has expired' },
  jwt_not_yet_valid: { answeredAs: 'internal_error', exit: 1, meaning: 'the token is not valid yet' },
  no_database: { answeredAs: 'internal_error', exit: 1, meaning: 'a command that only reads found no database in the data directory (it never makes one)' },
  no_sim_pki: { answeredAs: 'internal_error', exit: 1, meaning: '--dev found no simulated PKI in the data directory (serve --dev makes it)' },
  no_token: { answeredAs: 'internal_error', exit: 1, meaning: 'the admin token file cannot be read' },
  file_exists: { answeredAs: 'internal_error', exit: 1, meaning: 'the output file already exists and is not replaced without --force' },
  write_failed: { answeredAs: 'internal_error', exit: 1, meaning: 'an output file or directory cannot be written' },
  server_unreachable: { answeredAs: 'internal_error', exit: 1, meaning: 'the Warden server cannot be reached (connection refused, DNS, timeout)' },
  tls_error: { answeredAs: 'internal_error', exit: 1, meaning: "the server's TLS certificate does not chain to the given CA" },
  bad_response: { answeredAs: 'internal_error', exit: 1, meaning: 'the server answered outside the protocol' },
  server_key_mismatch: { answeredAs: 'internal_error', exit: 1, meaning: 'the server offers another HPKE key than the pinned one' },
  quote_failed: { answeredAs: 'internal_error', exit: 1, meaning: 'the quote program failed or printed no quote' },
  token_invalid: { answeredAs: 'internal_error', exit: 1, meaning: "the result token does not verify against the server's JWKS, or is for another nonce" },
};

export function isApiErrorCode(code: unknown): code is ApiErrorCode {
  return typeof code === 'string' && Object.hasOwn(API_ERRORS, code);
}

/** The code the API answers with for `code`. */
export function apiCodeOf(code: ErrorCode): ApiErrorCode {
  return isApiErrorCode(code) ? code : INTERNAL_ERRORS[code].answeredAs;
}

export function httpStatusOf(code: ErrorCode): HttpStatus {
  return API_ERRORS[apiCodeOf(code)].status;
}

export function exitStatusOf(code: ErrorCode): ExitStatus {
  return isApiErrorCode(code) ? API_ERRORS[code].exit : INTERNAL_ERRORS[code].exit;
}

/** The reason an audit entry records for a request that failed with `code`, or null when none is written. */
export function auditReasonOf(code: ErrorCode): ApiErrorCode | null {
  return API_ERRORS[apiCodeOf(code)].audit;
}

export function meaningOf(code: ErrorCode): string {
  return isApiErrorCode(code) ? API_ERRORS[code].meaning : INTERNAL_ERRORS[code].meaning;
}

/**
 * Every error Warden's own modules throw on purpose carries a code of this table. Anything else that
 * reaches a caller (a TypeError, a RangeError) is a bug and is reported as `internal_error`.
 */
export class WardenError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  constructor(code: C, message: string = meaningOf(code), options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WardenError';
    this.code = code;
  }
}

/** The code an error stands for: its own when it is a WardenError, `internal_error` for anything else. */
export function codeOf(e: unknown): ErrorCode {
  return e instanceof WardenError ? e.code : 'internal_error';
}
