// Minimal verification cases, one or more per finding of issue #10, written as files for the CLI:
// each a genuine case and its forged or rule-breaking counterpart, with the verdict Intel's rules give.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { collateralToJson, parseCollateralJson } from '../../src/dcap/collateral-json.ts';
import { parseCrl } from '../../src/dcap/crl.ts';
import type { Collateral } from '../../src/dcap/types.ts';
import { makeCollateral, type CollateralOptions } from '../../src/sim/collateral.ts';
import { attestationPublicKey } from '../../src/sim/platform.ts';
import { SimPki } from '../../src/sim/pki.ts';
import { DEFAULT_QE_AUTH_DATA, makeQuote, type QuoteOptions } from '../../src/sim/quote.ts';
import { DEFAULT_TCB_LEVELS } from '../../src/sim/tcb-levels.ts';
import { FIXTURES_MISSING, loadFixtures } from './fixtures.ts';
import { pushNextUpdate, unrevoke } from './forge.ts';

export interface VerdictCase {
  name: string;
  /** Absolute paths. */
  quote: string;
  collateral: string;
  rootCa: string;
  at: string;
  /** The TCB status of an accepted quote, or the error code of a rejected one. */
  expect: string;
}

const DAY = 86_400_000;

/** `warden verify --json` arguments for a case. */
export function verifyArgs(c: VerdictCase): string[] {
  return ['verify', '--json', '--quote', c.quote, '--collateral', c.collateral, '--root-ca', c.rootCa, '--at', c.at];
}

/** A `--batch` line for a case. */
export function batchLine(c: VerdictCase): string {
  return JSON.stringify({ quote: c.quote, collateral: c.collateral, rootCa: c.rootCa, at: c.at, id: c.name });
}

/** The status of an accepted verdict, or the code of a rejected one. */
export function outcomeOf(json: { ok: boolean; status: string | null; error: { code: string } | null }): string {
  return json.ok ? json.status! : json.error!.code;
}

export async function writeFindingCases(dir: string): Promise<VerdictCase[]> {
  const atDate = new Date(Math.floor(Date.now() / 1000) * 1000);
  const at = atDate.toISOString();
  const pki = await SimPki.create({ at: atDate });
  const rootCa = join(dir, 'root.pem');
  writeFileSync(rootCa, pki.rootPem);
  const cases: VerdictCase[] = [];
  const add = async (name: string, expect: string, q: Partial<QuoteOptions>, c: CollateralOptions | Collateral, fmspc = '00906ed50000') => {
    const platform = await pki.platform({ fmspc }, atDate);
    const quote = join(dir, `${name}.quote`);
    const collateral = join(dir, `${name}.json`);
    writeFileSync(quote, makeQuote({ platform, ...q }));
    const coll = 'tcbInfo' in c && typeof c.tcbInfo === 'string' ? (c as Collateral) : await makeCollateral(pki, { at: atDate, platform, ...(c as CollateralOptions) });
    writeFileSync(collateral, JSON.stringify(collateralToJson(coll)));
    cases.push({ name, quote, collateral, rootCa, at, expect });
    return { platform, collateral: coll };
  };
  const qe = (isvsvn: number, tcbStatus: string) => ({ isvsvn, tcbDate: '2024-03-13T00:00:00Z', tcbStatus });

  // Finding 1: forged CRLs carrying the genuine signature bytes, after (and before) the genuine ones.
  const revokedPlatform = await pki.platform({ fmspc: '00a067110000' }, atDate);
  const g = await add('f1-pck-crl-genuine', 'revoked', {}, { pckCrl: { revoked: [revokedPlatform.serialNumber] } }, '00a067110000');
  await add('f1-pck-crl-forged', 'signature_invalid', {}, { ...g.collateral, pckCrl: unrevoke(g.collateral.pckCrl, revokedPlatform.serialNumber) }, '00a067110000');
  const caRevoked = await add('f1-root-crl-genuine', 'revoked', {}, { rootCrl: { revoked: [pki.processorCa.serialNumber] } });
  await add('f1-root-crl-forged', 'signature_invalid', {}, { ...caRevoked.collateral, rootCaCrl: unrevoke(caRevoked.collateral.rootCaCrl, pki.processorCa.serialNumber) });
  const fine = await add('f1-genuine', 'UpToDate', {}, {});
  const pckNext = parseCrl(fine.collateral.pckCrl).nextUpdate!;
  await add('f1-pck-crl-pushed', 'signature_invalid', {}, { ...fine.collateral, pckCrl: pushNextUpdate(fine.collateral.pckCrl, pckNext) });
  // Finding 2: QE levels in JSON order.
  await add('f2-qe-levels-json-order', 'revoked', {}, { qeIdentity: { levels: [qe(2, 'Revoked'), qe(8, 'UpToDate')] } });
  // Finding 3: the same TCB listed twice.
  const up = DEFAULT_TCB_LEVELS[0]!;
  await add('f3-duplicate-tcb-level', 'malformed_collateral', {}, { tcbInfo: { levels: [up, { ...up, tcbStatus: 'Revoked' }, ...DEFAULT_TCB_LEVELS.slice(1)] } });
  // Finding 4: ConfigurationNeeded on a QE level reads as OutOfDate.
  await add('f4-qe-configuration-needed', 'OutOfDate', {}, { qeIdentity: { levels: [qe(8, 'ConfigurationNeeded')] } });
  // Finding 5: QE Identity version 3.
  await add('f5-qe-identity-v3', 'malformed_collateral', {}, { qeIdentity: { version: 3 } });
  // Finding 6: an expired certificate in the PCK CRL issuer chain.
  const expiredCa = await pki.reissue('processor', { notBefore: new Date(atDate.getTime() - 10 * DAY), notAfter: new Date(atDate.getTime() - DAY) }, atDate);
  await add('f6-pck-crl-chain-expired', 'certificate_expired', {}, { pckCrlIssuerChain: expiredCa.chain('processor') });
  // Finding 7: QE report data bytes 32-63 not zero.
  const p7 = await pki.platform({ fmspc: '00906ed50000' }, atDate);
  const hashed = createHash('sha256').update(attestationPublicKey(p7)).update(DEFAULT_QE_AUTH_DATA).digest();
  await add('f7-qe-report-data-tail', 'UpToDate', { qeReportData: Buffer.concat([hashed, Buffer.alloc(32, 0x5a)]) }, {});
  // Finding 8: a Revoked QE and no platform level: TCB_NOT_SUPPORTED first.
  const low = await pki.platform({ fmspc: '00906ed50001', tcbComponents: new Array<number>(16).fill(0) }, atDate);
  const q8 = join(dir, 'f8-qe-revoked-no-platform-level.quote');
  const c8 = join(dir, 'f8-qe-revoked-no-platform-level.json');
  writeFileSync(q8, makeQuote({ platform: low }));
  writeFileSync(c8, JSON.stringify(collateralToJson(await makeCollateral(pki, { at: atDate, platform: low, qeIdentity: { levels: [qe(8, 'Revoked')] } }))));
  cases.push({ name: 'f8-qe-revoked-no-platform-level', quote: q8, collateral: c8, rootCa, at, expect: 'tcb_not_supported' });

  // Finding 1 with real Intel CRLs (S1, S5a): genuine, then each CRL with its nextUpdate pushed out.
  if (!FIXTURES_MISSING) {
    for (const f of loadFixtures().filter((x) => x.name.startsWith('S1-') || x.name.startsWith('S5a-'))) {
      const base = { quote: join(f.dir, 'quote.bin'), rootCa: join(f.dir, 'root_ca.pem'), at: f.expected.at };
      cases.push({ name: `${f.name}-genuine`, collateral: join(f.dir, 'collateral.json'), ...base, expect: f.expected.status! });
      const genuine = parseCollateralJson(f.collateralText);
      for (const field of ['pckCrl', 'rootCaCrl'] as const) {
        const forged: Collateral = { ...genuine, [field]: pushNextUpdate(genuine[field], parseCrl(genuine[field]).nextUpdate!) };
        const collateral = join(dir, `${f.name}-${field}-forged.json`);
        writeFileSync(collateral, JSON.stringify(collateralToJson(forged)));
        cases.push({ name: `${f.name}-${field}-forged`, collateral, ...base, expect: 'signature_invalid' });
      }
    }
  }
  return cases;
}
