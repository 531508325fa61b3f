// #14 finding 1: a quote whose PCK chain comes from the attacker's own PKI, with a copy of the pinned
// root appended and a made-up FMSPC, made the server fetch TCB Info for that FMSPC and store it (100 such
// quotes grew collateral_cache from 1 to 101 TCB Info rows). The whole chain is now proven before any
// source is asked; and what requests can add to the cache at all is bounded.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { StoreCollateralCache } from '../src/store/collateral-cache.ts';
import { CollateralUnavailableError } from '../src/collateral/errors.ts';
import { CollateralProvider } from '../src/collateral/provider.ts';
import { SourceSet } from '../src/collateral/sources.ts';
import { makeQuoteVerifier } from '../src/server/quote-verifier.ts';
import { SimPki, makeQuote } from '../src/sim/index.ts';
import type { PccsServer } from '../src/sim/pccs-server.ts';
import { FAST, makeWorld, pccs, type World } from './collateral-helpers.ts';

let w: World;
let server: PccsServer;
const caches: StoreCollateralCache[] = [];

before(async () => {
  w = await makeWorld();
  server = await pccs(w);
});
after(async () => {
  await server.close();
  for (const c of caches) await c.close();
  fs.rmSync(w.dir, { recursive: true, force: true });
});

async function provider(name: string, maxTcbInfos?: number): Promise<{ cache: StoreCollateralCache; provider: CollateralProvider }> {
  const cache = await StoreCollateralCache.open(path.join(w.dir, name));
  caches.push(cache);
  return { cache, provider: new CollateralProvider({ cache, sources: new SourceSet([server.url], FAST), trustedRoot: w.anchor, ...(maxTcbInfos ? { maxTcbInfos } : {}) }) };
}

const tcbInfoRows = async (cache: StoreCollateralCache) => (await cache.engine.get<{ n: number }>(`SELECT COUNT(*) AS n FROM collateral_cache WHERE kind = 'tcb_info'`))!;

test('100 quotes with a copied root and made-up FMSPCs add no collateral_cache row', async () => {
  const { cache, provider: p } = await provider('copied.db');
  const verify = makeQuoteVerifier({ collateral: p, trustedRoot: w.pki.rootPem });
  // One genuine platform first, as a running server has: one TCB Info row.
  assert.equal((await verify(w.quote, new Date())).status, 'UpToDate');
  assert.equal((await tcbInfoRows(cache)).n, 1);

  const attacker = await SimPki.create();
  const requestsBefore = server.requests.length;
  for (let i = 0; i < 100; i++) {
    const made = await attacker.platform({ fmspc: crypto.randomBytes(6) });
    const chain = made.leafPem + attacker.ca('processor').pem + w.pki.root.pem;
    const quote = makeQuote({ platform: made, certificationData: Buffer.from(`${chain}\0`, 'latin1') });
    await assert.rejects(verify(quote, new Date()), (e: { code?: string }) => e.code === 'invalid_certificate_chain');
  }
  assert.equal((await tcbInfoRows(cache)).n, 1, 'collateral_cache holds the genuine TCB Info only');
  assert.equal(server.requests.length, requestsBefore, 'the PCCS was never asked about a made-up platform');
});

test('requests add at most maxTcbInfos TCB Infos; the operator can still fetch more', async () => {
  const { cache, provider: p } = await provider('bounded.db', 2);
  const fmspcs = ['00906ed50001', '00906ed50002', '00906ed50003'];
  const now = new Date();
  await p.get(fmspcs[0]!, 'processor', now);
  await p.get(fmspcs[1]!, 'processor', now);
  await assert.rejects(p.get(fmspcs[2]!, 'processor', now), (e: unknown) => e instanceof CollateralUnavailableError && /the most requests may add/.test(e.message));
  assert.equal((await tcbInfoRows(cache)).n, 2);
  // A platform already cached keeps being served, and refreshed.
  await p.get(fmspcs[0]!, 'processor', now);
  // `warden collateral fetch` stores through fetchAndStore, which is not bounded.
  await p.fetchAndStore({ kind: 'tcb_info', key: fmspcs[2]! }, now);
  assert.equal((await tcbInfoRows(cache)).n, 3);
});
