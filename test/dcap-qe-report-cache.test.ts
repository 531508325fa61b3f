// The QE-report signature verdict is cached (issue #16 item 2) keyed by every byte it covers: the QE report,
// its signature and the PCK public key. A changed byte of any of them is never accepted from the cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VerificationError } from '../src/dcap/errors.ts';
import { qeReportSignatureCacheStats, verifyQuote } from '../src/dcap/verify.ts';
import { makeCollateral } from '../src/sim/collateral.ts';
import { SimPki } from '../src/sim/pki.ts';
import { buildQuote } from '../src/sim/quote.ts';

const at = new Date();
const pki = await SimPki.create({ at });
const p1 = await pki.platform({}, at);
// Same FMSPC and TCB as p1 (one collateral serves both), its own PCK key.
const p2 = await pki.platform({ fmspc: p1.fmspc, tcbComponents: p1.tcbComponents, pceSvn: p1.pceSvn }, at);
const collateral = await makeCollateral(pki, { at, platform: p1 });
const verify = (q: Buffer) => verifyQuote(q, collateral, { at, trustedRoot: pki.rootPem });
const qeReportInvalid = (e: unknown) => e instanceof VerificationError && e.code === 'signature_invalid' && /QE report signature/.test(e.message);

test('a genuine QE report signature is verified once, then served from the cache', () => {
  const { quote } = buildQuote({ platform: p1 });
  const s0 = qeReportSignatureCacheStats();
  verify(quote);
  const s1 = qeReportSignatureCacheStats();
  assert.equal(s1.misses, s0.misses + 1);
  verify(quote);
  verify(quote);
  const s2 = qeReportSignatureCacheStats();
  assert.equal(s2.hits, s1.hits + 2, 'the same QE report, signature and PCK key: two hits');
  assert.equal(s2.misses, s1.misses);
});

test('a changed byte of the QE report or its signature, after the genuine one is cached, is refused', () => {
  const { quote, layout } = buildQuote({ platform: p1 });
  verify(quote); // cached
  // Every byte of the QE report body (384) and of its signature (64): a byte nothing else checks (the report's
  // reserved fields) would pass the whole verification if the verdict were keyed by fewer bytes.
  for (const off of [0, 16, 28, 60, 100, 200, 255, 300, 383]) {
    const forged = Buffer.from(quote);
    forged[layout.qeReport + off]! ^= 0x01;
    assert.throws(() => verify(forged), (e: unknown) => e instanceof VerificationError && e.code === 'signature_invalid', `QE report byte ${off}`);
  }
  for (const off of [0, 31, 32, 63]) {
    const forged = Buffer.from(quote);
    forged[layout.qeReportSignature + off]! ^= 0x01;
    assert.throws(() => verify(forged), qeReportInvalid, `signature byte ${off}`);
  }
  assert.ok(verify(quote), 'the genuine quote still verifies');
});

test("another platform's chain around a cached QE report and signature is refused: the PCK key is part of the key", () => {
  // p1's genuine quote is cached. A quote of p2 carries p1's attestation key and exactly p1's QE report and
  // signature (spliced in); only the PCK certificate differs. Keyed without the PCK key, it would pass every check.
  const genuine = buildQuote({ platform: p1 });
  verify(genuine.quote);
  const other = buildQuote({ platform: p2, attestationKey: p1.attestationKey });
  const spliced = Buffer.from(other.quote);
  genuine.quote.copy(spliced, other.layout.qeReport, genuine.layout.qeReport, genuine.layout.qeReport + 384 + 64);
  assert.throws(() => verify(spliced), qeReportInvalid);
  // With its own QE report signature p2's quote is fine: the refusal is about the key, not the platform.
  assert.ok(verify(other.quote));
});
