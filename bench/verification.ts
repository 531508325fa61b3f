// Section 1: quote verification in process, one core, collateral cached. Warden against the crypto
// floor and against @phala/dcap-qvl, on the same quotes and collateral, in interleaved rounds.
import { createPublicKey, verify, X509Certificate, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { QuoteVerifier, type Collateral as QvlCollateral } from '@phala/dcap-qvl';
import { collateralToJson, parseCollateralJson } from '../src/dcap/collateral-json.ts';
import { parseQuote } from '../src/dcap/quote.ts';
import type { Collateral } from '../src/dcap/types.ts';
import { verifyQuote } from '../src/dcap/verify.ts';
import { SimPki, makeCollateral, makeQuote } from '../src/sim/index.ts';
import { interleave, median, ratioOfRounds, round, usPerCall } from './measure.ts';
import { PlatformFactory } from './platforms.ts';

/** ../shared beside the repository (WARDEN_FIXTURES overrides); the section says when it is missing. */
export const FIXTURES_DIR = process.env['WARDEN_FIXTURES'] || path.resolve(import.meta.dirname, '../../shared/fixtures/dcap');
/** TDX (not verified by Warden yet) and the case that must be rejected. */
const SKIPPED_FIXTURES = new Set(['S2-dcapqvl-tdx-v4', 'X1-intel-synthetic']);


export interface Rate {
  usPerQuote: number;
  perSecond: number;
}

function rate(us: number): Rate {
  return { usPerQuote: round(us, 1), perSecond: Math.round(1e6 / us) };
}

/** One quote as everything the bench needs: Warden's inputs, dcap-qvl's inputs, the floor's inputs. */
interface Item {
  name: string;
  quote: Buffer;
  collateral: Collateral;
  qvlCollateral: QvlCollateral;
  qvl: QuoteVerifier;
  at: Date;
  nowSecs: number;
  root: string;
  // The floor: exactly the two signatures a quote needs checked.
  qeReport: Buffer;
  qeReportSignature: Buffer;
  signedBytes: Buffer;
  isvSignature: Buffer;
  pckKey: KeyObject;
  attestationKeyRaw: Buffer;
  attestationKey: KeyObject;
  /** Sim quotes only: what a never-seen PCK leaf adds (its key, its CA's signature over it). */
  leaf?: { pointRaw: Buffer; tbs: Buffer; signature: Buffer; caKey: KeyObject };
}

/** The cheapest import node:crypto offers for a raw P-256 point (X||Y): as a JWK, which is also checked to be on the curve. */
function importRaw(raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: raw.subarray(0, 32).toString('base64url'), y: raw.subarray(32, 64).toString('base64url') }, format: 'jwk' });
}

function firstPem(text: string): string {
  const m = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(text);
  if (!m) throw new Error('no certificate in PEM text');
  return m[0];
}

function item(name: string, quote: Buffer, collateral: Collateral, at: Date, root: string, qvl: QuoteVerifier): Item {
  const q = parseQuote(quote);
  const cd = q.signature.certification;
  const chain = cd.type === 5 ? cd.data.toString('latin1') : collateral.pckCertificateChain ?? '';
  const attestationKeyRaw = q.signature.attestationKey;
  return {
    name,
    quote,
    collateral,
    qvlCollateral: collateralToJson(collateral) as unknown as QvlCollateral,
    qvl,
    at,
    nowSecs: Math.floor(at.getTime() / 1000),
    root,
    qeReport: q.signature.qeReport.raw,
    qeReportSignature: q.signature.qeReportSignature,
    signedBytes: q.signedBytes,
    isvSignature: q.signature.isvSignature,
    pckKey: new X509Certificate(firstPem(chain)).publicKey,
    attestationKeyRaw,
    attestationKey: importRaw(attestationKeyRaw),
  };
}

function floorOne(it: Item, key: KeyObject): void {
  // Results are checked once outside the timing (see checkFloor); here only the work is done.
  verify('sha256', it.qeReport, { key: it.pckKey, dsaEncoding: 'ieee-p1363' }, it.qeReportSignature);
  verify('sha256', it.signedBytes, { key, dsaEncoding: 'ieee-p1363' }, it.isvSignature);
}

function checkFloor(it: Item): void {
  const a = verify('sha256', it.qeReport, { key: it.pckKey, dsaEncoding: 'ieee-p1363' }, it.qeReportSignature);
  const b = verify('sha256', it.signedBytes, { key: it.attestationKey, dsaEncoding: 'ieee-p1363' }, it.isvSignature);
  if (!a || !b) throw new Error(`floor: the signatures of ${it.name} do not verify`);
}

function warden(it: Item): void {
  verifyQuote(it.quote, it.collateral, { at: it.at, trustedRoot: it.root });
}

function dcapQvl(it: Item): void {
  it.qvl.verify(it.quote, it.qvlCollateral, it.nowSecs);
}

export interface FixtureNote {
  name: string;
  warden: string;
  dcapQvl: string;
}

export interface VerificationResult {
  rounds: number;
  fixtures: {
    cases: FixtureNote[];
    warden: Rate;
    floor: Rate;
    dcapQvl: Rate | null;
    fractionOfFloor: number;
    timesDcapQvl: number | null;
  };
  steady: { platforms: number; warden: Rate; floor: Rate; dcapQvl: Rate; fractionOfFloor: number; timesDcapQvl: number };
  cold: { platforms: number; warden: Rate; floor: Rate; fractionOfFloor: number; floorFull: Rate; fractionOfFullFloor: number; timesDcapQvl: number };
  targets: { steadyFractionOfFloor: boolean; coldFractionOfFloor: boolean; timesDcapQvl: boolean };
}

/** The fixtures Warden accepts (and, of those, the ones dcap-qvl accepts), with what each said. */
function loadFixtures(): { items: Item[]; qvlItems: Item[]; notes: FixtureNote[] } {
  const items: Item[] = [];
  const qvlItems: Item[] = [];
  const notes: FixtureNote[] = [];
  if (!fs.existsSync(FIXTURES_DIR)) return { items, qvlItems, notes };
  for (const name of fs.readdirSync(FIXTURES_DIR).sort()) {
    const dir = path.join(FIXTURES_DIR, name);
    if (SKIPPED_FIXTURES.has(name) || !fs.existsSync(path.join(dir, 'quote.bin'))) continue;
    const expected = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as { at: string; ok: boolean };
    if (!expected.ok) continue;
    const rootPem = fs.readFileSync(path.join(dir, 'root_ca.pem'), 'utf8');
    const qvl = QuoteVerifier.newWithRootCa(Buffer.from(new X509Certificate(rootPem).raw));
    const it = item(name, fs.readFileSync(path.join(dir, 'quote.bin')), parseCollateralJson(fs.readFileSync(path.join(dir, 'collateral.json'), 'utf8')), new Date(expected.at), rootPem, qvl);
    const note: FixtureNote = { name, warden: 'ok', dcapQvl: 'ok' };
    try {
      note.warden = verifyQuote(it.quote, it.collateral, { at: it.at, trustedRoot: it.root }).status;
      checkFloor(it);
    } catch (e) {
      note.warden = `rejected: ${(e as Error).message}`;
      notes.push({ ...note, dcapQvl: 'not run' });
      continue;
    }
    try {
      note.dcapQvl = it.qvl.verify(it.quote, it.qvlCollateral, it.nowSecs).status;
      qvlItems.push(it);
    } catch (e) {
      note.dcapQvl = `rejected: ${(e as Error).message}`;
    }
    notes.push(note);
    items.push(it);
  }
  return { items, qvlItems, notes };
}

export interface VerificationOptions {
  quick: boolean;
}

export async function benchVerification(o: VerificationOptions): Promise<VerificationResult> {
  const rounds = o.quick ? 2 : 7;
  const steadyPlatforms = o.quick ? 4 : 32;
  const steadyOps = o.quick ? 100 : 2000;
  const coldOps = o.quick ? 10 : 150;
  const qvlOps = o.quick ? 2 : 30;

  // (a) the real fixture quotes, each with its own collateral object and root.
  const { items: fixtures, qvlItems: qvlFixtures, notes } = loadFixtures();

  // (b)/(c) the sim: one PKI, one collateral set; steady platforms warmed, cold ones never seen.
  const pki = await SimPki.create();
  const factory = await PlatformFactory.create(pki);
  const at = new Date();
  const collateral = await makeCollateral(pki, { at });
  const qvl = QuoteVerifier.newWithRootCa(Buffer.from(new X509Certificate(pki.rootPem).raw));
  const simItem = (name: string): Item => {
    const p = factory.make();
    const it = item(name, makeQuote({ platform: p }), collateral, at, pki.rootPem, qvl);
    const point = it.pckKey.export({ format: 'der', type: 'spki' }).subarray(-64); // X||Y
    return { ...it, leaf: { pointRaw: point, tbs: p.leafTbs, signature: p.leafSignature, caKey: p.caPublicKey } };
  };
  const steady = Array.from({ length: steadyPlatforms }, (_, i) => simItem(`steady-${i}`));
  for (const it of steady) {
    warden(it);
    checkFloor(it);
  }
  dcapQvl(steady[0]!); // dcap-qvl must accept the sim quotes too, or the comparison means nothing
  const cold = Array.from({ length: rounds }, (_, r) => Array.from({ length: coldOps }, (_, i) => simItem(`cold-${r}-${i}`)));
  for (const it of fixtures) warden(it);

  const cases = {
    'steady.floor': { batch: () => usPerCall(steadyOps, (i) => { const it = steady[i % steady.length]!; floorOne(it, it.attestationKey); }) },
    'steady.warden': { batch: () => usPerCall(steadyOps, (i) => warden(steady[i % steady.length]!)) },
    'steady.dcapQvl': { batch: () => usPerCall(qvlOps, (i) => dcapQvl(steady[i % steady.length]!)) },
    // Cold floor: the same two verifications plus importing the raw attestation key.
    'cold.floor': { batch: (r: number) => usPerCall(coldOps, (i) => { const it = cold[r]![i]!; floorOne(it, importRaw(it.attestationKeyRaw)); }) },
    // What a never-seen platform really needs: also import the PCK key and check the CA's signature on the leaf.
    'cold.floorFull': {
      batch: (r: number) =>
        usPerCall(coldOps, (i) => {
          const it = cold[r]![i]!;
          const leaf = it.leaf!;
          const pck = importRaw(leaf.pointRaw);
          verify('sha256', leaf.tbs, leaf.caKey, leaf.signature);
          verify('sha256', it.qeReport, { key: pck, dsaEncoding: 'ieee-p1363' }, it.qeReportSignature);
          verify('sha256', it.signedBytes, { key: importRaw(it.attestationKeyRaw), dsaEncoding: 'ieee-p1363' }, it.isvSignature);
        }),
    },
    'cold.warden': { batch: (r: number) => usPerCall(coldOps, (i) => warden(cold[r]![i]!)) },
    ...(fixtures.length
      ? {
          'fixtures.floor': { batch: () => usPerCall(steadyOps, (i) => { const it = fixtures[i % fixtures.length]!; floorOne(it, it.attestationKey); }) },
          'fixtures.warden': { batch: () => usPerCall(steadyOps, (i) => warden(fixtures[i % fixtures.length]!)) },
        }
      : {}),
    ...(qvlFixtures.length
      ? {
          // The ratio to dcap-qvl is taken on the fixtures both accept.
          'fixtures.dcapQvl': { batch: () => usPerCall(Math.max(qvlOps, qvlFixtures.length), (i) => dcapQvl(qvlFixtures[i % qvlFixtures.length]!)) },
          'fixtures.wardenOnQvlSet': { batch: () => usPerCall(steadyOps, (i) => warden(qvlFixtures[i % qvlFixtures.length]!)) },
        }
      : {}),
  };
  const r = interleave(cases, rounds);
  const get = (k: string): number[] => r[k] ?? [];

  const steadyFrac = ratioOfRounds(get('steady.floor'), get('steady.warden'));
  const coldFrac = ratioOfRounds(get('cold.floor'), get('cold.warden'));
  const steadyTimes = ratioOfRounds(get('steady.dcapQvl'), get('steady.warden'));
  const coldTimes = ratioOfRounds(get('steady.dcapQvl'), get('cold.warden'));
  return {
    rounds,
    fixtures: {
      cases: notes,
      warden: rate(median(get('fixtures.warden'))),
      floor: rate(median(get('fixtures.floor'))),
      dcapQvl: qvlFixtures.length ? rate(median(get('fixtures.dcapQvl'))) : null,
      fractionOfFloor: round(ratioOfRounds(get('fixtures.floor'), get('fixtures.warden')), 3),
      timesDcapQvl: qvlFixtures.length ? round(ratioOfRounds(get('fixtures.dcapQvl'), get('fixtures.wardenOnQvlSet')), 1) : null,
    },
    steady: {
      platforms: steadyPlatforms,
      warden: rate(median(get('steady.warden'))),
      floor: rate(median(get('steady.floor'))),
      dcapQvl: rate(median(get('steady.dcapQvl'))),
      fractionOfFloor: round(steadyFrac, 3),
      timesDcapQvl: round(steadyTimes, 1),
    },
    cold: {
      platforms: rounds * coldOps,
      warden: rate(median(get('cold.warden'))),
      floor: rate(median(get('cold.floor'))),
      fractionOfFloor: round(coldFrac, 3),
      floorFull: rate(median(get('cold.floorFull'))),
      fractionOfFullFloor: round(ratioOfRounds(get('cold.floorFull'), get('cold.warden')), 3),
      timesDcapQvl: round(coldTimes, 1),
    },
    targets: { steadyFractionOfFloor: steadyFrac >= 0.8, coldFractionOfFloor: coldFrac >= 0.7, timesDcapQvl: steadyTimes >= 25 },
  };
}
