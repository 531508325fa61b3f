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
import { JSON_FLAG, UsageError, parseFlags, refuseJson, renderGroupHelp, renderHelp, requireFlag, unknownSubcommand, type CommandHelp, type FlagSpecs, type Io } from './io.ts';
import { DATABASE_FLAG, requireDatabase } from './context.ts';
import { dataDirOf } from './paths.ts';

const COMMON = {
  data: { type: 'string', arg: 'DIR', help: 'cache in DIR/warden.db (default $WARDEN_DATA, else ./data)' },
  ...DATABASE_FLAG,
  'root-ca': { type: 'string', arg: 'FILE', help: "trust this root CA instead of Intel's (test PKIs)" },
  dev: { type: 'boolean', help: 'trust the simulated root in DIR/sim-pki' },
} as const satisfies FlagSpecs;

const SUBS = {
  fetch: {
    synopsis: 'collateral fetch --fmspc HEX [--ca processor|platform] [--tee sgx|tdx|both] --pccs URL... [--pccs-ca FILE] [--timeout MS]',
    summary: 'fill the cache from the sources, in order (both PCK CRLs when --ca is not given)',
    flags: {
      ...COMMON,
      fmspc: { type: 'string', arg: 'HEX', help: 'the platform FMSPC, 6 bytes' },
      ca: { type: 'string', arg: 'processor|platform', help: 'which PCK CRL (default both)' },
      tee: { type: 'string', arg: 'sgx|tdx|both', help: 'sgx (default): SGX TCB Info and QE Identity; tdx: the TDX TCB Info and TD QE Identity instead; both: all of them' },
      pccs: { type: 'string', multiple: true, arg: 'URL', help: `a PCCS or Intel PCS (${INTEL_PCS_URL}), repeatable, tried in order` },
      'pccs-ca': { type: 'string', arg: 'FILE', help: 'CA certificate (PEM) of a PCCS with its own TLS certificate' },
      timeout: { type: 'string', arg: 'MS', help: 'per-request timeout in milliseconds' },
    },
  },
  status: {
    synopsis: 'collateral status [--json] [--margin-hours H]',
    summary: "cached items and their expiry; '!' marks those due for refresh",
    flags: { ...COMMON, ...JSON_FLAG, 'margin-hours': { type: 'string', arg: 'H', help: 'refresh margin in hours (default 24)' } },
  },
  export: {
    synopsis: 'collateral export --out FILE',
    summary: 'write every cached item to a bundle (for an air-gapped site)',
    flags: { ...COMMON, out: { type: 'string', arg: 'FILE', help: 'the bundle file' } },
  },
  import: {
    synopsis: 'collateral import FILE',
    summary: 'check every item of a bundle against the trusted root, then store them (one bad item refuses the bundle)',
    flags: COMMON,
  },
} as const satisfies Record<string, CommandHelp>;

type Sub = keyof typeof SUBS;
const isSub = (s: string): s is Sub => Object.hasOwn(SUBS, s);

export function help(path: string[]): string {
  const sub = path[0];
  if (sub !== undefined && isSub(sub)) return renderHelp(SUBS[sub]);
  return renderGroupHelp('collateral', "Intel's collateral (TCB Info, QE Identity, CRLs), cached in the database and refreshed before it expires.", SUBS);
}

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
      io.err(help([]));
      return 2;
    default:
      throw unknownSubcommand('collateral', sub, Object.keys(SUBS));
  }
}

/** The cache of the data directory; `create` only for commands that store collateral (fetch, import). */
function openCache(v: { data?: string | undefined; database?: string | undefined }, create: boolean): Promise<Store> {
  const url = databaseUrl(v.database);
  const dir = dataDirOf(v.data);
  return openStore({ url, file: create || url !== undefined ? join(dir, 'warden.db') : requireDatabase(dir) });
}

function trustAnchor(v: { data?: string | undefined; 'root-ca'?: string | undefined; dev?: boolean | undefined }): TrustAnchor {
  if (v['root-ca'] && v.dev) throw new UsageError('give either --root-ca or --dev, not both');
  let path = v['root-ca'];
  if (v.dev) {
    // The sim PKI beside the data, else the default one (./data/sim-pki) that `warden sim` creates.
    const candidates = [...new Set([join(dataDirOf(v.data), 'sim-pki', 'root_ca.pem'), join('./data', 'sim-pki', 'root_ca.pem')])];
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
  refuseJson(args, 'collateral fetch', 'it prints one line per item stored; collateral status --json shows the cache');
  const { values } = parseFlags(args, SUBS.fetch.flags);
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
  const store = await openCache(values, true);
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
  const { values } = parseFlags(args, SUBS.status.flags);
  const hours = values['margin-hours'];
  if (hours !== undefined && !/^\d+(\.\d+)?$/.test(hours)) throw new UsageError('--margin-hours must be a number of hours');
  const margin = hours !== undefined ? Number(hours) * 3600_000 : DEFAULT_REFRESH_MARGIN_MS;
  const now = new Date();
  const store = await openCache(values, false);
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
  refuseJson(args, 'collateral export', 'the bundle it writes is JSON already; its one line names the file');
  const { values } = parseFlags(args, SUBS.export.flags);
  const out = requireFlag(values.out, 'out');
  const store = await openCache(values, false);
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
  refuseJson(args, 'collateral import', 'it prints one line per item imported');
  const { values, positionals } = parseFlags(args, SUBS.import.flags, true);
  if (positionals.length !== 1) throw new UsageError('give exactly one bundle file: warden collateral import FILE');
  const file = positionals[0]!;
  const anchor = trustAnchor(values);
  const text = readInputFile(file, 'bundle').toString('utf8');
  const store = await openCache(values, true);
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
