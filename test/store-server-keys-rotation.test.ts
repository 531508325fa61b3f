// Server keys are kept decrypted in memory between requests; a rotation made through another connection
// (a `warden admin` command, another worker of `warden serve --workers N`) must still take effect on
// the very next use, and the destroyed private keys must not live on in anyone's cache.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { jwksFromKeys } from '../src/secrets/jwt.ts';
import { sqliteEngine } from './helpers/engines.ts';
import { ServerKeys } from '../src/store/server-keys.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-keys-rot-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('a rotation through another connection is seen on the next call', async () => {
  const file = path.join(dir, 'rot.db');
  const mk = crypto.randomBytes(32);
  const dbA = await sqliteEngine(file);
  const dbB = await sqliteEngine(file);
  const server = new ServerKeys(dbA, mk);
  const admin = new ServerKeys(dbB, mk);

  // The server has both keys in memory.
  const h1 = await server.hpke();
  const t1 = await server.currentTokenKey();
  assert.deepEqual((await admin.hpke()).publicKey, h1.publicKey);

  await admin.rotateHpke();
  const h2 = await server.hpke();
  assert.notDeepEqual(h2.publicKey, h1.publicKey);
  assert.deepEqual(h2.publicKey, (await admin.hpke()).publicKey);
  assert.notEqual(h2.privateKey, h1.privateKey);

  await admin.rotateTokenKey();
  const t2 = await server.currentTokenKey();
  assert.notEqual(t2.kid, t1.kid);
  assert.equal(t2.kid, (await admin.currentTokenKey()).kid);
  // Tokens signed before the rotation still verify: the JWKS keeps the old public key, without its private key.
  const keys = await server.tokenKeys();
  assert.deepEqual(keys.map((k) => [k.kid, k.current, Boolean(k.privateKey)]), [
    [t2.kid, true, true],
    [t1.kid, false, false],
  ]);
  assert.deepEqual(jwksFromKeys(keys), jwksFromKeys((await admin.tokenKeys())));
  await dbA.close();
  await dbB.close();
});

test('repeated use without rotation keeps giving the same keys', async () => {
  const keys = new ServerKeys(await sqliteEngine(), crypto.randomBytes(32));
  const a = await keys.hpke();
  const b = await keys.hpke();
  assert.equal(a.kid, b.kid);
  assert.deepEqual(a.publicKey, b.publicKey);
  // Callers get their own copy of the public key bytes: changing it changes nothing for the next caller.
  a.publicKey.fill(0);
  assert.deepEqual((await keys.hpke()).publicKey, b.publicKey);
  assert.equal((await keys.currentTokenKey()).kid, (await keys.currentTokenKey()).kid);
});
