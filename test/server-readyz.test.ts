// /readyz with a real collateral provider and a sim PCCS over HTTP: a warm cache with every source down is
// 'degraded' (still 200) with the time left, not 'ok'; nothing usable and no source is 503.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { StoreCollateralCache } from '../src/store/collateral-cache.ts';
import { CollateralProvider, SOURCE_PROBE_INTERVAL_MS, SOURCE_PROBE_WAIT_MS } from '../src/collateral/provider.ts';
import { SourceSet } from '../src/collateral/sources.ts';
import { makePolicySet } from '../src/policy/load.ts';
import { buildApp } from '../src/server/app.ts';
import { makeQuoteVerifier } from '../src/server/quote-verifier.ts';
import type { PccsServer } from '../src/sim/pccs-server.ts';
import { storeOn } from '../src/store/store.ts';
import { sqliteEngine } from './helpers/engines.ts';
import { FAST, makeWorld, pccs, type World } from './collateral-helpers.ts';

let w: World;
let s: PccsServer;
let app: FastifyInstance;
let cache: StoreCollateralCache;

before(async () => {
  w = await makeWorld();
  s = await pccs(w);
});
after(async () => {
  await app?.close();
  await cache?.close();
  await s.close();
  fs.rmSync(w.dir, { recursive: true, force: true });
});

interface Ready {
  status: string;
  checks: Record<string, boolean>;
  collateral?: { state: string; sourcesReachable: boolean; earliestExpiry?: string; expiresInSeconds?: number };
}

test('readyz: ok while a source answers; degraded with the time left when every source is down and the cache is warm; 503 when nothing is left', async () => {
  let clock = new Date();
  const store = storeOn(await sqliteEngine());
  cache = await StoreCollateralCache.open(path.join(w.dir, 'ready.db'));
  const provider = new CollateralProvider({ cache, sources: new SourceSet([s.url], FAST), trustedRoot: w.anchor, clock: () => clock });
  const mk = crypto.randomBytes(32);
  ({ app } = await buildApp(
    {
      nonces: store.nonces(mk),
      secrets: store.secrets(mk),
      audit: store.audit,
      tokens: store.tokens,
      keys: store.keys(mk),
      policies: { current: () => makePolicySet([]), reload: () => makePolicySet([]) },
      verifyQuote: makeQuoteVerifier({ collateral: provider, trustedRoot: w.pki.rootPem }),
      collateral: provider,
      root: 'custom',
    },
    { validateResponses: true, rateLimit: false, adminRateLimit: false, now: () => clock },
  ));
  const ready = async () => {
    const r = await app.inject({ method: 'GET', url: '/readyz' });
    // The policy-set hash (replica drift) is there in every answer; the rest is what this test is about.
    const { policySetHash, ...body } = r.json() as Ready & { policySetHash?: string };
    assert.match(policySetHash ?? '', /^[0-9a-f]{64}$/);
    return { code: r.statusCode, body: body as Ready };
  };
  const later = (ms: number) => (clock = new Date(clock.getTime() + ms));

  // Cold cache, source up.
  let r = await ready();
  assert.equal(r.code, 200);
  assert.deepEqual(r.body, { status: 'ok', checks: { database: true, collateral: true }, collateral: { state: 'ok', sourcesReachable: true } });

  // Warm cache, source up: ok, and the time the cache alone would last.
  await provider.get(w.fmspc, 'processor', clock);
  const earliest = Math.min(...(await cache.list()).map((it) => it.nextUpdate.getTime()));
  later(SOURCE_PROBE_INTERVAL_MS);
  r = await ready();
  assert.equal(r.body.status, 'ok');
  assert.equal(r.body.collateral?.earliestExpiry, new Date(earliest).toISOString());

  // Every source down, cache warm: degraded, still 200 (it serves), and how long it can go on.
  s.setFailure('5xx');
  const seen = s.requests.length;
  later(SOURCE_PROBE_INTERVAL_MS);
  r = await ready();
  assert.equal(r.code, 200);
  assert.equal(r.body.status, 'degraded', JSON.stringify(r.body));
  assert.deepEqual(r.body.checks, { database: true, collateral: true });
  assert.equal(r.body.collateral?.state, 'degraded');
  assert.equal(r.body.collateral?.sourcesReachable, false);
  assert.equal(r.body.collateral?.earliestExpiry, new Date(earliest).toISOString());
  assert.equal(r.body.collateral?.expiresInSeconds, Math.floor((earliest - clock.getTime()) / 1000));
  // The probe result is reused inside the interval: a load balancer polling /readyz does not hammer the PCCS.
  const probed = s.requests.length;
  assert.ok(probed > seen, 'the sources were asked');
  for (let i = 0; i < 5; i++) assert.equal((await ready()).body.status, 'degraded');
  assert.equal(s.requests.length, probed, 'no new probe inside the interval');

  // A source that hangs counts as unreachable once the bounded wait is over (FAST gives up at 500 ms per try anyway).
  s.setFailure('timeout');
  later(SOURCE_PROBE_INTERVAL_MS);
  assert.ok(SOURCE_PROBE_WAIT_MS >= 1000);
  assert.equal((await ready()).body.status, 'degraded');

  // The source is back: ok again at the next probe.
  s.setFailure('none');
  later(SOURCE_PROBE_INTERVAL_MS);
  assert.equal((await ready()).body.status, 'ok');

  // Past every cached item's nextUpdate, with the source down: nothing can be served.
  s.setFailure('5xx');
  clock = new Date(Math.max(...(await cache.list()).map((it) => it.nextUpdate.getTime())) + 1000);
  r = await ready();
  assert.equal(r.code, 503);
  assert.deepEqual(r.body, { status: 'not_ready', checks: { database: true, collateral: false }, collateral: { state: 'unavailable', sourcesReachable: false } });
});

test('a probe still hanging from an earlier interval does not answer for the next one: the source is back, readiness says ok', async () => {
  let clock = new Date();
  const c = await StoreCollateralCache.open(path.join(w.dir, 'hung-probe.db'));
  try {
    // A source that hangs far longer than a probe may wait (and than this test runs).
    const provider = new CollateralProvider({ cache: c, sources: new SourceSet([s.url], { timeoutMs: 120_000, retries: 0, backoffMs: 5 }), trustedRoot: w.anchor, clock: () => clock });
    s.setFailure('none'); // the test above leaves the source failing
    await provider.get(w.fmspc, 'processor', clock);
    s.setFailure('timeout');
    clock = new Date(clock.getTime() + SOURCE_PROBE_INTERVAL_MS);
    assert.equal((await provider.readiness(clock)).state, 'degraded', 'the hung probe is given up after SOURCE_PROBE_WAIT_MS');
    s.setFailure('none');
    clock = new Date(clock.getTime() + SOURCE_PROBE_INTERVAL_MS);
    const r = await provider.readiness(clock);
    assert.equal(r.state, 'ok', 'the next interval probes again instead of waiting on the hung probe');
    assert.equal(r.sourcesReachable, true);
    // Inside the same interval the answer is reused, and the hung probe ending later cannot overwrite it.
    assert.equal((await provider.readiness(clock)).state, 'ok');
  } finally {
    s.setFailure('none');
    await c.close();
  }
});
