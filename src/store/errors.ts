// Typed store errors: each code is a row of the one error table (src/protocol/errors.ts), which says
// how the server and the CLI report it.
import { WardenError, meaningOf } from '../protocol/errors.ts';

export type StoreErrorCode =
  | 'invalid_secret_name'
  | 'invalid_secret_value'
  | 'secret_exists'
  | 'secret_not_found'
  | 'secret_decrypt_failed'
  | 'master_key_mismatch'
  | 'master_key_missing'
  | 'master_key_invalid'
  | 'audit_invalid_entry'
  | 'audit_archive_invalid'
  | 'token_not_found'
  | 'invalid_role'
  | 'server_key_unknown'
  | 'server_key_retired'
  | 'server_key_current'
  | 'store_unavailable'
  | 'schema_too_new'
  | 'database_url_invalid';

export class StoreError extends WardenError<StoreErrorCode> {
  constructor(code: StoreErrorCode, message: string = meaningOf(code)) {
    super(code, message);
    this.name = 'StoreError';
  }
}
