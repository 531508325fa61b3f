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
import { parseQuote } from '../dcap/quote.ts';
import { routePck } from '../dcap/pck-route.ts';
import { trustedRootOf } from '../dcap/checks.ts';
import type { Collateral } from '../dcap/types.ts';
import { buildEnclaveElf, buildSigstruct, metadataRecord, newSigningKey } from '../sim/enclave.ts';
import { SIM_ENCLAVE } from '../sim/report.ts';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { CliError, JSON_FLAG, UsageError, parseFlags, refuseJson, renderGroupHelp, renderHelp, requireFlag, unknownSubcommand, type CommandHelp, type FlagSpecs, type Io } from './io.ts';
import { simPkiDirOf } from './paths.ts';

/** Where `warden sim` keeps its PKI unless --pki says otherwise: DIR/sim-pki of the data directory. */
export const DEFAULT_SIM_PKI_DIR = './data/sim-pki';
const defaultPkiDir = (): string => simPkiDirOf();

const PKI_FLAG = { pki: { type: 'string', arg: 'DIR', help: 'the sim PKI (default DIR/sim-pki of $WARDEN_DATA or ./data; created when missing)' } } as const satisfies FlagSpecs;
const IDENTITY_FLAGS = {
  mrenclave: { type: 'string', arg: 'HEX', help: "MRENCLAVE, 32 bytes (default: the simulator's default enclave)" },
  isvprodid: { type: 'string', arg: 'N', help: 'ISVPRODID (default 0)' },
  isvsvn: { type: 'string', arg: 'N', help: 'ISVSVN (default 0)' },
} as const satisfies FlagSpecs;

const SUBS = {
  init: {
    synopsis: 'sim init --out DIR [--force]',
    summary: 'create a sim Intel PKI: DIR/pki.json (with private keys, mode 0600) and DIR/root_ca.pem',
    flags: {
      out: { type: 'string', arg: 'DIR', help: 'where to write it' },
      force: { type: 'boolean', help: 'replace an existing PKI (exit 1 without it)' },
      ...JSON_FLAG,
    },
  },
  quote: {
    synopsis: 'sim quote [--pki DIR] [--report-data HEX] [identity flags] [--debug] [platform flags] [--format bin|hex|base64] [--out FILE]',
    summary: 'a quote from the sim quoting enclave (stdout: hex unless --format)',
    flags: {
      ...PKI_FLAG,
      'report-data': { type: 'string', arg: 'HEX', help: 'report data, at most 64 bytes (zero-padded)' },
      ...IDENTITY_FLAGS,
      mrsigner: { type: 'string', arg: 'HEX', help: 'MRSIGNER, 32 bytes' },
      debug: { type: 'boolean', help: 'a debug enclave' },
      fmspc: { type: 'string', arg: 'HEX', help: 'the platform FMSPC, 6 bytes' },
      ca: { type: 'string', arg: 'processor|platform', help: 'which PCK CA issued the platform (default processor)' },
      'tcb-status': { type: 'string', arg: 'STATUS', help: `the platform's TCB status: ${TCB_STATUSES.join(', ')}` },
      'qe-svn': { type: 'string', arg: 'N', help: "the quoting enclave's ISVSVN" },
      'quote-version': { type: 'string', arg: '3|4|5', help: 'quote format version (default 3)' },
      format: { type: 'string', arg: 'bin|hex|base64', help: 'output encoding (default hex on stdout, bin with --out)' },
      out: { type: 'string', arg: 'FILE', help: 'write the quote to FILE' },
      ...JSON_FLAG,
    },
  },
  collateral: {
    synopsis: 'sim collateral [--pki DIR] --fmspc HEX [--ca processor|platform] --out FILE',
    summary: 'collateral JSON for `warden verify` (valid for 29 days)',
    flags: {
      ...PKI_FLAG,
      fmspc: { type: 'string', arg: 'HEX', help: 'the platform FMSPC, 6 bytes' },
      ca: { type: 'string', arg: 'processor|platform', help: 'which PCK CA (default processor)' },
      out: { type: 'string', arg: 'FILE', help: 'where to write it' },
      ...JSON_FLAG,
    },
  },
  pccs: {
    synopsis: 'sim pccs --port N [--host H] [--pki DIR] [--fail MODE] [--known-fmspc HEX,...]',
    summary: 'serve the sim PKI\'s collateral over the Intel PCS/PCCS API v4 until SIGINT/SIGTERM',
    flags: {
      port: { type: 'string', arg: 'N', help: 'port (0 picks a free one)' },
      host: { type: 'string', arg: 'H', help: 'address (default 127.0.0.1)' },
      ...PKI_FLAG,
      fail: { type: 'string', arg: 'MODE', help: `misbehave on purpose: ${PCCS_FAILURES.join(', ')}` },
      'known-fmspc': { type: 'string', arg: 'HEX,...', help: 'answer only these FMSPCs (others 404, as Intel PCS)' },
    },
  },
  enclave: {
    synopsis: 'sim enclave --out DIR [--mrenclave HEX] [--isvprodid N] [--isvsvn N] [--debug-allowed]',
    summary: 'write a signed enclave without Occlum: DIR/libocclum-libos.signed.so (ELF with .note.sgxmeta) and DIR/sigstruct.bin, for `warden enclave inspect`',
    flags: {
      out: { type: 'string', arg: 'DIR', help: 'where to write them; the signing key DIR/signing-key.pem is made once and reused (same MRSIGNER)' },
      ...IDENTITY_FLAGS,
      'debug-allowed': { type: 'boolean', help: 'let the enclave launch in debug mode (a policy with debug: deny still refuses such launches)' },
      ...JSON_FLAG,
    },
  },
} as const satisfies Record<string, CommandHelp>;

type Sub = keyof typeof SUBS;
const isSub = (s: string): s is Sub => Object.hasOwn(SUBS, s);

export function help(path: string[]): string {
  const sub = path[0];
  if (sub !== undefined && isSub(sub)) return renderHelp(SUBS[sub]);
  return renderGroupHelp(
    'sim',
    'The simulated Intel side, for development and tests: only the SGX hardware is simulated. Its root is trusted only where pinned (--dev, --root-ca).',
    SUBS,
  );
}

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
export async function loadOrCreateSimPki(dir: string = defaultPkiDir()): Promise<SimPki> {
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

/** The sim PKI of a data directory, read only: --dev commands trust what `serve --dev` made, never a new one. */
function existingSimPki(dataFlag: string | undefined): { dir: string; paths: ReturnType<typeof pkiPaths> } {
  const dir = simPkiDirOf(dataFlag);
  const paths = pkiPaths(dir);
  if (!existsSync(paths.json) || !existsSync(paths.root)) {
    throw new CliError('no_sim_pki', `--dev: no simulated PKI in ${dir} (start the development server once with npm start, or give --data DIR / WARDEN_DATA)`);
  }
  return { dir, paths };
}

/** The simulated root that --dev trusts (verify, policy test). */
export function devTrustedRoot(dataFlag: string | undefined): Buffer {
  return readFileSync(devRootFile(dataFlag));
}

/** The file of the data directory's simulated root CA (for `verify --batch --dev`). */
export function devRootFile(dataFlag: string | undefined): string {
  return existingSimPki(dataFlag).paths.root;
}

/** Collateral for a quote from the data directory's sim PKI, as `serve --dev` makes it. */
export async function devCollateral(quoteBytes: Buffer, at: Date, dataFlag: string | undefined): Promise<Collateral> {
  const { paths } = existingSimPki(dataFlag);
  const pki = SimPki.fromJSON(JSON.parse(readFileSync(paths.json, 'utf8')) as unknown);
  // The platform's FMSPC and CA from its PCK chain, proven to the sim root (the one rule for routing).
  const route = routePck(parseQuote(quoteBytes), trustedRootOf(pki.rootPem));
  return makeCollateral(pki, { fmspc: route.fmspc, ca: route.kind, at });
}

/** The quoting side of `client attest --dev`: the data directory's sim PKI, never a new one. */
export function devSimPki(dataFlag: string | undefined): SimPki {
  const { paths } = existingSimPki(dataFlag);
  return SimPki.fromJSON(JSON.parse(readFileSync(paths.json, 'utf8')) as unknown);
}

async function init(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, SUBS.init.flags);
  const dir = requireFlag(values.out, 'out');
  if (existsSync(pkiPaths(dir).json) && !values.force) {
    throw new CliError('file_exists', `${pkiPaths(dir).json} already exists (use --force to replace it)`);
  }
  await writeNewPki(dir, values.force ?? false);
  if (values.json) io.out(JSON.stringify({ ok: true, pki: pkiPaths(dir).json, root: pkiPaths(dir).root }));
  else io.out(`sim PKI written to ${pkiPaths(dir).json} (private keys, mode 0600) and ${pkiPaths(dir).root}`);
  return 0;
}

/** A signing key kept beside the enclave it signed, so rebuilding keeps MRSIGNER. */
function enclaveSigningKey(file: string): KeyObject {
  if (existsSync(file)) return createPrivateKey(readFileSync(file, 'utf8'));
  const { privateKey } = newSigningKey();
  writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, { mode: 0o600, flag: 'wx' });
  return privateKey;
}

async function enclave(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, SUBS.enclave.flags);
  const dir = requireFlag(values.out, 'out');
  const mrEnclave = hexFlag(values.mrenclave, 'mrenclave', 32) ?? SIM_ENCLAVE.mrEnclave;
  const isvProdId = intFlag(values.isvprodid, 'isvprodid', 0xffff) ?? 0;
  const isvSvn = intFlag(values.isvsvn, 'isvsvn', 0xffff) ?? 0;
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new CliError('write_failed', `cannot create ${dir}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const keyFile = join(dir, 'signing-key.pem');
  const css = buildSigstruct({ mrEnclave, isvProdId, isvSvn, debuggable: values['debug-allowed'] === true, key: enclaveSigningKey(keyFile) });
  const elf = join(dir, 'libocclum-libos.signed.so');
  const raw = join(dir, 'sigstruct.bin');
  // Metadata 3.0, as `occlum build` writes with SGX SDK 2.x.
  writeFileSync(elf, buildEnclaveElf([metadataRecord(css, 3, 0)]));
  writeFileSync(raw, css);
  if (values.json) {
    io.out(JSON.stringify({ ok: true, enclave: elf, sigstruct: raw, signingKey: keyFile, mrenclave: mrEnclave.toString('hex'), isvprodid: isvProdId, isvsvn: isvSvn, debugAllowed: values['debug-allowed'] === true }));
  } else {
    io.out(`signed enclave:  ${elf}`);
    io.out(`raw SIGSTRUCT:   ${raw}`);
    io.out(`signing key:     ${keyFile} (reused on the next run into ${dir})`);
    io.out(`next: npx warden enclave inspect ${elf} --policy my-app`);
  }
  return 0;
}

async function quote(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, SUBS.quote.flags);
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

  const pki = await loadOrCreateSimPki(values.pki ?? defaultPkiDir());
  const platform = await pki.platform({
    ca,
    ...(fmspc ? { fmspc } : {}),
    ...(status ? tcbForStatus(status as TcbStatus) : {}),
  });
  const q = makeQuote({
    platform,
    version: Number(version) as 3 | 4 | 5,
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
  if (values.json) {
    if (values.out) writeFileSync(values.out, q);
    io.out(JSON.stringify({ ok: true, quote: q.toString(format === 'base64' ? 'base64' : 'hex'), encoding: format === 'base64' ? 'base64' : 'hex', ...(values.out ? { file: values.out } : {}) }));
    return 0;
  }
  const encoded = format === 'bin' ? q : Buffer.from(format === 'hex' ? q.toString('hex') : q.toString('base64'));
  if (values.out) writeFileSync(values.out, format === 'bin' ? encoded : Buffer.concat([encoded, Buffer.from('\n')]));
  else if (format === 'bin') process.stdout.write(q);
  else io.out(encoded.toString());
  return 0;
}

async function collateral(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, SUBS.collateral.flags);
  const fmspc = fmspcFlag(requireFlag(values.fmspc, 'fmspc'))!;
  const out = requireFlag(values.out, 'out');
  const ca = caFlag(values.ca);
  const pki = await loadOrCreateSimPki(values.pki ?? defaultPkiDir());
  const c = await makeCollateral(pki, { fmspc, ca });
  writeFileSync(out, JSON.stringify(collateralToJson(c), null, 2) + '\n');
  if (values.json) io.out(JSON.stringify({ ok: true, file: out, fmspc, ca }));
  else io.out(`collateral for FMSPC ${fmspc} (${ca} CA) written to ${out}; valid for 29 days`);
  return 0;
}

async function pccs(args: string[], io: Io): Promise<number> {
  refuseJson(args, 'sim pccs', 'it runs until stopped and serves the PCCS API (JSON over HTTP)');
  const { values } = parseFlags(args, SUBS.pccs.flags);
  const port = intFlag(requireFlag(values.port, 'port'), 'port', 65535)!;
  const fail = values.fail ?? 'none';
  if (!(PCCS_FAILURES as readonly string[]).includes(fail)) throw new UsageError(`--fail must be one of ${PCCS_FAILURES.join(', ')}`);
  const known = values['known-fmspc']?.split(',').map((f) => fmspcFlag(f.trim())!);
  const pki = await loadOrCreateSimPki(values.pki ?? defaultPkiDir());
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
    case 'enclave':
      return enclave(rest, io);
    case undefined:
      io.err(help([]));
      return 2;
    default:
      throw unknownSubcommand('sim', sub, Object.keys(SUBS));
  }
}
