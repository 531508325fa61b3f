// Collateral for verification: from the cache when valid, else from the sources (then cached).
// A background refresh replaces items before their nextUpdate, so a source outage shorter than
// the margin is never seen. Expired collateral is never handed out.
import { createHash } from 'node:crypto';
import type { Collateral, PckCaKind, TeeType } from '../dcap/types.ts';
import type { CollateralCache } from './cache.ts';
import { BoundedCache } from '../util/bounded-cache.ts';
import { CollateralUnavailableError, SourceError } from './errors.ts';
import { describeItem, isTcbInfoKind, itemIdsFor, normaliseFmspc, toCollateral, type CollateralItem, type ItemId } from './item.ts';
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
  /** The most TCB Info rows requests may add (default DEFAULT_MAX_TCB_INFOS). */
  maxTcbInfos?: number;
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

/**
 * How long one platform's collateral object is handed out again before the store is read again. Reading
 * four rows and checking them per request was a visible share of every release; a second's delay in
 * seeing refreshed collateral (refreshes come hours before nextUpdate) costs nothing, verifyQuote still
 * checks every validity window at the request's time, and an object is never reused past its items' nextUpdate.
 */
export const COLLATERAL_REUSE_MS = 1000;

/**
 * The most TCB Infos (one per FMSPC) requests may add to the cache. Only quotes whose PCK chain is proven
 * to the pinned root get this far, so this bounds what a holder of genuine PCK certificates can make the
 * server fetch and store; Intel lists a few hundred FMSPCs. Operators add more with `warden collateral fetch`.
 */
export const DEFAULT_MAX_TCB_INFOS = 1024;

/** How long a readiness probe of the sources is trusted before /readyz asks them again. */
export const SOURCE_PROBE_INTERVAL_MS = 30_000;
/** How long /readyz waits for a probe: a source that has not answered by then counts as unreachable for this answer. */
export const SOURCE_PROBE_WAIT_MS = 2_000;

/**
 * Whether collateral can be served. `ok`: a source answers (or nothing is cached and one answers); `degraded`: no source
 * answers, and the cache serves until `earliestExpiry`; `unavailable`: nothing valid is cached and no source answers.
 */
export interface CollateralReadiness {
  state: 'ok' | 'degraded' | 'unavailable';
  sourcesReachable: boolean;
  /** The earliest nextUpdate of the usable cached items: when the first of them stops being served. */
  earliestExpiry?: Date;
}

export class CollateralProvider {
  private readonly cache: CollateralCache;
  private readonly sources: SourceSet;
  private readonly anchor: TrustAnchor;
  private readonly clock: () => Date;
  private readonly log: CollateralLogger;
  private readonly inflight = new Map<string, Promise<CollateralItem>>();
  /** Stored version (digest of bytes and chain) of each row last found to chain to the root. */
  private readonly checked = new BoundedCache<string, string>(10_000);
  /** The last Collateral built per FMSPC and CA: the item bytes it was built from, when it was read, until when its items are valid. */
  private readonly built = new BoundedCache<string, { raws: Buffer[]; collateral: Collateral; readAt: number; until: number }>(10_000);
  private readonly maxTcbInfos: number;
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
    this.maxTcbInfos = opts.maxTcbInfos ?? DEFAULT_MAX_TCB_INFOS;
  }

  /**
   * Everything a quote of this TEE with this FMSPC and PCK CA needs, valid at `now`. Throws CollateralUnavailableError.
   * Keeps the contract on Collateral (dcap/types.ts): the same object while the stored bytes are the
   * same, and the store is read again at most every COLLATERAL_REUSE_MS (other processes refresh it too).
   */
  async get(fmspc: string, ca: PckCaKind, now: Date = this.clock(), tee: TeeType = 'SGX'): Promise<Collateral> {
    const fm = normaliseFmspc(fmspc);
    const key = `${fm}:${ca}:${tee}`;
    const last = this.built.get(key);
    const t = now.getTime();
    if (last && last.readAt <= t && t < last.readAt + COLLATERAL_REUSE_MS && t < last.until) {
      this.hits += last.raws.length;
      return last.collateral;
    }
    const items = await Promise.all(itemIdsFor(fm, ca, tee).map((id) => this.item(id, fm, now)));
    const until = Math.min(...items.map((it) => it.nextUpdate.getTime()));
    if (last && last.raws.every((raw, i) => raw.equals(items[i]!.raw))) {
      this.built.set(key, { ...last, readAt: t, until });
      return last.collateral;
    }
    const [tcbInfo, qeIdentity, pckCrl, rootCaCrl] = items;
    const collateral = toCollateral({ tcbInfo: tcbInfo!, qeIdentity: qeIdentity!, pckCrl: pckCrl!, rootCaCrl: rootCaCrl! });
    this.built.set(key, { raws: items.map((it) => it.raw), collateral, readAt: t, until });
    return collateral;
  }

  /** One item valid at `now`: the cached one, or a fresh one from the sources. */
  async item(id: ItemId, fmspc: string, now: Date = this.clock()): Promise<CollateralItem> {
    const cached = await this.cache.get(id);
    const usable = cached !== undefined && isUsableAt(cached, now);
    const trusted = usable && this.trusted(cached);
    if (trusted) {
      this.hits++;
      return cached;
    }
    this.misses++;
    try {
      // Requests (authenticated by nothing but a proven PCK chain) may add at most maxTcbInfos platforms
      // (of each TEE type).
      if (isTcbInfoKind(id.kind) && !cached && (await this.cache.count(id.kind)) >= this.maxTcbInfos) {
        throw new NoValidAnswer(id, [`the cache already holds ${this.maxTcbInfos} TCB Infos, the most requests may add; an operator adds more with 'warden collateral fetch'`]);
      }
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
      if (!(e instanceof SourceError)) throw e;
      this.log.warn({ item: it.kind, key: it.key, reason: e.code }, `cached ${describeItem(it)} ignored: ${e.message}`);
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
      if (!(await this.cache.put(item))) this.log.warn({ item: id.kind, key: id.key, source: item.source }, `kept the cached ${describeItem(id)}: it is newer than the one fetched`);
      return item;
    })().finally(() => this.inflight.delete(k));
    this.inflight.set(k, p);
    return p;
  }

  /** Cache hits and misses (per item) since start, for metrics. */
  stats(): { hits: number; misses: number } {
    return { hits: this.hits, misses: this.misses };
  }

  /**
   * Whether collateral can be served, and for how long without the sources. A warm cache used to count as ready
   * while every source was down; the sources are now probed (a valid QE Identity from one of them, not stored) at most
   * every SOURCE_PROBE_INTERVAL_MS, and a probe's wait is bounded so that a hung source cannot hang /readyz.
   */
  async readiness(now: Date = this.clock()): Promise<CollateralReadiness> {
    const usable = (await this.cache.list()).filter((it) => isUsableAt(it, now));
    const sourcesReachable = await this.sourcesAnswer(now);
    if (usable.length === 0) return { state: sourcesReachable ? 'ok' : 'unavailable', sourcesReachable };
    const earliestExpiry = new Date(Math.min(...usable.map((it) => it.nextUpdate.getTime())));
    return { state: sourcesReachable ? 'ok' : 'degraded', sourcesReachable, earliestExpiry };
  }

  private probe: { at: number; ok: boolean } | undefined;
  private probing: { at: number; ok: Promise<boolean> } | undefined;

  private async sourcesAnswer(now: Date): Promise<boolean> {
    const t = now.getTime();
    const fresh = (at: number) => at <= t && t - at < SOURCE_PROBE_INTERVAL_MS;
    if (this.probe && fresh(this.probe.at)) return this.probe.ok;
    // A probe still hanging from an earlier interval is not the answer for this one (the sources may be back):
    // start another. Whichever was started later decides.
    if (!this.probing || !fresh(this.probing.at)) {
      const started = {
        at: t,
        ok: this.sources
          .fetchItem({ kind: 'qe_identity', key: '' }, this.anchor, now, this.clock)
          .then(
            () => true,
            (e: unknown) => {
              if (!(e instanceof NoValidAnswer)) this.log.warn({ reason: 'probe_error' }, `collateral source probe failed: ${(e as Error).message}`);
              return false;
            },
          )
          .then((ok) => {
            if (!this.probe || this.probe.at <= t) this.probe = { at: t, ok };
            return ok;
          })
          .finally(() => {
            if (this.probing === started) this.probing = undefined;
          }),
      };
      this.probing = started;
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), SOURCE_PROBE_WAIT_MS);
      timer.unref();
    });
    try {
      return await Promise.race([this.probing.ok, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Refetches every cached item within `marginMs` of its nextUpdate (or past it). A failure keeps the stored item. */
  refreshDue(marginMs: number = DEFAULT_REFRESH_MARGIN_MS, now: Date = this.clock()): Promise<RefreshReport> {
    if (this.refreshing) return this.refreshing;
    const run = async (): Promise<RefreshReport> => {
      const report: RefreshReport = { refreshed: [], failed: [] };
      const due = (await this.cache.list()).filter((it) => it.nextUpdate.getTime() - marginMs <= now.getTime());
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
    // One refresh at a time across workers and replicas sharing the cache; the others skip this round.
    const skipped: RefreshReport = { refreshed: [], failed: [] };
    this.refreshing = this.cache
      .exclusiveRefresh(run)
      .then((r) => r ?? skipped)
      .finally(() => (this.refreshing = undefined));
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
