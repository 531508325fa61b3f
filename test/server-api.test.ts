// The HTTP contract without sockets (Fastify inject): openapi.yaml coverage, one error body shape for
// every failure (ours and Fastify's), bad input, rate limiting, metrics and health.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { CollateralUnavailableError } from '../src/collateral/errors.ts';
import { buildApp, servedRoutes } from '../src/server/app.ts';
import type { AppDeps, AppOptions } from '../src/server/deps.ts';
import { loadOpenApi } from '../src/server/openapi.ts';
import { RateLimiter } from '../src/server/rate-limit.ts';
import { makeQuoteVerifier } from '../src/server/quote-verifier.ts';
import { SimCollateralSource } from '../src/server/sim-collateral.ts';
import { makePolicySet } from '../src/policy/load.ts';
import { SimPki } from '../src/sim/pki.ts';
import { storeOn } from '../src/store/store.ts';
import { sqliteEngine } from './helpers/engines.ts';

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
let pki: SimPki;
const apps: FastifyInstance[] = [];

async function make(opts: AppOptions = {}, over: Partial<AppDeps> = {}) {
  const db = await sqliteEngine();
  const store = storeOn(db);
  const mk = crypto.randomBytes(32);
  const tokens = store.tokens;
  const collateral = new SimCollateralSource(pki);
  const deps: AppDeps = {
    nonces: store.nonces(mk),
    secrets: store.secrets(mk),
    audit: store.audit,
    tokens,
    keys: store.keys(mk),
    policies: { current: () => makePolicySet([]), reload: () => makePolicySet([]) },
    verifyQuote: makeQuoteVerifier({ collateral, trustedRoot: pki.rootPem }),
    collateral,
    root: 'simulated',
    ...over,
  };
  const { app } = await buildApp(deps, { validateResponses: true, rateLimit: false, adminRateLimit: false, ...opts });
  apps.push(app);
  return { app, deps, db, tokens };
}

before(async () => {
  pki = await SimPki.create();
});
after(async () => {
  for (const a of apps) await a.close();
});

function isErrorBody(body: unknown, code: string): void {
  const b = body as { error?: { code?: unknown; message?: unknown } };
  assert.equal(typeof b?.error?.message, 'string');
  assert.equal(b.error?.code, code, JSON.stringify(body));
}

test('every route in openapi.yaml is served and every served route is in openapi.yaml', async () => {
  const { app } = await make();
  await app.ready();
  const spec = loadOpenApi();
  const inSpec = spec.routes.map((r) => `${r.method} ${r.openapiPath}`).sort();
  const served = servedRoutes(app).map((r) => `${r.method} ${r.path}`).sort();
  assert.deepEqual(served, inSpec);
  for (const must of ['POST /v1/challenge', 'POST /v1/attest', 'GET /v1/server-keys', 'GET /.well-known/jwks.json', 'GET /healthz', 'GET /readyz', 'GET /metrics']) {
    assert.ok(inSpec.includes(must), must);
  }
  // Every path is answered by a handler, not the not-found handler.
  for (const r of spec.routes) {
    const res = await app.inject({ method: r.method, url: r.openapiPath.replace('{name}', 'x') });
    if (String(res.headers['content-type']).startsWith('application/json')) {
      assert.notEqual((res.json() as { error?: { code?: string } }).error?.code, 'not_found', `${r.method} ${r.openapiPath}`);
    }
  }
});

describe('challenge', () => {
  test('accepts no body, {} and an empty JSON body; nonces are 32 random bytes, expiring in 120 s', async () => {
    const { app } = await make();
    const seen = new Set<string>();
    for (const o of [{}, { payload: {} }, { payload: '', headers: { 'content-type': 'application/json' } }]) {
      const t0 = Date.now();
      const r = await app.inject({ method: 'POST', url: '/v1/challenge', ...o });
      assert.equal(r.statusCode, 200, r.body);
      const b = r.json() as { nonce: string; expiresAt: string };
      assert.equal(Buffer.from(b.nonce, 'base64').length, 32);
      assert.match(b.expiresAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      const ttl = Date.parse(b.expiresAt) - t0;
      assert.ok(ttl >= 119_000 && ttl <= 121_000, `ttl ${ttl}`);
      seen.add(b.nonce);
    }
    assert.equal(seen.size, 3);
  });

  test('the nonce lifetime is configurable', async () => {
    const { app } = await make({ nonceTtlSeconds: 5 });
    const r = await app.inject({ method: 'POST', url: '/v1/challenge' });
    const ttl = Date.parse((r.json() as { expiresAt: string }).expiresAt) - Date.now();
    assert.ok(ttl > 3000 && ttl <= 5000, `ttl ${ttl}`);
  });

  test('a body with fields is a 400 bad_request', async () => {
    const { app } = await make();
    const r = await app.inject({ method: 'POST', url: '/v1/challenge', payload: { a: 1 } });
    assert.equal(r.statusCode, 400);
    isErrorBody(r.json(), 'bad_request');
  });

  test('a body that is not an object (JSON null, an array, a string) is a 400 bad_request', async () => {
    const { app } = await make();
    for (const payload of ['null', '[]', '"x"']) {
      const r = await app.inject({ method: 'POST', url: '/v1/challenge', payload, headers: { 'content-type': 'application/json' } });
      assert.equal(r.statusCode, 400, `${payload}: ${r.body}`);
      isErrorBody(r.json(), 'bad_request');
    }
  });
});

describe('admin authentication comes before everything else about the request', () => {
  const secured = loadOpenApi().routes.filter((r) => r.secured);
  const pathOf = (r: (typeof secured)[number], name = 'disk-key') => r.openapiPath.replace('{name}', name);

  test('no or a wrong token: 401 unauthorized even with a malformed body, content type, path or query', async () => {
    const { app } = await make();
    assert.ok(secured.length >= 9);
    for (const r of secured) {
      const variants: InjectOptions[] = [
        { method: r.method, url: pathOf(r, 'Not A Name') },
        { method: r.method, url: `${pathOf(r)}?limit=0&afterId=-1&bogus=1` },
      ];
      if (r.method !== 'GET') {
        variants.push(
          { method: r.method, url: pathOf(r), payload: '{"name":', headers: { 'content-type': 'application/json' } },
          { method: r.method, url: pathOf(r), payload: 'x', headers: { 'content-type': 'text/plain' } },
          { method: r.method, url: pathOf(r), payload: { unknown: true } },
        );
      }
      for (const v of variants) {
        for (const authorization of [undefined, 'Bearer wdn_0000000000000000_' + 'A'.repeat(43)]) {
          const res = await app.inject({ ...v, headers: { ...(v.headers ?? {}), ...(authorization ? { authorization } : {}) } });
          assert.equal(res.statusCode, 401, `${r.method} ${String(v.url)} ${String(v.payload ?? '')} auth=${!!authorization}: ${res.body}`);
          isErrorBody(res.json(), 'unauthorized');
          assert.match(String(res.headers['www-authenticate']), /^Bearer\b/);
        }
      }
    }
  });

  test('an auditor on a write route: 403 forbidden even with a malformed body', async () => {
    const { app, tokens } = await make();
    const auditor = (await tokens.create('auditor')).token;
    for (const r of secured.filter((x) => x.method !== 'GET')) {
      const res = await app.inject({ method: r.method, url: pathOf(r), payload: '{', headers: { 'content-type': 'application/json', authorization: `Bearer ${auditor}` } });
      assert.equal(res.statusCode, 403, `${r.method} ${r.openapiPath}: ${res.body}`);
      isErrorBody(res.json(), 'forbidden');
    }
  });

  test('the Bearer scheme name is case-insensitive (RFC 9110)', async () => {
    const { app, tokens } = await make();
    const admin = (await tokens.create('admin')).token;
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const res = await app.inject({ method: 'GET', url: '/v1/admin/secrets', headers: { authorization: `${scheme} ${admin}` } });
      assert.equal(res.statusCode, 200, `${scheme}: ${res.body}`);
    }
    const valid = await app.inject({ method: 'POST', url: '/v1/admin/secrets', payload: { name: 'x-1', kind: 'bytes' }, headers: { authorization: `bearer ${admin}` } });
    assert.equal(valid.statusCode, 201, valid.body);
  });
});

describe('bad input gets a 4xx with a code, and the server keeps serving', () => {
  const pk = () => {
    const k = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'jwk' });
    return Buffer.concat([Buffer.of(4), Buffer.from(k.x as string, 'base64url'), Buffer.from(k.y as string, 'base64url')]);
  };
  async function withNonce(app: FastifyInstance): Promise<string> {
    return (await app.inject({ method: 'POST', url: '/v1/challenge' })).json().nonce as string;
  }

  test('framework errors: unknown route 404, wrong method 404, content type 415, too large 413, bad JSON 400', async () => {
    const { app } = await make({ bodyLimit: 4096 });
    const cases: Array<[InjectOptions, number, string]> = [
      [{ method: 'GET', url: '/nope' }, 404, 'not_found'],
      [{ method: 'DELETE', url: '/v1/challenge' }, 404, 'not_found'],
      [{ method: 'POST', url: '/v1/attest', payload: 'x', headers: { 'content-type': 'text/plain' } }, 415, 'unsupported_media_type'],
      [{ method: 'POST', url: '/v1/attest', payload: 'a=b', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415, 'unsupported_media_type'],
      [{ method: 'POST', url: '/v1/attest', payload: JSON.stringify({ quote: 'A'.repeat(5000) }), headers: { 'content-type': 'application/json' } }, 413, 'body_too_large'],
      [{ method: 'POST', url: '/v1/attest', payload: '{"nonce":', headers: { 'content-type': 'application/json' } }, 400, 'bad_request'],
      [{ method: 'POST', url: '/v1/attest', payload: '', headers: { 'content-type': 'application/json' } }, 400, 'bad_request'],
      [{ method: 'POST', url: '/v1/attest' }, 400, 'bad_request'],
    ];
    for (const [req, status, code] of cases) {
      const r = await app.inject(req);
      assert.equal(r.statusCode, status, `${JSON.stringify(req).slice(0, 80)}: ${r.body}`);
      isErrorBody(r.json(), code);
      assert.ok(!r.body.includes('    at '), 'no stack trace');
    }
    assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  });

  test('request shape: 400 bad_request before the nonce is looked at, so the nonce stays usable', async () => {
    const { app, deps } = await make();
    const nonce = await withNonce(app);
    const ok = { nonce, quote: Buffer.alloc(64).toString('base64'), publicKey: pk().toString('base64'), secrets: ['disk-key'] };
    const offCurve = Buffer.concat([Buffer.of(4), Buffer.alloc(32, 1), Buffer.alloc(32, 2)]);
    const bad: Array<[string, Record<string, unknown>]> = [
      ['unknown field', { ...ok, extra: 1 }],
      ['missing field', { nonce, quote: ok.quote, publicKey: ok.publicKey }],
      ['empty secrets', { ...ok, secrets: [] }],
      ['too many secrets', { ...ok, secrets: Array.from({ length: 33 }, (_, i) => `s${i}`) }],
      ['bad secret name', { ...ok, secrets: ['Disk Key'] }],
      ['nonce not base64', { ...ok, nonce: '!'.repeat(43) + '=' }],
      ['nonce base64url', { ...ok, nonce: nonce.replace(/\+/g, '-').replace(/\//g, '_').padEnd(44, '=').slice(0, 43) + '-' }],
      ['nonce non-canonical padding bits', { ...ok, nonce: nonce.slice(0, 42) + B64[(B64.indexOf(nonce[42] ?? 'A') & ~3) | 1] + '=' }],
      ['quote not base64', { ...ok, quote: 'ab$d' }],
      ['quote without padding', { ...ok, quote: 'AAAAAA' }],
      // The body validator leaves base64 request fields to the handler's one decoding check: it refuses all of these.
      ['quote non-canonical trailing bits', { ...ok, quote: 'AB==' }],
      ['quote base64url alphabet', { ...ok, quote: Buffer.alloc(63, 0xfb).toString('base64url') }],
      ['quote with a line break', { ...ok, quote: `${'A'.repeat(76)}\n${'A'.repeat(76)}` }],
      ['quote with padding inside', { ...ok, quote: 'AA==AAAA' }],
      ['quote empty', { ...ok, quote: '' }],
      ['public key off the curve', { ...ok, publicKey: offCurve.toString('base64') }],
      ['public key compressed', { ...ok, publicKey: Buffer.concat([Buffer.of(2), Buffer.alloc(32, 1)]).toString('base64') }],
      ['number for a string', { ...ok, quote: 12 }],
    ];
    for (const [what, payload] of bad) {
      const r = await app.inject({ method: 'POST', url: '/v1/attest', payload });
      assert.equal(r.statusCode, 400, `${what}: ${r.body}`);
      isErrorBody(r.json(), 'bad_request');
    }
    assert.equal(await deps.nonces.consume(Buffer.from(nonce, 'base64')), 'ok', 'shape errors did not consume the nonce');
  });

  test('a garbage quote past the nonce: 400 with the parser code, and the nonce is spent', async () => {
    const { app } = await make();
    const nonce = await withNonce(app);
    const body = { nonce, quote: Buffer.alloc(100, 7).toString('base64'), publicKey: pk().toString('base64'), secrets: ['disk-key'] };
    const r = await app.inject({ method: 'POST', url: '/v1/attest', payload: body });
    assert.equal(r.statusCode, 400);
    assert.ok(['malformed_quote', 'unsupported_quote'].includes((r.json() as { error: { code: string } }).error.code), r.body);
    const again = await app.inject({ method: 'POST', url: '/v1/attest', payload: body });
    assert.equal(again.statusCode, 401);
    isErrorBody(again.json(), 'nonce_used');
  });

  test('collateral that cannot be had: 503 collateral_unavailable', async () => {
    const failing = { get: async () => Promise.reject(new CollateralUnavailableError({ kind: 'qe_identity', key: '' }, '', ['PCCS down'])) };
    const { app } = await make({}, { verifyQuote: makeQuoteVerifier({ collateral: failing, trustedRoot: pki.rootPem }) });
    const platform = await pki.platform({});
    const { makeQuote } = await import('../src/sim/quote.ts');
    const nonce = await withNonce(app);
    const r = await app.inject({
      method: 'POST',
      url: '/v1/attest',
      payload: { nonce, quote: makeQuote({ platform }).toString('base64'), publicKey: pk().toString('base64'), secrets: ['disk-key'] },
    });
    assert.equal(r.statusCode, 503, r.body);
    isErrorBody(r.json(), 'collateral_unavailable');
  });

  test('a quote chaining to another root: 403 untrusted_root, and no PCCS is asked about its platform', async () => {
    let asked = 0;
    const counting = { get: async () => { asked++; return Promise.reject(new CollateralUnavailableError({ kind: 'qe_identity', key: '' }, '', ['PCCS down'])); } };
    const { app } = await make({}, { verifyQuote: makeQuoteVerifier({ collateral: counting, trustedRoot: pki.rootPem }) });
    const other = await SimPki.create();
    const { makeQuote } = await import('../src/sim/quote.ts');
    const nonce = await withNonce(app);
    const quote = makeQuote({ platform: await other.platform({ fmspc: Buffer.from('00a067110000', 'hex') }) });
    const r = await app.inject({ method: 'POST', url: '/v1/attest', payload: { nonce, quote: quote.toString('base64'), publicKey: pk().toString('base64'), secrets: ['disk-key'] } });
    assert.equal(r.statusCode, 403, r.body);
    isErrorBody(r.json(), 'untrusted_root');
    assert.equal(asked, 0, 'collateral was not fetched for a chain that cannot verify');
  });
});

describe('rate limiting', () => {
  test('per client address on challenge and attest: 429 rate_limited with Retry-After, others unaffected', async () => {
    const { app } = await make({ rateLimit: { burst: 3, perSecond: 1 } });
    const from = (ip: string) => app.inject({ method: 'POST', url: '/v1/challenge', remoteAddress: ip });
    for (let i = 0; i < 3; i++) assert.equal((await from('10.0.0.1')).statusCode, 200);
    const limited = await from('10.0.0.1');
    assert.equal(limited.statusCode, 429);
    isErrorBody(limited.json(), 'rate_limited');
    assert.ok(Number(limited.headers['retry-after']) >= 1);
    const att = await app.inject({ method: 'POST', url: '/v1/attest', payload: {}, remoteAddress: '10.0.0.1' });
    assert.equal(att.statusCode, 429);
    assert.equal((await from('10.0.0.2')).statusCode, 200);
    assert.equal((await app.inject({ method: 'GET', url: '/healthz', remoteAddress: '10.0.0.1' })).statusCode, 200, 'only challenge and attest are limited');
  });

  test('the bucket refills at the configured rate', () => {
    const l = new RateLimiter({ burst: 2, perSecond: 2 });
    assert.equal(l.take('a', 0), 0);
    assert.equal(l.take('a', 0), 0);
    assert.ok(l.take('a', 0) > 0);
    assert.equal(l.take('a', 500), 0);
    assert.ok(l.take('a', 500) > 0);
    assert.equal(l.take('b', 500), 0);
  });
});

describe('observability', () => {
  test('/metrics is Prometheus text with attestation outcomes, latency histograms and collateral age', async () => {
    const { app } = await make();
    await app.inject({ method: 'POST', url: '/v1/attest', payload: { nonce: Buffer.alloc(32).toString('base64'), quote: 'AAAA', publicKey: Buffer.alloc(65, 4).toString('base64'), secrets: ['a'] } });
    const r = await app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const lines = r.body.trim().split('\n').filter((l) => l !== ''); // the format ignores empty lines
    for (const l of lines) assert.match(l, /^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{[^}]*\})? -?[0-9.e+-]+|[a-z_]+(\{[^}]*\})? \+Inf)$/, l);
    assert.ok(lines.includes('# TYPE warden_attestations_total counter'));
    assert.ok(lines.includes('# TYPE warden_http_request_duration_seconds histogram'));
    assert.ok(lines.includes('# TYPE warden_quote_verification_seconds histogram'));
    const labels = (l: string) => new Set(/\{([^}]*)\}/.exec(l)?.[1]?.split(',') ?? []); // in any order
    assert.ok(lines.some((l) => {
      const set = labels(l);
      return l.startsWith('warden_http_request_duration_seconds_bucket{') && l.endsWith(' 1') && ['route="/v1/attest"', 'status="400"', 'le="+Inf"'].every((x) => set.has(x));
    }));
    assert.ok(lines.includes('# TYPE warden_collateral_age_seconds gauge'));
    assert.ok(lines.some((l) => /^warden_collateral_cache_(hits|misses)_total \d+$/.test(l)));
    for (const m of ['hits', 'misses']) assert.ok(lines.some((l) => new RegExp(`^warden_qe_report_signature_cache_${m}_total \\d+$`).test(l)), m);
  });

  test('/healthz is ok; /readyz is 503 when the database is unreachable', async () => {
    const { app } = await make();
    assert.deepEqual((await app.inject({ method: 'GET', url: '/healthz' })).json(), { status: 'ok' });
    assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
    const down = await make({}, { dbReady: () => { throw new Error('disk gone'); } });
    const r = await down.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(r.statusCode, 503);
    assert.deepEqual(r.json(), { status: 'not_ready', checks: { database: false, collateral: true }, policySetHash: makePolicySet([]).hash });
  });

  test('/readyz names the policy set in force, so replicas that drifted apart show it', async () => {
    const a = await make();
    const set = makePolicySet([]);
    const r = (await a.app.inject({ method: 'GET', url: '/readyz' })).json() as { policySetHash: string };
    assert.equal(r.policySetHash, set.hash);
    assert.match(r.policySetHash, /^[0-9a-f]{64}$/);
  });

  test('/v1/server-keys and the JWKS describe the persisted keys', async () => {
    const { app, deps } = await make();
    const k = (await app.inject({ method: 'GET', url: '/v1/server-keys' })).json() as { hpke: { suite: string; publicKey: string }; jwksUri: string };
    assert.equal(k.hpke.suite, 'DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM');
    assert.deepEqual(Buffer.from(k.hpke.publicKey, 'base64'), (await deps.keys.hpke()).publicKey);
    const jwks = (await app.inject({ method: 'GET', url: k.jwksUri })).json() as { keys: Array<{ kid: string; kty: string; crv: string }> };
    const { kid } = await deps.keys.currentTokenKey();
    assert.ok(jwks.keys.some((j) => j.kid === kid && j.kty === 'EC' && j.crv === 'P-256'));
  });
});
