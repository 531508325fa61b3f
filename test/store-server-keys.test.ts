import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sqliteEngine } from './helpers/engines.ts';
import { ServerKeys, jwkThumbprint } from '../src/store/server-keys.ts';
import { StoreError } from '../src/store/errors.ts';
import { generateP256KeyPair, privateKeyBytes, publicKeyBytes } from '../src/crypto/p256.ts';
import { openSecret, sealSecret } from '../src/secrets/sealing.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-keys-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('keys are generated once, survive reopening, and are encrypted at rest', async () => {
  const file = path.join(dir, 'keys.db');
  const mk = crypto.randomBytes(32);
  let db = await sqliteEngine(file);
  let keys = new ServerKeys(db, mk);
  const hpke1 = await keys.hpke();
  const tok1 = await keys.currentTokenKey();
  assert.equal(hpke1.publicKey.length, 65);
  assert.deepEqual(publicKeyBytes(hpke1.privateKey), hpke1.publicKey);
  assert.equal(tok1.kid, jwkThumbprint(tok1.publicKey));
  const hpkeSk = privateKeyBytes(hpke1.privateKey);
  const tokSk = privateKeyBytes(tok1.privateKey);
  await db.close();

  const bytes = Buffer.concat([file, `${file}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f)));
  assert.equal(bytes.indexOf(hpkeSk), -1, 'HPKE private key in the clear');
  assert.equal(bytes.indexOf(tokSk), -1, 'token private key in the clear');

  db = await sqliteEngine(file);
  keys = new ServerKeys(db, mk);
  assert.deepEqual((await keys.hpke()).publicKey, hpke1.publicKey);
  assert.deepEqual(privateKeyBytes((await keys.hpke()).privateKey), hpkeSk);
  assert.equal((await keys.currentTokenKey()).kid, tok1.kid);
  await assert.rejects(new ServerKeys(db, crypto.randomBytes(32)).hpke(), (e: unknown) => e instanceof StoreError && e.code === 'master_key_mismatch');
  await db.close();
});

test('two connections starting together agree on one key', async () => {
  const file = path.join(dir, 'race.db');
  const mk = crypto.randomBytes(32);
  const a = new ServerKeys(await sqliteEngine(file), mk);
  const b = new ServerKeys(await sqliteEngine(file), mk);
  assert.deepEqual((await a.hpke()).publicKey, (await b.hpke()).publicKey);
  assert.equal((await a.currentTokenKey()).kid, (await b.currentTokenKey()).kid);
});

test('the stored HPKE key seals secrets an enclave can open', async () => {
  const keys = new ServerKeys(await sqliteEngine(), crypto.randomBytes(32));
  const enclave = generateP256KeyPair();
  const nonce = Buffer.alloc(32, 1);
  const { enc, ciphertext } = sealSecret({ recipientPublicKey: enclave.publicKey, senderPrivateKey: (await keys.hpke()).privateKey, name: 'i', nonce, value: Buffer.from('p') });
  const pt = openSecret({ recipientPrivateKey: enclave.privateKey, senderPublicKey: (await keys.hpke()).publicKey, enc, name: 'i', nonce, ciphertext });
  assert.equal(pt.toString(), 'p');
});

test('rotation: new HPKE key; token rotation keeps old public keys without their private keys', async () => {
  const keys = new ServerKeys(await sqliteEngine(), crypto.randomBytes(32));
  const h1 = (await keys.hpke()).publicKey;
  await keys.rotateHpke();
  assert.notDeepEqual((await keys.hpke()).publicKey, h1);

  const t1 = (await keys.currentTokenKey()).kid;
  await keys.rotateTokenKey();
  const t2 = (await keys.currentTokenKey()).kid;
  assert.notEqual(t1, t2);
  const all = await keys.tokenKeys();
  assert.deepEqual(all.map((k) => [k.kid, k.current, Boolean(k.privateKey)]), [
    [t2, true, true],
    [t1, false, false],
  ]);
  assert.ok(all[1]!.retiredAt);
});
