// `warden sim`: the simulated Intel side for development and tests (PKI files, quotes, collateral, PCCS).
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { collateralToJson } from '../dcap/collateral-json.ts';
import { TCB_STATUSES, type PckCaKind, type TcbStatus } from '../dcap/types.ts';
import { makeCollateral } from '../sim/collateral.ts';
import { PCCS_FAILURES, startPccsServer, type PccsFailure } from '../sim/pccs-server.ts';
import { SimPki } from '../sim/pki.ts';
import { makeQuote } from '../sim/quote.ts';
import { tcbForStatus } from '../sim/tcb-levels.ts';
import { UsageError, parseFlags, requireFlag, type Io } from './io.ts';

export const DEFAULT_SIM_PKI_DIR = './data/sim-pki';

const USAGE = [
  'usage: warden sim <init|quote|collateral|pccs> [options]',
  '  init --out DIR [--force]                       create a sim PKI: DIR/pki.json (with private keys), DIR/root_ca.pem',
  '  quote [--pki DIR] [--report-data HEX] [--mrenclave HEX] [--mrsigner HEX] [--isvprodid N] [--isvsvn N] [--debug]',
  '        [--fmspc HEX] [--ca processor|platform] [--tcb-status STATUS] [--qe-svn N] [--quote-version 3|4|5]',
  '        [--format bin|hex|base64] [--out FILE]  a quote from the sim quoting enclave (stdout: hex unless --format)',
  '  collateral [--pki DIR] --fmspc HEX [--ca processor|platform] --out FILE   collateral JSON for `warden verify`',
  '  pccs --port N [--host 127.0.0.1] [--pki DIR] [--fail ' + PCCS_FAILURES.filter((f) => f !== 'none').join('|') + '] [--known-fmspc HEX,...]',
  `  (--pki defaults to ${DEFAULT_SIM_PKI_DIR}; created if missing)`,
].join('\n');

function pkiPaths(dir: string) {
  return { json: join(dir, 'pki.json'), root: join(dir, 'root_ca.pem') };
}

/** Write a new sim PKI into `dir` atomically (link fails if another process got there first). */
async function writeNewPki(dir: string, force: boolean): Promise<SimPki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const paths = pkiPaths(dir);
  const pki = await SimPki.create();
  const tmp = `${paths.json}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, JSON.stringify(pki.toJSON(), null, 2) + '\n', { mode: 0o600 });
  try {
    if (force) rmSync(paths.json, { force: true });
    linkSync(tmp, paths.json);
  } finally {
    rmSync(tmp, { force: true });
  }
  writeFileSync(paths.root, pki.rootPem);
  return pki;
}

/** Load the sim PKI of `dir`, creating it when missing (development mode, CLI and harness share it). */
export async function loadOrCreateSimPki(dir: string = DEFAULT_SIM_PKI_DIR): Promise<SimPki> {
  const paths = pkiPaths(dir);
  if (!existsSync(paths.json)) {
    try {
      return await writeNewPki(dir, false);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  const pki = SimPki.fromJSON(JSON.parse(readFileSync(paths.json, 'utf8')) as unknown);
  if (!existsSync(paths.root)) writeFileSync(paths.root, pki.rootPem);
  return pki;
}

function hexFlag(value: string | undefined, flag: string, len: number, exact = true): Buffer | undefined {
  if (value === undefined) return undefined;
  const v = value.startsWith('0x') ? value.slice(2) : value;
  if (!/^([0-9a-fA-F]{2})+$/.test(v)) throw new UsageError(`--${flag} must be hex`);
  const b = Buffer.from(v, 'hex');
  if (exact ? b.length !== len : b.length > len) throw new UsageError(`--${flag} must be ${exact ? '' : 'at most '}${len} bytes`);
  return b;
}

function intFlag(value: string | undefined, flag: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) > max) throw new UsageError(`--${flag} must be an integer 0..${max}`);
  return Number(value);
}

function caFlag(value: string | undefined): PckCaKind {
  if (value === undefined) return 'processor';
  if (value !== 'processor' && value !== 'platform') throw new UsageError('--ca must be processor or platform');
  return value;
}

function fmspcFlag(value: string | undefined): string | undefined {
  return hexFlag(value, 'fmspc', 6)?.toString('hex').toUpperCase();
}

async function init(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, { out: { type: 'string' }, force: { type: 'boolean' } });
  const dir = requireFlag(values.out, 'out');
  if (existsSync(pkiPaths(dir).json) && !values.force) {
    io.err(`warden sim init: ${pkiPaths(dir).json} exists (use --force to replace it)`);
    return 1;
  }
  await writeNewPki(dir, values.force ?? false);
  io.out(`sim PKI written to ${pkiPaths(dir).json} (private keys, mode 0600) and ${pkiPaths(dir).root}`);
  return 0;
}

async function quote(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, {
    pki: { type: 'string' },
    'report-data': { type: 'string' },
    mrenclave: { type: 'string' },
    mrsigner: { type: 'string' },
    isvprodid: { type: 'string' },
    isvsvn: { type: 'string' },
    debug: { type: 'boolean' },
    fmspc: { type: 'string' },
    ca: { type: 'string' },
    'tcb-status': { type: 'string' },
    'qe-svn': { type: 'string' },
    'quote-version': { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string' },
  });
  const version = values['quote-version'] ?? '3';
  if (version !== '3' && version !== '4' && version !== '5') throw new UsageError('--quote-version must be 3, 4 or 5');
  const format = values.format ?? (values.out ? 'bin' : 'hex');
  if (format !== 'bin' && format !== 'hex' && format !== 'base64') throw new UsageError('--format must be bin, hex or base64');
  const status = values['tcb-status'];
  if (status !== undefined && !(TCB_STATUSES as readonly string[]).includes(status)) {
    throw new UsageError(`--tcb-status must be one of ${TCB_STATUSES.join(', ')}`);
  }
  const reportData = hexFlag(values['report-data'], 'report-data', 64, false);
  const mrEnclave = hexFlag(values.mrenclave, 'mrenclave', 32);
  const mrSigner = hexFlag(values.mrsigner, 'mrsigner', 32);
  const isvProdId = intFlag(values.isvprodid, 'isvprodid', 0xffff);
  const isvSvn = intFlag(values.isvsvn, 'isvsvn', 0xffff);
  const qeSvn = intFlag(values['qe-svn'], 'qe-svn', 0xffff);
  const fmspc = fmspcFlag(values.fmspc);
  const ca = caFlag(values.ca);

  const pki = await loadOrCreateSimPki(values.pki ?? DEFAULT_SIM_PKI_DIR);
  const platform = await pki.platform({
    ca,
    ...(fmspc ? { fmspc } : {}),
    ...(status ? tcbForStatus(status as TcbStatus) : {}),
  });
  const q = makeQuote({
    platform,
    version: version === '4' ? 4 : 3,
    report: {
      ...(reportData ? { reportData } : {}),
      ...(mrEnclave ? { mrEnclave } : {}),
      ...(mrSigner ? { mrSigner } : {}),
      ...(isvProdId !== undefined ? { isvProdId } : {}),
      ...(isvSvn !== undefined ? { isvSvn } : {}),
      ...(values.debug ? { debug: true } : {}),
    },
    ...(qeSvn !== undefined ? { qeReport: { isvSvn: qeSvn } } : {}),
  });
  const encoded = format === 'bin' ? q : Buffer.from(format === 'hex' ? q.toString('hex') : q.toString('base64'));
  if (values.out) writeFileSync(values.out, format === 'bin' ? encoded : Buffer.concat([encoded, Buffer.from('\n')]));
  else if (format === 'bin') process.stdout.write(q);
  else io.out(encoded.toString());
  return 0;
}

async function collateral(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, {
    pki: { type: 'string' },
    fmspc: { type: 'string' },
    ca: { type: 'string' },
    out: { type: 'string' },
  });
  const fmspc = fmspcFlag(requireFlag(values.fmspc, 'fmspc'))!;
  const out = requireFlag(values.out, 'out');
  const ca = caFlag(values.ca);
  const pki = await loadOrCreateSimPki(values.pki ?? DEFAULT_SIM_PKI_DIR);
  const c = await makeCollateral(pki, { fmspc, ca });
  writeFileSync(out, JSON.stringify(collateralToJson(c), null, 2) + '\n');
  io.out(`collateral for FMSPC ${fmspc} (${ca} CA) written to ${out}; valid for 29 days`);
  return 0;
}

async function pccs(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, {
    port: { type: 'string' },
    host: { type: 'string' },
    pki: { type: 'string' },
    fail: { type: 'string' },
    'known-fmspc': { type: 'string' },
  });
  const port = intFlag(requireFlag(values.port, 'port'), 'port', 65535)!;
  const fail = values.fail ?? 'none';
  if (!(PCCS_FAILURES as readonly string[]).includes(fail)) throw new UsageError(`--fail must be one of ${PCCS_FAILURES.join(', ')}`);
  const known = values['known-fmspc']?.split(',').map((f) => fmspcFlag(f.trim())!);
  const pki = await loadOrCreateSimPki(values.pki ?? DEFAULT_SIM_PKI_DIR);
  const server = await startPccsServer({
    pki,
    port,
    host: values.host ?? '127.0.0.1',
    fail: fail as PccsFailure,
    ...(known ? { knownFmspcs: known } : {}),
  });
  io.out(`sim PCCS listening on ${server.url} (failure mode: ${fail})`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  return 0;
}

export async function run(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'init':
      return init(rest, io);
    case 'quote':
      return quote(rest, io);
    case 'collateral':
      return collateral(rest, io);
    case 'pccs':
      return pccs(rest, io);
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      io.out(USAGE);
      return sub === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown sub-command '${sub}' (init, quote, collateral, pccs)`);
  }
}
