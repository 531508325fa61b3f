// Every rejection the verifier can give, with a stable code from the one error table
// (src/protocol/errors.ts). Messages say what failed, never secrets.
import { WardenError, type VerificationErrorCode } from '../protocol/errors.ts';

export type { VerificationErrorCode } from '../protocol/errors.ts';

export class VerificationError extends WardenError<VerificationErrorCode> {
  constructor(code: VerificationErrorCode, message: string) {
    super(code, message);
    this.name = 'VerificationError';
  }
}

export function fail(code: VerificationErrorCode, message: string): never {
  throw new VerificationError(code, message);
}
