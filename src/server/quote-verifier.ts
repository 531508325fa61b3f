// Parse, fetch collateral for, and verify one quote: the verification step of an attestation.
// Stateless: what is worth remembering is remembered once, where the fact lives (proven PCK chains in
// dcap/pck-route.ts, collateral objects by their source, prepared collateral by verifyQuote; the contract
// is on Collateral in dcap/types.ts).
import { trustedRootOf } from '../dcap/checks.ts';
import { routePck } from '../dcap/pck-route.ts';
import { parseQuote } from '../dcap/quote.ts';
import type { Quote, Verification } from '../dcap/types.ts';
import { verifyQuote } from '../dcap/verify.ts';
import type { CollateralSource } from './collateral-source.ts';

export type QuoteVerifier = (quote: Buffer | Quote, at: Date) => Promise<Verification>;

/**
 * Errors keep their stable codes (the error table says their statuses): parse problems 400, verification
 * codes 403, CollateralUnavailableError 503, anything else (a bug) internal_error.
 */
export function makeQuoteVerifier(o: { collateral: CollateralSource; trustedRoot?: string | Buffer }): QuoteVerifier {
  const trusted = trustedRootOf(o.trustedRoot);
  const opts = o.trustedRoot === undefined ? {} : { trustedRoot: o.trustedRoot };
  return async (input, at) => {
    const quote = Buffer.isBuffer(input) ? parseQuote(input) : input;
    // The whole PCK chain, proven to the pinned root, before any source is asked about its platform: a
    // chain of the attacker's own PKI with a copy of the real root appended is refused here (403), and
    // no made-up FMSPC ever reaches a PCCS or the collateral cache.
    const route = routePck(quote, trusted);
    const collateral = await o.collateral.get(route.fmspc, route.kind, undefined, quote.teeType);
    return verifyQuote(quote, collateral, { at, ...opts });
  };
}
