// Every rejection the verifier can give, with a stable code from the one error table
// (src/protocol/errors.ts). Messages say what failed, never secrets.
import { API_ERRORS, VERIFICATION_CODES, WardenError, type VerificationErrorCode } from '../protocol/errors.ts';

export type { VerificationErrorCode } from '../protocol/errors.ts';

/** Each verification code and what it means (from the error table). */
export const VERIFICATION_ERROR_CODES: Readonly<Record<VerificationErrorCode, string>> = Object.fromEntries(
  VERIFICATION_CODES.map((c) => [c, API_ERRORS[c].meaning]),
) as Record<VerificationErrorCode, string>;

export class VerificationError extends WardenError<VerificationErrorCode> {
  constructor(code: VerificationErrorCode, message: string) {
    super(code, message);
    this.name = 'VerificationError';
  }
}

export function fail(code: VerificationErrorCode, message: string): never {
  throw new VerificationError(code, message);
}
