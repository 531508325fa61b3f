// The verdict of `warden verify` as JSON (also each line of --batch and the first part of `policy test`):
// one shape for an accepted and a rejected quote, every failure a typed rejection.
import { parseQuote } from '../dcap/quote.ts';
import type { Collateral, Quote, Verification } from '../dcap/types.ts';
import { verifyQuote } from '../dcap/verify.ts';
import { codeOf } from '../protocol/errors.ts';
import { UsageError } from './io.ts';

/** An SGX enclave's report (field names of ../shared/fixtures/dcap/README.md). */
export interface SgxReportJson {
  version: number;
  teeType: 'SGX';
  mrEnclave: string;
  mrSigner: string;
  isvProdId: number;
  isvSvn: number;
  configSvn: number;
  debug: boolean;
  attributes: string;
  reportData: string;
}

/** A TD's report (field names of ../shared/fixtures/dcap/README.md; TD report 1.5 adds teeTcbSvn2, mrServiceTd). */
export interface TdxReportJson {
  version: number;
  teeType: 'TDX';
  teeTcbSvn: string;
  mrSeam: string;
  mrSignerSeam: string;
  seamAttributes: string;
  tdAttributes: string;
  xfam: string;
  mrTd: string;
  mrConfigId: string;
  mrOwner: string;
  mrOwnerConfig: string;
  rtmr0: string;
  rtmr1: string;
  rtmr2: string;
  rtmr3: string;
  debug: boolean;
  reportData: string;
  teeTcbSvn2?: string;
  mrServiceTd?: string;
}

export type ReportJson = SgxReportJson | TdxReportJson;

/** A TD's module verdict: the TDX module identity TCB Info vouched for, and its TCB level (null for major version 0). */
export interface TdxModuleJson {
  identity: string | null;
  status: string | null;
  tcbDate: string | null;
  /** The module level's advisories; `advisoryIds` holds the platform level's (as Intel's QvE reports them). */
  advisoryIds: string[];
}

export interface VerifyJson {
  ok: boolean;
  status: string | null;
  advisoryIds: string[];
  tcbDate: string | null;
  collateralExpiresAt: string | null;
  /** A verified TD only. */
  tdxModule?: TdxModuleJson;
  report: ReportJson | null;
  error: { code: string; message: string } | null;
}

export function reportToJson(quote: Quote): ReportJson {
  if (quote.teeType === 'TDX') {
    const t = quote.body;
    const hex = (b: Buffer) => b.toString('hex');
    return {
      version: quote.header.version,
      teeType: 'TDX',
      teeTcbSvn: hex(t.teeTcbSvn),
      mrSeam: hex(t.mrSeam),
      mrSignerSeam: hex(t.mrSignerSeam),
      seamAttributes: hex(t.seamAttributes),
      tdAttributes: hex(t.tdAttributes),
      xfam: hex(t.xfam),
      mrTd: hex(t.mrTd),
      mrConfigId: hex(t.mrConfigId),
      mrOwner: hex(t.mrOwner),
      mrOwnerConfig: hex(t.mrOwnerConfig),
      rtmr0: hex(t.rtmr0),
      rtmr1: hex(t.rtmr1),
      rtmr2: hex(t.rtmr2),
      rtmr3: hex(t.rtmr3),
      debug: t.debug,
      reportData: hex(t.reportData),
      ...(t.teeTcbSvn2 ? { teeTcbSvn2: hex(t.teeTcbSvn2) } : {}),
      ...(t.mrServiceTd ? { mrServiceTd: hex(t.mrServiceTd) } : {}),
    };
  }
  const b = quote.body;
  return {
    version: quote.header.version,
    teeType: 'SGX',
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
    ...(v.teeType === 'TDX'
      ? { tdxModule: { identity: v.tdx.moduleIdentity, status: v.tdx.moduleStatus, tcbDate: v.tdx.moduleTcbDate, advisoryIds: [...v.tdx.moduleAdvisoryIds] } }
      : {}),
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

/** What a failure of parsing, collateral or verification says: a typed rejection (usage errors pass). */
function rejectionOf(e: unknown, quote: Quote | null): VerifyJson {
  if (e instanceof UsageError) throw e;
  // Our modules' errors keep their code; anything else is a bug and says internal_error.
  return rejectionToJson(codeOf(e), (e as Error)?.message ?? String(e), quote);
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
    return { json: rejectionOf(e, quote), verification: null };
  }
}

/** verifyToJson with collateral at hand (no fetch): the same verdict, synchronously, for the batch loop. */
export function verifySyncToJson(quoteBytes: Buffer, collateral: () => Collateral, at: Date, trustedRoot?: Buffer): VerifyJson {
  let quote: Quote | null = null;
  try {
    quote = parseQuote(quoteBytes);
    return verificationToJson(verifyQuote(quote, collateral(), { at, ...(trustedRoot ? { trustedRoot } : {}) }));
  } catch (e) {
    return rejectionOf(e, quote);
  }
}

