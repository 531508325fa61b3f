// TDX quotes as bytes: v4 and v5 (TD report 1.0 and 1.5) parsed field by field, the DEBUG bit, body types and
// sizes, truncation at every structure boundary, zero padding, and the simulator's layout (Quote.cpp, §2 of
// ../shared/docs/dcap-verification.md). The verification branches are in dcap-tdx.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseQuote } from '../src/dcap/quote.ts';
import { reportToJson } from '../src/cli/verdict.ts';
import {
  DEFAULT_TDX_COMPONENTS,
  buildQuote,
  type TdReportFields,
} from '../src/sim/index.ts';
import { at, platform, rejects, svn, tdxCollateral, tdxQuote, verify } from './helpers/tdx-world.ts';

test('TDX quotes v4 and v5 (TD report 1.0 and 1.5) verify with TDX collateral; the report is read field by field', async () => {
  const c = await tdxCollateral();
  const fields: TdReportFields = {
    mrTd: Buffer.alloc(48, 0x11),
    mrConfigId: Buffer.alloc(48, 0x22),
    mrOwner: Buffer.alloc(48, 0x33),
    mrOwnerConfig: Buffer.alloc(48, 0x44),
    rtmr0: Buffer.alloc(48, 0x50),
    rtmr1: Buffer.alloc(48, 0x51),
    rtmr2: Buffer.alloc(48, 0x52),
    rtmr3: Buffer.alloc(48, 0x53),
    mrSeam: Buffer.alloc(48, 0x66),
    xfam: Buffer.from('e718060000000000', 'hex'),
    reportData: Buffer.alloc(64, 0x77),
  };
  for (const [version, tdVersion, bodyType] of [
    [4, '1.0', null],
    [5, '1.0', 2],
    [5, '1.5', 3],
  ] as const) {
    const extra: TdReportFields = tdVersion === '1.5' ? { teeTcbSvn2: svn(5, 1, 3), mrServiceTd: Buffer.alloc(48, 0x99) } : {};
    const quote = tdxQuote({ ...fields, ...extra, version: tdVersion }, { version });
    if (bodyType !== null) assert.equal(quote.readUInt16LE(48), bodyType);
    const v = verify(quote, c);
    assert.equal(v.status, 'UpToDate');
    assert.equal(v.qeStatus, 'UpToDate');
    assert.deepEqual(v.tdx, { sgxStatus: 'UpToDate', moduleIdentity: 'TDX_01', moduleStatus: 'UpToDate', moduleTcbDate: '2024-03-13T00:00:00Z', moduleAdvisoryIds: [] });
    const r = reportToJson(v.quote);
    assert.equal(r.teeType, 'TDX');
    if (r.teeType !== 'TDX') return;
    assert.equal(r.version, version);
    assert.equal(r.mrTd, '11'.repeat(48));
    assert.equal(r.mrConfigId, '22'.repeat(48));
    assert.equal(r.mrOwner, '33'.repeat(48));
    assert.equal(r.mrOwnerConfig, '44'.repeat(48));
    assert.deepEqual([r.rtmr0, r.rtmr1, r.rtmr2, r.rtmr3], ['50', '51', '52', '53'].map((b) => b.repeat(48)));
    assert.equal(r.mrSeam, '66'.repeat(48));
    assert.equal(r.xfam, 'e718060000000000');
    assert.equal(r.teeTcbSvn, '05010300000000000000000000000000');
    assert.equal(r.tdAttributes, '0000001000000000');
    assert.equal(r.debug, false);
    assert.equal(r.reportData, '77'.repeat(64));
    if (tdVersion === '1.5') {
      assert.equal(r.teeTcbSvn2, '05010300000000000000000000000000');
      assert.equal(r.mrServiceTd, '99'.repeat(48));
    } else {
      assert.equal(r.teeTcbSvn2, undefined);
      assert.equal(r.mrServiceTd, undefined);
    }
  }
});

test('TD_ATTRIBUTES.DEBUG (bit 0) is decoded; the platform verdict does not depend on it', async () => {
  const c = await tdxCollateral();
  const v = verify(tdxQuote({ debug: true }), c);
  assert.equal(v.report.debug, true);
  assert.equal(v.report.tdAttributes.toString('hex'), '0100001000000000');
  assert.equal(v.status, 'UpToDate');
  // Bit 28 (SEPT_VE_DISABLE) alone is not DEBUG.
  assert.equal(verify(tdxQuote({ tdAttributes: Buffer.from('0000001000000000', 'hex') }), c).report.debug, false);
});

// (The SGX side is also covered in dcap-sim.test.ts; here the TDX QE report is checked against TD_QE's fields.)
test('parsing: body types, sizes and TEE types must agree; truncation at every structure boundary; zero padding', async () => {
  const c = await tdxCollateral();
  // v5 body type 2 must be 584 bytes, type 3 648; type 1 (SGX) in a TDX quote is refused.
  rejects('malformed_quote', () => verify(tdxQuote({}, { version: 5, v5Body: { size: 648 } }), c));
  rejects('malformed_quote', () => verify(tdxQuote({ version: '1.5' }, { version: 5, v5Body: { size: 584 } }), c));
  rejects('unsupported_quote', () => verify(tdxQuote({}, { version: 5, v5Body: { type: 1, size: 584 } }), c));
  rejects('unsupported_quote', () => verify(tdxQuote({}, { version: 5, v5Body: { type: 4 } }), c));
  // TD report 1.5 exists only in v5.
  rejects('unsupported_quote', () => verify(tdxQuote({}, { version: 3 }), c));
  for (const [version, tdVersion] of [
    [4, '1.0'],
    [5, '1.0'],
    [5, '1.5'],
  ] as const) {
    const { quote, layout } = buildQuote({ platform, version, td: { version: tdVersion } });
    const parsed = parseQuote(quote);
    assert.equal(parsed.teeType, 'TDX');
    const cuts = new Set<number>([0, 1, 47, 48, 49, 50, 53, 54, layout.body + 100, layout.signatureDataLength - 1, layout.end - 1]);
    for (const v of Object.values(layout)) if (typeof v === 'number' && v > 0) for (const d of [-1, 0, 1, 2]) cuts.add(v + d);
    for (const cut of cuts) {
      if (cut >= quote.length) continue;
      rejects('malformed_quote', () => parseQuote(quote.subarray(0, cut)));
    }
    assert.equal(verify(Buffer.concat([quote, Buffer.alloc(70)]), c).status, 'UpToDate');
    rejects('malformed_quote', () => verify(Buffer.concat([quote, Buffer.from([0, 1])]), c));
  }
});

test('the simulator is byte-exact: a TDX v4 quote has the layout of Intel\'s (and of the shared S2 fixture)', () => {
  const { quote, layout } = buildQuote({ platform, version: 4, td: {} });
  assert.equal(quote.readUInt32LE(4), 0x81);
  assert.equal(layout.body, 48);
  // v4 TDX: signature data length at 632 (48 + 584), data at 636 (dcap-verification.md §2.3).
  assert.equal(layout.signatureDataLength, 632);
  assert.equal(layout.signatureData, 636);
  const v5 = buildQuote({ platform, version: 5, td: { version: '1.5' } });
  // v5 TD 1.5: the length at 54 + 648 = 702.
  assert.equal(v5.layout.signatureDataLength, 702);
  assert.deepEqual(DEFAULT_TDX_COMPONENTS.slice(0, 3), [5, 0, 3]);
});
