// Every status that openapi.yaml declares for a route is one the route really answers, and every one is
// sent here (issue #14 finding 6): each case below provokes one (route, status) and checks the answer
// against openapi.yaml (the app validates responses, and turns an undeclared status into a 500). The
// last test checks that the cases cover exactly the declared pairs.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildApp } from '../src/server/app.ts';
import type { AppDeps, AppOptions } from '../src/server/deps.ts';
import { loadOpenApi } from '../src/server/openapi.ts';
import { DirectoryPolicySource } from '../src/server/policy-source.ts';
import { makeQuoteVerifier } from '../src/server/quote-verifier.ts';
import { SimCollateralSource } from '../src/server/sim-collateral.ts';
import { CollateralUnavailableError } from '../src/collateral/errors.ts';
import { SIM_ENCLAVE } from '../src/sim/report.ts';
import { SimPki } from '../src/sim/pki.ts';
import { AdminTokens } from '../src/store/admin-tokens.ts';
import { AuditLog } from '../src/store/audit.ts';
import { sqliteEngine } from './helpers/engines.ts';
import { NonceStore } from '../src/store/nonces.ts';
import { SecretStore } from '../src/store/secrets.ts';
import { ServerKeys } from '../src/store/server-keys.ts';
import { Enclave } from './e2e-harness.ts';
import { rawRequest, type RawAnswer } from './helpers/raw-http.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-statuses-'));
const policiesDir = path.join(tmp, 'policies');
const spec = loadOpenApi();
const opOf = new Map(spec.routes.map((r) => [r.operationId, r]));
const seen = new Set<string>();
const apps: FastifyInstance[] = [];
let pki: SimPki;
let enclave: Enclave;

type Answer = Pick<RawAnswer, 'status' | 'json'>;

/** Records that `op` answered `status` with a body of the declared shape. */
function saw(op: string, a: Answer, status: number, code?: string): void {
  assert.equal(a.status, status, `${op}: ${JSON.stringify(a.json)}`);
  // /readyz answers its 503 in the Health shape (status, checks), every other error in the Error shape.
  if (status >= 400 && op !== 'readyz') {
    assert.equal(typeof a.json.error?.message, 'string', `${op} ${status}: error body`);
    if (code) assert.equal(a.json.error?.code, code, `${op} ${status}`);
  }
  seen.add(`${op} ${status}`);
}

function pathOf(op: string, name = 'disk-key'): string {
  return opOf.get(op)!.openapiPath.replace('{name}', name);
}

async function make(opts: AppOptions = {}, over: Partial<AppDeps> = {}) {
  const db = await sqliteEngine();
  const mk = crypto.randomBytes(32);
  const collateral = new SimCollateralSource(pki);
  const audit = new AuditLog(db);
  const deps: AppDeps = {
    nonces: new NonceStore(db, mk),
    secrets: new SecretStore(db, mk, { audit }),
    audit,
    tokens: new AdminTokens(db),
    keys: new ServerKeys(db, mk),
    policies: new DirectoryPolicySource(policiesDir),
    verifyQuote: makeQuoteVerifier({ collateral, trustedRoot: pki.rootPem }),
    collateral,
    root: 'simulated',
    ...over,
  };
  const tokens = new AdminTokens(db);
  const admin = (await tokens.create('admin')).token;
  const auditor = (await tokens.create('auditor')).token;
  const { app } = await buildApp(deps, { validateResponses: true, rateLimit: false, adminRateLimit: false, bodyLimit: 16384, ...opts });
  apps.push(app);
  const inject = async (o: InjectOptions): Promise<Answer> => {
    const r = await app.inject(o);
    let json: Answer['json'] = {};
    try {
      json = r.json();
    } catch {
      // text (metrics)
    }
    return { status: r.statusCode, json };
  };
  return { app, deps, admin, auditor, inject, bearer: (t: string) => ({ authorization: `Bearer ${t}` }) };
}

async function attestBody(app: FastifyInstance, o: { serverKeyId?: string; nonceFor?: Buffer } = {}) {
  const nonceB64 = (await app.inject({ method: 'POST', url: '/v1/challenge' })).json().nonce as string;
  const nonce = Buffer.from(nonceB64, 'base64');
  return {
    nonce: nonceB64,
    quote: enclave.quoteFor(o.nonceFor ?? nonce).toString('base64'),
    publicKey: enclave.pkE.toString('base64'),
    secrets: ['disk-key'],
    ...(o.serverKeyId ? { serverKeyId: o.serverKeyId } : {}),
  };
}

before(async () => {
  fs.mkdirSync(policiesDir, { recursive: true });
  fs.writeFileSync(
    path.join(policiesDir, 'app.yaml'),
    ['name: app', 'version: 1', 'match:', `  - mrenclave: ${SIM_ENCLAVE.mrEnclave.toString('hex')}`, '    min_isvsvn: 1', 'secrets:', '  - disk-key', ''].join('\n'),
  );
  pki = await SimPki.create();
  enclave = new Enclave(await pki.platform({}), { ...SIM_ENCLAVE, isvSvn: 1 });
});

after(async () => {
  for (const a of apps) await a.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('success, client errors and conflicts of every route', async () => {
  const { app, deps, admin, auditor, inject, bearer } = await make();
  const A = bearer(admin);
  const json = { 'content-type': 'application/json' };
  await deps.secrets.create('disk-key', 'sefs-key');

  // Open routes.
  saw('challenge', await inject({ method: 'POST', url: '/v1/challenge' }), 200);
  saw('challenge', await inject({ method: 'POST', url: '/v1/challenge', payload: { a: 1 } }), 400, 'bad_request');
  saw('challenge', await inject({ method: 'POST', url: '/v1/challenge', payload: JSON.stringify({ a: 'x'.repeat(20000) }), headers: json }), 413, 'body_too_large');
  saw('challenge', await inject({ method: 'POST', url: '/v1/challenge', payload: 'x', headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
  for (const op of ['serverKeys', 'jwks', 'healthz', 'readyz', 'metrics']) saw(op, await inject({ method: 'GET', url: pathOf(op) }), 200);

  saw('attest', await inject({ method: 'POST', url: '/v1/attest', payload: await attestBody(app) }), 200);
  saw('attest', await inject({ method: 'POST', url: '/v1/attest', payload: { nonce: 'x' } }), 400, 'bad_request');
  saw('attest', await inject({ method: 'POST', url: '/v1/attest', payload: { ...(await attestBody(app)), nonce: Buffer.alloc(32, 1).toString('base64') } }), 401, 'nonce_unknown');
  saw('attest', await inject({ method: 'POST', url: '/v1/attest', payload: await attestBody(app, { nonceFor: Buffer.alloc(32, 9) }) }), 403, 'binding_mismatch');
  saw('attest', await inject({ method: 'POST', url: '/v1/attest', payload: JSON.stringify({ quote: 'A'.repeat(20000) }), headers: json }), 413, 'body_too_large');
  saw('attest', await inject({ method: 'POST', url: '/v1/attest', payload: '{}', headers: { 'content-type': 'application/json; charset=utf-16' } }), 415, 'unsupported_media_type');
  const old = (await deps.keys.hpke()).id;
  await (deps.keys as ServerKeys).rotateHpke();
  await (deps.keys as ServerKeys).retireHpke(old);
  saw('attest', await inject({ method: 'POST', url: '/v1/attest', payload: await attestBody(app, { serverKeyId: old }) }), 410, 'server_key_retired');

  // Admin routes: 200 with a token, 401 without, 403 for an auditor on a write, body and query errors.
  for (const op of ['adminListPolicies', 'adminListSecrets', 'adminAuditList', 'adminAuditVerify', 'adminDecisions']) {
    saw(op, await inject({ method: 'GET', url: pathOf(op), headers: bearer(auditor) }), 200);
    saw(op, await inject({ method: 'GET', url: pathOf(op) }), 401, 'unauthorized');
  }
  saw('adminAuditList', await inject({ method: 'GET', url: `${pathOf('adminAuditList')}?limit=1e3`, headers: A }), 400, 'bad_request');
  saw('adminDecisions', await inject({ method: 'GET', url: `${pathOf('adminDecisions')}?limit=0x10`, headers: A }), 400, 'bad_request');

  const writes: Array<[string, 'POST' | 'DELETE', number, unknown]> = [
    ['adminReloadPolicies', 'POST', 200, undefined],
    ['adminCreateSecret', 'POST', 201, { name: 'new-key' }],
    ['adminRotateSecret', 'POST', 200, {}],
    ['adminDeleteSecret', 'DELETE', 200, undefined],
  ];
  for (const [op, method, ok, body] of writes) {
    const url = pathOf(op);
    saw(op, await inject({ method, url, headers: A, ...(body === undefined ? {} : { payload: body as object }) }), ok);
    saw(op, await inject({ method, url }), 401, 'unauthorized');
    saw(op, await inject({ method, url, headers: bearer(auditor) }), 403, 'forbidden');
    saw(op, await inject({ method, url, headers: { ...A, ...json }, payload: '{"name":' }), 400, 'bad_request');
    saw(op, await inject({ method, url, headers: { ...A, ...json }, payload: JSON.stringify({ value: 'A'.repeat(20000) }) }), 413, 'body_too_large');
    saw(op, await inject({ method, url, headers: { ...A, 'content-type': 'text/plain' }, payload: 'x' }), 415, 'unsupported_media_type');
  }
  saw('adminCreateSecret', await inject({ method: 'POST', url: pathOf('adminCreateSecret'), headers: A, payload: { name: 'new-key' } }), 409, 'secret_exists');
  saw('adminRotateSecret', await inject({ method: 'POST', url: pathOf('adminRotateSecret', 'nothing'), headers: A, payload: {} }), 404, 'secret_not_found');
  saw('adminDeleteSecret', await inject({ method: 'DELETE', url: pathOf('adminDeleteSecret', 'nothing'), headers: A }), 404, 'secret_not_found');
  // A URL that is not valid percent-encoding: 400 in the error shape, not Fastify's.
  saw('adminDeleteSecret', await inject({ method: 'DELETE', url: '/v1/admin/secrets/%ZZ', headers: A }), 400, 'bad_request');
  fs.writeFileSync(path.join(policiesDir, 'broken.yaml'), 'name: [\n');
  try {
    saw('adminReloadPolicies', await inject({ method: 'POST', url: pathOf('adminReloadPolicies'), headers: A }), 422, 'policy_load_failed');
  } finally {
    fs.rmSync(path.join(policiesDir, 'broken.yaml'));
  }
});

test('429 on every rate-limited route', async () => {
  const { inject, admin, bearer } = await make({ rateLimit: { burst: 1, perSecond: 0.001 }, adminRateLimit: { burst: 1, perSecond: 0.001 } });
  for (const r of spec.routes.filter((x) => x.statuses.includes('429'))) {
    const o: InjectOptions = { method: r.method, url: r.openapiPath.replace('{name}', 'disk-key'), headers: bearer(admin), remoteAddress: '10.9.9.9' };
    await inject(o);
    const a = await inject(o);
    saw(r.operationId, a, 429, 'rate_limited');
  }
});

test('500 internal_error on every route whose code can fail: the store or verifier breaking is never the client\'s fault', async () => {
  const boom = () => {
    throw new TypeError('store broke');
  };
  const broken = new Proxy({}, { get: () => boom });
  const { inject, admin, bearer } = await make(
    { logger: false },
    {
      nonces: { issue: boom, consume: async () => 'ok' as const },
      secrets: broken as AppDeps['secrets'],
      audit: broken as AppDeps['audit'],
      keys: broken as AppDeps['keys'],
      policies: { current: boom, reload: boom },
      verifyQuote: async () => boom(),
    },
  );
  const body: Record<string, unknown> = {
    nonce: Buffer.alloc(32, 1).toString('base64'),
    quote: Buffer.alloc(64).toString('base64'),
    publicKey: enclave.pkE.toString('base64'),
    secrets: ['disk-key'],
  };
  for (const r of spec.routes.filter((x) => x.statuses.includes('500'))) {
    const payload = r.operationId === 'attest' ? body : r.operationId === 'adminCreateSecret' ? { name: 'x' } : r.method === 'POST' ? {} : undefined;
    const a = await inject({ method: r.method, url: r.openapiPath.replace('{name}', 'disk-key'), headers: bearer(admin), ...(payload ? { payload } : {}) });
    saw(r.operationId, a, 500, 'internal_error');
    assert.equal(a.json.error?.message, 'internal error', 'no detail of the bug for the client');
  }
});

test('503: collateral that cannot be had names only the item and FMSPC; readiness; draining', { timeout: 60_000 }, async () => {
  const unavailable = {
    get: async (fmspc: string) => {
      throw new CollateralUnavailableError({ kind: 'tcb_info', key: fmspc }, fmspc, ['https://pccs.internal:8081/sgx/certification/v4/tcb: connect ECONNREFUSED 10.1.2.3:8081']);
    },
  };
  const logs: string[] = [];
  const { Writable } = await import('node:stream');
  const stream = new Writable({ write: (c, _e, cb) => (logs.push(String(c)), cb()) });
  const { app, inject } = await make({ logger: { level: 'info', stream } }, { verifyQuote: makeQuoteVerifier({ collateral: unavailable, trustedRoot: pki.rootPem }), dbReady: () => false });
  const a = await inject({ method: 'POST', url: '/v1/attest', payload: await attestBody(app) });
  saw('attest', a, 503, 'collateral_unavailable');
  const fmspc = enclave.platform.fmspc.toString('hex');
  assert.match(a.json.error!.message!, new RegExp(`TCB Info for FMSPC ${fmspc}`, 'i'));
  assert.doesNotMatch(a.json.error!.message!, /pccs\.internal|ECONNREFUSED|10\.1\.2\.3/, 'the source and its error stay in the log');
  assert.ok(logs.some((l) => l.includes('ECONNREFUSED')), 'the details are logged');
  const notReady = await inject({ method: 'GET', url: '/readyz' });
  saw('readyz', notReady, 503);
  assert.equal(notReady.json['status'], 'not_ready');

  // Draining: a request arriving while the server closes (here: held in a preClose hook) is told so.
  const d = await make();
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  d.app.addHook('preClose', async () => held);
  await d.app.listen({ port: 0, host: '127.0.0.1' });
  const port = (d.app.server.address() as net.AddressInfo).port;
  const closing = d.app.close();
  await new Promise((r) => setImmediate(r));
  try {
    for (const r of spec.routes.filter((x) => x.statuses.includes('503') && x.operationId !== 'attest' && x.operationId !== 'readyz')) {
      const res = await rawRequest(port, `${r.method} ${r.openapiPath.replace('{name}', 'disk-key')} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${d.admin}\r\nContent-Length: 0\r\n\r\n`);
      saw(r.operationId, res, 503, 'not_ready');
    }
    const ready = await rawRequest(port, 'GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(ready.status, 503);
    assert.equal((ready.json['checks'] as Record<string, boolean>)['serving'], false);
    assert.equal((await rawRequest(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')).status, 200, 'still alive while draining');
  } finally {
    release();
    await closing;
  }
});

test('408 request_timeout on every route with a body: a slow body is answered and its connection closed', { timeout: 60_000 }, async () => {
  const { app, admin } = await make({ limits: { requestTimeoutMs: 400, headersTimeoutMs: 400 } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as net.AddressInfo).port;
  const routes = spec.routes.filter((x) => x.statuses.includes('408'));
  assert.ok(routes.length >= 6);
  await Promise.all(
    routes.map(async (r) => {
      const head = `${r.method} ${r.openapiPath.replace('{name}', 'disk-key')} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin}\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{`;
      const res = await rawRequest(port, head, { trickle: true });
      assert.ok(res.closed, 'the server closed the connection');
      saw(r.operationId, res, 408, 'request_timeout');
    }),
  );
});

test('the cases above sent every status openapi.yaml declares, for every route', async () => {
  const declared = spec.routes.flatMap((r) => r.statuses.map((s) => `${r.operationId} ${s}`)).sort();
  assert.deepEqual([...seen].sort(), declared);
});
