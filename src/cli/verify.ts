// `warden verify`: verify one quote against collateral (a file, or fetched from a PCS/PCCS).
import { fetchCollateralForQuote, readCaFile } from '../collateral/fetch.ts';
import type { Collateral } from '../dcap/types.ts';
import { parseAt, readCollateralFile, readQuoteFile, readRootCa } from './inputs.ts';
import { parseFlags, UsageError, type Io } from './io.ts';
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
  quote: { type: 'string' },
  collateral: { type: 'string' },
  pccs: { type: 'string', multiple: true },
  'pccs-ca': { type: 'string' },
  'root-ca': { type: 'string' },
  at: { type: 'string' },
} as const;

export interface QuoteInputValues {
  quote?: string;
  collateral?: string;
  pccs?: string[];
  'pccs-ca'?: string;
  'root-ca'?: string;
  at?: string;
}

/** Checks the quote-input flags (usage errors, exit 2) and returns what verifyToJson needs. */
export function quoteInputs(values: QuoteInputValues): VerifyInputs {
  if (!values.quote) throw new UsageError('missing required flag --quote');
  const pccs = values.pccs ?? [];
  if (!values.collateral && pccs.length === 0) throw new UsageError('give --collateral FILE or --pccs URL');
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
  const trustedRoot = values['root-ca'] ? readRootCa(values['root-ca']) : undefined;
  const collateralPath = values.collateral;
  return {
    quoteBytes,
    at,
    ...(trustedRoot ? { trustedRoot } : {}),
    collateral: collateralPath ? async () => readCollateralFile(collateralPath) : () => collateralFromPccs(quoteBytes, pccs, pccsCa, at, trustedRoot),
  };
}

export const VERIFY_USAGE = [
  'usage: warden verify --quote FILE (--collateral FILE | --pccs URL... [--pccs-ca PEMFILE]) [--root-ca PEMFILE] [--at ISO8601] [--json]',
  '       warden verify --batch FILE|- [--root-ca PEMFILE] [--at ISO8601]',
  '         one JSON object a line: {"quote": PATH, "collateral": PATH, "rootCa": PATH?, "at": ISO8601?, "id": any?}',
  '         (paths relative to FILE); one line out per line in, in order: the --json verdict plus "id".',
  '         Exit 0 when every line verified, 1 when any was rejected or malformed.',
].join('\n');

export async function run(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, { ...QUOTE_INPUT_FLAGS, json: { type: 'boolean' }, batch: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    io.out(VERIFY_USAGE);
    return 0;
  }
  if (values.batch !== undefined) {
    const extra = (['quote', 'collateral', 'pccs', 'pccs-ca'] as const).find((f) => values[f] !== undefined);
    if (extra) throw new UsageError(`--batch takes quotes and collateral from its lines; drop --${extra}`);
    const { runBatch } = await import('./verify-batch.ts');
    return runBatch(values.batch, { ...(values['root-ca'] ? { rootCa: values['root-ca'] } : {}), ...(values.at !== undefined ? { at: values.at } : {}) }, io);
  }
  const { json } = await verifyToJson(quoteInputs(values));
  if (values.json) io.out(JSON.stringify(json));
  else printHuman(io, json);
  return json.ok ? 0 : 1;
}
