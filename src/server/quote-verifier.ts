// Parse, fetch collateral for, and verify one quote: the verification step of an attestation.
import { VerificationError } from '../dcap/errors.ts';
import { INTEL_SGX_ROOT_PUBLIC_KEY } from '../dcap/intel-root.ts';
import { pckChainOf, pckInfo } from '../dcap/pck.ts';
import { parseQuote } from '../dcap/quote.ts';
import { parseRoot } from '../dcap/x509.ts';
import type { Verification } from '../dcap/types.ts';
import { verifyQuote } from '../dcap/verify.ts';
import { CollateralUnavailableError, type CollateralSource } from './collateral-source.ts';

export type QuoteVerifier = (quote: Buffer, at: Date) => Promise<Verification>;

/**
 * Errors keep their stable codes: parse problems (`malformed_quote`, `unsupported_*`) become 400s,
 * other verification codes 403s and `collateral_unavailable` a 503 (see errors.ts).
 */
export function makeQuoteVerifier(o: { collateral: CollateralSource; trustedRoot?: string | Buffer }): QuoteVerifier {
  const rootKey = o.trustedRoot === undefined ? INTEL_SGX_ROOT_PUBLIC_KEY : parseRoot(o.trustedRoot).publicKeyRaw;
  return async (raw, at) => {
    const quote = parseQuote(raw);
    // A chain to another root can never verify: say so (403) before asking any PCCS about its FMSPC,
    // so such a quote is neither a 503 nor a way to make the server fetch collateral for made-up platforms.
    // verifyQuote checks the whole chain again below.
    const chainRoot = pckChainOf(quote)[2];
    if (!chainRoot?.publicKeyRaw.equals(rootKey)) {
      throw new VerificationError('untrusted_root', `PCK certificate chain does not lead to the pinned root ('${chainRoot?.subjectCn ?? '?'}' has another key)`);
    }
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
