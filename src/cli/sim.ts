// `warden sim`: the simulated Intel side for development and tests (PKI files, quotes, collateral, PCCS).
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { collateralToJson } from '../dcap/collateral-json.ts';
import { makeCollateral } from '../sim/collateral.ts';
import { PCCS_FAILURES, startPccsServer, type PccsFailure } from '../sim/pccs-server.ts';
import { SimPki } from '../sim/pki.ts';
import { parseQuote } from '../dcap/quote.ts';
import { routePck } from '../dcap/pck-route.ts';
import { trustedRootOf } from '../dcap/checks.ts';
import type { Collateral } from '../dcap/types.ts';
import { buildEnclaveElf, buildSigstruct, metadataRecord, newSigningKey } from '../sim/enclave.ts';
import { SIM_ENCLAVE } from '../sim/report.ts';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { CliError, JSON_FLAG, UsageError, parseFlags, refuseJson, renderGroupHelp, renderHelp, requireFlag, unknownSubcommand, type CommandHelp, type Io } from './io.ts';
import { simPkiDirOf } from './paths.ts';
import { IDENTITY_FLAGS, PKI_FLAG, SIM_QUOTE, caFlag, fmspcFlag, hexFlag, intFlag, simQuoteFromFlags, teeFlag } from './sim-quote.ts';

/** Where `warden sim` keeps its PKI unless --pki says otherwise: DIR/sim-pki of the data directory. */
export const DEFAULT_SIM_PKI_DIR = './data/sim-pki';
const defaultPkiDir = (): string => simPkiDirOf();

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
  quote: SIM_QUOTE,
  collateral: {
    synopsis: 'sim collateral [--pki DIR] --fmspc HEX [--ca processor|platform] [--tee sgx|tdx] --out FILE',
    summary: 'collateral JSON for `warden verify` (valid for 29 days)',
    flags: {
      ...PKI_FLAG,
      fmspc: { type: 'string', arg: 'HEX', help: 'the platform FMSPC, 6 bytes' },
      ca: { type: 'string', arg: 'processor|platform', help: 'which PCK CA (default processor)' },
      tee: { type: 'string', arg: 'sgx|tdx', help: 'for SGX quotes (default), or for TDX quotes: TCB Info with id TDX and the TD_QE identity' },
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
    'The simulated Intel side, for development and tests: only the SGX and TDX hardware is simulated. Its root is trusted only where pinned (--dev, --root-ca).',
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
  const quote = parseQuote(quoteBytes);
  const route = routePck(quote, trustedRootOf(pki.rootPem));
  return makeCollateral(pki, { fmspc: route.fmspc, ca: route.kind, at, tee: quote.teeType });
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
  const format = values.format ?? (values.out ? 'bin' : 'hex');
  if (format !== 'bin' && format !== 'hex' && format !== 'base64') throw new UsageError('--format must be bin, hex or base64');
  // Flags are checked (usage errors) before a PKI is created.
  const pkiDir = values.pki ?? defaultPkiDir();
  const made = await simQuoteFromFlags(values, { platform: async (o) => (await loadOrCreateSimPki(pkiDir)).platform(o) });
  const q = made.quote;
  if (values.json) {
    if (values.out) writeFileSync(values.out, q);
    io.out(JSON.stringify({ ok: true, teeType: made.tee, quote: q.toString(format === 'base64' ? 'base64' : 'hex'), encoding: format === 'base64' ? 'base64' : 'hex', ...(values.out ? { file: values.out } : {}) }));
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
  const tee = teeFlag(values.tee);
  const pki = await loadOrCreateSimPki(values.pki ?? defaultPkiDir());
  const c = await makeCollateral(pki, { fmspc, ca, tee });
  writeFileSync(out, JSON.stringify(collateralToJson(c), null, 2) + '\n');
  if (values.json) io.out(JSON.stringify({ ok: true, file: out, fmspc, ca, tee: tee.toLowerCase() }));
  else io.out(`${tee} collateral for FMSPC ${fmspc} (${ca} CA) written to ${out}; valid for 29 days`);
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
