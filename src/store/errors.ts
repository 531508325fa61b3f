// Typed store errors: each has a stable code the server and CLI map to responses and exit codes.

export const STORE_ERROR_CODES = {
  invalid_secret_name: 'a secret name must match ^[a-z0-9][a-z0-9._-]{0,63}$',
  invalid_secret_value: 'the secret value is not acceptable for its kind',
  secret_exists: 'a secret with this name already exists',
  secret_not_found: 'no secret (or secret version) with this name',
  secret_decrypt_failed: 'a stored value failed authenticated decryption (tampered or wrong master key)',
  master_key_mismatch: 'the master key is not the one this database was created with',
  master_key_missing: 'no master key is configured',
  master_key_invalid: 'the master key is not 32 bytes (64 hex characters or base64)',
  audit_invalid_entry: 'an audit entry holds a value that may not be recorded (binary data)',
  token_not_found: 'no admin token with this id',
  invalid_role: "a role is 'admin' or 'auditor'",
} as const;

export type StoreErrorCode = keyof typeof STORE_ERROR_CODES;

export class StoreError extends Error {
  override name = 'StoreError';
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string = STORE_ERROR_CODES[code]) {
    super(message);
    this.code = code;
  }
}
