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

test('ES256: Warden issues low-S signatures only, and the verifier refuses the high-S twin and non-canonical base64url', async () => {
  const keys = new ServerKeys(await sqliteEngine(), crypto.randomBytes(32));
  const key = await keys.currentTokenKey();
  const jwks = jwksFromKeys(await keys.tokenKeys());
  const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
  const sOf = (sig: Buffer) => BigInt(`0x${sig.subarray(32).toString('hex')}`);
  const iat = Math.floor(Date.now() / 1000);
  // OpenSSL's raw signatures are high-S about half the time: 40 tokens all come out low-S.
  for (let i = 0; i < 40; i++) {
    const claims = { i, iat, exp: iat + 300 };
    const token = signJwtEs256(claims, key);
    const [h, p, s] = token.split('.') as [string, string, string];
    const sig = Buffer.from(s, 'base64url');
    assert.ok(sOf(sig) <= n / 2n, `token ${i} is low-S`);
    assert.ok(verifyJwtEs256(token, jwks));
    // The same signature with s' = n - s verifies under plain ECDSA (the malleability), but not as a Warden token.
    const twin = Buffer.concat([sig.subarray(0, 32), Buffer.from((n - sOf(sig)).toString(16).padStart(64, '0'), 'hex')]);
    assert.ok(crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, twin), 'the twin is a valid ECDSA signature');
    assert.throws(() => verifyJwtEs256(`${h}.${p}.${twin.toString('base64url')}`, jwks), isCode('jwt_bad_signature'));
    // 64 bytes are 86 base64url characters with 4 spare bits in the last: flipping one spells the same bytes differently.
    const last = s.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const respelt = s.slice(0, -1) + alphabet[alphabet.indexOf(last) ^ 1];
    assert.deepEqual(Buffer.from(respelt, 'base64url'), sig);
    assert.throws(() => verifyJwtEs256(`${h}.${p}.${respelt}`, jwks), isCode('jwt_bad_signature'));
  }
});
