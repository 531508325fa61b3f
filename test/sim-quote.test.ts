// Sim quotes follow the layout of dcap-verification.md §2 byte for byte, like the real fixture quotes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { X509Certificate, createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { SimPki } from '../src/sim/pki.ts';
import { buildQuote, makeQuote, DEFAULT_QE_AUTH_DATA } from '../src/sim/quote.ts';
import { newP256Key, rawPublicKey } from '../src/sim/keys.ts';
import { needsShared, sharedPath } from './helpers/shared.ts';


/** Test-local walk of a quote by the offsets in the doc (independent of src/dcap and of the sim builder). */
function walk(q: Buffer) {
  const version = q.readUInt16LE(0);
  const tee = q.readUInt32LE(4);
  const bodySize = tee === 0x81 ? 584 : 384;
  const lenAt = 48 + bodySize;
  const sigLen = q.readUInt32LE(lenAt);
  const s = lenAt + 4;
  const end = s + sigLen;
  assert.ok(end <= q.length, 'declared signature data fits');
  const isvSignature = q.subarray(s, s + 64);
  const attestationKey = q.subarray(s + 64, s + 128);
  let p = s + 128;
  let outerType: number | undefined;
  if (version >= 4) {
    outerType = q.readUInt16LE(p);
    const outerSize = q.readUInt32LE(p + 2);
    assert.equal(p + 6 + outerSize, end, 'outer certification data ends where the signature data ends');
    p += 6;
  }
  const qeReport = q.subarray(p, p + 384);
  const qeReportSignature = q.subarray(p + 384, p + 448);
  const authLen = q.readUInt16LE(p + 448);
  const qeAuthData = q.subarray(p + 450, p + 450 + authLen);
  p += 450 + authLen;
  const certType = q.readUInt16LE(p);
  const certSize = q.readUInt32LE(p + 2);
  const certData = q.subarray(p + 6, p + 6 + certSize);
  assert.equal(p + 6 + certSize, end, 'certification data ends where the signature data ends');
  return { version, tee, lenAt, signed: q.subarray(0, lenAt), isvSignature, attestationKey, outerType, qeReport, qeReportSignature, qeAuthData, certType, certData, end };
}

const p1363 = (data: Buffer, key: KeyObject, sig: Buffer) => verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig);
const attKey = (raw: Buffer) => createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: raw.subarray(0, 32).toString('base64url'), y: raw.subarray(32).toString('base64url') }, format: 'jwk' });
const chainOf = (certData: Buffer) => (certData.toString('latin1').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n/g) ?? []).map((c) => new X509Certificate(c));

/** What every well-formed quote satisfies: signatures, QE report data binding, a 3-certificate chain. */
function checkQuote(q: Buffer) {
  const w = walk(q);
  assert.ok(p1363(w.signed, attKey(w.attestationKey), w.isvSignature), 'ISV signature verifies with the attestation key');
  const chain = chainOf(w.certData);
  assert.equal(chain.length, 3);
  assert.ok(p1363(w.qeReport, chain[0]!.publicKey, w.qeReportSignature), 'QE report signature verifies with the PCK key');
  const bind = createHash('sha256').update(w.attestationKey).update(w.qeAuthData).digest();
  assert.ok(w.qeReport.subarray(320, 352).equals(bind), 'QE REPORTDATA binds the attestation key');
  assert.ok(w.qeReport.subarray(352, 384).equals(Buffer.alloc(32)));
  if (w.tee === 0) assert.equal(w.qeReport.toString('hex', 128, 160), '8c4f5775d796503e96137f77c68a829a0056ac8ded70140b081b094490c57bff', 'QE MRSIGNER');
  return { ...w, chain };
}

const pki = await SimPki.create();
const platform = await pki.platform();

test('the test-local walker accepts the real fixture quotes (it is a fair judge)', needsShared('fixtures/dcap'), () => {
  for (const dir of ['S1-dcapqvl-sgx-v3', 'S5a-automata-sgx-v3-tcbinfo-v3', 'S9-dcaprs-sgx-v3-debug', 'S2-dcapqvl-tdx-v4']) {
    checkQuote(readFileSync(sharedPath('fixtures/dcap', dir, 'quote.bin')));
  }
});

test('v3 quote: header, body and signature data at the documented offsets', () => {
  const reportData = Buffer.alloc(64, 0xab);
  const mrEnclave = Buffer.alloc(32, 0x11);
  const mrSigner = Buffer.alloc(32, 0x22);
  const q = makeQuote({
    platform,
    report: { reportData, mrEnclave, mrSigner, isvProdId: 0x1234, isvSvn: 0x0506, configSvn: 7, miscSelect: 0x01, debug: true, isvFamilyId: Buffer.alloc(16, 3), isvExtProdId: Buffer.alloc(16, 4), configId: Buffer.alloc(64, 5) },
  });
  const w = checkQuote(q);
  // Header (§2.1)
  assert.equal(q.readUInt16LE(0), 3);
  assert.equal(q.readUInt16LE(2), 2);
  assert.equal(q.readUInt32LE(4), 0);
  assert.equal(q.readUInt16LE(8), 8, 'QE SVN');
  assert.equal(q.readUInt16LE(10), platform.pceSvn, 'PCE SVN');
  assert.equal(q.toString('hex', 12, 28), '939a7233f79c4ca9940a0db3957f0607');
  assert.ok(q.subarray(28, 44).equals(platform.qeId));
  assert.ok(q.subarray(44, 48).equals(Buffer.alloc(4)));
  // Body (§2.2), absolute offsets
  assert.ok(q.subarray(48, 64).equals(platform.cpuSvn));
  assert.equal(q.readUInt32LE(64), 1);
  assert.ok(q.subarray(80, 96).equals(Buffer.alloc(16, 4)));
  assert.equal(q.readBigUInt64LE(96), 0x07n, 'FLAGS INITTED|DEBUG|MODE64BIT');
  assert.equal(q.readBigUInt64LE(104), 0xe7n);
  assert.ok(q.subarray(112, 144).equals(mrEnclave));
  assert.ok(q.subarray(176, 208).equals(mrSigner));
  assert.ok(q.subarray(240, 304).equals(Buffer.alloc(64, 5)));
  assert.equal(q.readUInt16LE(304), 0x1234);
  assert.equal(q.readUInt16LE(306), 0x0506);
  assert.equal(q.readUInt16LE(308), 7);
  assert.ok(q.subarray(352, 368).equals(Buffer.alloc(16, 3)));
  assert.ok(q.subarray(368, 432).equals(reportData));
  // Signature data (§2.3)
  assert.equal(w.lenAt, 432);
  assert.equal(w.end, q.length);
  assert.ok(q.subarray(436 + 64, 436 + 128).equals(rawPublicKey(platform.attestationKey)));
  assert.equal(q.readUInt16LE(436 + 576), 32);
  assert.ok(w.qeAuthData.equals(DEFAULT_QE_AUTH_DATA));
  assert.equal(q.readUInt16LE(436 + 578 + 32), 5);
  assert.equal(w.certType, 5);
  assert.equal(w.certData.at(-1), 0, 'PEM chain ends with a NUL, as Intel\'s QE writes it');
  assert.deepEqual(w.chain.map((c) => c.subject.split('\n')[0]), ['CN=Intel SGX PCK Certificate', 'CN=Intel SGX PCK Processor CA', 'CN=Intel SGX Root CA']);
  assert.equal(q.indexOf('-----BEGIN'), 436 + 584 + 32, 'chain starts where the real S1 quote\'s does (abs 1052)');
});

test('v4 quote: certification data type 6 wraps QE report, signature, auth data and a nested type 5', () => {
  const { quote: q, layout } = buildQuote({ platform, version: 4 });
  const w = checkQuote(q);
  assert.equal(w.version, 4);
  assert.equal(w.outerType, 6);
  assert.equal(q.readUInt32LE(8), 0, 'reserved in v4');
  assert.equal(w.certType, 5);
  assert.equal(layout.outerCertificationType, 436 + 128);
  assert.equal(layout.qeReport, 436 + 134);
  assert.equal(layout.end, q.length);
});

test('layout offsets reported by buildQuote match the walk', () => {
  for (const version of [3, 4] as const) {
    const { quote: q, layout } = buildQuote({ platform, version, qeAuthData: Buffer.alloc(7, 9) });
    const w = walk(q);
    assert.equal(layout.signatureDataLength, w.lenAt);
    assert.equal(q.readUInt16LE(layout.qeAuthDataSize), 7);
    assert.ok(q.subarray(layout.qeAuthData, layout.qeAuthData + 7).equals(Buffer.alloc(7, 9)));
    assert.equal(q.readUInt16LE(layout.certificationType), 5);
    assert.equal(q.readUInt32LE(layout.certificationSize), q.length - layout.certificationData);
  }
});

test('certification data types 1-4 have Intel\'s sizes', () => {
  const sizes: Record<number, number> = { 1: 36, 2: 276, 3: 404 };
  for (const type of [1, 2, 3, 4]) {
    const w = walk(makeQuote({ platform, certificationDataType: type }));
    assert.equal(w.certType, type);
    if (type === 4) assert.equal(chainOf(w.certData).length, 1);
    else {
      assert.equal(w.certData.length, sizes[type]);
      assert.ok(w.certData.subarray(-20, -4).equals(platform.cpuSvn));
      assert.equal(w.certData.readUInt16LE(w.certData.length - 4), platform.pceSvn);
    }
    if (type === 1) assert.ok(w.certData.subarray(0, 16).equals(platform.ppid));
  }
});

test('tampering hooks break exactly what they say', () => {
  const bad = walk(makeQuote({ platform, corrupt: { isvSignature: true } }));
  assert.ok(!p1363(bad.signed, attKey(bad.attestationKey), bad.isvSignature));
  assert.ok(p1363(bad.qeReport, new X509Certificate(platform.leafPem).publicKey, bad.qeReportSignature));
  const badQe = walk(makeQuote({ platform, corrupt: { qeReportSignature: true } }));
  assert.ok(!p1363(badQe.qeReport, new X509Certificate(platform.leafPem).publicKey, badQe.qeReportSignature));
  // Swapped attestation key: the quote verifies under the attacker's key, but the QE vouched for another.
  const attacker = newP256Key();
  const sw = walk(makeQuote({ platform, swapAttestationKey: attacker }));
  assert.ok(sw.attestationKey.equals(rawPublicKey(attacker)));
  assert.ok(p1363(sw.signed, attKey(sw.attestationKey), sw.isvSignature));
  const bind = createHash('sha256').update(sw.attestationKey).update(sw.qeAuthData).digest();
  assert.ok(!sw.qeReport.subarray(320, 352).equals(bind));
  // QE fields and header fields are the caller's to choose.
  const qe = walk(makeQuote({ platform, qeReport: { isvSvn: 6, mrSigner: Buffer.alloc(32, 1) }, header: { qeVendorId: Buffer.alloc(16) } }));
  assert.equal(qe.qeReport.readUInt16LE(258), 6);
  assert.equal(qe.signed.readUInt16LE(8), 6, 'header QE SVN follows the QE report');
  assert.ok(qe.signed.subarray(12, 28).equals(Buffer.alloc(16)));
  // Padding after the declared data, as real quote buffers have.
  const padded = makeQuote({ platform, trailing: Buffer.alloc(70) });
  assert.equal(walk(padded).end, padded.length - 70);
});
