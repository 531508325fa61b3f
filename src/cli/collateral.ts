// `warden collateral`: fill the collateral cache from PCS/PCCS sources, show it, and move it to
// and from air-gapped sites as a bundle.
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportBundle, importBundle } from '../collateral/bundle.ts';
import { BundleError } from '../collateral/errors.ts';
import { readCaFile } from '../collateral/fetch.ts';
import { describeItem, isCaKind, normaliseFmspc, type ItemId, ItemFormatError, isTcbInfoKind } from '../collateral/item.ts';
import { INTEL_PCS_URL } from '../collateral/pcs-client.ts';
import { DEFAULT_REFRESH_MARGIN_MS, CollateralProvider } from '../collateral/provider.ts';
import { NoValidAnswer, SourceSet, type CollateralLogger } from '../collateral/sources.ts';
import { INTEL_ROOT_ANCHOR, anchorFromRoot, type TrustAnchor } from '../collateral/validate.ts';
import { databaseUrl, openStore, type Store } from '../store/store.ts';
import { readInputFile } from './inputs.ts';
import { UsageError, parseFlags, requireFlag, type Io } from './io.ts';

const USAGE = [
  'usage: warden collateral <fetch|status|export|import> [options]',
  '  fetch --fmspc HEX [--ca processor|platform] [--tee sgx|tdx|both] --pccs URL [--pccs URL ...] [--pccs-ca FILE] [--timeout MS]',
  '        fill the cache from the sources, in order (both PCK CRLs when --ca is not given; --tee tdx: the TDX',
  '        TCB Info and TD QE identity instead of the SGX ones, both: all of them; default sgx)',
  '  status [--json] [--margin-hours H]       cached items and their expiry; marks those due for refresh',
  '  export --out FILE                        write every cached item to a bundle (for an air-gapped site)',
  '  import FILE                              check every item of a bundle against the trusted root, then store them',
  'common: --data DIR (cache in DIR/warden.db, default ./data) | --database postgres://… (or WARDEN_DATABASE_URL),',
  '        --root-ca FILE | --dev (trust the sim root in DIR/sim-pki)',
  `Intel PCS: --pccs ${INTEL_PCS_URL}`,
].join('\n');

const COMMON = {
  data: { type: 'string' },
  database: { type: 'string' },
  'root-ca': { type: 'string' },
  dev: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function run(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'fetch':
      return fetchCmd(rest, io);
    case 'status':
      return statusCmd(rest, io);
    case 'export':
      return exportCmd(rest, io);
    case 'import':
      return importCmd(rest, io);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      io.out(USAGE);
      return sub === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown sub-command '${sub}' (fetch, status, export, import)`);
  }
}

function openCache(v: { data?: string | undefined; database?: string | undefined }): Promise<Store> {
  return openStore({ url: databaseUrl(v.database), file: join(v.data ?? './data', 'warden.db') });
}

function trustAnchor(v: { data?: string | undefined; 'root-ca'?: string | undefined; dev?: boolean | undefined }): TrustAnchor {
  if (v['root-ca'] && v.dev) throw new UsageError('give either --root-ca or --dev, not both');
  let path = v['root-ca'];
  if (v.dev) {
    // The sim PKI beside the data, else the default one (./data/sim-pki) that `warden sim` creates.
    const candidates = [...new Set([join(v.data ?? './data', 'sim-pki', 'root_ca.pem'), join('./data', 'sim-pki', 'root_ca.pem')])];
    path = candidates.find((p) => existsSync(p));
    if (!path) throw new UsageError(`--dev: no sim root at ${candidates.join(' or ')} (run 'warden sim init --out ./data/sim-pki')`);
  }
  if (!path) return INTEL_ROOT_ANCHOR;
  try {
    return anchorFromRoot(readInputFile(path, 'root CA'));
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`--root-ca ${path}: not a certificate (${(e as Error).message})`);
  }
}

function cliLogger(io: Io): CollateralLogger {
  return { warn: (_fields, msg) => io.err(`warning: ${msg}`) };
}

function positiveInt(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) <= 0) throw new UsageError(`--${flag} must be a positive integer`);
  return Number(v);
}

async function fetchCmd(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, {
    ...COMMON,
    fmspc: { type: 'string' },
    ca: { type: 'string' },
    tee: { type: 'string' },
    pccs: { type: 'string', multiple: true },
    'pccs-ca': { type: 'string' },
    timeout: { type: 'string' },
  });
  if (values.help) return (io.out(USAGE), 0);
  let fmspc: string;
  try {
    fmspc = normaliseFmspc(requireFlag(values.fmspc, 'fmspc'));
  } catch (e) {
    if (e instanceof ItemFormatError) throw new UsageError(e.message);
    throw e;
  }
  if (values.ca !== undefined && !isCaKind(values.ca)) throw new UsageError('--ca must be processor or platform');
  const tee = values.tee ?? 'sgx';
  if (tee !== 'sgx' && tee !== 'tdx' && tee !== 'both') throw new UsageError('--tee must be sgx, tdx or both');
  const urls = values.pccs ?? [];
  if (urls.length === 0) throw new UsageError(`missing required flag --pccs (a PCCS URL, or ${INTEL_PCS_URL})`);
  const anchor = trustAnchor(values);
  const timeoutMs = positiveInt(values.timeout, 'timeout');
  let sources: SourceSet;
  try {
    sources = new SourceSet(urls, { ...(timeoutMs ? { timeoutMs } : {}), ...(values['pccs-ca'] ? { ca: [readCaFile(values['pccs-ca'])] } : {}) }, cliLogger(io));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const ids: ItemId[] = [
    ...(tee !== 'tdx' ? [{ kind: 'tcb_info', key: fmspc } as const, { kind: 'qe_identity', key: '' } as const] : []),
    ...(tee !== 'sgx' ? [{ kind: 'tdx_tcb_info', key: fmspc } as const, { kind: 'td_qe_identity', key: '' } as const] : []),
    ...(values.ca ? [values.ca] : ['processor', 'platform']).map((ca): ItemId => ({ kind: 'pck_crl', key: ca })),
    { kind: 'root_ca_crl', key: '' },
  ];
  const store = await openCache(values);
  const cache = store.collateral;
  try {
    const provider = new CollateralProvider({ cache, sources, trustedRoot: anchor, logger: cliLogger(io) });
    // All items at once; results are printed in a fixed order.
    const results = await Promise.allSettled(ids.map((id) => provider.fetchAndStore(id, new Date())));
    let failed = 0;
    results.forEach((r, i) => {
      const id = ids[i]!;
      if (r.status === 'fulfilled') {
        io.out(`stored ${describeItem(id)} from ${r.value.source} (valid until ${r.value.nextUpdate.toISOString()})`);
        return;
      }
      failed++;
      const e = r.reason as unknown;
      const reasons = e instanceof NoValidAnswer ? e.reasons.join('; ') : (e as Error).message;
      io.err(`collateral_unavailable: no valid ${describeItem(id)}${isTcbInfoKind(id.kind) ? '' : ` for FMSPC ${fmspc}`}: ${reasons}`);
    });
    return failed ? 1 : 0;
  } finally {
    await store.close();
  }
}

type State = 'valid' | 'refresh-due' | 'expired';

async function statusCmd(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, { ...COMMON, json: { type: 'boolean' }, 'margin-hours': { type: 'string' } });
  if (values.help) return (io.out(USAGE), 0);
  const hours = values['margin-hours'];
  if (hours !== undefined && !/^\d+(\.\d+)?$/.test(hours)) throw new UsageError('--margin-hours must be a number of hours');
  const margin = hours !== undefined ? Number(hours) * 3600_000 : DEFAULT_REFRESH_MARGIN_MS;
  const now = new Date();
  const store = await openCache(values);
  const cache = store.collateral;
  try {
    const rows = (await cache.list()).map((it) => {
      const left = it.nextUpdate.getTime() - now.getTime();
      const state: State = left <= 0 ? 'expired' : left <= margin ? 'refresh-due' : 'valid';
      return {
        kind: it.kind,
        key: it.key,
        item: describeItem(it),
        source: it.source,
        fetchedAt: it.fetchedAt.toISOString(),
        issueDate: it.issueDate.toISOString(),
        nextUpdate: it.nextUpdate.toISOString(),
        state,
      };
    });
    if (values.json) {
      io.out(JSON.stringify({ now: now.toISOString(), refreshMarginHours: margin / 3600_000, items: rows }));
      return 0;
    }
    if (rows.length === 0) {
      io.out('collateral cache is empty');
      return 0;
    }
    for (const r of rows) {
      const mark = r.state === 'valid' ? '  ' : r.state === 'refresh-due' ? '! ' : 'x ';
      io.out(`${mark}${r.item.padEnd(36)} next update ${r.nextUpdate}  ${r.state.padEnd(11)} from ${r.source}`);
    }
    const due = rows.filter((r) => r.state !== 'valid').length;
    if (due) io.out(`${due} item(s) expired or expiring within ${margin / 3600_000} h ('!' refresh due, 'x' expired: never used)`);
    return 0;
  } finally {
    await store.close();
  }
}

async function exportCmd(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, { ...COMMON, out: { type: 'string' } });
  if (values.help) return (io.out(USAGE), 0);
  const out = requireFlag(values.out, 'out');
  const store = await openCache(values);
  const cache = store.collateral;
  try {
    const bundle = await exportBundle(cache);
    // Written beside the target and renamed: a reader never sees half a bundle.
    const tmp = `${out}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(bundle, null, 2) + '\n');
    renameSync(tmp, out);
    io.out(`exported ${bundle.items.length} item(s) to ${out}`);
    return 0;
  } finally {
    await store.close();
  }
}

async function importCmd(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags(args, { ...COMMON }, true);
  if (values.help) return (io.out(USAGE), 0);
  if (positionals.length !== 1) throw new UsageError('give exactly one bundle file: warden collateral import FILE');
  const file = positionals[0]!;
  const anchor = trustAnchor(values);
  const text = readInputFile(file, 'bundle').toString('utf8');
  const store = await openCache(values);
  const cache = store.collateral;
  try {
    const r = await importBundle(text, cache, anchor);
    for (const id of r.stored) io.out(`imported ${describeItem(id)}`);
    for (const id of r.keptNewer) io.out(`kept the newer cached ${describeItem(id)}`);
    for (const id of r.expired) io.err(`warning: skipped ${describeItem(id)}: expired`);
    io.out(`imported ${r.stored.length} item(s) from ${file}`);
    return 0;
  } catch (e) {
    if (e instanceof BundleError) {
      io.err(`bundle refused: ${e.message}`);
      return 1;
    }
    throw e;
  } finally {
    await store.close();
  }
}
