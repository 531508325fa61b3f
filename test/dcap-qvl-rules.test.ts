// Issue #10, findings 2-8: where a differential fuzzer found Warden's verdict differing from Intel's QVL,
// each rule as Intel's source has it (intel/SGX-TDX-DCAP-QuoteVerificationLibrary @ 7e5b2a1 and QvE in
// intel/SGXDataCenterAttestationPrimitives @ a46ee8a), checked through verifyQuote on sim quotes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { verifyQuote } from '../src/dcap/verify.ts';
import { VerificationError, type VerificationErrorCode } from '../src/dcap/errors.ts';
import type { Collateral, Verification } from '../src/dcap/types.ts';
import { SimPki } from '../src/sim/pki.ts';
import { makeCollateral, type CollateralOptions } from '../src/sim/collateral.ts';
import { makeQuote, DEFAULT_QE_AUTH_DATA, type QuoteOptions } from '../src/sim/quote.ts';
import { attestationPublicKey, type SimPlatform } from '../src/sim/platform.ts';
import { DEFAULT_TCB_LEVELS, tcbForStatus, type QeLevelSpec } from '../src/sim/tcb-levels.ts';

const DAY = 86_400_000;
const at = new Date();
const pki = await SimPki.create({ at });
const platform = await pki.platform({}, at);

function verdict(quote: Buffer, collateral: Collateral): Verification | VerificationErrorCode {
  try {
    return verifyQuote(quote, collateral, { at, trustedRoot: pki.rootPem });
  } catch (e) {
    if (e instanceof VerificationError) return e.code;
    throw e;
  }
}
async function run(q: Partial<QuoteOptions> = {}, c: CollateralOptions = {}, p: SimPlatform = platform): Promise<Verification | VerificationErrorCode> {
  return verdict(makeQuote({ platform: p, ...q }), await makeCollateral(pki, { at, platform: p, ...c }));
}
/** The status of an accepted quote, or the code of a rejected one. */
async function outcome(q: Partial<QuoteOptions> = {}, c: CollateralOptions = {}, p: SimPlatform = platform): Promise<string> {
  const v = await run(q, c, p);
  return typeof v === 'string' ? v : v.status;
}
const qeLevel = (isvsvn: number, tcbStatus: string): QeLevelSpec => ({ isvsvn, tcbDate: '2024-03-13T00:00:00Z', tcbStatus });

test('finding 2: QE Identity levels are read in JSON order, the first with isvsvn <= the QE ISVSVN counting (EnclaveIdentityV2::getTcbStatus)', async () => {
  // Intel keeps the levels as listed (EnclaveIdentityV2::parseTcbLevels) and walks them in that order.
  const levels = [qeLevel(2, 'Revoked'), qeLevel(8, 'UpToDate')];
  assert.equal(await outcome({ qeReport: { isvSvn: 8 } }, { qeIdentity: { levels } }), 'revoked');
  assert.equal(await outcome({ qeReport: { isvSvn: 8 } }, { qeIdentity: { levels: [qeLevel(2, 'OutOfDate'), qeLevel(8, 'UpToDate')] } }), 'OutOfDate');
  // Listed highest first (as Intel serves them), the same levels give the expected statuses.
  assert.equal(await outcome({ qeReport: { isvSvn: 8 } }, { qeIdentity: { levels: [qeLevel(8, 'UpToDate'), qeLevel(2, 'Revoked')] } }), 'UpToDate');
  assert.equal(await outcome({ qeReport: { isvSvn: 7 } }, { qeIdentity: { levels: [qeLevel(8, 'UpToDate'), qeLevel(2, 'Revoked')] } }), 'revoked');
});

test('finding 3: a TCB Info listing the same TCB twice is refused ("Detected duplicated TCB levels", TcbInfo.cpp)', async () => {
  const up = DEFAULT_TCB_LEVELS[0]!;
  const dup = { ...up, tcbStatus: 'Revoked', tcbDate: '2018-01-04T00:00:00Z' };
  assert.equal(await outcome({}, { tcbInfo: { levels: [up, dup, ...DEFAULT_TCB_LEVELS.slice(1)] } }), 'malformed_collateral');
  assert.equal(await outcome({}, { tcbInfo: { levels: [dup, up, ...DEFAULT_TCB_LEVELS.slice(1)] } }), 'malformed_collateral');
  // The duplicate need not be the platform's level: the whole TCB Info is invalid.
  const old = DEFAULT_TCB_LEVELS[4]!;
  assert.equal(await outcome({}, { tcbInfo: { levels: [...DEFAULT_TCB_LEVELS, { ...old }] } }), 'malformed_collateral');
  // Same components with another PCESVN is another TCB (Intel's comparator orders by PCESVN next).
  const otherPce = { ...up, pceSvn: up.pceSvn - 1, tcbStatus: 'OutOfDate', tcbDate: '2023-01-01T00:00:00Z' };
  assert.equal(await outcome({}, { tcbInfo: { levels: [otherPce, ...DEFAULT_TCB_LEVELS] } }), 'UpToDate');
});

test('finding 4: QE levels may say ConfigurationNeeded or OutOfDateConfigurationNeeded, and read as OutOfDate (EnclaveReportVerifier::verify)', async () => {
  // parseStringToTcbStatus (TcbStatus.h) accepts both; any QE status but UpToDate and Revoked gives
  // ISVSVN_OUT_OF_DATE, which converges as OutOfDate (convergeTcbStatusWithQeTcbStatus).
  for (const qeStatus of ['ConfigurationNeeded', 'OutOfDateConfigurationNeeded']) {
    const qeIdentity = { levels: [qeLevel(8, qeStatus)] };
    const v = await run({}, { qeIdentity });
    assert.ok(typeof v !== 'string', `QE ${qeStatus}: ${String(v)}`);
    assert.equal(v.qeStatus, 'OutOfDate');
    assert.equal(v.status, 'OutOfDate');
    const cn = await pki.platform(tcbForStatus('ConfigurationNeeded'), at);
    assert.equal(await outcome({}, { qeIdentity }, cn), 'OutOfDateConfigurationNeeded');
  }
  // The two statuses Intel's parser refuses on a QE level stay refused.
  for (const qeStatus of ['SWHardeningNeeded', 'ConfigurationAndSWHardeningNeeded']) {
    assert.equal(await outcome({}, { qeIdentity: { levels: [qeLevel(8, qeStatus)] } }), 'tcb_not_supported');
  }
});

test('finding 5: QE Identity version 3 is refused; only version 2 is supported (EnclaveIdentityParser::parse)', async () => {
  assert.equal(await outcome({}, { qeIdentity: { version: 3 } }), 'malformed_collateral');
  assert.equal(await outcome({}, { qeIdentity: { version: 1 } }), 'malformed_collateral');
  assert.equal(await outcome({}, { qeIdentity: { version: 2 } }), 'UpToDate');
});

test('finding 6: the PCK CRL issuer chain leads to the pinned root, is valid at the time, and issued the PCK CRL (qve.cpp pck_crl_issuer_chain)', async () => {
  // QvE counts the chain's certificates in the earliest expiration date; Warden rejects what QvE flags.
  const expiredCa = await pki.reissue('processor', { notBefore: new Date(at.getTime() - 10 * DAY), notAfter: new Date(at.getTime() - DAY) }, at);
  assert.equal(await outcome({}, { pckCrlIssuerChain: expiredCa.chain('processor') }), 'certificate_expired');
  const futureCa = await pki.reissue('processor', { notBefore: new Date(at.getTime() + DAY), notAfter: new Date(at.getTime() + 10 * DAY) }, at);
  assert.equal(await outcome({}, { pckCrlIssuerChain: futureCa.chain('processor') }), 'certificate_expired');
  // Missing: nothing vouches for the CRL's issuer.
  assert.equal(await outcome({}, { pckCrlIssuerChain: '' }), 'malformed_collateral');
  // Another PKI's chain (same names, other keys): not the pinned root.
  const other = await SimPki.create({ at });
  assert.equal(await outcome({}, { pckCrlIssuerChain: other.chain('processor') }), 'untrusted_root');
  // The Platform CA's chain for the Processor CA's CRL: not its issuer.
  assert.equal(await outcome({}, { pckCrlIssuerChain: pki.chain('platform') }), 'crl_mismatch');
  // A CA with the Processor CA's name and another key, issued by the real root: it did not sign the CRL.
  const rekeyed = await pki.reissue('processor', { privateKey: (await SimPki.create({ at })).processorCa.privateKey }, at);
  assert.equal(await outcome({}, { pckCrlIssuerChain: rekeyed.chain('processor') }), 'signature_invalid');
  // Only the PCK CA itself and the root: the TCB Signing chain does not do.
  assert.equal(await outcome({}, { pckCrlIssuerChain: pki.chain('tcbSigning') }), 'invalid_certificate_chain');
  // The genuine chain, also given root first, verifies; and its expiry counts in the collateral's.
  const ok = await run({}, { pckCrlIssuerChain: pki.root.pem + pki.processorCa.pem });
  assert.ok(typeof ok !== 'string', String(ok));
  const early = await pki.reissue('processor', { notAfter: new Date(at.getTime() + 3 * DAY) }, at);
  const v = await run({}, { pckCrlIssuerChain: early.chain('processor') });
  assert.ok(typeof v !== 'string', String(v));
  assert.equal(v.collateralExpiresAt.getTime(), Math.floor((at.getTime() + 3 * DAY) / 1000) * 1000);
});

test('finding 7: only the 32 hash bytes of the QE report data are compared (QuoteVerifier.cpp 4.1.2.4.13)', async () => {
  const hashed = createHash('sha256').update(attestationPublicKey(platform)).update(DEFAULT_QE_AUTH_DATA).digest();
  const tail = Buffer.alloc(32, 0xa5);
  assert.equal(await outcome({ qeReportData: Buffer.concat([hashed, tail]) }), 'UpToDate');
  // The hash itself still binds: one bit off is refused.
  const bad = Buffer.from(hashed);
  bad[31]! ^= 1;
  assert.equal(await outcome({ qeReportData: Buffer.concat([bad, Buffer.alloc(32)]) }), 'qe_report_data_mismatch');
});

test('finding 8: a QE status is folded in after the quote signature and the platform level, in Intel\'s order (checkTcbLevel)', async () => {
  const revokedQe = { qeIdentity: { levels: [qeLevel(8, 'Revoked')] } };
  const belowEvery = await pki.platform({ tcbComponents: new Array<number>(16).fill(0), pceSvn: 13 }, at);
  // No platform level: TCB_NOT_SUPPORTED comes first, whatever the QE.
  assert.equal(await outcome({}, revokedQe, belowEvery), 'tcb_not_supported');
  // A platform level: the Revoked QE makes it revoked (convergeTcbStatusWithQeTcbStatus).
  assert.equal(await outcome({}, revokedQe), 'revoked');
  // The quote signature is checked before the QE status is used (QuoteVerifier.cpp 4.1.2.4.15, .16).
  assert.equal(await outcome({ corrupt: { isvSignature: true } }, revokedQe), 'signature_invalid');
  // A QE below every QE level with a Revoked platform level: TCB_NOT_SUPPORTED (the QE rule comes first).
  const revokedPlatform = await pki.platform(tcbForStatus('Revoked'), at);
  assert.equal(await outcome({ qeReport: { isvSvn: 0 } }, {}, revokedPlatform), 'tcb_not_supported');
  // A Revoked platform level with an OutOfDate QE: Revoked.
  assert.equal(await outcome({ qeReport: { isvSvn: 6 } }, {}, revokedPlatform), 'revoked');
  // A QE below every level and an UpToDate platform: TCB_NOT_SUPPORTED; with a bad signature, the signature.
  assert.equal(await outcome({ qeReport: { isvSvn: 0 } }), 'tcb_not_supported');
  assert.equal(await outcome({ qeReport: { isvSvn: 0 }, corrupt: { isvSignature: true } }), 'signature_invalid');
});
