// Properties of the TDX parser (issue #17: "the property tests of the SGX parser extend to TDX"; the truncation and
// bit-flip properties are in dcap-fuzz.test.ts): every TD report field the simulator writes, with random values, in
// quotes v4 and v5 with TD reports 1.0 and 1.5, is read back byte for byte at its offset, the DEBUG bit decoded from
// whatever TD_ATTRIBUTES hold, and the verdict never depends on the measurements. And `warden verify --json` on the
// shared real TDX quote S2 prints teeType "TDX" with exactly the report fields its README names.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it, test } from 'node:test';
import { parseQuote } from '../src/dcap/quote.ts';
import type { TdReport, TdxQuote } from '../src/dcap/types.ts';
import { verifyQuote } from '../src/dcap/verify.ts';
import { SimPki, makeCollateral, makeQuote, type TdReportFields } from '../src/sim/index.ts';
import { warden } from './helpers/cli.ts';
import { loadFixtures } from './helpers/fixtures.ts';
import { describeShared } from './helpers/shared.ts';
import { prng, propertySeed } from './helpers/prng.ts';

const seed = propertySeed();
const rand = prng(seed);
const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));

const at = new Date();
const pki = await SimPki.create({ at });
const platform = await pki.platform({}, at);
const collateral = await makeCollateral(pki, { at, platform, tee: 'TDX' });

// The fields a policy or a relying party reads, each at its own offset: a parser reading one at another's offset
// (or a length off by one) cannot pass random values.
const MEASUREMENTS = ['mrSeam', 'mrSignerSeam', 'mrTd', 'mrConfigId', 'mrOwner', 'mrOwnerConfig', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3'] as const;

test(`random TD reports in v4 and v5 (TD 1.0 and 1.5) parse back field by field (seed ${seed})`, () => {
  for (let i = 0; i < 300; i++) {
    const version = rand() < 0.5 ? 4 : 5;
    const td15 = version === 5 && rand() < 0.5;
    const fields: TdReportFields & Record<string, unknown> = {
      version: td15 ? '1.5' : '1.0',
      teeTcbSvn: bytes(16),
      seamAttributes: bytes(8),
      tdAttributes: bytes(8),
      xfam: bytes(8),
      reportData: bytes(64),
      ...Object.fromEntries(MEASUREMENTS.map((m) => [m, bytes(48)])),
      ...(td15 ? { teeTcbSvn2: bytes(16), mrServiceTd: bytes(48) } : {}),
    };
    const quote = parseQuote(makeQuote({ platform, version, td: fields })) as TdxQuote;
    const what = `case ${i} (seed ${seed}): v${version} TD ${fields.version}`;
    assert.equal(quote.teeType, 'TDX', what);
    assert.equal(quote.header.version, version, what);
    const r: TdReport = quote.body;
    assert.equal(r.version, fields.version, what);
    for (const f of ['teeTcbSvn', 'seamAttributes', 'tdAttributes', 'xfam', 'reportData', ...MEASUREMENTS] as const) {
      assert.ok(r[f].equals(fields[f] as Buffer), `${what}: ${f}`);
    }
    assert.equal(r.debug, ((fields.tdAttributes as Buffer)[0]! & 1) === 1, `${what}: DEBUG is bit 0 of TD_ATTRIBUTES`);
    if (td15) {
      assert.ok(r.teeTcbSvn2!.equals(fields.teeTcbSvn2 as Buffer), `${what}: teeTcbSvn2`);
      assert.ok(r.mrServiceTd!.equals(fields.mrServiceTd as Buffer), `${what}: mrServiceTd`);
    } else {
      assert.equal(r.teeTcbSvn2, undefined, what);
      assert.equal(r.mrServiceTd, undefined, what);
    }
  }
});

test(`the platform verdict does not depend on the TD's measurements, report data or DEBUG (seed ${seed})`, () => {
  for (let i = 0; i < 20; i++) {
    const td: TdReportFields = { reportData: bytes(64), debug: rand() < 0.5, ...Object.fromEntries(['mrTd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3', 'mrConfigId', 'mrOwner', 'mrOwnerConfig'].map((m) => [m, bytes(48)])) };
    const v = verifyQuote(makeQuote({ platform, version: rand() < 0.5 ? 4 : 5, td }), collateral, { at, trustedRoot: pki.rootPem });
    assert.equal(v.status, 'UpToDate', `case ${i} (seed ${seed})`);
    assert.equal(v.report.debug, td.debug);
  }
});

describeShared('fixtures/dcap', 'warden verify --json on the shared TDX quote', () => {
  const s2 = loadFixtures().find((f) => f.name.startsWith('S2'))!;

  it('S2 at its time: teeType "TDX" and exactly the report fields of the fixtures README, the verdict and the module', () => {
    const r = warden(['verify', '--quote', join(s2.dir, 'quote.bin'), '--collateral', join(s2.dir, 'collateral.json'), '--at', s2.expected.at, '--json']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal((j['report'] as Record<string, unknown>)['teeType'], 'TDX');
    // Key by key and in the README's order: version, teeType, teeTcbSvn, mrSeam, ... rtmr3, debug, reportData.
    assert.deepEqual(Object.keys(j['report'] as object), Object.keys(s2.expected.report));
    assert.deepEqual(j['report'], s2.expected.report);
    assert.equal(j['status'], s2.expected.status);
    assert.deepEqual(j['advisoryIds'], s2.expected.advisoryIds);
    assert.deepEqual(j['tdxModule'], { identity: 'TDX_01', status: 'UpToDate', tcbDate: '2024-03-13T00:00:00Z', advisoryIds: [] });
  });

  it('S2 a minute after its earliest expiry: rejected, exit 1, the report still printed', () => {
    const ok = JSON.parse(warden(['verify', '--quote', join(s2.dir, 'quote.bin'), '--collateral', join(s2.dir, 'collateral.json'), '--at', s2.expected.at, '--json']).stdout) as { collateralExpiresAt: string };
    const later = new Date(Date.parse(ok.collateralExpiresAt) + 60_000).toISOString();
    const r = warden(['verify', '--quote', join(s2.dir, 'quote.bin'), '--collateral', join(s2.dir, 'collateral.json'), '--at', later, '--json']);
    assert.equal(r.status, 1);
    const j = JSON.parse(r.stdout) as { ok: boolean; error: { code: string }; report: unknown; tdxModule?: unknown };
    assert.equal(j.ok, false);
    assert.ok(['collateral_expired', 'certificate_expired'].includes(j.error.code), j.error.code);
    assert.deepEqual(j.report, s2.expected.report);
    assert.equal(j.tdxModule, undefined);
  });
});
