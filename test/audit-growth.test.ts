// Issue #14, finding 2: anyone can send attests with made-up nonces. Those that never get past the nonce
// check are counted (in /metrics) and summarised in at most one audit entry per interval, never one
// row each; a request past the nonce check keeps its own entry.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { before, test } from 'node:test';
import { buildApp } from '../src/server/app.ts';
import { AuditSummary } from '../src/server/audit-summary.ts';
import type { AppDeps, AuditLogLike } from '../src/server/deps.ts';
import { makeQuoteVerifier } from '../src/server/quote-verifier.ts';
import { SimCollateralSource } from '../src/server/sim-collateral.ts';
import { makePolicySet } from '../src/policy/load.ts';
import { SimPki } from '../src/sim/pki.ts';
import type { Engine } from '../src/store/engine.ts';
import { storeOn } from '../src/store/store.ts';
import { sqliteEngine } from './helpers/engines.ts';

let pki: SimPki;
before(async () => {
  pki = await SimPki.create();
});

const publicKey = () => crypto.createECDH('prime256v1').generateKeys().toString('base64');
const rows = async (db: Engine) => Number((await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM audit`))!.n);

test('attests refused at the nonce check add no row each: counted in /metrics, summarised in one entry', async () => {
  const db = await sqliteEngine();
  const store = storeOn(db);
  const mk = crypto.randomBytes(32);
  const collateral = new SimCollateralSource(pki);
  const deps: AppDeps = {
    nonces: store.nonces(mk),
    secrets: store.secrets(mk),
    audit: store.audit,
    tokens: store.tokens,
    keys: store.keys(mk),
    policies: { current: () => makePolicySet([]), reload: () => makePolicySet([]) },
    verifyQuote: makeQuoteVerifier({ collateral, trustedRoot: pki.rootPem }),
    collateral,
    root: 'simulated',
  };
  const { app } = await buildApp(deps, { rateLimit: false, adminRateLimit: false });
  const attest = (nonce: string) =>
    app.inject({ method: 'POST', url: '/v1/attest', payload: { nonce, quote: Buffer.alloc(100, 7).toString('base64'), publicKey: publicKey(), secrets: ['disk-key'] } });
  const start = await rows(db);

  // A flood of made-up nonces: 401 each, no row each.
  for (let i = 0; i < 300; i++) {
    const r = await attest(crypto.randomBytes(32).toString('base64'));
    assert.equal(r.statusCode, 401);
    assert.equal(r.json().error.code, 'nonce_unknown');
  }
  // A real nonce spent on a garbage quote was past the nonce check: its own entry. Its replays are not.
  const nonce = (await app.inject({ method: 'POST', url: '/v1/challenge' })).json().nonce as string;
  assert.equal((await attest(nonce)).statusCode, 400);
  for (let i = 0; i < 5; i++) assert.equal((await attest(nonce)).json().error.code, 'nonce_used');
  await store.audit.flushed();
  assert.equal((await rows(db)) - start, 1, 'only the request past the nonce check has a row');
  const [own] = await store.audit.recent(1, 'attestation');
  assert.equal(own!.outcome, 'denied');
  assert.equal(own!.data['nonce'], nonce);

  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  assert.match(metrics, /warden_attestations_total\{outcome="denied",reason="nonce_unknown"\} 300\b/);
  assert.match(metrics, /warden_attestations_total\{outcome="denied",reason="nonce_used"\} 5\b/);

  // Closing the server writes the summary of what was counted: one entry.
  await app.close();
  assert.equal((await rows(db)) - start, 2);
  const [summary] = await store.audit.recent(1);
  assert.equal(summary!.type, 'attestation');
  assert.equal(summary!.outcome, 'summary');
  assert.equal(summary!.data['count'], 305);
  assert.deepEqual(summary!.data['reasons'], { nonce_unknown: 300, nonce_used: 5 });
  assert.equal(summary!.data['clients'], 1);
  assert.deepEqual(summary!.data['top'], [{ client: '127.0.0.1', count: 305 }]);
  assert.deepEqual(await store.audit.verify(), { ok: true, count: (await rows(db)) });
  await store.close();
});

test('a summary is written only when something was counted, names the busiest clients, and loses nothing when a write fails', async () => {
  const written: Array<Record<string, unknown>> = [];
  let fail = false;
  const audit: AuditLogLike = {
    append: async (e) => {
      if (fail) throw new Error('database down');
      written.push(e.data);
      return e;
    },
    list: async () => [],
    recent: async () => [],
    verify: async () => ({ ok: true, count: 0 }),
  };
  let t = Date.parse('2026-01-01T00:00:00Z');
  const s = new AuditSummary(audit, { type: 'attestation', what: 'test', now: () => new Date(t), intervalMs: 3600_000 });
  await s.flush();
  assert.equal(written.length, 0, 'nothing counted, nothing written');
  for (let i = 0; i < 20; i++) s.note('nonce_unknown', `10.0.0.${i}`);
  for (let i = 0; i < 50; i++) s.note('nonce_unknown', '192.0.2.7');
  s.note('nonce_expired', '192.0.2.7');
  t += 60_000;
  fail = true;
  await s.flush();
  assert.equal(written.length, 0);
  fail = false;
  s.note('nonce_used', '10.0.0.1');
  t += 60_000;
  await s.close();
  assert.equal(written.length, 1);
  const d = written[0]!;
  assert.equal(d['count'], 72, 'what a failed write held is in the next summary');
  assert.deepEqual(d['reasons'], { nonce_expired: 1, nonce_unknown: 70, nonce_used: 1 });
  assert.equal(d['clients'], 21);
  assert.equal(d['from'], '2026-01-01T00:00:00.000Z');
  assert.equal(d['to'], '2026-01-01T00:02:00.000Z');
  const top = d['top'] as Array<{ client: string; count: number }>;
  assert.equal(top.length, 10);
  assert.deepEqual(top.slice(0, 2), [{ client: '192.0.2.7', count: 51 }, { client: '10.0.0.1', count: 2 }]);
});

test('a long audit verify through the API never holds up /healthz', async () => {
  const db = await sqliteEngine();
  const store = storeOn(db);
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
    { rateLimit: false, adminRateLimit: false },
  );
  for (let k = 0; k < 20; k++) await Promise.all(Array.from({ length: 1000 }, (_, i) => store.audit.append({ type: 't', data: { k, i } })));
  const auditor = (await store.tokens.create('auditor')).token;
  const order: string[] = [];
  const verify = app.inject({ method: 'GET', url: '/v1/admin/audit/verify', headers: { authorization: `Bearer ${auditor}` } }).then((r) => {
    order.push('verify');
    return r;
  });
  // Asked once the verification is under way.
  await new Promise((r) => setImmediate(r));
  const health = app.inject({ method: 'GET', url: '/healthz' }).then((r) => {
    order.push('healthz');
    return r;
  });
  const [v, hz] = await Promise.all([verify, health]);
  assert.equal(hz.statusCode, 200);
  assert.equal(v.statusCode, 200);
  assert.equal(v.json().count, 20_000);
  assert.deepEqual(order, ['healthz', 'verify'], 'healthz answered while 20,000 entries were being verified');
  await app.close();
  await store.close();
});
