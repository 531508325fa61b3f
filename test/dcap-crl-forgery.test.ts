// A CRL whose contents were changed but whose signature bytes were kept must fail its signature
// check in a process that already checked the genuine CRL, and the reverse order must not poison the
// genuine one (issue #10, finding 1: the verdict was cached under the signature bytes alone).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyQuote } from '../src/dcap/verify.ts';
import { VerificationError } from '../src/dcap/errors.ts';
import { parseCollateralJson } from '../src/dcap/collateral-json.ts';
import type { Collateral } from '../src/dcap/types.ts';
import { validateItem, anchorFromRoot } from '../src/collateral/validate.ts';
import { SourceError } from '../src/collateral/errors.ts';
import { parseCrl } from '../src/dcap/crl.ts';
import { parsePemChain } from '../src/dcap/x509.ts';
import { SimPki } from '../src/sim/pki.ts';
import { makeCollateral } from '../src/sim/collateral.ts';
import { makeQuote } from '../src/sim/quote.ts';
import { loadFixtures } from './helpers/fixtures.ts';
import { needsShared } from './helpers/shared.ts';
import { pushNextUpdate, unrevoke } from './helpers/forge.ts';

const at = new Date();

function code(fn: () => unknown): string {
  try {
    fn();
    return 'accepted';
  } catch (e) {
    if (e instanceof VerificationError) return e.code;
    throw e;
  }
}

async function simCase() {
  const pki = await SimPki.create({ at });
  const platform = await pki.platform({}, at);
  const quote = makeQuote({ platform });
  return { pki, platform, quote };
}

test('forged then genuine (fresh process state): the forged CRLs fail, the genuine ones still verify', async () => {
  const { pki, platform, quote } = await simCase();
  const genuine = await makeCollateral(pki, { at, platform, pckCrl: { revoked: [platform.serialNumber] } });
  const forgedPck: Collateral = { ...genuine, pckCrl: unrevoke(genuine.pckCrl, platform.serialNumber) };
  const opts = { at, trustedRoot: pki.rootPem };
  assert.equal(code(() => verifyQuote(quote, forgedPck, opts)), 'signature_invalid');
  assert.equal(code(() => verifyQuote(quote, genuine, opts)), 'revoked');

  const rootGenuine = await makeCollateral(pki, { at, platform });
  const rootCrlNext = new Date(Math.floor(at.getTime() / 1000) * 1000 - 86_400_000 + 379 * 86_400_000);
  const forgedRoot: Collateral = { ...rootGenuine, rootCaCrl: pushNextUpdate(rootGenuine.rootCaCrl, rootCrlNext) };
  assert.equal(code(() => verifyQuote(quote, forgedRoot, opts)), 'signature_invalid');
  assert.equal(code(() => verifyQuote(quote, rootGenuine, opts)), 'accepted');
});

test('genuine then forged: a revoked PCK certificate or PCK CA stays revoked whatever CRL is forged after', async () => {
  const { pki, platform, quote } = await simCase();
  const opts = { at, trustedRoot: pki.rootPem };
  const genuine = await makeCollateral(pki, { at, platform, pckCrl: { revoked: [platform.serialNumber] } });
  assert.equal(code(() => verifyQuote(quote, genuine, opts)), 'revoked');
  const forged: Collateral = { ...genuine, pckCrl: unrevoke(genuine.pckCrl, platform.serialNumber) };
  assert.equal(code(() => verifyQuote(quote, forged, opts)), 'signature_invalid');

  const caSerial = parsePemChain(pki.chain(platform.ca))[0]!.serial.toString('hex');
  const rootGenuine = await makeCollateral(pki, { at, platform, rootCrl: { revoked: [caSerial] } });
  assert.equal(code(() => verifyQuote(quote, rootGenuine, opts)), 'revoked');
  const rootForged: Collateral = { ...rootGenuine, rootCaCrl: unrevoke(rootGenuine.rootCaCrl, caSerial) };
  assert.equal(code(() => verifyQuote(quote, rootForged, opts)), 'signature_invalid');
});

test('collateral validation (what the server caches from a PCCS) refuses a forged PCK CRL in either order', async () => {
  const { pki, platform } = await simCase();
  const anchor = anchorFromRoot(pki.rootPem);
  const id = { kind: 'pck_crl' as const, key: platform.ca };
  const genuine = await pki.pckCrl(platform.ca, { revoked: [platform.serialNumber] }, at);
  const forged = unrevoke(genuine, platform.serialNumber);
  const other = await pki.pckCrl(platform.ca, { revoked: [platform.serialNumber], crlNumber: 2 }, at);
  const otherForged = unrevoke(other, platform.serialNumber);
  const chain = pki.chain(platform.ca);
  const refused = (raw: Buffer) =>
    assert.throws(() => validateItem(id, raw, chain, anchor, at), (e: unknown) => e instanceof SourceError && e.code === 'signature_invalid');
  validateItem(id, genuine, chain, anchor, at);
  refused(forged);
  refused(otherForged);
  validateItem(id, other, chain, anchor, at);
});

test('collateral validation refuses a forged root CA CRL in either order', async () => {
  const { pki } = await simCase();
  const anchor = anchorFromRoot(pki.rootPem);
  const id = { kind: 'root_ca_crl' as const, key: '' };
  const caSerial = pki.processorCa.serialNumber;
  const genuine = await pki.rootCrl({ revoked: [caSerial] }, at);
  const other = await pki.rootCrl({ revoked: [caSerial], crlNumber: 2 }, at);
  const refused = (raw: Buffer) =>
    assert.throws(() => validateItem(id, raw, '', anchor, at), (e: unknown) => e instanceof SourceError && e.code === 'signature_invalid');
  // Genuine first, then forged; forged first (of another genuine CRL), then that genuine one.
  validateItem(id, genuine, '', anchor, at);
  refused(unrevoke(genuine, caSerial));
  refused(unrevoke(other, caSerial));
  validateItem(id, other, '', anchor, at);
});

test('real Intel CRLs (S1, S5a) with contents changed after the genuine ones were checked are refused', needsShared('fixtures/dcap'), () => {
  const fixtures = loadFixtures().filter((f) => f.name.startsWith('S1-') || f.name.startsWith('S5a-'));
  assert.equal(fixtures.length, 2);
  for (const f of fixtures) {
    const genuine = parseCollateralJson(f.collateralText);
    const opts = { at: new Date(f.expected.at), trustedRoot: f.rootPem };
    const crls = ['pckCrl', 'rootCaCrl'] as const;
    for (const field of crls) {
      const crl = parseCrl(genuine[field]);
      const forged: Collateral = { ...genuine, [field]: pushNextUpdate(genuine[field], crl.nextUpdate!) };
      // S5a: forged first; S1: genuine first. Both orders must give the genuine verdict and refuse the forgery.
      const order = f.name.startsWith('S5a-') ? [forged, genuine] : [genuine, forged];
      for (const c of order) {
        const got = code(() => verifyQuote(f.quote, c, opts));
        if (c === genuine) assert.equal(got, 'accepted', `${f.name}: genuine collateral`);
        else assert.equal(got, 'signature_invalid', `${f.name}: ${field} with nextUpdate pushed out`);
      }
    }
  }
});
