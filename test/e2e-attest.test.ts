// End to end over real HTTPS with a real SQLite file and the simulated PKI: the enclave protocol,
// every refusal with its code, one-shot nonces under concurrency, the audit chain, restarts, and
// that no secret value ever reaches logs, audit or database in the clear.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadOpenApi } from '../src/server/openapi.ts';
import { SIM_ENCLAVE } from '../src/sim/report.ts';
import { SimPki } from '../src/sim/pki.ts';
import type { SimPlatform } from '../src/sim/platform.ts';
import { tcbForStatus } from '../src/sim/tcb-levels.ts';
import { Enclave, makeCerts, request, startWarden, verifyToken, type Certs, type Warden } from './e2e-harness.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-e2e-'));
const dataDir = path.join(tmp, 'data');
const policiesDir = path.join(tmp, 'policies');
const masterKey = crypto.randomBytes(32);
const MRENCLAVE = SIM_ENCLAVE.mrEnclave.toString('hex');
const OTHER_SIGNER = crypto.createHash('sha256').update('another signer').digest('hex');
// Values the test creates and must never see outside sealed ciphertexts.
const API_TOKEN = crypto.randomBytes(24);
const seenSecretValues: Buffer[] = [API_TOKEN];

let pki: SimPki;
let platform: SimPlatform;
let certs: Certs;
let w: Warden;
let clock = 0; // ms added to the server's clock
let admin = '';
let auditor = '';

const good = { ...SIM_ENCLAVE, isvSvn: 3, isvProdId: 1 };

function call(method: string, p: string, body?: unknown, headers: Record<string, string> = {}) {
  return request(w.url, certs.ca, method, p, body, headers);
}

async function start(): Promise<void> {
  w = await startWarden({ dataDir, policiesDir, masterKey, pki, certs, appOptions: { now: () => new Date(Date.now() + clock) } });
}

async function challenge(): Promise<{ nonceB64: string; nonce: Buffer }> {
  const r = await call('POST', '/v1/challenge');
  assert.equal(r.status, 200, r.text);
  return { nonceB64: r.json.nonce, nonce: Buffer.from(r.json.nonce, 'base64') };
}

async function attest(e: Enclave, secrets: string[], o: Parameters<Enclave['quoteFor']>[1] & { tamper?: (q: Buffer) => void } = {}) {
  const { nonceB64, nonce } = await challenge();
  const quote = e.quoteFor(nonce, o);
  o.tamper?.(quote);
  const r = await call('POST', '/v1/attest', { nonce: nonceB64, quote: quote.toString('base64'), publicKey: e.pkE.toString('base64'), secrets });
  return { r, nonce, nonceB64, quote };
}

async function serverHpkeKey(): Promise<Buffer> {
  const r = await call('GET', '/v1/server-keys');
  assert.equal(r.status, 200);
  return Buffer.from(r.json.hpke.publicKey, 'base64');
}

before(async () => {
  fs.mkdirSync(policiesDir, { recursive: true });
  fs.writeFileSync(
    path.join(policiesDir, 'app.yaml'),
    [
      'name: app',
      'version: 1',
      'match:',
      `  - mrenclave: ${MRENCLAVE}`,
      '    min_isvsvn: 3',
      'tcb:',
      '  statuses: [UpToDate]',
      'secrets:',
      '  - name: disk-key',
      '    versions: current+previous',
      '  - api-token',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(
    path.join(policiesDir, 'other.yaml'),
    ['name: other', 'version: 1', 'match:', `  - mrsigner: ${OTHER_SIGNER}`, '    isvprodid: 9', '    min_isvsvn: 1', 'secrets:', '  - other-key', ''].join('\n'),
  );
  [pki, certs] = await Promise.all([SimPki.create(), makeCerts(path.join(tmp, 'certs'))]);
  platform = await pki.platform({});
  await start();
  await w.secrets.create('disk-key', 'sefs-key');
  await w.secrets.create('api-token', 'bytes', API_TOKEN);
  await w.secrets.create('other-key', 'sefs-key');
  admin = (await w.tokens.create('admin', 'e2e')).token;
  auditor = (await w.tokens.create('auditor', 'e2e')).token;
});

after(async () => {
  await w?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('a matching enclave', () => {
  test('receives every requested secret, opens each, and gets a verifiable EAR token', async () => {
    const e = new Enclave(platform, good);
    const serverPub = await serverHpkeKey();
    const { r, nonceB64, nonce } = await attest(e, ['disk-key', 'api-token']);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.policy, 'app');
    assert.equal(r.json.tcbStatus, 'UpToDate');
    const byName = new Map<string, Buffer>();
    for (const s of r.json.secrets) byName.set(s.name, e.open(serverPub, nonce, s));
    assert.deepEqual(byName.get('api-token'), API_TOKEN);
    const disk = byName.get('disk-key');
    assert.equal(disk?.length, 16);
    assert.deepEqual(disk, (await w.secrets.get('disk-key'))?.value);
    seenSecretValues.push(disk as Buffer);

    const jwks = (await call('GET', '/.well-known/jwks.json')).json;
    const { header, claims } = verifyToken(r.json.token, jwks);
    assert.equal(header['alg'], 'ES256');
    assert.equal(claims['eat_nonce'], nonceB64);
    assert.equal(claims['warden.root'], 'simulated');
    assert.ok(typeof claims['exp'] === 'number' && typeof claims['iat'] === 'number' && claims['exp'] > claims['iat']);
    const sub = (claims['submods'] as Record<string, Record<string, unknown>>)['sgx-enclave'];
    assert.equal(sub?.['ear.status'], 'affirming');
    assert.deepEqual(sub?.['warden.policies'], [{ name: 'app', version: 1 }]);
    const sgx = sub?.['warden.sgx'] as Record<string, unknown>;
    assert.equal(sgx['mrenclave'], MRENCLAVE);
    assert.equal(sgx['isvsvn'], 3);
    assert.equal(sgx['debug'], false);
    assert.equal(sgx['tcb_status'], 'UpToDate');
    assert.match(String(sub?.['warden.policy_set_hash']), /^[0-9a-f]{64}$/);
  });

  test('a sealed secret does not open with another key, another nonce or another name', async () => {
    const e = new Enclave(platform, good);
    const serverPub = await serverHpkeKey();
    const { r, nonce } = await attest(e, ['api-token']);
    assert.equal(r.status, 200, r.text);
    const s = r.json.secrets[0];
    const stranger = new Enclave(platform, good);
    assert.throws(() => stranger.open(serverPub, nonce, s));
    assert.throws(() => e.open(serverPub, crypto.randomBytes(32), s));
    assert.throws(() => e.open(serverPub, nonce, { ...s, name: 'disk-key' }));
    assert.deepEqual(e.open(serverPub, nonce, s), API_TOKEN);
  });
});

describe('refusals, each with its code', () => {
  test('a debug enclave: 403 policy_denied naming the debug check', async () => {
    const { r } = await attest(new Enclave(platform, { ...good, debug: true }), ['disk-key']);
    assert.ok(r.json.error.message && !r.text.includes('INTEL-SA'));
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'policy_denied');
    assert.deepEqual(r.json.error.checks, ['app/debug']);
  });

  test('a lower ISVSVN: 403 policy_denied naming min_isvsvn', async () => {
    const { r } = await attest(new Enclave(platform, { ...good, isvSvn: 2 }), ['disk-key']);
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'policy_denied');
    assert.deepEqual(r.json.error.checks, ['app/min_isvsvn']);
  });

  test('an unlisted MRENCLAVE: 403 policy_denied', async () => {
    const { r } = await attest(new Enclave(platform, { ...good, mrEnclave: crypto.randomBytes(32) }), ['disk-key']);
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'policy_denied');
    assert.deepEqual(r.json.error.checks, ['identity_not_listed']);
  });

  test('a TCB status the policy does not accept (OutOfDate): 403 policy_denied naming tcb_status', async () => {
    const outOfDate = await pki.platform(tcbForStatus('OutOfDate'));
    const { r } = await attest(new Enclave(outOfDate, good), ['disk-key']);
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'policy_denied');
    assert.ok(r.json.error.checks.includes('app/tcb_status'), r.text);
  });

  test('a replayed nonce: 401 nonce_used', async () => {
    const e = new Enclave(platform, good);
    const { r, nonceB64, quote } = await attest(e, ['disk-key']);
    assert.equal(r.status, 200, r.text);
    const again = await call('POST', '/v1/attest', { nonce: nonceB64, quote: quote.toString('base64'), publicKey: e.pkE.toString('base64'), secrets: ['disk-key'] });
    assert.equal(again.status, 401);
    assert.equal(again.json.error.code, 'nonce_used');
  });

  test('an unknown nonce: 401 nonce_unknown', async () => {
    const e = new Enclave(platform, good);
    const nonce = crypto.randomBytes(32);
    const r = await call('POST', '/v1/attest', { nonce: nonce.toString('base64'), quote: e.quoteFor(nonce).toString('base64'), publicKey: e.pkE.toString('base64'), secrets: ['disk-key'] });
    assert.equal(r.status, 401);
    assert.equal(r.json.error.code, 'nonce_unknown');
  });

  test('an expired nonce: 401 nonce_expired (expired when now >= expiresAt)', async () => {
    const e = new Enclave(platform, good);
    const c = await call('POST', '/v1/challenge', {});
    assert.equal(c.status, 200);
    const expiresAt = Date.parse(c.json.expiresAt);
    assert.ok(expiresAt > Date.now() + 60_000, 'default lifetime is 120 s');
    clock = expiresAt - Date.now();
    try {
      const nonce = Buffer.from(c.json.nonce, 'base64');
      const r = await call('POST', '/v1/attest', { nonce: c.json.nonce, quote: e.quoteFor(nonce).toString('base64'), publicKey: e.pkE.toString('base64'), secrets: ['disk-key'] });
      assert.equal(r.status, 401);
      assert.equal(r.json.error.code, 'nonce_expired');
    } finally {
      clock = 0;
    }
  });

  test('report data binding another key: 403 binding_mismatch', async () => {
    const e = new Enclave(platform, good);
    const other = new Enclave(platform, good);
    const { nonceB64, nonce } = await challenge();
    const quote = other.quoteFor(nonce); // binds the other enclave's key
    const r = await call('POST', '/v1/attest', { nonce: nonceB64, quote: quote.toString('base64'), publicKey: e.pkE.toString('base64'), secrets: ['disk-key'] });
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'binding_mismatch');
  });

  test('report data with non-zero bytes 32-63: 403 binding_mismatch', async () => {
    const e = new Enclave(platform, good);
    const { nonceB64, nonce } = await challenge();
    const { reportDataFor } = await import('./helpers/enclave-side.ts');
    const rd = reportDataFor(nonce, e.pkE);
    rd[63] = 1;
    const r = await call('POST', '/v1/attest', { nonce: nonceB64, quote: e.quoteFor(nonce, { reportData: rd }).toString('base64'), publicKey: e.pkE.toString('base64'), secrets: ['disk-key'] });
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'binding_mismatch');
  });

  test('a tampered quote: 403 signature_invalid, and the nonce is spent', async () => {
    const e = new Enclave(platform, good);
    const { r, nonceB64, quote } = await attest(e, ['disk-key'], { tamper: (q) => void (q[48 + 258] = 9) }); // ISVSVN byte of the body
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'signature_invalid');
    const again = await call('POST', '/v1/attest', { nonce: nonceB64, quote: quote.toString('base64'), publicKey: e.pkE.toString('base64'), secrets: ['disk-key'] });
    assert.equal(again.json.error.code, 'nonce_used');
  });

  test('a truncated quote: 400 malformed_quote; garbage: 400 with a parse code', async () => {
    const e = new Enclave(platform, good);
    const { nonceB64, nonce } = await challenge();
    const truncated = e.quoteFor(nonce).subarray(0, 600);
    const r = await call('POST', '/v1/attest', { nonce: nonceB64, quote: truncated.toString('base64'), publicKey: e.pkE.toString('base64'), secrets: ['disk-key'] });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, 'malformed_quote');
    const g = await challenge();
    const r2 = await call('POST', '/v1/attest', { nonce: g.nonceB64, quote: crypto.randomBytes(700).toString('base64'), publicKey: e.pkE.toString('base64'), secrets: ['disk-key'] });
    assert.equal(r2.status, 400);
    assert.ok(['malformed_quote', 'unsupported_quote'].includes(r2.json.error.code), r2.text);
  });

  test('a secret the policy does not release and one that does not exist are refused alike', async () => {
    const e = new Enclave(platform, good);
    const notReleased = await attest(e, ['disk-key', 'other-key']);
    const missing = await attest(e, ['disk-key', 'no-such-secret']);
    for (const { r } of [notReleased, missing]) {
      assert.equal(r.status, 403);
      assert.equal(r.json.error.code, 'policy_denied');
      assert.equal(r.json.secrets, undefined);
    }
    assert.deepEqual(notReleased.r.json.error, { ...missing.r.json.error });
  });
});

test('two concurrent attests with one nonce: exactly one succeeds', async () => {
  const e = new Enclave(platform, good);
  const { nonceB64, nonce } = await challenge();
  const body = { nonce: nonceB64, quote: e.quoteFor(nonce).toString('base64'), publicKey: e.pkE.toString('base64'), secrets: ['disk-key'] };
  const results = await Promise.all([call('POST', '/v1/attest', body), call('POST', '/v1/attest', body), call('POST', '/v1/attest', body)]);
  const statuses = results.map((r) => r.status).sort();
  assert.deepEqual(statuses, [200, 401, 401]);
  for (const r of results.filter((x) => x.status === 401)) assert.equal(r.json.error.code, 'nonce_used');
});

test('rotation: the policy releases the current and the previous version of disk-key', async () => {
  const before = await w.secrets.get('disk-key');
  const rot = await call('POST', '/v1/admin/secrets/disk-key/rotate', {}, { authorization: `Bearer ${admin}` });
  assert.equal(rot.status, 200, rot.text);
  assert.equal(rot.json.version, (before?.meta.version ?? 0) + 1);
  const e = new Enclave(platform, good);
  const serverPub = await serverHpkeKey();
  const { r, nonce } = await attest(e, ['disk-key', 'api-token']);
  assert.equal(r.status, 200, r.text);
  const disk = r.json.secrets.filter((s: { name: string }) => s.name === 'disk-key');
  assert.deepEqual(disk.map((s: { version: number }) => s.version).sort(), [rot.json.version - 1, rot.json.version]);
  const api = r.json.secrets.filter((s: { name: string }) => s.name === 'api-token');
  assert.equal(api.length, 1, 'api-token releases only its current version');
  for (const s of disk) {
    const v = e.open(serverPub, nonce, s);
    assert.deepEqual(v, (await w.secrets.get('disk-key', s.version))?.value);
    seenSecretValues.push(v);
  }
});

describe('admin API', () => {
  const spec = loadOpenApi();
  const admins = spec.routes.filter((r) => r.secured);

  function sample(r: (typeof admins)[number]): { path: string; body?: unknown } {
    const p = r.openapiPath.replace('{name}', 'disk-key');
    if (r.operationId === 'adminCreateSecret') return { path: p, body: { name: 'probe-secret', kind: 'sefs-key' } };
    if (r.method === 'POST') return { path: p, body: {} };
    return { path: p };
  }

  test('openapi.yaml marks every /v1/admin route as secured', () => {
    const all = spec.routes.filter((r) => r.openapiPath.startsWith('/v1/admin'));
    assert.ok(all.length >= 9);
    assert.deepEqual(all.map((r) => r.operationId), admins.map((r) => r.operationId));
  });

  for (const r of loadOpenApi().routes.filter((x) => x.secured)) {
    test(`${r.method} ${r.openapiPath} refuses a missing, malformed and wrong token with 401`, async () => {
      const s = sample(r);
      const variants: Array<Record<string, string>> = [{}, { authorization: 'Bearer' }, { authorization: `Basic ${admin}` }, { authorization: `Bearer ${admin}x` }, { authorization: 'Bearer wdn_' + 'A'.repeat(43) }];
      for (const headers of variants) {
        const res = await call(r.method, s.path, s.body, headers);
        assert.equal(res.status, 401, `${JSON.stringify(headers)}: ${res.text}`);
        assert.equal(res.json.error.code, 'unauthorized');
      }
    });
    if (r.method !== 'GET') {
      test(`${r.method} ${r.openapiPath} refuses an auditor with 403`, async () => {
        const s = sample(r);
        const res = await call(r.method, s.path, s.body, { authorization: `Bearer ${auditor}` });
        assert.equal(res.status, 403, res.text);
        assert.equal(res.json.error.code, 'forbidden');
      });
    } else {
      test(`${r.method} ${r.openapiPath} serves an auditor`, async () => {
        const res = await call(r.method, sample(r).path, undefined, { authorization: `Bearer ${auditor}` });
        assert.equal(res.status, 200, res.text);
      });
    }
  }

  test('secrets: create, list (never values), delete; duplicates and unknown names have codes', async () => {
    const auth = { authorization: `Bearer ${admin}` };
    const value = crypto.randomBytes(20);
    seenSecretValues.push(value);
    const c = await call('POST', '/v1/admin/secrets', { name: 'tmp-secret', kind: 'bytes', value: value.toString('base64') }, auth);
    assert.equal(c.status, 201, c.text);
    assert.deepEqual([c.json.name, c.json.kind, c.json.version], ['tmp-secret', 'bytes', 1]);
    assert.equal((await call('POST', '/v1/admin/secrets', { name: 'tmp-secret' }, auth)).json.error.code, 'secret_exists');
    const bad = await call('POST', '/v1/admin/secrets', { name: 'Bad Name' }, auth);
    assert.equal(bad.status, 400);
    const list = await call('GET', '/v1/admin/secrets', undefined, auth);
    assert.ok(list.json.secrets.some((s: { name: string }) => s.name === 'tmp-secret'));
    assert.ok(!list.text.includes(value.toString('base64')) && !list.text.includes(value.toString('hex')));
    const d = await call('DELETE', '/v1/admin/secrets/tmp-secret', undefined, auth);
    assert.deepEqual([d.status, d.json.deleted], [200, true]);
    const d2 = await call('DELETE', '/v1/admin/secrets/tmp-secret', undefined, auth);
    assert.deepEqual([d2.status, d2.json.error.code], [404, 'secret_not_found']);
    const rot = await call('POST', '/v1/admin/secrets/tmp-secret/rotate', {}, auth);
    assert.deepEqual([rot.status, rot.json.error.code], [404, 'secret_not_found']);
  });

  test('policies: list shows the set hash; reload of an invalid file keeps the old set (422)', async () => {
    const auth = { authorization: `Bearer ${admin}` };
    const before = await call('GET', '/v1/admin/policies', undefined, auth);
    assert.deepEqual(before.json.policies.map((p: { name: string }) => p.name), ['app', 'other']);
    const bad = path.join(policiesDir, 'broken.yaml');
    fs.writeFileSync(bad, 'name: broken\nmatch: nope\n');
    try {
      const r = await call('POST', '/v1/admin/policies/reload', undefined, auth);
      assert.equal(r.status, 422, r.text);
      assert.equal(r.json.error.code, 'policy_load_failed');
    } finally {
      fs.rmSync(bad);
    }
    const ok = await call('POST', '/v1/admin/policies/reload', undefined, auth);
    assert.equal(ok.status, 200);
    assert.equal(ok.json.policySetHash, before.json.policySetHash);
  });

  test('decisions list recent attestations, newest first, with identity and reason codes', async () => {
    const r = await call('GET', '/v1/admin/decisions?limit=5', undefined, { authorization: `Bearer ${auditor}` });
    assert.equal(r.status, 200);
    assert.ok(r.json.entries.length > 0 && r.json.entries.length <= 5);
    const ids = r.json.entries.map((e: { id: number }) => e.id);
    assert.deepEqual(ids, [...ids].sort((a: number, b: number) => b - a));
    for (const e of r.json.entries) assert.equal(e.type, 'attestation');
    const denied = (await call('GET', '/v1/admin/decisions?limit=1000', undefined, { authorization: `Bearer ${auditor}` })).json.entries.find(
      (e: { outcome: string; data: { reason?: string } }) => e.outcome === 'denied' && e.data.reason === 'policy_denied',
    );
    assert.ok(denied, 'a policy denial is in the trail');
    assert.match(denied.data.mrenclave, /^[0-9a-f]{64}$/);
    assert.match(denied.data.policySetHash, /^[0-9a-f]{64}$/);
  });
});

describe('persistence and the audit trail', () => {
  test('a restart loses no secret, policy, key or audit entry', async () => {
    const auth = { authorization: `Bearer ${auditor}` };
    const snap = async () => ({
      secrets: (await call('GET', '/v1/admin/secrets', undefined, auth)).json,
      policies: (await call('GET', '/v1/admin/policies', undefined, auth)).json,
      audit: (await call('GET', '/v1/admin/audit?limit=1000', undefined, auth)).json.entries as Array<{ hash: string; outcome: string | null }>,
      keys: (await call('GET', '/v1/server-keys')).json,
      jwks: (await call('GET', '/.well-known/jwks.json')).json,
    });
    const before = await snap();
    const disk = (await w.secrets.get('disk-key'))?.value;
    await w.close();
    await start();
    const afterRestart = await snap();
    // Every entry is still there; the only new ones are the summaries of nonce-check refusals the
    // stopping server wrote (README, "What is audited").
    assert.deepEqual(afterRestart.audit.slice(0, before.audit.length), before.audit);
    assert.ok(afterRestart.audit.slice(before.audit.length).every((e) => e.outcome === 'summary'));
    assert.deepEqual({ ...afterRestart, audit: [] }, { ...before, audit: [] });
    assert.deepEqual((await w.secrets.get('disk-key'))?.value, disk);
    const e = new Enclave(platform, good);
    const { r, nonce } = await attest(e, ['api-token']);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(e.open(Buffer.from(before.keys.hpke.publicKey, 'base64'), nonce, r.json.secrets[0]), API_TOKEN);
  });

  test('the chain verifies, and an edited row is reported', async () => {
    const auth = { authorization: `Bearer ${auditor}` };
    const ok = await call('GET', '/v1/admin/audit/verify', undefined, auth);
    assert.equal(ok.json.ok, true, ok.text);
    assert.ok(ok.json.count > 10);
    const target = (await w.db.get<{ id: number; data: string }>(`SELECT id, data FROM audit WHERE type = 'attestation' AND outcome = 'denied' ORDER BY id LIMIT 1`))!;
    const original = target.data;
    await w.db.run('UPDATE audit SET data = ? WHERE id = ?', [original.replace('"denied"', '"allowed"').replace('policy_denied', 'ok'), target.id]);
    try {
      const bad = await call('GET', '/v1/admin/audit/verify', undefined, auth);
      assert.equal(bad.json.ok, false);
      assert.equal(bad.json.firstBadId, target.id);
    } finally {
      await w.db.run('UPDATE audit SET data = ? WHERE id = ?', [original, target.id]);
    }
    assert.equal((await call('GET', '/v1/admin/audit/verify', undefined, auth)).json.ok, true);
  });

  test('no secret value appears in logs, audit entries, API listings or the database file', async () => {
    const auth = { authorization: `Bearer ${auditor}` };
    const audit = (await call('GET', '/v1/admin/audit?limit=1000', undefined, auth)).text;
    const listings = (await call('GET', '/v1/admin/secrets', undefined, auth)).text;
    await w.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    const dbBytes = Buffer.concat(
      fs.readdirSync(dataDir).filter((f) => f.startsWith('warden.db')).map((f) => fs.readFileSync(path.join(dataDir, f))),
    );
    const text = w.logs.join('') + audit + listings;
    assert.ok(w.logs.length > 10, 'the server logged its requests');
    assert.ok(seenSecretValues.length >= 4);
    for (const v of seenSecretValues) {
      for (const form of [v.toString('hex'), v.toString('base64'), v.toString('base64url'), [...v].map((b) => b.toString(16).padStart(2, '0')).join('-')]) {
        assert.ok(!text.includes(form), `secret value leaked as ${form.slice(0, 6)}...`);
      }
      assert.equal(dbBytes.indexOf(v), -1, 'secret value stored in the clear');
    }
  });
});
