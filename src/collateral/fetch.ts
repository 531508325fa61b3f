// Collateral for one quote straight from PCS/PCCS sources (no cache): what `warden verify --pccs` uses.
import { readFileSync } from 'node:fs';
import { WardenError } from '../protocol/errors.ts';
import { trustedRootOf } from '../dcap/checks.ts';
import { routePck } from '../dcap/pck-route.ts';
import { parseQuote } from '../dcap/quote.ts';
import type { Collateral } from '../dcap/types.ts';
import { CollateralUnavailableError } from './errors.ts';
import { itemIdsFor, toCollateral, type CollateralItem } from './item.ts';
import type { SourceOptions } from './pcs-client.ts';
import { NoValidAnswer, SourceSet, type CollateralLogger } from './sources.ts';

export interface FetchForQuoteOptions extends SourceOptions {
  /** PEM file of an extra CA trusted for TLS (a local PCCS's own certificate). */
  caFile?: string;
  /**
   * The pinned root (PEM or DER): the quote's PCK chain must lead to it before any source is asked,
   * and every item must chain to it. Default: the Intel SGX Root CA.
   */
  trustedRoot?: string | Buffer;
  /**
   * The verification time: an answer valid at it is preferred over one that is not. When no source
   * has a valid one, an authentic expired one is still returned, so the verifier reports
   * `collateral_expired` exactly as it would for the same collateral given as a file.
   */
  at?: Date;
  logger?: CollateralLogger;
}

/** A missing or unreadable option file: a configuration mistake, not a source failure. */
export class CollateralConfigError extends WardenError<'bad_config'> {
  override name = 'CollateralConfigError';
  constructor(message: string) {
    super('bad_config', message);
  }
}

export function readCaFile(path: string): string {
  try {
    const pem = readFileSync(path, 'utf8');
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it');
    return pem;
  } catch (e) {
    throw new CollateralConfigError(`cannot use TLS CA file '${path}': ${(e as Error).message}`);
  }
}

/**
 * Fetches the collateral the quote needs (FMSPC and PCK CA kind from its PCK certificate) from
 * the sources in order. Throws VerificationError for a quote it cannot read,
 * CollateralUnavailableError when no source gives a valid item.
 */
export async function fetchCollateralForQuote(quoteBytes: Buffer, sources: string[], opts: FetchForQuoteOptions = {}): Promise<Collateral> {
  const quote = parseQuote(quoteBytes);
  // The whole PCK chain is proven to the pinned root first: no source is asked about a made-up platform.
  const anchor = trustedRootOf(opts.trustedRoot);
  const info = routePck(quote, anchor);
  const { caFile, trustedRoot: _r, at, logger, ...sourceOpts } = opts;
  const ca = caFile ? [...(sourceOpts.ca ?? []), readCaFile(caFile)] : sourceOpts.ca;
  const set = new SourceSet(sources, { ...sourceOpts, ...(ca ? { ca } : {}) }, logger);
  const items: CollateralItem[] = await Promise.all(
    itemIdsFor(info.fmspc, info.kind, quote.teeType).map((id) =>
      set.fetchItem(id, anchor, at, () => new Date(), { acceptStale: true }).catch((e: unknown) => {
        throw e instanceof NoValidAnswer ? new CollateralUnavailableError(id, info.fmspc, e.reasons) : e;
      }),
    ),
  );
  const [tcbInfo, qeIdentity, pckCrl, rootCaCrl] = items;
  return toCollateral({ tcbInfo: tcbInfo!, qeIdentity: qeIdentity!, pckCrl: pckCrl!, rootCaCrl: rootCaCrl! });
}
