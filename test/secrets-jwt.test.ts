import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { JwtError, jwksFromKeys, signJwtEs256, verifyJwtEs256 } from '../src/secrets/jwt.ts';
import { sqliteEngine } from './helpers/engines.ts';
import { ServerKeys } from '../src/store/server-keys.ts';

const isCode = (c: string) => (e: unknown) => e instanceof JwtError && e.code === c;

test('ES256 tokens: raw r||s signature, kid header, verify against the JWKS', async () => {
  const keys = new ServerKeys(await sqliteEngine(), crypto.randomBytes(32));
  const key = await keys.currentTokenKey();
  const iat = Math.floor(Date.parse('2026-05-01T00:00:00Z') / 1000);
  const token = signJwtEs256({ eat_profile: 'tag:x', iat, exp: iat + 300, eat_nonce: 'abc' }, key);
  const [h, p, s] = token.split('.') as [string, string, string];
  assert.deepEqual(JSON.parse(Buffer.from(h, 'base64url').toString()), { alg: 'ES256', typ: 'JWT', kid: key.kid });
  const sig = Buffer.from(s, 'base64url');
  assert.equal(sig.length, 64);
  // An independent check with node:crypto's JWK import, as a client would do.
  assert.ok(crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, sig));

  const jwks = jwksFromKeys((await keys.tokenKeys()));
  assert.equal(jwks.keys[0]!.kid, key.kid);
  assert.deepEqual(Object.keys(jwks.keys[0]!).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
  const { claims } = verifyJwtEs256(token, jwks, { now: new Date('2026-05-01T00:01:00Z') });
  assert.equal(claims['eat_nonce'], 'abc');

  assert.throws(() => verifyJwtEs256(token, jwks, { now: new Date('2026-05-01T00:05:00Z') }), isCode('jwt_expired'));
  const tampered = `${h}.${Buffer.from(JSON.stringify({ eat_nonce: 'evil', exp: iat + 300 })).toString('base64url')}.${s}`;
  assert.throws(() => verifyJwtEs256(tampered, jwks, { now: new Date(iat * 1000) }), isCode('jwt_bad_signature'));
  assert.throws(() => verifyJwtEs256('a.b', jwks), isCode('jwt_malformed'));
  assert.throws(() => verifyJwtEs256(token, { keys: [] }), isCode('jwt_unknown_kid'));
  const none = `${Buffer.from(JSON.stringify({ alg: 'none', kid: key.kid })).toString('base64url')}.${p}.`;
  assert.throws(() => verifyJwtEs256(none, jwks), isCode('jwt_unsupported_alg'));

  // After rotation, a token signed by the old key still verifies against the published JWKS.
  await keys.rotateTokenKey();
  const jwks2 = jwksFromKeys((await keys.tokenKeys()));
  assert.equal(jwks2.keys.length, 2);
  assert.ok(verifyJwtEs256(token, jwks2, { now: new Date(iat * 1000) }));
});
