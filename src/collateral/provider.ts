// Collateral for verification: from the cache when valid, else from the sources (then cached).
// A background refresh replaces items before their nextUpdate, so a source outage shorter than
// the margin is never seen. Expired collateral is never handed out.
import { createHash } from 'node:crypto';
import type { Collateral, PckCaKind } from '../dcap/types.ts';
import type { CollateralCache } from './cache.ts';
import { CollateralUnavailableError } from './errors.ts';
import { describeItem, itemIdsFor, normaliseFmspc, toCollateral, type CollateralItem, type ItemId } from './item.ts';
import { NoValidAnswer, silentLogger, type CollateralLogger, type SourceSet } from './sources.ts';
import { INTEL_ROOT_ANCHOR, isUsableAt, validateItem, type TrustAnchor } from './validate.ts';

export interface ProviderOptions {
  cache: CollateralCache;
  sources: SourceSet;
  /** Root every item must chain to. Default: the Intel SGX Root CA. */
  trustedRoot?: TrustAnchor;
  /** Time source (tests inject one). Default: the system clock. */
  clock?: () => Date;
  logger?: CollateralLogger;
}

export interface RefreshOptions {
  /** Refresh an item once it is within this long of its nextUpdate. Default 24 h. */
  marginMs?: number;
  /** How often to look for items due. Default 1 h. */
  intervalMs?: number;
}

export interface RefreshReport {
  refreshed: ItemId[];
  failed: { item: ItemId; reason: string }[];
}

export const DEFAULT_REFRESH_MARGIN_MS = 24 * 3600_000;

export class CollateralProvider {
  private readonly cache: CollateralCache;
  private readonly sources: SourceSet;
  private readonly anchor: TrustAnchor;
  private readonly clock: () => Date;
  private readonly log: CollateralLogger;
  private readonly inflight = new Map<string, Promise<CollateralItem>>();
  private readonly checked = new Map<string, string>();
  /** The last Collateral built per FMSPC and CA, with the item bytes it was built from. */
  private readonly built = new Map<string, { raws: Buffer[]; collateral: Collateral }>();
  private hits = 0;
  private misses = 0;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<RefreshReport> | undefined;

  constructor(opts: ProviderOptions) {
    this.cache = opts.cache;
    this.sources = opts.sources;
    this.anchor = opts.trustedRoot ?? INTEL_ROOT_ANCHOR;
    this.clock = opts.clock ?? (() => new Date());
    this.log = opts.logger ?? silentLogger;
  }

  /** Everything a quote with this FMSPC and PCK CA needs, valid at `now`. Throws CollateralUnavailableError. */
  async get(fmspc: string, ca: PckCaKind, now: Date = this.clock()): Promise<Collateral> {
    const fm = normaliseFmspc(fmspc);
    const items = await Promise.all(itemIdsFor(fm, ca).map((id) => this.item(id, fm, now)));
    // The same object while the stored bytes are the same: the verifier prepares each collateral
    // object once (signatures, parsed CRLs), so a new object per call would redo that work.
    const key = `${fm}:${ca}`;
    const last = this.built.get(key);
    if (last && last.raws.every((raw, i) => raw.equals(items[i]!.raw))) return last.collateral;
    const [tcbInfo, qeIdentity, pckCrl, rootCaCrl] = items;
    const collateral = toCollateral({ tcbInfo: tcbInfo!, qeIdentity: qeIdentity!, pckCrl: pckCrl!, rootCaCrl: rootCaCrl! });
    if (this.built.size >= 10_000) this.built.clear();
    this.built.set(key, { raws: items.map((it) => it.raw), collateral });
    return collateral;
  }

  /** One item valid at `now`: the cached one, or a fresh one from the sources. */
  async item(id: ItemId, fmspc: string, now: Date = this.clock()): Promise<CollateralItem> {
    const cached = this.cache.get(id);
    const usable = cached !== undefined && isUsableAt(cached, now);
    const trusted = usable && this.trusted(cached);
    if (trusted) {
      this.hits++;
      return cached;
    }
    this.misses++;
    try {
      return await this.fetchAndStore(id, now);
    } catch (e) {
      if (!(e instanceof NoValidAnswer)) throw e;
      const reasons = [...e.reasons];
      if (cached && !usable) reasons.push(`cached copy ${now >= cached.nextUpdate ? 'expired' : 'not valid yet'} at ${now >= cached.nextUpdate ? cached.nextUpdate.toISOString() : cached.issueDate.toISOString()}`);
      else if (cached) reasons.push('cached copy fails its signature checks');
      throw new CollateralUnavailableError(id, fmspc, reasons);
    }
  }

  /**
   * Whether a cached row still chains to the trusted root: the root may have changed since it was
   * stored (development to Intel), or the database been edited. Checked once per stored version.
   */
  private trusted(it: CollateralItem): boolean {
    const k = `${it.kind}\0${it.key}`;
    const version = createHash('sha256').update(it.raw).update(it.issuerChain).digest('base64');
    if (this.checked.get(k) === version) return true;
    try {
      validateItem(it, it.raw, it.issuerChain, this.anchor);
    } catch (e) {
      this.log.warn({ item: it.kind, key: it.key, reason: (e as { code?: string }).code ?? 'malformed' }, `cached ${describeItem(it)} ignored: ${(e as Error).message}`);
      return false;
    }
    this.checked.set(k, version);
    return true;
  }

  /** Fetches one item from the sources and caches it; concurrent requests for it share one fetch. Throws NoValidAnswer. */
  fetchAndStore(id: ItemId, now: Date): Promise<CollateralItem> {
    const k = `${id.kind}\0${id.key}`;
    const running = this.inflight.get(k);
    if (running) return running;
    const p = (async () => {
      const item = await this.sources.fetchItem(id, this.anchor, now, this.clock);
      if (!this.cache.put(item)) this.log.warn({ item: id.kind, key: id.key, source: item.source }, `kept the cached ${describeItem(id)}: it is newer than the one fetched`);
      return item;
    })().finally(() => this.inflight.delete(k));
    this.inflight.set(k, p);
    return p;
  }

  /** Cache hits and misses (per item) since start, for metrics. */
  stats(): { hits: number; misses: number } {
    return { hits: this.hits, misses: this.misses };
  }

  /** Whether collateral can be served: something valid is cached, or the sources give a valid QE Identity. */
  async ready(now: Date = this.clock()): Promise<boolean> {
    if (this.cache.list().some((it) => isUsableAt(it, now))) return true;
    try {
      await this.fetchAndStore({ kind: 'qe_identity', key: '' }, now);
      return true;
    } catch {
      return false;
    }
  }

  /** Refetches every cached item within `marginMs` of its nextUpdate (or past it). A failure keeps the stored item. */
  refreshDue(marginMs: number = DEFAULT_REFRESH_MARGIN_MS, now: Date = this.clock()): Promise<RefreshReport> {
    if (this.refreshing) return this.refreshing;
    const run = async (): Promise<RefreshReport> => {
      const report: RefreshReport = { refreshed: [], failed: [] };
      const due = this.cache.list().filter((it) => it.nextUpdate.getTime() - marginMs <= now.getTime());
      for (const it of due) {
        const id = { kind: it.kind, key: it.key };
        try {
          const fresh = await this.fetchAndStore(id, now);
          if (fresh.issueDate.getTime() > it.issueDate.getTime()) report.refreshed.push(id);
          else {
            report.failed.push({ item: id, reason: 'no source has a newer one yet' });
            this.log.warn({ item: id.kind, key: id.key, nextUpdate: it.nextUpdate.toISOString() }, `no newer ${describeItem(id)} available yet`);
          }
        } catch (e) {
          const reason = e instanceof NoValidAnswer ? e.reasons.join('; ') : (e as Error).message;
          report.failed.push({ item: id, reason });
          this.log.warn({ item: id.kind, key: id.key, nextUpdate: it.nextUpdate.toISOString() }, `refresh of ${describeItem(id)} failed; the stored one stays in use until it expires`);
        }
      }
      return report;
    };
    this.refreshing = run().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /** Starts the background refresh (runs once now, then every intervalMs). */
  startRefresh(opts: RefreshOptions = {}): void {
    this.stop();
    const margin = opts.marginMs ?? DEFAULT_REFRESH_MARGIN_MS;
    const tick = () => {
      this.refreshDue(margin).catch((e: unknown) => this.log.warn({ reason: 'refresh_error' }, `collateral refresh failed: ${(e as Error).message}`));
    };
    this.timer = setInterval(tick, Math.max(1000, opts.intervalMs ?? 3600_000));
    this.timer.unref();
    tick();
  }

  /** Stops the background refresh; resolves once a refresh in progress has finished. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.refreshing?.catch(() => {});
  }
}
