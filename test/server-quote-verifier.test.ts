// The server's quote verifier proves a quote's whole PCK chain to the pinned root before it asks any
// collateral source about the platform (#14 finding 1), and keeps no cache of its own: the source hands
// out collateral (the provider's reuse is tested in collateral-provider.test.ts).
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { Collateral, PckCaKind } from '../src/dcap/types.ts';
import type { CollateralSource } from '../src/server/collateral-source.ts';
import { makeQuoteVerifier } from '../src/server/quote-verifier.ts';
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

test('a proven quote asks the source for its platform, and verifies', async () => {
  const source = counting(() => collateral);
  const verify = makeQuoteVerifier({ collateral: source, trustedRoot: pki.rootPem });
  assert.equal((await verify(makeQuote({ platform }), T0)).status, 'UpToDate');
  assert.deepEqual(source.asked, [[platform.fmspc.toString('hex'), 'processor']]);
});

test('a chain to another root is refused before any source is asked, every time', async () => {
  const source = counting(() => collateral);
  const other = await SimPki.create();
  const verify = makeQuoteVerifier({ collateral: source, trustedRoot: pki.rootPem });
  const foreign = makeQuote({ platform: await other.platform({}) });
  for (let i = 0; i < 2; i++) await assert.rejects(verify(foreign, T0), (e: { code?: string }) => e.code === 'untrusted_root');
  assert.equal(source.asked.length, 0);
});

test('a chain of another PKI with a copy of the pinned root appended is refused before any source is asked', async () => {
  const source = counting(() => collateral);
  const attacker = await SimPki.create();
  const made = await attacker.platform({ fmspc: Buffer.from('00aabbccddee', 'hex') });
  const chain = made.leafPem + attacker.ca('processor').pem + pki.root.pem;
  const quote = makeQuote({ platform: made, certificationData: Buffer.from(`${chain}\0`, 'latin1') });
  const verify = makeQuoteVerifier({ collateral: source, trustedRoot: pki.rootPem });
  await assert.rejects(verify(quote, T0), (e: { code?: string }) => e.code === 'invalid_certificate_chain');
  assert.equal(source.asked.length, 0, 'no source was asked about the made-up FMSPC');
});
