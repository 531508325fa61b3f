// The server's quote verifier: asks the collateral source at most once a second per platform (the
// object is reused), never reuses collateral past what it was verified valid until or after a failure,
// and still refuses chains to another root before asking any source.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { Collateral, PckCaKind } from '../src/dcap/types.ts';
import type { CollateralSource } from '../src/server/collateral-source.ts';
import { COLLATERAL_REUSE_MS, makeQuoteVerifier } from '../src/server/quote-verifier.ts';
import { SimPki, makeCollateral, makeQuote } from '../src/sim/index.ts';
import type { SimPlatform } from '../src/sim/platform.ts';

let pki: SimPki;
let platform: SimPlatform;
let collateral: Collateral;
const T0 = new Date();

before(async () => {
  pki = await SimPki.create();
  platform = await pki.platform({});
  collateral = await makeCollateral(pki, { platform, at: T0 });
});

function counting(c: () => Collateral): CollateralSource & { asked: Array<[string, PckCaKind]> } {
  const asked: Array<[string, PckCaKind]> = [];
  return {
    asked,
    get: async (fmspc, ca) => {
      asked.push([fmspc, ca]);
      return c();
    },
  };
}

const at = (ms: number) => new Date(T0.getTime() + ms);

test('one platform: the source is asked once per reuse window, and again after it', async () => {
  const source = counting(() => collateral);
  const verify = makeQuoteVerifier({ collateral: source, trustedRoot: pki.rootPem });
  const quote = makeQuote({ platform });
  for (const ms of [0, 10, 500, COLLATERAL_REUSE_MS - 1]) assert.equal((await verify(quote, at(ms))).status, 'UpToDate');
  assert.equal(source.asked.length, 1);
  assert.equal(source.asked[0]![0], platform.fmspc.toString('hex'));
  await verify(quote, at(COLLATERAL_REUSE_MS));
  assert.equal(source.asked.length, 2, 'asked again once the window is over');
  await verify(quote, at(COLLATERAL_REUSE_MS - 100));
  assert.equal(source.asked.length, 3, 'a time before the window (clock stepped back) asks again');
});

test('a failed verification drops the reused collateral', async () => {
  const source = counting(() => collateral);
  const verify = makeQuoteVerifier({ collateral: source, trustedRoot: pki.rootPem });
  const good = makeQuote({ platform });
  await verify(good, at(0));
  const bad = Buffer.from(good);
  bad[48 + 100] = bad[48 + 100]! ^ 1; // a report body byte: the attestation key's signature no longer holds
  await assert.rejects(verify(bad, at(1)), (e: { code?: string }) => e.code === 'signature_invalid');
  assert.equal(source.asked.length, 1, 'the failed quote was checked against the reused collateral');
  await verify(good, at(2));
  assert.equal(source.asked.length, 2, 'after the failure, the source is asked again');
});

test('collateral is never reused past the validity it was verified with', async () => {
  const source = counting(() => collateral);
  const verify = makeQuoteVerifier({ collateral: source, trustedRoot: pki.rootPem });
  const quote = makeQuote({ platform });
  const until = (await verify(quote, at(0))).collateralExpiresAt.getTime() - T0.getTime();
  await verify(quote, at(until - 200));
  assert.equal(source.asked.length, 2);
  // Within a second of the last ask, but past the verified validity: the source is asked (and the
  // collateral it still returns is refused as expired).
  await assert.rejects(verify(quote, at(until + 100)), (e: { code?: string }) => /expired/.test(e.code ?? ''));
  assert.equal(source.asked.length, 3);
});

test('a chain to another root is refused before any source is asked, every time', async () => {
  const source = counting(() => collateral);
  const other = await SimPki.create();
  const verify = makeQuoteVerifier({ collateral: source, trustedRoot: pki.rootPem });
  const foreign = makeQuote({ platform: await other.platform({}) });
  for (let i = 0; i < 2; i++) await assert.rejects(verify(foreign, at(i)), (e: { code?: string }) => e.code === 'untrusted_root');
  assert.equal(source.asked.length, 0);
});
