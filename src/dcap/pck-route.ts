// Which platform a quote comes from, known only once its PCK chain is proven: the chain (from the quote,
// or supplied with the collateral) checked up to the pinned root (§4.2-§4.4), then its SGX extension.
// The one PCK routing: the verifier and the server's quote verifier (which must know the FMSPC before it
// asks any collateral source) both call it, so no source is ever asked about a platform whose chain an
// attacker made up (a copy of the real root appended to a chain of their own PKI included).
import { BoundedCache, once } from '../util/bounded-cache.ts';
import { checkPckChain } from './checks.ts';
import { parseSgxExtension, pckChainOf } from './pck.ts';
import { CERT_DATA_PCK_CHAIN } from './quote.ts';
import type { PckCaKind, Quote, SgxExtension } from './types.ts';
import type { Certificate } from './x509.ts';

export interface PckRoute {
  leaf: Certificate;
  ca: Certificate;
  root: Certificate;
  kind: PckCaKind;
  extension: SgxExtension;
  /** Lower-case hex. */
  fmspc: string;
}

/**
 * One fact per entry: "this chain, under this pinned root, is (or is not) a proven PCK chain, with this
 * extension". Keyed by the pinned root and the attestation key (a booting fleet sends the same few chains
 * over and over, and a 4 KB key would cost a hash per lookup), and confirmed byte for byte against the
 * chain it was computed from; a chain supplied with the collateral is keyed by its text.
 */
const routes = new BoundedCache<string, { data: Buffer; route: () => PckRoute }>(50_000);

/** The proven PCK chain of `quote` and its platform; throws the verifier's codes (untrusted_root, invalid_certificate_chain, ...). */
export function routePck(quote: Quote, trusted: Certificate, suppliedChain?: string): PckRoute {
  const cd = quote.signature.certification;
  const fromQuote = cd.type === CERT_DATA_PCK_CHAIN;
  const data = fromQuote ? cd.data : Buffer.from(suppliedChain ?? '', 'utf8');
  const key = `${trusted.fingerprint}:${fromQuote ? `q:${quote.signature.attestationKey.toString('latin1')}` : `s:${suppliedChain ?? ''}`}`;
  const hit = routes.get(key);
  if (hit && hit.data.equals(data)) return hit.route();
  const route = once((): PckRoute => {
    const [leaf, ca, root] = pckChainOf(quote, suppliedChain) as [Certificate, Certificate, Certificate];
    const kind = checkPckChain(leaf, ca, root, trusted);
    const extension = parseSgxExtension(leaf, kind);
    return { leaf, ca, root, kind, extension, fmspc: extension.fmspc.toString('hex') };
  });
  routes.set(key, { data: Buffer.from(data), route });
  return route();
}
