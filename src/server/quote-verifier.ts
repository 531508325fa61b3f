// Parse, fetch collateral for, and verify one quote: the verification step of an attestation.
import { VerificationError } from '../dcap/errors.ts';
import { INTEL_SGX_ROOT_PUBLIC_KEY } from '../dcap/intel-root.ts';
import { pckCaKind, pckChainOf, parseSgxExtension } from '../dcap/pck.ts';
import { parseQuote } from '../dcap/quote.ts';
import { parseRoot } from '../dcap/x509.ts';
import type { Collateral, PckCaKind, Quote, Verification } from '../dcap/types.ts';
import { verifyQuote } from '../dcap/verify.ts';
import type { CollateralSource } from './collateral-source.ts';

export type QuoteVerifier = (quote: Buffer, at: Date) => Promise<Verification>;

interface Routing {
  /** The certification data it was derived from, compared byte for byte on every hit. */
  data: Buffer;
  fmspc: string;
  ca: PckCaKind;
}

const ROUTING_CACHE_LIMIT = 50_000;

/**
 * How long one platform's collateral object is reused before the source is asked again. The provider
 * reads four cache rows and builds a new object per call, and a new object also defeats the verifier's
 * per-object preparation: a visible share of every release. A second's delay in seeing refreshed
 * collateral (refreshes come hours before nextUpdate) costs nothing; verifyQuote still checks every
 * validity window at the request's time, and a reused object never outlives the validity it verified with.
 */
export const COLLATERAL_REUSE_MS = 1000;

/**
 * Errors keep their stable codes: parse problems (`malformed_quote`, `unsupported_*`) become 400s,
 * other verification codes 403s and `collateral_unavailable` a 503 (see errors.ts).
 */
export function makeQuoteVerifier(o: { collateral: CollateralSource; trustedRoot?: string | Buffer }): QuoteVerifier {
  const rootKey = o.trustedRoot === undefined ? INTEL_SGX_ROOT_PUBLIC_KEY : parseRoot(o.trustedRoot).publicKeyRaw;
  // What collateral a platform needs (FMSPC, CA) by its attestation key: a booting fleet sends the same
  // few chains over and over, and decoding the PEM chain and SGX extension again was a visible share of
  // every release. Only chains that led to the pinned root are kept; verifyQuote still checks everything.
  const routing = new Map<string, Routing>();
  const route = (quote: Quote): Routing => {
    const cd = quote.signature.certification;
    const ak = quote.signature.attestationKey.toString('latin1');
    const hit = routing.get(ak);
    if (hit && hit.data.equals(cd.data)) return hit;
    const [leaf, ca, chainRoot] = pckChainOf(quote);
    // A chain to another root can never verify: say so (403) before asking any PCCS about its FMSPC,
    // so such a quote is neither a 503 nor a way to make the server fetch collateral for made-up platforms.
    // verifyQuote checks the whole chain again below.
    if (!chainRoot?.publicKeyRaw.equals(rootKey)) {
      throw new VerificationError('untrusted_root', `PCK certificate chain does not lead to the pinned root ('${chainRoot?.subjectCn ?? '?'}' has another key)`);
    }
    const kind = pckCaKind(ca!);
    const r: Routing = { data: Buffer.from(cd.data), fmspc: parseSgxExtension(leaf!, kind).fmspc.toString('hex'), ca: kind };
    if (routing.size >= ROUTING_CACHE_LIMIT) routing.clear();
    routing.set(ak, r);
    return r;
  };
  const reuse = new Map<string, { collateral: Collateral; from: number; until: number }>();
  const collateralFor = async (fmspc: string, ca: PckCaKind, at: Date): Promise<Collateral> => {
    const k = `${fmspc}:${ca}`;
    const hit = reuse.get(k);
    if (hit && hit.from <= at.getTime() && at.getTime() < hit.until) return hit.collateral;
    let collateral: Collateral;
    try {
      collateral = await o.collateral.get(fmspc, ca);
    } catch (e) {
      // CollateralUnavailableError is a 503; anything else a source throws is a bug (internal_error).
      reuse.delete(k);
      throw e;
    }
    if (reuse.size >= ROUTING_CACHE_LIMIT) reuse.clear();
    reuse.set(k, { collateral, from: at.getTime(), until: at.getTime() + COLLATERAL_REUSE_MS });
    return collateral;
  };
  return async (raw, at) => {
    const quote = parseQuote(raw);
    const { fmspc, ca } = route(quote);
    const collateral = await collateralFor(fmspc, ca, at);
    const k = `${fmspc}:${ca}`;
    try {
      // The parsed quote, not the bytes: verifyQuote would parse them a second time.
      const v = verifyQuote(quote, collateral, o.trustedRoot === undefined ? { at } : { at, trustedRoot: o.trustedRoot });
      const r = reuse.get(k);
      if (r?.collateral === collateral && v.collateralExpiresAt.getTime() < r.until) r.until = v.collateralExpiresAt.getTime();
      return v;
    } catch (e) {
      // Whatever failed, the next quote of this platform asks the source again.
      if (reuse.get(k)?.collateral === collateral) reuse.delete(k);
      throw e;
    }
  };
}
