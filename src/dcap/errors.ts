// Every rejection the verifier can give, with a stable code. Messages say what failed, never secrets.

export const VERIFICATION_ERROR_CODES = {
  malformed_quote: 'the quote bytes are not a well-formed DCAP quote',
  unsupported_quote: 'the quote is well-formed but of a kind Warden does not verify (version, key type, vendor, certification data)',
  unsupported_tee: 'the quote is for a TEE other than SGX (TDX is not supported yet)',
  malformed_collateral: 'the collateral is not well-formed (JSON, PEM, DER, fields)',
  untrusted_root: 'a certificate chain does not lead to the pinned root',
  invalid_certificate_chain: 'a certificate chain is malformed or not signed as it claims',
  certificate_expired: 'a certificate is outside its validity period at the verification time',
  collateral_expired: 'a CRL, TCB Info or QE Identity is outside its validity period at the verification time',
  revoked: 'a certificate is revoked, or the TCB level or QE level is Revoked',
  crl_mismatch: 'a CRL was not issued by the CA it must come from',
  signature_invalid: 'a signature does not verify',
  qe_report_data_mismatch: 'the QE report does not bind the attestation key and QE auth data',
  qe_identity_mismatch: 'the quoting enclave is not the one QE Identity describes',
  tcb_info_mismatch: 'TCB Info is for another platform (FMSPC, PCE-ID or TEE)',
  tcb_not_supported: 'no TCB level matches, or TCB Info holds a level Warden cannot evaluate',
} as const;

export type VerificationErrorCode = keyof typeof VERIFICATION_ERROR_CODES;

export class VerificationError extends Error {
  readonly code: VerificationErrorCode;
  constructor(code: VerificationErrorCode, message: string) {
    super(message);
    this.name = 'VerificationError';
    this.code = code;
  }
}

export function fail(code: VerificationErrorCode, message: string): never {
  throw new VerificationError(code, message);
}
