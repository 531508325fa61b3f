// `warden verify`: verify one quote against collateral (a file, or fetched from a PCS/PCCS).
import { fetchCollateralForQuote, readCaFile } from '../collateral/fetch.ts';
import type { Collateral } from '../dcap/types.ts';
import { parseAt, readCollateralFile, readQuoteFile, readRootCa } from './inputs.ts';
import { JSON_FLAG, parseFlags, renderHelp, UsageError, type FlagSpecs, type Io } from './io.ts';
import { DATA_FLAG } from './context.ts';
import { devCollateral, devRootFile, devTrustedRoot } from './sim.ts';
import { verifyToJson, type VerifyInputs, type VerifyJson } from './verdict.ts';

export { reportToJson, rejectionToJson, verificationToJson, verifySyncToJson, verifyToJson, type ReportJson, type VerifyInputs, type VerifyJson } from './verdict.ts';

/** Collateral for a quote from one or more PCS/PCCS base URLs (the collateral module). */
export async function collateralFromPccs(quoteBytes: Buffer, sources: string[], pccsCa: string | undefined, at: Date, trustedRoot?: Buffer): Promise<Collateral> {
  return fetchCollateralForQuote(quoteBytes, sources, { at, ...(pccsCa ? { caFile: pccsCa } : {}), ...(trustedRoot ? { trustedRoot } : {}) });
}

function printHuman(io: Io, json: VerifyJson): void {
  if (json.ok) {
    io.out(`verified: TCB status ${json.status}${json.advisoryIds.length ? ` (advisories: ${json.advisoryIds.join(', ')})` : ''}`);
    io.out(`  tcbDate ${json.tcbDate}; collateral valid until ${json.collateralExpiresAt}`);
  } else {
    io.out(`rejected: ${json.error!.code}: ${json.error!.message}`);
  }
  const r = json.report;
  if (r?.teeType === 'TDX') {
    io.out(`  quote v${r.version} TDX  MRTD ${r.mrTd}`);
    io.out(`  TEE_TCB_SVN ${r.teeTcbSvn}  MRSIGNERSEAM ${r.mrSignerSeam}${r.debug ? '  DEBUG TD' : ''}`);
  } else if (r) {
    io.out(`  quote v${r.version} ${r.teeType}  MRENCLAVE ${r.mrEnclave}`);
    io.out(`  MRSIGNER ${r.mrSigner}  ISVPRODID ${r.isvProdId}  ISVSVN ${r.isvSvn}${r.debug ? '  DEBUG ENCLAVE' : ''}`);
  }
}

/** The flags that say which quote to verify, against what, when: shared by verify and policy test. */
export const QUOTE_INPUT_FLAGS = {
  quote: { type: 'string', arg: 'FILE', help: 'the quote: raw bytes, hex or base64' },
  collateral: { type: 'string', arg: 'FILE', help: "collateral JSON (dcap-qvl's QuoteCollateralV3 shape, or `warden sim collateral`)" },
  pccs: { type: 'string', multiple: true, arg: 'URL', help: 'fetch collateral from Intel PCS or a PCCS instead, repeatable, tried in order' },
  'pccs-ca': { type: 'string', arg: 'FILE', help: 'CA certificate (PEM) of a PCCS with its own TLS certificate' },
  'root-ca': { type: 'string', arg: 'FILE', help: "trust this root CA instead of Intel's (test PKIs only)" },
  at: { type: 'string', arg: 'ISO8601', help: 'verify as of this time (default now; a time without zone is UTC)' },
  dev: { type: 'boolean', help: 'development mode: trust the simulated root of DIR/sim-pki, and without --collateral/--pccs make the collateral from it' },
  ...DATA_FLAG,
} as const satisfies FlagSpecs;

export interface QuoteInputValues {
  quote?: string;
  collateral?: string;
  pccs?: string[];
  'pccs-ca'?: string;
  'root-ca'?: string;
  at?: string;
  dev?: boolean;
  data?: string;
}

/** Checks the quote-input flags (usage errors, exit 2) and returns what verifyToJson needs. */
export function quoteInputs(values: QuoteInputValues): VerifyInputs {
  if (!values.quote) throw new UsageError('missing required flag --quote');
  const pccs = values.pccs ?? [];
  if (values.dev && values['root-ca']) throw new UsageError('--dev (the simulated root) and --root-ca exclude each other');
  if (!values.collateral && pccs.length === 0 && !values.dev) throw new UsageError('give --collateral FILE or --pccs URL (or --dev for a simulated quote)');
  if (values.collateral && pccs.length > 0) throw new UsageError('give either --collateral or --pccs, not both');
  const pccsCa = values['pccs-ca'];
  if (pccsCa !== undefined) {
    if (!pccs.length) throw new UsageError('--pccs-ca goes with --pccs');
    try {
      readCaFile(pccsCa);
    } catch (e) {
      // An unusable flag is the caller's mistake (exit 2), not a verdict on the quote.
      throw new UsageError((e as Error).message);
    }
  }
  const at = parseAt(values.at);
  const quoteBytes = readQuoteFile(values.quote);
  const trustedRoot = values.dev ? devTrustedRoot(values.data) : values['root-ca'] ? readRootCa(values['root-ca']) : undefined;
  const collateralPath = values.collateral;
  return {
    quoteBytes,
    at,
    ...(trustedRoot ? { trustedRoot } : {}),
    collateral: collateralPath
      ? async () => readCollateralFile(collateralPath)
      : pccs.length
        ? () => collateralFromPccs(quoteBytes, pccs, pccsCa, at, trustedRoot)
        : () => devCollateral(quoteBytes, at, values.data),
  };
}

const VERIFY = {
  synopsis:
    'verify --quote FILE (--collateral FILE | --pccs URL... [--pccs-ca FILE] | --dev) [--root-ca FILE] [--at ISO8601] [--json]\n' +
    'verify --batch FILE|- [--root-ca FILE | --dev] [--at ISO8601]',
  summary: "verify an SGX DCAP quote (v3, v4, v5) or a TDX quote (v4, v5) against its collateral, in the order of Intel's procedure",
  flags: {
    ...QUOTE_INPUT_FLAGS,
    batch: {
      type: 'string',
      arg: 'FILE|-',
      help: 'verify many quotes in one process: one JSON object a line, {"quote": PATH, "collateral": PATH, "rootCa": PATH?, "at": ISO8601?, "id": any?} (paths relative to FILE); one --json verdict line out per line in, in order, plus "id"',
    },
    ...JSON_FLAG,
  },
  notes:
    'exit codes: 0 verified, 1 rejected (error.code says why), 2 usage. With --batch: 0 when every line verified, 1 when any was rejected or malformed; its output is always JSON lines.',
} as const;

export function help(): string {
  return renderHelp(VERIFY);
}

export async function run(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, VERIFY.flags);
  if (values.batch !== undefined) {
    const extra = (['quote', 'collateral', 'pccs', 'pccs-ca'] as const).find((f) => values[f] !== undefined);
    if (extra) throw new UsageError(`--batch takes quotes and collateral from its lines; drop --${extra}`);
    if (values.dev && values['root-ca']) throw new UsageError('--dev (the simulated root) and --root-ca exclude each other');
    const rootCa = values.dev ? devRootFile(values.data) : values['root-ca'];
    const { runBatch } = await import('./verify-batch.ts');
    return runBatch(values.batch, { ...(rootCa ? { rootCa } : {}), ...(values.at !== undefined ? { at: values.at } : {}) }, io);
  }
  const { json } = await verifyToJson(quoteInputs(values));
  if (values.json) io.out(JSON.stringify(json));
  else printHuman(io, json);
  return json.ok ? 0 : 1;
}
