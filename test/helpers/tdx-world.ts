// One simulated TDX world for the TDX verifier tests (dcap-tdx.test.ts, dcap-tdx-parse.test.ts): a sim PKI and
// platform at one instant, TDX quotes and collateral for it, and the verdict or error code of verifying them.
import assert from 'node:assert/strict';
import { VerificationError, type VerificationErrorCode } from '../../src/dcap/errors.ts';
import type { Collateral, TdxVerification } from '../../src/dcap/types.ts';
import { verifyQuote } from '../../src/dcap/verify.ts';
import { SimPki, makeCollateral, makeQuote, type CollateralOptions, type QuoteOptions, type SimPlatform, type TdReportFields } from '../../src/sim/index.ts';

export const at = new Date();
export const pki = await SimPki.create({ at });
export const platform = await pki.platform({}, at);

export const svn = (...head: number[]): number[] => [...head, ...new Array<number>(16 - head.length).fill(0)];

export function tdxQuote(td: TdReportFields = {}, q: Partial<QuoteOptions> = {}, p: SimPlatform = platform): Buffer {
  return makeQuote({ platform: p, version: 4, td, ...q });
}
export async function tdxCollateral(o: CollateralOptions = {}, p: SimPlatform = platform): Promise<Collateral> {
  return makeCollateral(pki, { at, platform: p, tee: 'TDX', ...o, tcbInfo: { id: 'TDX', ...o.tcbInfo } });
}
export function verify(quote: Buffer, collateral: Collateral): TdxVerification {
  const v = verifyQuote(quote, collateral, { at, trustedRoot: pki.rootPem });
  assert.equal(v.teeType, 'TDX');
  return v as TdxVerification;
}
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof VerificationError, `expected a VerificationError, got ${(e as Error)?.stack ?? String(e)}`);
    return e.code;
  }
  return 'verified';
}
export async function outcome(td: TdReportFields, c: CollateralOptions = {}, q: Partial<QuoteOptions> = {}, p: SimPlatform = platform): Promise<string> {
  const collateral = await tdxCollateral(c, p);
  const quote = tdxQuote(td, q, p);
  let status = '';
  const code = codeOf(() => (status = verify(quote, collateral).status));
  return code === 'verified' ? status : code;
}
export function rejects(code: VerificationErrorCode, fn: () => unknown): void {
  assert.equal(codeOf(fn), code);
}
