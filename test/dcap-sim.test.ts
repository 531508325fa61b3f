// The simulated Intel PKI drives every branch of Warden's DCAP verifier; each case asserts the exact code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyQuote } from '../src/dcap/verify.ts';
import { VerificationError, type VerificationErrorCode } from '../src/dcap/errors.ts';
import type { Collateral, SgxVerification, TcbStatus } from '../src/dcap/types.ts';
import { SimPki } from '../src/sim/pki.ts';
import { makeCollateral, type CollateralOptions } from '../src/sim/collateral.ts';
import { buildQuote, makeQuote, type QuoteOptions } from '../src/sim/quote.ts';
import { DEFAULT_TCB_LEVELS, tcbForStatus, type TcbLevelSpec } from '../src/sim/tcb-levels.ts';
import { newP256Key } from '../src/sim/keys.ts';
import type { PlatformOptions, SimPlatform } from '../src/sim/platform.ts';
import { encodeSgxExtension, type SgxExtensionFields } from '../src/sim/sgx-extension.ts';

const DAY = 86_400_000;
const at = new Date();
const pki = await SimPki.create({ at });
const platform = await pki.platform({}, at);

function check(quote: Buffer, collateral: Collateral, p: SimPki = pki): SgxVerification {
  const v = verifyQuote(quote, collateral, { at, trustedRoot: p.rootPem });
  assert.equal(v.teeType, 'SGX');
  return v as SgxVerification;
}
function rejects(code: VerificationErrorCode, fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof VerificationError, `expected a VerificationError, got ${String(e)}`);
    assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
    return true;
  });
}
async function plat(o: PlatformOptions = {}): Promise<SimPlatform> {
  return pki.platform(o, at);
}
async function coll(p: SimPlatform, o: CollateralOptions = {}, k: SimPki = pki): Promise<Collateral> {
  return makeCollateral(k, { at, platform: p, ...o });
}
async function verifyCase(q: Partial<QuoteOptions> = {}, c: CollateralOptions = {}, p: SimPlatform = platform): Promise<SgxVerification> {
  return check(makeQuote({ platform: p, ...q }), await coll(p, c));
}
async function rejectsCase(code: VerificationErrorCode, q: Partial<QuoteOptions> = {}, c: CollateralOptions = {}, p: SimPlatform = platform): Promise<void> {
  const collateral = await coll(p, c);
  rejects(code, () => check(makeQuote({ platform: p, ...q }), collateral));
}
const flip = (b: Buffer, off: number): Buffer => {
  const c = Buffer.from(b);
  c[off]! ^= 0x01;
  return c;
};

// ---- success and TCB statuses ----

test('a default sim quote verifies (v3, v4 and v5 with an SGX body, Processor and Platform CA) with the values it was made with', async () => {
  for (const ca of ['processor', 'platform'] as const) {
    const p = await plat({ ca, fmspc: '00a067110000' });
    for (const version of [3, 4, 5] as const) {
      const reportData = Buffer.alloc(64, version);
      const v = await verifyCase({ version, report: { reportData, isvProdId: 3, isvSvn: 9 } }, {}, p);
      assert.equal(v.status, 'UpToDate');
      assert.equal(v.platformStatus, 'UpToDate');
      assert.equal(v.qeStatus, 'UpToDate');
      assert.deepEqual(v.advisoryIds, []);
      assert.equal(v.pckCa, ca);
      assert.equal(v.fmspc, '00a067110000');
      assert.equal(v.pceId, '0000');
      assert.equal(v.intelRoot, false);
      assert.equal(v.quote.header.version, version);
      assert.ok(v.report.reportData.equals(reportData));
      assert.equal(v.report.isvProdId, 3);
      assert.equal(v.report.isvSvn, 9);
      assert.equal(v.tcbDate, DEFAULT_TCB_LEVELS[0]!.tcbDate);
      assert.equal(v.tcbEvaluationDataNumber, 17);
    }
  }
});

test('each TCB status of the platform comes out as Intel\'s QVL reports it', async () => {
  for (const level of DEFAULT_TCB_LEVELS) {
    const status = level.tcbStatus as TcbStatus;
    const p = await plat(tcbForStatus(status));
    if (status === 'Revoked') {
      await rejectsCase('revoked', {}, {}, p);
      continue;
    }
    const v = await verifyCase({}, {}, p);
    assert.equal(v.status, status);
    assert.equal(v.platformStatus, status);
    assert.deepEqual(v.advisoryIds, level.advisoryIds ?? []);
    assert.equal(v.tcbDate, level.tcbDate);
  }
});

test('QE OutOfDate converges with each platform status by Intel\'s table (§4 step 16)', async () => {
  const table: Record<TcbStatus, TcbStatus | 'revoked'> = {
    UpToDate: 'OutOfDate',
    SWHardeningNeeded: 'OutOfDate',
    ConfigurationNeeded: 'OutOfDateConfigurationNeeded',
    ConfigurationAndSWHardeningNeeded: 'OutOfDateConfigurationNeeded',
    OutOfDate: 'OutOfDate',
    OutOfDateConfigurationNeeded: 'OutOfDateConfigurationNeeded',
    Revoked: 'revoked',
  };
  for (const [platformStatus, expected] of Object.entries(table) as [TcbStatus, TcbStatus | 'revoked'][]) {
    const p = await plat(tcbForStatus(platformStatus));
    if (expected === 'revoked') {
      await rejectsCase('revoked', { qeReport: { isvSvn: 6 } }, {}, p);
      continue;
    }
    const v = await verifyCase({ qeReport: { isvSvn: 6 } }, {}, p);
    assert.equal(v.qeStatus, 'OutOfDate', platformStatus);
    assert.equal(v.platformStatus, platformStatus);
    assert.equal(v.status, expected, `QE OutOfDate + platform ${platformStatus}`);
  }
});

test('QE levels: Revoked QE, and a QE below every level', async () => {
  const levels = [
    { isvsvn: 8, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'UpToDate' },
    { isvsvn: 7, tcbDate: '2023-01-01T00:00:00Z', tcbStatus: 'Revoked' },
    { isvsvn: 3, tcbDate: '2020-01-01T00:00:00Z', tcbStatus: 'OutOfDate' },
  ];
  await rejectsCase('revoked', { qeReport: { isvSvn: 7 } }, { qeIdentity: { levels } });
  assert.equal((await verifyCase({ qeReport: { isvSvn: 5 } }, { qeIdentity: { levels } })).qeStatus, 'OutOfDate');
  await rejectsCase('tcb_not_supported', { qeReport: { isvSvn: 2 } }, { qeIdentity: { levels } });
});

test('TCB levels listed out of order are sorted (Intel\'s comparator), not taken in JSON order', async () => {
  const reversed = [...DEFAULT_TCB_LEVELS].reverse();
  const shuffled = [DEFAULT_TCB_LEVELS[4]!, DEFAULT_TCB_LEVELS[0]!, DEFAULT_TCB_LEVELS[6]!, DEFAULT_TCB_LEVELS[2]!, DEFAULT_TCB_LEVELS[1]!, DEFAULT_TCB_LEVELS[5]!, DEFAULT_TCB_LEVELS[3]!];
  for (const levels of [reversed, shuffled]) {
    for (const status of ['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'OutOfDate'] as const) {
      const p = await plat(tcbForStatus(status));
      assert.equal((await verifyCase({}, { tcbInfo: { levels } }, p)).platformStatus, status);
    }
  }
});

test('TCB matching is component-wise, never lexicographic', async () => {
  // Higher than the UpToDate level in component 1 (16 > 15) but lower in component 2 (14 < 15):
  // lexicographically above UpToDate, component-wise only the SWHardeningNeeded level matches.
  const p = await plat({ tcbComponents: [16, 14, 3, 3, 255, 255, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0], pceSvn: 13 });
  assert.equal((await verifyCase({}, {}, p)).platformStatus, 'SWHardeningNeeded');
  // Higher everywhere than UpToDate: UpToDate.
  const hi = await plat({ tcbComponents: [20, 20, 9, 9, 255, 255, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9], pceSvn: 20 });
  assert.equal((await verifyCase({}, {}, hi)).platformStatus, 'UpToDate');
  // PCESVN is part of the match: components of UpToDate but PCESVN below every level.
  const levels: TcbLevelSpec[] = DEFAULT_TCB_LEVELS.filter((l) => l.tcbStatus !== 'Revoked');
  const lowPce = await plat({ ...tcbForStatus('UpToDate'), pceSvn: 12 });
  await rejectsCase('tcb_not_supported', {}, { tcbInfo: { levels } }, lowPce);
  // Below every level: not supported.
  const low = await plat({ tcbComponents: new Array<number>(16).fill(0), pceSvn: 13 });
  await rejectsCase('tcb_not_supported', {}, { tcbInfo: { levels } }, low);
});

test('SGX extension: a Platform-CA leaf needs Platform Instance ID and Configuration; no entry may appear twice', async () => {
  const fields: SgxExtensionFields = {
    ppid: Buffer.alloc(16, 1),
    tcbComponents: [...DEFAULT_TCB_LEVELS[0]!.components],
    pceSvn: 13,
    cpuSvn: Buffer.alloc(16, 2),
    pceId: Buffer.alloc(2),
    fmspc: Buffer.from('00906ed50000', 'hex'),
    sgxType: 1,
  };
  const full = { ...fields, platformInstanceId: Buffer.alloc(16, 3), configuration: { dynamicPlatform: true, cachedKeys: false, smtEnabled: false } };
  assert.equal((await verifyCase({}, {}, await plat({ ca: 'platform', sgxExtensionDer: encodeSgxExtension(full) }))).status, 'UpToDate');
  await rejectsCase('invalid_certificate_chain', {}, {}, await plat({ ca: 'platform', sgxExtensionDer: encodeSgxExtension(fields) }));
  await rejectsCase('invalid_certificate_chain', {}, {}, await plat({ ca: 'platform', sgxExtensionDer: encodeSgxExtension({ ...full, configuration: undefined }) }));
  // Processor-CA leaves carry neither (as Intel's do).
  assert.equal((await verifyCase({}, {}, await plat({ sgxExtensionDer: encodeSgxExtension({ ...fields, sgxType: 0 }) }))).status, 'UpToDate');
  // A second FMSPC entry appended: which one counts would be ambiguous.
  const der = encodeSgxExtension({ ...fields, sgxType: 0 });
  const fmspcEntry = Buffer.from('3014060a2a864886f84d010d0104040600a067110000', 'hex');
  const body = Buffer.concat([der.subarray(der[1]! & 0x80 ? 2 + (der[1]! & 0x7f) : 2), fmspcEntry]);
  const len = body.length < 0x80 ? Buffer.from([body.length]) : body.length < 0x100 ? Buffer.from([0x81, body.length]) : Buffer.from([0x82, body.length >> 8, body.length & 0xff]);
  await rejectsCase('invalid_certificate_chain', {}, {}, await plat({ sgxExtensionDer: Buffer.concat([Buffer.from([0x30]), len, body]) }));
});

test('a TCB level with 15 components, or an unknown status string, is refused', async () => {
  const fifteen = [{ ...DEFAULT_TCB_LEVELS[0]!, components: DEFAULT_TCB_LEVELS[0]!.components.slice(0, 15) }, ...DEFAULT_TCB_LEVELS.slice(1)];
  await rejectsCase('tcb_not_supported', {}, { tcbInfo: { levels: fifteen } });
  const unknown = [{ ...DEFAULT_TCB_LEVELS[0]!, tcbStatus: 'UpToDateish' }, ...DEFAULT_TCB_LEVELS.slice(1)];
  await rejectsCase('tcb_not_supported', {}, { tcbInfo: { levels: unknown } });
});

// ---- revocation and CRLs ----

test('revoked PCK leaf, revoked PCK CA, revoked TCB Signing certificate', async () => {
  const p = await plat({ fmspc: '112233445566' });
  await rejectsCase('revoked', {}, { pckCrl: { revoked: [p.serialNumber] } }, p);
  await rejectsCase('revoked', {}, { rootCrl: { revoked: [pki.processorCa.serialNumber] } }, p);
  await rejectsCase('revoked', {}, { rootCrl: { revoked: [pki.tcbSigning.serialNumber] } }, p);
  // Other serials revoked: still fine.
  assert.equal((await verifyCase({}, { pckCrl: { revoked: ['0123456789abcdef'] }, rootCrl: { revoked: [pki.platformCa.serialNumber] } }, p)).status, 'UpToDate');
});

test('the PCK CRL must be the one of the leaf\'s CA, signed by it, with Intel\'s extensions', async () => {
  await rejectsCase('crl_mismatch', {}, { pckCrlCa: 'platform' });
  const platLeaf = await plat({ ca: 'platform' });
  await rejectsCase('crl_mismatch', {}, { pckCrlCa: 'processor' }, platLeaf);
  const rootCrl = await pki.rootCrl({}, at);
  await rejectsCase('crl_mismatch', {}, { pckCrlDer: rootCrl });
  await rejectsCase('crl_mismatch', {}, { rootCrlDer: await pki.pckCrl('processor', {}, at) });
  await rejectsCase('signature_invalid', {}, { pckCrl: { signingKey: pki.platformCa.privateKey } });
  await rejectsCase('signature_invalid', {}, { rootCrl: { signingKey: pki.tcbSigning.privateKey } });
  await rejectsCase('malformed_collateral', {}, { pckCrl: { omitCrlNumber: true } });
  await rejectsCase('malformed_collateral', {}, { rootCrl: { omitAuthorityKeyId: true } });
  await rejectsCase('malformed_collateral', {}, { pckCrlDer: Buffer.from('3003020101', 'hex') });
});

// ---- time ----

test('expired and not-yet-valid collateral: TCB Info, QE Identity, each CRL', async () => {
  const past = new Date(at.getTime() - 2 * DAY);
  const future = new Date(at.getTime() + 2 * DAY);
  await rejectsCase('collateral_expired', {}, { tcbInfo: { issueDate: new Date(at.getTime() - 31 * DAY), nextUpdate: past } });
  await rejectsCase('collateral_expired', {}, { tcbInfo: { issueDate: future, nextUpdate: new Date(future.getTime() + 30 * DAY) } });
  await rejectsCase('collateral_expired', {}, { qeIdentity: { issueDate: new Date(at.getTime() - 31 * DAY), nextUpdate: past } });
  await rejectsCase('collateral_expired', {}, { qeIdentity: { issueDate: future } });
  await rejectsCase('collateral_expired', {}, { rootCrl: { thisUpdate: new Date(at.getTime() - 40 * DAY), nextUpdate: past } });
  await rejectsCase('collateral_expired', {}, { rootCrl: { thisUpdate: future } });
  await rejectsCase('collateral_expired', {}, { pckCrl: { thisUpdate: new Date(at.getTime() - 40 * DAY), nextUpdate: past } });
  await rejectsCase('collateral_expired', {}, { pckCrl: { thisUpdate: future } });
  // Exactly at nextUpdate a CRL is stale (dcap-rs e2e_v4_quote_rejects_expired_crl).
  await rejectsCase('collateral_expired', {}, { pckCrl: { nextUpdate: at } });
});

test('expired and not-yet-valid certificates: PCK leaf, PCK CA, TCB Signing, root', async () => {
  const longAgo = { notBefore: new Date('2019-01-01T00:00:00Z'), notAfter: new Date(at.getTime() - DAY) };
  const future = { notBefore: new Date(at.getTime() + DAY) };
  await rejectsCase('certificate_expired', {}, {}, await plat({ leaf: longAgo }));
  await rejectsCase('certificate_expired', {}, {}, await plat({ leaf: future }));
  // At exactly notAfter a certificate counts as expired (QvE: earliest expiration <= t); a second before, it is valid.
  const atS = new Date(Math.floor(at.getTime() / 1000) * 1000 - 1000); // certificates hold whole seconds
  const verifyAt = (t: Date, p: SimPlatform, c: Collateral, k: SimPki = pki) => verifyQuote(makeQuote({ platform: p }), c, { at: t, trustedRoot: k.rootPem });
  const edge = await plat({ leaf: { notAfter: atS } });
  const edgeColl = await coll(edge);
  rejects('certificate_expired', () => verifyAt(atS, edge, edgeColl));
  assert.equal(verifyAt(new Date(atS.getTime() - 1000), edge, edgeColl).status, 'UpToDate');
  const k = await pki.reissue('tcbSigning', { notAfter: atS }, at);
  const p = await k.platform({}, at);
  const c = await coll(p, {}, k);
  rejects('certificate_expired', () => verifyAt(atS, p, c, k));
  for (const role of ['processor', 'tcbSigning', 'root'] as const) {
    for (const ov of [longAgo, future]) {
      const k = await pki.reissue(role, ov, at);
      const p = await k.platform({}, at);
      const c = await coll(p, {}, k);
      rejects('certificate_expired', () => check(makeQuote({ platform: p }), c, k));
    }
  }
});

// ---- signatures, binding, tampering ----

test('tampered ISV signature, header, report body, QE report, QE report signature, QE auth data', async () => {
  const c = await coll(platform);
  const { quote, layout } = buildQuote({ platform });
  assert.equal(check(quote, c).status, 'UpToDate');
  rejects('signature_invalid', () => check(makeQuote({ platform, corrupt: { isvSignature: true } }), c));
  rejects('signature_invalid', () => check(flip(quote, layout.isvSignature + 5), c));
  rejects('signature_invalid', () => check(flip(quote, 30), c)); // header user data
  rejects('signature_invalid', () => check(flip(quote, 48 + 64), c)); // MRENCLAVE
  rejects('signature_invalid', () => check(flip(quote, 48 + 320), c)); // REPORTDATA
  rejects('signature_invalid', () => check(flip(quote, layout.qeReport + 100), c)); // QE report reserved bytes
  rejects('signature_invalid', () => check(makeQuote({ platform, corrupt: { qeReportSignature: true } }), c));
  rejects('signature_invalid', () => check(makeQuote({ platform, qeReportSigningKey: newP256Key() }), c));
  rejects('qe_report_data_mismatch', () => check(flip(quote, layout.qeAuthData + 3), c));
  rejects('qe_report_data_mismatch', () => check(makeQuote({ platform, qeReportData: Buffer.alloc(64, 1) }), c));
});

test('a swapped attestation key (re-signed by the attacker) breaks the QE binding', async () => {
  await rejectsCase('qe_report_data_mismatch', { swapAttestationKey: newP256Key() });
  // An attestation key that is not a P-256 point.
  const { quote, layout } = buildQuote({ platform });
  const bad = Buffer.from(quote);
  bad.fill(0xff, layout.attestationKey, layout.attestationKey + 64);
  const c = await coll(platform, {});
  rejects('qe_report_data_mismatch', () => check(bad, c));
});

test('an attacker root with Intel\'s subject name is not the pinned root', async () => {
  const attacker = await SimPki.create({ at });
  const ap = await attacker.platform({}, at);
  const ac = await makeCollateral(attacker, { at, platform: ap });
  rejects('untrusted_root', () => check(makeQuote({ platform: ap }), ac, pki));
  // A genuine quote with the attacker's signed collateral.
  const mixed = await makeCollateral(attacker, { at, platform });
  const genuine = await coll(platform);
  rejects('untrusted_root', () => check(makeQuote({ platform }), { ...genuine, tcbInfoIssuerChain: mixed.tcbInfoIssuerChain, tcbInfo: mixed.tcbInfo, tcbInfoSignature: mixed.tcbInfoSignature }));
});

test('TCB Info signed by another key, for another FMSPC, PCE-ID or TEE', async () => {
  await rejectsCase('signature_invalid', {}, { tcbInfoSigningKey: pki.processorCa.privateKey });
  await rejectsCase('signature_invalid', {}, { qeIdentitySigningKey: newP256Key() });
  await rejectsCase('invalid_certificate_chain', {}, { tcbInfoSigningKey: pki.processorCa.privateKey, tcbInfoIssuerChain: pki.chain('processor') });
  await rejectsCase('invalid_certificate_chain', {}, { tcbInfoIssuerChain: pki.tcbSigning.pem });
  await rejectsCase('tcb_info_mismatch', {}, { tcbInfo: { fmspc: '00A067110001' } });
  await rejectsCase('tcb_info_mismatch', {}, { tcbInfo: { pceId: '0100' } });
  await rejectsCase('tcb_info_mismatch', {}, { tcbInfo: { id: 'TDX' } });
  // Tampered text under the original signature.
  const c = await coll(platform);
  rejects('signature_invalid', () => check(makeQuote({ platform }), { ...c, tcbInfo: c.tcbInfo.replace('"tcbEvaluationDataNumber":17', '"tcbEvaluationDataNumber":18') }));
  // FMSPC case does not matter (Intel serves both).
  assert.equal((await verifyCase({}, { tcbInfo: { fmspc: platform.fmspc.toString('hex') } })).status, 'UpToDate');
  // TCB Info v2 (no advisories) is still evaluated.
  const v2 = await verifyCase({}, { tcbInfo: { version: 2 } }, await plat(tcbForStatus('SWHardeningNeeded')));
  assert.equal(v2.status, 'SWHardeningNeeded');
  assert.deepEqual(v2.advisoryIds, []);
});

test('QE Identity mismatches: MRSIGNER, ISVPRODID, masked MISCSELECT and ATTRIBUTES, id', async () => {
  await rejectsCase('qe_identity_mismatch', { qeReport: { mrSigner: Buffer.alloc(32, 7) } });
  await rejectsCase('qe_identity_mismatch', { qeReport: { isvProdId: 2 } });
  await rejectsCase('qe_identity_mismatch', { qeReport: { miscSelect: 1 } });
  await rejectsCase('qe_identity_mismatch', { qeReport: { debug: true } }); // a debug QE
  await rejectsCase('qe_identity_mismatch', {}, { qeIdentity: { id: 'TD_QE' } });
  // Masked-out bits do not matter. The hex strings are the report's bytes (a little-endian u32, as
  // Intel's QVL reads them): bit 0 of MISCSELECT is the first byte's low bit.
  assert.equal((await verifyCase({ qeReport: { miscSelect: 1 } }, { qeIdentity: { miscselectMask: 'FEFFFFFF' } })).status, 'UpToDate');
  await rejectsCase('qe_identity_mismatch', { qeReport: { miscSelect: 1 } }, { qeIdentity: { miscselectMask: 'FFFFFFFE' } });
  assert.equal((await verifyCase({ qeReport: { xfrm: 0x3n } })).status, 'UpToDate'); // XFRM is masked out
});

// ---- quote format ----

test('certification data: unknown type, types 1-4 need the PCK chain from collateral', async () => {
  await rejectsCase('unsupported_quote', { certificationDataType: 9 });
  await rejectsCase('unsupported_quote', { certificationDataType: 3 });
  for (const type of [1, 2, 3, 4]) {
    assert.equal((await verifyCase({ certificationDataType: type }, { pckCertificateChain: true })).status, 'UpToDate', `type ${type}`);
  }
  // v4 must wrap in type 6.
  await rejectsCase('unsupported_quote', { version: 4, outerCertificationDataType: 5 });
  // A PEM chain without the trailing NUL is fine too.
  assert.equal((await verifyCase({ pemTrailingNul: false })).status, 'UpToDate');
});

test('header screening: version, key type, vendor ID, TEE type', async () => {
  await rejectsCase('unsupported_quote', { header: { version: 2 } });
  await rejectsCase('unsupported_quote', { header: { attestationKeyType: 3 } });
  await rejectsCase('unsupported_quote', { header: { qeVendorId: Buffer.alloc(16) } });
  // Only SGX (0) and TDX (0x81); and quote v3 carries SGX only (Quote.cpp validate).
  await rejectsCase('unsupported_tee', { version: 4, header: { teeType: 0x82 } });
  await rejectsCase('unsupported_quote', { version: 3, header: { teeType: 0x81 } });
});

test('truncation at every structure boundary, and lengths that overflow the buffer', async () => {
  const c = await coll(platform);
  for (const version of [3, 4] as const) {
    const { quote, layout } = buildQuote({ platform, version });
    const cuts = new Set<number>([0, 1, 2, 4, 8, 12, 28, 47, 48, 100, 431, 432, 433, 435, 436, layout.end - 1]);
    for (const v of Object.values(layout)) if (typeof v === 'number' && v > 0) for (const d of [-1, 0, 1, 2]) cuts.add(v + d);
    for (const cut of cuts) {
      if (cut >= quote.length) continue;
      rejects('malformed_quote', () => check(quote.subarray(0, cut), c));
    }
    const over = (off: number, size: number, value: number) => {
      const b = Buffer.from(quote);
      if (size === 2) b.writeUInt16LE(value, off);
      else b.writeUInt32LE(value, off);
      rejects('malformed_quote', () => check(b, c));
    };
    over(layout.signatureDataLength, 4, 0xffffffff);
    over(layout.signatureDataLength, 4, quote.length);
    over(layout.qeAuthDataSize, 2, 0xffff);
    over(layout.certificationSize, 4, 0xffffffff);
    over(layout.certificationSize, 4, quote.length);
    if (layout.outerCertificationSize !== undefined) over(layout.outerCertificationSize, 4, 0xfffffff0);
    // Trailing zero padding after the declared data is accepted (real quotes carry it).
    assert.equal(check(Buffer.concat([quote, Buffer.alloc(70)]), c).status, 'UpToDate');
  }
});

test('quote v5: the body type and size must describe an SGX report body', async () => {
  assert.equal((await verifyCase({ version: 5 })).quote.header.version, 5);
  // A TD report body type in an SGX quote: the type must agree with the header's TEE.
  await rejectsCase('unsupported_quote', { version: 5, v5Body: { type: 2, size: 584 } });
  await rejectsCase('unsupported_quote', { version: 5, v5Body: { type: 3, size: 648 } });
  await rejectsCase('unsupported_quote', { version: 5, v5Body: { type: 9 } });
  await rejectsCase('malformed_quote', { version: 5, v5Body: { size: 383 } });
});

test('certificate chains given in another order are put in issuing order, as Intel finds certificates by role', async () => {
  const blocks = (pem: string) => pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g)!;
  const reversedChain = Buffer.from(blocks(platform.chainPem).reverse().join(''), 'ascii');
  const v = await verifyCase({ certificationData: reversedChain });
  assert.equal(v.status, 'UpToDate');
  const c = await coll(platform);
  const reordered = { ...c, tcbInfoIssuerChain: blocks(c.tcbInfoIssuerChain).reverse().join('') };
  assert.equal(check(makeQuote({ platform }), reordered).status, 'UpToDate');
  // Two leaves of the same CA cannot be ordered into one chain: refused.
  const other = await plat({ fmspc: '00606a000000' });
  const twoLeaves = Buffer.from([blocks(platform.chainPem)[0], blocks(other.chainPem)[0], blocks(platform.chainPem)[2]].join(''), 'ascii');
  await rejectsCase('invalid_certificate_chain', { certificationData: twoLeaves });
});
