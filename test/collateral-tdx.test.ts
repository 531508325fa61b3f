// TDX collateral: TDX TCB Info (/tdx/certification/v4/tcb) and the TD QE identity (/tdx/certification/v4/qe/identity)
// fetched from a (sim) PCCS over real HTTP, cached beside the SGX items of the same platform, exported and imported,
// and used by the server's quote verifier.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { exportBundle, importBundle } from '../src/collateral/bundle.ts';
import { fetchCollateralForQuote } from '../src/collateral/fetch.ts';
import { CollateralProvider } from '../src/collateral/provider.ts';
import { SourceSet } from '../src/collateral/sources.ts';
import { validateItem } from '../src/collateral/validate.ts';
import { SourceError } from '../src/collateral/errors.ts';
import { verifyQuote } from '../src/dcap/verify.ts';
import { makeQuoteVerifier } from '../src/server/quote-verifier.ts';
import { SimCollateralSource } from '../src/server/sim-collateral.ts';
import { makeQuote, type SimPlatform } from '../src/sim/index.ts';
import type { PccsServer } from '../src/sim/pccs-server.ts';
import { StoreCollateralCache } from '../src/store/collateral-cache.ts';
import { FAST, makeWorld, pccs, type World } from './collateral-helpers.ts';

let w: World;
let platform: SimPlatform;
let tdxQuote: Buffer;
let s: PccsServer;
const caches: StoreCollateralCache[] = [];

before(async () => {
  w = await makeWorld();
  platform = await w.pki.platform({ ca: 'processor' });
  tdxQuote = makeQuote({ platform, version: 4, td: {} });
  s = await pccs(w);
});
after(async () => {
  await s.close();
  for (const c of caches) await c.close();
  fs.rmSync(w.dir, { recursive: true, force: true });
});

async function openCache(name: string): Promise<StoreCollateralCache> {
  const c = await StoreCollateralCache.open(path.join(w.dir, name));
  caches.push(c);
  return c;
}

test('warden verify --pccs for a TDX quote: TDX TCB Info and TD QE identity from the /tdx paths, CRLs from /sgx', async () => {
  const before = s.requests.length;
  const collateral = await fetchCollateralForQuote(tdxQuote, [s.url], { ...FAST, trustedRoot: w.pki.rootPem });
  const v = verifyQuote(tdxQuote, collateral, { at: new Date(), trustedRoot: w.pki.rootPem });
  assert.equal(v.teeType, 'TDX');
  assert.equal(v.status, 'UpToDate');
  const paths = s.requests.slice(before).map((r) => r.url.split('?')[0]).sort();
  assert.deepEqual(paths, ['/sgx/certification/v4/pckcrl', '/sgx/certification/v4/rootcacrl', '/tdx/certification/v4/qe/identity', '/tdx/certification/v4/tcb']);
  // The same platform's SGX quote still gets the SGX items.
  const sgxQuote = makeQuote({ platform });
  const sgx = await fetchCollateralForQuote(sgxQuote, [s.url], { ...FAST, trustedRoot: w.pki.rootPem });
  assert.equal(verifyQuote(sgxQuote, sgx, { at: new Date(), trustedRoot: w.pki.rootPem }).status, 'UpToDate');
});

test('an item is checked for what it claims to be: SGX TCB Info or the QE identity served as their TDX kinds are refused', async () => {
  const fmspc = platform.fmspc.toString('hex');
  const sources = new SourceSet([s.url], FAST);
  const sgxTcb = await sources.fetchItem({ kind: 'tcb_info', key: fmspc }, w.anchor, new Date(), () => new Date());
  const sgxQe = await sources.fetchItem({ kind: 'qe_identity', key: '' }, w.anchor, new Date(), () => new Date());
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      assert.ok(e instanceof SourceError, String(e));
      return e.code;
    }
    return 'accepted';
  };
  assert.equal(code(() => validateItem({ kind: 'tdx_tcb_info', key: fmspc }, sgxTcb.raw, sgxTcb.issuerChain, w.anchor)), 'tcb_info_mismatch');
  assert.equal(code(() => validateItem({ kind: 'td_qe_identity', key: '' }, sgxQe.raw, sgxQe.issuerChain, w.anchor)), 'qe_identity_mismatch');
  const tdxTcb = await sources.fetchItem({ kind: 'tdx_tcb_info', key: fmspc }, w.anchor, new Date(), () => new Date());
  assert.equal(code(() => validateItem({ kind: 'tcb_info', key: fmspc }, tdxTcb.raw, tdxTcb.issuerChain, w.anchor)), 'tcb_info_mismatch');
  assert.equal(code(() => validateItem({ kind: 'tdx_tcb_info', key: fmspc }, tdxTcb.raw, tdxTcb.issuerChain, w.anchor)), 'accepted');
});

test('the provider caches TDX items beside the SGX ones of the same platform; the server verifier uses them; export and import carry them', async () => {
  const cache = await openCache('tdx.db');
  const provider = new CollateralProvider({ cache, sources: new SourceSet([s.url], FAST), trustedRoot: w.anchor });
  const verify = makeQuoteVerifier({ collateral: provider, trustedRoot: w.pki.rootPem });
  assert.equal((await verify(tdxQuote, new Date())).teeType, 'TDX');
  assert.equal((await verify(makeQuote({ platform }), new Date())).teeType, 'SGX');
  const kinds = (await cache.list()).map((it) => it.kind).sort();
  assert.deepEqual(kinds, ['pck_crl', 'qe_identity', 'root_ca_crl', 'tcb_info', 'td_qe_identity', 'tdx_tcb_info']);
  // Served from the cache: no new request for a second TDX quote.
  const n = s.requests.length;
  await provider.get(platform.fmspc.toString('hex'), 'processor', new Date(Date.now() + 5000), 'TDX');
  assert.equal(s.requests.length, n);

  const bundle = JSON.stringify(await exportBundle(cache));
  const offline = await openCache('offline.db');
  const result = await importBundle(bundle, offline, w.anchor);
  assert.equal(result.stored.length, 6);
  // Air-gapped: no source at all, the imported TDX items verify the TDX quote.
  const air = new CollateralProvider({ cache: offline, sources: new SourceSet([], FAST), trustedRoot: w.anchor });
  const v = await makeQuoteVerifier({ collateral: air, trustedRoot: w.pki.rootPem })(tdxQuote, new Date());
  assert.equal(v.status, 'UpToDate');
});

test('development mode collateral (no PCCS) serves TDX quotes too', async () => {
  const verify = makeQuoteVerifier({ collateral: new SimCollateralSource(w.pki), trustedRoot: w.pki.rootPem });
  assert.equal((await verify(tdxQuote, new Date())).status, 'UpToDate');
  assert.equal((await verify(makeQuote({ platform }), new Date())).status, 'UpToDate');
});

test('the sim PCCS answers TDX paths like Intel: TCB Info and QE identity only, API v4 only', async () => {
  const get = async (p: string) => (await fetch(`${s.url}${p}`)).status;
  assert.equal(await get(`/tdx/certification/v4/tcb?fmspc=${platform.fmspc.toString('hex')}`), 200);
  assert.equal(await get('/tdx/certification/v4/qe/identity'), 200);
  assert.equal(await get('/tdx/certification/v4/pckcrl?ca=processor'), 404);
  assert.equal(await get(`/tdx/certification/v3/tcb?fmspc=${platform.fmspc.toString('hex')}`), 404);
});
