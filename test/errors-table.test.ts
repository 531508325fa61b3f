// The one error table (src/protocol/errors.ts): the API codes are exactly openapi.yaml's ErrorCode with
// the statuses it documents, our modules' errors answer by their code, and a bug anywhere in
// verification or release is internal_error (500), logged with its stack and audited as such.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { CollateralUnavailableError } from '../src/collateral/errors.ts';
import { VerificationError } from '../src/dcap/errors.ts';
import type { Collateral } from '../src/dcap/types.ts';
import { verifyQuote } from '../src/dcap/verify.ts';
import { makePolicySet } from '../src/policy/load.ts';
import {
  API_ERRORS,
  API_ERROR_CODES,
  INTERNAL_ERRORS,
  VERIFICATION_CODES,
  apiCodeOf,
  auditReasonOf,
  codeOf,
  exitStatusOf,
  httpStatusOf,
} from '../src/protocol/errors.ts';
import { buildApp } from '../src/server/app.ts';
import type { CollateralSource } from '../src/server/collateral-source.ts';
import { toApiError } from '../src/server/errors.ts';
import { makeQuoteVerifier } from '../src/server/quote-verifier.ts';
import { SimPki, makeCollateral, makeQuote } from '../src/sim/index.ts';
import type { SimPlatform } from '../src/sim/platform.ts';
import { AdminTokens } from '../src/store/admin-tokens.ts';
import { AuditLog } from '../src/store/audit.ts';
import type { Engine } from '../src/store/engine.ts';
import { sqliteEngine } from './helpers/engines.ts';
import { StoreError } from '../src/store/errors.ts';
import { NonceStore } from '../src/store/nonces.ts';
import { SecretStore } from '../src/store/secrets.ts';
import { ServerKeys } from '../src/store/server-keys.ts';
import { REPO_ROOT } from './helpers/fixtures.ts';

describe('the error table and openapi.yaml', () => {
  // The enum lines of ErrorCode, with the status each one documents in its comment: `- code # [403] ...`.
  const text = readFileSync(join(REPO_ROOT, 'openapi.yaml'), 'utf8');
  const block = /\n {4}ErrorCode:\n[\s\S]*?\n {6}enum:\n((?: {8}- .*\n)+)/.exec(text);
  const documented = new Map(
    [...(block?.[1] ?? '').matchAll(/^ {8}- (\w+)\s*#\s*\[(\d{3})\]/gm)].map((m) => [m[1]!, Number(m[2])]),
  );

  test('the API codes are exactly the ErrorCode enum', () => {
    assert.ok(documented.size > 0, 'ErrorCode enum found in openapi.yaml');
    assert.deepEqual([...documented.keys()].sort(), [...API_ERROR_CODES].sort());
    assert.deepEqual(Object.keys(API_ERRORS).sort(), [...API_ERROR_CODES].sort());
  });

  test('each code answers with the status openapi.yaml documents for it', () => {
    for (const [code, status] of documented) assert.equal(API_ERRORS[code as keyof typeof API_ERRORS]?.status, status, code);
  });

  test('internal codes never leave under their own name and answer with an API code', () => {
    for (const [code, row] of Object.entries(INTERNAL_ERRORS)) {
      assert.ok(!documented.has(code), `${code} is internal but in openapi.yaml`);
      assert.ok(documented.has(row.answeredAs), `${code} answers as ${row.answeredAs}`);
    }
    assert.equal(apiCodeOf('secret_decrypt_failed'), 'internal_error');
    assert.equal(httpStatusOf('invalid_secret_value'), 400);
  });

  test('verification codes are API codes, audited under their own name; shape errors are not audited', () => {
    for (const c of VERIFICATION_CODES) {
      assert.ok(documented.has(c), c);
      assert.equal(auditReasonOf(c), c);
      assert.equal(exitStatusOf(c), 1);
    }
    assert.equal(auditReasonOf('bad_request'), null);
    assert.equal(auditReasonOf('internal_error'), 'internal_error');
  });
});

describe('mapping errors to API answers', () => {
  test('our errors answer by their code; anything else is internal_error with the original kept as cause', () => {
    assert.equal(toApiError(new VerificationError('revoked', 'x')).statusCode, 403);
    assert.equal(toApiError(new StoreError('secret_exists')).code, 'secret_exists');
    assert.equal(toApiError(new StoreError('invalid_secret_value')).code, 'bad_request');
    const decrypt = toApiError(new StoreError('secret_decrypt_failed', 'stored value of secret s failed authentication'));
    assert.equal(decrypt.code, 'internal_error');
    assert.doesNotMatch(decrypt.message, /secret s/, 'no detail of an internal failure reaches the client');
    const bug = new TypeError("Cannot read properties of undefined (reading 'length')");
    const mapped = toApiError(bug);
    assert.equal(mapped.code, 'internal_error');
    assert.equal(mapped.statusCode, 500);
    assert.equal(mapped.cause, bug);
    // An error that merely carries a code-like property is not trusted by its shape.
    assert.equal(toApiError(Object.assign(new Error('x'), { code: 'collateral_unavailable' })).code, 'internal_error');
    assert.equal(codeOf(Object.assign(new Error('x'), { code: 'revoked' })), 'internal_error');
  });
});

describe('a bug in verification is internal_error, never the client', () => {
  let pki: SimPki;
  let platform: SimPlatform;
  let collateral: Collateral;
  before(async () => {
    pki = await SimPki.create();
    platform = await pki.platform({});
    collateral = await makeCollateral(pki, { platform, at: new Date() });
  });

  // Collateral with a field of the wrong type is our own bug (the verifier's input is built by our code).
  const broken = (): Collateral => ({ ...collateral, tcbInfoIssuerChain: undefined as unknown as string });

  test('verifyQuote lets a TypeError through instead of calling it malformed_quote', () => {
    assert.throws(
      () => verifyQuote(makeQuote({ platform }), broken(), { at: new Date(), trustedRoot: pki.rootPem }),
      (e: unknown) => e instanceof TypeError && !(e instanceof VerificationError),
    );
  });

  async function serverWith(source: CollateralSource) {
    const db = await sqliteEngine();
    const mk = crypto.randomBytes(32);
    const audit = new AuditLog(db);
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const { app } = await buildApp(
      {
        nonces: new NonceStore(db, mk),
        secrets: new SecretStore(db, mk, { audit }),
        audit,
        tokens: new AdminTokens(db),
        keys: new ServerKeys(db, mk),
        policies: { current: () => makePolicySet([]), reload: () => makePolicySet([]) },
        verifyQuote: makeQuoteVerifier({ collateral: source, trustedRoot: pki.rootPem }),
        collateral: source,
        root: 'simulated',
      },
      { validateResponses: true, rateLimit: false, logger: { level: 'error', stream } },
    );
    return { app, audit, lines };
  }

  async function attest(app: Awaited<ReturnType<typeof serverWith>>['app']) {
    const nonce = (await app.inject({ method: 'POST', url: '/v1/challenge' })).json().nonce as string;
    const { publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const pk = publicKey.export({ format: 'der', type: 'spki' }).subarray(-65);
    return app.inject({
      method: 'POST',
      url: '/v1/attest',
      payload: { nonce, quote: makeQuote({ platform }).toString('base64'), publicKey: pk.toString('base64'), secrets: ['disk-key'] },
    });
  }

  for (const [what, source] of [
    ['collateral the verifier cannot read (a TypeError inside verifyQuote)', { get: async () => broken() }],
    ['a collateral source that fails with an uncoded error', { get: async () => Promise.reject(new Error('socket hang up in our own code')) }],
  ] as Array<[string, CollateralSource]>) {
    test(`${what}: 500 internal_error, its stack in the server log, audited as internal_error`, async () => {
      const { app, audit, lines } = await serverWith(source);
      const r = await attest(app);
      assert.equal(r.statusCode, 500, r.body);
      assert.deepEqual(r.json(), { error: { code: 'internal_error', message: 'internal error' } });
      const logged = lines.map((l) => JSON.parse(l) as { msg?: string; err?: { stack?: string } }).find((l) => l.msg === 'internal error');
      assert.ok(logged?.err?.stack && /\n\s+at /.test(logged.err.stack), `stack logged: ${lines.join('')}`);
      const [entry] = (await audit.recent(1, 'attestation'));
      assert.equal(entry?.outcome, 'denied');
      assert.equal(entry?.data['reason'], 'internal_error');
      await app.close();
    });
  }

  test('a source that says collateral is unavailable is still a 503', async () => {
    const { app } = await serverWith({ get: async () => Promise.reject(new CollateralUnavailableError({ kind: 'qe_identity', key: '' }, '', ['PCCS down'])) });
    const r = await attest(app);
    assert.equal(r.statusCode, 503, r.body);
    assert.equal(r.json().error.code, 'collateral_unavailable');
    await app.close();
  });
});
