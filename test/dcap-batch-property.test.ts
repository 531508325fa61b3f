// Issue #10, deliverable 3: random pairs of genuine and tampered collateral, verified in random order in
// one process, each give the verdict a fresh process gives. A cache keyed by less than every byte a
// verdict depends on shows up here as a disagreement. Seed: WARDEN_PROPERTY_SEED (printed on failure).
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { verifySyncToJson } from '../src/cli/verdict.ts';
import { collateralToJson, parseCollateralJson } from '../src/dcap/collateral-json.ts';
import { parseCrl } from '../src/dcap/crl.ts';
import type { Collateral } from '../src/dcap/types.ts';
import { makeCollateral, type CollateralOptions } from '../src/sim/collateral.ts';
import { SimPki } from '../src/sim/pki.ts';
import { makeQuote } from '../src/sim/quote.ts';
import { tcbForStatus } from '../src/sim/tcb-levels.ts';
import { warden, wardenMany } from './helpers/cli.ts';
import { pushNextUpdate, unrevoke } from './helpers/forge.ts';
import { batchLine, verifyArgs, type VerdictCase } from './helpers/verdict-cases.ts';
import { prng, propertySeed } from './helpers/prng.ts';

const seed = propertySeed();
const tmp = mkdtempSync(join(tmpdir(), 'warden-property-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const rand = prng(seed);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Ways to change collateral while keeping the genuine signature bytes (or swapping in other genuine parts). */
const TAMPERS: Record<string, (c: Collateral, ctx: { leafSerial: string; caSerial: string; other: SimPki }) => Collateral | null> = {
  'PCK CRL without the leaf': (c, x) => (parseCrl(c.pckCrl).revoked.has(x.leafSerial.replace(/^(00)+/, '')) ? { ...c, pckCrl: unrevoke(c.pckCrl, x.leafSerial) } : null),
  'root CRL without the PCK CA': (c, x) => (parseCrl(c.rootCaCrl).revoked.has(x.caSerial.replace(/^(00)+/, '')) ? { ...c, rootCaCrl: unrevoke(c.rootCaCrl, x.caSerial) } : null),
  'PCK CRL nextUpdate pushed': (c) => ({ ...c, pckCrl: pushNextUpdate(c.pckCrl, parseCrl(c.pckCrl).nextUpdate!) }),
  'root CRL nextUpdate pushed': (c) => ({ ...c, rootCaCrl: pushNextUpdate(c.rootCaCrl, parseCrl(c.rootCaCrl).nextUpdate!) }),
  'TCB Info statuses rewritten': (c) => ({ ...c, tcbInfo: c.tcbInfo.replaceAll('"Revoked"', '"UpToDate"').replaceAll('"OutOfDate"', '"UpToDate"') }),
  'QE Identity levels rewritten': (c) => ({ ...c, qeIdentity: c.qeIdentity.replaceAll('"OutOfDate"', '"UpToDate"').replaceAll('"Revoked"', '"UpToDate"') }),
  "QE Identity's signature on TCB Info": (c) => ({ ...c, tcbInfoSignature: c.qeIdentitySignature }),
  'PCK CRL issuer chain of another PKI': (c, x) => ({ ...c, pckCrlIssuerChain: x.other.chain('processor') }),
  'TCB Info issuer chain of another PKI': (c, x) => ({ ...c, tcbInfoIssuerChain: x.other.chain('tcbSigning') }),
};

test(`genuine and tampered collateral in random order in one process give a fresh process's verdicts (seed ${seed})`, async () => {
  const at = new Date(Math.floor(Date.now() / 1000) * 1000);
  const pki = await SimPki.create({ at });
  const other = await SimPki.create({ at });
  const rootCa = join(tmp, 'root.pem');
  writeFileSync(rootCa, pki.rootPem);
  const cases: VerdictCase[] = [];
  const PAIRS = 8;
  for (let i = 0; i < PAIRS; i++) {
    const status = pick(['UpToDate', 'SWHardeningNeeded', 'OutOfDate', 'Revoked'] as const);
    const platform = await pki.platform({ fmspc: `00906ed5000${i}`, ...tcbForStatus(status) }, at);
    const opts: CollateralOptions = { at, platform };
    if (rand() < 0.4) opts.pckCrl = { revoked: [platform.serialNumber] };
    if (rand() < 0.2) opts.rootCrl = { revoked: [pki.processorCa.serialNumber] };
    const genuine = await makeCollateral(pki, opts);
    const ctx = { leafSerial: platform.serialNumber, caSerial: pki.processorCa.serialNumber, other };
    let name = '';
    let tampered: Collateral | null = null;
    while (!tampered) {
      name = pick(Object.keys(TAMPERS));
      tampered = TAMPERS[name]!(genuine, ctx);
    }
    const quote = join(tmp, `q${i}.bin`);
    writeFileSync(quote, makeQuote({ platform, qeReport: { isvSvn: pick([8, 8, 6]) } }));
    for (const [kind, c] of [['genuine', genuine], [name, tampered]] as const) {
      const collateral = join(tmp, `c${i}-${kind === 'genuine' ? 'g' : 't'}.json`);
      writeFileSync(collateral, JSON.stringify(collateralToJson(c)));
      cases.push({ name: `pair ${i} ${kind} (platform ${status})`, quote, collateral, rootCa, at: at.toISOString(), expect: '' });
    }
  }
  const fresh = (await wardenMany(cases.map(verifyArgs))).map((r, i) => {
    assert.ok(r.status === 0 || r.status === 1, `${cases[i]!.name}: exit ${r.status}: ${r.stderr}`);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  });
  // Every tampered collateral is refused by a fresh process: the tampering is real.
  cases.forEach((c, i) => {
    if (!c.name.includes('genuine')) assert.equal(fresh[i]!.ok, false, `seed ${seed}: ${c.name} accepted`);
  });

  // In this process, many times in random order: files re-read and re-parsed, or the same object reused.
  const parsed = cases.map((c) => parseCollateralJson(readFileSync(c.collateral, 'utf8')));
  const root = readFileSync(rootCa);
  for (let round = 0; round < 300; round++) {
    const i = Math.floor(rand() * cases.length);
    const c = cases[i]!;
    const collateral = rand() < 0.5 ? parsed[i]! : parseCollateralJson(readFileSync(c.collateral, 'utf8'));
    const got = verifySyncToJson(readFileSync(c.quote), () => collateral, new Date(c.at), root);
    assert.deepEqual(got, fresh[i], `seed ${seed}, round ${round}: ${c.name} differs from a fresh process`);
  }

  // Through `warden verify --batch`: one process, every case three times in a random order.
  const order = shuffle([...cases, ...cases, ...cases]);
  const file = join(tmp, 'batch.jsonl');
  writeFileSync(file, order.map(batchLine).join('\n'));
  const r = warden(['verify', '--batch', file]);
  const out = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(out.length, order.length, r.stderr);
  out.forEach((line, k) => {
    const { id, ...rest } = line;
    const i = cases.findIndex((c) => c.name === id);
    assert.deepEqual(rest, fresh[i], `seed ${seed}, batch line ${k + 1}: ${String(id)} differs from a fresh process`);
  });
});
