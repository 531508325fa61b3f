// The ordered list of collateral sources (e.g. a local PCCS, then Intel PCS): each item is asked of
// each source in turn, and the first answer that validates is used. Every skipped answer is logged.
import { SourceError } from './errors.ts';
import { describeItem, type CollateralItem, type ItemId } from './item.ts';
import { PcsSource, type SourceOptions } from './pcs-client.ts';
import { validateItem, type TrustAnchor } from './validate.ts';

/** Pino-style (Fastify's logger fits): structured fields first, message second. */
export interface CollateralLogger {
  warn(fields: Record<string, unknown>, msg: string): void;
  info?(fields: Record<string, unknown>, msg: string): void;
}

export const silentLogger: CollateralLogger = { warn: () => {} };

/** Every source failed for an item; `reasons` says why for each, in order. */
export class NoValidAnswer extends Error {
  override name = 'NoValidAnswer';
  constructor(
    readonly item: ItemId,
    readonly reasons: string[],
  ) {
    super(`no source gave a valid ${describeItem(item)}: ${reasons.join('; ') || 'no source configured'}`);
  }
}

export class SourceSet {
  readonly sources: PcsSource[];

  constructor(
    urls: string[],
    opts: SourceOptions = {},
    private readonly log: CollateralLogger = silentLogger,
  ) {
    this.sources = urls.map((u) => new PcsSource(u, opts));
  }

  get urls(): string[] {
    return this.sources.map((s) => s.base);
  }

  /**
   * The first answer, in source order, that chains to `anchor`, carries a valid signature, is the
   * item asked for and (with `at`) is valid at `at`. Throws NoValidAnswer.
   */
  async fetchItem(id: ItemId, anchor: TrustAnchor, at: Date | undefined, fetchedAt: () => Date, opts: { acceptStale?: boolean } = {}): Promise<CollateralItem> {
    const reasons: string[] = [];
    let stale: CollateralItem | undefined;
    for (const source of this.sources) {
      let got: { raw: Buffer; issuerChain: string; url: string } | undefined;
      try {
        got = await source.fetch(id);
        const dates = validateItem(id, got.raw, got.issuerChain, anchor, at);
        this.log.info?.({ item: id.kind, key: id.key, source: got.url }, `fetched ${describeItem(id)}`);
        return { ...id, raw: got.raw, issuerChain: got.issuerChain, source: got.url, fetchedAt: fetchedAt(), ...dates };
      } catch (e) {
        // Anything else is a bug of ours, not the source's: it is not hidden among the skipped sources.
        if (!(e instanceof SourceError)) throw e;
        const err = e;
        reasons.push(`${source.base}: ${err.code}: ${err.message}`);
        this.log.warn({ item: id.kind, key: id.key, source: source.base, reason: err.code }, `collateral source skipped for ${describeItem(id)}: ${err.message}`);
        // Authentic but outside its validity: kept as a last resort when the caller lets the verifier judge time.
        if (opts.acceptStale && !stale && got && (err.code === 'collateral_expired' || err.code === 'certificate_expired')) {
          stale = { ...id, raw: got.raw, issuerChain: got.issuerChain, source: got.url, fetchedAt: fetchedAt(), ...validateItem(id, got.raw, got.issuerChain, anchor) };
        }
      }
    }
    if (stale) return stale;
    throw new NoValidAnswer(id, reasons);
  }
}
