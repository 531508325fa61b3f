// Offline collateral: a JSON bundle of cached items for air-gapped sites. Import checks every item
// against the trusted root before anything is stored; one bad item refuses the whole bundle.
import { BundleError, SourceError } from './errors.ts';
import type { CollateralCache } from './cache.ts';
import { describeItem, isCaKind, isItemKind, type CollateralItem, type ItemId } from './item.ts';
import { isUsableAt, validateItem, type TrustAnchor } from './validate.ts';

export const BUNDLE_FORMAT = 'warden-collateral-bundle';

export interface BundleItemJson {
  kind: string;
  key: string;
  source: string;
  fetchedAt: string;
  /** Informational: import recomputes both from the signed bytes. */
  issueDate: string;
  nextUpdate: string;
  issuerChain: string;
  /** The bytes exactly as the source sent them, base64. */
  raw: string;
}

export interface BundleJson {
  format: typeof BUNDLE_FORMAT;
  version: 1;
  exportedAt: string;
  items: BundleItemJson[];
}

export async function exportBundle(cache: CollateralCache, now: Date = new Date()): Promise<BundleJson> {
  return {
    format: BUNDLE_FORMAT,
    version: 1,
    exportedAt: now.toISOString(),
    items: (await cache.list()).map((it) => ({
      kind: it.kind,
      key: it.key,
      source: it.source,
      fetchedAt: it.fetchedAt.toISOString(),
      issueDate: it.issueDate.toISOString(),
      nextUpdate: it.nextUpdate.toISOString(),
      issuerChain: it.issuerChain,
      raw: it.raw.toString('base64'),
    })),
  };
}

export interface ImportResult {
  stored: ItemId[];
  /** Valid but expired at import time: not stored (expired collateral is never used). */
  expired: ItemId[];
  /** The cache already held a newer copy. */
  keptNewer: ItemId[];
}

/** Checks the whole bundle, then stores its items in one transaction. Throws BundleError. */
export async function importBundle(text: string, cache: CollateralCache, anchor: TrustAnchor, now: Date = new Date()): Promise<ImportResult> {
  const items = readBundle(text, anchor);
  const result: ImportResult = { stored: [], expired: [], keptNewer: [] };
  const fresh = items.filter((it) => {
    if (isUsableAt(it, now)) return true;
    result.expired.push({ kind: it.kind, key: it.key });
    return false;
  });
  const stored = await cache.putAll(fresh);
  fresh.forEach((it, i) => (stored[i] ? result.stored : result.keptNewer).push({ kind: it.kind, key: it.key }));
  return result;
}

/** Parses and validates every item of a bundle (signature chains, item identity); stores nothing. */
export function readBundle(text: string, anchor: TrustAnchor): CollateralItem[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new BundleError('bundle is not JSON');
  }
  const b = json as Partial<BundleJson> | null;
  if (typeof b !== 'object' || b === null || b.format !== BUNDLE_FORMAT || b.version !== 1)
    throw new BundleError(`not a collateral bundle (want format "${BUNDLE_FORMAT}", version 1)`);
  if (!Array.isArray(b.items)) throw new BundleError('bundle has no items list');
  return b.items.map((raw: unknown, i) => {
    const where = `item ${i + 1}`;
    if (typeof raw !== 'object' || raw === null) throw new BundleError(`${where}: not an object`);
    const e = raw as Partial<Record<keyof BundleItemJson, unknown>>;
    if (!isItemKind(e.kind)) throw new BundleError(`${where}: unknown kind '${String(e.kind).slice(0, 40)}'`);
    const id: ItemId = { kind: e.kind, key: typeof e.key === 'string' ? e.key : '' };
    if (typeof e.key !== 'string' || !keyFits(id)) throw new BundleError(`${where}: bad key for ${e.kind}`);
    if (typeof e.raw !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(e.raw) || e.raw.length % 4 !== 0) throw new BundleError(`${where} (${describeItem(id)}): raw is not base64`);
    if (typeof e.issuerChain !== 'string') throw new BundleError(`${where} (${describeItem(id)}): no issuer chain`);
    const fetchedAt = typeof e.fetchedAt === 'string' ? new Date(e.fetchedAt) : new Date(NaN);
    if (Number.isNaN(fetchedAt.getTime())) throw new BundleError(`${where} (${describeItem(id)}): fetchedAt is not a date`);
    const bytes = Buffer.from(e.raw, 'base64');
    let dates;
    try {
      dates = validateItem(id, bytes, e.issuerChain, anchor);
    } catch (err) {
      const reason = err instanceof SourceError ? `${err.code}: ${err.message}` : (err as Error).message;
      throw new BundleError(`${where} refused, nothing imported: ${reason}`);
    }
    return { ...id, raw: bytes, issuerChain: e.issuerChain, source: typeof e.source === 'string' ? e.source.slice(0, 500) : 'bundle', fetchedAt, ...dates };
  });
}

function keyFits(id: ItemId): boolean {
  switch (id.kind) {
    case 'tcb_info':
    case 'tdx_tcb_info':
      return /^[0-9a-f]{12}$/.test(id.key);
    case 'pck_crl':
      return isCaKind(id.key);
    default:
      return id.key === '';
  }
}
