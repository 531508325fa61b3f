// Failed admin authentications reach the audit trail as summaries (issue #14 finding 9), like the refusals at
// the nonce check: at most one entry per interval, with counts by code and route and the busiest addresses,
// never the presented token, and what is left written when the server closes.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { before, test } from 'node:test';
import { makePolicySet } from '../src/policy/load.ts';
import { buildApp } from '../src/server/app.ts';
import type { AppOptions } from '../src/server/deps.ts';
import { makeQuoteVerifier } from '../src/server/quote-verifier.ts';
import { SimCollateralSource } from '../src/server/sim-collateral.ts';
import { SimPki } from '../src/sim/pki.ts';
import { storeOn } from '../src/store/store.ts';
import { sqliteEngine } from './helpers/engines.ts';

let pki: SimPki;
before(async () => {
  pki = await SimPki.create();
});

async function make(opts: AppOptions = {}) {
  const store = storeOn(await sqliteEngine());
  const mk = crypto.randomBytes(32);
  const collateral = new SimCollateralSource(pki);
  const { app } = await buildApp(
    {
      nonces: store.nonces(mk),
      secrets: store.secrets(mk),
      audit: store.audit,
      tokens: store.tokens,
      keys: store.keys(mk),
      policies: { current: () => makePolicySet([]), reload: () => makePolicySet([]) },
      verifyQuote: makeQuoteVerifier({ collateral, trustedRoot: pki.rootPem }),
      collateral,
      root: 'simulated',
    },
    { rateLimit: false, adminRateLimit: false, ...opts },
  );
  const summaries = () => store.audit.list({ type: 'admin_auth_failures' });
  return { app, audit: store.audit, summaries, admin: (await store.tokens.create('admin')).token, auditor: (await store.tokens.create('auditor')).token };
}

test('failed admin authentications are audited as a summary: counts by code and route, the busiest addresses, no token', async () => {
  const { app, audit, summaries, admin, auditor } = await make();
  const guessed = `wdn_${'0'.repeat(16)}_${crypto.randomBytes(24).toString('base64url')}`;
  for (let i = 0; i < 40; i++) {
    const r = await app.inject({ method: 'GET', url: '/v1/admin/secrets', remoteAddress: '10.0.0.1', headers: { authorization: `Bearer ${guessed}` } });
    assert.equal(r.statusCode, 401);
  }
  for (let i = 0; i < 10; i++) assert.equal((await app.inject({ method: 'GET', url: '/v1/admin/audit', remoteAddress: '10.0.0.1' })).statusCode, 401);
  for (let i = 0; i < 5; i++) {
    const r = await app.inject({ method: 'POST', url: '/v1/admin/policies/reload', remoteAddress: '10.0.0.2', headers: { authorization: `Bearer ${auditor}`, 'content-type': 'application/json' }, payload: '{}' });
    assert.equal(r.statusCode, 403);
  }
  assert.equal((await app.inject({ method: 'GET', url: '/v1/admin/secrets', remoteAddress: '10.0.0.3', headers: { authorization: `Bearer ${admin}` } })).statusCode, 200);
  assert.equal((await summaries()).length, 0, 'no row per request: the interval is still open');

  await app.close();
  const rows = await summaries();
  assert.equal(rows.length, 1, JSON.stringify(rows));
  const d = rows[0]!.data;
  assert.equal(rows[0]!.outcome, 'summary');
  assert.equal(d['count'], 55);
  assert.deepEqual(d['reasons'], { 'forbidden POST /v1/admin/policies/reload': 5, 'unauthorized GET /v1/admin/audit': 10, 'unauthorized GET /v1/admin/secrets': 40 });
  assert.equal(d['clients'], 2);
  assert.deepEqual(d['top'], [{ client: '10.0.0.1', count: 50 }, { client: '10.0.0.2', count: 5 }]);
  const text = JSON.stringify(rows);
  assert.ok(!text.includes(guessed.slice(21)) && !text.includes(auditor.slice(21)), 'no presented token in the trail');
  assert.deepEqual(await audit.verify(), { ok: true, count: (await audit.list()).length });
});

test('a flood from many addresses adds one row per interval', async () => {
  const interval = 500;
  const { app, summaries } = await make({ auditSummaryIntervalMs: interval });
  const t0 = Date.now();
  for (let i = 0; i < 50; i++) await app.inject({ method: 'GET', url: '/v1/admin/secrets', remoteAddress: `10.1.0.${i}` });
  const elapsed = Date.now() - t0;
  // The intervals end by themselves (no close): wait until all 50 are written, with a generous deadline.
  const counted = async () => (await summaries()).reduce((n, r) => n + Number(r.data['count']), 0);
  for (let waited = 0; (await counted()) < 50 && waited < 10_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
  const rows = await summaries();
  assert.equal(await counted(), 50);
  // However slow the machine, never more rows than intervals the flood spanned (one, usually).
  assert.ok(rows.length <= Math.floor(elapsed / interval) + 1, `${rows.length} rows in ${elapsed} ms`);
  if (rows.length === 1) {
    assert.equal(rows[0]!.data['clients'], 50);
    assert.equal((rows[0]!.data['top'] as unknown[]).length, 10, 'the busiest ten are named, the rest counted');
  }
  await app.inject({ method: 'GET', url: '/v1/admin/secrets', remoteAddress: '10.1.0.99' });
  await app.close();
  assert.equal((await summaries()).length, rows.length + 1);
  assert.deepEqual((await summaries()).at(-1)!.data['top'], [{ client: '10.1.0.99', count: 1 }]);
});
