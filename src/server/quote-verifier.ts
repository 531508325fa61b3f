// Parse, fetch collateral for, and verify one quote: the verification step of an attestation.
import { pckInfo } from '../dcap/pck.ts';
import { parseQuote } from '../dcap/quote.ts';
import type { Verification } from '../dcap/types.ts';
import { verifyQuote } from '../dcap/verify.ts';
import { CollateralUnavailableError, type CollateralSource } from './collateral-source.ts';

export type QuoteVerifier = (quote: Buffer, at: Date) => Promise<Verification>;

/**
 * Errors keep their stable codes: parse problems (`malformed_quote`, `unsupported_*`) become 400s,
 * other verification codes 403s and `collateral_unavailable` a 503 (see errors.ts).
 */
export function makeQuoteVerifier(o: { collateral: CollateralSource; trustedRoot?: string | Buffer }): QuoteVerifier {
  return async (raw, at) => {
    const quote = parseQuote(raw);
    const { fmspc, ca } = pckInfo(quote);
    let collateral;
    try {
      collateral = await o.collateral.get(fmspc, ca);
    } catch (e) {
      if ((e as { code?: unknown })?.code === 'collateral_unavailable') throw e;
      throw new CollateralUnavailableError(`no collateral for FMSPC ${fmspc} (${ca} CA)`);
    }
    return verifyQuote(raw, collateral, o.trustedRoot === undefined ? { at } : { at, trustedRoot: o.trustedRoot });
  };
}
