// Errors of the collateral edge, each with a stable code. Messages name the item, never secrets.
import { WardenError, type VerificationErrorCode } from '../protocol/errors.ts';
import { describeItem, type ItemId, isTcbInfoKind } from './item.ts';

/**
 * Why a source's answer was not used: the exchange failed (the first five), or the answer failed one of
 * the verifier's checks (its code: untrusted_root, signature_invalid, collateral_expired, ...).
 */
export type RejectCode = 'timeout' | 'network' | 'http_status' | 'too_large' | 'malformed' | VerificationErrorCode;

/** A source answered with something that cannot be used, or did not answer. */
export class SourceError extends Error {
  override name = 'SourceError';
  constructor(
    readonly code: RejectCode,
    message: string,
    /** Worth asking the same source again (5xx, 429, a dropped connection). */
    readonly retryable = false,
    /** Server-requested wait before the next attempt (429/503 Retry-After). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** Nothing valid can be had for an item: verification must fail rather than use stale collateral. */
export class CollateralUnavailableError extends WardenError<'collateral_unavailable'> {
  override name = 'CollateralUnavailableError';
  readonly item: ItemId;
  /** The FMSPC of the quote the collateral was wanted for ('' when not known). */
  readonly fmspc: string;
  readonly reasons: string[];
  constructor(item: ItemId, fmspc: string, reasons: string[]) {
    const forWhat = fmspc ? ` for FMSPC ${fmspc}` : '';
    const why = reasons.length ? `: ${reasons.join('; ')}` : ': no source configured and nothing valid cached';
    super('collateral_unavailable', `collateral unavailable: no valid ${describeItem(item)}${isTcbInfoKind(item.kind) ? '' : forWhat}${why}`);
    this.item = item;
    this.fmspc = fmspc;
    this.reasons = reasons;
  }
}

/** A collateral bundle that cannot be imported; nothing from it is stored. */
export class BundleError extends WardenError<'bundle_invalid'> {
  override name = 'BundleError';
  constructor(message: string) {
    super('bundle_invalid', message);
  }
}
