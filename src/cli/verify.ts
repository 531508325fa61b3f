// `warden verify`: verify one quote against collateral (a file, or fetched from a PCS/PCCS).
import { fetchCollateralForQuote, readCaFile } from '../collateral/fetch.ts';
import { codeOf } from '../protocol/errors.ts';
import { parseQuote } from '../dcap/quote.ts';
import type { Collateral, Quote, Verification } from '../dcap/types.ts';
import { verifyQuote } from '../dcap/verify.ts';
import { parseAt, readCollateralFile, readQuoteFile, readRootCa } from './inputs.ts';
import { parseFlags, UsageError, type Io } from './io.ts';

export interface ReportJson {
  version: number;
  teeType: string;
  mrEnclave: string;
  mrSigner: string;
  isvProdId: number;
  isvSvn: number;
  configSvn: number;
  debug: boolean;
  attributes: string;
  reportData: string;
}

export interface VerifyJson {
  ok: boolean;
  status: string | null;
  advisoryIds: string[];
  tcbDate: string | null;
  collateralExpiresAt: string | null;
  report: ReportJson | null;
  error: { code: string; message: string } | null;
}

export function reportToJson(quote: Quote): ReportJson {
  const b = quote.body;
  return {
    version: quote.header.version,
    teeType: quote.header.teeType,
    mrEnclave: b.mrEnclave.toString('hex'),
    mrSigner: b.mrSigner.toString('hex'),
    isvProdId: b.isvProdId,
    isvSvn: b.isvSvn,
    configSvn: b.configSvn,
    debug: b.debug,
    attributes: b.attributes.toString('hex'),
    reportData: b.reportData.toString('hex'),
  };
}

export function verificationToJson(v: Verification): VerifyJson {
  return {
    ok: true,
    status: v.status,
    advisoryIds: v.advisoryIds,
    tcbDate: v.tcbDate,
    collateralExpiresAt: v.collateralExpiresAt.toISOString(),
    report: reportToJson(v.quote),
    error: null,
  };
}

export function rejectionToJson(code: string, message: string, quote: Quote | null): VerifyJson {
  return { ok: false, status: null, advisoryIds: [], tcbDate: null, collateralExpiresAt: null, report: quote ? reportToJson(quote) : null, error: { code, message } };
}

export interface VerifyInputs {
  quoteBytes: Buffer;
  collateral: () => Promise<Collateral>;
  at: Date;
  trustedRoot?: Buffer;
}

/** Parses, obtains collateral, verifies: every failure becomes a typed rejection, never a throw. */
export async function verifyToJson(inputs: VerifyInputs): Promise<{ json: VerifyJson; verification: Verification | null }> {
  let quote: Quote | null = null;
  try {
    quote = parseQuote(inputs.quoteBytes);
    const collateral = await inputs.collateral();
    const verification = verifyQuote(quote, collateral, { at: inputs.at, ...(inputs.trustedRoot ? { trustedRoot: inputs.trustedRoot } : {}) });
    return { json: verificationToJson(verification), verification };
  } catch (e) {
    if (e instanceof UsageError) throw e;
    // Our modules' errors keep their code; anything else is a bug and says internal_error.
    const code = codeOf(e);
    return { json: rejectionToJson(code, (e as Error)?.message ?? String(e), quote), verification: null };
  }
}

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
  if (r) {
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

export async function run(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, { ...QUOTE_INPUT_FLAGS, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    io.out('usage: warden verify --quote FILE (--collateral FILE | --pccs URL... [--pccs-ca PEMFILE]) [--root-ca PEMFILE] [--at ISO8601] [--json]');
    return 0;
  }
  const { json } = await verifyToJson(quoteInputs(values));
  if (values.json) io.out(JSON.stringify(json));
  else printHuman(io, json);
  return json.ok ? 0 : 1;
}
